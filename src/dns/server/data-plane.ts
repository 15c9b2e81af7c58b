/**
 * The DNS firewall's data plane: UDP and TCP listeners, the policy decision per query, and
 * forwarding (forwarder.ts). It owns sockets, not policy files or the store: the owner
 * (firewall.ts, or a worker thread) swaps in a new PolicyEngine with `setEngine`, the
 * opt-out prefixes with `setOptOuts`, and receives block events through `onBlock`.
 *
 * Per query (R1, R4): an opted-out client (consent) or an unfiltered listener is resolved
 * without policy; otherwise PolicyEngine.decide() picks NXDOMAIN, NODATA, DROP, TCP-only
 * (TC=1 over UDP, resolved over TCP), PASSTHRU or local data (the warning page). A
 * synthesised answer carries the RFC 8914 Extended DNS Error "Blocked" when the query had
 * EDNS. A local-data CNAME (to the warning page's name) is followed: its target is checked
 * against the policy again (chaseCname) and, when no policy covers it, resolved upstream
 * and the answer chained after it.
 *
 * TCP follows RFC 7766: length-prefixed messages, many queries per connection answered
 * as they come (pipelining, out of order), an idle timeout, and garbage (a message that
 * is not a DNS query) closes that connection only.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { isIPv6 } from 'node:net';
import { formatHostPort, openOnOnePort, parseIp, PrefixMap, SakimoriError, type HostPort, type IpAddress, type IpPrefix } from '../../core/index.ts';
import {
  decodeMessage,
  encodeMessage,
  extendedError,
  makeHeaderOnlyResponse,
  makeLocalDataResponse,
  emptyQueryInfo,
  makeResponseFromQuery,
  RCode,
  readQuery,
  readQueryInto,
  responseLength,
  RRType,
  writeResponseFromQuery,
  type CompiledRecords,
  type QueryInfo,
  type ResponseOptions,
} from '../wire/index.ts';
import type { Decision, PolicyEngine } from '../policy/index.ts';
import type { DnsObservedQuery, PolicyKind } from '../detect/index.ts';
import { Forwarder, type ForwarderOptions, type ReplyTarget } from './forwarder.ts';
import { addUdpStats, DataPlaneStats, emptyUdpSocketStats, NO_ANSWER, type StatsSnapshot, type Transport, type UdpSocketStats } from './stats.ts';
import { openUdpBatch, type Datagrams, type UdpBatchSocket } from './udp-batch.ts';

export interface ListenSpec {
  address: HostPort;
  /** false: the "use another resolver" listener, answered without any policy (R1 opt-out). */
  filtered: boolean;
}

/** What R1 allows a block event to keep: time, client address, FQDN, list (zone), action. */
export interface BlockEvent {
  at: number;
  client: string;
  fqdn: string;
  list: string;
  action: string;
}

export interface DataPlaneOptions extends Omit<ForwarderOptions, 'log' | 'onServfail'> {
  /** Idle TCP client connections are closed after this (RFC 7766 §6.2.3). */
  tcpIdleMs: number;
  /** At most this many TCP client connections at once; more are refused. Default 1000. */
  maxTcpClients?: number;
  /** Queries one TCP connection may have upstream at once before reading pauses. Default 64. */
  maxTcpInFlight?: number;
  /** Told of each blocked query. The event object is reused for every query: copy what you keep. */
  onBlock: (e: BlockEvent) => void;
  /**
   * DNS detection (dns/detect): told once per answered (or given-up, or dropped) filtered
   * query. The event object is reused for every query: copy what you keep.
   */
  observer?: QueryObserver;
  /** The kind of each policy zone (by canonical name), for the observer's `matched`. */
  zoneKinds?: ReadonlyMap<string, PolicyKind>;
  log: (level: 'info' | 'warn' | 'error', msg: string, detail?: Record<string, unknown>) => void;
  now?: () => number;
}

/**
 * One listener's sockets. UDP is a batched socket (udp-batch: recvmmsg/sendmmsg, or its
 * dgram fallback), or a plain dgram socket opened on a descriptor shared by worker 0
 * (threads > 0 without the native addon: Node's dgram has no SO_REUSEPORT).
 */
export interface BoundListener {
  spec: ListenSpec;
  udp: UdpBatchSocket | dgram.Socket;
  tcp: net.Server;
}

