/**
 * The dnstap collector: Frame Streams listeners (Unix socket, TCP) that BIND and Unbound
 * connect to, one FrameStreamReader per connection, each data frame scanned and reduced
 * to a DnstapEvent at once, then handed to the consumers through bounded, sampling
 * queues (stream.ts). No frame, message or query log is kept (R16): what outlives a
 * data callback is the event in a consumer's queue and the counters.
 *
 * A broken stream (bad framing, a payload that is not dnstap) closes that connection with
 * one logged reason; the others go on. Memory: per connection at most one frame buffer
 * (maxFrameSize + 8 bytes, only when a frame straddles reads); per consumer at most
 * `queue` events; at most `maxConnections` connections.
 */
import { lstatSync, unlinkSync, chmodSync } from 'node:fs';
import net from 'node:net';
import {
  formatHostPort,
  parseCidr,
  parseListenAddress,
  PrefixMap,
  SakimoriError,
  systemClock,
  type Clock,
  type Endpoint,
  type Part,
  type PartHealth,
} from '../../core/index.ts';
import type { Registry } from '../../telemetry/index.ts';
import { dnstapEvent, SKIP_REASONS, TRANSPORTS, type DnstapEvent, type SkipReason } from './event.ts';
import { EventHub, type ConsumerStats, type DnstapEventStream } from './stream.ts';
import { DnstapScan, FrameStreamReader, scanDnstap, type FstrmError, type FstrmErrorCode } from './wire/index.ts';

/** Where the collector listens: a Unix socket path, or a TCP address. */
export type DnstapListen = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

export const DNSTAP_LISTEN_EXPECTED = '"unix:PATH" (a Unix socket, e.g. "unix:/run/sakimori/dnstap.sock") or "ADDR:PORT" for TCP (e.g. "127.0.0.1:6000")';

/** "unix:/run/x.sock" or "127.0.0.1:6000" / "[::1]:6000". */
export function parseDnstapListen(s: string): DnstapListen | { error: string } {
  if (s.startsWith('unix:')) {
    const path = s.slice(5);
    if (path === '') return { error: `has no path after "unix:" — expected ${DNSTAP_LISTEN_EXPECTED}` };
    if (path.includes('\0')) return { error: `has a NUL byte in the path — expected ${DNSTAP_LISTEN_EXPECTED}` };
    return { kind: 'unix', path };
  }
  const hp = parseListenAddress(s);
  if ('error' in hp) return { error: `${hp.error} (or "unix:PATH" for a Unix socket)` };
  return { kind: 'tcp', host: hp.host, port: hp.port };
}

export function formatDnstapListen(l: DnstapListen): string {
  return l.kind === 'unix' ? `unix:${l.path}` : formatHostPort(l);
}

/** The logger calls the collector makes (pino's shape). */
export interface DnstapLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

export interface DnstapCollectorOptions {
  listen: readonly DnstapListen[];
  /** TCP writers are accepted only from these prefixes (Unix sockets: by file mode). Default loopback. */
  allowFrom?: readonly string[];
  /** File mode of each Unix socket, so the resolver's user can connect. Default 0o660. */
  socketMode?: number;
  /** Writers connected at once, over all listeners; more are refused. Default 64. */
  maxConnections?: number;
  /** Largest data frame, in bytes. Default 262144 (two 64 KiB DNS messages and the rest). */
  maxFrameSize?: number;
  /** Events held per consumer before sampling starts (and, past that, refusing). Default 65536. */
  queue?: number;
  /** A connection that has not sent START within this is closed. Default 10 s. */
  handshakeTimeoutMs?: number;
  /** One summary line every this often; 0: none. Default 60 s. */
  summaryIntervalMs?: number;
}

export interface DnstapCollectorDeps {
  logger: DnstapLogger;
  registry?: Registry | undefined;
  clock?: Clock;
}

/** Counters since start. */
export interface DnstapStats {
  connections: number;
  connectionsTotal: number;
  refused: number;
  closedBad: Record<string, number>;
  frames: number;
  bytes: number;
  queries: number;
  responses: number;
  skipped: Record<SkipReason, number>;
  byTransport: Record<string, number>;
  sampledOut: number;
  dropped: number;
  handlerErrors: number;
  consumers: ConsumerStats[];
}

interface Conn {
  id: number;
  peer: string;
  listener: string;
  socket: net.Socket;
  reader: FrameStreamReader;
  scan: DnstapScan;
  greeted: boolean;
  timer: NodeJS.Timeout | undefined;
  receivedAt: number;
  onFrame: (payload: Uint8Array) => string | undefined;
}

