/**
 * Master-file (zone file) reader, RFC 1035 §5.1, fed one line at a time so a 1 M-line
 * policy zone never sits in memory as text. Pure: the caller owns files; `$INCLUDE` is
 * handed back to it through the sink (the file adapter resolves it relative to the
 * including file, see load.ts).
 *
 * Supported: $ORIGIN, $TTL (RFC 2308), $INCLUDE, relative and absolute names, `@`, an
 * omitted owner (the previous one), parentheses spanning lines, `;` comments, quoted
 * strings, \X and \DDD escapes, optional TTL and class in either order, TTLs with units
 * (1h30m, 1w, as BIND writes them), the RR types RPZ uses (SOA, NS, CNAME, A, AAAA, TXT)
 * plus PTR, MX, SRV and RFC 3597 generic RDATA (`\# len hex`). Other types are skipped
 * with a warning. Nothing here throws on bad input: every problem becomes a ZoneProblem
 * with file:line and what to do.
 */
import { parseIp, formatIp } from '../../core/index.ts';
import { normalizeName, textToName, RRType, type Rdata } from '../wire/index.ts';

/** One resource record as read from a zone. Owner and names in RDATA are absolute, canonical (normalizeName). */
export interface ZoneRecord {
  name: string;
  type: number;
  ttl: number;
  data: Rdata;
}

export interface ZoneProblem {
  severity: 'error' | 'warning';
  file: string;
  line: number;
  message: string;
}

export function formatProblem(p: ZoneProblem): string {
  return `${p.file}:${p.line}: ${p.severity}: ${p.message}`;
}

export interface ReaderSink {
  record(rec: ZoneRecord, file: string, line: number): void;
  problem(p: ZoneProblem): void;
  /**
   * A `$INCLUDE path [origin]` line: the caller feeds that file next (pushFile, lines,
   * popFile). Without this hook $INCLUDE is an error.
   */
  include?(path: string, origin: string, file: string, line: number): void;
}

export interface ReaderOptions {
  /** The zone's origin (its name), absolute; relative names are completed with it until $ORIGIN. */
  origin: string;
  /** File name used in problems. */
  file: string;
  /** TTL for records without one when no $TTL was given. Default: none (such a record is an error). */
  defaultTtl?: number;
}

const MAX_TTL = 0x7fffffff; // RFC 2181 §8

/** Type mnemonics this reader accepts (case-insensitive), from the wire codec's table. */
const TYPE_BY_NAME = new Map<string, number>(Object.entries(RRType).map(([k, v]) => [k, v]));
const TYPE_NAME = new Map<number, string>(Object.entries(RRType).map(([k, v]) => [v, k]));
const CLASSES = new Map<string, number>([
  ['IN', 1],
  ['CS', 2],
  ['CH', 3],
  ['HS', 4],
]);

export function typeName(t: number): string {
  return TYPE_NAME.get(t) ?? `TYPE${t}`;
}

const PASSTHRU_LIKE = new Set(['rpz-passthru', 'rpz-drop', 'rpz-tcp-only', '*']);

/**
 * Where reading stands between two entries of the top file (no parenthesis open, no
 * $INCLUDE being read): all a reader needs to read on from that line (file-image.ts).
 */
export interface ReaderMark {
  readonly origin: string;
  readonly dollarTtl: number | undefined;
  readonly lastTtl: number | undefined;
  readonly lastOwner: string | undefined;
}

interface FileContext {
  file: string;
  line: number;
  origin: string;
}

/**
 * Reads master-file lines. Call `line(text)` for each line (no newline), `end()` once.
 * For $INCLUDE: on the sink's include(), push the file with pushFile(), feed its lines,
 * then popFile().
 */
export class MasterFileReader {
  private readonly sink: ReaderSink;
  private ctx: FileContext;
  private readonly stack: FileContext[] = [];
  private dollarTtl: number | undefined;
  private lastTtl: number | undefined;
  private lastOwner: string | undefined;
  private readonly defaultTtl: number | undefined;
  // Tokens of the entry being read (more than one line when parentheses are open).
  // Reused across entries; only the first `nt` are current (saves an array reset per line).
  private readonly tok: string[] = [];
  private nt = 0;
  private readonly quoted: boolean[] = [];
  private depth = 0;
  private entryLine = 0;
  private ownerOmitted = false;
  private entryBad = false;
  private readonly apexOrigin: string;
  /** Number of records delivered. */
  records = 0;
  errors = 0;
  warnings = 0;