/**
 * How listen() opens UDP: 'batch' (udp-batch, native when built), 'reuseport' (udp-batch
 * native with SO_REUSEPORT: each worker thread binds its own socket on the same port),
 * 'dgram' (a plain dgram socket whose descriptor worker threads share).
 */
export type UdpMode = 'batch' | 'reuseport' | 'dgram';

export interface QueryObserver {
  observe(e: DnsObservedQuery): void;
}

/** `matched` as a small number (carried through the forwarder's typed arrays). */
const MARKS: readonly (PolicyKind | undefined)[] = [undefined, 'cc', 'malware-sites', 'dns-abuse', 'allow'];
const NO_RCODE = -1;

const EDE_BLOCKED = 15;
const MAX_CLIENT_CACHE = 65536;

export class DataPlane {
  readonly stats = new DataPlaneStats();
  readonly forwarder: Forwarder;
  private engine: PolicyEngine | undefined;
  private optOuts: PrefixMap<true> | undefined;
  private readonly optOutCache = new Map<string, boolean>();
  private readonly ede = new Map<string, Uint8Array>();
  private readonly listeners: BoundListener[] = [];
  private readonly tcpClients = new Set<TcpClient>();
  private readonly warned = new Set<string>();
  private readonly now: () => number;
  private readonly observer: QueryObserver | undefined;
  private readonly marks = new Map<string, number>();
  private lastZone = '';
  private lastMark = 0;
  private readonly blockEvent: BlockEvent = { at: 0, client: '', fqdn: '', list: '', action: '' };
  /** now() read once for the batch of datagrams being handled (0: none): events and detection need no finer time. */
  private batchAt = 0;
  /** engine.usesClientIp, read at the start of the batch being handled. */
  private batchClientIp = false;
  private readonly info: QueryInfo = emptyQueryInfo();
  /** The options of the NXDOMAIN/NODATA answer being written (used only during the call). */
  private readonly answerOpts: ResponseOptions & { info: QueryInfo } = { info: this.info, authority: undefined, ednsOptions: undefined };
  private readonly seen: DnsObservedQuery = { at: 0, client: '', qname: '', qtype: 0, rcode: undefined, responseSize: undefined, upstreamTimeout: false, matched: undefined };

  constructor(private readonly opts: DataPlaneOptions) {
    this.now = opts.now ?? Date.now;
    this.observer = opts.observer;
    for (const [zone, kind] of opts.zoneKinds ?? []) this.marks.set(zone, MARKS.indexOf(kind));
    this.forwarder = new Forwarder({
      ...opts,
      log: (level, msg, detail) => opts.log(level, msg, detail),
      onServfail: () => this.stats.servfail++,
      ...(opts.observer ? { onRelayed: (qname: string, qtype: number, mark: number, address: string, rcode: number, size: number, timedOut: boolean) => this.observed(qname, qtype, mark, address, rcode, size, timedOut) } : {}),
      onAnswers: (begin) => {
        this.batchAt = begin ? this.now() : 0;
        this.batchClientIp = this.engine?.usesClientIp === true;
      },
    });
  }

  setEngine(engine: PolicyEngine | undefined): void {
    this.engine = engine;
  }

  setOptOuts(prefixes: readonly IpPrefix[]): void {
    const m = new PrefixMap<true>();
    for (const p of prefixes) m.set(p, true);
    this.optOuts = m.size > 0 ? m : undefined;
    this.optOutCache.clear();
  }

  /** Binds every listener (UDP and TCP on each address). Throws SakimoriError on a busy port. */
  async listen(specs: readonly ListenSpec[], udpMode: UdpMode = 'batch'): Promise<BoundListener[]> {
    const out: BoundListener[] = [];
    try {
      for (const spec of specs) {
        const pair = await openOnOnePort(spec.address.port, {
          first: (port) => (udpMode === 'dgram' ? bindUdp({ host: spec.address.host, port }) : this.openUdp({ ...spec, address: { host: spec.address.host, port } }, udpMode === 'reuseport')),
          portOf: (udp) => ('impl' in udp ? udp.port : udp.address().port),
          second: (port) => listenTcp({ host: spec.address.host, port }),
          closeFirst: closeUdp,
          busy: (err) => ((err as SakimoriError).cause as NodeJS.ErrnoException | undefined)?.code === 'EADDRINUSE',
        });
        out.push({ spec: { ...spec, address: { host: spec.address.host, port: pair.port } }, udp: pair.first, tcp: pair.second });
      }
    } catch (err) {
      for (const l of out) {
        await closeUdp(l.udp);
        l.tcp.close();
      }
      throw err;
    }
    for (const l of out) this.serve(l);
    return out;
  }

