/**
 * Domain names: wire form (RFC 1035 §3.1, §4.1.4) and master-file text form (§5.1).
 *
 * Text form used everywhere in Sakimori: labels joined by '.', no trailing dot, root is
 * ".". A byte is written as itself when it is printable ASCII, as \X when it is one of
 * . \ " ( ) ; @ $ (characters a master file gives a meaning), and as \DDD otherwise.
 * That makes text <-> wire a bijection, so binary labels survive a round trip.
 * Comparison is ASCII case-insensitive only (RFC 4343): bytes >= 0x80 are never folded.
 */
import { wireError, type WireError, type WireResult } from './types.ts';

export const MAX_NAME_WIRE = 255;
export const MAX_LABEL = 63;

// Byte classes for text rendering: 0 plain, 1 ASCII upper-case letter, 2 \X, 3 \DDD.
const CLS = new Uint8Array(256).fill(3);
for (let c = 0x21; c <= 0x7e; c++) CLS[c] = 0;
for (let c = 0x41; c <= 0x5a; c++) CLS[c] = 1;
for (const ch of '.\\"();@$') CLS[ch.charCodeAt(0)] = 2;
// Byte -> its text form as one lower-cased character, or 0 when it needs an escape. One
// lookup per byte on the readQuery path instead of a class test and a fold.
const LOWER = new Uint8Array(256);
for (let c = 0; c < 256; c++) LOWER[c] = CLS[c] === 0 ? c : CLS[c] === 1 ? c | 0x20 : 0;

// Longest text of a valid name: <= 254 label bytes as \DDD plus the dots, < 1024.
const TEXT = Buffer.allocUnsafeSlow(1024);
type Latin1Slicer = { latin1Slice(start: number, end: number): string };
// Buffer#latin1Slice is what Buffer#toString('latin1') calls after argument checks; using
// it directly saves ~40 ns per name on the hot path (see README). Fall back if it goes away.
const latin1Slice: (n: number) => string =
  typeof (TEXT as unknown as Partial<Latin1Slicer>).latin1Slice === 'function'
    ? (n) => (TEXT as unknown as Latin1Slicer).latin1Slice(0, n)
    : (n) => TEXT.toString('latin1', 0, n);

/** Appends the text form of one label to TEXT at n; returns the new length. */
function appendLabelText(src: Uint8Array, start: number, len: number, lower: boolean, n: number): number {
  const end = start + len;
  let i = start;
  if (lower) {
    for (; i < end; i++) {
      const o = LOWER[src[i]!]!;
      if (o === 0) break;
      TEXT[n++] = o;
    }
    if (i === end) return n;
  }
  for (; i < end; i++) {
    const c = src[i]!;
    const k = CLS[c]!;
    if (k === 0) TEXT[n++] = c;
    else if (k === 1) TEXT[n++] = lower ? c | 0x20 : c;
    else if (k === 2) {
      TEXT[n++] = 0x5c;
      TEXT[n++] = c;
    } else {
      TEXT[n++] = 0x5c;
      TEXT[n++] = 0x30 + ((c / 100) | 0);
      TEXT[n++] = 0x30 + (((c / 10) | 0) % 10);
      TEXT[n++] = 0x30 + (c % 10);
    }
  }
  return n;
}

/** Set by readName: the offset just past the name where it appears (not where pointers led). */
export let nameEnd = 0;

/**
 * Reads a possibly compressed name at `off`. Returns its text (lower-cased if asked) or
 * a WireError. Never throws, always terminates: every pointer must point strictly before
 * the start of the run of labels it ends (so a chain of pointers only moves backwards),
 * and not below `minPointer` (12 inside a message: names cannot live in the header).
 * The message is buf[0, len) (a reused buffer may be longer than the message in it).
 */
export function readName(buf: Uint8Array, off: number, lower: boolean, minPointer: number, len = buf.length): string | WireError {
  let pos = off;
  let runStart = off;
  let end = -1;
  let wire = 1;
  let n = 0;
  for (;;) {
    if (pos >= len) return wireError('TRUNCATED', pos, `name at offset ${off} runs past the end of the ${len}-byte packet`);
    const l = buf[pos]!;
    if (l === 0) {
      nameEnd = end < 0 ? pos + 1 : end;
      return n === 0 ? '.' : latin1Slice(n);
    }
    if (l < 64) {
      if (pos + 1 + l > len) {
        return wireError('TRUNCATED', pos, `label of ${l} octets at offset ${pos} runs past the end of the ${len}-byte packet`);
      }
      wire += l + 1;
      if (wire > MAX_NAME_WIRE) {
        return wireError('NAME_TOO_LONG', pos, `name at offset ${off} is longer than ${MAX_NAME_WIRE} octets (RFC 1035 §2.3.4)`);
      }
      if (n > 0) TEXT[n++] = 0x2e;
      n = appendLabelText(buf, pos + 1, l, lower, n);
      pos += l + 1;
      continue;
    }
    if ((l & 0xc0) !== 0xc0) {
      return wireError(
        'BAD_LABEL_TYPE',
        pos,
        `byte 0x${l.toString(16)} at offset ${pos} is neither a label length (0-63) nor a compression pointer (0xC0); extended label types are not supported (RFC 6891 §5)`,
      );
    }
    if (pos + 1 >= len) return wireError('TRUNCATED', pos, `compression pointer at offset ${pos} is cut off by the end of the packet`);
    const target = ((l & 0x3f) << 8) | buf[pos + 1]!;
    if (end < 0) end = pos + 2;
    if (target === pos) return wireError('COMPRESSION_LOOP', pos, `compression pointer at offset ${pos} points to itself`);
    if (target > pos) {
      return wireError('BAD_POINTER', pos, `compression pointer at offset ${pos} points forward to ${target}; pointers must refer to an earlier name`);
    }
    if (target < minPointer) {
      return wireError('BAD_POINTER', pos, `compression pointer at offset ${pos} points to ${target}, inside the 12-byte header`);
    }
    if (target >= runStart) {
      return wireError('COMPRESSION_LOOP', pos, `compression pointer at offset ${pos} points back to ${target}, into the same name: a loop`);
    }
    runStart = target;
    pos = target;
  }
}

