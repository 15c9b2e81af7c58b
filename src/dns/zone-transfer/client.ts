/**
 * The secondary's requests to a primary: AXFR or IXFR over TCP (RFC 5936, RFC 1995), and
 * an SOA query over UDP. Each request opens its own connection or socket and closes it.
 */
import { connect } from 'node:net';
import { createSocket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { SakimoriError, formatHostPort, type HostPort } from '../../core/index.ts';
import { decodeMessage, encodeMessage, Opcode, RCode, RRClass, RRType, type DnsMessage } from '../wire/index.ts';
import type { ZoneRecord } from '../policy/index.ts';
import { frameMessage, TcpMessageReader } from './framing.ts';
import { canonicalRecord, rcodeName, soaSerial, XfrReader, type XfrOutcome } from './xfr.ts';
import { badTimeDetail, findTsig, signMessage, tsigErrorName, TsigStreamVerifier, verifyMessage, type TsigKey } from './tsig.ts';

export interface TransferRequest {
  zone: string;
  type: 'AXFR' | 'IXFR';
  /** IXFR: the SOA the secondary holds (its serial is what the primary diffs from). */
  soa?: ZoneRecord;
  /** Idle time allowed between two reads, and for the connection. Default 10 s. */
  timeoutMs?: number;
  /** TSIG key: the request is signed and every answer message must be (RFC 8945 §5.3.1). */
  key?: TsigKey;
}

export interface TransferResult {
  outcome: XfrOutcome;
  messages: number;
  records: number;
  bytes: number;
}

/** Why a transfer failed; `rcode` when the primary answered with an error code. */
export class TransferError extends SakimoriError {
  constructor(message: string, readonly rcode?: number) {
    super('ZONE_TRANSFER', message, { hint: 'check that the primary serves this zone and allows this address to transfer it' });
    this.name = 'TransferError';
  }
}

function queryMessage(zone: string, qtype: number, opcode: number = Opcode.QUERY): DnsMessage {
  return {
    header: { id: randomInt(0, 0x10000), qr: false, opcode, aa: false, tc: false, rd: false, ra: false, z: false, ad: false, cd: false, rcode: 0 },
    questions: [{ name: zone, type: qtype, class: RRClass.IN }],
    answers: [],
    authority: [],
    additional: [],
  };
}

/** Asks the primary for the zone by AXFR, or for the changes since `soa` by IXFR, over TCP. */
export function requestTransfer(primary: HostPort, req: TransferRequest): Promise<TransferResult> {
  const where = `${req.type} of ${req.zone} from ${formatHostPort(primary)}`;
  const query = queryMessage(req.zone, req.type === 'AXFR' ? RRType.AXFR : RRType.IXFR);
  if (req.type === 'IXFR') {
    if (!req.soa || req.soa.data.kind !== 'SOA') throw new TypeError('an IXFR request needs the SOA the secondary holds');
    query.authority.push({ name: req.zone, type: RRType.SOA, class: RRClass.IN, ttl: req.soa.ttl, data: req.soa.data });
  }
  const reader = new XfrReader(req.zone, { type: req.type, ...(req.soa ? { clientSerial: soaSerial(req.soa) } : {}) });
  let wire = encodeMessage(query);
  let verifier: TsigStreamVerifier | undefined;
  if (req.key) {
    const s = signMessage(wire, req.key);
    wire = s.bytes;
    verifier = new TsigStreamVerifier(req.key, s.mac);
  }
  const timeoutMs = req.timeoutMs ?? 10_000;
  return new Promise<TransferResult>((resolve, reject) => {
    const sock = connect({ host: primary.host, port: primary.port });
    const frames = new TcpMessageReader();
    let bytes = 0;
    let settled = false;
    const done = (err: Error | undefined, result?: TransferResult) => {
      if (settled) return;
      settled = true;
      sock.destroy();
      if (err) reject(err);
      else resolve(result!);
    };
    sock.setTimeout(timeoutMs, () => done(new TransferError(`${where}: no data for ${timeoutMs} ms`)));
    sock.on('error', (err) => done(new TransferError(`${where}: ${err.message}`)));
    sock.on('close', () => done(new TransferError(`${where}: the primary closed the connection after ${reader.messages} message(s), before the transfer was complete`)));
    sock.on('connect', () => sock.write(frameMessage(wire)));
    sock.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      for (const m of frames.push(chunk)) {
        const d = decodeMessage(m);
        if (!d.ok) return done(new TransferError(`${where}: message ${reader.messages + 1} does not decode: ${d.error.message}`));
        if (d.value.header.id !== query.header.id) return done(new TransferError(`${where}: a message with ID ${d.value.header.id}, not the request's ${query.header.id}`));
        if (verifier) {
          const bad = verifier.feed(m);
          if (bad) return done(new TransferError(`${where}: TSIG ${tsigErrorName(bad.error)}: ${bad.reason}`, d.value.header.rcode === RCode.NOERROR ? undefined : d.value.header.rcode));
        } else if (d.value.header.rcode === RCode.NOTAUTH) {
          const f = findTsig(m);
          const why = f && 'record' in f ? ` (TSIG ${tsigErrorName(f.record.error)} for key ${f.record.keyName})` : '';
          return done(new TransferError(`${where}: the primary answered NOTAUTH${why}: it wants a TSIG key — set the zone's key`, RCode.NOTAUTH));
        }
        const step = reader.feed(d.value);
        if (step.done && !('error' in step) && verifier && !verifier.complete) return done(new TransferError(`${where}: TSIG: the last message of the answer is not signed`));
        if (!step.done) continue;
        if ('error' in step) return done(new TransferError(`${where}: ${step.error}`, d.value.header.rcode === RCode.NOERROR ? undefined : d.value.header.rcode));
        return done(undefined, { outcome: step.outcome, messages: reader.messages, records: reader.recordCount, bytes });
      }
    });
  });
}