  /**
   * A batched UDP socket answering into this plane. `reusePort`: a worker thread's own
   * socket on a port the other threads bind too (native addon only).
   */
  async openUdp(spec: ListenSpec, reusePort: boolean): Promise<UdpBatchSocket> {
    const t = new BatchTarget(spec.filtered);
    try {
      t.sock = await openUdpBatch({ host: spec.address.host, port: spec.address.port, reusePort, impl: reusePort ? 'native' : 'auto', readDelay: true, log: (level, msg) => this.opts.log(level, msg), onBatch: (d) => this.batch(d, t) });
    } catch (err) {
      throw listenError('UDP', spec.address, err as NodeJS.ErrnoException);
    }
    return t.sock;
  }

  /** Serves sockets opened elsewhere (a worker thread given the listeners' descriptors). */
  serve(l: BoundListener): void {
    this.listeners.push(l);
    const filtered = l.spec.filtered;
    const udp = l.udp;
    if (!('impl' in udp)) {
      const target = new UdpTarget(udp);
      udp.on('message', (msg, rinfo) => this.query(msg, msg.length, false, target, rinfo.port, rinfo.address, filtered));
      udp.on('error', (err) => this.opts.log('warn', `UDP listener ${formatHostPort(l.spec.address)}: ${err.message}`));
    }
    l.tcp.on('connection', (sock) => this.accept(sock, filtered));
    l.tcp.on('error', (err) => this.opts.log('warn', `TCP listener ${formatHostPort(l.spec.address)}: ${err.message}`));
  }

  /** One recvmmsg worth of queries. Each query is a view into the batch's buffer, valid only during this call. */
  private batch(d: Datagrams, t: BatchTarget): void {
    t.d = d;
    this.batchAt = this.now();
    // Read once per batch: a getter that walks the zones (~1% of the block path per query);
    // zones change between event-loop turns, never inside one.
    this.batchClientIp = this.engine?.usesClientIp === true;
    this.forwarder.hold(true);
    try {
      const data = d.data;
      for (let i = 0; i < d.count; i++) {
        const port = d.peerPort(i);
        t.i = i;
        t.port = port;
        if (d.truncated(i)) {
          // Longer than a slot (4 KiB): no client query is; answer FORMERR from the header.
          this.stats.queries.udp++;
          this.stats.malformed.udp++;
          this.warnOnce('malformed-udp-oversize', `a UDP query from a client is longer than ${d.length(i)} bytes (${d.wireLength(i)}); answered FORMERR. Logged once.`);
          const msg = data.subarray(d.offset(i), d.offset(i) + d.length(i));
          if ((msg[2]! & 0x80) === 0) {
            const e = makeHeaderOnlyResponse(msg, RCode.FORMERR);
            if (e) this.reply(t, e, port, '', 'udp', RCode.FORMERR);
          }
          continue;
        }
        // Read where it arrived: a reused view of the datagram's slot (no object per query).
        this.query(d.view(i), d.length(i), false, t, port, d.peerAddress(i), t.filtered, true);
      }
    } finally {
      t.d = undefined;
      this.batchAt = 0;
      this.forwarder.hold(false);
    }
  }

  private time(): number {
    return this.batchAt !== 0 ? this.batchAt : this.now();
  }

  start(): void {
    this.forwarder.start();
  }

  async stop(): Promise<void> {
    for (const l of this.listeners) {
      await closeUdp(l.udp);
      await new Promise<void>((resolve) => l.tcp.close(() => resolve()));
    }
    for (const c of this.tcpClients) c.sock.destroy();
    this.listeners.length = 0;
    await this.forwarder.stop();
  }

  get addresses(): ListenSpec[] {
    return this.listeners.map((l) => l.spec);
  }

  snapshot(): StatsSnapshot {
    const s = this.stats;
    return {
      queries: { ...s.queries },
      responses: { udp: [...s.responses.udp], tcp: [...s.responses.tcp] },
      malformed: { ...s.malformed },
      policy: s.policyTotals(),
      unfiltered: s.unfiltered,
      servfail: s.servfail,
      tcpConnections: this.tcpClients.size,
      tcpClosedForGarbage: s.tcpClosedForGarbage,
      upstreams: this.forwarder.stats(),
      udpSockets: this.udpStats(),
    };
  }

