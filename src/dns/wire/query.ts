/**
 * Hot path for a forwarder: read what policy needs from a query without decoding the
 * whole message, and answer it by copying the query's header and question (RFC 1035
 * §4.1.1: ID and question are echoed; the question keeps the case it was sent with, so
 * 0x20-randomising clients accept the answer).
 */
import { nameEnd, readName } from './name.ts';
import { WireWriter, writeRdataBody } from './encode.ts';
import {
  EdnsOptionCode,
  RDATA_KIND_TYPE,
  RRClass,
  RRType,
  WireEncodeError,
  wireError,
  type Rdata,
  type WireError,
  type WireResult,
} from './types.ts';

export interface QueryInfo {
  id: number;
  opcode: number;
  rd: boolean;
  cd: boolean;
  /** Query name lower-cased (ASCII only, RFC 4343), in the text form of name.ts: the key for policy lookups. */
  qname: string;
  qtype: number;
  qclass: number;
  /** Offset just past the question: header + question are buf[0, questionEnd). */
  questionEnd: number;
  /** The query carries an OPT record (EDNS). */
  edns: boolean;
  /** The client's advertised UDP payload size as sent (0 without EDNS); RFC 6891 §6.2.5 says treat < 512 as 512. */
  udpSize: number;
  do: boolean;
  ednsVersion: number;
}

// Results of the last scan, kept in module variables so that makeResponseFromQuery can
// scan without allocating.
let sEnd = 0;
let sType = 0;
let sClass = 0;
let sEdns = false;
let sUdp = 0;
let sDo = false;
let sVer = 0;
let sName = '';

/**
 * Validates a query: header, exactly one question, then any records (an OPT in the
 * additional section is read; others are only checked for framing), no trailing bytes.
 * Returns null or the error. The message is buf[0, len).
 */
function scanQuery(buf: Uint8Array, wantName: boolean, len = buf.length): WireError | null {
  if (len < 12) return wireError('TRUNCATED', len, `a DNS message needs a 12-byte header, got ${len} bytes`);
  if ((buf[2]! & 0x80) !== 0) return wireError('NOT_A_QUERY', 2, 'QR is set: this is a response, not a query');
  if (buf[4] !== 0 || buf[5] !== 1) {
    return wireError('BAD_QUESTION_COUNT', 4, `a query must have exactly one question, this one has ${(buf[4]! << 8) | buf[5]!}`);
  }
  let p: number;
  if (wantName) {
    const n = readName(buf, 12, true, 12, len);
    if (typeof n !== 'string') return n;
    sName = n;
    p = nameEnd;
  } else {
    // Only the end of the name is needed; the checks are those of readName for a name
    // at offset 12, where no compression pointer can be valid.
    p = 12;
    for (;;) {
      if (p >= len) return wireError('TRUNCATED', p, 'question name runs past the end of the packet');
      const l = buf[p]!;
      if (l === 0) break;
      if (l > 63) {
        const r = readName(buf, 12, false, 12, len);
        return typeof r === 'string' ? wireError('BAD_POINTER', p, 'unexpected label') : r;
      }
      p += l + 1;
      if (p - 12 > 254) return wireError('NAME_TOO_LONG', 12, 'question name is longer than 255 octets');
    }
    p++;
  }
  if (p + 4 > len) return wireError('TRUNCATED', p, `question is cut off at offset ${p} (needs type and class)`);
  sType = (buf[p]! << 8) | buf[p + 1]!;
  sClass = (buf[p + 2]! << 8) | buf[p + 3]!;
  p += 4;
  sEnd = p;
  sEdns = false;
  sUdp = 0;
  sDo = false;
  sVer = 0;
  const anns = ((buf[6]! << 8) | buf[7]!) + ((buf[8]! << 8) | buf[9]!);
  const total = anns + ((buf[10]! << 8) | buf[11]!);
  for (let k = 0; k < total; k++) {
    const at = p;
    let root: boolean;
    if (p < len && buf[p] === 0) {
      root = true;
      p++;
    } else {
      const r = readName(buf, p, false, 12, len);
      if (typeof r !== 'string') return r;
      root = r === '.';
      p = nameEnd;
    }
    if (p + 10 > len) return wireError('TRUNCATED', p, `record at offset ${at} is cut off (needs type, class, TTL and RDLENGTH)`);
    const rdlen = (buf[p + 8]! << 8) | buf[p + 9]!;
    const rdEnd = p + 10 + rdlen;
    if (rdEnd > len) return wireError('TRUNCATED', p + 10, `RDATA of ${rdlen} octets at offset ${p + 10} runs past the end of the ${len}-byte packet`);
    if (buf[p] === 0 && buf[p + 1] === RRType.OPT) {
      if (k < anns) return wireError('BAD_OPT', at, `OPT record at offset ${at} outside the additional section (RFC 6891 §6.1.1)`);
      if (sEdns) return wireError('BAD_OPT', at, `second OPT record at offset ${at} (RFC 6891 §6.1.1 allows one)`);
      if (!root) return wireError('BAD_OPT', at, `OPT record at offset ${at} has an owner other than the root`);
      for (let o = p + 10; o < rdEnd; ) {
        if (o + 4 > rdEnd) return wireError('BAD_OPT', o, `EDNS option header at offset ${o} runs past the end of the OPT RDATA`);
        o += 4 + ((buf[o + 2]! << 8) | buf[o + 3]!);
        if (o > rdEnd) return wireError('BAD_OPT', o, `an EDNS option runs past the end of the OPT RDATA at ${rdEnd}`);
      }
      sEdns = true;
      sUdp = (buf[p + 2]! << 8) | buf[p + 3]!;
      sVer = buf[p + 5]!;
      sDo = (buf[p + 6]! & 0x80) !== 0;
    }
    p = rdEnd;
  }
  if (p !== len) return wireError('TRAILING_DATA', p, `${len - p} byte(s) after the last record (offset ${p} of ${len})`);
  return null;
}