  constructor(sink: ReaderSink, opts: ReaderOptions) {
    this.sink = sink;
    const o = canonicalAbsolute(opts.origin);
    this.apexOrigin = typeof o === 'string' ? o : '.';
    this.ctx = { file: opts.file, line: 0, origin: this.apexOrigin };
    if (typeof o !== 'string') this.problem('error', 0, `zone origin "${opts.origin}" is not a valid name: ${o.error}`);
    this.defaultTtl = opts.defaultTtl;
  }

  get file(): string {
    return this.ctx.file;
  }

  /** Start reading an included file: its own line numbers and origin (RFC 1035 §5.1). */
  pushFile(file: string, origin: string): void {
    this.closeEntryAtEof();
    this.stack.push(this.ctx);
    this.ctx = { file, line: 0, origin };
  }

  /** Back to the including file, whose origin $INCLUDE did not change (RFC 1035 §5.1). */
  popFile(): void {
    this.closeEntryAtEof();
    const up = this.stack.pop();
    if (up) this.ctx = up;
  }

  /** The state to read on from the next line, or undefined inside parentheses or an included file. */
  mark(): ReaderMark | undefined {
    if (this.depth > 0 || this.stack.length > 0) return undefined;
    return { origin: this.ctx.origin, dollarTtl: this.dollarTtl, lastTtl: this.lastTtl, lastOwner: this.lastOwner };
  }

  /** Reads on from a mark taken on the same file (mark()), its next line numbered `line`. */
  resume(m: ReaderMark, line: number): void {
    this.closeEntryAtEof();
    this.ctx.origin = m.origin;
    this.ctx.line = line - 1;
    this.dollarTtl = m.dollarTtl;
    this.lastTtl = m.lastTtl;
    this.lastOwner = m.lastOwner;
  }

  /** No more lines: reports a parenthesis left open. */
  end(): void {
    this.closeEntryAtEof();
  }

  private closeEntryAtEof(): void {
    if (this.depth > 0) {
      this.problem('error', this.entryLine, `"(" opened on line ${this.entryLine} is never closed: add ")" at the end of the record`);
      this.depth = 0;
      this.nt = 0;
    }
  }

  private problem(severity: 'error' | 'warning', line: number, message: string): void {
    if (severity === 'error') this.errors++;
    else this.warnings++;
    this.sink.problem({ severity, file: this.ctx.file, line, message });
  }

  private fail(message: string): void {
    if (!this.entryBad) this.problem('error', this.entryLine, message);
    this.entryBad = true;
  }

  line(text: string): void {
    const lineNo = ++this.ctx.line;
    let end = text.length;
    if (end > 0 && text.charCodeAt(end - 1) === 13) end--; // CRLF files
    if (this.depth === 0) {
      this.nt = 0;
      this.entryLine = lineNo;
      this.entryBad = false;
      const c0 = end > 0 ? text.charCodeAt(0) : 0;
      this.ownerOmitted = c0 === 32 || c0 === 9;
    }
    this.tokenize(text, end);
    if (this.depth > 0) return;
    if (this.entryBad) return;
    if (this.nt === 0) return;
    this.entry();
  }

  /** Splits one line into tokens (RFC 1035 §5.1), keeping escapes as written. */
  private tokenize(s: string, end: number): void {
    let i = 0;
    while (i < end) {
      const c = s.charCodeAt(i);
      if (c === 32 || c === 9) {
        i++;
        continue;
      }
      if (c === 59) return; // ';' comment to end of line
      if (c === 40) {
        this.depth++;
        i++;
        continue;
      }
      if (c === 41) {
        if (this.depth === 0) {
          this.fail('")" without a matching "("');
          return;
        }
        this.depth--;
        i++;
        continue;
      }
      if (c === 34) {
        let j = i + 1;
        for (;;) {
          if (j >= end) {
            this.fail('quoted string is not closed on this line: add the closing \'"\'');
            return;
          }
          const d = s.charCodeAt(j);
          if (d === 92) j += 2;
          else if (d === 34) break;
          else j++;
        }
        if (j > end) {
          this.fail('quoted string ends with a lone backslash');
          return;
        }
        this.tok[this.nt] = s.slice(i + 1, j);
        this.quoted[this.nt++] = true;
        i = j + 1;
        continue;
      }
      const start = i;
      while (i < end) {
        const d = s.charCodeAt(i);
        if (d === 32 || d === 9 || d === 59 || d === 40 || d === 41 || d === 34) break;
        if (d === 92) {
          if (i + 1 >= end) {
            this.fail('line ends with a lone backslash: write \\\\ for a backslash');
            return;
          }
          i += 2;
        } else i++;
      }
      this.tok[this.nt] = s.slice(start, i);
      this.quoted[this.nt++] = false;
    }
  }