/** Skips a name without building its text (for records the caller does not need). Returns the end offset or -1. */
export function skipName(buf: Uint8Array, off: number): number {
  const len = buf.length;
  let pos = off;
  let wire = 1;
  for (;;) {
    if (pos >= len) return -1;
    const l = buf[pos]!;
    if (l === 0) return pos + 1;
    if (l < 64) {
      wire += l + 1;
      if (wire > MAX_NAME_WIRE) return -1;
      pos += l + 1;
    } else if ((l & 0xc0) === 0xc0) {
      if (pos + 1 >= len) return -1;
      const target = ((l & 0x3f) << 8) | buf[pos + 1]!;
      return target < 12 || target >= off ? -1 : pos + 2;
    } else return -1;
  }
}

// ---- text -> wire ---------------------------------------------------------------------

/** Uncompressed wire form of the last name parsed by parseNameText, and its label starts. */
export const NAME_WIRE = new Uint8Array(MAX_NAME_WIRE);
export const LABEL_STARTS = new Uint8Array(128);
export let labelCount = 0;

function textError(code: WireError['code'], at: number, text: string, why: string): WireError {
  return wireError(code, at, `name "${text.length > 80 ? text.slice(0, 80) + '...' : text}": ${why}`);
}

/**
 * Parses a name in master-file text form into NAME_WIRE. Returns the wire length or an
 * error (offset = character index). A trailing dot is optional: every name is absolute.
 */
export function parseNameText(text: string): number | WireError {
  labelCount = 0;
  const len = text.length;
  if (len === 0) return textError('BAD_NAME_TEXT', 0, text, 'empty; write "." for the root');
  if (len === 1 && text.charCodeAt(0) === 0x2e) {
    NAME_WIRE[0] = 0;
    return 1;
  }
  let w = 0; // start of the current label (its length byte)
  let lab = 0;
  let i = 0;
  LABEL_STARTS[0] = 0;
  while (i < len) {
    let ch = text.charCodeAt(i);
    if (ch === 0x2e) {
      if (lab === 0) return textError('EMPTY_LABEL', i, text, `empty label at character ${i} (".." or a leading ".")`);
      NAME_WIRE[w] = lab;
      LABEL_STARTS[labelCount++] = w;
      w += lab + 1;
      lab = 0;
      i++;
      continue;
    }
    if (ch === 0x5c) {
      if (i + 1 >= len) return textError('BAD_ESCAPE', i, text, 'ends with a lone backslash');
      const d1 = text.charCodeAt(i + 1) - 0x30;
      if (d1 >= 0 && d1 <= 9) {
        const d2 = text.charCodeAt(i + 2) - 0x30;
        const d3 = text.charCodeAt(i + 3) - 0x30;
        if (!(d2 >= 0 && d2 <= 9 && d3 >= 0 && d3 <= 9)) {
          return textError('BAD_ESCAPE', i, text, `escape at character ${i} needs exactly three digits (\\DDD)`);
        }
        ch = d1 * 100 + d2 * 10 + d3;
        if (ch > 255) return textError('BAD_ESCAPE', i, text, `escape \\${text.slice(i + 1, i + 4)} is above 255`);
        i += 4;
      } else {
        ch = text.charCodeAt(i + 1);
        i += 2;
      }
    } else i++;
    if (ch > 0xff) {
      return textError('BAD_NAME_TEXT', i - 1, text, `character U+${ch.toString(16).toUpperCase()} is not a byte; write IDNs as A-labels (xn--) or escape bytes as \\DDD`);
    }
    if (lab === MAX_LABEL) return textError('LABEL_TOO_LONG', i - 1, text, `a label is longer than ${MAX_LABEL} octets (RFC 1035 §2.3.4)`);
    if (w + 1 + lab + 1 >= MAX_NAME_WIRE) {
      return textError('NAME_TOO_LONG', i - 1, text, `longer than ${MAX_NAME_WIRE} octets on the wire (RFC 1035 §2.3.4)`);
    }
    NAME_WIRE[w + 1 + lab] = ch;
    lab++;
  }
  if (lab > 0) {
    NAME_WIRE[w] = lab;
    LABEL_STARTS[labelCount++] = w;
    w += lab + 1;
  }
  NAME_WIRE[w] = 0;
  return w + 1;
}

