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
import { PrefixMap, formatHostPort, openOnOnePort, parseCidr, parseIp, SakimoriError, type HostPort } from '../../core/index.ts';
import { decodeMessage, encodeMessage, Opcode, RCode, RRType, type DnsMessage } from '../wire/index.ts';
import {
  appendTsigError,
  badTimeOther,
  findTsig,
  frameMessage,
  headerOnlyReply,
  signMessage,
  TcpMessageReader,
  TsigErr,
  tsigErrorName,
  TsigStreamSigner,
  verifyMessage,
  type TsigKey,
  type XfrLogger,
} from '../zone-transfer/index.ts';
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
  /** The TSIG key the request was signed with, when it was. */
  key?: string;
}

/** An allow-transfer entry: a prefix, and the TSIG key requests from it must be signed with. */
export type TransferAllow = string | { prefix: string; key?: string | undefined };

export interface RpzServerOptions {
  listen: HostPort;
  zone(name: string): ServedZone | undefined;
  /**
   * Prefixes that may transfer zones and query their records, each optionally with the TSIG
   * key its requests must carry (the longest matching prefix decides). Default: loopback only.
   */
  allowTransfer?: readonly TransferAllow[];
  /** TSIG keys by name: signed requests are verified with them and answered signed. */
  keys?: ReadonlyMap<string, TsigKey>;
  logger: XfrLogger;
  onTransfer?(e: TransferEvent): void;
  /** Told of every refused, malformed or otherwise unusual request (counters). */
  onRefused?(reason: 'refused' | 'formerr' | 'notimp' | 'garbage' | 'notauth'): void;
  /** A TCP connection idle this long is closed. Default 30 s. */
  tcpIdleMs?: number;
  /** TCP connections open at once; more are closed as they come (RFC 7766 §6.2.2 lets a server limit them). Default 256. */
  maxConnections?: number;
  /** Soft size of transfer messages. Default 16 KiB. */
  maxMessageSize?: number;
}

interface AclEntry {
  key: string | undefined;
}

/** Parses the allow list; throws SakimoriError naming the bad entry or an unknown key. */
export function transferAcl(entries: readonly TransferAllow[], keys?: ReadonlyMap<string, TsigKey>): PrefixMap<AclEntry> {
  const acl = new PrefixMap<AclEntry>();
  for (const e of entries) {
    const p = typeof e === 'string' ? e : e.prefix;
    const key = typeof e === 'string' || e.key === undefined ? undefined : normalizeKeyName(e.key);
    const c = parseCidr(p.trim());
    if ('error' in c) throw new SakimoriError('RPZ_ACL', `allow-transfer entry ${c.error}`, { hint: 'write addresses or prefixes, e.g. 127.0.0.1/32, 192.0.2.0/24, ::1/128' });
    if (key !== undefined && !keys?.has(key)) throw new SakimoriError('RPZ_ACL', `allow-transfer entry ${p} names TSIG key ${key}, which is not defined`, { hint: 'define it under tsig.keys (name, algorithm, secret or secretFile), or give --key NAME:SECRET' });
    acl.set(c, { key });
  }
  return acl;
}

function normalizeKeyName(k: string): string {
  return k.trim().toLowerCase().replace(/\.$/, '');
}

