/**
 * One response policy zone: its triggers, the actions they point to, its SOA.
 *
 * Built record by record (from a master file, an AXFR, or code) and changed in place by
 * `apply(change)` (IXFR, the dns-abuse detector, the API), which checks the whole change
 * first and then commits it in one synchronous step, so a query sees the zone either
 * before or after the change, never half-way.
 */
import { PrefixMap, SakimoriError, type IpAddress, type IpPrefix } from '../../core/index.ts';
import { compileRecords, RRType, type CompiledRecords } from '../wire/index.ts';
import { ActionTable, compileAnswers, type ActionSnapshot, sameRecord, T_CLIENT, T_QNAME, T_RESPONSE, T_WILD, type Decision, type PolicyRecord } from './actions.ts';
import { canonicalAbsolute, typeName, type ZoneRecord } from './master-file.ts';
import { EMPTY_NAME_HASH, NameTable, NONE, type SharedNameTable } from './name-table.ts';
import { lastSeparator, parseTrigger, relativeName, triggerText, type IpTrigger, type Trigger } from './triggers.ts';

// ---- the query name, taken apart once per decide() and shared by every zone ------------

/** For m = 0..labels: where the suffix of the current query name with m labels starts. */
const Q_START = new Int32Array(130);
/** hashName of that suffix; m = 0 is the empty suffix (the root), m = labels the whole name. */
const Q_HASH = new Int32Array(130);
let qLabels = 0;
let qLen = 0;

/**
 * Takes qname (canonical text, as readQuery gives it) apart at unescaped dots and hashes
 * every suffix, in one backward pass (the table's hash runs backwards for this reason).
 * Returns false for names no name trigger can match (the root, text too long for a name).
 */
export function prepareQname(s: string): boolean {
  const len = s.length;
  if (len === 0 || len > 1100 || (len === 1 && s.charCodeAt(0) === 46)) return false;
  let h = EMPTY_NAME_HASH | 0;
  let m = 0;
  Q_HASH[0] = h;
  Q_START[0] = len;
  for (let i = len - 1; i >= 0; i--) {
    const c = s.charCodeAt(i);
    // A dot separates labels unless escaped: preceded by an odd run of backslashes.
    if (c === 46 && (i === 0 || s.charCodeAt(i - 1) !== 92 || separatorAfterBackslashes(s, i))) {
      if (++m === 128) return false;
      Q_HASH[m] = h;
      Q_START[m] = i + 1;
    }
    h = Math.imul(h ^ c, 0x01000193);
  }
  if (++m === 128) return false;
  Q_HASH[m] = h;
  Q_START[m] = 0;
  qLabels = m;
  qLen = len;
  return true;
}

function separatorAfterBackslashes(s: string, dot: number): boolean {
  let bs = 0;
  for (let j = dot - 1; j >= 0 && s.charCodeAt(j) === 92; j--) bs++;
  return bs % 2 === 0;
}

// ---- changes -----------------------------------------------------------------------------

/** The simple actions, or local data: records answered as they are (the warning page), or a CNAME. */
export type PolicyActionSpec =
  | 'nxdomain'
  | 'nodata'
  | 'passthru'
  | 'drop'
  | 'tcp-only'
  | { localData: readonly PolicyRecord[] };

export interface TriggerRule {
  /** Owner relative to the zone: "bad.example", "*.bad.example", "32.2.0.0.127.rpz-client-ip". */
  trigger: string;
  action: PolicyActionSpec;
  /** Default 300 (only local data puts it on the wire; the simple actions keep it for export). */
  ttl?: number;
}

/**
 * A change to a zone. IXFR (RFC 1995) gives record deletions and additions; detectors and
 * the API set or remove whole triggers. Applied in this order: removeTriggers,
 * deleteRecords, addRecords, setTriggers.
 */
export interface ZoneChange {
  removeTriggers?: readonly string[];
  /** Records to delete (owner absolute). Deleting a record the zone does not hold is a warning. */
  deleteRecords?: readonly ZoneRecord[];
  addRecords?: readonly ZoneRecord[];
  setTriggers?: readonly TriggerRule[];
}

export type ApplyResult =
  | { ok: true; triggersChanged: number; warnings: string[] }
  | { ok: false; errors: string[]; warnings: string[] };

/** Result of adding one record: nothing to say, a warning (record ignored) or an error. */
export type RecordIssue = { severity: 'error' | 'warning'; message: string } | undefined;

