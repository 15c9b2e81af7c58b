/**
 * Names that were answered NOERROR recently: the ones a random-subdomain mitigation must
 * keep resolving (issue 5: zero collateral on the victim zone's previously resolved names).
 *
 * A fixed table of `capacity` names for all zones together, replaced by CLOCK (second
 * chance): a name asked again sets its reference bit and survives the next sweep, so
 * popular names stay while names seen once age out. The names are kept as the strings the
 * server already made (no copy); a mitigation reads those of its zone, first seen before
 * the attack, and turns them into PASSTHRU exceptions. The arrays grow with the names
 * noted (doubling from INITIAL_ENTRIES) up to `capacity`.
 */
import { mix32 } from './names.ts';
import { grown, INITIAL_ENTRIES, nextSize, SlotIndex } from './sketch.ts';

export class KnownGoodNames {
  private readonly index: SlotIndex;
  private nameHash: Int32Array;
  private zoneHash: Int32Array;
  private firstSec: Int32Array;
  private ref: Uint8Array;
  /** Slots allocated so far (<= capacity). */
  private allocated: number;
  private readonly names: string[] = [];
  private hand = 0;
  private filled = 0;
  /**
   * Names noted since the last period (direct-mapped, 16 KiB, stays in cache): a popular
   * name costs one probe here instead of one in the big table, and still sets its
   * reference bit once a period.
   */
  private readonly recent = new Int32Array(4096);

  constructor(readonly capacity: number) {
    const n = (this.allocated = Math.min(capacity, INITIAL_ENTRIES));
    this.index = new SlotIndex(capacity, n);
    this.nameHash = new Int32Array(n);
    this.zoneHash = new Int32Array(n);
    this.firstSec = new Int32Array(n);
    this.ref = new Uint8Array(n);
  }

  /** Room for more names (rare: each doubling, until the capacity is reached). */
  private grow(): void {
    const n = (this.allocated = nextSize(this.allocated, this.capacity));
    this.nameHash = grown(this.nameHash, n);
    this.zoneHash = grown(this.zoneHash, n);
    this.firstSec = grown(this.firstSec, n);
    this.ref = grown(this.ref, n);
  }

  get size(): number {
    return this.index.size;
  }

  /** Bytes held now: typed arrays and the names' references (the strings are the server's own and extra). */
  get bytes(): number {
    return this.index.bytes + this.allocated * 13 + this.names.length * 8 + this.recent.byteLength;
  }

  /** Records that `name` (hash `h`, zone hash `zone`) resolved at `sec`. */
  note(name: string, h: number, zone: number, sec: number): void {
    const key = mix32(h ^ zone);
    const r = key & 4095;
    if (this.recent[r] === key) return;
    this.recent[r] = key;
    const slot = this.index.get(key);
    if (slot >= 0) {
      this.ref[slot] = 1;
      return;
    }
    let s: number;
    if (this.filled < this.capacity) {
      if (this.filled === this.allocated) this.grow();
      s = this.filled++;
    } else {
      // CLOCK: skip (and clear) referenced slots; bounded by one sweep plus one.
      while (this.ref[this.hand] === 1) {
        this.ref[this.hand] = 0;
        this.hand = (this.hand + 1) % this.capacity;
      }
      s = this.hand;
      this.hand = (this.hand + 1) % this.capacity;
      this.index.delete(mix32(this.nameHash[s]! ^ this.zoneHash[s]!));
    }
    this.nameHash[s] = h;
    this.zoneHash[s] = zone;
    this.firstSec[s] = sec;
    this.ref[s] = 0;
    this.names[s] = name;
    this.index.set(key, s);
  }

  /** Starts a new period (once a second): names seen again refresh their reference bit. */
  newPeriod(): void {
    this.recent.fill(0);
  }

  /** Whether the name is held (tests, the harness). */
  has(h: number, zone: number): boolean {
    return this.index.get(mix32(h ^ zone)) >= 0;
  }

  /**
   * Names of the zone (hash `zone`, text `zoneText`) first seen before `beforeSec`, newest
   * reference first, at most `max`. Scans the table: called once per mitigation.
   */
  namesOf(zone: number, zoneText: string, beforeSec: number, max: number): string[] {
    const out: { name: string; ref: number; first: number }[] = [];
    const dotted = '.' + zoneText;
    for (let s = 0; s < this.filled; s++) {
      if (this.zoneHash[s] !== zone || this.firstSec[s]! >= beforeSec) continue;
      const n = this.names[s]!;
      if (n !== zoneText && !n.endsWith(dotted)) continue; // a zone-hash collision
      out.push({ name: n, ref: this.ref[s]!, first: this.firstSec[s]! });
    }
    out.sort((a, b) => b.ref - a.ref || b.first - a.first);
    return out.slice(0, max).map((x) => x.name);
  }
}