  private entry(): void {
    const t = this.tok;
    const first = t[0]!;
    if (!this.ownerOmitted && !this.quoted[0] && first.charCodeAt(0) === 36 /* $ */) {
      this.directive(first.toUpperCase());
      return;
    }
    let i = 0;
    let owner: string;
    if (this.ownerOmitted) {
      if (this.lastOwner === undefined) {
        this.fail('the line starts with a blank but no earlier record gives an owner name to repeat: write the owner first');
        return;
      }
      owner = this.lastOwner;
    } else {
      const n = this.name(0, 'owner name');
      if (n === undefined) return;
      owner = n;
      i = 1;
    }
    this.lastOwner = owner;
    let ttl: number | undefined;
    let cls: number | undefined;
    for (let k = 0; k < 2 && i < this.nt; k++) {
      const x = t[i]!;
      const c = x.charCodeAt(0);
      if (ttl === undefined && c >= 48 && c <= 57 && !this.quoted[i]) {
        const v = parseTtl(x);
        if (typeof v === 'string') return this.fail(`TTL "${x}": ${v}`);
        ttl = v;
        i++;
      } else if (cls === undefined && !this.quoted[i] && (cls = parseClass(x)) !== undefined) {
        i++;
      } else break;
    }
    if (i >= this.nt) return this.fail(`record for ${owner} has no type: expected e.g. "CNAME ." or "A 192.0.2.1"`);
    if (cls !== undefined && cls !== 1) return this.fail(`class ${t[i - 1]} is not IN: policy zones hold class IN data only`);
    const typeTok = t[i]!;
    const type = this.quoted[i] ? undefined : parseType(typeTok);
    if (type === undefined) {
      return this.fail(`"${typeTok}" is not a record type (expected a type such as CNAME, A, AAAA, TXT, SOA, NS, or TYPEnnn)`);
    }
    i++;
    if (ttl === undefined) {
      ttl = this.dollarTtl ?? this.lastTtl ?? this.defaultTtl;
      if (ttl === undefined && type !== RRType.SOA) {
        return this.fail(`record for ${owner} has no TTL and no $TTL was given: add "$TTL 300" at the top of the file`);
      }
    } else this.lastTtl = ttl;
    const data = this.rdata(type, i, owner);
    if (data === undefined) return;
    if (data === null) return; // skipped with a warning
    if (ttl === undefined) {
      // RFC 1035 §5.2 / RFC 2308 §4: without $TTL the SOA's MINIMUM is the default.
      ttl = data.kind === 'SOA' ? data.minimum : 0;
      this.lastTtl ??= ttl;
    }
    this.records++;
    this.sink.record({ name: owner, type, ttl, data }, this.ctx.file, this.entryLine);
  }

  private directive(d: string): void {
    const t = this.tok;
    switch (d) {
      case '$ORIGIN': {
        if (this.nt !== 2) return this.fail('$ORIGIN takes one name, e.g. "$ORIGIN rpz.example."');
        const n = this.name(1, '$ORIGIN');
        if (n !== undefined) this.ctx.origin = n;
        return;
      }
      case '$TTL': {
        if (this.nt !== 2) return this.fail('$TTL takes one value, e.g. "$TTL 300" or "$TTL 1h"');
        const v = parseTtl(t[1]!);
        if (typeof v === 'string') return this.fail(`$TTL "${t[1]}": ${v}`);
        this.dollarTtl = v;
        return;
      }
      case '$INCLUDE': {
        if (this.nt < 2 || this.nt > 3) return this.fail('$INCLUDE takes a file name and an optional origin');
        if (!this.sink.include) return this.fail('$INCLUDE is not allowed here (text zones and transfers cannot include files)');
        let origin = this.ctx.origin;
        if (this.nt === 3) {
          const n = this.name(2, '$INCLUDE origin');
          if (n === undefined) return;
          origin = n;
        }
        this.sink.include(unescapeText(t[1]!), origin, this.ctx.file, this.entryLine);
        return;
      }
      case '$GENERATE':
        return this.fail('$GENERATE is a BIND extension that Sakimori does not expand: write the records out');
      default:
        return this.fail(`unknown directive ${t[0]} (supported: $ORIGIN, $TTL, $INCLUDE)`);
    }
  }

