/**
 * Zone transfer messages, pure: the primary's side splits a record sequence over DNS
 * messages (AXFR, RFC 5936 §2.2; IXFR, RFC 1995 §4), and the secondary's side reads a
 * response stream back into "up to date", "full zone" or "these differences".
 */
import { encodeMessage, normalizeName, Opcode, RCode, RRClass, RRType, type DnsMessage, type Rdata, type ResourceRecord } from '../wire/index.ts';
import type { ZoneRecord } from '../policy/index.ts';

/** A message of about this size leaves room under TCP's 65535 and keeps compression tables small. */
export const DEFAULT_XFR_MESSAGE_SIZE = 16384;

/** One version step of a zone: the SOA before and the records it lost, the SOA after and the records it gained. */
export interface XfrDiff {
  from: ZoneRecord;
  deletes: ZoneRecord[];
  to: ZoneRecord;
  adds: ZoneRecord[];
}

/**
 * What a transfer brought: nothing new, the whole zone (`records` without the SOA), or
 * the differences from the secondary's serial to the primary's, oldest first.
 */
export type XfrOutcome =
  | { kind: 'up-to-date'; soa: ZoneRecord }
  | { kind: 'full'; soa: ZoneRecord; records: ZoneRecord[] }
  | { kind: 'incremental'; soa: ZoneRecord; diffs: XfrDiff[] };

export function soaSerial(r: ZoneRecord): number {
  return r.data.kind === 'SOA' ? r.data.serial : -1;
}

// ---- the primary's side ----------------------------------------------------------------

function toWire(r: ZoneRecord): ResourceRecord {
  return { name: r.name, type: r.type, class: RRClass.IN, ttl: r.ttl, data: r.data };
}

function ancount(msg: Uint8Array): number {
  return (msg[6]! << 8) | msg[7]!;
}

/**
 * The messages of a transfer answer: `records` in order (for AXFR: SOA, the zone, SOA),
 * each message at most `maxSize` octets where records allow (an RRset larger than that
 * gets a message of its own, up to 65535), the question in the first message only
 * (RFC 5936 §2.2.1), the query's ID in every message. Lazy, so a million-record zone is
 * encoded as the socket takes it, never held as messages all at once.
 */
export function* xfrMessages(query: DnsMessage, records: Iterable<ZoneRecord>, opts: { maxSize?: number } = {}): Generator<Uint8Array> {
  const maxSize = opts.maxSize ?? DEFAULT_XFR_MESSAGE_SIZE;
  const it = records[Symbol.iterator]();
  let pending: ResourceRecord[] = [];
  let exhausted = false;
  let first = true;
  const BATCH = 1024;
  for (;;) {
    while (!exhausted && pending.length < BATCH) {
      const n = it.next();
      if (n.done) exhausted = true;
      else pending.push(toWire(n.value));
    }
    if (pending.length === 0 && !first) return;
    const msg: DnsMessage = {
      header: { id: query.header.id, qr: true, opcode: query.header.opcode, aa: true, tc: false, rd: query.header.rd, ra: false, z: false, ad: false, cd: false, rcode: RCode.NOERROR },
      questions: first ? query.questions : [],
      answers: pending,
      authority: [],
      additional: [],
      ...(first && query.edns ? { edns: { udpSize: 1232, version: 0, do: false, options: [] } } : {}),
    };
    let bytes = encodeMessage(msg, { maxSize });
    let n = ancount(bytes);
    if (n === 0 && pending.length > 0) {
      // One RRset larger than maxSize: send it alone, as large as DNS allows.
      let end = 1;
      while (end < pending.length && pending[end]!.type === pending[0]!.type && normalizeName(pending[end]!.name) === normalizeName(pending[0]!.name)) end++;
      bytes = encodeMessage({ ...msg, answers: pending.slice(0, end) });
      n = end;
    }
    // Records left out go in the next message: this one is not truncated.
    bytes[2] = bytes[2]! & ~0x02;
    yield bytes;
    pending = n === pending.length ? [] : pending.slice(n);
    first = false;
  }
}

/** A one-message answer with no records (errors, NOTIFY acknowledgements). */
export function headerOnlyReply(query: DnsMessage, rcode: number, opts: { aa?: boolean; tc?: boolean } = {}): DnsMessage {
  return {
    header: { id: query.header.id, qr: true, opcode: query.header.opcode, aa: opts.aa ?? false, tc: opts.tc ?? false, rd: query.header.rd, ra: false, z: false, ad: false, cd: query.header.cd, rcode },
    questions: query.questions,
    answers: [],
    authority: [],
    additional: [],
    ...(query.edns ? { edns: { udpSize: 1232, version: 0, do: query.edns.do, options: [] } } : {}),
  };
}

// ---- the secondary's side --------------------------------------------------------------