export interface ZoneStats {
  qname: number;
  wildcard: number;
  clientIp: number;
  responseIp: number;
  nsdname: number;
  nsip: number;
  /** Distinct record sets (actions) after interning. */
  actions: number;
  /** Bytes of the name tables (outside the JS heap). */
  tableBytes: number;
}

/**
 * A zone as worker threads share it (RpzZone.toShared): the name tables, which hold
 * nearly all of a large zone, in SharedArrayBuffers; the rest (actions, IP triggers, SOA:
 * small) as plain data each thread rebuilds. Structured-clonable: post it as it is.
 */
export interface SharedRpzZone {
  readonly name: string;
  readonly soa: PolicyRecord | undefined;
  readonly names: SharedNameTable;
  /** The QNAME changes made over `names` since it was shared (RpzZone.changes): read first. */
  readonly changes?: SharedNameTable | undefined;
  /** Exact and wildcard triggers the changes add (negative: remove) against `names`. */
  readonly changed?: readonly [number, number];
  readonly nsd: SharedNameTable | undefined;
  /** IP triggers as relative trigger text ("32.2.0.0.127.rpz-client-ip") and action id. */
  readonly ipTriggers: readonly (readonly [string, number])[];
  readonly actions: readonly ActionSnapshot[];
}

interface IpRule {
  prefix: IpPrefix;
  id: number;
}

interface IpTriggers {
  map: PrefixMap<number>;
  rules: Map<string, IpRule>;
}

function ipTriggers(): IpTriggers {
  return { map: new PrefixMap<number>(), rules: new Map() };
}

const SIMPLE_TARGET: Record<string, string> = {
  nxdomain: '.',
  nodata: '*',
  passthru: 'rpz-passthru',
  drop: 'rpz-drop',
  'tcp-only': 'rpz-tcp-only',
};

export class RpzZone {
  /**
   * QNAME changes kept over a shared table before they are folded into a new copy of it:
   * at least this many, and at least an eighth of the table (a fold copies the table once,
   * so the copies cost O(1) per change, amortised; the changes table costs as much per name
   * as the table). Tests lower it.
   */
  static foldMin = 4096;
  /** The zone's name (origin), canonical. */
  readonly name: string;
  private soa: PolicyRecord | undefined;
  private authority: CompiledRecords | undefined;
  private names: NameTable;
  /**
   * QNAME triggers changed since `names` was shared (an IXFR step, a file diff, the API on
   * a zone worker threads read): each changed name with both its triggers as they are now,
   * an empty entry for a name removed. Lookups read it before `names`, so a change costs
   * work in proportion to the changes instead of a copy of the shared table; it is shared
   * with the zone (small) and folded into a new copy of `names` when it grows (foldMin).
   */
  private changes: NameTable | undefined;
  /** Exact and wildcard triggers the changes add (or, negative, remove) against `names`. */
  private changedExact = 0;
  private changedWild = 0;
  private nsd: NameTable | undefined;
  private readonly clientIp = ipTriggers();
  private readonly responseIp = ipTriggers();
  private readonly nsIp = ipTriggers();
  private actions = new ActionTable();
  /** Records addRecord() was given that the zone already held (a file that writes a record twice). */
  duplicates = 0;

  /**
   * An empty zone, e.g. for dynamic `dns-abuse` entries. Throws SakimoriError on an
   * invalid name. `expectedNames` sizes the name table for a bulk load (an estimate).
   */
  constructor(name: string, opts: { expectedNames?: number } = {}) {
    const n = canonicalAbsolute(name);
    if (typeof n !== 'string') throw new SakimoriError('RPZ_ZONE_NAME', `policy zone name "${name}" is not a valid domain name: ${n.error}`);
    this.name = n;
    this.names = new NameTable(opts.expectedNames ?? 0);
  }

  /**
   * The zone for other threads: its name tables move into SharedArrayBuffers (this zone
   * then reads them too, so the process holds one copy however many threads share it).
   * Sharing is read-only: a later apply() or addRecord() here, or in a thread that took
   * fromShared(), first copies the touched name table into that thread's private memory
   * (copy-on-write, once per table), so each thread sees its own changes and the others
   * keep the shared version. For a change every thread needs (an IXFR of a large zone),
   * apply it in one thread, share again, and replace the zone everywhere.
   */
  toShared(): SharedRpzZone {
    const ip: [string, number][] = [];
    // An IP rule's key is its trigger text (triggers.ts), which parseTrigger takes back.
    for (const ips of [this.clientIp, this.responseIp, this.nsIp]) for (const [key, rule] of ips.rules) ip.push([key, rule.id]);
    return { name: this.name, soa: this.soa, names: this.names.toShared(), changes: this.changes?.toShared(), changed: [this.changedExact, this.changedWild], nsd: this.nsd?.toShared(), ipTriggers: ip, actions: this.actions.snapshot() };
  }

