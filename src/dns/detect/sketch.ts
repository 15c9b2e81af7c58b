/**
 * Bounded-memory counting: HyperLogLog registers (distinct counts), a count-min sketch
 * (admission to the tracked tables), and an int32-keyed open-addressing index (slots of
 * the tracked tables). All state is in typed arrays; the detectors' tables start small and
 * grow with traffic (doubling, see grown()) up to their bound, so an idle server holds
 * little and a busy one reaches a fixed size after which nothing is allocated per query.
 */
import { mix32 } from './names.ts';

/** The smallest table a growing table starts with (entries). */
export const INITIAL_ENTRIES = 256;

/** The next size of a growing table: double, at most `max`. */
export function nextSize(now: number, max: number): number {
  return Math.min(max, Math.max(1, now) * 2);
}

type Growable = Int32Array | Uint32Array | Uint8Array | Float32Array | Float64Array;

/** A copy of `a` with room for `n` elements, the new ones zero (a table growing with traffic). */
export function grown<T extends Growable>(a: T, n: number): T {
  const b = new (a.constructor as new (n: number) => T)(n);
  b.set(a);
  return b;
}

// ---- HyperLogLog (Flajolet et al. 2007, with the linear-counting small-range fix) -----

const POW2_NEG = new Float64Array(64);
for (let i = 0; i < 64; i++) POW2_NEG[i] = 2 ** -i;

function alpha(m: number): number {
  if (m === 16) return 0.673;
  if (m === 32) return 0.697;
  if (m === 64) return 0.709;
  return 0.7213 / (1 + 1.079 / m);
}

/** Adds a (well-mixed) 32-bit hash to the 2^p registers of `regs` starting at `off`. */
export function hllAdd(regs: Uint8Array, off: number, p: number, hash: number): void {
  const idx = hash >>> (32 - p);
  const w = hash << p;
  const rho = w === 0 ? 33 - p : Math.clz32(w) + 1;
  const i = off + idx;
  if (rho > regs[i]!) regs[i] = rho;
}

/** Estimate from 2^p registers at `off` (standard error ~1.04 / sqrt(2^p)). */
export function hllEstimate(regs: Uint8Array, off: number, p: number): number {
  const m = 1 << p;
  let sum = 0;
  let zeros = 0;
  for (let i = 0; i < m; i++) {
    const r = regs[off + i]!;
    sum += POW2_NEG[r]!;
    if (r === 0) zeros++;
  }
  const e = (alpha(m) * m * m) / sum;
  if (e <= 2.5 * m && zeros > 0) return m * Math.log(m / zeros);
  return e;
}

/** max-merges 2^p registers from `src` at `soff` into `dst` at `doff`. */
export function hllMerge(dst: Uint8Array, doff: number, src: Uint8Array, soff: number, p: number): void {
  const m = 1 << p;
  for (let i = 0; i < m; i++) {
    const v = src[soff + i]!;
    if (v > dst[doff + i]!) dst[doff + i] = v;
  }
}

/** A single HyperLogLog (tests, cold paths); the detectors keep many in one array. */
export class HyperLogLog {
  readonly regs: Uint8Array;
  constructor(readonly p = 10) {
    if (p < 4 || p > 16) throw new RangeError(`HyperLogLog precision ${p}: expected 4 to 16`);
    this.regs = new Uint8Array(1 << p);
  }
  add(hash32: number): void {
    hllAdd(this.regs, 0, this.p, mix32(hash32));
  }
  estimate(): number {
    return hllEstimate(this.regs, 0, this.p);
  }
  clear(): void {
    this.regs.fill(0);
  }
}

// ---- count-min sketch, reset per epoch (one second) ---------------------------------------

/**
 * Count-min (Cormode & Muthukrishnan 2005) with conservative update, counting keys within
 * one epoch; the table is cleared when a key of a later epoch arrives. Over-estimates
 * only: a key admitted at threshold T really had at least ~T minus collisions' share.
 * Blocked: a key's `depth` counters sit in one block of 32 (64 bytes, one cache line),
 * the block chosen by the key's hash and the counters within it by other bits of it, so
 * counting a key touches one cache line, not `depth`. Counters are 16 bits and stop at
 * 65,535 (admission thresholds are far below).
 */
export class EpochCountMin {
  /** Allocated by the first add (an idle detector holds none). */
  private rows = new Uint16Array(0);
  private readonly blocks: number;
  private readonly depth: number;
  epoch = -1;

  constructor(widthBits = 14, depth = 3) {
    if (depth < 1 || depth > 4) throw new RangeError(`count-min depth ${depth}: expected 1 to 4`);
    this.depth = depth;
    this.blocks = Math.max(1, (depth << widthBits) >> 5);
  }

  get bytes(): number {
    return this.rows.byteLength;
  }

