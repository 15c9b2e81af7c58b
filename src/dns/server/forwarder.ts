/**
 * Forwarding to the upstream resolvers: the client's query bytes go upstream with only the
 * ID changed, and the upstream's answer bytes come back with the client's ID restored, so
 * EDNS options, the DO/CD bits and the question's case (0x20) pass through untouched.
 *
 * Pending queries live in dense slots (typed arrays and parallel arrays, no object per
 * query), taken and given back last-in first-out so the few hundred in use stay in cache,
 * grown on demand up to 65,536; each slot keeps a copy of its query's bytes in one arena
 * (a separate Buffer only for queries over QUERY_BYTES). The upstream ID is drawn at
 * random (RFC 5452 §4: an off-path attacker must guess the ID; crypto-random, drawn 4,096
 * at a time) and maps to its slot; an answer is taken only if its question is byte for
 * byte the one sent. Answers are read where they arrived (the batch buffer) and relayed
 * from there: the hot path allocates nothing here.
 *
 * Timeouts: a query is sent `attempts` times at most (default 2), each time to the next
 * healthy upstream, and when the last fails too the client gets SERVFAIL (never silence).
 * The last attempt waits `timeoutMs`; the ones before wait the upstream's retransmission
 * time-out, as resolvers do (RFC 6298's estimator: smoothed RTT + 4 x its variation, at
 * least MIN_RTO_MS, at most `timeoutMs`, doubled by each time-out, sampled only from
 * queries answered at their first try): a query lost on the way (a resolver's full socket
 * buffer under a burst) is asked again after ~50 ms on a nearby resolver, not 1.5 s.
 * An upstream is marked down after `downAfter` timeouts in a row, probed every
 * `probeIntervalMs` while down, and back in use on its first answer. Order is preference:
 * the first upstream that is up gets every query (fail-over, like a stub's resolv.conf).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { isIPv6 } from 'node:net';
import { randomFillSync } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { formatHostPort, formatIp, parseIp, type HostPort } from '../../core/index.ts';
import { makeResponseFromQuery, RCode, type QueryInfo, type ResponseOptions } from '../wire/index.ts';
import { LatencyHistogram, type UpstreamStats } from './stats.ts';
import { copyRange, openNativeUdpBatch, type Datagrams, type UdpBatchSocket } from './udp-batch.ts';

/**
 * Upstream answers over UDP are read in batches of this many (recvmmsg), into slots of
 * UPSTREAM_SLOT bytes: more than any EDNS size a resolver sends (1232 by default, at
 * most 4096 in practice). A longer answer is dropped (counted as an upstream error) and
 * the query is retried, then answered SERVFAIL.
 */
const UPSTREAM_BATCH = 32;
const UPSTREAM_SLOT = 16384;

/** Where an answer goes: a UDP socket (with port and address) or a TCP client connection. */
export interface ReplyTarget {
  /** Sends bytes[start, end) (default: all); the target copies what it keeps. */
  send(bytes: Uint8Array, port: number, address: string, start?: number, end?: number): void;
  /** A query that gets no answer at all (RPZ DROP): TCP uses it to count what is in flight. */
  skip?(): void;
  /**
   * The answer to the datagram being handled, made from its query straight into the
   * socket's send buffer (a batched listener): its length, or -1 when not possible here
   * (then build it and send()).
   */
  answerInPlace?(query: Uint8Array, rcode: number, opts: ResponseOptions & { info: QueryInfo }): number;
}

/** Called with the upstream's answer (ID restored), or undefined after the last timeout. */
export type AnswerCallback = (answer: Buffer | undefined) => void;