  /** The zone toShared() gave, in this thread: decides exactly as the original. Throws SakimoriError on data that is not a shared zone. */
  static fromShared(shared: SharedRpzZone): RpzZone {
    const z = new RpzZone(shared.name);
    z.names = NameTable.fromShared(shared.names);
    if (shared.changes) {
      const c = (z.changes = NameTable.fromShared(shared.changes));
      if (!c.keepEmpty || !shared.changed) throw new SakimoriError('RPZ_SHARED_ZONE', `shared zone ${shared.name}: its changes table does not keep removed names, or comes without its counts`);
      [z.changedExact, z.changedWild] = shared.changed;
    }
    z.nsd = shared.nsd && NameTable.fromShared(shared.nsd);
    z.actions = ActionTable.fromSnapshot(shared.actions);
    for (const [text, id] of shared.ipTriggers) {
      const t = parseTrigger(text);
      if ('error' in t || t.kind === 'qname' || t.kind === 'wildcard' || t.kind === 'nsdname' || t.kind === 'nsdname-wildcard') {
        throw new SakimoriError('RPZ_SHARED_ZONE', `shared zone ${shared.name}: "${text}" is not an IP trigger`);
      }
      z.setAction(t, id);
    }
    if (shared.soa) {
      const bad = z.setSoa(shared.soa);
      if (bad) throw new SakimoriError('RPZ_SHARED_ZONE', `shared zone ${shared.name}: SOA: ${bad}`);
    }
    return z;
  }

  /** True while the QNAME table is shared with other threads (changes made since, if any, are kept over it). */
  get isShared(): boolean {
    return this.names.isShared;
  }

  /** QNAME triggers changed over the shared table and not folded into it yet (0 when none). */
  get pendingChanges(): number {
    return this.changes?.size ?? 0;
  }

  /** SOA serial, when the zone has an SOA. */
  get serial(): number | undefined {
    return this.soa?.data.kind === 'SOA' ? this.soa.data.serial : undefined;
  }

  get hasClientIpTriggers(): boolean {
    return this.clientIp.rules.size > 0;
  }

  get hasResponseIpTriggers(): boolean {
    return this.responseIp.rules.size > 0;
  }

  stats(): ZoneStats {
    return {
      qname: this.names.exactCount + this.changedExact,
      wildcard: this.names.wildCount + this.changedWild,
      clientIp: this.clientIp.rules.size,
      responseIp: this.responseIp.rules.size,
      nsdname: this.nsd ? this.nsd.exactCount + this.nsd.wildCount : 0,
      nsip: this.nsIp.rules.size,
      actions: this.actions.size,
      tableBytes: this.names.bytes() + (this.changes?.bytes() ?? 0) + (this.nsd?.bytes() ?? 0),
    };
  }

  // ---- hot path (called by PolicyEngine after prepareQname) ------------------------------

  /** @internal rpz-client-ip: longest prefix containing the client. */
  matchClient(client: IpAddress, qtype: number): Decision | undefined {
    const m = this.clientIp.map.match(client);
    return m === undefined ? undefined : this.decisionFor(m.value, T_CLIENT, qtype);
  }

  /** @internal QNAME: exact first, then the wildcard with the longest suffix (draft §4.2, BIND ARM). */
  matchName(qname: string, qtype: number): Decision | undefined {
    if (this.changes !== undefined) return this.matchNameChanged(qname, qtype, this.changes);
    const t = this.names;
    if (t.size === 0) return undefined;
    const n = qLabels;
    if (t.exactCount > 0 && t.mayHaveExact(Q_HASH[n]!)) {
      const e = t.find(qname, 0, qLen, Q_HASH[n]!);
      if (e >= 0) {
        const id = t.exact(e);
        if (id !== NONE) return this.decisionFor(id, T_QNAME, qtype);
      }
    }
    if (t.wildCount === 0) return undefined;
    const byLabels = t.wildByLabels;
    for (let m = n - 1; m >= 0; m--) {
      if (byLabels[m] === 0 || !t.mayHaveWild(Q_HASH[m]!)) continue;
      const e = t.find(qname, Q_START[m]!, qLen, Q_HASH[m]!);
      if (e >= 0) {
        const id = t.wild(e);
        if (id !== NONE) return this.decisionFor(id, T_WILD, qtype);
      }
    }
    return undefined;
  }

