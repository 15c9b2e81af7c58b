/**
 * RPZ actions (draft-vixie-dnsop-dns-rpz §5) and the Decision objects the hot path returns.
 *
 * A trigger's records say what to do:
 *   CNAME .               NXDOMAIN (§5.1)
 *   CNAME *.              NODATA (§5.2)
 *   CNAME rpz-passthru.   PASSTHRU (§5.3); also the old form, a CNAME to the trigger's own name
 *   CNAME rpz-drop.       DROP (§5.4)
 *   CNAME rpz-tcp-only.   TCP-only (§5.5): TC=1 over UDP, PASSTHRU over TCP
 *   anything else         local data (§5.6): A/AAAA/TXT/... answered as they are, or a CNAME
 *                         to another name (the warning page); `CNAME *.suffix.` puts the
 *                         query name in place of the `*`
 *
 * Identical record sets are interned: a million names that all say `CNAME .` share one
 * ActionEntry, and each entry hands out the same Decision objects for every query.
 */
import { compileRecords, RRType, type CompiledRecords, type Rdata } from '../wire/index.ts';

export type PolicyAction = 'none' | 'nxdomain' | 'nodata' | 'passthru' | 'drop' | 'tcp-only' | 'local-data';

/** What matched: the draft's trigger kinds that a forwarder can apply, and 'none'. */
export type MatchedTrigger = 'none' | 'client-ip' | 'qname' | 'wildcard' | 'response-ip';

/** A record of a policy rule, owner left out (it is the trigger). */
export interface PolicyRecord {
  type: number;
  ttl: number;
  data: Rdata;
}

/**
 * What to do with one query. Shared and immutable: compare `action`, never mutate.
 * For 'local-data', `answers` holds the records of the query's type, pre-encoded with the
 * question name as owner (a pointer to offset 12), ready for makeLocalDataResponse; a
 * count of 0 means the rule has no data of that type (answer NODATA).
 */
export class Decision {
  constructor(
    readonly action: PolicyAction,
    /** The policy zone that decided (the "list" in block events); '' when none matched. */
    readonly zone: string,
    readonly trigger: MatchedTrigger,
    /** TTL of the rule's records (the smallest for local data). */
    readonly ttl: number,
    readonly answers: CompiledRecords | undefined,
    /** The policy zone's SOA, for the authority section of NXDOMAIN/NODATA answers (as BIND does). */
    readonly authority: CompiledRecords | undefined,
    /** Local data `CNAME *.suffix.`: the target is the query name followed by this suffix. */
    readonly cnameSuffix: string | undefined,
  ) {}

  /**
   * The answer records for this query name: `answers`, or for `CNAME *.suffix` a CNAME
   * to `<qname>.<suffix>` built now (allocates). Undefined when that name would be longer
   * than 255 octets (answer it like a DNAME overflow, RFC 6672 §2.2: YXDOMAIN).
   */
  answersFor(qname: string): CompiledRecords | undefined {
    if (this.cnameSuffix === undefined) return this.answers;
    const cname = qname === '.' ? this.cnameSuffix : this.cnameSuffix === '.' ? qname : `${qname}.${this.cnameSuffix}`;
    try {
      return compileRecords([{ type: RRType.CNAME, ttl: this.ttl, data: { kind: 'CNAME', cname } }]);
    } catch {
      return undefined;
    }
  }
}

/** The decision when no rule matched: forward the query as usual. */
export const NO_MATCH = new Decision('none', '', 'none', 0, undefined, undefined, undefined);

const TRIGGER_SLOTS: MatchedTrigger[] = ['client-ip', 'qname', 'wildcard', 'response-ip'];
export const T_CLIENT = 0;
export const T_QNAME = 1;
export const T_WILD = 2;
export const T_RESPONSE = 3;

export class ActionEntry {
  refs = 0;
  readonly decisions: (Decision | undefined)[] = [undefined, undefined, undefined, undefined];
  readonly byType: (Map<number, Decision> | undefined)[] = [undefined, undefined, undefined, undefined];
  constructor(
    readonly id: number,
    readonly key: string,
    readonly kind: Exclude<PolicyAction, 'none'>,
    readonly records: readonly PolicyRecord[],
    readonly ttl: number,
    readonly cnameSuffix: string | undefined,
  ) {}

