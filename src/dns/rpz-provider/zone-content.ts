/**
 * What the provider serves for one zone: the SOA and every other record, grouped by
 * owner, exactly as the zone file has them (apex NS included: secondaries need it).
 * Versions are compared record by record to make the differences IXFR sends, and the
 * content carries an order-independent digest so a persisted journal can be checked
 * against the file it claims to lead to.
 */
import { RRType } from '../wire/index.ts';
import type { ZoneRecord } from '../policy/index.ts';
import { serialAdd } from '../zone-transfer/index.ts';
import { formatRdata } from './master-text.ts';

/** The differences between two versions, in IXFR's terms (RFC 1995 §4). */
export interface ZoneDiff {
  from: ZoneRecord;
  deletes: ZoneRecord[];
  to: ZoneRecord;
  adds: ZoneRecord[];
}

/** Identity of a record within its owner: type and RDATA (RFC 2181 §5: TTL aside). */
function rrKey(r: ZoneRecord): string {
  return `${r.type} ${formatRdata(r.data)}`;
}

// Two FNV-1a lanes with different offsets, summed over records: the sum does not depend
// on record order and can be updated record by record. A check against accidents (a file
// edited behind the journal's back), not against someone forging records.
function hashLanes(s: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
  }
  return [a >>> 0, b >>> 0];
}

function recordHashText(r: ZoneRecord, key = rrKey(r)): string {
  return `${r.name} ${r.ttl} ${key}`;
}

export class ZoneContent {
  readonly name: string;
  private soaRecord: ZoneRecord;
  private readonly owners = new Map<string, ZoneRecord[]>();
  private count = 0;
  private lane0 = 0;
  private lane1 = 0;
  /** Bumped by every change, so a transfer reading this version can tell it changed under it. */
  private version = 0;

  private constructor(name: string, soa: ZoneRecord) {
    this.name = name;
    this.soaRecord = soa;
  }

  /** A zone from its SOA and other records (duplicates of type and RDATA collapse, the last TTL wins). */
  static from(name: string, soa: ZoneRecord, records: Iterable<ZoneRecord>): ZoneContent {
    if (soa.data.kind !== 'SOA') throw new TypeError('the SOA record needs SOA RDATA');
    const z = new ZoneContent(name, soa);
    for (const r of records) z.put(r);
    return z;
  }

  get soa(): ZoneRecord {
    return this.soaRecord;
  }

  get serial(): number {
    return this.soaRecord.data.kind === 'SOA' ? this.soaRecord.data.serial : 0;
  }

  /** Records besides the SOA. */
  get size(): number {
    return this.count;
  }

  /** Order-independent digest of every record including the SOA: 16 hex digits. */
  get digest(): string {
    const [a, b] = hashLanes(recordHashText(this.soaRecord));
    const x = (this.lane0 + a) >>> 0;
    const y = (this.lane1 + b) >>> 0;
    return x.toString(16).padStart(8, '0') + y.toString(16).padStart(8, '0');
  }

  /** The records of one owner (canonical name), SOA aside. */
  at(owner: string): readonly ZoneRecord[] {
    return this.owners.get(owner) ?? [];
  }

  hasOwner(owner: string): boolean {
    return this.owners.has(owner);
  }

  /** Every record but the SOA: the apex first (its NS), then owners in insertion order. */
  *records(): IterableIterator<ZoneRecord> {
    const apex = this.owners.get(this.name);
    if (apex) yield* apex;
    for (const [owner, list] of this.owners) if (owner !== this.name) yield* list;
  }

  /**
   * AXFR order (RFC 5936 §2.2): SOA, the zone, SOA. The provider applies journaled edits in
   * place (no copy of a million-name zone per edit), so a transfer that was reading when the
   * zone changed stops with an error (the connection is closed and the secondary asks
   * again) rather than sending a mix of two versions.
   */
  *axfrRecords(): IterableIterator<ZoneRecord> {
    const v = this.version;
    const soa = this.soaRecord;
    yield soa;
    for (const r of this.records()) {
      if (this.version !== v) throw new Error(`zone ${this.name} changed during the transfer`);
      yield r;
    }
    if (this.version !== v) throw new Error(`zone ${this.name} changed during the transfer`);
    yield soa;
  }

  private hashIn(r: ZoneRecord, sign: 1 | -1, key?: string): void {
    this.version++;
    const [a, b] = hashLanes(recordHashText(r, key));
    this.lane0 = (this.lane0 + sign * a) >>> 0;
    this.lane1 = (this.lane1 + sign * b) >>> 0;
  }