  /** matchName with changes over the table: a name in `c` (even with no trigger left) hides the same name in the table. */
  private matchNameChanged(qname: string, qtype: number, c: NameTable): Decision | undefined {
    const t = this.names;
    const n = qLabels;
    let h = Q_HASH[n]!;
    let e = c.mayHaveExact(h) ? c.find(qname, 0, qLen, h) : -1;
    let id = NONE;
    if (e >= 0) id = c.exact(e);
    else if (t.exactCount > 0 && t.mayHaveExact(h)) {
      e = t.find(qname, 0, qLen, h);
      if (e >= 0) id = t.exact(e);
    }
    if (id !== NONE) return this.decisionFor(id, T_QNAME, qtype);
    if (t.wildCount === 0 && c.wildCount === 0) return undefined;
    const tl = t.wildByLabels;
    const cl = c.wildByLabels;
    for (let m = n - 1; m >= 0; m--) {
      if (tl[m] === 0 && cl[m] === 0) continue;
      h = Q_HASH[m]!;
      e = c.mayHaveExact(h) ? c.find(qname, Q_START[m]!, qLen, h) : -1;
      if (e >= 0) id = c.wild(e);
      else if (tl[m] !== 0 && t.mayHaveWild(h)) {
        e = t.find(qname, Q_START[m]!, qLen, h);
        id = e >= 0 ? t.wild(e) : NONE;
      } else id = NONE;
      if (id !== NONE) return this.decisionFor(id, T_WILD, qtype);
    }
    return undefined;
  }

  /** @internal rpz-ip: longest prefix containing an answer address. */
  matchResponseIp(addr: IpAddress): { id: number; bits: number } | undefined {
    const m = this.responseIp.map.match(addr);
    return m === undefined ? undefined : { id: m.value, bits: m.bits };
  }

  /** @internal */
  decisionFor(id: number, slot: number, qtype: number): Decision {
    return this.actions.get(id).decision(slot, qtype, this.name, this.authority);
  }

  // ---- building --------------------------------------------------------------------------

  /**
   * Adds one record (owner absolute, canonical). Errors leave the zone as it was for this
   * record; the caller decides what an error means for the whole zone (the file loader
   * refuses the file).
   */
  addRecord(rec: ZoneRecord): RecordIssue {
    const bad = kindMismatch(rec);
    if (bad) return { severity: 'error', message: `${rec.name}: ${bad}` };
    const rel = relativeName(rec.name, this.name);
    if (rel === undefined) return { severity: 'warning', message: `${rec.name} is outside the zone ${this.name}: ignored` };
    if (rel === '') return this.apexRecord(rec);
    if (rec.type === RRType.SOA) return { severity: 'error', message: `SOA record at ${rec.name}: an SOA belongs at the zone apex (${this.name}) only` };
    if (rec.type === RRType.NS) return { severity: 'warning', message: `NS record at ${rec.name} ignored: NS below the apex is a delegation, not policy` };
    const r = normaliseRecord(rec, rel);
    if (rel.indexOf('rpz-') === -1 && this.changes === undefined && !this.names.isShared) {
      // QNAME triggers, a million times per load: no trigger object, one hash probe.
      const wild = rel.charCodeAt(0) === 42 && (rel.length === 1 || rel.charCodeAt(1) === 46);
      const table = this.names;
      const e = table.upsert(wild ? rel.slice(2) : rel);
      const old = wild ? table.wild(e) : table.exact(e);
      const issue = this.mergeInto(old, r, rec.name);
      if (typeof issue !== 'number') {
        table.dropIfEmpty(e);
        return issue;
      }
      if (issue === old) {
        this.duplicates++;
        return undefined;
      }
      if (wild) table.setWild(e, issue);
      else table.setExact(e, issue);
      if (old !== NONE) this.actions.release(old);
      return undefined;
    }
    const t = parseTrigger(rel);
    if ('error' in t) return { severity: 'error', message: t.error };
    const old = this.getAction(t);
    const id = this.mergeInto(old, r, rec.name);
    if (typeof id !== 'number') return id;
    if (id === old) {
      this.duplicates++;
      return undefined;
    }
    this.setAction(t, id);
    if (old !== NONE) this.actions.release(old);
    return undefined;
  }