  /** The shared decision for a hit through trigger slot t (T_*), and query type for local data. */
  decision(t: number, qtype: number, zone: string, authority: CompiledRecords | undefined): Decision {
    if (this.kind !== 'local-data' || this.cnameSuffix !== undefined || this.records[0]!.type === RRType.CNAME) {
      return (this.decisions[t] ??= this.make(t, this.kind === 'local-data' ? -1 : 0, zone, authority));
    }
    let m = this.byType[t];
    if (m === undefined) m = this.byType[t] = new Map();
    let d = m.get(qtype);
    if (d === undefined) {
      d = this.make(t, qtype, zone, authority);
      m.set(qtype, d);
    }
    return d;
  }

  private make(t: number, qtype: number, zone: string, authority: CompiledRecords | undefined): Decision {
    const trigger = TRIGGER_SLOTS[t]!;
    if (this.kind !== 'local-data') {
      const auth = this.kind === 'nxdomain' || this.kind === 'nodata' ? authority : undefined;
      return new Decision(this.kind, zone, trigger, this.ttl, undefined, auth, undefined);
    }
    if (this.cnameSuffix !== undefined) return new Decision('local-data', zone, trigger, this.ttl, undefined, undefined, this.cnameSuffix);
    // A CNAME answers every type (qtype -1 here); otherwise the RRset of the query type,
    // everything for ANY (RFC 8482 allows less; the rule's data is small), or NODATA.
    const recs = qtype === -1 || qtype === RRType.ANY ? this.records : this.records.filter((r) => r.type === qtype);
    const answers = compileAnswers(recs);
    return new Decision('local-data', zone, trigger, this.ttl, answers, answers.count === 0 ? authority : undefined, undefined);
  }
}

/**
 * Pre-encodes records as answers owned by the query name (a pointer to the question).
 * Records may carry the `name` they were read with; it is left out here on purpose.
 */
export function compileAnswers(records: readonly PolicyRecord[]): CompiledRecords {
  return compileRecords(records.map((r) => ({ type: r.type, ttl: r.ttl, data: r.data })));
}

/** Stable text of RDATA, for interning and for matching IXFR deletions. */
export function rdataKey(d: Rdata): string {
  switch (d.kind) {
    case 'A':
    case 'AAAA':
      return d.address;
    case 'CNAME':
      return d.cname;
    case 'NS':
      return d.nsdname;
    case 'PTR':
      return d.ptrdname;
    case 'DNAME':
      return d.target;
    case 'MX':
      return `${d.preference} ${d.exchange}`;
    case 'SRV':
      return `${d.priority} ${d.weight} ${d.port} ${d.target}`;
    case 'TXT':
      return d.strings.map((s) => Buffer.from(s).toString('hex')).join(' ');
    case 'SOA':
      return `${d.mname} ${d.rname} ${d.serial} ${d.refresh} ${d.retry} ${d.expire} ${d.minimum}`;
    case 'CAA':
      return `${d.flags} ${d.tag} ${Buffer.from(d.value).toString('hex')}`;
    case 'raw':
      return Buffer.from(d.bytes).toString('hex');
  }
}

/** Same record for RFC 2181 §5 set semantics: type and RDATA, TTL aside. */
export function sameRecord(a: PolicyRecord, b: PolicyRecord): boolean {
  return a.type === b.type && rdataKey(a.data) === rdataKey(b.data);
}

function setKey(records: readonly PolicyRecord[]): string {
  if (records.length === 1) {
    const r = records[0]!;
    return `${r.type}/${r.ttl}/${rdataKey(r.data)}`;
  }
  return records.map((r) => `${r.type}/${r.ttl}/${rdataKey(r.data)}`).join('|');
}

/** The action a record set encodes (see the file comment). */
export function actionOf(records: readonly PolicyRecord[]): { kind: Exclude<PolicyAction, 'none'>; cnameSuffix?: string } {
  const r = records[0];
  if (records.length === 1 && r!.data.kind === 'CNAME') {
    const t = r!.data.cname;
    switch (t) {
      case '.':
        return { kind: 'nxdomain' };
      case '*':
        return { kind: 'nodata' };
      case 'rpz-passthru':
        return { kind: 'passthru' };
      case 'rpz-drop':
        return { kind: 'drop' };
      case 'rpz-tcp-only':
        return { kind: 'tcp-only' };
    }
    if (t.startsWith('*.')) return { kind: 'local-data', cnameSuffix: t.slice(2) };
  }
  return { kind: 'local-data' };
}

/** Interned record sets of one zone, by small integer id (what the name table stores). */
/** One interned record set as ActionTable.snapshot gives it (structured-clonable). */
export interface ActionSnapshot {
  id: number;
  refs: number;
  records: readonly PolicyRecord[];
}

