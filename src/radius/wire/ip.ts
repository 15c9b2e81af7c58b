/**
 * IP addresses and prefixes as RADIUS carries them: IPv4 in 4 octets (RFC 2865 §5),
 * IPv6 in 16 (RFC 3162 §2.1), IPv6 prefixes as Reserved, Prefix-Length, Prefix
 * (RFC 3162 §2.3, RFC 4818 §3). Text is RFC 5952 canonical form, so the same prefix
 * always reads the same way wherever attribution compares it.
 */
import * as ip from '../../core/ip.ts';

// One IP parser for the project (src/core/ip.ts); these adapt it to the codec's
// (bytes, offset) and "bytes or undefined" shapes.
export function formatIPv4(b: Uint8Array, off = 0): string {
  return ip.formatIPv4(b, off);
}

export function formatIPv6(b: Uint8Array, off = 0): string {
  return ip.formatIPv6(b, off);
}

export function parseIPv4(text: string): Uint8Array | undefined {
  const out = new Uint8Array(4);
  return ip.parseIPv4(text, out, 0) ? out : undefined;
}

/** Also takes a socket address with a zone ("fe80::1%eth0"): the zone is not part of the address. */
export function parseIPv6(text: string): Uint8Array | undefined {
  const zone = text.indexOf('%');
  const out = new Uint8Array(16);
  return ip.parseIPv6(zone < 0 ? text : text.slice(0, zone), out, 0) ? out : undefined;
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