  /** The batched UDP sockets' counters, summed (dgram sockets on a shared descriptor have none). */
  private udpStats(): UdpSocketStats {
    const sum = emptyUdpSocketStats();
    for (const l of this.listeners) {
      if (!('impl' in l.udp)) continue;
      sum.sockets++;
      if (l.udp.impl === 'native') sum.native++;
      addUdpStats(sum, l.udp.stats());
    }
    if (sum.dropped > 0) this.warnOnce('udp-dropped', `UDP replies dropped: the socket stayed unwritable past its queue bound (${sum.dropped} so far); the host's network or the clients cannot take the answer rate`);
    if (sum.sendErrors > 0) this.warnOnce('udp-send-errors', `UDP replies refused by the kernel (${sum.sendErrors} so far)`);
    return sum;
  }

  // ---- per query ---------------------------------------------------------------------

  /**
   * One query from a client, msg[0, len). Returns false when a TCP connection must be
   * closed (garbage). msg is only valid during this call (the forwarder copies what it
   * relays); `view`: msg is a batch's slot, written into by answerInPlace.
   */
  query(msg: Uint8Array, len: number, tcp: boolean, target: ReplyTarget, port: number, address: string, filtered: boolean, view = false): boolean {
    const t: Transport = tcp ? 'tcp' : 'udp';
    this.stats.queries[t]++;
    // One QueryInfo for every query: used only during this call (nothing below keeps it).
    const q = this.info;
    const err = readQueryInto(msg, q, len);
    if (err !== null) {
      this.stats.malformed[t]++;
      this.warnOnce(`malformed-${t}-${err.code}`, `malformed ${t.toUpperCase()} query from a client (${err.code}: ${err.message}); answered FORMERR when possible${tcp ? ', connection closed' : ''}. Logged once per kind of error.`);
      // Never answer something that says it is a response (no reflection loops).
      if (len >= 12 && (msg[2]! & 0x80) === 0) {
        const e = makeHeaderOnlyResponse(msg, RCode.FORMERR);
        if (e) this.reply(target, e, port, address, t, RCode.FORMERR);
      }
      return false;
    }
    if (q.opcode !== 0) {
      this.reply(target, makeResponseFromQuery(msg, RCode.NOTIMP, { info: q })!, port, address, t, RCode.NOTIMP);
      return true;
    }
    const engine = this.engine;
    if (!filtered || engine === undefined || this.optedOut(address)) {
      this.stats.unfiltered++;
      this.forwarder.relay(msg, len, q.questionEnd, tcp, target, port, address);
      return true;
    }
    const d = engine.decide(q.qname, (this.batchAt !== 0 ? this.batchClientIp : engine.usesClientIp) ? clientIp(address) : undefined, q.qtype);
    const obs = this.observer !== undefined;
    switch (d.action) {
      case 'none':
        if (obs) this.forwarder.relay(msg, len, q.questionEnd, tcp, target, port, address, q.qname, q.qtype, 0);
        else this.forwarder.relay(msg, len, q.questionEnd, tcp, target, port, address);
        return true;
      case 'passthru':
        this.stats.countPolicy(d);
        if (obs) this.forwarder.relay(msg, len, q.questionEnd, tcp, target, port, address, q.qname, q.qtype, this.markOf(d.zone));
        else this.forwarder.relay(msg, len, q.questionEnd, tcp, target, port, address);
        return true;
      case 'tcp-only':
        this.stats.countPolicy(d);
        if (tcp) this.forwarder.relay(msg, len, q.questionEnd, tcp, target, port, address, q.qname, q.qtype, this.markOf(d.zone));
        else {
          const out = makeResponseFromQuery(msg, RCode.NOERROR, { info: q, tc: true })!;
          this.reply(target, out, port, address, t, RCode.NOERROR);
          if (obs) this.observed(q.qname, q.qtype, this.markOf(d.zone), address, RCode.NOERROR, out.length, false);
        }
        return true;
      case 'drop':
        this.block(d, q, address);
        this.stats.responses[t][NO_ANSWER]!++;
        target.skip?.();
        if (obs) this.observed(q.qname, q.qtype, this.markOf(d.zone), address, NO_RCODE, 0, false);
        return true;
      case 'nxdomain':
      case 'nodata': {
        this.block(d, q, address);
        const rcode = d.action === 'nxdomain' ? RCode.NXDOMAIN : RCode.NOERROR;
        // One options object for every policy answer (an object per query was ~40% of the block path's allocation).
        const opts = this.answerOpts;
        opts.authority = d.authority;
        opts.ednsOptions = q.edns ? this.edeFor(d.zone) : undefined;
        // In a batch: written straight into the socket's send buffer (no Buffer per answer).
        let size = view && target.answerInPlace !== undefined ? target.answerInPlace(msg, rcode, opts) : -1;
        if (size >= 0) this.stats.responses[t][rcode & 0x0f]!++;
        else {
          const out = makeResponseFromQuery(msg, rcode, opts)!;
          this.reply(target, out, port, address, t, rcode);
          size = out.length;
        }
        if (obs) this.observed(q.qname, q.qtype, this.markOf(d.zone), address, rcode, size, false);
        return true;
      }
      case 'local-data':
        this.block(d, q, address);
        this.localData(msg, q, d, tcp, target, port, address);
        if (obs) this.observed(q.qname, q.qtype, this.markOf(d.zone), address, RCode.NOERROR, 0, false);
        return true;
    }
  }

