/**
 * A compact hash table from names to two action ids (exact trigger, wildcard trigger),
 * built for 10^6-10^7 policy names.
 *
 * Why not Map<string, number>: measured at 1 M names (policy.bench.ts, README) a Map of
 * the bare names takes 65 bytes/name on the JS heap, 1 M objects the GC must walk, and it
 * still lacks the action ids and wildcards; this table takes 47 bytes/name all in, off
 * the heap. Layout:
 *
 *   arena   one ArrayBuffer of records, each 4-byte aligned:
 *             i32 exact id | i32 wildcard id | u16 key length | key bytes (latin1)
 *   slots   Int32Array of pairs: hash | record word offset + 1 (0 empty, -1 deleted)
 *
 * One lookup reads one slot pair (the hash rejects almost every wrong slot) and, on a
 * hash hit, one record where the ids and the key sit together: two cache misses for a
 * hit, one for a miss, which is what the hot path pays at this size (measured: splitting
 * the same data over five parallel arrays cost ~3x). Nothing is on the JS heap, so the GC
 * never walks it.
 *
 * In front of the slots, two one-hash Bloom filters (exact, wildcard) of 4 bits per slot
 * (1 MiB each at 1 M names, so they stay in L2/L3): a query that matches nothing, the
 * common case, is usually turned away without touching the 16 MiB slot array. Bits are
 * only set, never cleared (a deleted name costs a wasted probe, never a wrong answer);
 * they are rebuilt whenever the slots are.
 *
 * One record per name holds both the exact trigger (`name`) and the wildcard trigger
 * (`*.name`): a feed that lists each domain twice (name and *.name, the SuffixMatch shape)
 * stores each key once.
 *
 * Lookups take the query name as a JS string with a range and a hash computed by the
 * caller and compare characters against the arena: no allocation on hit or miss. The
 * hash is FNV-1a over the characters from the END of the name backwards, so one backward
 * pass over a query name yields the hash of every suffix at its label boundaries.
 *
 * Sharing between threads (toShared / fromShared): the arena, the slots and the filters
 * move into SharedArrayBuffers that every thread reads and none writes. The first change
 * a thread makes to a shared table copies it into private memory first (copy-on-write of
 * the whole table, once; entry numbers stay valid), so a change is seen by the thread that
 * made it only, and the other threads keep reading the unchanged shared copy.
 */

// Everything the hot path reads is an int32 (hashes, ids, NONE = -1): a uint32 above
// 2^31 would leave the small-integer range and be boxed, one allocation per lookup.
export const NONE = -1;
const TOMB = -1;
const FNV_OFFSET = 0x811c9dc5;
const HEADER = 10;

/** Hash of s[start, end), characters taken from the end backwards (see the file comment). */
export function hashName(s: string, start: number, end: number): number {
  let h = FNV_OFFSET;
  for (let i = end - 1; i >= start; i--) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h | 0;
}

export const EMPTY_NAME_HASH = FNV_OFFSET | 0;

/** Spreads FNV's low bits over the table (murmur3 finaliser). */
function slotOf(h: number, mask: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h & mask;
}

/** Labels in canonical name text ('' has none). */
export function labelCount(key: string): number {
  if (key === '') return 0;
  let n = 1;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c === 92) i++;
    else if (c === 46) n++;
  }
  return n;
}

const recordBytes = (len: number) => (HEADER + len + 3) & ~3;

/** A NameTable as threads share it (structured-clonable; the buffers are shared, not copied, by postMessage). */
export interface SharedNameTable {
  readonly arena: SharedArrayBuffer;
  readonly slots: SharedArrayBuffer;
  readonly exactBits: SharedArrayBuffer;
  readonly wildBits: SharedArrayBuffer;
  readonly used: number;
  readonly garbage: number;
  readonly bitShift: number;
  readonly live: number;
  readonly tombs: number;
  readonly exactCount: number;
  readonly wildCount: number;
  readonly wildByLabels: Uint32Array;
}

function toSab(from: Uint8Array): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(from.byteLength);
  new Uint8Array(sab).set(from);
  return sab;
}