  /** Token i as an absolute canonical name, completed with the current origin; undefined after a reported error. */
  private name(i: number, what: string): string | undefined {
    if (this.quoted[i]) {
      this.fail(`${what} "${this.tok[i]}" is quoted: names are written without quotes`);
      return undefined;
    }
    const r = resolveName(this.tok[i]!, this.ctx.origin);
    if (typeof r === 'string') return r;
    this.fail(`${what} "${this.tok[i]}": ${r.error}`);
    return undefined;
  }

  /** RDATA from tokens [i..]; undefined after an error, null when skipped with a warning. */
  private rdata(type: number, i: number, owner: string): Rdata | null | undefined {
    const t = this.tok;
    const n = this.nt - i;
    if (n >= 1 && t[i] === '\\#' && !this.quoted[i]) return this.generic(i + 1, typeName(type));
    const tname = TYPE_NAME.get(type) ?? '';
    switch (type) {
      case RRType.A:
      case RRType.AAAA: {
        if (!this.single(n, tname, owner, i)) return undefined;
        const ip = this.quoted[i] ? undefined : parseIp(t[i]!);
        const want = type === RRType.A ? 4 : 6;
        if (!ip || ip.family !== want) {
          this.fail(`${tname} record for ${owner}: "${t[i]}" is not an ${want === 4 ? 'IPv4' : 'IPv6'} address`);
          return undefined;
        }
        return type === RRType.A ? { kind: 'A', address: formatIp(ip) } : { kind: 'AAAA', address: formatIp(ip) };
      }
      case RRType.CNAME:
      case RRType.NS:
      case RRType.PTR: {
        if (!this.single(n, tname, owner, i)) return undefined;
        const target = this.name(i, `${tname} target`);
        if (target === undefined) return undefined;
        if (type === RRType.CNAME && !isAbsoluteText(t[i]!) && PASSTHRU_LIKE.has(t[i]!.toLowerCase())) {
          this.problem(
            'warning',
            this.entryLine,
            `CNAME target "${t[i]}" has no trailing dot, so it means ${target} (local data), not the RPZ action: write "${t[i]}."`,
          );
        }
        if (type === RRType.CNAME) return { kind: 'CNAME', cname: target };
        if (type === RRType.NS) return { kind: 'NS', nsdname: target };
        return { kind: 'PTR', ptrdname: target };
      }
      case RRType.MX: {
        if (n !== 2) return this.fail(`MX record for ${owner} needs a preference and an exchange name`), undefined;
        const pref = parseU(t[i]!, 0xffff);
        if (pref === undefined) return this.fail(`MX preference "${t[i]}" is not a number 0-65535`), undefined;
        const ex = this.name(i + 1, 'MX exchange');
        return ex === undefined ? undefined : { kind: 'MX', preference: pref, exchange: ex };
      }
      case RRType.SRV: {
        if (n !== 4) return this.fail(`SRV record for ${owner} needs priority, weight, port and target`), undefined;
        const v = [t[i]!, t[i + 1]!, t[i + 2]!].map((x) => parseU(x, 0xffff));
        if (v.some((x) => x === undefined)) return this.fail('SRV priority, weight and port must be numbers 0-65535'), undefined;
        const target = this.name(i + 3, 'SRV target');
        return target === undefined ? undefined : { kind: 'SRV', priority: v[0]!, weight: v[1]!, port: v[2]!, target };
      }
      case RRType.TXT: {
        if (n === 0) return this.fail(`TXT record for ${owner} needs at least one string`), undefined;
        const strings: Uint8Array[] = [];
        for (let k = i; k < this.nt; k++) {
          const b = textBytes(t[k]!);
          if (typeof b === 'string') return this.fail(`TXT string ${k - i + 1}: ${b}`), undefined;
          if (b.length > 255) return this.fail(`TXT string ${k - i + 1} is ${b.length} octets; a character-string holds at most 255 (split it into several strings)`), undefined;
          strings.push(b);
        }
        return { kind: 'TXT', strings };
      }
      case RRType.SOA: {
        if (n !== 7) return this.fail(`SOA record needs 7 fields (mname rname serial refresh retry expire minimum), got ${n}`), undefined;
        const mname = this.name(i, 'SOA mname');
        if (mname === undefined) return undefined;
        const rname = this.name(i + 1, 'SOA rname');
        if (rname === undefined) return undefined;
        const serial = parseU(t[i + 2]!, 0xffffffff);
        if (serial === undefined) return this.fail(`SOA serial "${t[i + 2]}" is not a number 0-4294967295`), undefined;
        const f: number[] = [];
        const names = ['refresh', 'retry', 'expire', 'minimum'];
        for (let k = 0; k < 4; k++) {
          const v = parseTtl(t[i + 3 + k]!);
          if (typeof v === 'string') return this.fail(`SOA ${names[k]} "${t[i + 3 + k]}": ${v}`), undefined;
          f.push(v);
        }
        return { kind: 'SOA', mname, rname, serial, refresh: f[0]!, retry: f[1]!, expire: f[2]!, minimum: f[3]! };
      }
      default:
        this.problem('warning', this.entryLine, `${tname} record for ${owner} skipped: RPZ policy uses CNAME, A, AAAA, TXT (and SOA, NS at the apex)`);
        return null;
    }
  }

