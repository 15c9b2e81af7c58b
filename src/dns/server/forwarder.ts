/**
 * Forwarding to the upstream resolvers: the client's query bytes go upstream with only the
 * ID changed, and the upstream's answer bytes come back with the client's ID restored, so
 * EDNS options, the DO/CD bits and the question's case (0x20) pass through untouched.
 *
 * One table of 65,536 pending slots, indexed by the upstream ID, shared by UDP and TCP
 * upstream transports; typed arrays and parallel arrays instead of an object per query
 * (the hot path allocates nothing here). IDs are drawn at random (RFC 5452 §4: an
 * off-path attacker must guess the ID) and an answer is taken only if its question is
 * byte-for-byte the one sent.
 *
 * Timeouts: one attempt lasts `timeoutMs`; then the query is tried once more on the next
 * healthy upstream, and when that fails too the client gets SERVFAIL (never silence).
 * An upstream is marked down after `downAfter` timeouts in a row, probed every
 * `probeIntervalMs` while down, and back in use on its first answer. Order is preference:
 * the first upstream that is up gets every query (fail-over, like a stub's resolv.conf).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { isIPv6 } from 'node:net';
import { performance } from 'node:perf_hooks';
import { formatHostPort, formatIp, parseIp, type HostPort } from '../../core/index.ts';
import { makeResponseFromQuery, RCode, type QueryInfo, type ResponseOptions } from '../wire/index.ts';
import { LatencyHistogram, type UpstreamStats } from './stats.ts';
import { openNativeUdpBatch, type Datagrams, type UdpBatchSocket } from './udp-batch.ts';

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
  send(bytes: Uint8Array, port: number, address: string): void;
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

const SLOTS = 65536;
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
  udp: dgram.Socket | undefined;
  /** With the udp-batch addon: an unconnected socket, queries sent and answers read in batches. */
  batch: UdpBatchSocket | undefined;
  tcp: UpstreamTcp | undefined;
  /** The address as the addon formats a peer (compared with each answer's source). */
  readonly host: string;
  constructor(readonly index: number, readonly address: HostPort) {
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
  // The pending table, indexed by upstream ID.
  private readonly kind = new Uint8Array(SLOTS);
  private readonly gen = new Uint32Array(SLOTS);
  private readonly origId = new Uint16Array(SLOTS);
  private readonly qEnd = new Uint16Array(SLOTS);
  private readonly tries = new Uint8Array(SLOTS);
  private readonly upstreamOf = new Uint8Array(SLOTS);
  private readonly viaTcp = new Uint8Array(SLOTS);
  private readonly clientTcp = new Uint8Array(SLOTS);
  private readonly sentAt = new Float64Array(SLOTS);
  private readonly port = new Int32Array(SLOTS);
  private readonly query: (Buffer | undefined)[] = new Array(SLOTS).fill(undefined);
  private readonly target: (ReplyTarget | undefined)[] = new Array(SLOTS).fill(undefined);
  private readonly address: (string | undefined)[] = new Array(SLOTS).fill(undefined);
  private readonly callback: (AnswerCallback | undefined)[] = new Array(SLOTS).fill(undefined);
  // What onRelayed reports (only filled when it is set).
  private readonly qname: (string | undefined)[] = new Array(SLOTS).fill(undefined);
  private readonly qtype = new Uint16Array(SLOTS);
  private readonly mark = new Uint8Array(SLOTS);
  private pending = 0;
  // Deadlines in send order (every attempt has the same timeout, so FIFO is deadline order).
  private dlId = new Int32Array(4096);
  private dlGen = new Uint32Array(4096);
  private dlAt = new Float64Array(4096);
  private dlHead = 0;
  private dlLen = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** performance.now() read once for a batch of datagrams (-1: none running); see hold(). */
  private held = -1;

  constructor(private readonly opts: ForwarderOptions) {
    if (opts.upstreams.length === 0) throw new RangeError('the forwarder needs at least one upstream');
    if (opts.upstreams.length > 255) throw new RangeError('at most 255 upstreams');
    this.ups = opts.upstreams.map((a, i) => new Upstream(i, a));
    this.timeoutMs = opts.timeoutMs;
    this.attempts = Math.max(1, Math.min(opts.attempts ?? 2, 8));
  }

  start(): void {
    for (const u of this.ups) this.openUdp(u);
    this.timer = setInterval(() => this.tick(), Math.max(10, Math.min(100, this.timeoutMs / 4)));
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
   * Sends a client's query upstream and relays the answer to `target`. `query` is the
   * client's buffer: its ID is overwritten here (the original is kept and restored).
   */
  relay(query: Buffer, questionEnd: number, tcp: boolean, target: ReplyTarget, port: number, address: string, qname?: string, qtype = 0, mark = 0): void {
    const id = this.take();
    if (id < 0) {
      const size = this.answerServfail(query, tcp, target, port, address);
      if (qname !== undefined && size > 0) this.opts.onRelayed?.(qname, qtype, mark, address, RCode.SERVFAIL, size, false);
      return;
    }
    this.kind[id] = RELAY;
    if (qname !== undefined && this.opts.onRelayed) {
      this.qname[id] = qname;
      this.qtype[id] = qtype;
      this.mark[id] = mark;
    }
    this.target[id] = target;
    this.port[id] = port;
    this.address[id] = address;
    this.clientTcp[id] = tcp ? 1 : 0;
    this.send(id, query, questionEnd, tcp, this.pick(-1));
  }

  /** Asks upstream on our own account (e.g. a CNAME target of local data); `query` is ours to change. */
  ask(query: Buffer, questionEnd: number, tcp: boolean, cb: AnswerCallback): void {
    const id = this.take();
    if (id < 0) return cb(undefined);
    this.kind[id] = CALLBACK;
    this.callback[id] = cb;
    this.send(id, query, questionEnd, tcp, this.pick(-1));
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
    }));
  }

  // ---- internals -----------------------------------------------------------------------

  private take(): number {
    if (this.pending >= SLOTS - 1) return -1;
    let id = (Math.random() * SLOTS) | 0;
    while (this.kind[id] !== FREE) id = (id + 1) & 0xffff;
    this.pending++;
    this.gen[id]!++;
    return id;
  }

  private release(id: number): void {
    this.kind[id] = FREE;
    this.query[id] = undefined;
    this.target[id] = undefined;
    this.address[id] = undefined;
    this.callback[id] = undefined;
    this.qname[id] = undefined;
    this.tries[id] = 0;
    this.pending--;
  }

  /** The first upstream that is up, other than `not`; if none is up, the next one anyway. */
  private pick(not: number): Upstream {
    const ups = this.ups;
    for (const u of ups) if (u.up && u.index !== not) return u;
    if (ups.length === 1) return ups[0]!;
    // Everything is down: keep trying in turn rather than refuse (one may be back).
    const from = not < 0 ? 0 : not + 1;
    return ups[from % ups.length]!;
  }

  private send(id: number, query: Buffer, questionEnd: number, tcp: boolean, u: Upstream): void {
    if (this.tries[id] === 0) {
      this.origId[id] = (query[0]! << 8) | query[1]!;
      this.qEnd[id] = questionEnd;
      this.query[id] = query;
    }
    this.tries[id]!++;
    query[0] = id >> 8;
    query[1] = id & 0xff;
    this.upstreamOf[id] = u.index;
    this.viaTcp[id] = tcp ? 1 : 0;
    this.sentAt[id] = this.clock();
    this.pushDeadline(id);
    u.sent++;
    if (tcp) {
      (u.tcp ??= new UpstreamTcp(u, this)).send(query, id);
    } else if (u.batch) {
      // Queued: every query relayed in one client batch goes up in one sendmmsg.
      u.batch.send(query, u.address.port, u.host);
    } else {
      const s = u.udp ?? this.openDgram(u);
      s.send(query);
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
    if (b) {
      b.unref();
      u.batch = b;
    } else this.openDgram(u);
  }

  /** A batch of datagrams on upstream u's socket. Unconnected: only u's own answers count (a connected socket filtered the rest). */
  private answers(d: Datagrams, u: Upstream): void {
    const data = d.data;
    this.hold(true);
    this.opts.onAnswers?.(true);
    try {
      for (let i = 0; i < d.count; i++) {
        if (d.peerPort(i) !== u.address.port || d.peerAddress(i) !== u.host) continue;
        if (d.truncated(i)) {
          u.errors++;
          continue;
        }
        // A view into the batch buffer: answer() uses it before returning (targets copy what they send).
        this.answer(Buffer.from(data.buffer, data.byteOffset + d.offset(i), d.length(i)), u);
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

  /** An answer from upstream u (UDP datagram or one TCP message). */
  answer(msg: Buffer, u: Upstream): void {
    if (msg.length < 12 || (msg[2]! & 0x80) === 0) return;
    const id = (msg[0]! << 8) | msg[1]!;
    const k = this.kind[id]!;
    if (k === FREE || this.upstreamOf[id] !== u.index) return;
    const q = this.query[id]!;
    const end = this.qEnd[id]!;
    // The question must be the one we sent, byte for byte (case included); an answer
    // without a question (FORMERR, NOTIMP from some servers) is taken as it is.
    const qd = (msg[4]! << 8) | msg[5]!;
    if (qd !== 0) {
      if (qd !== 1 || msg.length < end) return;
      for (let i = 12; i < end; i++) if (msg[i] !== q[i]) return;
    }
    const seconds = (this.clock() - this.sentAt[id]!) / 1000;
    u.latency.observe(seconds);
    u.answered++;
    u.fails = 0;
    if (!u.up) {
      u.up = true;
      this.opts.log('info', `upstream ${u.label} answers again: back in use`);
    }
    if (k === PROBE) return this.release(id);
    const orig = this.origId[id]!;
    msg[0] = orig >> 8;
    msg[1] = orig & 0xff;
    if (k === RELAY) {
      const t = this.target[id]!;
      const port = this.port[id]!;
      const addr = this.address[id]!;
      const qname = this.qname[id];
      this.release(id);
      t.send(msg, port, addr);
      if (qname !== undefined) this.opts.onRelayed!(qname, this.qtype[id]!, this.mark[id]!, addr, msg[3]! & 0x0f, msg.length, false);
    } else {
      const cb = this.callback[id]!;
      this.release(id);
      cb(msg);
    }
  }

  /** The upstream TCP connection carrying `ids` went away before they were answered. */
  tcpLost(u: Upstream, ids: Iterable<number>, why: string): void {
    u.tcp = undefined;
    let n = 0;
    for (const id of ids) {
      if (this.kind[id] === FREE || this.upstreamOf[id] !== u.index || this.viaTcp[id] !== 1) continue;
      n++;
      this.failed(id, u);
    }
    if (n > 0) this.opts.log('warn', `upstream ${u.label}: TCP connection lost with ${n} queries in flight (${why})`);
  }

  private pushDeadline(id: number): void {
    if (this.dlLen === this.dlId.length) {
      const cap = this.dlId.length * 2;
      const ids = new Int32Array(cap);
      const gens = new Uint32Array(cap);
      const ats = new Float64Array(cap);
      for (let i = 0; i < this.dlLen; i++) {
        const j = (this.dlHead + i) % this.dlId.length;
        ids[i] = this.dlId[j]!;
        gens[i] = this.dlGen[j]!;
        ats[i] = this.dlAt[j]!;
      }
      this.dlId = ids;
      this.dlGen = gens;
      this.dlAt = ats;
      this.dlHead = 0;
    }
    const j = (this.dlHead + this.dlLen) % this.dlId.length;
    this.dlId[j] = id;
    this.dlGen[j] = this.gen[id]! * 16 + this.tries[id]!;
    this.dlAt[j] = this.sentAt[id]! + this.timeoutMs;
    this.dlLen++;
  }

  private tick(): void {
    if (this.closed) return;
    const now = performance.now();
    while (this.dlLen > 0) {
      const j = this.dlHead;
      if (this.dlAt[j]! > now) break;
      const id = this.dlId[j]!;
      const g = this.dlGen[j]!;
      this.dlHead = (j + 1) % this.dlId.length;
      this.dlLen--;
      if (this.kind[id] === FREE || this.gen[id]! * 16 + this.tries[id]! !== g) continue;
      const u = this.ups[this.upstreamOf[id]!]!;
      u.timeouts++;
      this.failed(id, u);
    }
    for (const u of this.ups) {
      if (u.up || now - u.lastProbe < this.opts.probeIntervalMs) continue;
      u.lastProbe = now;
      this.probe(u);
    }
  }

  /** An attempt on u failed (timeout, lost connection): count it, then retry or give up. */
  private failed(id: number, u: Upstream): void {
    if (++u.fails >= this.opts.downAfter && u.up) {
      u.up = false;
      u.lastProbe = performance.now();
      this.opts.log('warn', `upstream ${u.label} marked down after ${u.fails} failures in a row; probing it every ${this.opts.probeIntervalMs} ms`);
    }
    const k = this.kind[id]!;
    if (k === PROBE) return this.release(id);
    if (this.tries[id]! < this.attempts && !this.closed) {
      return this.send(id, this.query[id]!, this.qEnd[id]!, this.viaTcp[id] === 1, this.pick(u.index));
    }
    const q = this.query[id]!;
    const orig = this.origId[id]!;
    q[0] = orig >> 8;
    q[1] = orig & 0xff;
    if (k === RELAY) {
      const t = this.target[id]!;
      const port = this.port[id]!;
      const addr = this.address[id]!;
      const tcp = this.clientTcp[id] === 1;
      const qname = this.qname[id];
      this.release(id);
      const size = this.answerServfail(q, tcp, t, port, addr);
      if (qname !== undefined) this.opts.onRelayed!(qname, this.qtype[id]!, this.mark[id]!, addr, RCode.SERVFAIL, size, true);
    } else {
      const cb = this.callback[id]!;
      this.release(id);
      cb(undefined);
    }
  }

  /** Returns the answer's size (0: none could be made). */
  private answerServfail(query: Buffer, tcp: boolean, t: ReplyTarget, port: number, address: string): number {
    const r = makeResponseFromQuery(query, RCode.SERVFAIL);
    if (r === undefined) return 0;
    this.opts.onServfail?.(tcp ? 'tcp' : 'udp');
    t.send(r, port, address);
    return r.length;
  }

  /** ". NS" without recursion: any answer at all shows the upstream is back. */
  private probe(u: Upstream): void {
    const id = this.take();
    if (id < 0) return;
    this.kind[id] = PROBE;
    const q = Buffer.from([0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1]);
    this.tries[id] = 0;
    this.send(id, q, q.length, false, u);
  }
}

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
