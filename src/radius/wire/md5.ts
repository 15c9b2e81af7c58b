/**
 * MD5 (RFC 1321) and HMAC-MD5 (RFC 2104) in TypeScript, for RADIUS authenticators only.
 *
 * Why not node:crypto: through Node 20's OpenSSL 3 a createHash('md5') or
 * createHmac('md5') call has a fixed cost (object and algorithm set-up) far above the
 * hashing of a ~250-octet RADIUS packet; measured here (CPU time per call, 223+12
 * octets) node:crypto MD5 took about 4 µs and HMAC-MD5 about 5 µs, this code a third
 * of that (accounting.bench.ts prints the figure: --md5). Every packet needs two MD5s
 * (request check, answer), so this is most of the per-packet cost. MD5 is what RFC
 * 2865/2866/3579/5176 mandate, not a choice; md5.test.ts checks every output against
 * node:crypto and the RFC 1321 / RFC 2202 test vectors.
 */

let scratch = new Uint8Array(4096 + 256);

/** MD5 of the concatenation of `parts`. */
export function md5(parts: readonly Uint8Array[]): Uint8Array {
  let len = 0;
  for (const p of parts) len += p.length;
  const m = room(len);
  let off = 0;
  for (const p of parts) {
    m.set(p, off);
    off += p.length;
  }
  return digestScratch(len);
}

/**
 * The RADIUS authenticator shape without building a parts list:
 * MD5(packet[0..4] + authField + packet[20..] + secret) (RFC 2865 §3, RFC 2866 §3-4).
 */
export function md5Packet(packet: Uint8Array, authField: Uint8Array, secret: Uint8Array): Uint8Array {
  const len = packet.length + secret.length;
  const m = room(len);
  m.set(packet, 0);
  m.set(authField, 4);
  m.set(secret, packet.length);
  return digestScratch(len);
}

function room(len: number): Uint8Array {
  const padded = (((len + 8) >> 6) + 1) << 6;
  if (scratch.length < padded) scratch = new Uint8Array(padded * 2);
  return scratch;
}