/** How a request's TSIG turned out: none, verified (answers get signed), or refused (the bytes to send back). */
type TsigCheck = { kind: 'none' } | { kind: 'signed'; key: TsigKey; requestMac: Uint8Array } | { kind: 'refused'; reply: Uint8Array };

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
  private readonly acl: PrefixMap<AclEntry>;
  private readonly keys: ReadonlyMap<string, TsigKey>;
  /** Refusals already logged (peer, key, why): a secondary retrying with a bad key is logged once. */
  private readonly loggedRefusals = new Set<string>();
  private bound: HostPort | undefined;
  private readonly log: XfrLogger;

  constructor(private readonly opts: RpzServerOptions) {
    this.keys = opts.keys ?? new Map();
    this.acl = transferAcl(opts.allowTransfer ?? ['127.0.0.0/8', '::1/128'], this.keys);
    this.log = opts.logger;
  }

  get address(): HostPort {
    if (!this.bound) throw new Error('the RPZ server is not started');
    return this.bound;
  }

  /** Whether the address may transfer, unsigned (true only for entries without a key). */
  mayTransfer(address: string, key?: string): boolean {
    const e = this.aclEntry(address);
    return e !== undefined && (e.key === undefined || e.key === key);
  }

  private aclEntry(address: string): AclEntry | undefined {
    const ip = parseIp(clientIp(address));
    return ip === undefined ? undefined : this.acl.match(ip)?.value;
  }

  private refuseOnce(client: string, key: string | undefined, why: string, fields: object): void {
    const k = `${client}|${key ?? ''}|${why}`;
    if (this.loggedRefusals.has(k)) return;
    if (this.loggedRefusals.size >= 4096) this.loggedRefusals.clear();
    this.loggedRefusals.add(k);
    this.log.warn({ client, key: key ?? null, ...fields }, `RPZ request refused (NOTAUTH): ${why}`);
  }

  /**
   * RFC 8945 on the way in: a signed request is verified (an unknown key, a bad MAC or a
   * clock off by more than the fudge gets NOTAUTH with the TSIG error); a client whose
   * allow-transfer entry names a key must sign transfers and record queries with it (an
   * SOA query stays open to all, as unsigned).
   */
  private checkTsig(raw: Uint8Array, q: DnsMessage, client: string): TsigCheck {
    const f = findTsig(raw);
    const refuse = (bytes: Uint8Array): TsigCheck => {
      this.opts.onRefused?.('notauth');
      return { kind: 'refused', reply: bytes };
    };
    if (f && 'error' in f) {
      this.refuseOnce(client, undefined, `a malformed TSIG record: ${f.error}`, {});
      return { kind: 'refused', reply: encodeMessage(headerOnlyReply(q, RCode.FORMERR)) };
    }
    let check: TsigCheck = { kind: 'none' };
    if (f) {
      const v = verifyMessage(raw, f, this.keys);
      if (!v.ok) {
        this.refuseOnce(client, f.record.keyName, `TSIG ${tsigErrorName(v.error)}: ${v.reason}`, { tsigError: tsigErrorName(v.error) });
        const base = encodeMessage(headerOnlyReply(q, RCode.NOTAUTH));
        if (v.error === TsigErr.BADTIME && v.key) {
          return refuse(signMessage(base, v.key, { requestMac: f.record.mac, error: TsigErr.BADTIME, other: badTimeOther(), time: f.record.timeSigned }).bytes);
        }
        return refuse(appendTsigError(base, f.record, v.error));
      }
      check = { kind: 'signed', key: v.key, requestMac: v.mac };
    }
    const need = this.aclEntry(client)?.key;
    if (need === undefined) return check;
    const used = check.kind === 'signed' ? check.key.name : undefined;
    if (used === need) return check;
    const qs = q.questions[0];
    const soaQuery = q.header.opcode === Opcode.QUERY && q.questions.length === 1 && qs?.type === RRType.SOA;
    if (q.header.opcode !== Opcode.QUERY || soaQuery) return check;
    const what = qs?.type === RRType.AXFR ? 'AXFR' : qs?.type === RRType.IXFR ? 'IXFR' : 'query';
    if (check.kind === 'signed') {
      this.refuseOnce(client, used, `${what} signed with key ${used}, but this client must use key ${need}`, { tsigError: 'BADKEY', zone: qs?.name });
      const rec = f && 'record' in f ? f.record : undefined;
      const base = encodeMessage(headerOnlyReply(q, RCode.NOTAUTH));
      return refuse(rec ? appendTsigError(base, rec, TsigErr.BADKEY) : base);
    }
    this.refuseOnce(client, need, `${what} without TSIG, but this client must sign with key ${need}`, { zone: qs?.name });
    return refuse(encodeMessage(headerOnlyReply(q, RCode.NOTAUTH)));
  }

  /** Signs a reply to a signed request. */
  private sealReply(bytes: Uint8Array, t: TsigCheck): Uint8Array {
    return t.kind === 'signed' ? signMessage(bytes, t.key, { requestMac: t.requestMac }).bytes : bytes;
  }

  private sealTransfer(messages: Iterable<Uint8Array>, t: TsigCheck): Iterable<Uint8Array> {
    if (t.kind !== 'signed') return messages;
    const signer = new TsigStreamSigner(t.key, t.requestMac);
    return (function* () {
      for (const m of messages) yield signer.sign(m);
    })();
  }

  async start(): Promise<void> {
    const { host, port } = this.opts.listen;
    const { first: tcp, second: udp, port: boundPort } = await openOnOnePort(port, {
      first: (p) =>
        new Promise<Server>((resolve, reject) => {
          const t = createServer((sock) => this.connection(sock));
          t.once('error', reject);
          t.listen({ host, port: p }, () => {
            t.off('error', reject);
            resolve(t);
          });
        }),
      portOf: (t) => (t.address() as { port: number }).port,
      second: (p) =>
        new Promise<UdpSocket>((resolve, reject) => {
          const u = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4' });
          u.once('error', (err) => {
            u.close();
            reject(err);
          });
          u.bind(p, host, () => {
            u.removeAllListeners('error');
            resolve(u);
          });
        }),
      closeFirst: (t) => new Promise<void>((resolve) => t.close(() => resolve())),
      busy: (err) => (err as NodeJS.ErrnoException).code === 'EADDRINUSE',
    }).catch((err: NodeJS.ErrnoException) => {
      throw new SakimoriError('RPZ_LISTEN', `cannot listen on ${formatHostPort({ host, port })}: ${err.message}`, { hint: 'pick another rpz listen port, or stop what holds it', cause: err });
    });
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

  private answer(q: DnsMessage, transport: 'udp' | 'tcp', client: string, t: TsigCheck): Answer {
    const udpSize = q.edns ? Math.max(512, Math.min(q.edns.udpSize, 4096)) : 512;
    return respond(q, {
      zone: (n) => this.opts.zone(n),
      transport,
      mayTransfer: this.mayTransfer(client, t.kind === 'signed' ? t.key.name : undefined),
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
    const t = this.checkTsig(buf, d.value, client);
    if (t.kind === 'refused') {
      send(t.reply);
      return;
    }
    let a: Answer;
    try {
      a = this.answer(d.value, 'udp', client, t);
    } catch (err) {
      this.log.error({ client, err: (err as Error).message }, 'RPZ server failed to answer');
      return;
    }
    if (a.kind === 'reply') {
      this.noteReply(a, client, 'udp');
      const maxSize = d.value.edns ? Math.max(512, Math.min(d.value.edns.udpSize, 4096)) : 512;
      // Room for the TSIG record the signature adds.
      send(this.sealReply(encodeMessage(a.message, { maxSize: t.kind === 'signed' ? Math.max(512, maxSize - 200) : maxSize }), t));
      return;
    }
    const t0 = Date.now();
    let bytes = 0;
    let messages = 0;
    for (const m of this.sealTransfer(a.messages, t)) {
      send(m);
      bytes += m.length;
      messages++;
    }
    this.transferDone(a, client, 'udp', messages, bytes, t0, true, t);
  }

  private transferDone(a: Extract<Answer, { kind: 'transfer' }>, client: string, transport: 'udp' | 'tcp', messages: number, bytes: number, t0: number, complete: boolean, t: TsigCheck): void {
    const e: TransferEvent = { client, transport, type: a.type, style: a.style, zone: a.zone, clientSerial: a.clientSerial, serial: a.serial, records: a.records, messages, bytes, ms: Date.now() - t0, complete, ...(t.kind === 'signed' ? { key: t.key.name } : {}) };
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
    const t = this.checkTsig(m, d.value, client);
    if (t.kind === 'refused') {
      sock.write(frameMessage(t.reply));
      return;
    }
    const a = this.answer(d.value, 'tcp', client, t);
    if (a.kind === 'reply') {
      this.noteReply(a, client, 'tcp');
      sock.write(frameMessage(this.sealReply(encodeMessage(a.message), t)));
      return;
    }
    const t0 = Date.now();
    let bytes = 0;
    let messages = 0;
    try {
      for (const msg of this.sealTransfer(a.messages, t)) {
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
    this.transferDone(a, client, 'tcp', messages, bytes, t0, !sock.destroyed, t);
  }
}