  private single(n: number, tname: string, owner: string, i: number): boolean {
    if (n === 1) return true;
    this.fail(n === 0 ? `${tname} record for ${owner} has no RDATA` : `${tname} record for ${owner}: unexpected "${this.tok[i + 1]}" after the RDATA`);
    return false;
  }

  /** RFC 3597 §5: `\# length hex...`. */
  private generic(i: number, tname: string): Rdata | undefined {
    const t = this.tok;
    const len = parseU(t[i] ?? '', 0xffff);
    if (len === undefined) return this.fail(`${tname} generic RDATA: "\\#" must be followed by the length in octets`), undefined;
    const hex = t.slice(i + 1, this.nt).join('');
    if (!/^[0-9a-fA-F]*$/.test(hex) || hex.length % 2 !== 0) return this.fail(`${tname} generic RDATA: "${hex.slice(0, 40)}" is not an even number of hex digits`), undefined;
    if (hex.length / 2 !== len) return this.fail(`${tname} generic RDATA: length says ${len} octets but ${hex.length / 2} are given`), undefined;
    return { kind: 'raw', bytes: Uint8Array.from(Buffer.from(hex, 'hex')) };
  }
}

// ---- helpers shared with the zone and the tests ----------------------------------------

/** True when a name as written ends with an unescaped dot (an absolute name). */
export function isAbsoluteText(s: string): boolean {
  if (s.length === 0 || s.charCodeAt(s.length - 1) !== 46) return false;
  let bs = 0;
  for (let i = s.length - 2; i >= 0 && s.charCodeAt(i) === 92; i--) bs++;
  return bs % 2 === 0;
}

/**
 * Plain lower-case text (letters, digits, '-', '_', '*'), no empty label, labels of at
 * most 63: valid and already canonical, so 1 M-line zones skip the codec's full parse.
 * Returns the length, or -1 when the text needs the full parse.
 */
function plainLength(s: string, end: number): number {
  let label = 0;
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (label === 0) return -1;
      label = 0;
      continue;
    }
    if (++label > 63) return -1;
    if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 95 || c === 42)) return -1;
  }
  return label === 0 ? -1 : end;
}

/** A name as written in a zone -> absolute canonical text (no trailing dot; root "."). */
export function resolveName(tokenText: string, origin: string): string | { error: string } {
  if (tokenText === '@') return origin;
  if (tokenText === '.') return '.';
  const abs = isAbsoluteText(tokenText);
  const end = abs ? tokenText.length - 1 : tokenText.length;
  // Wire length of text t without a trailing dot is t.length + 2 (RFC 1035 §3.1): <= 255.
  if (plainLength(tokenText, end) !== -1) {
    if (abs) return end <= 253 ? tokenText.slice(0, end) : canonicalAbsolute(tokenText);
    if (origin === '.') return end <= 253 ? tokenText : canonicalAbsolute(tokenText);
    if (end + 1 + origin.length <= 253) return `${tokenText}.${origin}`;
  }
  const full = abs ? tokenText.slice(0, -1) : origin === '.' ? tokenText : `${tokenText}.${origin}`;
  return canonicalAbsolute(full);
}