/**
 * Reads a query for policy: one question, lower-cased qname, EDNS facts. Checks framing
 * of the whole packet but does not decode RDATA; agrees with decodeMessage on every
 * query decodeMessage accepts. Never throws.
 */
export function readQuery(buf: Uint8Array): WireResult<QueryInfo> {
  const value = emptyQueryInfo();
  const e = readQueryInto(buf, value);
  return e === null ? { ok: true, value } : { ok: false, error: e };
}

/**
 * readQuery into an object the caller reuses for every query (a server's hot path: no
 * allocation but the qname). The query is buf[0, len): a server may read it where it
 * arrived, in a buffer longer than the message. Returns null, or the error (`out` then
 * holds nothing useful).
 */
export function readQueryInto(buf: Uint8Array, out: QueryInfo, len = buf.length): WireError | null {
  const e = scanQuery(buf, true, len);
  if (e !== null) return e;
  out.id = (buf[0]! << 8) | buf[1]!;
  out.opcode = (buf[2]! >> 3) & 0x0f;
  out.rd = (buf[2]! & 1) !== 0;
  out.cd = (buf[3]! & 0x10) !== 0;
  out.qname = sName;
  out.qtype = sType;
  out.qclass = sClass;
  out.questionEnd = sEnd;
  out.edns = sEdns;
  out.udpSize = sUdp;
  out.do = sDo;
  out.ednsVersion = sVer;
  return null;
}

/** A QueryInfo to fill with readQueryInto. */
export function emptyQueryInfo(): QueryInfo {
  return { id: 0, opcode: 0, rd: false, cd: false, qname: '', qtype: 0, qclass: 0, questionEnd: 0, edns: false, udpSize: 0, do: false, ednsVersion: 0 };
}

/** Records pre-encoded once (e.g. per policy rule) and appended to many responses. */
export interface CompiledRecords {
  readonly bytes: Uint8Array;
  readonly count: number;
}

export interface LocalRecord {
  /** Owner name; omitted means the query name (written as a pointer to the question). */
  name?: string;
  type: number;
  /** Default IN. */
  class?: number;
  ttl: number;
  data: Rdata;
}

/**
 * Encodes records for makeResponseFromQuery, e.g. the warning page's A/AAAA or a CNAME
 * to it (RPZ local data). Throws WireEncodeError on invalid records (a config error).
 */
