/**
 * Detection events from the data-plane worker threads to the one DnsDetection on the main
 * thread (dns.threads > 0). A worker fills typed arrays (and two arrays of the strings the
 * data plane already holds) and posts them every BATCH events or FLUSH_MS, transferring
 * the arrays' buffers; the main thread replays them through one reused event object. Per
 * query nothing is allocated; per batch, one set of arrays.
 */
import type { DnsObservedQuery, PolicyKind } from '../detect/index.ts';
import type { QueryObserver } from './data-plane.ts';

export const OBSERVED_BATCH = 1024;
export const OBSERVED_FLUSH_MS = 100;

const KINDS: readonly (PolicyKind | undefined)[] = [undefined, 'cc', 'malware-sites', 'dns-abuse', 'allow'];
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
    clients: new Array<string>(OBSERVED_BATCH),
    names: new Array<string>(OBSERVED_BATCH),
  };
}

/** The worker's side: a QueryObserver that posts full batches, and the rest on flush(). */
export class ObservedBatcher implements QueryObserver {
  private b = empty();

  constructor(private readonly post: (batch: ObservedBatch, transfer: ArrayBuffer[]) => void) {}

  observe(e: DnsObservedQuery): void {
    const b = this.b;
    const i = b.n++;
    b.at[i] = e.at;
    b.qtype[i] = e.qtype;
    b.rcode[i] = e.rcode === undefined ? NO_RCODE : e.rcode & 0x0f;
    b.size[i] = Math.min(e.responseSize ?? 0, 0xffff);
    b.flags[i] = (e.matched === undefined ? 0 : KINDS.indexOf(e.matched)) | (e.upstreamTimeout ? TIMED_OUT : 0);
    b.clients[i] = e.client;
    b.names[i] = e.qname;
    if (b.n === OBSERVED_BATCH) this.flush();
  }

  flush(): void {
    const b = this.b;
    if (b.n === 0) return;
    this.b = empty();
    if (b.n < OBSERVED_BATCH) {
      b.clients.length = b.n;
      b.names.length = b.n;
    }
    this.post(b, [b.at.buffer, b.qtype.buffer, b.rcode.buffer, b.size.buffer, b.flags.buffer] as ArrayBuffer[]);
  }
}

/** The main thread's side: replays a batch into `observer` through one reused event. */
export class ObservedReplay {
  private readonly e: DnsObservedQuery = { at: 0, client: '', qname: '', qtype: 0, rcode: undefined, responseSize: undefined, upstreamTimeout: false, matched: undefined };

  constructor(private readonly observer: QueryObserver) {}

  replay(b: ObservedBatch): void {
    const e = this.e;
    for (let i = 0; i < b.n; i++) {
      const r = b.rcode[i]!;
      const f = b.flags[i]!;
      e.at = b.at[i]!;
      e.client = b.clients[i]!;
      e.qname = b.names[i]!;
      e.qtype = b.qtype[i]!;
      e.rcode = r === NO_RCODE ? undefined : r;
      e.responseSize = b.size[i]!;
      e.upstreamTimeout = (f & TIMED_OUT) !== 0;
      e.matched = KINDS[f & 0x0f];
      this.observer.observe(e);
    }
  }
}
