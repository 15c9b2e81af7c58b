/**
 * What the provider serves for one zone: the SOA and every other record, grouped by
 * owner, exactly as the zone file has them (apex NS included: secondaries need it).
 * Versions are compared record by record to make the differences IXFR sends, and the
 * content carries an order-independent digest so a persisted journal can be checked
 * against the file it claims to lead to.
 */
import { RRType, type Rdata } from '../wire/index.ts';
import type { ZoneRecord } from '../policy/index.ts';
import { serialAdd } from '../zone-transfer/index.ts';
import { formatRdata, readZoneRecords, type ReadRecordsResult } from './master-text.ts';

/** The differences between two versions, in IXFR's terms (RFC 1995 §4). */
export interface ZoneDiff {
  from: ZoneRecord;
  deletes: ZoneRecord[];
  to: ZoneRecord;
  adds: ZoneRecord[];
}

// Read once: an imported binding is a getter call under tsx's loader (tests, benches).
const SOA = RRType.SOA;

/** Identity of a record within its owner: type and RDATA (RFC 2181 §5: TTL aside). */
function rrKey(r: ZoneRecord): string {
  return `${r.type} ${formatRdata(r.data)}`;
}

// Two FNV-1a lanes with different offsets, summed over records: the sum does not depend
// on record order and can be updated record by record. A check against accidents (a file
// edited behind the journal's back), not against someone forging records.
function hashLanes(s: string): [number, number] {
  return hashOwned('', s);
}

/** hashLanes(`${owner} ${id}`) when owner is not empty, without building that string (a million times per load). */
function hashOwned(owner: string, id: string): [number, number] {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i < owner.length; i++) {
    const c = owner.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
  }
  if (owner.length > 0) {
    a = Math.imul(a ^ 32, 0x01000193);
    b = Math.imul(b ^ 32, 0x01000193) ^ (b >>> 15);
  }
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
  }
  return [a >>> 0, b >>> 0];
}

/** `TTL TYPE RDATA`: a record without its owner. */
function rrId(r: ZoneRecord): string {
  return `${r.ttl} ${r.type} ${formatRdata(r.data)}`;
}

/** What the digest hashes for a record: `OWNER TTL TYPE RDATA`. */
function recordHashText(r: ZoneRecord): string {
  return `${r.name} ${rrId(r)}`;
}

/**
 * A record without its owner, shared by every owner in the zone that has the same one
 * (most owners of a policy zone hold one of a handful: `CNAME .`, `CNAME *.`, ...): a
 * million-name zone is a Map of names to a few shared objects, not a million records,
 * data objects and arrays (~360 -> ~90 MiB of heap at 1 M names, measured).
 */
interface Rr {
  readonly type: number;
  readonly ttl: number;
  readonly data: Rdata;
  /** rrId(): the key it is shared under, and with the owner what the digest hashes. */
  readonly id: string;
  /** Owners holding it; it leaves the zone's table at 0. */
  refs: number;
}

/** Type and RDATA of an Rr (its id without the TTL): identity within the owner. */
function keyOf(x: Rr): string {
  return x.id.slice(x.id.indexOf(' ') + 1);
}

function asRecord(owner: string, x: Rr): ZoneRecord {
  return { name: owner, type: x.type, ttl: x.ttl, data: x.data };
}

/** An owner's records: one Rr alone (nearly always), or several. */
type RrSet = Rr | Rr[];

function list(s: RrSet): readonly Rr[] {
  return Array.isArray(s) ? s : [s];
}

export class ZoneContent {
  readonly name: string;
  private soaRecord: ZoneRecord;
  private readonly owners = new Map<string, RrSet>();
  /** The Rr objects in use, by id. */
  private readonly shared = new Map<string, Rr>();
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

  /** Distinct records without their owners (TTL, type, RDATA) the zone holds: what its owners share. */
  get distinctRecords(): number {
    return this.shared.size;
  }

  /** Order-independent digest of every record including the SOA: 16 hex digits. */
  get digest(): string {
    const [a, b] = hashLanes(recordHashText(this.soaRecord));
    const x = (this.lane0 + a) >>> 0;
    const y = (this.lane1 + b) >>> 0;
    return x.toString(16).padStart(8, '0') + y.toString(16).padStart(8, '0');
  }

  /** The records of one owner (canonical name), SOA aside: new objects, their data shared (read-only). */
  at(owner: string): readonly ZoneRecord[] {
    const s = this.owners.get(owner);
    if (s === undefined) return [];
    return Array.isArray(s) ? s.map((x) => asRecord(owner, x)) : [asRecord(owner, s)];
  }

  hasOwner(owner: string): boolean {
    return this.owners.has(owner);
  }

