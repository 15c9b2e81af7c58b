/**
 * SOA serial number arithmetic, RFC 1982 (SERIAL_BITS = 32). Serials wrap: 4294967295 + 1
 * is 0, and 0 is "newer" than 4294967295. Two serials exactly 2^31 apart are neither
 * newer nor older (RFC 1982 §3.2 leaves it undefined); callers treat that as "not newer".
 */

const HALF = 0x80000000;

/** -1 when a is older than b, 0 when equal, 1 when newer, undefined when 2^31 apart. */
export function serialCompare(a: number, b: number): -1 | 0 | 1 | undefined {
  a >>>= 0;
  b >>>= 0;
  if (a === b) return 0;
  const d = (a - b) >>> 0;
  if (d === HALF) return undefined;
  return d < HALF ? 1 : -1;
}

/** True when a is newer than b (RFC 1982 §3.2). */
export function serialNewer(a: number, b: number): boolean {
  return serialCompare(a, b) === 1;
}

/** s + n modulo 2^32 (RFC 1982 §3.1: n at most 2^31 - 1). */
export function serialAdd(s: number, n = 1): number {
  if (!(Number.isInteger(n) && n >= 0 && n < HALF)) throw new RangeError(`serial increment ${n} is not 0..2147483647 (RFC 1982 §3.1)`);
  return (s + n) >>> 0;
}
