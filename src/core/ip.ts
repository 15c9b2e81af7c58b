/**
 * IP addresses and prefixes: one parser for every part of Sakimori.
 *
 * Address text <-> bytes. IPv6 is written as RFC 5952 §4 recommends (lower
 * case, longest run of two or more zero groups as "::", first run on a tie), with the
 * IPv4-mapped prefix ::ffff:0:0/96 in mixed notation (§5).
 */

/** "192.0.2.1" -> 4 bytes written at `off`; false when the text is not a dotted quad. */
export function parseIPv4(text: string, out: Uint8Array, off: number): boolean {
  let part = 0;
  let digits = 0;
  let value = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i === text.length ? 0x2e : text.charCodeAt(i);
    if (c === 0x2e) {
      if (digits === 0 || part > 3) return false;
      out[off + part++] = value;
      value = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      // No leading zeros: "010" is octal to some parsers and decimal to others.
      if (digits > 0 && value === 0) return false;
      value = value * 10 + (c - 0x30);
      if (value > 255) return false;
      digits++;
    } else return false;
  }
  return part === 4;
}

export function formatIPv4(b: Uint8Array, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/** IPv6 text -> 16 bytes written at `off`; false when not an IPv6 address (zones rejected). */
export function parseIPv6(text: string, out: Uint8Array, off: number): boolean {
  const groups: number[] = [];
  let gap = -1;
  let i = 0;
  const len = text.length;
  if (len < 2) return false;
  if (text.startsWith('::')) {
    gap = 0;
    i = 2;
    if (len === 2) {
      out.fill(0, off, off + 16);
      return true;
    }
  }
  while (i < len) {
    // Embedded IPv4 tail: the rest has a '.' before the next ':'.
    const nextColon = text.indexOf(':', i);
    const nextDot = text.indexOf('.', i);
    if (nextDot !== -1 && (nextColon === -1 || nextDot < nextColon)) {
      if (nextColon !== -1) return false;
      const v4 = new Uint8Array(4);
      if (!parseIPv4(text.slice(i), v4, 0)) return false;
      groups.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      i = len;
      break;
    }
    let v = 0;
    let d = 0;
    while (i < len) {
      const c = text.charCodeAt(i);
      let x: number;
      if (c >= 0x30 && c <= 0x39) x = c - 0x30;
      else if (c >= 0x61 && c <= 0x66) x = c - 0x57;
      else if (c >= 0x41 && c <= 0x46) x = c - 0x37;
      else break;
      v = (v << 4) | x;
      if (++d > 4) return false;
      i++;
    }
    if (d === 0) return false;
    groups.push(v);
    if (i === len) break;
    if (text.charCodeAt(i) !== 0x3a) return false;
    i++;
    if (i < len && text.charCodeAt(i) === 0x3a) {
      if (gap !== -1) return false;
      gap = groups.length;
      i++;
      if (i === len) break;
    } else if (i === len) return false;
  }
  if (gap === -1 ? groups.length !== 8 : groups.length > 7) return false;
  const fill = 8 - groups.length;
  let g = 0;
  for (let k = 0; k < 8; k++) {
    let v: number;
    if (gap !== -1 && k >= gap && k < gap + fill) v = 0;
    else v = groups[g++]!;
    out[off + 2 * k] = v >> 8;
    out[off + 2 * k + 1] = v & 0xff;
  }
  return true;
}

/**
 * The groups RFC 5952 §4.2 writes as "::": the longest run of two or more zero
 * groups, the first one on a tie; start -1 when there is none. Also used for
 * the "zz" of RPZ's reversed IPv6 prefixes.
 */
export function longestZeroRun(g: readonly number[]): { start: number; len: number } {
  let start = -1;
  let len = 1; // a single zero group is not shortened (RFC 5952 §4.2.2)
  for (let k = 0; k < g.length; ) {
    if (g[k] !== 0) {
      k++;
      continue;
    }
    let e = k;
    while (e < g.length && g[e] === 0) e++;
    if (e - k > len) {
      start = k;
      len = e - k;
    }
    k = e;
  }
  return { start, len };
}

export function formatIPv6(b: Uint8Array, off: number): string {
  const g: number[] = [];
  for (let k = 0; k < 8; k++) g.push((b[off + 2 * k]! << 8) | b[off + 2 * k + 1]!);
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${formatIPv4(b, off + 12)}`;
  }
  const { start: bestStart, len: bestLen } = longestZeroRun(g);
  const hex = (from: number, to: number) => g.slice(from, to).map((x) => x.toString(16)).join(':');
  if (bestStart === -1) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}

/** A parsed address: 4 or 16 bytes. */
export interface IpAddress {
  family: 4 | 6;
  bytes: Uint8Array;
}

/** Parses an IPv4 or IPv6 address; undefined when it is neither. */
export function parseIp(text: string): IpAddress | undefined {
  if (text.includes(':')) {
    const bytes = new Uint8Array(16);
    return parseIPv6(text, bytes, 0) ? { family: 6, bytes } : undefined;
  }
  const bytes = new Uint8Array(4);
  return parseIPv4(text, bytes, 0) ? { family: 4, bytes } : undefined;
}

export function formatIp(ip: IpAddress): string {
  return ip.family === 4 ? formatIPv4(ip.bytes, 0) : formatIPv6(ip.bytes, 0);
}

/** A prefix: the address with every bit past `bits` cleared. */
export interface IpPrefix extends IpAddress {
  bits: number;
}

/**
 * Parses "192.0.2.0/24", "2001:db8::/32" or a bare address (a /32 or /128).
 * Host bits past the length are an error (a typo in a block list should not
 * silently widen or narrow what it matches).
 */
export function parseCidr(text: string): IpPrefix | { error: string } {
  const slash = text.indexOf('/');
  const ip = parseIp(slash === -1 ? text : text.slice(0, slash));
  if (!ip) return { error: `"${text}" is not an IPv4 or IPv6 address or prefix (expected e.g. 192.0.2.0/24 or 2001:db8::/32)` };
  const max = ip.family === 4 ? 32 : 128;
  let bits = max;
  if (slash !== -1) {
    const t = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(t) || Number(t) > max) return { error: `"${text}" has prefix length "${t}": expected 0 to ${max}` };
    bits = Number(t);
  }
  for (let i = bits; i < max; i++) {
    if (ip.bytes[i >> 3]! & (0x80 >> (i & 7))) return { error: `"${text}" has host bits set past /${bits} (did you mean ${formatPrefix(truncate(ip, bits))}?)` };
  }
  return { ...ip, bits };
}

function truncate(ip: IpAddress, bits: number): IpPrefix {
  const bytes = Uint8Array.from(ip.bytes);
  for (let i = bits; i < bytes.length * 8; i++) bytes[i >> 3]! &= ~(0x80 >> (i & 7));
  return { family: ip.family, bytes, bits };
}

export function formatPrefix(p: IpPrefix): string {
  return `${formatIp(p)}/${p.bits}`;
}