  /** Whether the zone holds this record (owner absolute; the TTL is not compared, as in RFC 2181 §5). */
  holds(rec: ZoneRecord): boolean {
    const rel = relativeName(rec.name, this.name);
    if (rel === undefined || rel === '') return false;
    const t = parseTrigger(rel);
    if ('error' in t) return false;
    const id = this.getAction(t);
    if (id === NONE) return false;
    const r = normaliseRecord(rec, rel);
    return this.actions.get(id).records.some((x) => sameRecord(x, r));
  }

  /** The action id for old's records plus r (old itself for a duplicate), or the problem. */
  private mergeInto(old: number, r: PolicyRecord, owner: string): number | RecordIssue {
    if (old === NONE) {
      const id = this.actions.internOne(r);
      return typeof id === 'string' ? { severity: 'error', message: `${owner}: ${id}` } : id;
    }
    const current = this.actions.get(old).records;
    const merged = mergeRecord(current, r, owner);
    if (merged === null) return old; // duplicate (RFC 2181 §5)
    if (typeof merged === 'string') return { severity: 'error', message: merged };
    const id = this.actions.intern(merged);
    if (typeof id === 'string') return { severity: 'error', message: `${owner}: ${id}` };
    return id;
  }

  private apexRecord(rec: ZoneRecord): RecordIssue {
    if (rec.type === RRType.SOA) {
      const bad = this.setSoa({ type: rec.type, ttl: rec.ttl, data: rec.data });
      return bad === undefined ? undefined : { severity: 'error', message: `SOA of ${this.name}: ${bad}` };
    }
    if (rec.type === RRType.NS) return undefined;
    return { severity: 'warning', message: `${typeName(rec.type)} record at the zone apex ${rec.name} ignored: the apex is not a trigger` };
  }

  /** Sets the SOA, or says why it cannot be (and keeps the old one). */
  private setSoa(soa: PolicyRecord): string | undefined {
    const auth = soaAuthority(this.name, soa);
    if (typeof auth === 'string') return auth;
    this.soa = soa;
    this.authority = auth;
    this.actions.clearDecisions();
    return undefined;
  }

  /** After a bulk load: returns the growth slack of the tables. */
  trim(): void {
    this.names.trim();
    this.changes?.trim();
    this.nsd?.trim();
  }

  // ---- changes ---------------------------------------------------------------------------