/** Sends one UDP query and waits for the answer with its ID from that peer, retrying. */
export function udpExchange(peer: HostPort, query: DnsMessage, opts: { timeoutMs?: number; attempts?: number; key?: TsigKey } = {}): Promise<DnsMessage> {
  const timeoutMs = opts.timeoutMs ?? 2000;
  const attempts = opts.attempts ?? 3;
  let bytes = encodeMessage(query);
  let requestMac: Uint8Array | undefined;
  if (opts.key) {
    const s = signMessage(bytes, opts.key);
    bytes = s.bytes;
    requestMac = s.mac;
  }
  return new Promise((resolve, reject) => {
    const sock = createSocket(isIPv6(peer.host) ? 'udp6' : 'udp4');
    let sent = 0;
    let timer: NodeJS.Timeout | undefined;
    const finish = (err: Error | undefined, msg?: DnsMessage) => {
      clearTimeout(timer);
      sock.close();
      if (err) reject(err);
      else resolve(msg!);
    };
    const send = () => {
      if (sent === attempts) return finish(new TransferError(`no answer from ${formatHostPort(peer)} after ${attempts} tries`));
      sent++;
      sock.send(bytes, peer.port, peer.host);
      timer = setTimeout(send, timeoutMs);
    };
    sock.on('error', (err) => finish(new TransferError(`${formatHostPort(peer)}: ${err.message}`)));
    sock.on('message', (buf) => {
      const d = decodeMessage(buf);
      if (!d.ok || !d.value.header.qr || d.value.header.id !== query.header.id) return;
      if (opts.key) {
        // An answer that does not verify may be forged: keep waiting for the real one.
        const f = findTsig(buf);
        if (!f || 'error' in f) {
          if (d.value.header.rcode === RCode.NOTAUTH) return finish(new TransferError(`${formatHostPort(peer)}: answered NOTAUTH without a TSIG record`, RCode.NOTAUTH));
          return;
        }
        if (f.record.error !== 0) return finish(new TransferError(`${formatHostPort(peer)}: TSIG ${tsigErrorName(f.record.error)} for key ${f.record.keyName}${badTimeDetail(f.record)}`, d.value.header.rcode));
        const v = verifyMessage(buf, f, opts.key, { requestMac });
        if (!v.ok) return finish(new TransferError(`${formatHostPort(peer)}: the answer's TSIG does not verify: ${tsigErrorName(v.error)}: ${v.reason}`));
      }
      finish(undefined, d.value);
    });
    sock.bind(0, send);
  });
}

/** The primary's SOA for the zone, by a UDP query (refresh checks, `rpz` tooling). */
export async function querySoa(primary: HostPort, zone: string, opts: { timeoutMs?: number; key?: TsigKey } = {}): Promise<ZoneRecord> {
  const q = queryMessage(zone, RRType.SOA);
  const r = await udpExchange(primary, q, opts);
  if (r.header.rcode !== RCode.NOERROR) throw new TransferError(`SOA query for ${zone} to ${formatHostPort(primary)}: ${rcodeName(r.header.rcode)}`, r.header.rcode);
  const soa = r.answers.find((a) => a.type === RRType.SOA);
  if (!soa) throw new TransferError(`SOA query for ${zone} to ${formatHostPort(primary)}: no SOA in the answer`);
  return canonicalRecord(soa);
}

export { queryMessage };