const EMPTY = new Uint8Array(0);
/** At most this many "connection closed" warnings per summary interval; the rest are counted. */
const WARNINGS_PER_INTERVAL = 20;

function show(b: Uint8Array, start: number, end: number): string | undefined {
  if (start < 0) return undefined;
  const t = Buffer.from(b.buffer, b.byteOffset + start, Math.min(end - start, 64)).toString('latin1');
  return JSON.stringify(t).slice(1, -1);
}

export class DnstapCollector implements Part {
  readonly name = 'dnstap';
  private readonly listen: readonly DnstapListen[];
  private readonly allow = new PrefixMap<true>();
  private readonly socketMode: number;
  private readonly maxConnections: number;
  private readonly maxFrameSize: number;
  private readonly handshakeMs: number;
  private readonly summaryMs: number;
  private readonly logger: DnstapLogger;
  private readonly clock: Clock;
  private readonly hub: EventHub;
  private readonly servers: { server: net.Server; listen: DnstapListen; label: string }[] = [];
  private readonly conns = new Set<Conn>();
  private nextId = 1;
  private adjustTimer: NodeJS.Timeout | undefined;
  private summaryTimer: NodeJS.Timeout | undefined;
  private started = false;
  private warnings = 0;
  private lastSummary: { frames: number; queries: number; responses: number; skipped: number; bad: number; sampledOut: number; dropped: number; refused: number } | undefined;

  // Plain counters; the registry reads them when scraped.
  private connectionsTotal = 0;
  private refused = 0;
  private readonly closedBad: Record<string, number> = {};
  private frames = 0;
  private bytes = 0;
  private queries = 0;
  private responses = 0;
  private readonly skipped: Record<SkipReason, number> = Object.fromEntries(SKIP_REASONS.map((r) => [r, 0])) as Record<SkipReason, number>;
  private readonly byTransport: Record<string, number> = Object.fromEntries(TRANSPORTS.map((t) => [t, 0]));

  constructor(opts: DnstapCollectorOptions, deps: DnstapCollectorDeps) {
    this.listen = opts.listen;
    for (const p of opts.allowFrom ?? ['127.0.0.0/8', '::1/128']) {
      const r = parseCidr(p);
      if ('error' in r) throw new SakimoriError('DNSTAP_CONFIG', `dnstap.allowFrom: ${r.error}`);
      this.allow.set(r, true);
    }
    this.socketMode = opts.socketMode ?? 0o660;
    this.maxConnections = opts.maxConnections ?? 64;
    this.maxFrameSize = opts.maxFrameSize ?? 262_144;
    this.handshakeMs = opts.handshakeTimeoutMs ?? 10_000;
    this.summaryMs = opts.summaryIntervalMs ?? 60_000;
    this.logger = deps.logger;
    this.clock = deps.clock ?? systemClock;
    this.hub = new EventHub({
      capacity: opts.queue ?? 65_536,
      onHandlerError: (err) => this.logger.error({ err }, 'dnstap: an event handler threw; the event is skipped, the handler kept'),
    });
    if (deps.registry) this.registerMetrics(deps.registry);
  }

  // ------------------------------------------------------------ consumers

  /**
   * Calls `handler` with each event, from its own bounded queue, in batches outside the
   * socket callbacks. A handler slower than the traffic gets a counted sample. Returns
   * the function that unsubscribes it.
   */
  onEvent(handler: (e: DnstapEvent) => void): () => void {
    return this.hub.onEvent(handler);
  }

  /** The events as an async iterator with its own bounded, sampling queue. */
  events(): DnstapEventStream {
    return this.hub.events();
  }