  /** Applies a change atomically: every part is checked before anything changes. */
  apply(change: ZoneChange): ApplyResult {
    const errors: string[] = [];
    const warnings: string[] = [];
    const staged = new Map<string, { trigger: Trigger; records: PolicyRecord[] }>();
    const stage = (t: Trigger) => {
      const k = `${t.kind}\0${t.key}`;
      let s = staged.get(k);
      if (s === undefined) {
        const id = this.getAction(t);
        s = { trigger: t, records: id === NONE ? [] : [...this.actions.get(id).records] };
        staged.set(k, s);
      }
      return s;
    };
    let newSoa: PolicyRecord | undefined;
    const triggerOf = (text: string, where: string): Trigger | undefined => {
      const rel = this.relativeTrigger(text);
      if (typeof rel !== 'string') {
        errors.push(`${where}: ${rel.error}`);
        return undefined;
      }
      const t = parseTrigger(rel);
      if ('error' in t) {
        errors.push(`${where}: ${t.error}`);
        return undefined;
      }
      return t;
    };
    change.removeTriggers?.forEach((text, i) => {
      const t = triggerOf(text, `removeTriggers[${i}] "${text}"`);
      if (t) stage(t).records = [];
    });
    change.deleteRecords?.forEach((rec, i) => {
      const where = `deleteRecords[${i}] ${rec.name} ${typeName(rec.type)}`;
      const rel = relativeName(rec.name, this.name);
      if (rel === undefined) return void warnings.push(`${where}: outside the zone, ignored`);
      if (rel === '') return; // the apex SOA/NS come and go with every IXFR
      const t = parseTrigger(rel);
      if ('error' in t) return void warnings.push(`${where}: ${t.error}; nothing to delete`);
      const s = stage(t);
      const r = normaliseRecord(rec, rel);
      const at = s.records.findIndex((x) => sameRecord(x, r));
      if (at === -1) warnings.push(`${where}: not in the zone, nothing to delete`);
      else s.records.splice(at, 1);
    });
    change.addRecords?.forEach((rec, i) => {
      const where = `addRecords[${i}] ${rec.name} ${typeName(rec.type)}`;
      const bad = kindMismatch(rec);
      if (bad) return void errors.push(`${where}: ${bad}`);
      const rel = relativeName(rec.name, this.name);
      if (rel === undefined) return void warnings.push(`${where}: outside the zone ${this.name}, ignored`);
      if (rel === '') {
        if (rec.type === RRType.SOA) {
          newSoa = { type: rec.type, ttl: rec.ttl, data: rec.data };
          const auth = soaAuthority(this.name, newSoa);
          if (typeof auth === 'string') errors.push(`${where}: ${auth}`);
        } else if (rec.type !== RRType.NS) warnings.push(`${where}: the apex is not a trigger, ignored`);
        return;
      }
      if (rec.type === RRType.SOA) return void errors.push(`${where}: an SOA belongs at the zone apex only`);
      if (rec.type === RRType.NS) return void warnings.push(`${where}: NS below the apex is a delegation, ignored`);
      const t = parseTrigger(rel);
      if ('error' in t) return void errors.push(`${where}: ${t.error}`);
      const s = stage(t);
      const merged = mergeRecord(s.records, normaliseRecord(rec, rel), rec.name);
      if (typeof merged === 'string') errors.push(`${where}: ${merged}`);
      else if (merged !== null) s.records = merged;
    });
    change.setTriggers?.forEach((rule, i) => {
      const where = `setTriggers[${i}] "${rule.trigger}"`;
      const t = triggerOf(rule.trigger, where);
      if (!t) return;
      const recs = specRecords(rule, where);
      if (typeof recs === 'string') return void errors.push(recs);
      stage(t).records = recs;
    });
    if (errors.length === 0) {
      // Check every new record set can be encoded before touching the zone.
      for (const s of staged.values()) {
        if (s.records.length === 0) continue;
        const bad = checkEncodable(s.records);
        if (bad) errors.push(`${triggerText(s.trigger)}: ${bad}`);
      }
    }
    if (errors.length > 0) return { ok: false, errors, warnings };
    let changed = 0;
    for (const s of staged.values()) {
      const old = this.getAction(s.trigger);
      let id = NONE;
      if (s.records.length > 0) {
        const r = this.actions.intern(s.records);
        // Cannot fail: checkEncodable ran above.
        id = typeof r === 'number' ? r : NONE;
      }
      if (id === old) {
        if (old !== NONE) this.actions.release(old);
        continue;
      }
      this.setAction(s.trigger, id);
      if (old !== NONE) this.actions.release(old);
      changed++;
    }
    if (newSoa) this.setSoa(newSoa);
    this.foldIfLarge();
    return { ok: true, triggersChanged: changed, warnings };
  }

  /** Folds the changes into a copy of the shared table once they are many (foldMin). */
  private foldIfLarge(): void {
    const c = this.changes;
    if (c === undefined || c.size < Math.max(RpzZone.foldMin, this.names.size / 8)) return;
    this.changes = undefined;
    this.changedExact = this.changedWild = 0;
    const t = this.names;
    for (const ce of c.entries(true)) {
      const key = c.keyOf(ce);
      const ex = c.exact(ce);
      const wi = c.wild(ce);
      // The first write copies the shared table (NameTable.own), once for the whole fold.
      let e = ex === NONE && wi === NONE ? t.findKey(key) : t.upsert(key);
      if (e < 0) continue;
      e = t.setExact(e, ex);
      e = t.setWild(e, wi);
      t.dropIfEmpty(e);
    }
  }

  /** Trigger text relative to the zone, validated as a name under it. */
  private relativeTrigger(text: string): string | { error: string } {
    const t = text.endsWith('.') && !text.endsWith('\\.') ? text.slice(0, -1) : text;
    if (t === '' || t === '.') return { error: 'the zone apex is not a trigger' };
    const full = canonicalAbsolute(this.name === '.' ? t : `${t}.${this.name}`);
    if (typeof full !== 'string') return { error: full.error };
    const rel = relativeName(full, this.name);
    return rel === undefined || rel === '' ? { error: `not a name under ${this.name}` } : rel;
  }

  // ---- reading the zone back (export, AXFR, tests) ---------------------------------------

