/**
 * The RADIUS accounting server (RFC 2866) that feeds attribution: a UDP listener, IPv4
 * or IPv6, that authenticates each Accounting-Request with its NAS's shared secret,
 * hands each accounting event once to `onEvent`, and answers with an
 * Accounting-Response only after `onEvent` has resolved. If recording fails there is no
 * answer, so the NAS retransmits and no record is lost (RFC 2866 §2: "A NAS will not
 * receive a response if the server is unable to successfully record the packet").
 *
 * Never crashes on input: unknown peers, malformed packets and bad authenticators are
 * dropped silently (RFC 2866 §3 and §4), counted, and logged at most once a minute per
 * peer and reason.
 */
import dgram, { type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { SakimoriError } from '../core/errors.ts';
import { systemClock, type Clock } from '../core/clock.ts';
import { formatHostPort, parseListenAddress, type HostPort } from '../core/net.ts';
import type { Endpoint, Part, PartHealth } from '../core/part.ts';
import { Counter, type Registry } from '../telemetry/metrics.ts';
import type { Logger } from '../telemetry/log.ts';
import type { AccountingEvent } from './accounting-event.ts';
import { accountingEventFrom } from './accounting-request.ts';
import { ClientTable, type RadiusClient, type RadiusClientConfig } from './client-table.ts';
import { RecentRequests, type Delivery, type Exchange } from './recent-requests.ts';
import { Attr } from './wire/attributes.ts';
import { encodeResponse, verifyRequest } from './wire/authenticator.ts';
import { decodePacket } from './wire/decode.ts';
import { md5 } from './wire/md5.ts';
import { Code, HEADER_LENGTH, type DecodedPacket } from './wire/types.ts';

/** RFC 2866 §1: the accounting port assigned by IANA. */
export const DEFAULT_ACCOUNTING_PORT = 1813;

export interface AccountingServerOptions {
  /** "ADDR:PORT", e.g. "0.0.0.0:1813" or "[::]:1813"; a bare address means port 1813. Port 0 picks a free port (tests). */
  listen: string;
  clients: readonly RadiusClientConfig[];
  /** Records one accounting event. The NAS is answered only after this resolves; if it rejects, the NAS is not answered and will retry. */
  onEvent: (event: AccountingEvent) => Promise<void>;
  logger: Logger;
  /** Counters are registered here (the node's registry). */
  registry: Registry;
  clock?: Clock;
  /**
   * How long an answered request is remembered to recognise retransmissions. NASes
   * retry every 2-5 s, a few times; FreeRADIUS keeps answers 5 s (cleanup_delay). Default 10 s.
   */
  duplicateWindowMs?: number;
  /** Events being recorded at once; beyond this, requests are dropped (the NAS retries). Default 10,000. */
  maxPending?: number;
  /** The part's name in health reports. Default "radius-accounting". */
  name?: string;
}

export type DropReason =
  | 'unknown-client'
  | 'malformed'
  | 'not-accounting-request'
  | 'bad-authenticator'
  | 'bad-message-authenticator'
  | 'missing-message-authenticator'
  | 'overload'
  | 'consumer-failed'
  | 'internal-error';

/** Where an answer goes: the peer as the socket saw it, and what the answer must echo. */
interface Target {
  address: string;
  port: number;
  identifier: number;
  authenticator: Uint8Array;
  withMessageAuthenticator: boolean;
  client: RadiusClient;
}

/** "ADDR:PORT", or a bare address meaning port 1813. */
export function parseAccountingListen(listen: string): HostPort | { error: string } {
  const bare = /^\[([^\]]*)\]$/.exec(listen)?.[1] ?? (isIPv6(listen) || /^[\d.]+$/.test(listen) ? listen : undefined);
  if (bare !== undefined) return parseListenAddress(`${isIPv6(bare) ? `[${bare}]` : bare}:${DEFAULT_ACCOUNTING_PORT}`);
  return parseListenAddress(listen);
}

const MINUTE = 60_000;
const MESSAGE_AUTHENTICATOR_PLACEHOLDER = { type: Attr.MessageAuthenticator.type, value: new Uint8Array(16) };

function counter(registry: Registry, name: string, help: string, labelNames: string[] = []): Counter<string> {
  const existing = registry.getSingleMetric(name);
  if (existing instanceof Counter) return existing as Counter<string>;
  return new Counter({ name, help, labelNames, registers: [registry] });
}