  /** The zone kind's mark for a policy zone: the last zone's is kept (policy answers come in runs), no Map look-up per query. */
  private markOf(zone: string): number {
    if (zone !== this.lastZone) {
      this.lastZone = zone;
      this.lastMark = this.marks.get(zone) ?? 0;
    }
    return this.lastMark;
  }

  /** Tells detection about one answer, in the one reused event object (no allocation). */
  private observed(qname: string, qtype: number, mark: number, address: string, rcode: number, size: number, timedOut: boolean): void {
    const e = this.seen;
    e.at = this.time();
    // The socket's text as it is: detection makes an IPv4-mapped address plain where it reports it.
    e.client = address;
    e.qname = qname;
    e.qtype = qtype;
    e.rcode = rcode === NO_RCODE ? undefined : rcode;
    e.responseSize = size;
    e.upstreamTimeout = timedOut;
    e.matched = MARKS[mark];
    this.observer!.observe(e);
  }

  private block(d: Decision, q: QueryInfo, address: string): void {
    this.stats.countPolicy(d);
    const e = this.blockEvent;
    e.at = this.time();
    e.client = plainAddress(address);
    e.fqdn = q.qname;
    e.list = d.zone;
    e.action = d.action;
    this.opts.onBlock(e);
  }

  private localData(msg: Uint8Array, q: QueryInfo, d: Decision, tcp: boolean, target: ReplyTarget, port: number, address: string): void {
    const t: Transport = tcp ? 'tcp' : 'udp';
    const ans = d.answersFor(q.qname);
    const ede = q.edns ? this.edeFor(d.zone) : undefined;
    if (ans === undefined) {
      // CNAME *.suffix made a name over 255 octets (RFC 6672 §2.2 answers YXDOMAIN).
      return this.reply(target, makeResponseFromQuery(msg, RCode.YXDOMAIN, { info: q, ...(ede ? { ednsOptions: ede } : {}) })!, port, address, t, RCode.YXDOMAIN);
    }
    if (ans.count === 0) {
      return this.reply(target, makeResponseFromQuery(msg, RCode.NOERROR, { info: q, authority: d.authority, ...(ede ? { ednsOptions: ede } : {}) })!, port, address, t, RCode.NOERROR);
    }
    const local = makeLocalDataResponse(msg, ans, { info: q, ...(ede ? { ednsOptions: ede } : {}) })!;
    if (q.qtype === RRType.CNAME || !isSingleCname(ans)) return this.reply(target, local, port, address, t, RCode.NOERROR);
    this.chaseCname(msg, q, local, ans, tcp, target, port, address);
  }