/** A private copy of a (shared) buffer's bytes. */
function toPrivate(from: ArrayBufferLike): ArrayBuffer {
  const ab = new ArrayBuffer(from.byteLength);
  new Uint8Array(ab).set(new Uint8Array(from));
  return ab;
}

/**
 * A buffer for a bulk load. Resizable, so release() hands its memory back to the system
 * the moment it is replaced: a plain ArrayBuffer goes only at a major GC, which an idle
 * server may not run for minutes, and a 1 M-name load leaves ~40 MiB of replaced arena
 * and slots behind. Only while loading: typed arrays over resizable buffers read slower,
 * so trim() moves the finished table into plain buffers.
 */
function buffer(bytes: number, bulk: boolean): ArrayBuffer {
  return bulk ? new ResizableArrayBuffer(bytes, { maxByteLength: bytes }) : new ArrayBuffer(bytes);
}

// ES2024 resizable ArrayBuffers (Node 20 has them; the project's TypeScript lib predates them).
const ResizableArrayBuffer = ArrayBuffer as unknown as new (bytes: number, opts: { maxByteLength: number }) => ArrayBuffer;
const isResizable = (b: ArrayBufferLike): boolean => (b as { resizable?: boolean }).resizable === true;

/** Frees a replaced bulk-load buffer at once (nothing may read it after this). */
function release(b: ArrayBufferLike): void {
  if (isResizable(b)) (b as unknown as { resize(bytes: number): void }).resize(0);
}

/** `a`'s contents in a plain buffer; a resizable one is released. */
function settle(a: Int32Array): Int32Array {
  if (!isResizable(a.buffer)) return a;
  const plain = new Int32Array(a);
  release(a.buffer);
  return plain;
}

export class NameTable {
  private u8: Uint8Array;
  private i32: Int32Array;
  /** Bytes of the arena in use (records, live and dead). */
  private used = 0;
  private garbage = 0;
  private slots: Int32Array;
  private mask: number;
  private exactBits: Int32Array;
  private wildBits: Int32Array;
  private bitShift: number;
  private live = 0;
  private tombs = 0;
  // The hash of the entry upsert() or findKey() returned last, so setting its trigger
  // right after does not hash the key again.
  private lastE = -1;
  private lastH = 0;
  /** The buffers are SharedArrayBuffers other threads read: copy them before any write. */
  private shared = false;
  /** A bulk load until trim(): buffers that are replaced are released at once (see buffer()). */
  private bulk: boolean;
  exactCount = 0;
  wildCount = 0;
  /** Wildcard triggers per label count of their suffix: lookups skip lengths with none. */
  readonly wildByLabels = new Uint32Array(128);

  /**
   * @param expected names expected (a bulk load's estimate): sizes the slots and the
   *   arena up front instead of doubling them on the way; trim() gives back the excess.
   */
  constructor(expected = 0) {
    let size = 256;
    while (size * 3 < expected * 4) size *= 2;
    this.bulk = expected > 0;
    // 48 bytes per expected name (a 36-character key) errs high; untouched pages cost no memory.
    const ab = buffer(Math.max(4096, 48 * expected), this.bulk);
    this.u8 = new Uint8Array(ab);
    this.i32 = new Int32Array(ab);
    this.slots = new Int32Array(buffer(8 * size, this.bulk));
    this.mask = size - 1;
    this.bitShift = 0;
    this.exactBits = this.wildBits = new Int32Array(0);
    this.sizeFilters(size);
  }

  /**
   * The table as other threads can share it. The first call moves the table itself into
   * SharedArrayBuffers (one copy, trimmed; the private buffers are dropped), so the thread
   * that shares holds no second copy; later calls return the same buffers until a change.
   */
  toShared(): SharedNameTable {
    if (!this.shared) {
      this.trim();
      const arena = toSab(this.u8.subarray(0, this.used));
      this.u8 = new Uint8Array(arena);
      this.i32 = new Int32Array(arena);
      this.slots = new Int32Array(toSab(new Uint8Array(this.slots.buffer)));
      this.exactBits = new Int32Array(toSab(new Uint8Array(this.exactBits.buffer)));
      this.wildBits = new Int32Array(toSab(new Uint8Array(this.wildBits.buffer)));
      this.shared = true;
    }
    return {
      arena: this.u8.buffer as SharedArrayBuffer,
      slots: this.slots.buffer as SharedArrayBuffer,
      exactBits: this.exactBits.buffer as SharedArrayBuffer,
      wildBits: this.wildBits.buffer as SharedArrayBuffer,
      used: this.used,
      garbage: this.garbage,
      bitShift: this.bitShift,
      live: this.live,
      tombs: this.tombs,
      exactCount: this.exactCount,
      wildCount: this.wildCount,
      wildByLabels: this.wildByLabels.slice(),
    };
  }

