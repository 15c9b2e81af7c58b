/**
 * Full DNS message decoder (RFC 1035 §4, RFC 6891 for OPT). Pure, never throws: every
 * malformed input yields a WireError naming the problem and its byte offset.
 */
import { nameEnd, readName } from './name.ts';
import { formatIPv4, formatIPv6 } from '../../core/ip.ts';
import {
  RRClass,
  RRType,
  wireError,
  type DnsMessage,
  type DnsQuestion,
  type Edns,
  type EdnsOption,
  type Rdata,
  type ResourceRecord,
  type WireError,
  type WireResult,
} from './types.ts';

const HEADER = 12;

function u16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
function u32(b: Uint8Array, o: number): number {
  return b[o]! * 0x1000000 + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
}

/** A copy, always a plain Uint8Array: Buffer#slice would alias a buffer the caller reuses. */
function copy(b: Uint8Array, from: number, to: number): Uint8Array {
  const out = new Uint8Array(to - from);
  out.set(b.subarray(from, to));
  return out;
}

function fail(e: WireError): { ok: false; error: WireError } {
  return { ok: false, error: e };
}

/** A name inside RDATA: pointers allowed, but the inline part must end inside the RDATA. */
function rdataName(buf: Uint8Array, off: number, rdEnd: number, what: string): string | WireError {
  const r = readName(buf, off, false, HEADER);
  if (typeof r !== 'string') return r;
  if (nameEnd > rdEnd) return wireError('BAD_RDATA', off, `${what} at offset ${off} runs past the end of its RDATA (offset ${rdEnd})`);
  return r;
}

function bad(type: number, off: number, why: string): WireError {
  return wireError('BAD_RDATA', off, `RDATA of type ${type} at offset ${off}: ${why}`);
}

function decodeRdata(buf: Uint8Array, type: number, klass: number, off: number, rdlen: number): Rdata | WireError {
  const end = off + rdlen;
  // Class NONE/ANY carry UPDATE semantics (RFC 2136 §2.4): empty or foreign RDATA.
  if (klass === RRClass.NONE || klass === RRClass.ANY) return { kind: 'raw', bytes: copy(buf, off, end) };
  switch (type) {
    case RRType.A:
      if (klass !== RRClass.IN) break;
      if (rdlen !== 4) return bad(type, off, `an A record holds 4 octets, not ${rdlen}`);
      return { kind: 'A', address: formatIPv4(buf, off) };
    case RRType.AAAA:
      if (klass !== RRClass.IN) break;
      if (rdlen !== 16) return bad(type, off, `an AAAA record holds 16 octets, not ${rdlen}`);
      return { kind: 'AAAA', address: formatIPv6(buf, off) };
    case RRType.NS:
    case RRType.CNAME:
    case RRType.PTR:
    case RRType.DNAME: {
      const n = rdataName(buf, off, end, 'name');
      if (typeof n !== 'string') return n;
      if (nameEnd !== end) return bad(type, off, `${end - nameEnd} octet(s) after the name`);
      if (type === RRType.NS) return { kind: 'NS', nsdname: n };
      if (type === RRType.CNAME) return { kind: 'CNAME', cname: n };
      if (type === RRType.PTR) return { kind: 'PTR', ptrdname: n };
      return { kind: 'DNAME', target: n };
    }
    case RRType.MX: {
      if (rdlen < 3) return bad(type, off, `an MX record needs at least 3 octets, has ${rdlen}`);
      const n = rdataName(buf, off + 2, end, 'MX exchange');
      if (typeof n !== 'string') return n;
      if (nameEnd !== end) return bad(type, off, `${end - nameEnd} octet(s) after the exchange`);
      return { kind: 'MX', preference: u16(buf, off), exchange: n };
    }
    case RRType.SRV: {
      if (rdlen < 7) return bad(type, off, `an SRV record needs at least 7 octets, has ${rdlen}`);
      const n = rdataName(buf, off + 6, end, 'SRV target');
      if (typeof n !== 'string') return n;
      if (nameEnd !== end) return bad(type, off, `${end - nameEnd} octet(s) after the target`);
      return { kind: 'SRV', priority: u16(buf, off), weight: u16(buf, off + 2), port: u16(buf, off + 4), target: n };
    }
    case RRType.SOA: {
      const mname = rdataName(buf, off, end, 'SOA MNAME');
      if (typeof mname !== 'string') return mname;
      const rname = rdataName(buf, nameEnd, end, 'SOA RNAME');
      if (typeof rname !== 'string') return rname;
      const p = nameEnd;
      if (end - p !== 20) return bad(type, off, `SOA needs 20 octets of counters after the names, has ${end - p}`);
      return {
        kind: 'SOA',
        mname,
        rname,
        serial: u32(buf, p),
        refresh: u32(buf, p + 4),
        retry: u32(buf, p + 8),
        expire: u32(buf, p + 12),
        minimum: u32(buf, p + 16),
      };
    }
    case RRType.TXT: {
      if (rdlen === 0) return bad(type, off, 'TXT needs at least one character-string (RFC 1035 §3.3.14)');
      const strings: Uint8Array[] = [];
      let p = off;
      while (p < end) {
        const l = buf[p]!;
        if (p + 1 + l > end) return bad(type, p, `character-string of ${l} octets runs past the end of the RDATA`);
        strings.push(copy(buf, p + 1, p + 1 + l));
        p += 1 + l;
      }
      return { kind: 'TXT', strings };
    }
    case RRType.CAA: {
      if (rdlen < 2) return bad(type, off, `CAA needs at least 2 octets, has ${rdlen}`);
      const tagLen = buf[off + 1]!;
      if (tagLen === 0) return bad(type, off, 'CAA tag is empty (RFC 8659 §4.1)');
      if (off + 2 + tagLen > end) return bad(type, off, `CAA tag of ${tagLen} octets runs past the end of the RDATA`);
      let tag = '';
      for (let i = off + 2; i < off + 2 + tagLen; i++) tag += String.fromCharCode(buf[i]!);
      return { kind: 'CAA', flags: buf[off]!, tag, value: copy(buf, off + 2 + tagLen, end) };
    }
  }
  return { kind: 'raw', bytes: copy(buf, off, end) };
}