  // ------------------------------------------------------------ part

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    try {
      for (const l of this.listen) await this.listenOn(l);
    } catch (err) {
      await this.stop();
      throw err;
    }
    this.adjustTimer = setInterval(() => this.hub.adjust(), 1000);
    this.adjustTimer.unref();
    if (this.summaryMs > 0) {
      this.lastSummary = this.summaryCounts();
      this.summaryTimer = setInterval(() => this.logSummary(), this.summaryMs);
      this.summaryTimer.unref();
    }
    this.logger.info({ listen: this.servers.map((s) => s.label) }, `dnstap: accepting Frame Streams (protobuf:dnstap.Dnstap) on ${this.servers.map((s) => s.label).join(', ')}`);
  }

  async stop(): Promise<void> {
    this.started = false;
    if (this.adjustTimer) clearInterval(this.adjustTimer);
    if (this.summaryTimer) clearInterval(this.summaryTimer);
    this.adjustTimer = this.summaryTimer = undefined;
    const closing = this.servers.splice(0).map(
      (s) =>
        new Promise<void>((resolve) => {
          s.server.close(() => resolve());
        }),
    );
    for (const c of [...this.conns]) c.socket.destroy();
    await Promise.all(closing);
    this.hub.close();
  }

  async health(): Promise<PartHealth> {
    const t = this.hub.totals();
    return {
      status: this.servers.length === this.listen.length && this.listen.length > 0 ? 'ok' : 'down',
      detail: { listen: this.servers.map((s) => s.label), connections: this.conns.size, frames: this.frames, sampledOut: t.sampledOut, dropped: t.dropped },
    };
  }

  endpoints(): Endpoint[] {
    return this.servers.map((s) => ({ label: 'dnstap (Frame Streams)', url: s.label }));
  }

  /** Where it listens now, with the port a TCP listener on port 0 was given. */
  addresses(): DnstapListen[] {
    return this.servers.map((s) => {
      if (s.listen.kind === 'unix') return s.listen;
      const a = s.server.address() as net.AddressInfo;
      return { kind: 'tcp', host: s.listen.host, port: a.port };
    });
  }

  stats(): DnstapStats {
    const t = this.hub.totals();
    return {
      connections: this.conns.size,
      connectionsTotal: this.connectionsTotal,
      refused: this.refused,
      closedBad: { ...this.closedBad },
      frames: this.frames,
      bytes: this.bytes,
      queries: this.queries,
      responses: this.responses,
      skipped: { ...this.skipped },
      byTransport: { ...this.byTransport },
      sampledOut: t.sampledOut,
      dropped: t.dropped,
      handlerErrors: this.hub.handlerErrors,
      consumers: this.hub.stats(),
    };
  }

  // ------------------------------------------------------------ sockets

  private async listenOn(l: DnstapListen): Promise<void> {
    const label = formatDnstapListen(l);
    const server = net.createServer({ allowHalfOpen: true }, (s) => this.accept(s, label));
    if (l.kind === 'unix') await removeStaleSocket(l.path, label);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(new SakimoriError('DNSTAP_LISTEN', `dnstap: cannot listen on ${label}: ${err.code ?? err.message}`, { hint: err.code === 'EADDRINUSE' ? 'another process listens there; stop it or choose another address' : err.code === 'EACCES' ? 'no permission: choose a path or port this user may use' : 'check the address in dnstap.listen or --unix/--tcp', cause: err }));
      };
      server.once('error', onError);
      const done = () => {
        server.off('error', onError);
        resolve();
      };
      if (l.kind === 'unix') server.listen(l.path, done);
      else server.listen(l.port, l.host, done);
    });
    server.on('error', (err) => this.logger.error({ err, listen: label }, `dnstap: listener ${label} failed`));
    if (l.kind === 'unix') chmodSync(l.path, this.socketMode);
    const shown = l.kind === 'tcp' ? formatDnstapListen({ ...l, port: (server.address() as net.AddressInfo).port }) : label;
    this.servers.push({ server, listen: l, label: shown });
  }

  private accept(socket: net.Socket, listener: string): void {
    const id = this.nextId++;
    let peer = `${listener}#${id}`;
    if (socket.remoteAddress !== undefined) {
      const ra = socket.remoteAddress.startsWith('::ffff:') && socket.remoteAddress.includes('.') ? socket.remoteAddress.slice(7) : socket.remoteAddress;
      peer = formatHostPort({ host: ra, port: socket.remotePort ?? 0 });
      if (!this.allow.matchText(ra)) {
        this.refused++;
        this.warn({ listen: listener, peer }, `dnstap: connection from ${peer} refused: not in dnstap.allowFrom`);
        socket.destroy();
        return;
      }
    }
    if (this.conns.size >= this.maxConnections) {
      this.refused++;
      this.warn({ listen: listener, peer }, `dnstap: connection from ${peer} refused on ${listener}: already ${this.maxConnections} writers connected (dnstap.maxConnections, over all listeners)`);
      socket.destroy();
      return;
    }
    this.connectionsTotal++;
    const conn: Conn = {
      id,
      peer,
      listener,
      socket,
      reader: new FrameStreamReader({ maxFrameSize: this.maxFrameSize }),
      scan: new DnstapScan(),
      greeted: false,
      timer: undefined,
      receivedAt: 0,
      onFrame: (payload) => this.frame(conn, payload),
    };
    this.conns.add(conn);
    this.logger.debug({ peer, listen: listener }, 'dnstap: writer connected');
    conn.timer = setTimeout(() => {
      if (conn.reader.state !== 'started' && conn.reader.state !== 'stopped') this.closeBad(conn, 'HANDSHAKE_TIMEOUT', `no START within ${this.handshakeMs} ms (state ${conn.reader.state})`);
    }, this.handshakeMs);
    conn.timer.unref();
    socket.on('data', (chunk: Buffer) => this.data(conn, chunk));
    socket.on('end', () => {
      const e = conn.reader.end();
      if (e) this.closeBad(conn, e.code, e.message);
      else socket.end();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => this.logger.debug({ peer, err: err.code ?? err.message }, 'dnstap: socket error'));
    socket.on('close', () => {
      if (conn.timer) clearTimeout(conn.timer);
      this.conns.delete(conn);
      this.logger.debug({ peer, frames: conn.reader.frames }, 'dnstap: writer disconnected');
    });
  }

  private data(conn: Conn, chunk: Buffer): void {
    this.bytes += chunk.length;
    conn.receivedAt = this.clock.now();
    const r = conn.reader.push(chunk, conn.onFrame);
    conn.scan.reset(EMPTY);
    for (const reply of r.replies) conn.socket.write(reply);
    if (r.error) return this.closeFstrm(conn, r.error);
    if (conn.timer && conn.reader.state === 'started') {
      clearTimeout(conn.timer);
      conn.timer = undefined;
    }
    if (r.done) {
      this.logger.debug({ peer: conn.peer, frames: conn.reader.frames }, 'dnstap: writer sent STOP');
      conn.socket.end();
    }
  }

  private frame(conn: Conn, payload: Uint8Array): string | undefined {
    const s = conn.scan;
    const e = scanDnstap(payload, s);
    if (e !== null) return `not a dnstap message: ${e.message} (${e.code})`;
    this.frames++;
    if (!conn.greeted) {
      conn.greeted = true;
      const identity = show(s.buf, s.identityStart, s.identityEnd);
      const version = show(s.buf, s.versionStart, s.versionEnd);
      this.logger.info({ peer: conn.peer, listen: conn.listener, identity, version }, `dnstap: ${identity ? `"${identity}"` : 'a writer'}${version ? ` (${version})` : ''} is sending on ${conn.listener}`);
    }
    const ev = dnstapEvent(s, conn.receivedAt);
    if (typeof ev === 'string') {
      this.skipped[ev]++;
      return undefined;
    }
    if (ev.rcode === undefined) this.queries++;
    else this.responses++;
    this.byTransport[ev.transport]!++;
    this.hub.publish(ev);
    return undefined;
  }

  private closeFstrm(conn: Conn, e: FstrmError): void {
    this.closeBad(conn, e.code, e.message);
  }

  private closeBad(conn: Conn, code: FstrmErrorCode | 'HANDSHAKE_TIMEOUT', reason: string): void {
    this.closedBad[code] = (this.closedBad[code] ?? 0) + 1;
    this.warn({ peer: conn.peer, listen: conn.listener, code, frames: conn.reader.frames }, `dnstap: closed the connection from ${conn.peer} on ${conn.listener}: ${reason}`);
    conn.socket.destroy();
  }

  private warn(obj: object, msg: string): void {
    if (this.warnings++ < WARNINGS_PER_INTERVAL || this.summaryMs === 0) this.logger.warn(obj, msg);
  }

  // ------------------------------------------------------------ summary and metrics

  private summaryCounts() {
    const t = this.hub.totals();
    const skipped = Object.values(this.skipped).reduce((a, b) => a + b, 0);
    const bad = Object.values(this.closedBad).reduce((a, b) => a + b, 0);
    return { frames: this.frames, queries: this.queries, responses: this.responses, skipped, bad, sampledOut: t.sampledOut, dropped: t.dropped, refused: this.refused };
  }

  /** The one line a minute: what came in since the last one. */
  summaryLine(): { line: string; counts: Record<string, number> } {
    const now = this.summaryCounts();
    const prev = this.lastSummary ?? { frames: 0, queries: 0, responses: 0, skipped: 0, bad: 0, sampledOut: 0, dropped: 0, refused: 0 };
    this.lastSummary = now;
    const d = Object.fromEntries(Object.entries(now).map(([k, v]) => [k, v - prev[k as keyof typeof prev]])) as typeof now;
    const suppressed = Math.max(0, this.warnings - WARNINGS_PER_INTERVAL);
    this.warnings = 0;
    const secs = Math.round(this.summaryMs / 1000);
    const line =
      `dnstap: last ${secs}s: ${d.frames} frames, ${d.queries} client queries, ${d.responses} responses, ${d.skipped} other messages` +
      `${d.bad ? `, ${d.bad} connection(s) closed for bad frames` : ''}${d.refused ? `, ${d.refused} refused` : ''}` +
      `${d.sampledOut || d.dropped ? `; consumers behind: ${d.sampledOut} events sampled out, ${d.dropped} dropped` : ''}; ${this.conns.size} writer(s) connected` +
      `${suppressed ? ` (${suppressed} warnings not logged)` : ''}`;
    return { line, counts: { ...d, connections: this.conns.size, consumers: this.hub.consumerCount } };
  }

  private logSummary(): void {
    const { line, counts } = this.summaryLine();
    this.logger.info(counts, line);
  }

  private registerMetrics(registry: Registry): void {
    type V = { labels: Record<string, string>; value: number };
    const m = (name: string, help: string, type: 'counter' | 'gauge', values: () => V[]) => {
      // prom-client's Registry takes any object with name/help/type/get(), read at scrape time.
      (registry as unknown as { registerMetric(x: unknown): void }).registerMetric({ name, help, type, get: () => ({ name, help, type, values: values(), aggregator: 'sum' }) });
    };
    m('sakimori_dnstap_connections', 'dnstap writers (BIND, Unbound) connected now', 'gauge', () => [{ labels: {}, value: this.conns.size }]);
    m('sakimori_dnstap_connections_total', 'dnstap connections accepted', 'counter', () => [{ labels: {}, value: this.connectionsTotal }]);
    m('sakimori_dnstap_connections_refused_total', 'dnstap connections refused (dnstap.maxConnections or dnstap.allowFrom)', 'counter', () => [{ labels: {}, value: this.refused }]);
    m('sakimori_dnstap_connections_closed_bad_total', 'dnstap connections closed for a broken stream, by reason', 'counter', () => Object.entries(this.closedBad).map(([reason, value]) => ({ labels: { reason }, value })));
    m('sakimori_dnstap_frames_total', 'dnstap data frames decoded', 'counter', () => [{ labels: {}, value: this.frames }]);
    m('sakimori_dnstap_bytes_total', 'bytes read from dnstap writers', 'counter', () => [{ labels: {}, value: this.bytes }]);
    m('sakimori_dnstap_events_total', 'events passed to the detectors, by kind (client query or response)', 'counter', () => [
      { labels: { kind: 'query' }, value: this.queries },
      { labels: { kind: 'response' }, value: this.responses },
    ]);
    m('sakimori_dnstap_events_by_transport_total', 'events passed to the detectors, by the client transport', 'counter', () => Object.entries(this.byTransport).map(([transport, value]) => ({ labels: { transport }, value })));
    m('sakimori_dnstap_messages_skipped_total', 'dnstap messages that gave no event, by reason (other-type: not CLIENT_QUERY/CLIENT_RESPONSE)', 'counter', () => SKIP_REASONS.map((reason) => ({ labels: { reason }, value: this.skipped[reason] })));
    m('sakimori_dnstap_events_sampled_out_total', 'events a consumer that fell behind did not get (sampling)', 'counter', () => [{ labels: {}, value: this.hub.totals().sampledOut }]);
    m('sakimori_dnstap_events_dropped_total', 'events refused by a full consumer queue', 'counter', () => [{ labels: {}, value: this.hub.totals().dropped }]);
    m('sakimori_dnstap_events_queued', 'events waiting in consumer queues', 'gauge', () => [{ labels: {}, value: this.hub.totals().queued }]);
  }
}

/**
 * A socket file left by a collector that died is removed; a socket someone still listens
 * on, or any other file at the path, is an error and stays.
 */
async function removeStaleSocket(path: string, label: string): Promise<void> {
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new SakimoriError('DNSTAP_LISTEN', `dnstap: cannot listen on ${label}: the path exists and is not a socket`, { hint: 'choose another path, or remove that file if it is yours' });
  const live = await new Promise<boolean>((resolve) => {
    const c = net.connect(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (live) throw new SakimoriError('DNSTAP_LISTEN', `dnstap: cannot listen on ${label}: another process is listening on that socket`, { hint: 'stop the other collector, or choose another path' });
  unlinkSync(path);
}