  /** A table reading another thread's shared buffers (no copy until this thread changes it). */
  static fromShared(s: SharedNameTable): NameTable {
    const t = new NameTable(0);
    t.u8 = new Uint8Array(s.arena);
    t.i32 = new Int32Array(s.arena);
    t.slots = new Int32Array(s.slots);
    t.mask = s.slots.byteLength / 8 - 1;
    t.exactBits = new Int32Array(s.exactBits);
    t.wildBits = new Int32Array(s.wildBits);
    t.used = s.used;
    t.garbage = s.garbage;
    t.bitShift = s.bitShift;
    t.live = s.live;
    t.tombs = s.tombs;
    t.exactCount = s.exactCount;
    t.wildCount = s.wildCount;
    t.wildByLabels.set(s.wildByLabels);
    t.shared = true;
    return t;
  }

  /** True while the buffers are shared with other threads (no change made here since). */
  get isShared(): boolean {
    return this.shared;
  }

  /** Copy-on-write: before the first change to a shared table, take a private copy. */
  private own(): void {
    if (!this.shared) return;
    const arena = toPrivate(this.u8.buffer);
    this.u8 = new Uint8Array(arena);
    this.i32 = new Int32Array(arena);
    this.slots = new Int32Array(toPrivate(this.slots.buffer));
    this.exactBits = new Int32Array(toPrivate(this.exactBits.buffer));
    this.wildBits = new Int32Array(toPrivate(this.wildBits.buffer));
    this.shared = false;
  }

  /** False when no exact trigger has hash h (Bloom filter: true may still miss). */
  mayHaveExact(h: number): boolean {
    const b = Math.imul(h, 0x9e3779b1) >>> this.bitShift;
    return (this.exactBits[b >>> 5]! & (1 << (b & 31))) !== 0;
  }

  mayHaveWild(h: number): boolean {
    const b = Math.imul(h, 0x9e3779b1) >>> this.bitShift;
    return (this.wildBits[b >>> 5]! & (1 << (b & 31))) !== 0;
  }

  private static mark(bits: Int32Array, shift: number, h: number): void {
    const b = Math.imul(h, 0x9e3779b1) >>> shift;
    bits[b >>> 5]! |= 1 << (b & 31);
  }

  /** 4 bits per slot in each filter (a power of two, >= 1024 bits). */
  private sizeFilters(slots: number): void {
    const bits = Math.max(1024, slots * 4);
    this.bitShift = 32 - Math.log2(bits);
    release(this.exactBits.buffer);
    release(this.wildBits.buffer);
    this.exactBits = new Int32Array(buffer(bits >>> 3, this.bulk));
    this.wildBits = new Int32Array(buffer(bits >>> 3, this.bulk));
  }

  /** Sets both filters from the live records (after the slots were rebuilt). */
  private refilter(): void {
    this.sizeFilters(this.mask + 1);
    const slots = this.slots;
    for (let i = 0; i < slots.length; i += 2) {
      const ref = slots[i + 1]!;
      if (ref === 0 || ref === TOMB) continue;
      const e = ref - 1;
      if (this.i32[e] !== NONE) NameTable.mark(this.exactBits, this.bitShift, slots[i]!);
      if (this.i32[e + 1] !== NONE) NameTable.mark(this.wildBits, this.bitShift, slots[i]!);
    }
  }

  get size(): number {
    return this.live;
  }

  /** Exact-trigger action id of entry e (NONE if none). */
  exact(e: number): number {
    return this.i32[e]!;
  }