  /** Adds a record, replacing one of the same type and RDATA (a TTL change). */
  put(r: ZoneRecord): void {
    if (r.type === RRType.SOA && r.name === this.name) {
      this.setSoa(r);
      return;
    }
    let list = this.owners.get(r.name);
    if (!list) {
      list = [];
      this.owners.set(r.name, list);
    }
    const k = rrKey(r);
    const at = list.length === 0 ? -1 : list.findIndex((x) => rrKey(x) === k);
    if (at >= 0) {
      this.hashIn(list[at]!, -1);
      list[at] = r;
    } else {
      list.push(r);
      this.count++;
    }
    this.hashIn(r, 1, k);
  }

  /** Deletes the record of that owner, type and RDATA; false when there is none. */
  delete(r: ZoneRecord): boolean {
    const list = this.owners.get(r.name);
    if (!list) return false;
    const k = rrKey(r);
    const at = list.findIndex((x) => rrKey(x) === k);
    if (at < 0) return false;
    this.hashIn(list[at]!, -1);
    list.splice(at, 1);
    this.count--;
    if (list.length === 0) this.owners.delete(r.name);
    return true;
  }

  /** Deletes every record of an owner; returns them. */
  deleteOwner(owner: string): ZoneRecord[] {
    const list = this.owners.get(owner);
    if (!list) return [];
    for (const r of list) this.hashIn(r, -1);
    this.owners.delete(owner);
    this.count -= list.length;
    return list;
  }

  setSoa(soa: ZoneRecord): void {
    if (soa.data.kind !== 'SOA') throw new TypeError('the SOA record needs SOA RDATA');
    this.soaRecord = soa;
    this.version++;
  }

  /** The SOA with another serial (everything else kept). */
  soaWithSerial(serial: number): ZoneRecord {
    const s = this.soaRecord;
    if (s.data.kind !== 'SOA') throw new TypeError('the SOA record needs SOA RDATA');
    return { ...s, data: { ...s.data, serial } };
  }

  /** The next serial (RFC 1982 +1). */
  nextSerial(): number {
    return serialAdd(this.serial, 1);
  }

  /** True when both hold the same records (SOA included). */
  sameAs(other: ZoneContent): boolean {
    return this.digest === other.digest && this.count === other.count;
  }

  /** What changes this version into `next` (which must be of the same zone). */
  diffTo(next: ZoneContent): ZoneDiff {
    const deletes: ZoneRecord[] = [];
    const adds: ZoneRecord[] = [];
    for (const [owner, list] of this.owners) {
      const other = next.owners.get(owner);
      if (!other) {
        deletes.push(...list);
        continue;
      }
      for (const r of list) if (!other.some((x) => sameWithTtl(x, r))) deletes.push(r);
    }
    for (const [owner, list] of next.owners) {
      const mine = this.owners.get(owner);
      if (!mine) {
        adds.push(...list);
        continue;
      }
      for (const r of list) if (!mine.some((x) => sameWithTtl(x, r))) adds.push(r);
    }
    return { from: this.soaRecord, deletes, to: next.soaRecord, adds };
  }

  /** Applies one difference in place (RFC 1995: deletions, then additions, then the new SOA). */
  apply(d: ZoneDiff): void {
    for (const r of d.deletes) this.delete(r);
    for (const r of d.adds) this.put(r);
    this.setSoa(d.to);
  }

  /** A copy (the provider keeps one version while a reload builds the next). */
  clone(): ZoneContent {
    return ZoneContent.from(this.name, this.soaRecord, this.records());
  }
}

/**
 * The digest after a difference, from the digest before it, without the zone (what
 * `rpz add` journals without reading a million-name file): the sums are updated record
 * by record as ZoneContent does. Right when `deletes` are in the zone and `adds` are not.
 */
export function digestAfter(digest: string, d: ZoneDiff): string {
  let x = parseInt(digest.slice(0, 8), 16);
  let y = parseInt(digest.slice(8, 16), 16);
  const add = (r: ZoneRecord, sign: 1 | -1) => {
    const [a, b] = hashLanes(recordHashText(r));
    x = (x + sign * a) >>> 0;
    y = (y + sign * b) >>> 0;
  };
  add(d.from, -1);
  for (const r of d.deletes) add(r, -1);
  for (const r of d.adds) add(r, 1);
  add(d.to, 1);
  return x.toString(16).padStart(8, '0') + y.toString(16).padStart(8, '0');
}

/** Same owner set member with the same TTL: what IXFR treats as unchanged. */
export function sameWithTtl(a: ZoneRecord, b: ZoneRecord): boolean {
  return a.ttl === b.ttl && a.type === b.type && rrKey(a) === rrKey(b);
}

/** Number of records a difference touches (for logs and limits). */
export function diffSize(d: ZoneDiff): number {
  return d.deletes.length + d.adds.length;
}