export interface ForwarderOptions {
  upstreams: readonly HostPort[];
  /** What the last attempt waits, and the most any attempt waits (earlier ones wait the upstream's RTO). */
  timeoutMs: number;
  /** Attempts per query, each on the next healthy upstream. Default 2. */
  attempts?: number;
  downAfter: number;
  probeIntervalMs: number;
  /** Idle upstream TCP connections are closed after this. Default 30 s. */
  tcpIdleMs?: number;
  log: (level: 'info' | 'warn', msg: string, detail?: Record<string, unknown>) => void;
  /** Counts answers synthesised here (SERVFAIL). */
  onServfail?: (transport: 'udp' | 'tcp') => void;
  /**
   * Called after a relayed query's answer (or SERVFAIL on give-up, `timedOut`) went to the
   * client, with the `qname`/`qtype`/`mark` given to relay(); for DNS detection. Plain
   * arguments: nothing is allocated per query.
   */
  onRelayed?: (qname: string, qtype: number, mark: number, address: string, rcode: number, size: number, timedOut: boolean) => void;
  /** Called with true before a batch of upstream answers is relayed, false after (the data plane then reads its clock once). */
  onAnswers?: (begin: boolean) => void;
}

/** The shortest retransmission time-out (Unbound's minimum RTT for a server is 50 ms too). */
const MIN_RTO_MS = 50;
/** How often deadlines are checked. */
const TICK_MS = 20;
/** Upstream IDs. */
const IDS = 65536;
/** Slots at first; doubled when full, up to IDS. */
const FIRST_SLOTS = 1024;
/** Arena bytes per slot: longer queries (rare: large EDNS options) get a Buffer of their own. */
const QUERY_BYTES = 256;
const FREE = 0;
const RELAY = 1;
const CALLBACK = 2;
const PROBE = 3;

class Upstream {
  up = true;
  fails = 0;
  lastProbe = 0;
  sent = 0;
  answered = 0;
  timeouts = 0;
  errors = 0;
  readonly latency = new LatencyHistogram();
  /** Smoothed round-trip time and its variation (ms; srtt < 0: no sample yet), and the retransmission time-out they give. */
  srtt = -1;
  rttvar = 0;
  rto: number;
  /** When the RTO was last doubled: attempts sent before that do not double it again. */
  backoffAt = 0;
  udp: dgram.Socket | undefined;
  /** With the udp-batch addon: queries sent and answers read in batches. */
  batch: UdpBatchSocket | undefined;
  /** batch is connected to this upstream: the kernel drops other senders' datagrams. */
  connected = false;
  tcp: UpstreamTcp | undefined;
  /** The address as the addon formats a peer (compared with each answer's source). */
  readonly host: string;
  constructor(readonly index: number, readonly address: HostPort, timeoutMs: number) {
    this.rto = timeoutMs;
    const ip = parseIp(address.host);
    this.host = ip ? formatIp(ip) : address.host;
  }
  get label(): string {
    return formatHostPort(this.address);
  }
}

export class Forwarder {
  private readonly ups: Upstream[];
  private readonly timeoutMs: number;
  private readonly attempts: number;
  /** Slot of each upstream ID in flight, -1 when the ID is free. */
  private readonly slotOf = new Int32Array(IDS).fill(-1);
  // The slots (see grow()).
  private cap = 0;
  private kind = new Uint8Array(0);
  private idOf = new Uint16Array(0);
  private origId = new Uint16Array(0);
  private qLen = new Uint16Array(0);
  private qEnd = new Uint16Array(0);
  private tries = new Uint8Array(0);
  private upstreamOf = new Uint8Array(0);
  private viaTcp = new Uint8Array(0);
  private clientTcp = new Uint8Array(0);
  private sentAt = new Float64Array(0);
  /** When the attempt in flight times out. */
  private deadline = new Float64Array(0);
  private port = new Int32Array(0);
  private qtype = new Uint16Array(0);
  private mark = new Uint8Array(0);
  /** Query bytes, QUERY_BYTES per slot. */
  private arena = new Uint8Array(0);
  /** Free slots (a stack: the last given back is taken first). */
  private free = new Int32Array(0);
  private freeLen = 0;
  private readonly big: (Buffer | undefined)[] = [];
  private readonly target: (ReplyTarget | undefined)[] = [];
  private readonly address: (string | undefined)[] = [];
  private readonly callback: (AnswerCallback | undefined)[] = [];
  // What onRelayed reports (only filled when it is set).
  private readonly qname: (string | undefined)[] = [];
  private pending = 0;
  /** Random upstream IDs, drawn a buffer at a time. */
  private readonly randomIds = new Uint16Array(4096);
  private randomNext = 4096;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** performance.now() read once for a batch of datagrams (-1: none running); see hold(). */
  private held = -1;

