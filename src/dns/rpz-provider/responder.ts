/**
 * The provider's answers, pure: one query in, what to send out. No sockets here (see
 * server.ts), so every rule below is tested message by message.
 *
 *   AXFR over TCP          SOA, the zone, SOA, over as many messages as needed (RFC 5936)
 *   AXFR over UDP          TC=1 and no records: "ask again over TCP" (RFC 5936 §4.2 leaves
 *                          AXFR over UDP undefined)
 *   IXFR                   one SOA when the client is up to date; the journal's differences
 *                          when it reaches back to the client's serial; otherwise the whole
 *                          zone in AXFR form (RFC 1995 §4). Over UDP, an answer that does not
 *                          fit in one datagram is replaced by the SOA alone (RFC 1995 §2)
 *   SOA and other queries  answered from the zone, authoritatively (no wildcard synthesis)
 *   NOTIFY                 for a zone served here: acknowledged (a primary has nothing to
 *                          fetch); otherwise REFUSED
 *   a zone not served      REFUSED; a client not on the transfer list: REFUSED
 *   bad requests           FORMERR (no or several questions, IXFR without the client's SOA)
 *   other opcodes          NOTIMP
 */
import { normalizeName, Opcode, RCode, RRClass, RRType, encodeMessage, type DnsMessage, type ResourceRecord } from '../wire/index.ts';
import type { ZoneRecord } from '../policy/index.ts';
import { headerOnlyReply, serialCompare, xfrMessages } from '../zone-transfer/index.ts';
import type { Journal } from './journal.ts';
import type { ZoneContent } from './zone-content.ts';

export interface ServedZone {
  readonly content: ZoneContent;
  readonly journal: Journal;
}

export interface ResponderContext {
  /** The served zone with exactly this (canonical) name. */
  zone(name: string): ServedZone | undefined;
  transport: 'udp' | 'tcp';
  /** Whether this client may transfer zones and read their records (SOA queries are open to all). */
  mayTransfer: boolean;
  /** Largest UDP answer the client takes (512, or its EDNS size). */
  udpSize: number;
  maxMessageSize?: number;
}

/** What the server does with a query. */
export type Answer =
  | { kind: 'reply'; message: DnsMessage; note: string }
  | {
      kind: 'transfer';
      type: 'AXFR' | 'IXFR';
      /** full: the whole zone; incremental: differences; up-to-date: the SOA alone; use-tcp: the SOA alone because UDP cannot carry the answer. */
      style: 'full' | 'incremental' | 'up-to-date' | 'use-tcp';
      zone: string;
      clientSerial: number | undefined;
      serial: number;
      records: number;
      messages: Iterable<Uint8Array>;
    };

function toWire(r: ZoneRecord): ResourceRecord {
  return { name: r.name, type: r.type, class: RRClass.IN, ttl: r.ttl, data: r.data };
}

function reply(query: DnsMessage, rcode: number, note: string, opts: { aa?: boolean; tc?: boolean; answers?: ZoneRecord[]; authority?: ZoneRecord[] } = {}): Answer {
  const m = headerOnlyReply(query, rcode, opts);
  if (opts.answers) m.answers = opts.answers.map(toWire);
  if (opts.authority) m.authority = opts.authority.map(toWire);
  return { kind: 'reply', message: m, note };
}

/** The enclosing served zone of a name: the longest suffix that is a zone here. */
function findZone(ctx: ResponderContext, qname: string): ServedZone | undefined {
  let n = qname;
  for (;;) {
    const z = ctx.zone(n);
    if (z) return z;
    if (n === '.') return undefined;
    const dot = nextLabel(n);
    n = dot === -1 ? '.' : n.slice(dot + 1);
  }
}

/** Index of the dot ending the first label (escapes skipped), or -1. */
function nextLabel(n: string): number {
  for (let i = 0; i < n.length; i++) {
    const c = n.charCodeAt(i);
    if (c === 92) i++;
    else if (c === 46) return i;
  }
  return -1;
}