function decodeOptions(buf: Uint8Array, off: number, end: number): EdnsOption[] | WireError {
  const options: EdnsOption[] = [];
  let p = off;
  while (p < end) {
    if (p + 4 > end) return wireError('BAD_OPT', p, `EDNS option header at offset ${p} runs past the end of the OPT RDATA`);
    const code = u16(buf, p);
    const len = u16(buf, p + 2);
    if (p + 4 + len > end) return wireError('BAD_OPT', p, `EDNS option ${code} at offset ${p} claims ${len} octets, past the end of the OPT RDATA`);
    options.push({ code, data: copy(buf, p + 4, p + 4 + len) });
    p += 4 + len;
  }
  return options;
}

/** Decodes a whole DNS message. The result never aliases `buf`. */
export function decodeMessage(buf: Uint8Array): WireResult<DnsMessage> {
  const len = buf.length;
  if (len < HEADER) return fail(wireError('TRUNCATED', len, `a DNS message needs a 12-byte header, got ${len} bytes`));
  const f1 = buf[2]!;
  const f2 = buf[3]!;
  const counts = [u16(buf, 4), u16(buf, 6), u16(buf, 8), u16(buf, 10)] as const;
  let p = HEADER;

  const questions: DnsQuestion[] = [];
  for (let i = 0; i < counts[0]; i++) {
    const name = readName(buf, p, false, HEADER);
    if (typeof name !== 'string') return fail(name);
    p = nameEnd;
    if (p + 4 > len) return fail(wireError('TRUNCATED', p, `question ${i + 1} is cut off at offset ${p} (needs type and class)`));
    questions.push({ name, type: u16(buf, p), class: u16(buf, p + 2) });
    p += 4;
  }

  const sections: ResourceRecord[][] = [[], [], []];
  let edns: Edns | undefined;
  let extRcode = 0;
  for (let s = 0; s < 3; s++) {
    const out = sections[s]!;
    const count = counts[s + 1]!;
    for (let i = 0; i < count; i++) {
      const at = p;
      const name = readName(buf, p, false, HEADER);
      if (typeof name !== 'string') return fail(name);
      p = nameEnd;
      if (p + 10 > len) return fail(wireError('TRUNCATED', p, `record at offset ${at} is cut off (needs type, class, TTL and RDLENGTH)`));
      const type = u16(buf, p);
      const klass = u16(buf, p + 2);
      const ttl = u32(buf, p + 4);
      const rdlen = u16(buf, p + 8);
      p += 10;
      if (p + rdlen > len) return fail(wireError('TRUNCATED', p, `RDATA of ${rdlen} octets at offset ${p} runs past the end of the ${len}-byte packet`));
      if (type === RRType.OPT) {
        if (s !== 2) return fail(wireError('BAD_OPT', at, `OPT record at offset ${at} outside the additional section (RFC 6891 §6.1.1)`));
        if (edns !== undefined) return fail(wireError('BAD_OPT', at, `second OPT record at offset ${at} (RFC 6891 §6.1.1 allows one)`));
        if (name !== '.') return fail(wireError('BAD_OPT', at, `OPT record at offset ${at} has owner "${name}", must be the root`));
        const options = decodeOptions(buf, p, p + rdlen);
        if (!Array.isArray(options)) return fail(options);
        extRcode = ttl >>> 24;
        edns = { udpSize: klass, version: (ttl >>> 16) & 0xff, do: (ttl & 0x8000) !== 0, z: ttl & 0x7fff, options };
      } else {
        const data = decodeRdata(buf, type, klass, p, rdlen);
        if ('code' in data) return fail(data);
        out.push({ name, type, class: klass, ttl, data });
      }
      p += rdlen;
    }
  }
  if (p !== len) return fail(wireError('TRAILING_DATA', p, `${len - p} byte(s) after the last record (offset ${p} of ${len})`));

  const msg: DnsMessage = {
    header: {
      id: u16(buf, 0),
      qr: (f1 & 0x80) !== 0,
      opcode: (f1 >> 3) & 0x0f,
      aa: (f1 & 0x04) !== 0,
      tc: (f1 & 0x02) !== 0,
      rd: (f1 & 0x01) !== 0,
      ra: (f2 & 0x80) !== 0,
      z: (f2 & 0x40) !== 0,
      ad: (f2 & 0x20) !== 0,
      cd: (f2 & 0x10) !== 0,
      rcode: (extRcode << 4) | (f2 & 0x0f),
    },
    questions,
    answers: sections[0]!,
    authority: sections[1]!,
    additional: sections[2]!,
  };
  if (edns !== undefined) msg.edns = edns;
  return { ok: true, value: msg };
}