  constructor(private readonly opts: ForwarderOptions) {
    if (opts.upstreams.length === 0) throw new RangeError('the forwarder needs at least one upstream');
    if (opts.upstreams.length > 255) throw new RangeError('at most 255 upstreams');
    this.ups = opts.upstreams.map((a, i) => new Upstream(i, a, opts.timeoutMs));
    this.timeoutMs = opts.timeoutMs;
    this.attempts = Math.max(1, Math.min(opts.attempts ?? 2, 8));
    this.grow();
  }

  start(): void {
    for (const u of this.ups) this.openUdp(u);
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    for (const u of this.ups) {
      u.udp?.close();
      u.udp = undefined;
      void u.batch?.close();
      u.batch = undefined;
      u.tcp?.destroy();
      u.tcp = undefined;
    }
  }

  /**
   * While a batch of datagrams is handled (a client batch relaying queries, or upstream
   * answers), the time is read once: a batch takes well under a millisecond, and the
   * clock read per query was ~3% of the busy time. hold(false) ends it.
   */
  hold(on: boolean): void {
    this.held = on ? performance.now() : -1;
  }

  private clock(): number {
    return this.held >= 0 ? this.held : performance.now();
  }

  get inFlight(): number {
    return this.pending;
  }

  /**
   * Sends a client's query, `query[0, length)`, upstream and relays the answer to `target`.
   * The bytes are copied: `query` may be a batch buffer the next batch overwrites.
   */
  relay(query: Uint8Array, length: number, questionEnd: number, tcp: boolean, target: ReplyTarget, port: number, address: string, qname?: string, qtype = 0, mark = 0): void {
    const s = this.take(query, length);
    if (s < 0) {
      const size = this.answerServfail(query.subarray(0, length), tcp, target, port, address);
      if (qname !== undefined && size > 0) this.opts.onRelayed?.(qname, qtype, mark, address, RCode.SERVFAIL, size, false);
      return;
    }
    this.kind[s] = RELAY;
    if (qname !== undefined && this.opts.onRelayed) {
      this.qname[s] = qname;
      this.qtype[s] = qtype;
      this.mark[s] = mark;
    }
    this.target[s] = target;
    this.port[s] = port;
    this.address[s] = address;
    this.clientTcp[s] = tcp ? 1 : 0;
    this.qEnd[s] = questionEnd;
    this.send(s, tcp, this.pick(-1));
  }

  /** Asks upstream on our own account (e.g. a CNAME target of local data). */
  ask(query: Uint8Array, questionEnd: number, tcp: boolean, cb: AnswerCallback): void {
    const s = this.take(query, query.length);
    if (s < 0) return cb(undefined);
    this.kind[s] = CALLBACK;
    this.callback[s] = cb;
    this.qEnd[s] = questionEnd;
    this.send(s, tcp, this.pick(-1));
  }

  stats(): UpstreamStats[] {
    return this.ups.map((u) => ({
      address: u.label,
      up: u.up,
      sent: u.sent,
      answered: u.answered,
      timeouts: u.timeouts,
      errors: u.errors,
      buckets: u.latency.cumulative(),
      latencySum: u.latency.sum,
      rtoMs: Math.round(u.rto),
    }));
  }

  // ---- internals -----------------------------------------------------------------------