  /**
   * A local-data CNAME (the warning page's name): its target is a new query name, so it is
   * checked against the policy again — the never-block list first, then every zone in
   * order, QNAME triggers only (the client's own triggers were applied to the query) — and
   * each step's answer is appended: more local data (followed again when it is a CNAME),
   * NXDOMAIN or NODATA, DROP (no answer at all), TCP-only (TC=1 over UDP). A target no
   * policy covers (or PASSTHRU) is resolved upstream and its answer chained after.
   * Each name is visited once, and at most MAX_POLICY_CNAMES are followed: a loop in the
   * zones is answered with the CNAMEs so far (NOERROR, no address), logged once, and
   * never sent upstream.
   */
  private chaseCname(msg: Uint8Array, q: QueryInfo, local: Uint8Array, ans: CompiledRecords, tcp: boolean, target: ReplyTarget, port: number, address: string): void {
    const t: Transport = tcp ? 'tcp' : 'udp';
    // Read now: q is reused by the next query before an upstream answer comes.
    const maxSize = tcp ? 65535 : q.edns ? Math.max(512, q.udpSize) : 512;
    const engine = this.engine!;
    const names = [q.qname];
    let out = local;
    let cname = ans;
    for (;;) {
      const next = cnameQuery(cname, q);
      const r = readQuery(next.bytes);
      if (!r.ok) return this.reply(target, out, port, address, t, RCode.NOERROR);
      const name = r.value.qname;
      if (names.includes(name) || names.length > MAX_POLICY_CNAMES) {
        this.warnOnce(`cname-loop-${names[0]}`, `policy zones send ${names[0]} round a CNAME chain (${[...names, name].join(' -> ')}${names.includes(name) ? ': a loop' : `: over ${MAX_POLICY_CNAMES} names`}); answered with the CNAMEs so far. Logged once per name (and thread).`);
        return this.reply(target, out, port, address, t, RCode.NOERROR);
      }
      names.push(name);
      const d = engine.decide(name, undefined, q.qtype);
      if (d.action === 'tcp-only' && !tcp) return this.reply(target, makeResponseFromQuery(msg, RCode.NOERROR, { info: q, tc: true })!, port, address, t, RCode.NOERROR);
      switch (d.action) {
        case 'tcp-only': // over TCP: PASSTHRU
        case 'none':
        case 'passthru': {
          const sofar = out;
          this.forwarder.ask(next.bytes, next.questionEnd, tcp, (answer) => this.reply(target, chain(sofar, answer, maxSize), port, address, t, RCode.NOERROR));
          return;
        }
        case 'drop':
          this.stats.responses[t][NO_ANSWER]!++;
          target.skip?.();
          return;
        case 'nxdomain':
        case 'nodata': {
          const rcode = d.action === 'nxdomain' ? RCode.NXDOMAIN : RCode.NOERROR;
          return this.reply(target, chain(out, Buffer.from(makeResponseFromQuery(next.bytes, rcode, { info: r.value })!), maxSize), port, address, t, rcode);
        }
        case 'local-data': {
          const more = d.answersFor(name);
          if (more === undefined || more.count === 0) {
            const rcode = more === undefined ? RCode.YXDOMAIN : RCode.NOERROR;
            return this.reply(target, rcode === RCode.NOERROR ? out : withRcode(out, rcode), port, address, t, rcode);
          }
          out = chain(out, Buffer.from(makeLocalDataResponse(next.bytes, more, { info: r.value })!), maxSize);
          if (!isSingleCname(more)) return this.reply(target, out, port, address, t, RCode.NOERROR);
          cname = more;
        }
      }
    }
  }

  private edeFor(zone: string): Uint8Array {
    let e = this.ede.get(zone);
    if (e === undefined) {
      e = extendedError(EDE_BLOCKED, `blocked by DNS protection: listed in ${zone}`);
      this.ede.set(zone, e);
    }
    return e;
  }

  private reply(target: ReplyTarget, bytes: Uint8Array, port: number, address: string, t: Transport, rcode: number): void {
    this.stats.responses[t][rcode & 0x0f]!++;
    target.send(bytes, port, address);
  }

  private optedOut(address: string): boolean {
    const m = this.optOuts;
    if (m === undefined) return false;
    let v = this.optOutCache.get(address);
    if (v === undefined) {
      const ip = clientIp(address);
      v = ip !== undefined && m.match(ip) !== undefined;
      if (this.optOutCache.size >= MAX_CLIENT_CACHE) this.optOutCache.clear();
      this.optOutCache.set(address, v);
    }
    return v;
  }

  private warnOnce(key: string, msg: string): void {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.opts.log('warn', msg);
  }

  // ---- TCP clients -------------------------------------------------------------------