/** MD5 of the first `len` octets of the scratch buffer. */
function digestScratch(len: number): Uint8Array {
  const padded = (((len + 8) >> 6) + 1) << 6;
  const m = scratch;
  m.fill(0, len, padded);
  m[len] = 0x80;
  // Length in bits, little-endian 64-bit (packets are far below 2^32 bits).
  const bits = len * 8;
  m[padded - 8] = bits & 0xff;
  m[padded - 7] = (bits >>> 8) & 0xff;
  m[padded - 6] = (bits >>> 16) & 0xff;
  m[padded - 5] = (bits >>> 24) & 0xff;

  let a0 = 0x67452301 | 0;
  let b0 = 0xefcdab89 | 0;
  let c0 = 0x98badcfe | 0;
  let d0 = 0x10325476 | 0;
  for (let j = 0; j < padded; j += 64) {
    const x0 = m[j + 0]! | (m[j + 1]! << 8) | (m[j + 2]! << 16) | (m[j + 3]! << 24);
    const x1 = m[j + 4]! | (m[j + 5]! << 8) | (m[j + 6]! << 16) | (m[j + 7]! << 24);
    const x2 = m[j + 8]! | (m[j + 9]! << 8) | (m[j + 10]! << 16) | (m[j + 11]! << 24);
    const x3 = m[j + 12]! | (m[j + 13]! << 8) | (m[j + 14]! << 16) | (m[j + 15]! << 24);
    const x4 = m[j + 16]! | (m[j + 17]! << 8) | (m[j + 18]! << 16) | (m[j + 19]! << 24);
    const x5 = m[j + 20]! | (m[j + 21]! << 8) | (m[j + 22]! << 16) | (m[j + 23]! << 24);
    const x6 = m[j + 24]! | (m[j + 25]! << 8) | (m[j + 26]! << 16) | (m[j + 27]! << 24);
    const x7 = m[j + 28]! | (m[j + 29]! << 8) | (m[j + 30]! << 16) | (m[j + 31]! << 24);
    const x8 = m[j + 32]! | (m[j + 33]! << 8) | (m[j + 34]! << 16) | (m[j + 35]! << 24);
    const x9 = m[j + 36]! | (m[j + 37]! << 8) | (m[j + 38]! << 16) | (m[j + 39]! << 24);
    const x10 = m[j + 40]! | (m[j + 41]! << 8) | (m[j + 42]! << 16) | (m[j + 43]! << 24);
    const x11 = m[j + 44]! | (m[j + 45]! << 8) | (m[j + 46]! << 16) | (m[j + 47]! << 24);
    const x12 = m[j + 48]! | (m[j + 49]! << 8) | (m[j + 50]! << 16) | (m[j + 51]! << 24);
    const x13 = m[j + 52]! | (m[j + 53]! << 8) | (m[j + 54]! << 16) | (m[j + 55]! << 24);
    const x14 = m[j + 56]! | (m[j + 57]! << 8) | (m[j + 58]! << 16) | (m[j + 59]! << 24);
    const x15 = m[j + 60]! | (m[j + 61]! << 8) | (m[j + 62]! << 16) | (m[j + 63]! << 24);
    let a = a0;
    let b = b0;
    let c = c0;
    let d = d0;
    let t: number;
    // RFC 1321 §3.4, unrolled: 64 steps, each a = b + ((a + F(b,c,d) + X[k] + T[i]) <<< s), the roles of a..d rotating.
    t = (a + ((b & c) | (~b & d)) + x0 + -680876936) | 0;
    a = (b + ((t << 7) | (t >>> 25))) | 0;
    t = (d + ((a & b) | (~a & c)) + x1 + -389564586) | 0;
    d = (a + ((t << 12) | (t >>> 20))) | 0;
    t = (c + ((d & a) | (~d & b)) + x2 + 606105819) | 0;
    c = (d + ((t << 17) | (t >>> 15))) | 0;
    t = (b + ((c & d) | (~c & a)) + x3 + -1044525330) | 0;
    b = (c + ((t << 22) | (t >>> 10))) | 0;
    t = (a + ((b & c) | (~b & d)) + x4 + -176418897) | 0;
    a = (b + ((t << 7) | (t >>> 25))) | 0;
    t = (d + ((a & b) | (~a & c)) + x5 + 1200080426) | 0;
    d = (a + ((t << 12) | (t >>> 20))) | 0;
    t = (c + ((d & a) | (~d & b)) + x6 + -1473231341) | 0;
    c = (d + ((t << 17) | (t >>> 15))) | 0;
    t = (b + ((c & d) | (~c & a)) + x7 + -45705983) | 0;
    b = (c + ((t << 22) | (t >>> 10))) | 0;
    t = (a + ((b & c) | (~b & d)) + x8 + 1770035416) | 0;
    a = (b + ((t << 7) | (t >>> 25))) | 0;
    t = (d + ((a & b) | (~a & c)) + x9 + -1958414417) | 0;
    d = (a + ((t << 12) | (t >>> 20))) | 0;
    t = (c + ((d & a) | (~d & b)) + x10 + -42063) | 0;
    c = (d + ((t << 17) | (t >>> 15))) | 0;
    t = (b + ((c & d) | (~c & a)) + x11 + -1990404162) | 0;
    b = (c + ((t << 22) | (t >>> 10))) | 0;
    t = (a + ((b & c) | (~b & d)) + x12 + 1804603682) | 0;
    a = (b + ((t << 7) | (t >>> 25))) | 0;
    t = (d + ((a & b) | (~a & c)) + x13 + -40341101) | 0;
    d = (a + ((t << 12) | (t >>> 20))) | 0;
    t = (c + ((d & a) | (~d & b)) + x14 + -1502002290) | 0;
    c = (d + ((t << 17) | (t >>> 15))) | 0;
    t = (b + ((c & d) | (~c & a)) + x15 + 1236535329) | 0;
    b = (c + ((t << 22) | (t >>> 10))) | 0;
    t = (a + ((d & b) | (~d & c)) + x1 + -165796510) | 0;
    a = (b + ((t << 5) | (t >>> 27))) | 0;
    t = (d + ((c & a) | (~c & b)) + x6 + -1069501632) | 0;
    d = (a + ((t << 9) | (t >>> 23))) | 0;
    t = (c + ((b & d) | (~b & a)) + x11 + 643717713) | 0;
    c = (d + ((t << 14) | (t >>> 18))) | 0;
    t = (b + ((a & c) | (~a & d)) + x0 + -373897302) | 0;
    b = (c + ((t << 20) | (t >>> 12))) | 0;
    t = (a + ((d & b) | (~d & c)) + x5 + -701558691) | 0;
    a = (b + ((t << 5) | (t >>> 27))) | 0;
    t = (d + ((c & a) | (~c & b)) + x10 + 38016083) | 0;
    d = (a + ((t << 9) | (t >>> 23))) | 0;
    t = (c + ((b & d) | (~b & a)) + x15 + -660478335) | 0;
    c = (d + ((t << 14) | (t >>> 18))) | 0;
    t = (b + ((a & c) | (~a & d)) + x4 + -405537848) | 0;
    b = (c + ((t << 20) | (t >>> 12))) | 0;
    t = (a + ((d & b) | (~d & c)) + x9 + 568446438) | 0;
    a = (b + ((t << 5) | (t >>> 27))) | 0;
    t = (d + ((c & a) | (~c & b)) + x14 + -1019803690) | 0;
    d = (a + ((t << 9) | (t >>> 23))) | 0;
    t = (c + ((b & d) | (~b & a)) + x3 + -187363961) | 0;
    c = (d + ((t << 14) | (t >>> 18))) | 0;
    t = (b + ((a & c) | (~a & d)) + x8 + 1163531501) | 0;
    b = (c + ((t << 20) | (t >>> 12))) | 0;
    t = (a + ((d & b) | (~d & c)) + x13 + -1444681467) | 0;
    a = (b + ((t << 5) | (t >>> 27))) | 0;
    t = (d + ((c & a) | (~c & b)) + x2 + -51403784) | 0;
    d = (a + ((t << 9) | (t >>> 23))) | 0;
    t = (c + ((b & d) | (~b & a)) + x7 + 1735328473) | 0;
    c = (d + ((t << 14) | (t >>> 18))) | 0;
    t = (b + ((a & c) | (~a & d)) + x12 + -1926607734) | 0;
    b = (c + ((t << 20) | (t >>> 12))) | 0;
    t = (a + (b ^ c ^ d) + x5 + -378558) | 0;
    a = (b + ((t << 4) | (t >>> 28))) | 0;
    t = (d + (a ^ b ^ c) + x8 + -2022574463) | 0;
    d = (a + ((t << 11) | (t >>> 21))) | 0;
    t = (c + (d ^ a ^ b) + x11 + 1839030562) | 0;
    c = (d + ((t << 16) | (t >>> 16))) | 0;
    t = (b + (c ^ d ^ a) + x14 + -35309556) | 0;
    b = (c + ((t << 23) | (t >>> 9))) | 0;
    t = (a + (b ^ c ^ d) + x1 + -1530992060) | 0;
    a = (b + ((t << 4) | (t >>> 28))) | 0;
    t = (d + (a ^ b ^ c) + x4 + 1272893353) | 0;
    d = (a + ((t << 11) | (t >>> 21))) | 0;
    t = (c + (d ^ a ^ b) + x7 + -155497632) | 0;
    c = (d + ((t << 16) | (t >>> 16))) | 0;
    t = (b + (c ^ d ^ a) + x10 + -1094730640) | 0;
    b = (c + ((t << 23) | (t >>> 9))) | 0;
    t = (a + (b ^ c ^ d) + x13 + 681279174) | 0;
    a = (b + ((t << 4) | (t >>> 28))) | 0;
    t = (d + (a ^ b ^ c) + x0 + -358537222) | 0;
    d = (a + ((t << 11) | (t >>> 21))) | 0;
    t = (c + (d ^ a ^ b) + x3 + -722521979) | 0;
    c = (d + ((t << 16) | (t >>> 16))) | 0;
    t = (b + (c ^ d ^ a) + x6 + 76029189) | 0;
    b = (c + ((t << 23) | (t >>> 9))) | 0;
    t = (a + (b ^ c ^ d) + x9 + -640364487) | 0;
    a = (b + ((t << 4) | (t >>> 28))) | 0;
    t = (d + (a ^ b ^ c) + x12 + -421815835) | 0;
    d = (a + ((t << 11) | (t >>> 21))) | 0;
    t = (c + (d ^ a ^ b) + x15 + 530742520) | 0;
    c = (d + ((t << 16) | (t >>> 16))) | 0;
    t = (b + (c ^ d ^ a) + x2 + -995338651) | 0;
    b = (c + ((t << 23) | (t >>> 9))) | 0;
    t = (a + (c ^ (b | ~d)) + x0 + -198630844) | 0;
    a = (b + ((t << 6) | (t >>> 26))) | 0;
    t = (d + (b ^ (a | ~c)) + x7 + 1126891415) | 0;
    d = (a + ((t << 10) | (t >>> 22))) | 0;
    t = (c + (a ^ (d | ~b)) + x14 + -1416354905) | 0;
    c = (d + ((t << 15) | (t >>> 17))) | 0;
    t = (b + (d ^ (c | ~a)) + x5 + -57434055) | 0;
    b = (c + ((t << 21) | (t >>> 11))) | 0;
    t = (a + (c ^ (b | ~d)) + x12 + 1700485571) | 0;
    a = (b + ((t << 6) | (t >>> 26))) | 0;
    t = (d + (b ^ (a | ~c)) + x3 + -1894986606) | 0;
    d = (a + ((t << 10) | (t >>> 22))) | 0;
    t = (c + (a ^ (d | ~b)) + x10 + -1051523) | 0;
    c = (d + ((t << 15) | (t >>> 17))) | 0;
    t = (b + (d ^ (c | ~a)) + x1 + -2054922799) | 0;
    b = (c + ((t << 21) | (t >>> 11))) | 0;
    t = (a + (c ^ (b | ~d)) + x8 + 1873313359) | 0;
    a = (b + ((t << 6) | (t >>> 26))) | 0;
    t = (d + (b ^ (a | ~c)) + x15 + -30611744) | 0;
    d = (a + ((t << 10) | (t >>> 22))) | 0;
    t = (c + (a ^ (d | ~b)) + x6 + -1560198380) | 0;
    c = (d + ((t << 15) | (t >>> 17))) | 0;
    t = (b + (d ^ (c | ~a)) + x13 + 1309151649) | 0;
    b = (c + ((t << 21) | (t >>> 11))) | 0;
    t = (a + (c ^ (b | ~d)) + x4 + -145523070) | 0;
    a = (b + ((t << 6) | (t >>> 26))) | 0;
    t = (d + (b ^ (a | ~c)) + x11 + -1120210379) | 0;
    d = (a + ((t << 10) | (t >>> 22))) | 0;
    t = (c + (a ^ (d | ~b)) + x2 + 718787259) | 0;
    c = (d + ((t << 15) | (t >>> 17))) | 0;
    t = (b + (d ^ (c | ~a)) + x9 + -343485551) | 0;
    b = (c + ((t << 21) | (t >>> 11))) | 0;
    a0 = (a0 + a) | 0;
    b0 = (b0 + b) | 0;
    c0 = (c0 + c) | 0;
    d0 = (d0 + d) | 0;
  }
  const out = new Uint8Array(16);
  out[0] = a0;
  out[1] = a0 >>> 8;
  out[2] = a0 >>> 16;
  out[3] = a0 >>> 24;
  out[4] = b0;
  out[5] = b0 >>> 8;
  out[6] = b0 >>> 16;
  out[7] = b0 >>> 24;
  out[8] = c0;
  out[9] = c0 >>> 8;
  out[10] = c0 >>> 16;
  out[11] = c0 >>> 24;
  out[12] = d0;
  out[13] = d0 >>> 8;
  out[14] = d0 >>> 16;
  out[15] = d0 >>> 24;
  return out;
}

const IPAD = new Uint8Array(64);
const OPAD = new Uint8Array(64);

/** HMAC-MD5 (RFC 2104) of the concatenation of `parts` under `key`. */
export function hmacMd5(key: Uint8Array, parts: readonly Uint8Array[]): Uint8Array {
  const k = key.length > 64 ? md5([key]) : key;
  for (let i = 0; i < 64; i++) {
    const kb = i < k.length ? k[i]! : 0;
    IPAD[i] = kb ^ 0x36;
    OPAD[i] = kb ^ 0x5c;
  }
  const inner = md5([IPAD, ...parts]);
  return md5([OPAD, inner]);
}

/** Equality in time independent of where the inputs differ. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