  /** Twice the slots (FIRST_SLOTS at first): the typed arrays are copied, the JS arrays extended. */
  private grow(): void {
    const old = this.cap;
    const cap = old === 0 ? FIRST_SLOTS : Math.min(IDS, old * 2);
    this.kind = grown(this.kind, cap);
    this.idOf = grown(this.idOf, cap);
    this.origId = grown(this.origId, cap);
    this.qLen = grown(this.qLen, cap);
    this.qEnd = grown(this.qEnd, cap);
    this.tries = grown(this.tries, cap);
    this.upstreamOf = grown(this.upstreamOf, cap);
    this.viaTcp = grown(this.viaTcp, cap);
    this.clientTcp = grown(this.clientTcp, cap);
    this.sentAt = grown(this.sentAt, cap);
    this.deadline = grown(this.deadline, cap);
    this.port = grown(this.port, cap);
    this.qtype = grown(this.qtype, cap);
    this.mark = grown(this.mark, cap);
    this.arena = grown(this.arena, cap * QUERY_BYTES);
    // Every slot in use when growing (the stack is empty): the new ones, lowest on top.
    this.free = new Int32Array(cap);
    this.freeLen = 0;
    for (let s = cap - 1; s >= old; s--) this.free[this.freeLen++] = s;
    for (let s = old; s < cap; s++) {
      this.big.push(undefined);
      this.target.push(undefined);
      this.address.push(undefined);
      this.callback.push(undefined);
      this.qname.push(undefined);
    }
    this.cap = cap;
  }

  /** A slot for query[0, length) with a fresh random upstream ID, its bytes copied in; -1 when every ID is in flight. */
  private take(query: Uint8Array, length: number): number {
    if (this.pending >= IDS - 1) return -1;
    if (this.freeLen === 0) this.grow();
    const s = this.free[--this.freeLen]!;
    if (this.randomNext === this.randomIds.length) {
      randomFillSync(this.randomIds);
      this.randomNext = 0;
    }
    let id = this.randomIds[this.randomNext++]!;
    while (this.slotOf[id] !== -1) id = (id + 1) & 0xffff;
    this.slotOf[id] = s;
    this.idOf[s] = id;
    this.pending++;
    this.tries[s] = 0;
    this.origId[s] = (query[0]! << 8) | query[1]!;
    this.qLen[s] = length;
    if (length <= QUERY_BYTES) copyRange(query, 0, length, this.arena, s * QUERY_BYTES);
    else this.big[s] = Buffer.from(query.subarray(0, length));
    return s;
  }

  private release(s: number): void {
    this.kind[s] = FREE;
    this.slotOf[this.idOf[s]!] = -1;
    this.big[s] = undefined;
    this.target[s] = undefined;
    this.address[s] = undefined;
    this.callback[s] = undefined;
    this.qname[s] = undefined;
    this.free[this.freeLen++] = s;
    this.pending--;
  }

  /** The buffer holding slot s's query bytes (at offsetOf(s)). */
  private bytesAt(s: number): Uint8Array {
    return this.big[s] ?? this.arena;
  }

  private offsetOf(s: number): number {
    return this.big[s] !== undefined ? 0 : s * QUERY_BYTES;
  }

  /** A copy of slot s's query (cold paths: TCP upstreams, SERVFAIL). */
  private queryCopy(s: number): Buffer {
    const at = this.offsetOf(s);
    return Buffer.from(this.bytesAt(s).subarray(at, at + this.qLen[s]!));
  }

  /** The first upstream that is up, other than `not`; if none is up, the next one anyway. */
  private pick(not: number): Upstream {
    const ups = this.ups;
    // Indexed: for-of makes an iterator object per query when V8 does not optimise it away.
    for (let i = 0; i < ups.length; i++) {
      const u = ups[i]!;
      if (u.up && u.index !== not) return u;
    }
    if (ups.length === 1) return ups[0]!;
    // Everything is down: keep trying in turn rather than refuse (one may be back).
    const from = not < 0 ? 0 : not + 1;
    return ups[from % ups.length]!;
  }

