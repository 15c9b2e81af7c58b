/**
 * DNS message encoder with name compression (RFC 1035 §4.1.4) and truncation
 * (RFC 2181 §9, RFC 6891 §7). Throws WireEncodeError when given a value that cannot be
 * put on the wire: those are programming or configuration errors, not packet errors.
 */
import { LABEL_STARTS, NAME_WIRE, labelCount, parseNameText } from './name.ts';
import { parseIPv4, parseIPv6 } from './ip.ts';
import {
  RDATA_KIND_TYPE,
  RRType,
  WireEncodeError,
  type DnsMessage,
  type Edns,
  type Rdata,
  type ResourceRecord,
} from './types.ts';

export interface EncodeOptions {
  /** Compress names (default true). Only owner names, questions and the RDATA names of RFC 1035 types are compressed (RFC 3597 §4). */
  compress?: boolean;
  /**
   * Largest message to produce, e.g. 512 or the client's EDNS UDP size. Records that do
   * not fit are dropped whole RRset by whole RRset; the question and the OPT record are
   * always kept. TC is set when answer or authority records were dropped; dropping only
   * additional records does not set TC (RFC 2181 §9).
   */
  maxSize?: number;
}

const NAME_WIRE_BUF = Buffer.from(NAME_WIRE.buffer, NAME_WIRE.byteOffset, NAME_WIRE.byteLength);

function check(ok: boolean, what: string): void {
  if (!ok) throw new WireEncodeError(what);
}
function isU(v: unknown, bits: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < 2 ** bits;
}