export function compileRecords(records: readonly LocalRecord[]): CompiledRecords {
  // No compression table: the block is pasted after questions of any length.
  const w = new WireWriter(64, false);
  for (const r of records) {
    if (r.data.kind !== 'raw' && RDATA_KIND_TYPE[r.data.kind] !== r.type) {
      throw new WireEncodeError(`local record of type ${r.type} has ${r.data.kind} RDATA`);
    }
    if (!(Number.isInteger(r.ttl) && r.ttl >= 0 && r.ttl <= 0xffffffff)) throw new WireEncodeError(`local record TTL ${r.ttl} is not an unsigned 32-bit number`);
    if (r.name === undefined) w.u16(0xc00c);
    else w.name(r.name, false);
    w.u16(r.type);
    w.u16(r.class ?? RRClass.IN);
    w.u32(r.ttl);
    const lenAt = w.pos;
    w.u16(0);
    writeRdataBody(w, r.data, r.name ?? '(query name)');
    w.setU16(lenAt, w.pos - lenAt - 2);
  }
  if (records.length > 0xffff) throw new WireEncodeError('too many local records');
  return { bytes: w.buf.slice(0, w.pos), count: records.length };
}

export interface ResponseOptions {
  /** The readQuery result for this query, to skip scanning it again. */
  info?: QueryInfo;
  answers?: CompiledRecords;
  authority?: CompiledRecords;
  /** Default false: policy answers are not authoritative data. */
  aa?: boolean;
  /** Default true: we are a recursive service. */
  ra?: boolean;
  /** Set TC (e.g. the RPZ TCP-only action on UDP). Default false. */
  tc?: boolean;
  /** UDP payload size advertised in our OPT (only when the query had one). Default 1232. */
  udpSize?: number;
  /** Pre-encoded EDNS options for our OPT, e.g. extendedError(15, 'blocked'). */
  ednsOptions?: Uint8Array;
}

const EMPTY = new Uint8Array(0);

/**
 * Builds an answer from the query: header and question copied (ID, opcode, RD, CD and
 * the question's case kept), QR and RA set, AD cleared (a policy answer is not
 * validated data), rcode set, then `answers`, `authority` and, if the query had an OPT,
 * an OPT of our own with the DO bit echoed (RFC 3225 §3) and the rcode's upper bits.
 * Without an OPT only the low 4 bits of `rcode` can be sent. NODATA is NOERROR with no
 * answers. Returns undefined when the query is not a valid single-question query; check
 * it with readQuery first (or answer it with makeHeaderOnlyResponse).
 */
export function makeResponseFromQuery(query: Uint8Array, rcode: number, opts?: ResponseOptions): Uint8Array | undefined {
  return buildResponse(query, rcode, opts, opts?.answers);
}

// Separate from makeResponseFromQuery so makeLocalDataResponse need not copy `opts`:
// an object spread per query cost ~5 us here (measured; see README).
function buildResponse(query: Uint8Array, rcode: number, opts: ResponseOptions | undefined, answers: CompiledRecords | undefined): Uint8Array | undefined {
  const info = opts?.info;
  if (info === undefined && scanQuery(query, false) !== null) return undefined;
  // Buffer.allocUnsafe takes small buffers from a pool.
  const out = Buffer.allocUnsafe(responseSize(info === undefined ? sEnd : info.questionEnd, info === undefined ? sEdns : info.edns, opts, answers));
  fillResponse(query, rcode, opts, answers, out, 0);
  return out;
}

function responseSize(qEnd: number, edns: boolean, opts: ResponseOptions | undefined, answers: CompiledRecords | undefined): number {
  return qEnd + (answers?.bytes.length ?? 0) + (opts?.authority?.bytes.length ?? 0) + (edns ? 11 + (opts?.ednsOptions?.length ?? 0) : 0);
}

/** The length makeResponseFromQuery(query, rcode, opts) would have; `opts.info` is required. */
export function responseLength(opts: ResponseOptions & { info: QueryInfo }): number {
  return responseSize(opts.info.questionEnd, opts.info.edns, opts, opts.answers);
}

/**
 * makeResponseFromQuery written into `out` at `at` (e.g. a socket's send buffer: no
 * allocation, no second copy); `opts.info` is required and out must have
 * responseLength(opts) bytes there. Returns that length.
 */
export function writeResponseFromQuery(query: Uint8Array, rcode: number, opts: ResponseOptions & { info: QueryInfo }, out: Uint8Array, at: number): number {
  return fillResponse(query, rcode, opts, opts.answers, out, at) - at;
}

