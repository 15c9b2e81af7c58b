/**
 * From a decoded dnstap message to the one event the detectors get (R4 R5 R6): who asked
 * what, when, and (for a response) what came back and how big. Nothing else of the
 * message survives this step (R16): not the resolver's identity, not ports, not the
 * answer records, not the bytes. Pure.
 */
import { formatIPv4, formatIPv6 } from '../../core/index.ts';
import { decodeMessage, normalizeName, readQuery } from '../wire/index.ts';
import { DnstapType, MessageType, type DnstapScan } from './wire/dnstap.ts';

export const TRANSPORTS = ['udp', 'tcp', 'dot', 'doh', 'dnscrypt-udp', 'dnscrypt-tcp', 'doq', 'unknown'] as const;
export type DnstapTransport = (typeof TRANSPORTS)[number];

/**
 * One client query or response seen by a BIND or Unbound resolver, reduced to what the
 * detectors need. A response is the one with `rcode` (and `responseSize`); a resolver
 * sends both for each lookup when it logs both message types.
 */
export interface DnstapEvent {
  /** Epoch ms: when the resolver received the query (query) or sent the response (response). */
  at: number;
  /** The client's address as text ("192.0.2.1", "2001:db8::1"); IPv4-mapped IPv6 is shown as IPv4. */
  client: string;
  /** The query name, lower-cased (ASCII), without the trailing dot, "." for the root; the firewall's form (dns/wire). */
  qname: string;
  qtype: number;
  /** Responses only: the response code (with the EDNS extended bits). */
  rcode?: number;
  /** Responses only: the DNS message's size in bytes. */
  responseSize?: number;
  transport: DnstapTransport;
}

/** Why a dnstap message gave no event; each is counted. */
export type SkipReason =
  /** Not a CLIENT_QUERY or CLIENT_RESPONSE (resolver, auth, forwarder... messages). */
  | 'other-type'
  /** Dnstap.type is not MESSAGE, or there is no message. */
  | 'no-message'
  /** No query_address, or one that is neither 4 nor 16 bytes. */
  | 'no-client'
  /** No DNS message bytes in it. */
  | 'no-dns'
  /** The DNS message does not parse, has no single question, or is not a standard query. */
  | 'bad-dns';

export const SKIP_REASONS: readonly SkipReason[] = ['other-type', 'no-message', 'no-client', 'no-dns', 'bad-dns'];

const TRANSPORT_OF: readonly DnstapTransport[] = ['unknown', 'udp', 'tcp', 'dot', 'doh', 'dnscrypt-udp', 'dnscrypt-tcp', 'doq'];

/** socket_protocol (-1: absent) as a transport name. */
export function transportOf(socketProtocol: number): DnstapTransport {
  return TRANSPORT_OF[socketProtocol] ?? 'unknown';
}

/** The client address at buf[start, end) as text; undefined unless 4 or 16 bytes. */
function clientOf(a: Uint8Array, start: number, end: number): string | undefined {
  if (end - start === 4) return formatIPv4(a, start);
  if (end - start !== 16) return undefined;
  // ::ffff:a.b.c.d from a dual-stack socket is the IPv4 client the ISP assigned.
  let mapped = a[start + 10] === 0xff && a[start + 11] === 0xff;
  for (let i = 0; mapped && i < 10; i++) if (a[start + i] !== 0) mapped = false;
  return mapped ? formatIPv4(a, start + 12) : formatIPv6(a, start);
}

function timeOf(sec: number, nsec: number): number | undefined {
  if (sec < 0) return undefined;
  const t = sec * 1000 + (nsec > 0 ? Math.floor(nsec / 1e6) : 0);
  return Number.isSafeInteger(t) ? t : undefined;
}

/**
 * The event for a scanned dnstap payload (scanDnstap succeeded), or why there is none.
 * `receivedAt` stands in for a missing (or absurd) time in the message.
 */
export function dnstapEvent(s: DnstapScan, receivedAt: number): DnstapEvent | SkipReason {
  if (!s.message || s.type !== DnstapType.MESSAGE) return 'no-message';
  const isQuery = s.messageType === MessageType.CLIENT_QUERY;
  if (!isQuery && s.messageType !== MessageType.CLIENT_RESPONSE) return 'other-type';
  const b = s.buf;
  const client = clientOf(b, s.queryAddressStart, s.queryAddressEnd);
  if (client === undefined) return 'no-client';
  const transport = transportOf(s.socketProtocol);
  if (isQuery) {
    if (s.queryMessageStart < 0) return 'no-dns';
    const q = readQuery(b.subarray(s.queryMessageStart, s.queryMessageEnd));
    if (!q.ok || q.value.opcode !== 0) return 'bad-dns';
    return { at: timeOf(s.queryTimeSec, s.queryTimeNsec) ?? receivedAt, client, qname: q.value.qname, qtype: q.value.qtype, transport };
  }
  if (s.responseMessageStart < 0) return 'no-dns';
  const r = decodeMessage(b.subarray(s.responseMessageStart, s.responseMessageEnd));
  if (!r.ok || r.value.questions.length !== 1 || r.value.header.opcode !== 0) return 'bad-dns';
  const q = r.value.questions[0]!;
  return {
    at: timeOf(s.responseTimeSec, s.responseTimeNsec) ?? timeOf(s.queryTimeSec, s.queryTimeNsec) ?? receivedAt,
    client,
    qname: normalizeName(q.name),
    qtype: q.type,
    rcode: r.value.header.rcode,
    responseSize: s.responseMessageEnd - s.responseMessageStart,
    transport,
  };
}
