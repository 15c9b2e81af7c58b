/**
 * Counters of the data plane, kept as plain numbers on the hot path (no prom-client call
 * per query) and read as a snapshot: by the metrics collector in the same thread, or
 * posted from a worker thread once a second. A snapshot is structured-clone safe.
 */
export const TRANSPORTS = ['udp', 'tcp'] as const;
export type Transport = (typeof TRANSPORTS)[number];

/** Upstream latency buckets, seconds (Prometheus `le`). */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5] as const;

/**
 * Read-delay histogram (udp-batch's waitBins: bin k counts batches whose oldest datagram
 * waited under 2^k µs): the bins exported as Prometheus buckets, 16 µs to 131 ms.
 */
export const WAIT_BUCKET_BINS = [4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17] as const;

/** Index 16 of a response array counts queries answered with nothing (DROP, or a client gone). */
export const NO_ANSWER = 16;

export interface UpstreamStats {
  address: string;
  up: boolean;
  sent: number;
  answered: number;
  timeouts: number;
  errors: number;
  /** Cumulative counts per LATENCY_BUCKETS entry, then +Inf. */
  buckets: number[];
  latencySum: number;
  /** The retransmission time-out an attempt before the last waits now (ms): the smoothed RTT + 4 x its variation, backed off after time-outs. */
  rtoMs?: number;
}

/** The listeners' batched UDP sockets (udp-batch), summed. */
export interface UdpSocketStats {
  sockets: number;
  /** Of which on the native addon (recvmmsg/sendmmsg); the rest on its dgram fallback. */
  native: number;
  received: number;
  /** Datagrams longer than a receive slot (answered FORMERR). */
  truncated: number;
  sent: number;
  /** Replies that waited for the socket to become writable. */
  queued: number;
  /** Replies given up (waiting queue over its bound, or left at close). */
  dropped: number;
  sendErrors: number;
  /** Batches read, by how long their oldest datagram had waited in the socket (native sockets; bin k: under 2^k µs). */
  waitBins: number[];
  /** Those waits' total, seconds. */
  waitSum: number;
}

/** An empty UdpSocketStats to sum into. */
export function emptyUdpSocketStats(): UdpSocketStats {
  return { sockets: 0, native: 0, received: 0, truncated: 0, sent: 0, queued: 0, dropped: 0, sendErrors: 0, waitBins: [], waitSum: 0 };
}

/** Adds one socket's (or one thread's) UDP counters into `into`. */
export function addUdpStats(into: UdpSocketStats, s: Omit<UdpSocketStats, 'sockets' | 'native' | 'waitBins' | 'waitSum'> & { waitBins?: readonly number[]; waitSum?: number }): void {
  into.received += s.received;
  into.truncated += s.truncated;
  into.sent += s.sent;
  into.queued += s.queued;
  into.dropped += s.dropped;
  into.sendErrors += s.sendErrors;
  s.waitBins?.forEach((v, k) => (into.waitBins[k] = (into.waitBins[k] ?? 0) + v));
  into.waitSum += s.waitSum ?? 0;
}

export interface StatsSnapshot {
  queries: Record<Transport, number>;
  /** Responses by rcode 0-15, and NO_ANSWER. */
  responses: Record<Transport, number[]>;
  malformed: Record<Transport, number>;
  /** Policy decisions that changed the answer, "zone\0action" -> count. */
  policy: Record<string, number>;
  /** Queries from opted-out clients or on an unfiltered listener, resolved without policy. */
  unfiltered: number;
  servfail: number;
  tcpConnections: number;
  tcpClosedForGarbage: number;
  upstreams: UpstreamStats[];
  udpSockets?: UdpSocketStats;
}

export class DataPlaneStats {
  readonly queries: Record<Transport, number> = { udp: 0, tcp: 0 };
  readonly responses: Record<Transport, Float64Array> = { udp: new Float64Array(17), tcp: new Float64Array(17) };
  readonly malformed: Record<Transport, number> = { udp: 0, tcp: 0 };
  /** Keyed by the shared Decision object (one per rule and trigger kind): no string per query. */
  readonly policy = new Map<{ zone: string; action: string }, number>();
  unfiltered = 0;
  servfail = 0;
  tcpConnections = 0;
  tcpClosedForGarbage = 0;

  countPolicy(d: { zone: string; action: string }): void {
    this.policy.set(d, (this.policy.get(d) ?? 0) + 1);
  }

  /** "zone\0action" -> count, for a snapshot. */
  policyTotals(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [d, n] of this.policy) {
      const k = `${d.zone}\0${d.action}`;
      out[k] = (out[k] ?? 0) + n;
    }
    return out;
  }
}

/** LATENCY_BUCKETS in whole microseconds. */
const LATENCY_MICROS = Int32Array.from(LATENCY_BUCKETS, (b) => Math.round(b * 1e6));

export class LatencyHistogram {
  readonly buckets = new Float64Array(LATENCY_BUCKETS.length + 1);
  sum = 0;

  /** One latency, in whole microseconds: a small integer crosses a call without V8 boxing it (a hot path's double would be). */
  observeMicros(us: number): void {
    let i = 0;
    while (i < LATENCY_MICROS.length && us > LATENCY_MICROS[i]!) i++;
    this.buckets[i]!++;
    this.sum += us / 1e6;
  }

  /** Cumulative counts, as Prometheus wants them. */
  cumulative(): number[] {
    const out: number[] = [];
    let acc = 0;
    for (const b of this.buckets) out.push((acc += b));
    return out;
  }
}

/** Adds snapshots of several data planes (worker threads) into one. */
export function mergeSnapshots(list: readonly StatsSnapshot[]): StatsSnapshot {
  const out: StatsSnapshot = {
    queries: { udp: 0, tcp: 0 },
    responses: { udp: new Array(17).fill(0), tcp: new Array(17).fill(0) },
    malformed: { udp: 0, tcp: 0 },
    policy: {},
    unfiltered: 0,
    servfail: 0,
    tcpConnections: 0,
    tcpClosedForGarbage: 0,
    upstreams: [],
  };
  for (const s of list) {
    if (s.udpSockets) {
      const o = (out.udpSockets ??= emptyUdpSocketStats());
      o.sockets += s.udpSockets.sockets;
      o.native += s.udpSockets.native;
      addUdpStats(o, s.udpSockets);
    }
    for (const t of TRANSPORTS) {
      out.queries[t] += s.queries[t];
      out.malformed[t] += s.malformed[t];
      s.responses[t].forEach((v, i) => (out.responses[t][i]! += v));
    }
    for (const [k, v] of Object.entries(s.policy)) out.policy[k] = (out.policy[k] ?? 0) + v;
    out.unfiltered += s.unfiltered;
    out.servfail += s.servfail;
    out.tcpConnections += s.tcpConnections;
    out.tcpClosedForGarbage += s.tcpClosedForGarbage;
    s.upstreams.forEach((u, i) => {
      const o = out.upstreams[i];
      if (!o) {
        out.upstreams[i] = { ...u, buckets: [...u.buckets] };
        return;
      }
      o.up = o.up && u.up;
      o.sent += u.sent;
      o.answered += u.answered;
      o.timeouts += u.timeouts;
      o.errors += u.errors;
      o.latencySum += u.latencySum;
      u.buckets.forEach((b, j) => (o.buckets[j]! += b));
    });
  }
  return out;
}
