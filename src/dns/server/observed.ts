/**
 * Detection events from the data-plane worker threads to the one DnsDetection on the main
 * thread (dns.threads > 0). A worker fills typed arrays and posts them every BATCH events
 * or FLUSH_MS, transferring the arrays' buffers; the main thread replays them through one
 * reused event object. Per query nothing is allocated and little is copied: each client
 * address goes once per batch (events carry its index), and a query answered from a `cc`
 * or `malware-sites` zone carries no name (detection needs only a C&C name's hash:
 * DnsDetection.observePolicy). Per batch, one set of arrays.
 */
import { hashBackward, type DnsDetection, type DnsObservedQuery, type PolicyKind } from '../detect/index.ts';
import type { QueryObserver } from './data-plane.ts';

export const OBSERVED_BATCH = 1024;
export const OBSERVED_FLUSH_MS = 100;

const KINDS: readonly (PolicyKind | undefined)[] = [undefined, 'cc', 'malware-sites', 'dns-abuse', 'allow'];
const CC = 1;
const MALWARE = 2;
const TIMED_OUT = 0x10;
const NO_RCODE = 0xff;

/** One batch on the wire (structured clone; the typed arrays' buffers are transferred). */
export interface ObservedBatch {
  n: number;
  at: Float64Array;
  qtype: Uint16Array;
  /** 0-15, or 255: no answer. */
  rcode: Uint8Array;
  size: Uint16Array;
  /** Low nibble: the matched kind (index into KINDS); 0x10: upstream timed out. */
  flags: Uint8Array;
  /** Index into `clients`. */
  client: Uint16Array;
  /** cc events: hashBackward(qname) (their `names` entry is ''). */
  hash: Int32Array;
  /** The batch's distinct client addresses. */
  clients: string[];
  names: string[];
}

function empty(): ObservedBatch {
  return {
    n: 0,
    at: new Float64Array(OBSERVED_BATCH),
    qtype: new Uint16Array(OBSERVED_BATCH),
    rcode: new Uint8Array(OBSERVED_BATCH),
    size: new Uint16Array(OBSERVED_BATCH),
    flags: new Uint8Array(OBSERVED_BATCH),
    client: new Uint16Array(OBSERVED_BATCH),
    hash: new Int32Array(OBSERVED_BATCH),
    clients: [],
    names: new Array<string>(OBSERVED_BATCH),
  };
}

/** The worker's side: a QueryObserver that posts full batches, and the rest on flush(). */
export class ObservedBatcher implements QueryObserver {
  private b = empty();
  /** Client address -> index in this batch's `clients`. */
  private readonly seen = new Map<string, number>();
  private lastClient = '';
  private lastIndex = -1;

  constructor(private readonly post: (batch: ObservedBatch, transfer: ArrayBuffer[]) => void) {}

  observe(e: DnsObservedQuery): void {
    const b = this.b;
    const i = b.n++;
    const kind = e.matched === undefined ? 0 : KINDS.indexOf(e.matched);
    b.at[i] = e.at;
    b.qtype[i] = e.qtype;
    b.rcode[i] = e.rcode === undefined ? NO_RCODE : e.rcode & 0x0f;
    b.size[i] = Math.min(e.responseSize ?? 0, 0xffff);
    b.flags[i] = kind | (e.upstreamTimeout ? TIMED_OUT : 0);
    const c = e.client;
    let ci = this.lastIndex;
    if (ci < 0 || c !== this.lastClient) {
      ci = this.seen.get(c) ?? -1;
      if (ci < 0) {
        ci = b.clients.length;
        b.clients.push(c);
        this.seen.set(c, ci);
      }
      this.lastClient = c;
      this.lastIndex = ci;
    }
    b.client[i] = ci;
    if (kind === CC) {
      b.hash[i] = hashBackward(e.qname);
      b.names[i] = '';
    } else b.names[i] = kind === MALWARE ? '' : e.qname;
    if (b.n === OBSERVED_BATCH) this.flush();
  }

  flush(): void {
    const b = this.b;
    if (b.n === 0) return;
    this.b = empty();
    this.seen.clear();
    this.lastIndex = -1;
    if (b.n < OBSERVED_BATCH) b.names.length = b.n;
    this.post(b, [b.at.buffer, b.qtype.buffer, b.rcode.buffer, b.size.buffer, b.flags.buffer, b.client.buffer, b.hash.buffer] as ArrayBuffer[]);
  }
}

/** The main thread's side: replays a batch into detection through one reused event. */
export class ObservedReplay {
  private readonly e: DnsObservedQuery = { at: 0, client: '', qname: '', qtype: 0, rcode: undefined, responseSize: undefined, upstreamTimeout: false, matched: undefined };

  constructor(private readonly detection: Pick<DnsDetection, 'observe' | 'observePolicy'>) {}

  replay(b: ObservedBatch): void {
    const e = this.e;
    const d = this.detection;
    for (let i = 0; i < b.n; i++) {
      const f = b.flags[i]!;
      const kind = f & 0x0f;
      if (kind === CC || kind === MALWARE) {
        d.observePolicy(b.at[i]!, b.clients[b.client[i]!]!, kind === CC ? 'cc' : 'malware-sites', b.hash[i]!);
        continue;
      }
      const r = b.rcode[i]!;
      e.at = b.at[i]!;
      e.client = b.clients[b.client[i]!]!;
      e.qname = b.names[i]!;
      e.qtype = b.qtype[i]!;
      e.rcode = r === NO_RCODE ? undefined : r;
      e.responseSize = b.size[i]!;
      e.upstreamTimeout = (f & TIMED_OUT) !== 0;
      e.matched = KINDS[kind];
      d.observe(e);
    }
  }
}
