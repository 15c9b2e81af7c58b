/**
 * A compact hash table from names to two action ids (exact trigger, wildcard trigger),
 * built for 10^6-10^7 policy names.
 *
 * Why not Map<string, number>: measured at 1 M names (policy.bench.ts, README) a Map of
 * the bare names takes 65 bytes/name on the JS heap, 1 M objects the GC must walk, and it
 * still lacks the action ids and wildcards; this table takes ~28 bytes/name all in (for
 * ~18-character keys), off the heap. Layout:
 *
 *   arena   one ArrayBuffer of records, byte-packed (no alignment):
 *             key length | exact id | wildcard id | key bytes (latin1)
 *           The widths are the table's, not the record's: length 1 byte (2 once a key is
 *           longer than 255 characters), ids 1 byte (3 once an id above 254 is set; a
 *           zone interns its action sets, so a feed has a handful). Widening rewrites the
 *           arena once.
 *   slots   Int32Array, one int per slot: record byte offset + 1 in the low bits (0 empty,
 *           -1 deleted), the low bits of the name's hash above it as a tag. The split
 *           follows the arena's size: a 32 MiB arena leaves a 6-bit tag, 256 MiB 3 bits.
 *           Any number of slots (not a power of two: multiply-shift picks the slot), so
 *           the table is sized at ~70% load instead of 37-75%.
 *
 * One lookup reads one slot (the tag turns away all but 1/2^tag of the wrong slots) and,
 * on a tag hit, one record where the length, the ids and the key sit together: two cache
 * misses for a hit, one for a miss (measured: splitting the same data over five parallel
 * arrays cost ~3x). Nothing is on the JS heap, so the GC never walks it.
 *
 * In front of the slots, two one-hash Bloom filters (exact, wildcard) of 4 bits per slot
 * (1 MiB each at 1 M names, so they stay in L2/L3): a query that matches nothing, the
 * common case, is usually turned away without touching the slot array. Bits are only set,
 * never cleared (a deleted name costs a wasted probe, never a wrong answer); they are
 * rebuilt whenever the slots are.
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
 * live in SharedArrayBuffers that every thread reads and none writes (trim() leaves a
 * finished table in them already, so sharing it copies nothing). The first change a
 * thread makes to a shared table copies it first (copy-on-write of the whole table, once,
 * into fresh buffers that the next toShared() hands out as they are; entry numbers stay
 * valid), so a change is seen by the thread that made it only, and the other threads keep
 * reading the unchanged shared copy. A zone avoids even that one copy for small changes by
 * writing them into a second, small table over the shared one (RpzZone; `keepEmpty`).
 */

// Everything the hot path reads is an int32 (hashes, ids, NONE = -1): a uint32 above
// 2^31 would leave the small-integer range and be boxed, one allocation per lookup.
export const NONE = -1;
const TOMB = -1;
const FNV_OFFSET = 0x811c9dc5;
/** Largest arena: slots hold byte offsets + 1 in a non-negative int32. */
const MAX_ARENA = 0x7ffffffe;

/** Hash of s[start, end), characters taken from the end backwards (see the file comment). */
export function hashName(s: string, start: number, end: number): number {
  let h = FNV_OFFSET;
  for (let i = end - 1; i >= start; i--) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h | 0;
}

export const EMPTY_NAME_HASH = FNV_OFFSET | 0;