  /** Wildcard-trigger action id of entry e (NONE if none). */
  wild(e: number): number {
    return this.i32[e + 1]!;
  }

  /** Entry holding the key s[start, end) whose hashName is h, or -1. Allocation-free. */
  find(s: string, start: number, end: number, h: number): number {
    const n = end - start;
    const slots = this.slots;
    const u8 = this.u8;
    const mask = this.mask;
    let i = slotOf(h, mask);
    for (;;) {
      const ref = slots[2 * i + 1]!;
      if (ref === 0) return -1;
      if (slots[2 * i] === h && ref !== TOMB) {
        const e = ref - 1;
        const b = e << 2;
        if ((u8[b + 8]! | (u8[b + 9]! << 8)) === n) {
          const k = b + HEADER - start;
          let j = start;
          while (j < end && u8[k + j] === s.charCodeAt(j)) j++;
          if (j === end) return e;
        }
      }
      i = (i + 1) & mask;
    }
  }

  findKey(key: string): number {
    const h = hashName(key, 0, key.length);
    const e = this.find(key, 0, key.length, h);
    this.lastE = e;
    this.lastH = h;
    return e;
  }

  /** The entry for key, created (with no triggers) if missing. */
  upsert(key: string): number {
    const h = hashName(key, 0, key.length);
    this.lastH = h;
    const found = this.find(key, 0, key.length, h);
    if (found >= 0) return (this.lastE = found);
    this.own();
    if ((this.live + this.tombs + 1) * 4 > (this.mask + 1) * 3) this.resize();
    const e = this.newRecord(key);
    this.place(h, e);
    this.live++;
    return (this.lastE = e);
  }

  setExact(e: number, id: number): void {
    this.own();
    const was = this.i32[e]!;
    if (id !== NONE) NameTable.mark(this.exactBits, this.bitShift, e === this.lastE ? this.lastH : this.hashAt(e));
    if (was === NONE && id !== NONE) this.exactCount++;
    else if (was !== NONE && id === NONE) this.exactCount--;
    this.i32[e] = id;
  }

  setWild(e: number, id: number): void {
    this.own();
    const was = this.i32[e + 1]!;
    if (id !== NONE) NameTable.mark(this.wildBits, this.bitShift, e === this.lastE ? this.lastH : this.hashAt(e));
    if (was === NONE && id !== NONE) {
      this.wildCount++;
      this.wildByLabels[labelCount(this.keyOf(e))]!++;
    } else if (was !== NONE && id === NONE) {
      this.wildCount--;
      this.wildByLabels[labelCount(this.keyOf(e))]!--;
    }
    this.i32[e + 1] = id;
  }

  /** Deletes the entry when it has neither trigger left. Entry numbers may change after this. */
  dropIfEmpty(e: number): void {
    if (this.i32[e] !== NONE || this.i32[e + 1] !== NONE) return;
    this.own();
    const h = this.hashAt(e);
    let i = slotOf(h, this.mask);
    while (this.slots[2 * i + 1] !== e + 1) i = (i + 1) & this.mask;
    this.slots[2 * i + 1] = TOMB;
    this.tombs++;
    this.live--;
    this.garbage += recordBytes(this.lenAt(e));
    if (this.garbage > 65536 && this.garbage * 2 > this.used) this.compact(this.used - this.garbage);
  }

  keyOf(e: number): string {
    const b = (e << 2) + HEADER;
    return Buffer.from(this.u8.buffer, b, this.lenAt(e)).toString('latin1');
  }

  /** Live entries (each has an exact or a wildcard trigger, or both). */
  *entries(): IterableIterator<number> {
    for (let b = 0; b < this.used; b += recordBytes(this.lenAt(b >> 2))) {
      const e = b >> 2;
      if (this.i32[e] !== NONE || this.i32[e + 1] !== NONE) yield e;
    }
  }

  /** Bytes held outside the JS heap. */
  bytes(): number {
    return this.u8.byteLength + this.slots.byteLength + this.exactBits.byteLength + this.wildBits.byteLength;
  }

