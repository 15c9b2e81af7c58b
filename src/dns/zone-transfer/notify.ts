/**
 * NOTIFY (RFC 1996): the primary tells its secondaries that a zone changed, so they
 * refresh at once instead of at the next SOA refresh. Over UDP, retried until answered
 * (§3.6) a few times with a doubling interval; any answer, even an error code, ends the
 * retries (a secondary that refuses will keep refusing).
 */
import { createSocket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { formatHostPort, parseIp, type HostPort } from '../../core/index.ts';
import { decodeMessage, encodeMessage, normalizeName, Opcode, RCode, RRClass, RRType, type DnsMessage } from '../wire/index.ts';
import type { ZoneRecord } from '../policy/index.ts';
import { headerOnlyReply } from './xfr.ts';
import { appendTsigError, badTimeDetail, findTsig, signMessage, tsigErrorName, verifyMessage, type TsigKey } from './tsig.ts';

export interface NotifyOptions {
  /** Tries after the first one. Default 5. */
  retries?: number;
  /** Wait before the first retry; doubled for each next one. Default 1 s. */
  firstIntervalMs?: number;
  /** Stops the retries (e.g. the zone changed again, or the server stops). */
  signal?: AbortSignal;
  /** TSIG key: the NOTIFY is signed (re-signed on each try) and the answer must verify. */
  key?: TsigKey;
}

export interface NotifyResult {
  target: string;
  /** True when the secondary answered (whatever its rcode). */
  answered: boolean;
  attempts: number;
  rcode?: number;
  error?: string;
}

/** The NOTIFY message: question <zone, SOA, IN>, AA set, the new SOA as a hint in the answer (§3.7). */
export function notifyMessage(zone: string, soa: ZoneRecord | undefined, id = randomInt(0, 0x10000)): DnsMessage {
  return {
    header: { id, qr: false, opcode: Opcode.NOTIFY, aa: true, tc: false, rd: false, ra: false, z: false, ad: false, cd: false, rcode: 0 },
    questions: [{ name: zone, type: RRType.SOA, class: RRClass.IN }],
    answers: soa ? [{ name: zone, type: RRType.SOA, class: RRClass.IN, ttl: soa.ttl, data: soa.data }] : [],
    authority: [],
    additional: [],
  };
}

/** Sends NOTIFY for one zone to one secondary and retries until it answers or the tries run out. */
export function sendNotify(target: HostPort, zone: string, soa: ZoneRecord | undefined, opts: NotifyOptions = {}): Promise<NotifyResult> {
  const retries = opts.retries ?? 5;
  let interval = opts.firstIntervalMs ?? 1000;
  const msg = notifyMessage(zone, soa);
  const unsigned = encodeMessage(msg);
  let requestMac: Uint8Array | undefined;
  const name = formatHostPort(target);
  return new Promise((resolve) => {
    const sock = createSocket(isIPv6(target.host) ? 'udp6' : 'udp4');
    let attempts = 0;
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    const finish = (r: Omit<NotifyResult, 'target' | 'attempts'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      sock.close();
      resolve({ target: name, attempts, ...r });
    };
    const onAbort = () => finish({ answered: false, error: 'stopped before an answer came' });
    const send = () => {
      if (attempts > retries) return finish({ answered: false, error: `no answer after ${attempts} tries` });
      attempts++;
      let bytes = unsigned;
      if (opts.key) {
        // Signed afresh each try: the time in a retry stays within the fudge.
        const s = signMessage(unsigned, opts.key);
        bytes = s.bytes;
        requestMac = s.mac;
      }
      sock.send(bytes, target.port, target.host, (err) => {
        if (err) finish({ answered: false, error: err.message });
      });
      timer = setTimeout(send, interval);
      interval *= 2;
    };
    sock.on('error', (err) => finish({ answered: false, error: err.message }));
    sock.on('message', (buf) => {
      const d = decodeMessage(buf);
      if (!d.ok) return;
      const h = d.value.header;
      if (!h.qr || h.id !== msg.header.id || h.opcode !== Opcode.NOTIFY) return;
      if (opts.key) {
        const f = findTsig(buf);
        if (!f || 'error' in f) return finish({ answered: true, rcode: h.rcode, error: `the answer is not signed with key ${opts.key.name}${f ? `: ${f.error}` : ''}` });
        if (f.record.error !== 0) return finish({ answered: true, rcode: h.rcode, error: `the secondary answered TSIG ${tsigErrorName(f.record.error)} for key ${f.record.keyName}${badTimeDetail(f.record)}` });
        const v = verifyMessage(buf, f, opts.key, { requestMac });
        if (!v.ok) return finish({ answered: true, rcode: h.rcode, error: `the answer's TSIG does not verify: ${tsigErrorName(v.error)}: ${v.reason}` });
      }
      finish({ answered: true, rcode: h.rcode });
    });
    if (opts.signal?.aborted) return finish({ answered: false, error: 'stopped before it was sent' });
    opts.signal?.addEventListener('abort', onAbort);
    sock.bind(0, send);
  });
}

/** A zone that accepts NOTIFY: the secondary's side, SecondaryZone implements it. */
export interface NotifyReceiver {
  readonly zone: string;
  /** The primary's address: NOTIFY from anywhere else is refused (RFC 1996 §3.10). */
  readonly primary: HostPort;
  /** The primary's addresses when it was given by host name (resolved at start and on refresh). */
  readonly primaryAddresses?: readonly string[];
  /** When set, a NOTIFY must be signed with this key (and is answered signed). */
  readonly key?: TsigKey | undefined;
  /** Schedules a refresh now. `serial` is the hint from the message, if any. */
  notify(serial?: number): void;
}

function sameAddress(a: string, b: string): boolean {
  const strip = (s: string) => (s.startsWith('::ffff:') && s.includes('.') ? s.slice(7) : s);
  const x = parseIp(strip(a));
  const y = parseIp(strip(b));
  if (!x || !y) return strip(a) === strip(b);
  return x.family === y.family && x.bytes.every((v, i) => v === y.bytes[i]);
}

/**
 * The secondary's answer to a NOTIFY: NOERROR and a refresh when the zone is one it pulls
 * and the message comes from that zone's primary; REFUSED otherwise (NOTAUTH would tell
 * a stranger which zones exist here). FORMERR when there is no single SOA question.
 */
export function answerNotify(query: DnsMessage, from: string, receivers: Iterable<NotifyReceiver>): { reply: DnsMessage; accepted?: NotifyReceiver } {
  const q = query.questions[0];
  if (query.questions.length !== 1 || !q || q.type !== RRType.SOA) return { reply: headerOnlyReply(query, RCode.FORMERR) };
  const zone = normalizeName(q.name);
  const hint = query.answers.find((a) => a.type === RRType.SOA && a.data.kind === 'SOA');
  // Every receiver of the zone from that primary refreshes: one process may pull a zone twice
  // (the firewall's worker threads and detection's never-block list, both from one primary).
  let accepted: NotifyReceiver | undefined;
  for (const r of receivers) {
    if (r.zone !== zone) continue;
    const addrs = r.primaryAddresses && r.primaryAddresses.length > 0 ? r.primaryAddresses : [r.primary.host];
    if (!addrs.some((a) => sameAddress(from, a))) continue;
    r.notify(hint?.data.kind === 'SOA' ? hint.data.serial : undefined);
    accepted ??= r;
  }
  return accepted ? { reply: headerOnlyReply(query, RCode.NOERROR, { aa: true }), accepted } : { reply: headerOnlyReply(query, RCode.REFUSED) };
}

export { sameAddress };

/**
 * answerNotify on wire bytes, with TSIG (RFC 8945): a zone with a key takes NOTIFY only
 * signed with it (NOTAUTH with the TSIG error otherwise) and answers signed. Returns the
 * bytes to send back, or undefined for a message not to answer; `refusal` says why a
 * NOTIFY was turned away, for the log.
 */
export function answerNotifyWire(raw: Uint8Array, query: DnsMessage, from: string, receivers: Iterable<NotifyReceiver>): { reply: Uint8Array; accepted?: NotifyReceiver; refusal?: string } {
  const q = query.questions[0];
  const zone = q ? normalizeName(q.name) : '';
  const list = [...receivers];
  const r = list.find((x) => x.zone === zone);
  const f = findTsig(raw);
  if (f && 'error' in f) return { reply: encodeMessage(headerOnlyReply(query, RCode.FORMERR)), refusal: `malformed TSIG record: ${f.error}` };
  if (r?.key) {
    const notauth = encodeMessage(headerOnlyReply(query, RCode.NOTAUTH));
    if (!f) return { reply: notauth, refusal: `NOTIFY for ${zone} is not signed; key ${r.key.name} required` };
    const v = verifyMessage(raw, f, r.key);
    if (!v.ok) return { reply: appendTsigError(notauth, f.record, v.error), refusal: `NOTIFY for ${zone}: TSIG ${tsigErrorName(v.error)}: ${v.reason}` };
    const a = answerNotify(query, from, list);
    return { reply: signMessage(encodeMessage(a.reply), r.key, { requestMac: v.mac }).bytes, ...(a.accepted ? { accepted: a.accepted } : { refusal: `NOTIFY for ${zone} from ${from}, not from its primary` }) };
  }
  const a = answerNotify(query, from, list);
  return { reply: encodeMessage(a.reply), ...(a.accepted ? { accepted: a.accepted } : { refusal: `NOTIFY for ${zone || '(no question)'} from ${from}: not a zone pulled from that address` }) };
}