/** A growable output buffer plus the compression table for one message. */
export class WireWriter {
  buf: Uint8Array;
  pos = 0;
  private readonly table = new Map<string, number>();
  private readonly added: string[] = [];
  constructor(
    size = 512,
    private readonly compress = true,
  ) {
    this.buf = new Uint8Array(size);
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }
  u16(v: number): void {
    this.ensure(2);
    this.buf[this.pos++] = v >>> 8;
    this.buf[this.pos++] = v & 0xff;
  }
  u32(v: number): void {
    this.ensure(4);
    this.buf[this.pos++] = v >>> 24;
    this.buf[this.pos++] = (v >>> 16) & 0xff;
    this.buf[this.pos++] = (v >>> 8) & 0xff;
    this.buf[this.pos++] = v & 0xff;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  setU16(at: number, v: number): void {
    this.buf[at] = v >>> 8;
    this.buf[at + 1] = v & 0xff;
  }

  /**
   * Writes a name given in text form. `pointer`: may this name end in a compression
   * pointer. Suffixes are matched byte for byte, so the case on the wire is exactly the
   * case the caller gave (0x20-randomised queries keep their case).
   */
  name(text: string, pointer: boolean): void {
    const wl = parseNameText(text);
    if (typeof wl !== 'number') throw new WireEncodeError(`cannot encode ${wl.message}`);
    const useTable = this.compress;
    this.ensure(wl);
    const start = this.pos;
    let i = 0;
    let target = -1;
    if (useTable) {
      for (; i < labelCount; i++) {
        const key = NAME_WIRE_BUF.toString('latin1', LABEL_STARTS[i]!, wl - 1);
        const hit = this.table.get(key);
        if (hit !== undefined && pointer) {
          target = hit;
          break;
        }
        if (hit === undefined && start + LABEL_STARTS[i]! < 0x4000) {
          this.table.set(key, start + LABEL_STARTS[i]!);
          this.added.push(key);
        }
      }
    }
    if (target >= 0) {
      const upto = i < labelCount ? LABEL_STARTS[i]! : wl - 1;
      this.buf.set(NAME_WIRE.subarray(0, upto), this.pos);
      this.pos += upto;
      this.buf[this.pos++] = 0xc0 | (target >> 8);
      this.buf[this.pos++] = target & 0xff;
    } else {
      this.buf.set(NAME_WIRE.subarray(0, wl), this.pos);
      this.pos += wl;
    }
  }

  /** Undoes everything written from `at` on, including compression targets recorded there. */
  rollback(at: number): void {
    this.pos = at;
    while (this.added.length > 0) {
      const key = this.added[this.added.length - 1]!;
      if (this.table.get(key)! < at) break;
      this.table.delete(key);
      this.added.pop();
    }
  }
}

function writeRdata(w: WireWriter, rr: ResourceRecord): void {
  const d = rr.data;
  if (d.kind !== 'raw') {
    check(
      RDATA_KIND_TYPE[d.kind] === rr.type,
      `record "${rr.name}" has type ${rr.type} but ${d.kind} RDATA; use kind 'raw' or type ${RDATA_KIND_TYPE[d.kind]}`,
    );
  }
  writeRdataBody(w, d, rr.name);
}

export function writeRdataBody(w: WireWriter, d: Rdata, owner: string): void {
  switch (d.kind) {
    case 'A':
      w.ensure(4);
      check(parseIPv4(d.address, w.buf, w.pos), `A record "${owner}": "${d.address}" is not an IPv4 address`);
      w.pos += 4;
      return;
    case 'AAAA':
      w.ensure(16);
      check(parseIPv6(d.address, w.buf, w.pos), `AAAA record "${owner}": "${d.address}" is not an IPv6 address`);
      w.pos += 16;
      return;
    case 'NS':
      return w.name(d.nsdname, true);
    case 'CNAME':
      return w.name(d.cname, true);
    case 'PTR':
      return w.name(d.ptrdname, true);
    case 'DNAME':
      // RFC 6672 §2.5: the DNAME target must not be compressed.
      return w.name(d.target, false);
    case 'MX':
      check(isU(d.preference, 16), `MX record "${owner}": preference ${d.preference} is not 0-65535`);
      w.u16(d.preference);
      return w.name(d.exchange, true);
    case 'SOA':
      w.name(d.mname, true);
      w.name(d.rname, true);
      for (const [k, v] of [
        ['serial', d.serial],
        ['refresh', d.refresh],
        ['retry', d.retry],
        ['expire', d.expire],
        ['minimum', d.minimum],
      ] as const) {
        check(isU(v, 32), `SOA record "${owner}": ${k} ${v} is not an unsigned 32-bit number`);
        w.u32(v);
      }
      return;
    case 'SRV':
      check(isU(d.priority, 16) && isU(d.weight, 16) && isU(d.port, 16), `SRV record "${owner}": priority, weight and port must be 0-65535`);
      w.u16(d.priority);
      w.u16(d.weight);
      w.u16(d.port);
      // RFC 2782: the target is not compressed.
      return w.name(d.target, false);
    case 'TXT':
      check(d.strings.length > 0, `TXT record "${owner}": needs at least one character-string (RFC 1035 §3.3.14)`);
      for (const s of d.strings) {
        check(s.length <= 255, `TXT record "${owner}": a character-string holds at most 255 octets, got ${s.length}`);
        w.u8(s.length);
        w.bytes(s);
      }
      return;
    case 'CAA': {
      check(isU(d.flags, 8), `CAA record "${owner}": flags ${d.flags} is not 0-255`);
      check(d.tag.length >= 1 && d.tag.length <= 255, `CAA record "${owner}": tag must be 1-255 characters`);
      w.u8(d.flags);
      w.u8(d.tag.length);
      w.ensure(d.tag.length);
      for (let i = 0; i < d.tag.length; i++) {
        const c = d.tag.charCodeAt(i);
        check(c <= 0xff, `CAA record "${owner}": tag "${d.tag}" has a character above U+00FF`);
        w.buf[w.pos++] = c;
      }
      w.bytes(d.value);
      return;
    }
    case 'raw':
      w.bytes(d.bytes);
      return;
  }
}

export function writeRecord(w: WireWriter, rr: ResourceRecord): void {
  check(isU(rr.type, 16) && isU(rr.class, 16), `record "${rr.name}": type and class must be 0-65535`);
  check(isU(rr.ttl, 32), `record "${rr.name}": TTL ${rr.ttl} is not an unsigned 32-bit number`);
  check(rr.type !== RRType.OPT, `record "${rr.name}": put the OPT record in DnsMessage.edns, not in a section`);
  w.name(rr.name, true);
  w.u16(rr.type);
  w.u16(rr.class);
  w.u32(rr.ttl);
  const lenAt = w.pos;
  w.u16(0);
  writeRdata(w, rr);
  const rdlen = w.pos - lenAt - 2;
  check(rdlen <= 0xffff, `record "${rr.name}": RDATA of ${rdlen} octets exceeds 65535`);
  w.setU16(lenAt, rdlen);
}

export function ednsSize(e: Edns): number {
  let n = 11;
  for (const o of e.options) n += 4 + o.data.length;
  return n;
}

function writeOpt(w: WireWriter, e: Edns, rcode: number): void {
  check(isU(e.udpSize, 16), `EDNS UDP size ${e.udpSize} is not 0-65535`);
  check(isU(e.version, 8), `EDNS version ${e.version} is not 0-255`);
  const z = e.z ?? 0;
  check(isU(z, 15), `EDNS flags ${z} do not fit the 15 bits after DO`);
  w.u8(0);
  w.u16(RRType.OPT);
  w.u16(e.udpSize);
  w.u8(rcode >>> 4);
  w.u8(e.version);
  w.u16((e.do ? 0x8000 : 0) | z);
  const lenAt = w.pos;
  w.u16(0);
  for (const o of e.options) {
    check(isU(o.code, 16) && o.data.length <= 0xffff, `EDNS option ${o.code}: code or length out of range`);
    w.u16(o.code);
    w.u16(o.data.length);
    w.bytes(o.data);
  }
  const rdlen = w.pos - lenAt - 2;
  check(rdlen <= 0xffff, `OPT RDATA of ${rdlen} octets exceeds 65535`);
  w.setU16(lenAt, rdlen);
}

function sameRRset(a: ResourceRecord, b: ResourceRecord): boolean {
  return a.type === b.type && a.class === b.class && a.name.toLowerCase() === b.name.toLowerCase();
}

export function encodeMessage(msg: DnsMessage, opts: EncodeOptions = {}): Uint8Array {
  const h = msg.header;
  const maxSize = opts.maxSize ?? Infinity;
  check(isU(h.id, 16), `message id ${h.id} is not 0-65535`);
  check(isU(h.opcode, 4), `opcode ${h.opcode} is not 0-15`);
  check(isU(h.rcode, 12), `rcode ${h.rcode} is not 0-4095`);
  check(h.rcode < 16 || msg.edns !== undefined, `rcode ${h.rcode} needs an OPT record (msg.edns) to carry its upper bits (RFC 6891 §6.1.3)`);
  for (const [name, list] of [
    ['questions', msg.questions],
    ['answers', msg.answers],
    ['authority', msg.authority],
    ['additional', msg.additional],
  ] as const) {
    check(list.length + (name === 'additional' && msg.edns ? 1 : 0) <= 0xffff, `too many ${name}: ${list.length}`);
  }

  const w = new WireWriter(512, opts.compress ?? true);
  w.ensure(12);
  w.pos = 12;
  for (const q of msg.questions) {
    check(isU(q.type, 16) && isU(q.class, 16), `question "${q.name}": type and class must be 0-65535`);
    w.name(q.name, true);
    w.u16(q.type);
    w.u16(q.class);
  }

  // TSIG and SIG(0) must stay last (RFC 8945 §5.1, RFC 2931 §3), after the OPT record.
  const add = msg.additional;
  let tail = add.length;
  while (tail > 0 && (add[tail - 1]!.type === RRType.TSIG || add[tail - 1]!.type === 24)) tail--;
  const reserve = msg.edns ? ednsSize(msg.edns) : 0;
  const counts = [0, 0, 0];
  let tc = h.tc;
  let full = false;
  const sections = [msg.answers, msg.authority, add.slice(0, tail)] as const;
  for (let s = 0; s < 3 && !full; s++) {
    const list = sections[s]!;
    let setStart = w.pos;
    let setCount = 0;
    for (let i = 0; i < list.length; i++) {
      const rr = list[i]!;
      if (i > 0 && !sameRRset(list[i - 1]!, rr)) {
        setStart = w.pos;
        setCount = 0;
      }
      writeRecord(w, rr);
      if (w.pos + reserve > maxSize) {
        w.rollback(setStart);
        counts[s] = counts[s]! - setCount;
        if (s < 2) tc = true;
        full = true;
        break;
      }
      counts[s]!++;
      setCount++;
    }
  }
  if (msg.edns) {
    writeOpt(w, msg.edns, h.rcode);
    counts[2]!++;
  }
  if (!full) {
    for (let i = tail; i < add.length; i++) {
      const at = w.pos;
      writeRecord(w, add[i]!);
      if (w.pos > maxSize) {
        w.rollback(at);
        break;
      }
      counts[2]!++;
    }
  }

  const b = w.buf;
  w.setU16(0, h.id);
  b[2] = (h.qr ? 0x80 : 0) | (h.opcode << 3) | (h.aa ? 4 : 0) | (tc ? 2 : 0) | (h.rd ? 1 : 0);
  b[3] = (h.ra ? 0x80 : 0) | (h.z ? 0x40 : 0) | (h.ad ? 0x20 : 0) | (h.cd ? 0x10 : 0) | (h.rcode & 0x0f);
  w.setU16(4, msg.questions.length);
  w.setU16(6, counts[0]!);
  w.setU16(8, counts[1]!);
  w.setU16(10, counts[2]!);
  return b.slice(0, w.pos);
}