  /** Every record but the SOA: the apex first (its NS), then owners in insertion order. */
  *records(): IterableIterator<ZoneRecord> {
    const apex = this.owners.get(this.name);
    if (apex !== undefined) for (const x of list(apex)) yield asRecord(this.name, x);
    for (const [owner, s] of this.owners) {
      if (owner === this.name) continue;
      if (Array.isArray(s)) for (const x of s) yield asRecord(owner, x);
      else yield asRecord(owner, s);
    }
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

  private hash(owner: string, x: Rr, sign: 1 | -1): void {
    this.version++;
    const [a, b] = hashOwned(owner, x.id);
    this.lane0 = (this.lane0 + sign * a) >>> 0;
    this.lane1 = (this.lane1 + sign * b) >>> 0;
  }

  private take(r: ZoneRecord): Rr {
    const id = rrId(r);
    let x = this.shared.get(id);
    if (x === undefined) {
      x = { type: r.type, ttl: r.ttl, data: r.data, id, refs: 0 };
      this.shared.set(id, x);
    }
    x.refs++;
    return x;
  }

  private release(x: Rr): void {
    if (--x.refs === 0) this.shared.delete(x.id);
  }

  /** Adds a record, replacing one of the same type and RDATA (a TTL change). */
  put(r: ZoneRecord): void {
    if (r.type === SOA && r.name === this.name) {
      this.setSoa(r);
      return;
    }
    const x = this.take(r);
    const s = this.owners.get(r.name);
    if (s === undefined) {
      this.owners.set(r.name, x);
      this.count++;
    } else {
      const key = keyOf(x);
      const mine = list(s);
      const at = mine.findIndex((y) => keyOf(y) === key);
      if (at >= 0) {
        this.hash(r.name, mine[at]!, -1);
        this.release(mine[at]!);
        if (Array.isArray(s)) s[at] = x;
        else this.owners.set(r.name, x);
      } else {
        if (Array.isArray(s)) s.push(x);
        else this.owners.set(r.name, [s, x]);
        this.count++;
      }
    }
    this.hash(r.name, x, 1);
  }

  /** Deletes the record of that owner, type and RDATA; false when there is none. */
  delete(r: ZoneRecord): boolean {
    const s = this.owners.get(r.name);
    if (s === undefined) return false;
    const key = rrKey(r);
    const mine = list(s);
    const at = mine.findIndex((y) => keyOf(y) === key);
    if (at < 0) return false;
    const x = mine[at]!;
    this.hash(r.name, x, -1);
    this.release(x);
    this.count--;
    if (mine.length === 1) this.owners.delete(r.name);
    else if (mine.length === 2) this.owners.set(r.name, mine[1 - at]!);
    else (s as Rr[]).splice(at, 1);
    return true;
  }

  /** Deletes every record of an owner; returns them. */
  deleteOwner(owner: string): ZoneRecord[] {
    const s = this.owners.get(owner);
    if (s === undefined) return [];
    const mine = list(s);
    for (const x of mine) {
      this.hash(owner, x, -1);
      this.release(x);
    }
    this.owners.delete(owner);
    this.count -= mine.length;
    return mine.map((x) => asRecord(owner, x));
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
    // Same TTL, type and RDATA is the same id (sameWithTtl).
    const missing = (from: ZoneContent, to: ZoneContent, out: ZoneRecord[]) => {
      for (const [owner, s] of from.owners) {
        const other = to.owners.get(owner);
        if (other === undefined) {
          for (const x of list(s)) out.push(asRecord(owner, x));
        } else if (!Array.isArray(s) && !Array.isArray(other)) {
          if (s.id !== other.id) out.push(asRecord(owner, s));
        } else {
          const theirs = list(other);
          for (const x of list(s)) if (!theirs.some((y) => y.id === x.id)) out.push(asRecord(owner, x));
        }
      }
    };
    missing(this, next, deletes);
    missing(next, this, adds);
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

/**
 * A zone's master-file text read straight into a ZoneContent (readZoneRecords' checks and
 * problems; no array of every record on the way): `content` when it reads, with an SOA.
 */
export function readZoneContent(text: string, opts: { origin: string; file: string }): ReadRecordsResult & { content: ZoneContent | undefined } {
  const name = opts.origin;
  // The SOA is set once read (it need not come first); its digest term is added then.
  const placeholder: ZoneRecord = { name, type: RRType.SOA, ttl: 0, data: { kind: 'SOA', mname: '.', rname: '.', serial: 0, refresh: 0, retry: 0, expire: 0, minimum: 0 } };
  const content = ZoneContent.from(name, placeholder, []);
  const r = readZoneRecords(text, { ...opts, onRecord: (rec) => content.put(rec) });
  if (!r.ok || !r.soa) return { ...r, content: undefined };
  content.setSoa(r.soa);
  return { ...r, content };
}