  /** After a bulk load: gives back the arena's growth slack. */
  trim(): void {
    if (this.shared) return; // already trimmed when it was shared
    const bulk = this.bulk;
    this.bulk = false; // plain buffers from here on: lookups read them
    if (this.garbage > 0) this.compact(this.used - this.garbage);
    else if (bulk || this.u8.length > this.used + 4096) this.realloc(this.used);
    this.slots = settle(this.slots);
    this.exactBits = settle(this.exactBits);
    this.wildBits = settle(this.wildBits);
  }

  private lenAt(e: number): number {
    const b = e << 2;
    return this.u8[b + 8]! | (this.u8[b + 9]! << 8);
  }

  private hashAt(e: number): number {
    const b = (e << 2) + HEADER;
    let h = FNV_OFFSET;
    for (let j = this.lenAt(e) - 1; j >= 0; j--) h = Math.imul(h ^ this.u8[b + j]!, 0x01000193);
    return h | 0;
  }

  private place(h: number, e: number): void {
    const mask = this.mask;
    let i = slotOf(h, mask);
    for (;;) {
      const ref = this.slots[2 * i + 1]!;
      if (ref === 0) break;
      if (ref === TOMB) {
        this.tombs--;
        break;
      }
      i = (i + 1) & mask;
    }
    this.slots[2 * i] = h;
    this.slots[2 * i + 1] = e + 1;
  }

  private newRecord(key: string): number {
    const n = key.length;
    if (n > 0xffff) throw new RangeError('name key longer than 65535 characters');
    const size = recordBytes(n);
    if (this.used + size > this.u8.length) {
      if (this.garbage * 2 > this.used) this.compact(this.used - this.garbage + size);
      if (this.used + size > this.u8.length) this.realloc(Math.max(this.u8.length * 2, this.used + size));
    }
    const b = this.used;
    const e = b >> 2;
    this.i32[e] = NONE;
    this.i32[e + 1] = NONE;
    this.u8[b + 8] = n & 0xff;
    this.u8[b + 9] = n >> 8;
    for (let j = 0; j < n; j++) this.u8[b + HEADER + j] = key.charCodeAt(j);
    this.used += size;
    return e;
  }

  private realloc(bytes: number): void {
    const ab = buffer((bytes + 3) & ~3, this.bulk);
    const u8 = new Uint8Array(ab);
    u8.set(this.u8.subarray(0, this.used));
    release(this.u8.buffer);
    this.u8 = u8;
    this.i32 = new Int32Array(ab);
  }

  private resize(): void {
    // Grow when live entries fill half the table; otherwise only sweep the tombstones.
    const size = this.live * 2 >= this.mask + 1 ? (this.mask + 1) * 2 : this.mask + 1;
    const old = this.slots;
    this.slots = new Int32Array(buffer(8 * size, this.bulk));
    this.mask = size - 1;
    this.tombs = 0;
    for (let i = 0; i < old.length; i += 2) {
      const ref = old[i + 1]!;
      if (ref !== 0 && ref !== TOMB) this.place(old[i]!, ref - 1);
    }
    release(old.buffer);
    this.refilter();
  }

  /** Copies live records into a fresh arena of at least `bytes` and re-slots them. */
  private compact(bytes: number): void {
    this.lastE = -1;
    const ab = buffer(Math.max(4096, (bytes + 3) & ~3), this.bulk);
    const u8 = new Uint8Array(ab);
    const i32 = new Int32Array(ab);
    let p = 0;
    for (let b = 0; b < this.used; ) {
      const e = b >> 2;
      const size = recordBytes(this.lenAt(e));
      if (this.i32[e] !== NONE || this.i32[e + 1] !== NONE) {
        u8.set(new Uint8Array(this.u8.buffer, b, size), p);
        p += size;
      }
      b += size;
    }
    release(this.u8.buffer);
    this.u8 = u8;
    this.i32 = i32;
    this.used = p;
    this.garbage = 0;
    this.slots.fill(0);
    this.tombs = 0;
    for (let b = 0; b < p; b += recordBytes(this.lenAt(b >> 2))) this.place(this.hashAt(b >> 2), b >> 2);
    this.refilter();
  }
}
