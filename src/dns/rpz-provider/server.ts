/**
 * The provider's sockets: UDP and TCP on one address, answers from responder.ts. A TCP
 * connection may carry several requests, answered one after the other (RFC 7766 §6.2.1);
 * transfers follow the socket's pace (write, then wait for 'drain'), so a slow secondary
 * holds a few messages in memory, never the zone. Bad input never stops the server: a
 * message that does not decode gets FORMERR when its header can be read, and a TCP
 * connection that sends bytes that are not DNS is closed.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, isIPv6, type Server, type Socket } from 'node:net';
import { PrefixMap, formatHostPort, parseCidr, parseIp, SakimoriError, type HostPort } from '../../core/index.ts';
import { decodeMessage, encodeMessage, RCode, type DnsMessage } from '../wire/index.ts';
import { frameMessage, TcpMessageReader, type XfrLogger } from '../zone-transfer/index.ts';
import { respond, type Answer, type ServedZone } from './responder.ts';

export interface TransferEvent {
  client: string;
  transport: 'udp' | 'tcp';
  type: 'AXFR' | 'IXFR';
  style: 'full' | 'incremental' | 'up-to-date' | 'use-tcp';
  zone: string;
  clientSerial: number | undefined;
  serial: number;
  records: number;
  messages: number;
  bytes: number;
  ms: number;
  /** False when the connection went away before the last message was written. */
  complete: boolean;
}

export interface RpzServerOptions {
  listen: HostPort;
  zone(name: string): ServedZone | undefined;
  /** Prefixes that may transfer zones and query their records. Default: loopback only. */
  allowTransfer?: readonly string[];
  logger: XfrLogger;
  onTransfer?(e: TransferEvent): void;
  /** Told of every refused, malformed or otherwise unusual request (counters). */
  onRefused?(reason: 'refused' | 'formerr' | 'notimp' | 'garbage'): void;
  /** A TCP connection idle this long is closed. Default 30 s. */
  tcpIdleMs?: number;
  /** TCP connections open at once; more are closed as they come (RFC 7766 §6.2.2 lets a server limit them). Default 256. */
  maxConnections?: number;
  /** Soft size of transfer messages. Default 16 KiB. */
  maxMessageSize?: number;
}

/** Parses the allow list; throws SakimoriError naming the bad entry. */
export function transferAcl(prefixes: readonly string[]): PrefixMap<true> {
  const acl = new PrefixMap<true>();
  for (const p of prefixes) {
    const c = parseCidr(p.trim());
    if ('error' in c) throw new SakimoriError('RPZ_ACL', `allow-transfer entry ${c.error}`, { hint: 'write addresses or prefixes, e.g. 127.0.0.1/32, 192.0.2.0/24, ::1/128' });
    acl.set(c, true);
  }
  return acl;
}