  /** Counts `key` in `epoch` and returns its estimate so far in that epoch. */
  add(key: number, epoch: number): number {
    if (epoch !== this.epoch) {
      if (epoch < this.epoch) return 0; // late event of an epoch already forgotten
      if (this.rows.length === 0) this.rows = new Uint16Array(this.blocks << 5);
      else this.rows.fill(0);
      this.epoch = epoch;
    }
    const h = mix32(key);
    const rows = this.rows;
    // Block from the high bits (multiply-shift), counters from the low bits, 5 each.
    const b = Math.floor(((h >>> 0) * this.blocks) / 4294967296) << 5;
    const i0 = b + (h & 31);
    const i1 = b + ((h >>> 5) & 31);
    const i2 = b + ((h >>> 10) & 31);
    const i3 = b + ((h >>> 15) & 31);
    const d = this.depth;
    let min = rows[i0]!;
    if (d > 1 && rows[i1]! < min) min = rows[i1]!;
    if (d > 2 && rows[i2]! < min) min = rows[i2]!;
    if (d > 3 && rows[i3]! < min) min = rows[i3]!;
    if (min === 0xffff) return min;
    const next = min + 1;
    if (rows[i0]! < next) rows[i0] = next;
    if (d > 1 && rows[i1]! < next) rows[i1] = next;
    if (d > 2 && rows[i2]! < next) rows[i2] = next;
    if (d > 3 && rows[i3]! < next) rows[i3] = next;
    return next;
  }
}

// ---- int32 key -> slot index, linear probing with backward-shift deletion ---------------

/**
 * Maps int32 keys to small non-negative slot numbers; at most `capacity` keys. The table
 * starts with room for `initial` keys and doubles (rehashing) whenever it is half full,
 * until it has room for `capacity`: at most twice as many cells as keys, as before growth.
 */
export class SlotIndex {
  // key, slot + 1 (0 = empty) side by side: one cache line per probe.
  private kv: Int32Array;
  private mask: number;
  /** Keys this table takes before it doubles. */
  private room: number;
  size = 0;

  constructor(readonly capacity: number, initial = capacity) {
    const want = Math.max(1, Math.min(capacity, initial));
    let cap = 8;
    while (cap < want * 2) cap <<= 1;
    this.kv = new Int32Array(cap * 2);
    this.mask = cap - 1;
    this.room = cap >> 1;
  }

  private rehash(): void {
    const old = this.kv;
    const cap = (this.mask + 1) * 2;
    this.kv = new Int32Array(cap * 2);
    this.mask = cap - 1;
    this.room = cap >> 1;
    const kv = this.kv;
    for (let j = 0; j < old.length; j += 2) {
      if (old[j + 1] === 0) continue;
      let i = mix32(old[j]!) & this.mask;
      while (kv[2 * i + 1] !== 0) i = (i + 1) & this.mask;
      kv[2 * i] = old[j]!;
      kv[2 * i + 1] = old[j + 1]!;
    }
  }

  get bytes(): number {
    return this.kv.byteLength;
  }

  get(key: number): number {
    const kv = this.kv;
    let i = mix32(key) & this.mask;
    for (;;) {
      const v = kv[2 * i + 1]!;
      if (v === 0) return -1;
      if (kv[2 * i] === key) return v - 1;
      i = (i + 1) & this.mask;
    }
  }

  set(key: number, slot: number): void {
    const kv = this.kv;
    let i = mix32(key) & this.mask;
    for (;;) {
      const v = kv[2 * i + 1]!;
      if (v === 0) {
        if (this.size >= this.capacity) throw new RangeError('SlotIndex is full');
        if (this.size >= this.room) {
          this.rehash();
          return this.set(key, slot);
        }
        kv[2 * i] = key;
        kv[2 * i + 1] = slot + 1;
        this.size++;
        return;
      }
      if (kv[2 * i] === key) {
        kv[2 * i + 1] = slot + 1;
        return;
      }
      i = (i + 1) & this.mask;
    }
  }

  delete(key: number): boolean {
    const kv = this.kv;
    const mask = this.mask;
    let i = mix32(key) & mask;
    for (;;) {
      if (kv[2 * i + 1] === 0) return false;
      if (kv[2 * i] === key) break;
      i = (i + 1) & mask;
    }
    // Backward shift (Knuth 6.4 Algorithm R): keeps every probe chain unbroken.
    let j = i;
    for (;;) {
      j = (j + 1) & mask;
      if (kv[2 * j + 1] === 0) break;
      const home = mix32(kv[2 * j]!) & mask;
      const between = i <= j ? i < home && home <= j : i < home || home <= j;
      if (between) continue;
      kv[2 * i] = kv[2 * j]!;
      kv[2 * i + 1] = kv[2 * j + 1]!;
      i = j;
    }
    kv[2 * i] = 0;
    kv[2 * i + 1] = 0;
    this.size--;
    return true;
  }

  clear(): void {
    this.kv.fill(0);
    this.size = 0;
  }
}
