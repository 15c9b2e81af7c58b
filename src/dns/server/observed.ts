/**
 * Detection events from the data-plane worker threads to the one DnsDetection on the main
 * thread (dns.threads > 0), through one shared-memory ring per worker (single producer,
 * single consumer): the worker writes each event as a variable-length record (fixed
 * fields, then the client address and the query name as latin1 bytes) and publishes the
 * write position; the main thread drains every ring each DRAIN_MS and replays the records
 * through one reused event object. Nothing is posted, cloned or allocated per batch; the
 * worker allocates nothing per query, the main thread makes the name's string (and the
 * client's, when it differs from the record before). A query answered from a `cc` or
 * `malware-sites` zone carries no name: detection needs only a C&C name's hash
 * (DnsDetection.observePolicy). When a ring is full (the main thread stalled for about a
 * second of traffic) the worker drops the event and counts it; the main thread reports
 * those as sampled out (DnsDetection.lost).
 */
import { hashBackward, type DnsDetection, type DnsObservedQuery, type PolicyKind } from '../detect/index.ts';
import type { QueryObserver } from './data-plane.ts';

/** How often the worker's batcher is flushed (worker.ts): publishes the last writes. */
export const OBSERVED_FLUSH_MS = 100;
/** How often the main thread drains the rings. */
export const OBSERVED_DRAIN_MS = 50;
/** Ring bytes per worker: ~60 bytes an event, so ~1 s at 70,000 events/s. */
export const OBSERVED_RING_BYTES = 4 << 20;

const KINDS: readonly (PolicyKind | undefined)[] = [undefined, 'cc', 'malware-sites', 'dns-abuse', 'allow'];
const CC = 1;
const MALWARE = 2;
const TIMED_OUT = 0x10;
const NO_RCODE = 0xff;
// Control words (Int32Array over the ring's first bytes): write position, read position, events dropped.
const HEAD = 0;
const TAIL = 1;
const DROPPED = 2;
const CTL_BYTES = 64;
// Record: u32 length (multiple of 8; 0 = wrap to the start), i32 name hash (cc), f64 at,
// u16 qtype, u16 size, u8 rcode, u8 flags, u8 client length, u8 0, u16 name length, bytes.
const FIXED = 26;
/** Publish the write position every this many events (and on flush). */
const PUBLISH_EVERY = 32;

/** What a worker posts once (on the 'observed' message): its ring. */
export interface ObservedBatch {
  ring: SharedArrayBuffer;
}

class RingViews {
  readonly ctl: Int32Array;
  readonly u8: Uint8Array;
  readonly u16: Uint16Array;
  readonly u32: Uint32Array;
  readonly i32: Int32Array;
  readonly f64: Float64Array;
  readonly buf: Buffer;
  readonly cap: number;
  constructor(readonly sab: SharedArrayBuffer) {
    this.ctl = new Int32Array(sab, 0, CTL_BYTES / 4);
    this.cap = sab.byteLength - CTL_BYTES;
    this.u8 = new Uint8Array(sab, CTL_BYTES, this.cap);
    this.u16 = new Uint16Array(sab, CTL_BYTES, this.cap / 2);
    this.u32 = new Uint32Array(sab, CTL_BYTES, this.cap / 4);
    this.i32 = new Int32Array(sab, CTL_BYTES, this.cap / 4);
    this.f64 = new Float64Array(sab, CTL_BYTES, this.cap / 8);
    this.buf = Buffer.from(sab, CTL_BYTES, this.cap);
  }
}

/** The worker's side: a QueryObserver writing into its ring (posted once, at construction). */
export class ObservedBatcher implements QueryObserver {
  private readonly r: RingViews;
  private head = 0;
  private unpublished = 0;

  constructor(post: (batch: ObservedBatch, transfer: ArrayBuffer[]) => void, bytes = OBSERVED_RING_BYTES) {
    this.r = new RingViews(new SharedArrayBuffer(CTL_BYTES + (Math.max(4096, bytes) & ~7)));
    post({ ring: this.r.sab }, []);
  }

