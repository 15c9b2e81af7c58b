/**
 * Names that were answered NOERROR recently: the ones a random-subdomain mitigation must
 * keep resolving (issue 5: zero collateral on the victim zone's previously resolved names).
 *
 * A table of `capacity` names for all zones together, set-associative: a name's hash picks
 * one set of WAYS slots side by side, so noting a name touches one set (a cache line or
 * two) whatever the table's size; within a set, a new name replaces by CLOCK (second
 * chance): a name asked again sets its reference bit and survives the set's next sweep, so
 * popular names stay while names seen once age out. A mitigation reads the names of its
 * zone first seen before the attack and turns them into PASSTHRU exceptions.
 *
 * The names' text is copied as latin1 bytes into a ring of BYTES_PER_NAME x slots bytes
 * (no reference to the server's strings: holding one per name for seconds made the
 * garbage collector promote and later sweep every resolved name). A name whose bytes the
 * ring has written over since is rewritten when it is noted again (a popular name), and
 * otherwise lost. The table and the ring grow with the names noted (the sets doubling from
 * INITIAL_ENTRIES slots) up to `capacity` (rounded up to whole sets).
 */
import { mix32 } from './names.ts';
import { INITIAL_ENTRIES } from './sketch.ts';

/** Slots per set. */
const WAYS = 16;
/** Ring bytes per slot: room for names of this length on average (longer ones age out sooner). */
const BYTES_PER_NAME = 32;
/** Longest name kept (text of a wire name is at most 253 characters, unescaped). */
const MAX_NAME = 255;

export class KnownGoodNames {
  /** Sets when every slot is allocated. */
  private readonly maxSets: number;
  private sets: number;
  /** Per slot (set * WAYS + way): the key (mix of the name's and zone's hashes; 0 = empty). */
  private key: Int32Array;
  private zoneHash: Int32Array;
  private firstSec: Int32Array;
  private ref: Uint8Array;
  /** Where each slot's name starts, as a count of ring bytes ever written (-1: not kept). */
  private pos: Float64Array;
  private len: Uint8Array;
  /** Per set: the CLOCK hand (a way). */
  private hand: Uint8Array;
  private ring: Buffer;
  /** Ring bytes ever written (the write position is this modulo the ring's size). */
  private written = 0;
  private count = 0;
  /**
   * Names noted since the last period (direct-mapped, 16 KiB, stays in cache): a popular
   * name costs one probe here instead of one in the big table, and still sets its
   * reference bit once a period.
   */
  private readonly recent = new Int32Array(4096);

  constructor(readonly capacity: number) {
    this.maxSets = Math.max(1, Math.ceil(capacity / WAYS));
    this.sets = Math.min(this.maxSets, Math.max(1, INITIAL_ENTRIES / WAYS));
    const n = this.sets * WAYS;
    this.key = new Int32Array(n);
    this.zoneHash = new Int32Array(n);
    this.firstSec = new Int32Array(n);
    this.ref = new Uint8Array(n);
    this.pos = new Float64Array(n);
    this.len = new Uint8Array(n);
    this.hand = new Uint8Array(this.sets);
    this.ring = Buffer.alloc(n * BYTES_PER_NAME);
  }

  get size(): number {
    return this.count;
  }

  /** Bytes held now: the table and the ring of names. */
  get bytes(): number {
    return this.key.length * 22 + this.hand.length + this.ring.length + this.recent.byteLength;
  }

  /** The set of a key: multiply-shift onto [0, sets), any number of sets. */
  private setOf(key: number, sets = this.sets): number {
    return Math.floor(((key >>> 0) * sets) / 4294967296);
  }

  /** Records that `name` (hash `h`, zone hash `zone`) resolved at `sec`. */
  note(name: string, h: number, zone: number, sec: number): void {
    const key = mix32(h ^ zone) | 1; // never 0 (empty)
    const r = key & 4095;
    if (this.recent[r] === key) return;
    this.recent[r] = key;
    let base = this.setOf(key) * WAYS;
    let keys = this.key;
    let free = -1;
    for (let w = 0; w < WAYS; w++) {
      const k = keys[base + w]!;
      if (k === key) {
        const s = base + w;
        this.ref[s] = 1;
        // Asked again after the ring wrote over it: its text goes back in.
        if (!this.intact(s, this.pos[s]!, this.written, this.ring.length)) this.keep(s, name);
        return;
      }
      if (k === 0 && free < 0) free = w;
    }
    if (free < 0 && this.sets < this.maxSets) {
      // This set is full and the table may grow: more sets (rare: each doubling, until the
      // capacity), so that nothing is replaced before the table has reached its bound.
      this.grow();
      base = this.setOf(key) * WAYS;
      keys = this.key;
      for (let w = 0; w < WAYS && free < 0; w++) if (keys[base + w] === 0) free = w;
    }
    let s: number;
    if (free >= 0) {
      s = base + free;
      this.count++;
    } else {
      // CLOCK within the set: skip (and clear) referenced slots; at most WAYS + 1 steps.
      const set = base / WAYS;
      let w = this.hand[set]!;
      while (this.ref[base + w] === 1) {
        this.ref[base + w] = 0;
        w = (w + 1) % WAYS;
      }
      s = base + w;
      this.hand[set] = (w + 1) % WAYS;
    }
    keys[s] = key;
    this.zoneHash[s] = zone;
    this.firstSec[s] = sec;
    this.ref[s] = 0;
    this.keep(s, name);
  }