export class ActionTable {
  private readonly entries: (ActionEntry | undefined)[] = [];
  private readonly byKey = new Map<string, number>();
  private readonly freeIds: number[] = [];

  get size(): number {
    return this.byKey.size;
  }

  get(id: number): ActionEntry {
    return this.entries[id]!;
  }

  // The set interned last: zone files repeat one action line after line (`CNAME .`),
  // and this check is cheaper than building the key.
  private lastId = -1;
  private lastType = 0;
  private lastTtl = 0;
  private lastData: Rdata | undefined;

  /** intern([r]) without building the array when r repeats the last single record. */
  internOne(r: PolicyRecord): number | string {
    if (this.lastId >= 0 && r.type === this.lastType && r.ttl === this.lastTtl && r.data.kind === 'CNAME' && this.lastData?.kind === 'CNAME' && r.data.cname === this.lastData.cname) {
      const e = this.entries[this.lastId];
      if (e !== undefined) {
        e.refs++;
        return this.lastId;
      }
    }
    return this.intern([r]);
  }

  /** Id of the set (refcount +1), or why the records cannot be answered with. */
  intern(records: readonly PolicyRecord[]): number | string {
    if (records.length === 1 && this.lastId >= 0) {
      const r = records[0]!;
      const e = this.entries[this.lastId];
      if (e !== undefined && r.type === this.lastType && r.ttl === this.lastTtl && r.data.kind === 'CNAME' && this.lastData?.kind === 'CNAME' && r.data.cname === this.lastData.cname) {
        e.refs++;
        return this.lastId;
      }
    }
    const id = this.internByKey(records);
    if (typeof id === 'number' && records.length === 1) {
      this.lastId = id;
      this.lastType = records[0]!.type;
      this.lastTtl = records[0]!.ttl;
      this.lastData = records[0]!.data;
    }
    return id;
  }

  private internByKey(records: readonly PolicyRecord[]): number | string {
    const key = setKey(records);
    const found = this.byKey.get(key);
    if (found !== undefined) {
      this.entries[found]!.refs++;
      return found;
    }
    const a = actionOf(records);
    if (a.kind === 'local-data' && a.cnameSuffix === undefined) {
      // Encode once now, so a rule that cannot be put on the wire fails at load, not per query.
      try {
        compileAnswers(records);
      } catch (err) {
        return err instanceof Error ? err.message : String(err);
      }
    }
    let ttl = records[0]!.ttl;
    for (const r of records) if (r.ttl < ttl) ttl = r.ttl;
    const id = this.freeIds.pop() ?? this.entries.length;
    const e = new ActionEntry(id, key, a.kind, records, ttl, a.cnameSuffix);
    e.refs = 1;
    this.entries[id] = e;
    this.byKey.set(key, id);
    return id;
  }

  release(id: number): void {
    const e = this.entries[id];
    if (!e || --e.refs > 0) return;
    this.byKey.delete(e.key);
    this.entries[id] = undefined;
    this.freeIds.push(id);
    if (id === this.lastId) this.lastId = -1;
  }

  /** Every live set with its id and refcount, for another thread to rebuild the same table (fromSnapshot). */
  snapshot(): ActionSnapshot[] {
    const out: ActionSnapshot[] = [];
    for (const e of this.entries) if (e) out.push({ id: e.id, refs: e.refs, records: e.records });
    return out;
  }

  /** The table a snapshot was taken of, with the same ids (the name tables refer to them). */
  static fromSnapshot(snap: readonly ActionSnapshot[]): ActionTable {
    const t = new ActionTable();
    for (const { id, refs, records } of snap) {
      const a = actionOf(records);
      let ttl = records[0]!.ttl;
      for (const r of records) if (r.ttl < ttl) ttl = r.ttl;
      const e = new ActionEntry(id, setKey(records), a.kind, records, ttl, a.cnameSuffix);
      e.refs = refs;
      t.entries[id] = e;
      t.byKey.set(e.key, id);
    }
    for (let id = 0; id < t.entries.length; id++) if (t.entries[id] === undefined) t.freeIds.push(id);
    return t;
  }

  /** Drops cached decisions (after the zone's SOA changed). */
  clearDecisions(): void {
    for (const e of this.entries) {
      if (!e) continue;
      e.decisions.fill(undefined);
      e.byType.fill(undefined);
    }
  }
}