  observe(e: DnsObservedQuery): void {
    const r = this.r;
    const kind = e.matched === undefined ? 0 : KINDS.indexOf(e.matched);
    const client = e.client;
    const cl = Math.min(client.length, 255);
    const name = kind === CC || kind === MALWARE ? '' : e.qname;
    const nl = Math.min(name.length, 0xffff);
    const len = (FIXED + cl + nl + 7) & ~7;
    const cap = r.cap;
    const t = Atomics.load(r.ctl, TAIL);
    const h = this.head;
    let p = h;
    // The new head must never land on the tail (that reads as empty).
    if (h >= t) {
      if (!(h + len < cap || (h + len === cap && t !== 0))) {
        if (len >= t) return this.drop();
        r.u32[h >> 2] = 0; // wrap marker
        p = 0;
      }
    } else if (h + len >= t) return this.drop();
    r.u32[p >> 2] = len;
    r.i32[(p >> 2) + 1] = kind === CC ? hashBackward(e.qname) : 0;
    r.f64[(p >> 3) + 1] = e.at;
    r.u16[(p >> 1) + 8] = e.qtype;
    r.u16[(p >> 1) + 9] = Math.min(e.responseSize ?? 0, 0xffff);
    const u8 = r.u8;
    u8[p + 20] = e.rcode === undefined ? NO_RCODE : e.rcode & 0x0f;
    u8[p + 21] = kind | (e.upstreamTimeout ? TIMED_OUT : 0);
    u8[p + 22] = cl;
    r.u16[(p >> 1) + 12] = nl;
    let o = p + FIXED;
    for (let i = 0; i < cl; i++) u8[o++] = client.charCodeAt(i);
    for (let i = 0; i < nl; i++) u8[o++] = name.charCodeAt(i);
    this.head = p + len === cap ? 0 : p + len;
    if (++this.unpublished >= PUBLISH_EVERY) this.flush();
  }

  /** Publishes what was written (the worker calls this every OBSERVED_FLUSH_MS). */
  flush(): void {
    this.unpublished = 0;
    Atomics.store(this.r.ctl, HEAD, this.head);
  }

  private drop(): void {
    Atomics.add(this.r.ctl, DROPPED, 1);
  }
}

/** The main thread's side: drains every worker's ring into detection through one reused event. */
export class ObservedReplay {
  private readonly e: DnsObservedQuery = { at: 0, client: '', qname: '', qtype: 0, rcode: undefined, responseSize: undefined, upstreamTimeout: false, matched: undefined };
  private readonly rings: { r: RingViews; dropped: number }[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** The last client address read, as bytes and as the string made of them. */
  private readonly lastBytes = new Uint8Array(256);
  private lastLen = -1;
  private lastClient = '';

  constructor(private readonly detection: Pick<DnsDetection, 'observe' | 'observePolicy' | 'lost'>, private readonly drainMs = OBSERVED_DRAIN_MS) {}

  /** Takes what a worker posted (its ring); drains every drainMs from then on. */
  replay(b: ObservedBatch): void {
    this.rings.push({ r: new RingViews(b.ring), dropped: 0 });
    if (this.timer === undefined && this.drainMs > 0) {
      this.timer = setInterval(() => this.drain(), this.drainMs);
      this.timer.unref();
    }
  }

  /** Replays everything published so far. */
  drain(): void {
    for (const x of this.rings) {
      this.drainOne(x.r);
      const dropped = Atomics.load(x.r.ctl, DROPPED);
      if (dropped !== x.dropped) {
        this.detection.lost((dropped - x.dropped) >>> 0);
        x.dropped = dropped;
      }
    }
  }

  /** Drains once more and stops the timer. */
  stop(): void {
    this.drain();
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private drainOne(r: RingViews): void {
    const h = Atomics.load(r.ctl, HEAD);
    let p = Atomics.load(r.ctl, TAIL);
    const e = this.e;
    const d = this.detection;
    const u8 = r.u8;
    while (p !== h) {
      const len = r.u32[p >> 2]!;
      if (len === 0) {
        p = 0;
        continue;
      }
      const cl = u8[p + 22]!;
      const c0 = p + FIXED;
      const client = this.client(r, c0, cl);
      const f = u8[p + 21]!;
      const kind = f & 0x0f;
      const at = r.f64[(p >> 3) + 1]!;
      if (kind === CC || kind === MALWARE) d.observePolicy(at, client, kind === CC ? 'cc' : 'malware-sites', r.i32[(p >> 2) + 1]!);
      else {
        const nl = r.u16[(p >> 1) + 12]!;
        const rc = u8[p + 20]!;
        e.at = at;
        e.client = client;
        e.qname = r.buf.toString('latin1', c0 + cl, c0 + cl + nl);
        e.qtype = r.u16[(p >> 1) + 8]!;
        e.rcode = rc === NO_RCODE ? undefined : rc;
        e.responseSize = r.u16[(p >> 1) + 9]!;
        e.upstreamTimeout = (f & TIMED_OUT) !== 0;
        e.matched = KINDS[kind];
        d.observe(e);
      }
      p += len;
      if (p === r.cap) p = 0;
    }
    Atomics.store(r.ctl, TAIL, p);
  }

  /** The client address at [from, from + n): the last string when the bytes are the same. */
  private client(r: RingViews, from: number, n: number): string {
    const u8 = r.u8;
    const last = this.lastBytes;
    if (n === this.lastLen) {
      let i = 0;
      while (i < n && u8[from + i] === last[i]) i++;
      if (i === n) return this.lastClient;
    }
    for (let i = 0; i < n; i++) last[i] = u8[from + i]!;
    this.lastLen = n;
    return (this.lastClient = r.buf.toString('latin1', from, from + n));
  }
}