  /** Every trigger with its records, SOA first when there is one. Owners are absolute. */
  *records(): IterableIterator<ZoneRecord> {
    if (this.soa) yield { name: this.name, ...this.soa };
    const abs = (rel: string) => (this.name === '.' ? rel : `${rel}.${this.name}`);
    const out = function* (name: string, recs: readonly PolicyRecord[]) {
      for (const r of recs) yield { name, type: r.type, ttl: r.ttl, data: r.data };
    };
    for (const ips of [this.clientIp, this.responseIp, this.nsIp]) {
      for (const [key, rule] of ips.rules) yield* out(abs(key), this.actions.get(rule.id).records);
    }
    const c = this.changes;
    const tables: [NameTable | undefined, (k: string, w: boolean) => string, NameTable | undefined][] = [
      [this.names, (k, w) => triggerText({ kind: w ? 'wildcard' : 'qname', key: k }), c],
      [c, (k, w) => triggerText({ kind: w ? 'wildcard' : 'qname', key: k }), undefined],
      [this.nsd, (k, w) => triggerText({ kind: w ? 'nsdname-wildcard' : 'nsdname', key: k }), undefined],
    ];
    for (const [t, text, hiddenBy] of tables) {
      if (!t) continue;
      for (const e of t.entries()) {
        const key = t.keyOf(e);
        if (hiddenBy && hiddenBy.findKey(key) >= 0) continue;
        if (t.exact(e) !== NONE) yield* out(abs(text(key, false)), this.actions.get(t.exact(e)).records);
        if (t.wild(e) !== NONE) yield* out(abs(text(key, true)), this.actions.get(t.wild(e)).records);
      }
    }
  }

  // ---- trigger storage -------------------------------------------------------------------

  private getAction(t: Trigger): number {
    switch (t.kind) {
      case 'qname':
      case 'wildcard':
      case 'nsdname':
      case 'nsdname-wildcard': {
        let table = t.kind === 'qname' || t.kind === 'wildcard' ? this.names : this.nsd;
        if (!table) return NONE;
        if (table === this.names && this.changes && this.changes.findKey(t.key) >= 0) table = this.changes;
        const e = table.findKey(t.key);
        if (e < 0) return NONE;
        return t.kind === 'qname' || t.kind === 'nsdname' ? table.exact(e) : table.wild(e);
      }
      default:
        return this.ipTable(t).rules.get(t.key)?.id ?? NONE;
    }
  }

  private setAction(t: Trigger, id: number): void {
    switch (t.kind) {
      case 'qname':
      case 'wildcard':
      case 'nsdname':
      case 'nsdname-wildcard': {
        if ((t.kind === 'qname' || t.kind === 'wildcard') && (this.changes !== undefined || this.names.isShared)) return this.setChanged(t.key, t.kind === 'wildcard', id);
        const table = t.kind === 'qname' || t.kind === 'wildcard' ? this.names : (this.nsd ??= new NameTable());
        const e = id === NONE ? table.findKey(t.key) : table.upsert(t.key);
        if (e < 0) return;
        if (t.kind === 'qname' || t.kind === 'nsdname') table.setExact(e, id);
        else table.setWild(e, id);
        if (id === NONE) table.dropIfEmpty(e);
        return;
      }
      default: {
        const ips = this.ipTable(t);
        if (id === NONE) {
          ips.rules.delete(t.key);
          ips.map.delete(t.prefix);
        } else {
          ips.rules.set(t.key, { prefix: t.prefix, id });
          ips.map.set(t.prefix, id);
        }
      }
    }
  }

  /**
   * A QNAME trigger set over the shared table: into the changes table, the name entering it
   * with both its triggers as the shared table has them, so the entry hides the name there.
   */
  private setChanged(key: string, wild: boolean, id: number): void {
    const c = (this.changes ??= new NameTable(0, { keepEmpty: true }));
    let e = c.findKey(key);
    if (e < 0) {
      const b = this.names.findKey(key);
      const bx = b >= 0 ? this.names.exact(b) : NONE;
      const bw = b >= 0 ? this.names.wild(b) : NONE;
      if (id === NONE && (wild ? bw : bx) === NONE) return;
      e = c.upsert(key);
      if (bx !== NONE) e = c.setExact(e, bx);
      if (bw !== NONE) e = c.setWild(e, bw);
    }
    const was = wild ? c.wild(e) : c.exact(e);
    const d = (id !== NONE ? 1 : 0) - (was !== NONE ? 1 : 0);
    if (wild) {
      c.setWild(e, id);
      this.changedWild += d;
    } else {
      c.setExact(e, id);
      this.changedExact += d;
    }
  }