  /** Twice the sets (at most maxSets); every name moves to its set in the new table, its text into the new ring. */
  private grow(): void {
    const oldKey = this.key;
    const oldZone = this.zoneHash;
    const oldFirst = this.firstSec;
    const oldRef = this.ref;
    const oldPos = this.pos;
    const oldLen = this.len;
    const oldRing = this.ring;
    const was = this.written;
    const sets = (this.sets = Math.min(this.maxSets, this.sets * 2));
    const n = sets * WAYS;
    this.key = new Int32Array(n);
    this.zoneHash = new Int32Array(n);
    this.firstSec = new Int32Array(n);
    this.ref = new Uint8Array(n);
    this.pos = new Float64Array(n);
    this.len = new Uint8Array(n);
    this.hand = new Uint8Array(sets);
    this.ring = Buffer.alloc(n * BYTES_PER_NAME);
    this.written = 0;
    this.count = 0;
    for (let o = 0; o < oldKey.length; o++) {
      if (oldKey[o] === 0) continue;
      const base = this.setOf(oldKey[o]!) * WAYS;
      let w = 0;
      while (w < WAYS && this.key[base + w] !== 0) w++;
      if (w === WAYS) continue; // only when the last step is not a doubling: that name is dropped
      const s = base + w;
      this.key[s] = oldKey[o]!;
      this.zoneHash[s] = oldZone[o]!;
      this.firstSec[s] = oldFirst[o]!;
      this.ref[s] = oldRef[o]!;
      this.count++;
      const p = oldPos[o]!;
      this.len[s] = oldLen[o]!;
      if (!this.intact(s, p, was, oldRing.length)) {
        this.pos[s] = -1;
        continue;
      }
      const at = p % oldRing.length;
      this.pos[s] = this.written;
      oldRing.copy(this.ring, this.written, at, at + oldLen[o]!);
      this.written += oldLen[o]!;
    }
  }

  /** Copies the name's text into the ring for slot s (not kept when longer than MAX_NAME). */
  private keep(s: number, name: string): void {
    const n = name.length;
    if (n > MAX_NAME) {
      this.pos[s] = -1;
      return;
    }
    const ring = this.ring;
    const cap = ring.length;
    let at = this.written % cap;
    // A name never straddles the end of the ring: the rest of it is skipped.
    if (at + n > cap) {
      this.written += cap - at;
      at = 0;
    }
    for (let i = 0; i < n; i++) ring[at + i] = name.charCodeAt(i);
    this.pos[s] = this.written;
    this.len[s] = n;
    this.written += n;
  }

  /** Whether slot s's text (written at p) is still whole in a ring of `cap` bytes of which `written` were written. */
  private intact(s: number, p: number, written: number, cap: number): boolean {
    return p >= 0 && written - p <= cap - this.len[s]!;
  }

  /** Starts a new period (once a second): names seen again refresh their reference bit. */
  newPeriod(): void {
    this.recent.fill(0);
  }

  /** Whether the name is held (tests, the harness). */
  has(h: number, zone: number): boolean {
    const key = mix32(h ^ zone) | 1;
    const base = this.setOf(key) * WAYS;
    for (let w = 0; w < WAYS; w++) if (this.key[base + w] === key) return true;
    return false;
  }

  /**
   * Names of the zone (hash `zone`, text `zoneText`) first seen before `beforeSec`, newest
   * reference first, at most `max`. Scans the table: called once per mitigation.
   */
  namesOf(zone: number, zoneText: string, beforeSec: number, max: number): string[] {
    const out: { name: string; ref: number; first: number }[] = [];
    const dotted = '.' + zoneText;
    const cap = this.ring.length;
    for (let s = 0; s < this.key.length; s++) {
      if (this.key[s] === 0 || this.zoneHash[s] !== zone || this.firstSec[s]! >= beforeSec) continue;
      const p = this.pos[s]!;
      if (!this.intact(s, p, this.written, cap)) continue; // its text was written over
      const at = p % cap;
      const n = this.ring.toString('latin1', at, at + this.len[s]!);
      if (n !== zoneText && !n.endsWith(dotted)) continue; // a zone-hash collision
      out.push({ name: n, ref: this.ref[s]!, first: this.firstSec[s]! });
    }
    out.sort((a, b) => b.ref - a.ref || b.first - a.first);
    return out.slice(0, max).map((x) => x.name);
  }
}