  private send(s: number, tcp: boolean, u: Upstream): void {
    this.tries[s]!++;
    const id = this.idOf[s]!;
    const b = this.bytesAt(s);
    const at = this.offsetOf(s);
    b[at] = id >> 8;
    b[at + 1] = id & 0xff;
    this.upstreamOf[s] = u.index;
    this.viaTcp[s] = tcp ? 1 : 0;
    const now = this.clock();
    this.sentAt[s] = now;
    // The last attempt waits the whole time-out; earlier ones the upstream's RTO.
    this.deadline[s] = now + (this.tries[s]! >= this.attempts ? this.timeoutMs : u.rto);
    u.sent++;
    if (tcp) {
      (u.tcp ??= new UpstreamTcp(u, this)).send(this.queryCopy(s), id);
    } else if (u.batch) {
      // Queued (copied into the socket's send buffer): every query relayed in one client batch goes up in one sendmmsg.
      u.batch.send(b, u.address.port, u.host, at, at + this.qLen[s]!);
    } else {
      // dgram may send later: its own copy.
      (u.udp ?? this.openDgram(u)).send(this.queryCopy(s));
    }
  }

  private openUdp(u: Upstream): void {
    const b = openNativeUdpBatch({
      host: isIPv6(u.host) ? '::' : '0.0.0.0',
      port: 0,
      batch: UPSTREAM_BATCH,
      slot: UPSTREAM_SLOT,
      onBatch: (d) => this.answers(d, u),
      log: (level, msg) => this.opts.log(level, msg),
    });
    if (!b) {
      this.openDgram(u);
      return;
    }
    b.unref();
    u.batch = b;
    // Connected to its upstream: no route look-up per query in the kernel, and nobody
    // else's datagrams reach it (answers are still matched by ID and question).
    try {
      u.connected = b.connect?.(u.host, u.address.port) ?? false;
    } catch (err) {
      this.opts.log('warn', `upstream ${u.label}: UDP connect failed (${(err as Error).message}); sending unconnected`);
    }
  }

  /** A batch of datagrams on upstream u's socket. */
  private answers(d: Datagrams, u: Upstream): void {
    const data = d.data;
    this.hold(true);
    this.opts.onAnswers?.(true);
    try {
      for (let i = 0; i < d.count; i++) {
        // Unconnected: only u's own answers count.
        if (!u.connected && (d.peerPort(i) !== u.address.port || d.peerAddress(i) !== u.host)) continue;
        if (d.truncated(i)) {
          u.errors++;
          continue;
        }
        // Read and relayed where it is (targets copy what they send).
        this.answerAt(data, d.offset(i), d.length(i), u);
      }
    } finally {
      this.hold(false);
      this.opts.onAnswers?.(false);
    }
  }