  private ipTable(t: IpTrigger): IpTriggers {
    return t.kind === 'client-ip' ? this.clientIp : t.kind === 'response-ip' ? this.responseIp : this.nsIp;
  }
}

/**
 * The old PASSTHRU spelling, a CNAME to the trigger's own name (for IP triggers also
 * without the rpz-* label), becomes `CNAME rpz-passthru.`. Wildcard targets are checked
 * first, as BIND does: `*.x CNAME *.x.` is a wildcard CNAME, and `* CNAME *.` is NODATA.
 */
function normaliseRecord(rec: ZoneRecord, rel: string): PolicyRecord {
  if (rec.data.kind === 'CNAME' && isSelfCname(rec.data.cname, rel)) {
    return { type: rec.type, ttl: rec.ttl, data: { kind: 'CNAME', cname: 'rpz-passthru' } };
  }
  // Kept as it is (its `name` too): interned sets keep the first record of their kind only.
  return rec;
}

function isSelfCname(target: string, rel: string): boolean {
  if (target === '.' || target === '*' || target.startsWith('*.') || target.startsWith('rpz-')) return false;
  if (target === rel) return true;
  const sep = lastSeparator(rel);
  if (sep === -1) return false;
  const last = rel.slice(sep + 1);
  return (last === 'rpz-ip' || last === 'rpz-client-ip' || last === 'rpz-nsip') && target === rel.slice(0, sep);
}

/** Adds r to a trigger's records: the new set, null for a duplicate, or why not. */
function mergeRecord(current: readonly PolicyRecord[], r: PolicyRecord, owner: string): PolicyRecord[] | null | string {
  if (current.length === 0) return [r];
  for (const x of current) if (sameRecord(x, r)) return null;
  const hasCname = current.some((x) => x.type === RRType.CNAME);
  if (hasCname || r.type === RRType.CNAME) {
    const what = current.map((x) => typeName(x.type)).join(', ');
    return `${owner} already has ${what}; a CNAME (which is how RPZ writes NXDOMAIN, NODATA, PASSTHRU, DROP) cannot share its name with other records (RFC 1034 §3.6.2): keep one`;
  }
  return [...current, r];
}

/** A record whose RDATA is of another type than the record (possible from code, not from a file). */
function kindMismatch(r: { type: number; data: { kind: string } }): string | undefined {
  if (r.data.kind === 'raw' || typeName(r.type) === r.data.kind) return undefined;
  return `a ${typeName(r.type)} record cannot carry ${r.data.kind} RDATA`;
}

/** The SOA as the authority section of negative answers (RFC 2308 §3: TTL min(SOA TTL, MINIMUM)). */
function soaAuthority(zone: string, soa: PolicyRecord): CompiledRecords | string {
  if (soa.data.kind !== 'SOA') return `an SOA record needs SOA RDATA, not ${soa.data.kind}`;
  try {
    return compileRecords([{ name: zone, type: RRType.SOA, ttl: Math.min(soa.ttl, soa.data.minimum), data: soa.data }]);
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

function checkEncodable(records: readonly PolicyRecord[]): string | undefined {
  try {
    compileAnswers(records);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

function specRecords(rule: TriggerRule, where: string): PolicyRecord[] | string {
  const ttl = rule.ttl ?? 300;
  if (!(Number.isInteger(ttl) && ttl >= 0 && ttl <= 0x7fffffff)) return `${where}: ttl ${ttl} is not 0-2147483647`;
  const a = rule.action;
  if (typeof a === 'string') {
    const target = SIMPLE_TARGET[a];
    if (target === undefined) return `${where}: unknown action "${a}" (expected nxdomain, nodata, passthru, drop, tcp-only or { localData })`;
    return [{ type: RRType.CNAME, ttl, data: { kind: 'CNAME', cname: target } }];
  }
  if (!a || !Array.isArray(a.localData) || a.localData.length === 0) return `${where}: local data needs at least one record`;
  const out: PolicyRecord[] = [];
  for (const r of a.localData) {
    const bad = kindMismatch(r);
    if (bad) return `${where}: ${bad}`;
    const m = mergeRecord(out, r, where);
    if (typeof m === 'string') return `${where}: ${m}`;
    if (m) out.splice(0, out.length, ...m);
  }
  return out;
}