  private accept(sock: net.Socket, filtered: boolean): void {
    if (this.tcpClients.size >= (this.opts.maxTcpClients ?? 1000)) {
      this.warnOnce('tcp-full', `too many TCP clients (${this.tcpClients.size}); new connections are closed until some end`);
      sock.destroy();
      return;
    }
    const c = new TcpClient(sock, this, filtered, this.opts.tcpIdleMs, this.opts.maxTcpInFlight ?? 64);
    this.tcpClients.add(c);
    this.stats.tcpConnections++;
    sock.on('close', () => this.tcpClients.delete(c));
  }

  /** @internal a TCP client sent garbage. */
  garbage(): void {
    this.stats.tcpClosedForGarbage++;
  }
}

/**
 * A batched listener's reply target. Inside its batch, an answer to the datagram being
 * handled joins the batch's sendmmsg by index (no address parsing); later answers (from
 * upstream) go through send(), coalesced per microtask.
 */
class BatchTarget implements ReplyTarget {
  sock!: UdpBatchSocket;
  d: Datagrams | undefined;
  i = 0;
  port = 0;
  constructor(readonly filtered: boolean) {}
  send(bytes: Uint8Array, port: number, address: string, start = 0, end = bytes.length): void {
    if (this.d !== undefined && port === this.port) this.d.reply(this.i, bytes, start, end);
    else this.sock.send(bytes, port, address, start, end);
  }
  answerInPlace(query: Uint8Array, rcode: number, opts: ResponseOptions & { info: QueryInfo }): number {
    const d = this.d;
    if (d === undefined) return -1;
    const len = responseLength(opts);
    const at = d.replyAt(this.i, len);
    if (at < 0) return 0; // closed: nothing goes out, as send() on a closed socket
    writeResponseFromQuery(query, rcode, opts, d.txData, at);
    d.replyDone();
    return len;
  }
}

function closeUdp(u: UdpBatchSocket | dgram.Socket): Promise<void> {
  if ('impl' in u) return u.close();
  return new Promise((resolve) => {
    try {
      u.close(() => resolve());
    } catch {
      resolve();
    }
  });
}

class UdpTarget implements ReplyTarget {
  constructor(private readonly sock: dgram.Socket) {}
  send(bytes: Uint8Array, port: number, address: string, start = 0, end = bytes.length): void {
    // A copy: dgram may send later, and bytes may be a batch buffer the next batch overwrites.
    this.sock.send(Buffer.from(bytes.subarray(start, end)), port, address);
  }
}

/** One client connection: length-prefixed messages in, answers out as they are ready. */
class TcpClient implements ReplyTarget {
  private buf: Buffer = Buffer.alloc(0);
  private inFlight = 0;
  private readonly address: string;
  private readonly port: number;
  private closed = false;

  constructor(
    readonly sock: net.Socket,
    private readonly plane: DataPlane,
    private readonly filtered: boolean,
    idleMs: number,
    private readonly maxInFlight: number,
  ) {
    this.address = sock.remoteAddress ?? '';
    this.port = sock.remotePort ?? 0;
    sock.setNoDelay(true);
    sock.setTimeout(idleMs, () => sock.destroy());
    sock.on('data', (d: Buffer) => this.data(d));
    sock.on('error', () => undefined);
    sock.on('close', () => (this.closed = true));
  }

  send(bytes: Uint8Array, _port?: number, _address?: string, start = 0, end = bytes.length): void {
    if (this.closed) return;
    const out = Buffer.allocUnsafe(2 + end - start);
    out.writeUInt16BE(end - start, 0);
    out.set(bytes.subarray(start, end), 2);
    this.sock.write(out);
    this.skip();
  }

  skip(): void {
    if (this.inFlight > 0 && --this.inFlight < this.maxInFlight && this.sock.isPaused()) this.sock.resume();
  }

  private data(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    while (!this.closed && this.buf.length >= 2) {
      const n = this.buf.readUInt16BE(0);
      if (this.buf.length < 2 + n) break;
      // A view: the forwarder copies what it relays.
      const msg = this.buf.subarray(2, 2 + n);
      this.buf = this.buf.subarray(2 + n);
      this.inFlight++;
      if (!this.plane.query(msg, n, true, this, this.port, this.address, this.filtered)) {
        this.plane.garbage();
        // Let a FORMERR already written go out, then close (RFC 7766 §8: garbage ends the connection).
        this.closed = true;
        this.sock.end();
        this.sock.destroySoon();
        return;
      }
      if (this.inFlight >= this.maxInFlight) this.sock.pause();
    }
  }
}

