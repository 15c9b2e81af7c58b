/**
 * IP addresses and prefixes as RADIUS carries them: IPv4 in 4 octets (RFC 2865 §5),
 * IPv6 in 16 (RFC 3162 §2.1), IPv6 prefixes as Reserved, Prefix-Length, Prefix
 * (RFC 3162 §2.3, RFC 4818 §3). Text is RFC 5952 canonical form, so the same prefix
 * always reads the same way wherever attribution compares it.
 */
import { isIPv4, isIPv6 } from 'node:net';

export function formatIPv4(b: Uint8Array, off = 0): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/** RFC 5952 §4: lower case, no leading zeros, the longest run (>= 2) of zero groups as "::", leftmost on a tie. */
export function formatIPv6(b: Uint8Array, off = 0): string {
  let bestAt = -1;
  let bestLen = 1;
  let runAt = -1;
  for (let i = 0; i < 8; i++) {
    if (b[off + 2 * i] === 0 && b[off + 2 * i + 1] === 0) {
      if (runAt < 0) runAt = i;
      if (i - runAt + 1 > bestLen) {
        bestAt = runAt;
        bestLen = i - runAt + 1;
      }
    } else {
      runAt = -1;
    }
  }
  let s = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestAt) {
      s += i === 0 ? '::' : ':';
      i += bestLen - 1;
      continue;
    }
    s += ((b[off + 2 * i]! << 8) | b[off + 2 * i + 1]!).toString(16);
    if (i < 7) s += ':';
  }
  return s;
}

export function parseIPv4(text: string): Uint8Array | undefined {
  if (!isIPv4(text)) return undefined;
  return Uint8Array.from(text.split('.').map(Number));
}

/** Any IPv6 text form Node accepts (including "::ffff:192.0.2.1"); undefined if not an IPv6 address. */
export function parseIPv6(text: string): Uint8Array | undefined {
  if (!isIPv6(text)) return undefined;
  let s = text;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  // A trailing dotted quad stands for the last two groups: rewrite it as hex.
  const lastColon = s.lastIndexOf(':');
  if (s.slice(lastColon + 1).includes('.')) {
    const v4 = parseIPv4(s.slice(lastColon + 1));
    if (!v4) return undefined;
    s = `${s.slice(0, lastColon + 1)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`;
  }
  const groupsOf = (part: string) => (part === '' ? [] : part.split(':').map((h) => parseInt(h, 16)));
  const dbl = s.indexOf('::');
  let groups: number[];
  if (dbl >= 0) {
    const head = groupsOf(s.slice(0, dbl));
    const rest = groupsOf(s.slice(dbl + 2));
    const fill = 8 - head.length - rest.length;
    if (fill < 0) return undefined;
    groups = [...head, ...new Array<number>(fill).fill(0), ...rest];
  } else {
    groups = groupsOf(s);
  }
  if (groups.length !== 8) return undefined;
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = groups[i]! >> 8;
    out[2 * i + 1] = groups[i]! & 0xff;
  }
  return out;
}

/** An IPv6 prefix as 16 octets (bits past the length are zero) and its length. */
export interface IPv6Prefix {
  address: Uint8Array;
  length: number;
}

/** "2001:db8:1::/56" (the address part is masked to the length). */
export function formatIPv6Prefix(p: IPv6Prefix): string {
  return `${formatIPv6(maskIPv6(p.address, p.length))}/${p.length}`;
}

export function parseIPv6Prefix(text: string): IPv6Prefix | undefined {
  const slash = text.indexOf('/');
  if (slash < 0) return undefined;
  const lenText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(lenText)) return undefined;
  const length = Number(lenText);
  if (length > 128) return undefined;
  const address = parseIPv6(text.slice(0, slash));
  if (!address) return undefined;
  return { address: maskIPv6(address, length), length };
}

export function maskIPv6(address: Uint8Array, length: number): Uint8Array {
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    const bits = Math.max(0, Math.min(8, length - 8 * i));
    out[i] = address[i]! & ((0xff << (8 - bits)) & 0xff);
  }
  return out;
}