/** Validates and canonicalises absolute name text (trailing dot optional). */
export function canonicalAbsolute(text: string): string | { error: string } {
  const r = textToName(text);
  if (!r.ok) return { error: r.error.message };
  return normalizeName(text.length > 1 && isAbsoluteText(text) ? text.slice(0, -1) : text);
}

/** "300", "1h30m", "1w" (BIND's units, case-insensitive) -> seconds, or why not. */
export function parseTtl(s: string): number | string {
  if (/^\d+$/.test(s)) {
    const v = Number(s);
    return v <= MAX_TTL ? v : `${s} is above the largest TTL, 2147483647 (RFC 2181 §8)`;
  }
  const m = /^(?:\d+[smhdw])+$/i.test(s);
  if (!m) return 'expected seconds or a duration such as 1h30m (units s, m, h, d, w)';
  let total = 0;
  for (const part of s.toLowerCase().matchAll(/(\d+)([smhdw])/g)) {
    total += Number(part[1]) * { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[part[2] as 's']!;
  }
  return total <= MAX_TTL ? total : `${s} is above the largest TTL, 2147483647 (RFC 2181 §8)`;
}

function parseClass(s: string): number | undefined {
  // Only IN, CH, CS, HS and CLASSnnn: most tokens tested here are types, reject them fast.
  if (s.length === 2) return s === 'IN' || s === 'in' ? 1 : CLASSES.get(s.toUpperCase());
  if (s.length < 6 || (s.charCodeAt(0) | 0x20) !== 0x63) return undefined;
  const m = /^CLASS(\d{1,5})$/i.exec(s);
  return m && Number(m[1]) <= 0xffff ? Number(m[1]) : undefined;
}

const typeCache = new Map<string, number>();

function parseType(s: string): number | undefined {
  const hit = typeCache.get(s);
  if (hit !== undefined) return hit;
  const t = parseTypeText(s);
  if (t !== undefined && typeCache.size < 1000) typeCache.set(s, t);
  return t;
}

function parseTypeText(s: string): number | undefined {
  const u = s.toUpperCase();
  const t = TYPE_BY_NAME.get(u);
  if (t !== undefined && u !== 'OPT' && u !== 'AXFR' && u !== 'IXFR' && u !== 'ANY' && u !== 'TSIG') return t;
  const m = /^TYPE(\d{1,5})$/.exec(u);
  return m && Number(m[1]) <= 0xffff ? Number(m[1]) : undefined;
}

function parseU(s: string, max: number): number | undefined {
  if (!/^\d{1,10}$/.test(s)) return undefined;
  const v = Number(s);
  return v <= max ? v : undefined;
}

/** A character-string token (quotes already removed) with \X and \DDD decoded to bytes. */
export function textBytes(s: string): Uint8Array | string {
  const out = new Uint8Array(s.length);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    let c = s.charCodeAt(i);
    if (c === 92) {
      const d1 = s.charCodeAt(i + 1) - 48;
      if (d1 >= 0 && d1 <= 9) {
        const d2 = s.charCodeAt(i + 2) - 48;
        const d3 = s.charCodeAt(i + 3) - 48;
        if (!(d2 >= 0 && d2 <= 9 && d3 >= 0 && d3 <= 9)) return `escape at character ${i + 1} needs exactly three digits (\\DDD)`;
        c = d1 * 100 + d2 * 10 + d3;
        if (c > 255) return `escape \\${s.slice(i + 1, i + 4)} is above 255`;
        i += 3;
      } else {
        if (i + 1 >= s.length) return 'ends with a lone backslash';
        c = s.charCodeAt(++i);
      }
    }
    if (c > 255) return `character U+${c.toString(16).toUpperCase()} is not a byte: escape bytes as \\DDD`;
    out[n++] = c;
  }
  return out.subarray(0, n);
}

function unescapeText(s: string): string {
  const b = textBytes(s);
  return typeof b === 'string' ? s : Buffer.from(b).toString('latin1');
}