export function respond(query: DnsMessage, ctx: ResponderContext): Answer {
  const h = query.header;
  if (h.opcode !== Opcode.QUERY && h.opcode !== Opcode.NOTIFY) return reply(query, RCode.NOTIMP, `opcode ${h.opcode} not implemented`);
  if (query.edns && query.edns.version !== 0) {
    const m = headerOnlyReply(query, RCode.BADVERS);
    return { kind: 'reply', message: m, note: `EDNS version ${query.edns.version}` };
  }
  if (query.questions.length !== 1) return reply(query, RCode.FORMERR, `${query.questions.length} questions`);
  const q = query.questions[0]!;
  if (q.class !== RRClass.IN && q.class !== RRClass.ANY) return reply(query, RCode.REFUSED, `class ${q.class}`);
  const qname = normalizeName(q.name);

  if (h.opcode === Opcode.NOTIFY) {
    const z = ctx.zone(qname);
    if (!z || q.type !== RRType.SOA) return reply(query, RCode.REFUSED, `NOTIFY for ${qname}, not a zone served here`);
    return reply(query, RCode.NOERROR, `NOTIFY for ${qname} acknowledged (this server is its primary)`, { aa: true });
  }

  if (q.type === RRType.AXFR || q.type === RRType.IXFR) {
    const type = q.type === RRType.AXFR ? 'AXFR' : 'IXFR';
    const z = ctx.zone(qname);
    if (!z) return reply(query, RCode.REFUSED, `${type} of ${qname}: not a zone served here`);
    if (type === 'IXFR' && !query.authority.some((r) => r.type === RRType.SOA && r.data.kind === 'SOA' && normalizeName(r.name) === qname)) {
      return reply(query, RCode.FORMERR, `IXFR of ${qname} without the client's SOA in the authority section (RFC 1995 §3)`);
    }
    if (!ctx.mayTransfer) return reply(query, RCode.REFUSED, `${type} of ${qname}: client not allowed to transfer`);
    if (type === 'AXFR') {
      if (ctx.transport === 'udp') return reply(query, RCode.NOERROR, `AXFR of ${qname} over UDP: TC, use TCP`, { tc: true });
      return fullTransfer(query, ctx, z, 'AXFR', undefined);
    }
    return ixfr(query, ctx, z, qname);
  }

  const z = findZone(ctx, qname);
  if (!z) return reply(query, RCode.REFUSED, `query for ${qname}: not in a zone served here`);
  const c = z.content;
  if (q.type === RRType.SOA && qname === c.name) return reply(query, RCode.NOERROR, `SOA of ${qname}`, { aa: true, answers: [c.soa] });
  if (!ctx.mayTransfer) return reply(query, RCode.REFUSED, `query for ${qname}: client may not read the zone`);
  const recs = c.at(qname);
  if (recs.length === 0 && !(qname === c.name)) return reply(query, RCode.NXDOMAIN, `${qname}: no such name`, { aa: true, authority: [negativeSoa(c)] });
  let answers: ZoneRecord[] = recs.filter((r) => q.type === RRType.ANY || r.type === q.type);
  if (answers.length === 0 && q.type !== RRType.CNAME) answers = recs.filter((r) => r.type === RRType.CNAME);
  if (q.type === RRType.SOA) answers = qname === c.name ? [c.soa] : [];
  if (answers.length === 0) return reply(query, RCode.NOERROR, `${qname}: no data of type ${q.type}`, { aa: true, authority: [negativeSoa(c)] });
  return reply(query, RCode.NOERROR, `${qname} answered`, { aa: true, answers });
}

/** RFC 2308 §3: the SOA in negative answers with TTL min(SOA TTL, MINIMUM). */
function negativeSoa(c: ZoneContent): ZoneRecord {
  const s = c.soa;
  return s.data.kind === 'SOA' ? { ...s, ttl: Math.min(s.ttl, s.data.minimum) } : s;
}

function fullTransfer(query: DnsMessage, ctx: ResponderContext, z: ServedZone, type: 'AXFR' | 'IXFR', clientSerial: number | undefined): Answer {
  const c = z.content;
  return {
    kind: 'transfer',
    type,
    style: 'full',
    zone: c.name,
    clientSerial,
    serial: c.serial,
    records: c.size + 2,
    messages: xfrMessages(query, c.axfrRecords(), ctx.maxMessageSize === undefined ? {} : { maxSize: ctx.maxMessageSize }),
  };
}

function ixfr(query: DnsMessage, ctx: ResponderContext, z: ServedZone, qname: string): Answer {
  const auth = query.authority.find((r) => r.type === RRType.SOA && r.data.kind === 'SOA' && normalizeName(r.name) === qname);
  if (!auth || auth.data.kind !== 'SOA') return reply(query, RCode.FORMERR, `IXFR of ${qname} without the client's SOA in the authority section (RFC 1995 §3)`);
  const clientSerial = auth.data.serial;
  const c = z.content;
  const soaOnly = (style: 'up-to-date' | 'use-tcp'): Answer => ({
    kind: 'transfer',
    type: 'IXFR',
    style,
    zone: c.name,
    clientSerial,
    serial: c.serial,
    records: 1,
    messages: [encodeMessage({ ...headerOnlyReply(query, RCode.NOERROR, { aa: true }), answers: [toWire(c.soa)] })],
  });
  const cmp = serialCompare(clientSerial, c.serial);
  if (cmp === 0 || cmp === 1) return soaOnly('up-to-date');
  const chain = z.journal.since(clientSerial);
  if (!chain) {
    // The journal does not reach back: the whole zone (RFC 1995 §4), but not over UDP.
    if (ctx.transport === 'udp') return soaOnly('use-tcp');
    return fullTransfer(query, ctx, z, 'IXFR', clientSerial);
  }
  const records: ZoneRecord[] = [c.soa];
  for (const d of chain) records.push(d.from, ...d.deletes, d.to, ...d.adds);
  records.push(c.soa);
  if (ctx.transport === 'udp') {
    const m: DnsMessage = { ...headerOnlyReply(query, RCode.NOERROR, { aa: true }), answers: records.map(toWire) };
    const bytes = encodeMessage(m, { maxSize: ctx.udpSize });
    if (bytes[2]! & 0x02) return soaOnly('use-tcp');
    return { kind: 'transfer', type: 'IXFR', style: 'incremental', zone: c.name, clientSerial, serial: c.serial, records: records.length, messages: [bytes] };
  }
  return {
    kind: 'transfer',
    type: 'IXFR',
    style: 'incremental',
    zone: c.name,
    clientSerial,
    serial: c.serial,
    records: records.length,
    messages: xfrMessages(query, records, ctx.maxMessageSize === undefined ? {} : { maxSize: ctx.maxMessageSize }),
  };
}