/** Master-file text -> uncompressed wire form (ends with the root's zero byte). */
export function textToName(text: string): WireResult<Uint8Array> {
  const r = parseNameText(text);
  if (typeof r !== 'number') return { ok: false, error: r };
  return { ok: true, value: NAME_WIRE.slice(0, r) };
}

/** Master-file text -> labels (the root has none). */
export function textToLabels(text: string): WireResult<Uint8Array[]> {
  const r = parseNameText(text);
  if (typeof r !== 'number') return { ok: false, error: r };
  const labels: Uint8Array[] = [];
  for (let i = 0; i < labelCount; i++) {
    const s = LABEL_STARTS[i]!;
    labels.push(NAME_WIRE.slice(s + 1, s + 1 + NAME_WIRE[s]!));
  }
  return { ok: true, value: labels };
}

/** Labels -> text. Does not check lengths; use textToName on the result to validate. */
export function labelsToText(labels: readonly Uint8Array[]): string {
  if (labels.length === 0) return '.';
  let out = '';
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    if (l.length > 255) throw new RangeError('label longer than 255 bytes cannot be rendered');
    if (i > 0) out += '.';
    out += latin1Slice(appendLabelText(l, 0, l.length, false, 0));
  }
  return out;
}

/**
 * Reads the name at `offset` in `buf` (wire form, compression pointers resolved within
 * `buf`) and returns its text, case preserved. Never throws.
 */
export function nameToText(buf: Uint8Array, offset = 0): WireResult<string> {
  const r = readName(buf, offset, false, 0);
  return typeof r === 'string' ? { ok: true, value: r } : { ok: false, error: r };
}

// ---- comparisons ----------------------------------------------------------------------

function asciiLower(s: string): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x41 && c <= 0x5a) {
      out += s.slice(from, i) + String.fromCharCode(c | 0x20);
      from = i + 1;
    }
  }
  return from === 0 ? s : out + s.slice(from);
}

/**
 * The form policy lookups compare: ASCII letters lower-cased (never other bytes, RFC
 * 4343), escapes made canonical, trailing dot dropped. Text that is not a valid name is
 * returned ASCII-lower-cased and otherwise unchanged.
 */
export function normalizeName(text: string): string {
  // Already canonical when every character renders as itself: no upper case, nothing
  // that the canonical form escapes.
  let plain = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c !== 0x2e && (c > 0x7e || CLS[c] !== 0)) {
      plain = false;
      break;
    }
  }
  if (plain && (text.length <= 1 || text.charCodeAt(text.length - 1) !== 0x2e)) return text;
  const r = parseNameText(text);
  if (typeof r !== 'number') return asciiLower(text);
  const t = readName(NAME_WIRE, 0, true, 0);
  return typeof t === 'string' ? t : asciiLower(text);
}

/** Labels of a text name, each still in text form (escapes kept); the root has none. */
export function splitLabels(text: string): string[] {
  if (text === '.' || text === '') return [];
  const out: string[] = [];
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5c) i++;
    else if (c === 0x2e) {
      out.push(text.slice(from, i));
      from = i + 1;
    }
  }
  if (from < text.length) out.push(text.slice(from));
  return out;
}

const PARENT_WIRE = new Uint8Array(MAX_NAME_WIRE);

/**
 * True when `name` is `parent` or below it, ASCII case-insensitively (every name is
 * below the root "."). False when either is not a valid name.
 */
export function isSubdomain(name: string, parent: string): boolean {
  const pl = parseNameText(parent);
  if (typeof pl !== 'number') return false;
  PARENT_WIRE.set(NAME_WIRE.subarray(0, pl));
  const nl = parseNameText(name);
  if (typeof nl !== 'number' || nl < pl) return false;
  // The suffix must start at a label of `name` (LABEL_STARTS) or be the root alone.
  const start = nl - pl;
  if (start !== 0 && start !== nl - 1) {
    let boundary = false;
    for (let i = 0; i < labelCount; i++) if (LABEL_STARTS[i] === start) boundary = true;
    if (!boundary) return false;
  }
  for (let i = 0; i < pl; i++) {
    let a = NAME_WIRE[start + i]!;
    let b = PARENT_WIRE[i]!;
    // Length bytes are <= 63 and never in A-Z, so folding every byte is safe.
    if (a >= 0x41 && a <= 0x5a) a |= 0x20;
    if (b >= 0x41 && b <= 0x5a) b |= 0x20;
    if (a !== b) return false;
  }
  return true;
}
