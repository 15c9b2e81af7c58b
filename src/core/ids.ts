import { randomBytes } from 'node:crypto';

/**
 * Sortable unique ids (ULID-like: 48-bit time + 80 bits random, Crockford base32),
 * so ids sort by creation time in every store and in logs.
 */
const B32 = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

export function newId(prefix: string, now: number = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = B32[t % 32]! + time;
    t = Math.floor(t / 32);
  }
  const rnd = randomBytes(10);
  let r = '';
  for (let i = 0; i < 16; i++) {
    // 16 chars x 5 bits = 80 bits from 10 random bytes
    const bit = i * 5;
    const byte = bit >> 3;
    const off = bit & 7;
    const v = ((rnd[byte]! << 8) | (rnd[byte + 1] ?? 0)) >> (11 - off);
    r += B32[v & 31]!;
  }
  return `${prefix}_${time}${r}`;
}