function clientIp(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

/** FORMERR for a message whose header is readable but the rest is not. */
function formErrFromHeader(buf: Uint8Array): Uint8Array | undefined {
  if (buf.length < 12 || buf[2]! & 0x80) return undefined;
  const out = new Uint8Array(12);
  out[0] = buf[0]!;
  out[1] = buf[1]!;
  out[2] = 0x80 | (buf[2]! & 0x78);
  out[3] = RCode.FORMERR;
  return out;
}

export class RpzServer {
  private udp: UdpSocket | undefined;
  private tcp: Server | undefined;
  private readonly conns = new Set<Socket>();
  private readonly acl: PrefixMap<true>;
  private bound: HostPort | undefined;
  private readonly log: XfrLogger;

  constructor(private readonly opts: RpzServerOptions) {
    this.acl = transferAcl(opts.allowTransfer ?? ['127.0.0.0/8', '::1/128']);
    this.log = opts.logger;
  }

  get address(): HostPort {
    if (!this.bound) throw new Error('the RPZ server is not started');
    return this.bound;
  }

  mayTransfer(address: string): boolean {
    const ip = parseIp(clientIp(address));
    return ip !== undefined && this.acl.match(ip) !== undefined;
  }

  async start(): Promise<void> {
    const { host, port } = this.opts.listen;
    const tcp = createServer((sock) => this.connection(sock));
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen({ host, port }, () => {
        tcp.off('error', reject);
        resolve();
      });
    });
    const a = tcp.address();
    const boundPort = typeof a === 'object' && a ? a.port : port;
    const udp = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
    try {
      await new Promise<void>((resolve, reject) => {
        udp.once('error', reject);
        udp.bind(boundPort, host, () => {
          udp.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      tcp.close();
      throw new SakimoriError('RPZ_LISTEN', `cannot listen on UDP ${formatHostPort({ host, port: boundPort })}: ${(err as Error).message}`, { hint: 'pick another rpz listen port, or stop what holds it' });
    }
    udp.on('message', (buf, rinfo) => this.datagram(buf, rinfo.address, rinfo.port));
    udp.on('error', (err) => this.log.warn({ err: err.message }, 'RPZ server UDP socket error'));
    tcp.on('error', (err) => this.log.warn({ err: err.message }, 'RPZ server TCP error'));
    this.udp = udp;
    this.tcp = tcp;
    this.bound = { host, port: boundPort };
  }

  async stop(): Promise<void> {
    for (const c of this.conns) c.destroy();
    this.conns.clear();
    const u = this.udp;
    const t = this.tcp;
    this.udp = undefined;
    this.tcp = undefined;
    if (u) await new Promise<void>((resolve) => u.close(() => resolve()));
    if (t) await new Promise<void>((resolve) => t.close(() => resolve()));
  }

  private answer(q: DnsMessage, transport: 'udp' | 'tcp', client: string): Answer {
    const udpSize = q.edns ? Math.max(512, Math.min(q.edns.udpSize, 4096)) : 512;
    return respond(q, {
      zone: (n) => this.opts.zone(n),
      transport,
      mayTransfer: this.mayTransfer(client),
      udpSize,
      ...(this.opts.maxMessageSize ? { maxMessageSize: this.opts.maxMessageSize } : {}),
    });
  }

  private noteReply(a: Extract<Answer, { kind: 'reply' }>, client: string, transport: string): void {
    const rc = a.message.header.rcode;
    if (rc === RCode.REFUSED || rc === RCode.FORMERR || rc === RCode.NOTIMP) {
      this.opts.onRefused?.(rc === RCode.REFUSED ? 'refused' : rc === RCode.FORMERR ? 'formerr' : 'notimp');
      this.log.info({ client, transport, rcode: rc, why: a.note }, 'RPZ request not served');
    } else this.log.debug({ client, transport, what: a.note }, 'RPZ query');
  }

  private datagram(buf: Buffer, address: string, port: number): void {
    const client = clientIp(address);
    const send = (b: Uint8Array) => this.udp?.send(b, port, address);
    const d = decodeMessage(buf);
    if (!d.ok) {
      this.opts.onRefused?.('garbage');
      this.log.info({ client, transport: 'udp', err: d.error.message }, 'RPZ server got a message that does not decode');
      const f = formErrFromHeader(buf);
      if (f) send(f);
      return;
    }
    if (d.value.header.qr) return; // a response: not for us (late NOTIFY answers come to the notifier's own socket)
    let a: Answer;
    try {
      a = this.answer(d.value, 'udp', client);
    } catch (err) {
      this.log.error({ client, err: (err as Error).message }, 'RPZ server failed to answer');
      return;
    }
    if (a.kind === 'reply') {
      this.noteReply(a, client, 'udp');
      const maxSize = d.value.edns ? Math.max(512, Math.min(d.value.edns.udpSize, 4096)) : 512;
      send(encodeMessage(a.message, { maxSize }));
      return;
    }
    const t0 = Date.now();
    let bytes = 0;
    let messages = 0;
    for (const m of a.messages) {
      send(m);
      bytes += m.length;
      messages++;
    }
    this.transferDone(a, client, 'udp', messages, bytes, t0, true);
  }

  private transferDone(a: Extract<Answer, { kind: 'transfer' }>, client: string, transport: 'udp' | 'tcp', messages: number, bytes: number, t0: number, complete: boolean): void {
    const e: TransferEvent = { client, transport, type: a.type, style: a.style, zone: a.zone, clientSerial: a.clientSerial, serial: a.serial, records: a.records, messages, bytes, ms: Date.now() - t0, complete };
    const what = a.style === 'incremental' ? 'IXFR (incremental)' : a.style === 'full' ? `${a.type} (full zone)` : a.style === 'up-to-date' ? 'IXFR (up to date)' : 'IXFR (SOA only, use TCP)';
    this.log.info({ ...e }, `${what} of ${a.zone} to ${client}`);
    this.opts.onTransfer?.(e);
  }

  private connection(sock: Socket): void {
    if (this.conns.size >= (this.opts.maxConnections ?? 256)) {
      this.opts.onRefused?.('refused');
      this.log.warn({ client: clientIp(sock.remoteAddress ?? ''), open: this.conns.size }, 'RPZ server at its TCP connection limit; connection closed');
      sock.destroy();
      return;
    }
    this.conns.add(sock);
    const client = clientIp(sock.remoteAddress ?? '');
    const reader = new TcpMessageReader();
    let chain = Promise.resolve();
    sock.setNoDelay(true);
    sock.setTimeout(this.opts.tcpIdleMs ?? 30_000, () => sock.destroy());
    sock.on('close', () => this.conns.delete(sock));
    sock.on('error', () => sock.destroy());
    sock.on('data', (chunk: Buffer) => {
      for (const m of reader.push(chunk)) chain = chain.then(() => this.tcpMessage(sock, m, client)).catch((err: unknown) => {
        this.log.error({ client, err: (err as Error).message }, 'RPZ server failed to answer over TCP');
        sock.destroy();
      });
    });
  }

  private async tcpMessage(sock: Socket, m: Buffer, client: string): Promise<void> {
    if (sock.destroyed) return;
    const d = decodeMessage(m);
    if (!d.ok) {
      this.opts.onRefused?.('garbage');
      this.log.info({ client, transport: 'tcp', err: d.error.message }, 'RPZ server got a message that does not decode');
      const f = formErrFromHeader(m);
      if (f) sock.write(frameMessage(f));
      else sock.destroy();
      return;
    }
    if (d.value.header.qr) return;
    const a = this.answer(d.value, 'tcp', client);
    if (a.kind === 'reply') {
      this.noteReply(a, client, 'tcp');
      sock.write(frameMessage(encodeMessage(a.message)));
      return;
    }
    const t0 = Date.now();
    let bytes = 0;
    let messages = 0;
    try {
      for (const msg of a.messages) {
        if (sock.destroyed) break;
        bytes += msg.length;
        messages++;
        if (!sock.write(frameMessage(msg))) {
          await new Promise<void>((resolve) => {
            const done = () => {
              sock.off('drain', done);
              sock.off('close', done);
              resolve();
            };
            sock.on('drain', done);
            sock.on('close', done);
          });
        }
      }
    } catch (err) {
      // The zone changed under a full transfer (ZoneContent.axfrRecords): end it unfinished,
      // the secondary retries and gets the new version whole.
      this.log.info({ client, err: (err as Error).message }, 'transfer stopped');
      sock.destroy();
    }
    this.transferDone(a, client, 'tcp', messages, bytes, t0, !sock.destroyed);
  }
}