/** Spreads FNV's low bits (murmur3 finaliser), then maps them onto [0, size) by multiply-shift. */
function slotOf(h: number, size: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  // < size for size >= 256: the double product's rounding (< 2^7) is below the gap (size).
  return ((h >>> 0) * size / 4294967296) | 0;
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

/** Bits a slot needs for record offsets + 1 in an arena of `capacity` bytes. */
function offsetBits(capacity: number): number {
  let b = 12;
  while (2 ** b - 1 < capacity) b++;
  return b;
}

/** Slots for `names` at ~70% load. */
const slotsFor = (names: number) => Math.max(256, Math.ceil(names / 0.7));

/** A NameTable as threads share it (structured-clonable; the buffers are shared, not copied, by postMessage). */
export interface SharedNameTable {
  readonly arena: SharedArrayBuffer;
  readonly slots: SharedArrayBuffer;
  readonly exactBits: SharedArrayBuffer;
  readonly wildBits: SharedArrayBuffer;
  readonly used: number;
  readonly garbage: number;
  readonly bitShift: number;
  readonly offBits: number;
  readonly lenBytes: number;
  readonly idBytes: number;
  readonly live: number;
  readonly tombs: number;
  readonly exactCount: number;
  readonly wildCount: number;
  readonly wildByLabels: Uint32Array;
  readonly keepEmpty: boolean;
}

/** `from`'s bytes in a SharedArrayBuffer: its own when it is one already (exactly), else a copy. */
function toSab(from: Uint8Array): SharedArrayBuffer {
  if (from.buffer instanceof SharedArrayBuffer && from.byteOffset === 0 && from.byteLength === from.buffer.byteLength) return from.buffer;
  const sab = new SharedArrayBuffer(from.byteLength);
  new Uint8Array(sab).set(from);
  return sab;
}

/** A fresh copy of a (shared) buffer's bytes, in a SharedArrayBuffer no other thread has yet: ready for the next toShared(). */
function copyOf(from: ArrayBufferLike): SharedArrayBuffer {
  const sab = new SharedArrayBuffer(from.byteLength);
  new Uint8Array(sab).set(new Uint8Array(from));
  return sab;
}

/**
 * A buffer for a bulk load. Resizable, so release() hands its memory back to the system
 * the moment it is replaced: a plain ArrayBuffer goes only at a major GC, which an idle
 * server may not run for minutes, and a 1 M-name load leaves tens of MiB of replaced arena
 * and slots behind. Only while loading: typed arrays over resizable buffers read slower,
 * so trim() moves the finished table into plain buffers.
 */
function buffer(bytes: number, bulk: boolean, sab = false): ArrayBufferLike {
  return bulk ? new ResizableArrayBuffer(bytes, { maxByteLength: bytes }) : sab ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
}

// ES2024 resizable ArrayBuffers (Node 20 has them; the project's TypeScript lib predates them).
const ResizableArrayBuffer = ArrayBuffer as unknown as new (bytes: number, opts: { maxByteLength: number }) => ArrayBuffer;
const isResizable = (b: ArrayBufferLike): boolean => (b as { resizable?: boolean }).resizable === true;

/** Frees a replaced bulk-load buffer at once (nothing may read it after this). */
function release(b: ArrayBufferLike): void {
  if (isResizable(b)) (b as unknown as { resize(bytes: number): void }).resize(0);
}

/** `a`'s contents in a SharedArrayBuffer (what trim() leaves, ready to share); a resizable one is released. */
function settle(a: Int32Array): Int32Array {
  if (a.buffer instanceof SharedArrayBuffer) return a;
  const out = new Int32Array(new SharedArrayBuffer(a.byteLength));
  out.set(a);
  release(a.buffer);
  return out;
}

export class NameTable {
  private u8: Uint8Array;
  /** Bytes of the arena in use (records, live and dead). */
  private used = 0;
  private garbage = 0;
  private slots: Int32Array;
  private nSlots: number;
  /** Slot layout: offset + 1 in the low offBits, the hash's low tag bits above. */
  private offBits: number;
  private offMask: number;
  private tagMask: number;
  /** Record layout: key length in lenBytes (1 or 2), each id in idBytes (1 or 3), then the key. */
  private lenBytes = 1;
  private idBytes = 1;
  private keyOff = 3;
  private idNone = 0xff;
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
  /** While trim() runs: new buffers are SharedArrayBuffers, so a finished table is shared without a copy. */
  private sab = false;
  /**
   * Entries stay when both their triggers are removed (a table of changes over another
   * table, RpzZone: an empty entry hides the name below). The exact filter then says
   * whether a key may be present at all, whatever its triggers.
   */
  readonly keepEmpty: boolean;
  exactCount = 0;
  wildCount = 0;
  /** Wildcard triggers per label count of their suffix: lookups skip lengths with none. */
  readonly wildByLabels = new Uint32Array(128);

  /**
   * @param expected names expected (a bulk load's estimate): sizes the slots and the
   *   arena up front instead of growing them on the way; trim() gives back the excess.
   */
  constructor(expected = 0, opts: { keepEmpty?: boolean } = {}) {
    this.keepEmpty = opts.keepEmpty === true;
    this.bulk = expected > 0;
    // 32 bytes per expected name (a 29-character key) errs high; untouched pages cost no memory.
    this.u8 = new Uint8Array(buffer(Math.max(4096, 32 * expected), this.bulk));
    this.offBits = this.offMask = this.tagMask = 0;
    this.setOffBits(offsetBits(this.u8.length));
    this.nSlots = slotsFor(expected);
    this.slots = new Int32Array(buffer(4 * this.nSlots, this.bulk));
    this.bitShift = 0;
    this.exactBits = this.wildBits = new Int32Array(0);
    this.sizeFilters(this.nSlots);
  }

  /**
   * The table as other threads can share it: its own buffers, trimmed, which are
   * SharedArrayBuffers already when trim() or a copy-on-write made them (a buffer that is
   * not, e.g. an arena that grew, is copied into one); later calls return the same buffers
   * until a change. The thread that shares holds no second copy.
   */
  toShared(): SharedNameTable {
    if (!this.shared) {
      this.trim();
      this.u8 = new Uint8Array(toSab(this.u8.subarray(0, this.used)));
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
      offBits: this.offBits,
      lenBytes: this.lenBytes,
      idBytes: this.idBytes,
      live: this.live,
      tombs: this.tombs,
      exactCount: this.exactCount,
      wildCount: this.wildCount,
      wildByLabels: this.wildByLabels.slice(),
      keepEmpty: this.keepEmpty,
    };
  }

  /** A table reading another thread's shared buffers (no copy until this thread changes it). */
  static fromShared(s: SharedNameTable): NameTable {
    const t = new NameTable(0, { keepEmpty: s.keepEmpty === true });
    t.u8 = new Uint8Array(s.arena);
    t.slots = new Int32Array(s.slots);
    t.nSlots = t.slots.length;
    t.setOffBits(s.offBits);
    t.setLayout(s.lenBytes, s.idBytes);
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

  /**
   * Copy-on-write: before the first change to a shared table, take a copy no other thread
   * reads. The copy is made into fresh SharedArrayBuffers, so sharing the changed table
   * again (the usual next step) hands them out as they are instead of copying once more.
   */
  private own(): void {
    if (!this.shared) return;
    this.u8 = new Uint8Array(copyOf(this.u8.buffer));
    this.slots = new Int32Array(copyOf(this.slots.buffer));
    this.exactBits = new Int32Array(copyOf(this.exactBits.buffer));
    this.wildBits = new Int32Array(copyOf(this.wildBits.buffer));
    this.shared = false;
  }

  private setOffBits(bits: number): void {
    if (bits > 31) throw new RangeError('name table arena larger than 2 GiB');
    this.offBits = bits;
    this.offMask = 2 ** bits - 1;
    this.tagMask = 2 ** (31 - bits) - 1;
  }

  private setLayout(lenBytes: number, idBytes: number): void {
    this.lenBytes = lenBytes;
    this.idBytes = idBytes;
    this.keyOff = lenBytes + 2 * idBytes;
    this.idNone = idBytes === 1 ? 0xff : 0xffffff;
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
    let bits = 1024;
    while (bits < slots * 4) bits *= 2;
    this.bitShift = 32 - Math.log2(bits);
    release(this.exactBits.buffer);
    release(this.wildBits.buffer);
    this.exactBits = new Int32Array(buffer(bits >>> 3, this.bulk, this.sab));
    this.wildBits = new Int32Array(buffer(bits >>> 3, this.bulk, this.sab));
  }

  get size(): number {
    return this.live;
  }

  /** Exact-trigger action id of entry e (NONE if none). */
  exact(e: number): number {
    return this.idAt(e + this.lenBytes);
  }

  /** Wildcard-trigger action id of entry e (NONE if none). */
  wild(e: number): number {
    return this.idAt(e + this.lenBytes + this.idBytes);
  }

  private idAt(p: number): number {
    const u8 = this.u8;
    const v = this.idBytes === 1 ? u8[p]! : u8[p]! | (u8[p + 1]! << 8) | (u8[p + 2]! << 16);
    return v === this.idNone ? NONE : v;
  }

  private setIdAt(p: number, id: number): void {
    const v = id === NONE ? this.idNone : id;
    this.u8[p] = v & 0xff;
    if (this.idBytes === 3) {
      this.u8[p + 1] = (v >>> 8) & 0xff;
      this.u8[p + 2] = v >>> 16;
    }
  }

  /** Entry holding the key s[start, end) whose hashName is h, or -1. Allocation-free. */
  find(s: string, start: number, end: number, h: number): number {
    const n = end - start;
    const slots = this.slots;
    const u8 = this.u8;
    const size = this.nSlots;
    const offBits = this.offBits;
    const offMask = this.offMask;
    const tag = h & this.tagMask;
    const long = this.lenBytes === 2;
    const keyOff = this.keyOff - start;
    let i = slotOf(h, size);
    for (;;) {
      const ref = slots[i]!;
      if (ref === 0) return -1;
      // A deleted slot (-1) never carries a tag: -1 >>> offBits is above every tag.
      if (ref >>> offBits === tag) {
        const e = (ref & offMask) - 1;
        if ((long ? u8[e]! | (u8[e + 1]! << 8) : u8[e]) === n) {
          const k = e + keyOff;
          let j = start;
          while (j < end && u8[k + j] === s.charCodeAt(j)) j++;
          if (j === end) return e;
        }
      }
      if (++i === size) i = 0;
    }
  }

  findKey(key: string): number {
    const h = hashName(key, 0, key.length);
    const e = this.find(key, 0, key.length, h);
    this.lastE = e;
    this.lastH = h;
    return e;
  }

  /** The entry for key, created (with no triggers) if missing. Other entry numbers may change. */
  upsert(key: string): number {
    if (key.length > 0xff && this.lenBytes === 1) {
      if (key.length > 0xffff) throw new RangeError('name key longer than 65535 characters');
      this.own();
      this.relayout(2, this.idBytes, -1);
    }
    const h = hashName(key, 0, key.length);
    this.lastH = h;
    const found = this.find(key, 0, key.length, h);
    if (found >= 0) return (this.lastE = found);
    this.own();
    if ((this.live + this.tombs + 1) * 5 > this.nSlots * 4) this.rebuild(this.live * 2 >= this.nSlots ? this.nSlots * 2 : this.nSlots, -1);
    const e = this.newRecord(key);
    this.place(h, e);
    this.live++;
    if (this.keepEmpty) NameTable.mark(this.exactBits, this.bitShift, h);
    return (this.lastE = e);
  }

  /**
   * Sets entry e's exact trigger; returns e's entry number, which changes only when an id
   * above 254 first widens the table's records (use the returned number after that).
   */
  setExact(e: number, id: number): number {
    this.own();
    const h = e === this.lastE ? this.lastH : this.hashAt(e);
    e = this.widenFor(e, id);
    const was = this.exact(e);
    if (id !== NONE) NameTable.mark(this.exactBits, this.bitShift, h);
    if (was === NONE && id !== NONE) this.exactCount++;
    else if (was !== NONE && id === NONE) this.exactCount--;
    this.setIdAt(e + this.lenBytes, id);
    return e;
  }

  /** As setExact, for the wildcard trigger. */
  setWild(e: number, id: number): number {
    this.own();
    const h = e === this.lastE ? this.lastH : this.hashAt(e);
    e = this.widenFor(e, id);
    const was = this.wild(e);
    if (id !== NONE) NameTable.mark(this.wildBits, this.bitShift, h);
    if (was === NONE && id !== NONE) {
      this.wildCount++;
      this.wildByLabels[labelCount(this.keyOf(e))]!++;
    } else if (was !== NONE && id === NONE) {
      this.wildCount--;
      this.wildByLabels[labelCount(this.keyOf(e))]!--;
    }
    this.setIdAt(e + this.lenBytes + this.idBytes, id);
    return e;
  }

  /** e's entry number after making room for id (3-byte ids for ids above 254). */
  private widenFor(e: number, id: number): number {
    if (id === NONE || id < this.idNone) return e;
    if (id >= 0xffffff) throw new RangeError('more than 16 M distinct policy actions in one zone');
    return this.relayout(this.lenBytes, 3, e);
  }

  /** Deletes the entry when it has neither trigger left. Entry numbers may change after this. */
  dropIfEmpty(e: number): void {
    if (this.keepEmpty || this.exact(e) !== NONE || this.wild(e) !== NONE) return;
    this.own();
    const h = this.hashAt(e);
    let i = slotOf(h, this.nSlots);
    while ((this.slots[i]! & this.offMask) !== e + 1 || this.slots[i] === TOMB) if (++i === this.nSlots) i = 0;
    this.slots[i] = TOMB;
    this.tombs++;
    this.live--;
    this.lastE = -1;
    this.garbage += this.keyOff + this.lenAt(e);
    if (this.garbage > 65536 && this.garbage * 2 > this.used) this.compact(this.used - this.garbage, this.lenBytes, this.idBytes, -1);
  }

  keyOf(e: number): string {
    return Buffer.from(this.u8.buffer, e + this.keyOff, this.lenAt(e)).toString('latin1');
  }

  /** Live entries (each has an exact or a wildcard trigger, or both; `withEmpty`: a keepEmpty table's empty ones too). */
  *entries(withEmpty = false): IterableIterator<number> {
    for (let e = 0; e < this.used; e += this.keyOff + this.lenAt(e)) {
      if ((withEmpty && this.keepEmpty) || this.exact(e) !== NONE || this.wild(e) !== NONE) yield e;
    }
  }

  /** Bytes held outside the JS heap. */
  bytes(): number {
    return this.u8.byteLength + this.slots.byteLength + this.exactBits.byteLength + this.wildBits.byteLength;
  }

  /** After a bulk load: gives back the arena's growth slack, and slots an estimate left under half full. */
  trim(): void {
    if (this.shared) return; // already trimmed when it was shared
    const bulk = this.bulk;
    this.bulk = false; // fixed-size buffers from here on: lookups read them
    // Whatever is rebuilt here goes into SharedArrayBuffers (as fast to read as plain ones),
    // so toShared() later copies nothing: a load copies its table once, here, not twice.
    this.sab = true;
    try {
      if (this.garbage > 0) this.compact(this.used - this.garbage, this.lenBytes, this.idBytes, -1);
      else if (bulk || this.u8.length > this.used + 4096) this.realloc(this.used);
      if (this.nSlots > 256 && (this.live + this.tombs) * 2 < this.nSlots) {
        this.setOffBits(offsetBits(this.u8.length)); // the trimmed arena may leave room for a longer tag
        this.rebuild(slotsFor(this.live), -1);
      }
      this.slots = settle(this.slots);
      this.exactBits = settle(this.exactBits);
      this.wildBits = settle(this.wildBits);
    } finally {
      this.sab = false;
    }
  }

  private lenAt(e: number): number {
    return this.lenBytes === 1 ? this.u8[e]! : this.u8[e]! | (this.u8[e + 1]! << 8);
  }

  private hashAt(e: number): number {
    const b = e + this.keyOff;
    let h = FNV_OFFSET;
    for (let j = this.lenAt(e) - 1; j >= 0; j--) h = Math.imul(h ^ this.u8[b + j]!, 0x01000193);
    return h | 0;
  }

  private place(h: number, e: number): void {
    const size = this.nSlots;
    let i = slotOf(h, size);
    for (;;) {
      const ref = this.slots[i]!;
      if (ref === 0) break;
      if (ref === TOMB) {
        this.tombs--;
        break;
      }
      if (++i === size) i = 0;
    }
    this.slots[i] = ((h & this.tagMask) << this.offBits) | (e + 1);
  }

  private newRecord(key: string): number {
    const n = key.length;
    const bytes = this.keyOff + n;
    if (this.used + bytes > this.u8.length) {
      if (this.garbage * 2 > this.used) this.compact(this.used - this.garbage + bytes, this.lenBytes, this.idBytes, -1);
      if (this.used + bytes > this.u8.length) this.realloc(Math.max(this.u8.length * 2, this.used + bytes));
    }
    const e = this.used;
    const u8 = this.u8;
    u8.fill(0xff, e, e + this.keyOff); // ids NONE
    u8[e] = n & 0xff;
    if (this.lenBytes === 2) u8[e + 1] = n >>> 8;
    const k = e + this.keyOff;
    for (let j = 0; j < n; j++) u8[k + j] = key.charCodeAt(j);
    this.used += bytes;
    return e;
  }

  /** Moves the arena into `bytes` (>= used); slots follow when offsets need more bits. */
  private realloc(bytes: number): void {
    bytes = Math.min(bytes, MAX_ARENA);
    if (bytes < this.used) throw new RangeError('name table arena larger than 2 GiB');
    const u8 = new Uint8Array(buffer(bytes, this.bulk, this.sab));
    u8.set(this.u8.subarray(0, this.used));
    release(this.u8.buffer);
    this.u8 = u8;
    const bits = offsetBits(bytes);
    if (bits <= this.offBits) return;
    // Wider offsets, narrower tags: the tag is the hash's low bits, so the new tag is the
    // old one's low bits, and every slot is re-encoded where it is (no hashing).
    const oldBits = this.offBits;
    const oldMask = this.offMask;
    this.setOffBits(bits);
    const slots = this.slots;
    for (let i = 0; i < slots.length; i++) {
      const ref = slots[i]!;
      if (ref === 0 || ref === TOMB) continue;
      slots[i] = (((ref >>> oldBits) & this.tagMask) << bits) | (ref & oldMask);
    }
  }

  /** New slots of `size` (and filters) from the arena's live records, and `keep` even without a trigger. */
  private rebuild(size: number, keep: number): void {
    this.lastE = -1;
    const old = this.slots;
    this.nSlots = size;
    this.slots = new Int32Array(buffer(4 * size, this.bulk, this.sab));
    release(old.buffer);
    this.sizeFilters(size);
    this.tombs = 0;
    this.live = 0;
    const lenBytes = this.lenBytes;
    for (let e = 0; e < this.used; e += this.keyOff + this.lenAt(e)) {
      const ex = this.idAt(e + lenBytes) !== NONE;
      const wi = this.idAt(e + lenBytes + this.idBytes) !== NONE;
      if (!ex && !wi && e !== keep && !this.keepEmpty) continue;
      const h = this.hashAt(e);
      this.place(h, e);
      this.live++;
      if (ex || this.keepEmpty) NameTable.mark(this.exactBits, this.bitShift, h);
      if (wi) NameTable.mark(this.wildBits, this.bitShift, h);
    }
  }

  /** Rewrites the records with another layout (wider lengths or ids); returns keep's new entry number. */
  private relayout(lenBytes: number, idBytes: number, keep: number): number {
    const grow = lenBytes + 2 * idBytes - this.keyOff;
    return this.compact(this.used - this.garbage + this.live * grow, lenBytes, idBytes, keep);
  }

  /**
   * Copies the live records (and `keep`) into a fresh arena of at least `bytes`, in the
   * given layout, and re-slots them; returns keep's new entry number (-1 if none).
   */
  private compact(bytes: number, lenBytes: number, idBytes: number, keep: number): number {
    const from = this.u8;
    const fromLen = this.lenBytes;
    const fromId = this.idBytes;
    const fromKeyOff = this.keyOff;
    const fromNone = this.idNone;
    const capacity = Math.min(MAX_ARENA, Math.max(4096, bytes));
    if (capacity < bytes) throw new RangeError('name table arena larger than 2 GiB');
    const u8 = new Uint8Array(buffer(capacity, this.bulk, this.sab));
    const keyOff = lenBytes + 2 * idBytes;
    const none = idBytes === 1 ? 0xff : 0xffffff;
    const readId = (p: number) => {
      const v = fromId === 1 ? from[p]! : from[p]! | (from[p + 1]! << 8) | (from[p + 2]! << 16);
      return v === fromNone ? none : v;
    };
    let p = 0;
    let kept = -1;
    for (let e = 0; e < this.used; ) {
      const n = fromLen === 1 ? from[e]! : from[e]! | (from[e + 1]! << 8);
      const ex = readId(e + fromLen);
      const wi = readId(e + fromLen + fromId);
      if (ex !== none || wi !== none || e === keep || this.keepEmpty) {
        if (e === keep) kept = p;
        u8[p] = n & 0xff;
        if (lenBytes === 2) u8[p + 1] = n >>> 8;
        for (let j = 0; j < idBytes; j++) {
          u8[p + lenBytes + j] = (ex >>> (8 * j)) & 0xff;
          u8[p + lenBytes + idBytes + j] = (wi >>> (8 * j)) & 0xff;
        }
        u8.set(from.subarray(e + fromKeyOff, e + fromKeyOff + n), p + keyOff);
        p += keyOff + n;
      }
      e += fromKeyOff + n;
    }
    release(from.buffer);
    this.u8 = u8;
    this.used = p;
    this.garbage = 0;
    this.setLayout(lenBytes, idBytes);
    this.setOffBits(offsetBits(capacity));
    this.rebuild(this.nSlots, kept);
    return kept;
  }
}