  private openDgram(u: Upstream): dgram.Socket {
    const s = dgram.createSocket({ type: isIPv6(u.address.host) ? 'udp6' : 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
    s.on('message', (msg) => this.answer(msg, u));
    s.on('error', (err: NodeJS.ErrnoException) => {
      // ICMP port unreachable arrives as ECONNREFUSED on a connected socket: the
      // upstream is not there. Counted; the queries time out and fail over.
      u.errors++;
      if (err.code !== 'ECONNREFUSED') this.opts.log('warn', `upstream ${u.label}: UDP socket error ${err.code ?? err.message}`);
    });
    s.connect(u.address.port, u.address.host);
    s.unref();
    u.udp = s;
    return s;
  }

  /** An answer from upstream u (a dgram datagram or one TCP message). */
  answer(msg: Buffer, u: Upstream): void {
    this.answerAt(msg, 0, msg.length, u);
  }

  /** An answer from upstream u, m[off, off + len); its ID is rewritten in place. */
  private answerAt(m: Uint8Array, off: number, len: number, u: Upstream): void {
    if (len < 12 || (m[off + 2]! & 0x80) === 0) return;
    const s = this.slotOf[(m[off]! << 8) | m[off + 1]!]!;
    if (s < 0 || this.upstreamOf[s] !== u.index) return;
    const k = this.kind[s]!;
    // The question must be the one we sent, byte for byte (case included); an answer
    // without a question (FORMERR, NOTIMP from some servers) is taken as it is.
    const qd = (m[off + 4]! << 8) | m[off + 5]!;
    if (qd !== 0) {
      const end = this.qEnd[s]!;
      if (qd !== 1 || len < end) return;
      const q = this.bytesAt(s);
      const d = this.offsetOf(s) - off;
      for (let i = off + 12; i < off + end; i++) if (m[i] !== q[i + d]) return;
    }
    const rtt = this.clock() - this.sentAt[s]!;
    u.latency.observeMicros((rtt * 1000) | 0);
    // Karn: a retried query's answer may be to either try, so it says nothing of the RTT.
    if (this.tries[s] === 1) this.sample(u, rtt);
    u.answered++;
    u.fails = 0;
    if (!u.up) {
      u.up = true;
      this.opts.log('info', `upstream ${u.label} answers again: back in use`);
    }
    if (k === PROBE) return this.release(s);
    const orig = this.origId[s]!;
    m[off] = orig >> 8;
    m[off + 1] = orig & 0xff;
    if (k === RELAY) {
      const t = this.target[s]!;
      const port = this.port[s]!;
      const addr = this.address[s]!;
      const qname = this.qname[s];
      // Read before release: the next take() reuses the slot.
      const qtype = this.qtype[s]!;
      const mark = this.mark[s]!;
      this.release(s);
      t.send(m, port, addr, off, off + len);
      if (qname !== undefined) this.opts.onRelayed!(qname, qtype, mark, addr, m[off + 3]! & 0x0f, len, false);
    } else {
      const cb = this.callback[s]!;
      this.release(s);
      cb(Buffer.from(m.subarray(off, off + len)));
    }
  }

  /** The upstream TCP connection carrying `ids` went away before they were answered. */
  tcpLost(u: Upstream, ids: Iterable<number>, why: string): void {
    u.tcp = undefined;
    let n = 0;
    for (const id of ids) {
      const s = this.slotOf[id]!;
      if (s < 0 || this.upstreamOf[s] !== u.index || this.viaTcp[s] !== 1) continue;
      n++;
      this.failed(s, u);
    }
    if (n > 0) this.opts.log('warn', `upstream ${u.label}: TCP connection lost with ${n} queries in flight (${why})`);
  }

  /** RFC 6298 §2 with one answer's round trip (ms): the upstream's smoothed RTT, its variation, and so its RTO. */
  private sample(u: Upstream, rtt: number): void {
    if (u.srtt < 0) {
      u.srtt = rtt;
      u.rttvar = rtt / 2;
    } else {
      u.rttvar = 0.75 * u.rttvar + 0.25 * Math.abs(u.srtt - rtt);
      u.srtt = 0.875 * u.srtt + 0.125 * rtt;
    }
    u.rto = Math.min(this.timeoutMs, Math.max(MIN_RTO_MS, u.srtt + Math.max(TICK_MS, 4 * u.rttvar)));
  }

  private tick(): void {
    if (this.closed) return;
    const now = performance.now();
    // Every slot: they are few and dense (taken last-in first-out), and each attempt's
    // deadline depends on its upstream's RTO, so send order is not deadline order.
    const kind = this.kind;
    const deadline = this.deadline;
    for (let s = 0; s < this.cap; s++) {
      if (kind[s] === FREE || deadline[s]! > now) continue;
      const u = this.ups[this.upstreamOf[s]!]!;
      u.timeouts++;
      // RFC 6298 §5.5: back off until an answer gives a fresh sample; once for all the
      // attempts sent with the same RTO (a burst lost together is one signal, not many).
      if (this.sentAt[s]! >= u.backoffAt) {
        u.rto = Math.min(this.timeoutMs, u.rto * 2);
        u.backoffAt = now;
      }
      this.failed(s, u);
    }
    for (const u of this.ups) {
      if (u.up || now - u.lastProbe < this.opts.probeIntervalMs) continue;
      u.lastProbe = now;
      this.probe(u);
    }
  }

  /** An attempt on u failed (timeout, lost connection): count it, then retry or give up. */
  private failed(s: number, u: Upstream): void {
    if (++u.fails >= this.opts.downAfter && u.up) {
      u.up = false;
      u.lastProbe = performance.now();
      this.opts.log('warn', `upstream ${u.label} marked down after ${u.fails} failures in a row; probing it every ${this.opts.probeIntervalMs} ms`);
    }
    const k = this.kind[s]!;
    if (k === PROBE) return this.release(s);
    if (this.tries[s]! < this.attempts && !this.closed) return this.send(s, this.viaTcp[s] === 1, this.pick(u.index));
    const q = this.queryCopy(s);
    const orig = this.origId[s]!;
    q[0] = orig >> 8;
    q[1] = orig & 0xff;
    if (k === RELAY) {
      const t = this.target[s]!;
      const port = this.port[s]!;
      const addr = this.address[s]!;
      const tcp = this.clientTcp[s] === 1;
      const qname = this.qname[s];
      const qtype = this.qtype[s]!;
      const mark = this.mark[s]!;
      this.release(s);
      const size = this.answerServfail(q, tcp, t, port, addr);
      if (qname !== undefined) this.opts.onRelayed!(qname, qtype, mark, addr, RCode.SERVFAIL, size, true);
    } else {
      const cb = this.callback[s]!;
      this.release(s);
      cb(undefined);
    }
  }

  /** Returns the answer's size (0: none could be made). */
  private answerServfail(query: Uint8Array, tcp: boolean, t: ReplyTarget, port: number, address: string): number {
    const r = makeResponseFromQuery(query, RCode.SERVFAIL);
    if (r === undefined) return 0;
    this.opts.onServfail?.(tcp ? 'tcp' : 'udp');
    t.send(r, port, address);
    return r.length;
  }

  /** ". NS" without recursion: any answer at all shows the upstream is back. */
  private probe(u: Upstream): void {
    const q = PROBE_QUERY;
    const s = this.take(q, q.length);
    if (s < 0) return;
    this.kind[s] = PROBE;
    this.qEnd[s] = q.length;
    this.send(s, false, u);
  }
}

/** A longer array of a's kind with a's values first. */
function grown<T extends Uint8Array | Uint16Array | Int32Array | Float64Array>(a: T, length: number): T {
  const b = new (a.constructor as new (length: number) => T)(length);
  b.set(a);
  return b;
}

const PROBE_QUERY = new Uint8Array([0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1]);

/**
 * One pipelined TCP connection to an upstream (RFC 7766 §6.2.1.1: many queries on one
 * connection, answers in any order), opened on first use and closed when idle.
 */
class UpstreamTcp {
  private readonly sock: net.Socket;
  private readonly inFlight = new Set<number>();
  private buf: Buffer = Buffer.alloc(0);
  private dead = false;

  constructor(private readonly u: Upstream, private readonly fw: Forwarder) {
    this.sock = net.connect({ host: u.address.host, port: u.address.port });
    this.sock.setNoDelay(true);
    this.sock.setTimeout(30_000, () => {
      if (this.inFlight.size === 0) this.destroy();
    });
    this.sock.on('data', (d: Buffer) => this.data(d));
    this.sock.on('error', () => {
      u.errors++;
    });
    this.sock.on('close', () => this.lost('connection closed'));
    this.sock.unref();
  }

  send(query: Buffer, id: number): void {
    this.inFlight.add(id);
    const len = Buffer.allocUnsafe(2);
    len.writeUInt16BE(query.length, 0);
    this.sock.write(len);
    this.sock.write(query);
  }

  destroy(): void {
    this.sock.destroy();
  }

  private lost(why: string): void {
    if (this.dead) return;
    this.dead = true;
    const ids = [...this.inFlight];
    this.inFlight.clear();
    if (this.u.tcp === this) this.fw.tcpLost(this.u, ids, why);
  }

  private data(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    while (this.buf.length >= 2) {
      const n = this.buf.readUInt16BE(0);
      if (this.buf.length < 2 + n) break;
      const msg = Buffer.from(this.buf.subarray(2, 2 + n));
      this.buf = this.buf.subarray(2 + n);
      if (n >= 2) this.inFlight.delete((msg[0]! << 8) | msg[1]!);
      this.fw.answer(msg, this.u);
    }
  }
}