/** Writes the response at out[at..]; returns the offset past it. The query was scanned (opts.info, or the module's last scan). */
function fillResponse(query: Uint8Array, rcode: number, opts: ResponseOptions | undefined, answers: CompiledRecords | undefined, out: Uint8Array, at: number): number {
  let qEnd: number;
  let edns: boolean;
  let dob: boolean;
  const info = opts?.info;
  if (info !== undefined) {
    qEnd = info.questionEnd;
    edns = info.edns;
    dob = info.do;
  } else {
    qEnd = sEnd;
    edns = sEdns;
    dob = sDo;
  }
  const ans = answers?.bytes ?? EMPTY;
  const auth = opts?.authority?.bytes ?? EMPTY;
  const eopts = opts?.ednsOptions ?? EMPTY;
  // A byte loop beats set(subarray()) for the few dozen bytes of a question (measured; see README).
  for (let i = 0; i < qEnd; i++) out[at + i] = query[i]!;
  out[at + 2] = 0x80 | (query[2]! & 0x79) | (opts?.aa === true ? 0x04 : 0) | (opts?.tc === true ? 0x02 : 0);
  out[at + 3] = (opts?.ra === false ? 0 : 0x80) | (query[3]! & 0x10) | (rcode & 0x0f);
  const an = answers?.count ?? 0;
  const ns = opts?.authority?.count ?? 0;
  out[at + 4] = 0;
  out[at + 5] = 1;
  out[at + 6] = an >> 8;
  out[at + 7] = an & 0xff;
  out[at + 8] = ns >> 8;
  out[at + 9] = ns & 0xff;
  out[at + 10] = 0;
  out[at + 11] = edns ? 1 : 0;
  let p = at + qEnd;
  // Whole arrays: set() is one memmove (no subarray object); the byte loop cost ~4 ns a byte here.
  if (ans.length > 0) out.set(ans, p);
  p += ans.length;
  if (auth.length > 0) out.set(auth, p);
  p += auth.length;
  if (edns) {
    const udp = opts?.udpSize ?? 1232;
    out[p] = 0;
    out[p + 1] = 0;
    out[p + 2] = RRType.OPT;
    out[p + 3] = udp >> 8;
    out[p + 4] = udp & 0xff;
    out[p + 5] = (rcode >> 4) & 0xff;
    out[p + 6] = 0;
    out[p + 7] = dob ? 0x80 : 0;
    out[p + 8] = 0;
    out[p + 9] = eopts.length >> 8;
    out[p + 10] = eopts.length & 0xff;
    if (eopts.length > 0) out.set(eopts, p + 11);
    p += 11 + eopts.length;
  }
  return p;
}

/** NOERROR with local-data answers (RPZ local data: A/AAAA of the warning page, or a CNAME to it). */
export function makeLocalDataResponse(
  query: Uint8Array,
  answers: CompiledRecords,
  opts?: Omit<ResponseOptions, 'answers'>,
): Uint8Array | undefined {
  return buildResponse(query, 0, opts, answers);
}

/**
 * For queries that cannot be parsed: the 12-byte header with ID, opcode and RD copied,
 * QR set, every count zero (e.g. FORMERR, RFC 1035 §4.1.1). Undefined under 12 bytes.
 */
export function makeHeaderOnlyResponse(query: Uint8Array, rcode: number): Uint8Array | undefined {
  if (query.length < 12) return undefined;
  const out = new Uint8Array(12);
  out[0] = query[0]!;
  out[1] = query[1]!;
  out[2] = 0x80 | (query[2]! & 0x79);
  out[3] = 0x80 | (rcode & 0x0f);
  return out;
}

/** One EDNS option, encoded for ResponseOptions.ednsOptions (concatenate several). */
export function encodeEdnsOption(code: number, data: Uint8Array): Uint8Array {
  if (data.length > 0xffff || !(code >= 0 && code <= 0xffff)) throw new WireEncodeError(`EDNS option ${code}: code or length out of range`);
  const out = new Uint8Array(4 + data.length);
  out[0] = code >> 8;
  out[1] = code & 0xff;
  out[2] = data.length >> 8;
  out[3] = data.length & 0xff;
  out.set(data, 4);
  return out;
}

/** Extended DNS Error option (RFC 8914), e.g. 15 Blocked, 16 Censored, 17 Filtered. */
export function extendedError(infoCode: number, extraText = ''): Uint8Array {
  const text = new TextEncoder().encode(extraText);
  const data = new Uint8Array(2 + text.length);
  data[0] = infoCode >> 8;
  data[1] = infoCode & 0xff;
  data.set(text, 2);
  return encodeEdnsOption(EdnsOptionCode.EXTENDED_ERROR, data);
}