export class AccountingServer implements Part {
  readonly name: string;
  private readonly opts: AccountingServerOptions;
  private readonly clock: Clock;
  private readonly bind: HostPort;
  private readonly clients: ClientTable;
  private readonly recent: RecentRequests<Target>;
  private readonly maxPending: number;
  private socket: Socket | undefined;
  private bound: HostPort | undefined;
  private pending = 0;
  /** Called when the last event being recorded settles (stop() waits for it). */
  private onIdle: (() => void) | undefined;
  private socketError: string | undefined;
  private lastConsumerFailure: { at: number; message: string } | undefined;
  /** Last time a message was logged per key, for once-a-minute logging; bounded. */
  private readonly loggedAt = new Map<string, { at: number; suppressed: number }>();
  private readonly metrics: {
    requests: Counter<string>;
    responses: Counter<string>;
    dropped: Counter<string>;
    duplicates: Counter<string>;
  };

  /** Validates the configuration (throws SakimoriError naming each bad key); starts nothing. */
  constructor(opts: AccountingServerOptions) {
    this.opts = opts;
    this.name = opts.name ?? 'radius-accounting';
    this.clock = opts.clock ?? systemClock;
    const listen = parseAccountingListen(opts.listen);
    if ('error' in listen) {
      throw new SakimoriError('RADIUS_LISTEN_INVALID', `RADIUS accounting listen "${opts.listen}" ${listen.error}`, {
        hint: `e.g. "0.0.0.0:${DEFAULT_ACCOUNTING_PORT}" or "[::]:${DEFAULT_ACCOUNTING_PORT}"`,
      });
    }
    this.bind = listen;
    this.clients = ClientTable.from(opts.clients);
    this.maxPending = opts.maxPending ?? 10_000;
    this.recent = new RecentRequests<Target>({ windowMs: opts.duplicateWindowMs ?? 10_000, maxEntries: 1_000_000 });
    const r = opts.registry;
    this.metrics = {
      requests: counter(r, 'sakimori_radius_acct_requests_total', 'Authenticated Accounting-Requests by Acct-Status-Type, duplicates excluded', ['status']),
      responses: counter(r, 'sakimori_radius_acct_responses_total', 'Accounting-Responses sent, including repeats for retransmissions'),
      dropped: counter(r, 'sakimori_radius_acct_dropped_total', 'Datagrams dropped without an answer, by reason', ['reason']),
      duplicates: counter(r, 'sakimori_radius_acct_duplicates_total', 'Retransmitted or repeated Accounting-Requests not delivered again, by kind', ['kind']),
    };
  }

  /** Where the socket is bound (the real port when listen used port 0). */
  address(): HostPort | undefined {
    return this.bound;
  }