/** Owner and the names inside RDATA in canonical form, as the policy engine compares them. */
export function canonicalRecord(rr: { name: string; type: number; ttl: number; data: Rdata }): ZoneRecord {
  const n = normalizeName;
  const d = rr.data;
  let data: Rdata = d;
  switch (d.kind) {
    case 'CNAME':
      data = { kind: 'CNAME', cname: n(d.cname) };
      break;
    case 'NS':
      data = { kind: 'NS', nsdname: n(d.nsdname) };
      break;
    case 'PTR':
      data = { kind: 'PTR', ptrdname: n(d.ptrdname) };
      break;
    case 'DNAME':
      data = { kind: 'DNAME', target: n(d.target) };
      break;
    case 'MX':
      data = { ...d, exchange: n(d.exchange) };
      break;
    case 'SRV':
      data = { ...d, target: n(d.target) };
      break;
    case 'SOA':
      data = { ...d, mname: n(d.mname), rname: n(d.rname) };
      break;
    default:
      break;
  }
  return { name: n(rr.name), type: rr.type, ttl: rr.ttl, data };
}

export type XfrStep = { done: false } | { done: true; outcome: XfrOutcome } | { done: true; error: string };

/**
 * Reads the answer records of an AXFR or IXFR response, message by message (RFC 1995 §4,
 * RFC 5936 §2.2). For IXFR, `clientSerial` is the serial the request carried: a second
 * record that is an SOA with that serial starts the differences; anything else is a
 * full zone in AXFR form.
 */
export class XfrReader {
  private state: 'start' | 'second' | 'full' | 'deletes' | 'adds' | 'done' = 'start';
  private soa: ZoneRecord | undefined;
  private readonly records: ZoneRecord[] = [];
  private readonly diffs: XfrDiff[] = [];
  private diff: XfrDiff | undefined;
  private readonly zone: string;
  messages = 0;
  recordCount = 0;

  constructor(zone: string, private readonly opts: { type: 'AXFR' | 'IXFR'; clientSerial?: number }) {
    this.zone = normalizeName(zone);
  }

  /** Feeds one response message (ID and peer already checked by the caller). */
  feed(msg: DnsMessage): XfrStep {
    this.messages++;
    const h = msg.header;
    if (!h.qr || h.opcode !== Opcode.QUERY) return this.fail('the primary sent something that is not a query response');
    if (h.rcode !== RCode.NOERROR) return this.fail(`the primary answered ${rcodeName(h.rcode)}`);
    if (this.messages === 1 && msg.answers.length === 0) return this.fail('the primary answered with no records (expected the zone SOA first)');
    for (const rr of msg.answers) {
      if (this.state === 'done') return this.fail('records after the closing SOA');
      if (rr.class !== RRClass.IN) return this.fail(`record ${rr.name} has class ${rr.class}, not IN`);
      const r = canonicalRecord(rr);
      this.recordCount++;
      const err = this.step(r);
      if (err) return this.fail(err);
    }
    if (this.state === 'done') return this.finish();
    if (this.state === 'second' && this.opts.type === 'IXFR') {
      // A single SOA in the whole response: the secondary is up to date (RFC 1995 §4).
      return this.finish();
    }
    return { done: false };
  }

  private step(r: ZoneRecord): string | undefined {
    const isSoa = r.type === RRType.SOA;
    switch (this.state) {
      case 'start':
        if (!isSoa || r.name !== this.zone) return `the first record is ${r.name} type ${r.type}, not the SOA of ${this.zone}`;
        this.soa = r;
        this.state = 'second';
        return undefined;
      case 'second': {
        const server = soaSerial(this.soa!);
        if (isSoa && this.opts.type === 'IXFR' && this.opts.clientSerial !== undefined && soaSerial(r) === this.opts.clientSerial && server !== this.opts.clientSerial) {
          this.diff = { from: r, deletes: [], to: r, adds: [] };
          this.state = 'deletes';
          return undefined;
        }
        this.state = 'full';
        return this.step(r);
      }
      case 'full':
        if (isSoa) {
          if (soaSerial(r) !== soaSerial(this.soa!)) return `the closing SOA has serial ${soaSerial(r)}, the opening one ${soaSerial(this.soa!)}`;
          this.state = 'done';
          return undefined;
        }
        this.records.push(r);
        return undefined;
      case 'deletes':
        if (isSoa) {
          this.diff!.to = r;
          this.state = 'adds';
          return undefined;
        }
        this.diff!.deletes.push(r);
        return undefined;
      case 'adds': {
        if (!isSoa) {
          this.diff!.adds.push(r);
          return undefined;
        }
        const d = this.diff!;
        const server = soaSerial(this.soa!);
        this.diffs.push(d);
        if (soaSerial(r) === server && soaSerial(d.to) === server) {
          this.state = 'done';
          return undefined;
        }
        if (soaSerial(r) !== soaSerial(d.to)) return `a difference starts at serial ${soaSerial(r)}, but the previous one ended at ${soaSerial(d.to)}`;
        this.diff = { from: r, deletes: [], to: r, adds: [] };
        this.state = 'deletes';
        return undefined;
      }
      case 'done':
        return 'records after the closing SOA';
    }
  }

  private finish(): XfrStep {
    const soa = this.soa!;
    if (this.state === 'second') return { done: true, outcome: { kind: 'up-to-date', soa } };
    if (this.diffs.length > 0) return { done: true, outcome: { kind: 'incremental', soa, diffs: this.diffs } };
    return { done: true, outcome: { kind: 'full', soa, records: this.records } };
  }

  private fail(error: string): XfrStep {
    this.state = 'done';
    return { done: true, error };
  }
}

const RCODE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(RCode).map(([k, v]) => [v, k]));

export function rcodeName(rcode: number): string {
  return RCODE_NAMES[rcode] ?? `RCODE ${rcode}`;
}