function bindUdp(a: HostPort): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket({ type: isIPv6(a.host) ? 'udp6' : 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20, ...(isIPv6(a.host) ? { ipv6Only: true } : {}) });
    const fail = (err: NodeJS.ErrnoException) => reject(listenError('UDP', a, err));
    s.once('error', fail);
    s.bind(a.port, a.host, () => {
      s.off('error', fail);
      resolve(s);
    });
  });
}

function listenTcp(a: HostPort): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const s = net.createServer({ noDelay: true });
    const fail = (err: NodeJS.ErrnoException) => reject(listenError('TCP', a, err));
    s.once('error', fail);
    s.listen({ host: a.host, port: a.port, ipv6Only: isIPv6(a.host), backlog: 511 }, () => {
      s.off('error', fail);
      resolve(s);
    });
  });
}

function listenError(proto: string, a: HostPort, err: NodeJS.ErrnoException): SakimoriError {
  const where = formatHostPort(a);
  const hint =
    err.code === 'EADDRINUSE'
      ? `another process uses ${proto} ${where}: stop it, or pick another dns.listen address`
      : err.code === 'EACCES'
        ? `ports below 1024 need root or CAP_NET_BIND_SERVICE (setcap cap_net_bind_service=+ep $(which node)), or pick a port above 1023`
        : err.code === 'EADDRNOTAVAIL'
          ? `${a.host} is not an address of this machine`
          : 'check dns.listen';
  return new SakimoriError('DNS_LISTEN', `cannot listen for DNS on ${proto} ${where}: ${err.code ?? err.message}`, { hint, cause: err });
}

/** "::ffff:192.0.2.1" (an IPv4 client on a dual-stack socket) -> "192.0.2.1". */
function plainAddress(a: string): string {
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

function clientIp(a: string): IpAddress | undefined {
  return parseIp(plainAddress(a));
}

/** Local-data CNAMEs followed for one query at most (a longer chain in the zones is a mistake, answered as a loop). */
const MAX_POLICY_CNAMES = 8;

/** A copy of a response with another RCODE. */
function withRcode(msg: Uint8Array, rcode: number): Uint8Array {
  const out = Uint8Array.from(msg);
  out[3] = (out[3]! & 0xf0) | (rcode & 0x0f);
  return out;
}

function isSingleCname(ans: CompiledRecords): boolean {
  const b = ans.bytes;
  return ans.count === 1 && b.length > 12 && b[2] === 0 && b[3] === RRType.CNAME;
}

/** A query for the CNAME's target, same type, RD set; with our own OPT when the client used EDNS. */
function cnameQuery(ans: CompiledRecords, q: QueryInfo): { bytes: Buffer; questionEnd: number } {
  // Compiled local data: pointer (2) type (2) class (2) TTL (4) RDLENGTH (2), then the
  // target name uncompressed.
  const b = ans.bytes;
  const rdlen = (b[10]! << 8) | b[11]!;
  const name = b.subarray(12, 12 + rdlen);
  const out = Buffer.alloc(12 + name.length + 4 + (q.edns ? 11 : 0));
  out[2] = 0x01; // RD
  out[5] = 1;
  out.set(name, 12);
  let p = 12 + name.length;
  out.writeUInt16BE(q.qtype, p);
  out.writeUInt16BE(q.qclass, p + 2);
  p += 4;
  if (q.edns) {
    out[11] = 1;
    out[p + 2] = RRType.OPT;
    out.writeUInt16BE(1232, p + 3);
    if (q.do) out[p + 7] = 0x80;
  }
  return { bytes: out, questionEnd: 12 + name.length + 4 };
}

/** Our CNAME answer followed by the upstream's answer records for its target. */
function chain(local: Uint8Array, upstream: Buffer | undefined, maxSize: number): Uint8Array {
  if (upstream === undefined) return local;
  const m = decodeMessage(local);
  const u = decodeMessage(upstream);
  if (!m.ok || !u.ok) return local;
  m.value.answers.push(...u.value.answers);
  if (u.value.header.rcode === RCode.NXDOMAIN) m.value.header.rcode = RCode.NXDOMAIN;
  try {
    return encodeMessage(m.value, { compress: true, maxSize });
  } catch {
    return local;
  }
}