  async start(): Promise<void> {
    if (this.socket) return;
    const type = isIPv6(this.bind.host) ? 'udp6' : 'udp4';
    const socket = dgram.createSocket({ type, recvBufferSize: 8 * 1024 * 1024 });
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        socket.close();
        reject(
          new SakimoriError('RADIUS_LISTEN_FAILED', `RADIUS accounting cannot listen on ${formatHostPort(this.bind)}: ${err.message}`, {
            hint:
              err.code === 'EADDRINUSE'
                ? 'another program (a FreeRADIUS server?) holds this port: stop it or choose another listen port'
                : err.code === 'EACCES'
                  ? 'ports below 1024 need privileges; 1813 does not'
                  : 'check that the address belongs to this machine',
            cause: err,
          }),
        );
      };
      socket.once('error', onError);
      socket.bind(this.bind.port, this.bind.host, () => {
        socket.off('error', onError);
        resolve();
      });
    });
    socket.on('error', (err) => {
      this.socketError = err.message;
      this.opts.logger.error({ err: err.message }, 'RADIUS accounting socket error');
    });
    socket.on('message', (msg, rinfo) => this.receive(msg, rinfo));
    const a = socket.address();
    this.bound = { host: a.address, port: a.port };
    this.socket = socket;
    this.socketError = undefined;
  }

  async stop(): Promise<void> {
    const socket = this.socket;
    if (!socket) return;
    this.socket = undefined;
    await new Promise<void>((resolve) => socket.close(() => resolve()));
    // Let events already handed over finish recording (their answers can no longer be sent; the NAS retries elsewhere or later).
    if (this.pending > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.onIdle = resolve;
        timer = setTimeout(resolve, 5000);
        timer.unref();
      });
      clearTimeout(timer);
      this.onIdle = undefined;
    }
  }

  async health(): Promise<PartHealth> {
    const now = this.clock.now();
    const detail: Record<string, unknown> = {
      listen: this.bound ? formatHostPort(this.bound) : formatHostPort(this.bind),
      clients: this.clients.size,
      pending: this.pending,
      remembered: this.recent.size,
    };
    if (this.lastConsumerFailure) detail.lastConsumerFailure = { ...this.lastConsumerFailure, at: new Date(this.lastConsumerFailure.at).toISOString() };
    if (!this.socket) return { status: 'down', detail: { ...detail, reason: 'not listening' } };
    if (this.socketError) return { status: 'degraded', detail: { ...detail, socketError: this.socketError } };
    if (this.lastConsumerFailure && now - this.lastConsumerFailure.at < MINUTE) return { status: 'degraded', detail };
    if (this.pending >= this.maxPending) return { status: 'degraded', detail: { ...detail, reason: 'overloaded' } };
    return { status: 'ok', detail };
  }

  endpoints(): Endpoint[] {
    return [{ label: 'RADIUS accounting (UDP)', url: `udp://${formatHostPort(this.bound ?? this.bind)}` }];
  }

  /** One datagram. Public for the benchmark, which drives it without a socket; never throws. */
  receive(msg: Uint8Array, rinfo: Pick<RemoteInfo, 'address' | 'port'>): void {
    try {
      this.handle(msg, rinfo);
    } catch (err) {
      // A bug here must not take the listener down; the NAS will retry.
      this.drop('internal-error', rinfo.address, `internal error handling a datagram (a Sakimori bug, please report it): ${(err as Error).stack ?? err}`, 'error');
    }
  }

  private handle(msg: Uint8Array, rinfo: Pick<RemoteInfo, 'address' | 'port'>): void {
    const now = this.clock.now();
    const peer = this.clients.lookupPeer(rinfo.address);
    if (!peer) return this.drop('unknown-client', rinfo.address, 'datagram from an address that is not a configured RADIUS client');
    const decoded = decodePacket(msg);
    if (!decoded.ok) return this.drop('malformed', rinfo.address, `malformed RADIUS packet: ${decoded.error.message}`);
    const p = decoded.value;
    if (p.code !== Code.AccountingRequest) return this.drop('not-accounting-request', rinfo.address, `${p.code} is not an Accounting-Request (4)`);
    const client = peer.client;
    const check = verifyRequest(p, client.secret, { requireMessageAuthenticator: client.requireMessageAuthenticator });
    if (!check.ok) return this.drop(check.reason, rinfo.address, check.message);

    this.recent.sweep(now);
    const target: Target = {
      address: rinfo.address,
      port: rinfo.port,
      identifier: p.identifier,
      authenticator: p.authenticator,
      withMessageAuthenticator: p.messageAuthenticatorAt >= 0,
      client,
    };
    const packetKey = `${rinfo.address}|${rinfo.port}|${p.identifier}|${Buffer.from(p.authenticator.buffer, p.authenticator.byteOffset, 16).toString('latin1')}`;
    const again = this.recent.packet(packetKey);
    if (again) {
      this.metrics.duplicates.labels('retransmission').inc();
      // Answered: the same answer again. Still being recorded: it is answered when recording ends.
      if (again.response) this.send(again.target, again.response);
      return;
    }

    const nas = peer.address;
    const outcome = accountingEventFrom(p, nas, now);
    if (outcome.kind === 'malformed') return this.drop('malformed', rinfo.address, outcome.message);

    const eventKey = `${nas}|${eventDigest(p)}`;
    const known = this.recent.event(eventKey);
    if (known) {
      this.metrics.duplicates.labels('same-event').inc();
      const x = this.recent.join(known, packetKey, target, now);
      if (known.state === 'delivered') this.answer(x);
      return;
    }

    if (outcome.kind === 'other-status') {
      this.countRequest('other');
      const x = this.recent.begin(eventKey, packetKey, target, now);
      for (const w of this.recent.delivered(x.delivery, now)) this.answer(w);
      return;
    }
    if (this.pending >= this.maxPending) {
      return this.drop('overload', rinfo.address, `${this.pending} events are still being recorded; dropping so the NAS retries later`);
    }
    this.countRequest(outcome.event.status);
    const x = this.recent.begin(eventKey, packetKey, target, now);
    this.deliver(x.delivery, outcome.event);
  }

  private deliver(d: Delivery<Target>, event: AccountingEvent): void {
    this.pending++;
    let recorded: Promise<void>;
    try {
      recorded = this.opts.onEvent(event);
    } catch (err) {
      recorded = Promise.reject(err);
    }
    // One reaction per event (this runs for every packet): no finally(), no Set of promises.
    Promise.resolve(recorded).then(
      () => {
        this.settled();
        for (const x of this.recent.delivered(d, this.clock.now())) this.answer(x);
      },
      (err: unknown) => {
        this.settled();
        const message = err instanceof Error ? err.message : String(err);
        this.lastConsumerFailure = { at: this.clock.now(), message };
        const peer = d.waiting[0]?.target.address ?? event.nas.address;
        this.recent.failed(d);
        this.drop('consumer-failed', peer, `recording the ${event.status} event failed, not answering so the NAS retries: ${message}`, 'error');
      },
    );
  }

  private settled(): void {
    this.pending--;
    if (this.pending === 0 && this.onIdle) {
      this.onIdle();
      this.onIdle = undefined;
    }
  }

  private answer(x: Exchange<Target>): void {
    const t = x.target;
    x.response ??= encodeResponse(
      { code: Code.AccountingResponse, identifier: t.identifier, attributes: t.withMessageAuthenticator ? [MESSAGE_AUTHENTICATOR_PLACEHOLDER] : [] },
      { code: Code.AccountingRequest, authenticator: t.authenticator },
      t.client.secret,
    );
    this.send(t, x.response);
  }

  private send(t: Target, bytes: Uint8Array): void {
    const socket = this.socket;
    if (!socket) return;
    this.metrics.responses.inc();
    socket.send(bytes, t.port, t.address, this.sent);
  }

  /** send() callback, one function for all sends (no closure per packet). */
  private readonly sent = (err: Error | null): void => {
    if (err) this.logLimited(`send|${err.message}`, 'warn', { err: err.message }, 'could not send an Accounting-Response');
  };

  /** prom-client's labels() hashes its arguments on every call; the handful of children are kept. */
  private readonly requestCounters = new Map<string, { inc(): void }>();
  private countRequest(status: string): void {
    let c = this.requestCounters.get(status);
    if (!c) {
      c = this.metrics.requests.labels(status);
      this.requestCounters.set(status, c);
    }
    c.inc();
  }

  private drop(reason: DropReason, peer: string, message: string, level: 'warn' | 'error' = 'warn'): void {
    this.metrics.dropped.labels(reason).inc();
    this.logLimited(`${reason}|${peer}`, level, { peer, reason }, message);
  }

  /** Logs at most once a minute per key, saying how many were suppressed since. */
  private logLimited(key: string, level: 'warn' | 'error', fields: Record<string, unknown>, message: string): void {
    const now = this.clock.now();
    const seen = this.loggedAt.get(key);
    if (seen && now - seen.at < MINUTE) {
      seen.suppressed++;
      return;
    }
    if (this.loggedAt.size >= 10_000) {
      for (const [k, v] of this.loggedAt) if (now - v.at >= MINUTE) this.loggedAt.delete(k);
      if (this.loggedAt.size >= 10_000) this.loggedAt.clear();
    }
    this.loggedAt.set(key, { at: now, suppressed: 0 });
    const extra = seen && seen.suppressed > 0 ? { suppressedLastMinute: seen.suppressed } : {};
    this.opts.logger[level]({ part: this.name, ...fields, ...extra }, message);
  }
}

/**
 * The event's identity: every attribute except Acct-Delay-Time (which a NAS updates on
 * each retry, RFC 2866 §5.2) and Message-Authenticator (which then changes with it).
 */
function eventDigest(p: DecodedPacket): string {
  const b = p.bytes;
  const parts: Uint8Array[] = [];
  let from = HEADER_LENGTH;
  // The attributes were validated by decodePacket: each Length is sound.
  for (let off = HEADER_LENGTH; off < b.length; off += b[off + 1]!) {
    const type = b[off]!;
    if (type === Attr.AcctDelayTime.type || type === Attr.MessageAuthenticator.type) {
      if (off > from) parts.push(b.subarray(from, off));
      from = off + b[off + 1]!;
    }
  }
  if (b.length > from) parts.push(b.subarray(from));
  return Buffer.from(md5(parts)).toString('latin1');
}
