/**
 * The attribution index on the Store: bulk writes for imports, the live
 * RADIUS path (Start / Interim / Stop / Accounting-On resolved against what
 * the store already holds), and the look-up probes. The decision itself is
 * in lookup.ts; this file only fetches candidate rows.
 */
import { systemClock, type Clock } from '../core/index.ts';
import { isUniqueViolation, type Queryable, type SqlValue, type Store } from '../store/index.ts';
import { candidateKeys, keyShape, parseNetwork, type Network, type PrefixLengths } from './address.ts';
import { recordsOf, type PendingOp, type SessionState } from './events.ts';
import { decide, type LookupOutcome, type LookupQuery, type StoredSession } from './lookup.ts';
import type { BulkWriter } from './pg-copy.ts';
import { LOOKUP_INDEX, SEEN_INDEX } from './migrations.ts';
import { FLAG_END_INFERRED, FLAG_START_INFERRED, packFlags, sessionHash, type SessionRecord } from './session.ts';

const T = 'attribution_sessions';
const COLS = 'addr_key, port_start, port_end, start_at, end_at, last_seen, subscriber, nas, session_id, flags';

/**
 * Same session, same row: the unique lookup key decides. Ends and flags
 * merge by the rules of lookup.ts (a reported edge beats a derived one).
 * SET expressions read the row as it was, in both dialects.
 */
export const UPSERT_TAIL = `ON CONFLICT (addr_key, port_start, start_at, sid_hash) DO UPDATE SET
  end_at = CASE
    WHEN excluded.end_at IS NULL THEN ${T}.end_at
    WHEN ${T}.end_at IS NULL THEN excluded.end_at
    WHEN (${T}.flags & 16) <> 0 AND (excluded.flags & 16) = 0 THEN excluded.end_at
    WHEN (${T}.flags & 16) = 0 AND (excluded.flags & 16) <> 0 THEN ${T}.end_at
    WHEN excluded.end_at > ${T}.end_at THEN excluded.end_at
    ELSE ${T}.end_at END,
  last_seen = CASE WHEN excluded.last_seen > ${T}.last_seen THEN excluded.last_seen ELSE ${T}.last_seen END,
  subscriber = CASE WHEN ${T}.subscriber = '' THEN excluded.subscriber ELSE ${T}.subscriber END,
  flags = (${T}.flags & ~24) | (${T}.flags & excluded.flags & 8) | CASE
    WHEN excluded.end_at IS NULL THEN ${T}.flags & 16
    WHEN ${T}.end_at IS NULL THEN excluded.flags & 16
    ELSE ${T}.flags & excluded.flags & 16 END`;
const UPSERT = `INSERT INTO ${T} (addr_key, port_start, port_end, start_at, end_at, last_seen, sid_hash, subscriber, nas, session_id, flags)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
${UPSERT_TAIL}`;

const INSERT_COLS = 'addr_key, port_start, port_end, start_at, end_at, last_seen, sid_hash, subscriber, nas, session_id, flags';
/** Rows per plain INSERT during a bulk load (11 parameters each). */
const LOAD_ROWS = 64;
const loadInsert = (n: number) => `INSERT INTO ${T} (${INSERT_COLS}) VALUES ${Array.from({ length: n }, () => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`;
const LOAD_INSERT_FULL = loadInsert(LOAD_ROWS);

const SELECT_OPEN = `SELECT id, addr_key, port_start, start_at, flags FROM ${T} WHERE nas = ? AND session_id = ? AND end_at IS NULL`;
const FIX_START = `UPDATE ${T} SET start_at = ?, flags = flags & ~${FLAG_START_INFERRED} WHERE id = ?`;
const TOUCH_OPEN = `UPDATE ${T} SET last_seen = ? WHERE nas = ? AND session_id = ? AND end_at IS NULL AND last_seen < ?`;
const CLOSE_OPEN = `UPDATE ${T} SET end_at = ?, flags = flags & ~${FLAG_END_INFERRED}, last_seen = CASE WHEN last_seen < ? THEN ? ELSE last_seen END
WHERE nas = ? AND session_id = ? AND end_at IS NULL`;
const CLOSE_NAS = `UPDATE ${T} SET end_at = ?, flags = flags | ${FLAG_END_INFERRED}, last_seen = CASE WHEN last_seen < ? THEN ? ELSE last_seen END
WHERE nas = ? AND end_at IS NULL AND start_at <= ?`;
/** A closed row of this session near a derived start: found through the lookup index. */
const FIND_CLOSED = `SELECT id, end_at, flags FROM ${T} WHERE addr_key = ? AND port_start = ? AND start_at >= ? AND start_at <= ? AND nas = ? AND session_id = ? LIMIT 1`;
const CORRECT_END = `UPDATE ${T} SET end_at = ?, flags = flags & ~${FLAG_END_INFERRED}, last_seen = CASE WHEN last_seen < ? THEN ? ELSE last_seen END WHERE id = ?`;

/**
 * A start derived from Acct-Session-Time lands within this of the reported
 * one (the NAS counts session time from its own idea of the start, and
 * Acct-Delay-Time shifts the event).
 */
const INFERRED_START_WINDOW_MS = 120_000;

interface Row {
  addr_key: string;
  port_start: number;
  port_end: number;
  start_at: number;
  end_at: number | null;
  last_seen: number;
  subscriber: string;
  nas: string;
  session_id: string;
  flags: number;
}

function toStored(r: Row): StoredSession {
  return {
    addrKey: r.addr_key,
    portStart: Number(r.port_start),
    portEnd: Number(r.port_end),
    start: Number(r.start_at),
    end: r.end_at === null ? null : Number(r.end_at),
    lastSeen: Number(r.last_seen),
    subscriber: r.subscriber,
    nas: r.nas,
    sessionId: r.session_id,
    flags: Number(r.flags),
  };
}

/** A row of COLS as store.values() returns it. */
function storedOf(v: unknown[], at: number): StoredSession {
  const end = v[at + 4];
  return {
    addrKey: v[at] as string,
    portStart: Number(v[at + 1]),
    portEnd: Number(v[at + 2]),
    start: Number(v[at + 3]),
    end: end === null ? null : Number(end),
    lastSeen: Number(v[at + 5]),
    subscriber: v[at + 6] as string,
    nas: v[at + 7] as string,
    sessionId: v[at + 8] as string,
    flags: Number(v[at + 9]),
  };
}

export function recordParams(r: SessionRecord): SqlValue[] {
  return [r.addrKey, r.portStart, r.portEnd, r.start, r.end, r.lastSeen, sessionHash(r.nas, r.sessionId), r.subscriber, r.nas, r.sessionId, packFlags(r)];
}

/** Values per row in a flat batch of rows (recordParams order). */
export const ROW_WIDTH = 11;

/** Appends records to a flat batch of rows, ROW_WIDTH values each (what writeRows takes; imports build and ship these). */
export function pushRows(out: SqlValue[], records: readonly SessionRecord[]): SqlValue[] {
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    out.push(r.addrKey, r.portStart, r.portEnd, r.start, r.end, r.lastSeen, sessionHash(r.nas, r.sessionId), r.subscriber, r.nas, r.sessionId, packFlags(r));
  }
  return out;
}

/** Row i of a flat batch as its own parameter array. */
function rowAt(flat: readonly SqlValue[], i: number): SqlValue[] {
  return flat.slice(i * ROW_WIDTH, (i + 1) * ROW_WIDTH);
}

export interface SessionIndexOptions {
  clock?: Clock;
  /** Sessions read back in time per network and probe. Sessions of one address follow each other, so a few suffice. */
  scanDepth?: number;
  /** How long the list of prefix lengths in use is trusted before it is read again (other processes may add lengths). */
  prefixLengthsTtlMs?: number;
  /** A faster path for bulk writes than Store.runMany (PostgreSQL COPY, pg-copy.ts). */
  bulk?: BulkWriter;
  /**
   * PostgreSQL: the address probes of look-ups that arrive while earlier probes
   * are out go together in one statement (one round trip for all of them); a
   * lone look-up goes at once, alone. Default on; false sends one statement per look-up.
   */
  batchProbes?: boolean;
}

/** At most this many address probes in one batched statement. */
const MAX_PROBES_PER_BATCH = 256;
/** Batched probe statements out at once (on as many pooled connections). */
const MAX_PROBES_IN_FLIGHT = 3;

interface QueuedProbe {
  keys: string[];
  edge: number;
  /** Rows of COLS as arrays (store.values): a look-up builds no object per row it then drops. */
  resolve: (rows: unknown[][]) => void;
  reject: (err: unknown) => void;
}

export interface HolderQuery {
  at: number;
  port?: number | undefined;
  skewMs: number;
}

export class SessionIndex {
  private readonly clock: Clock;
  private readonly scanDepth: number;
  private readonly lengthsTtlMs: number;
  private readonly bulk: BulkWriter | undefined;
  private layout: { lengths: PrefixLengths; shared: Set<string>; readAt: number } | undefined;
  /** Prefix lengths this process has registered or seen ("6/56"). */
  private readonly knownShapes = new Set<string>(['4/32']);
  /** Shared (CGNAT) public addresses this process has registered or seen. */
  private readonly knownShared = new Set<string>();
  /** A bulk load in progress (beginBulkLoad): its transaction, and whether the two big indexes are still to be built. */
  private load: { q: Queryable; unindexed: boolean; end: (commit: boolean) => Promise<void> } | undefined;
  private readonly batchProbes: boolean;
  private probes: QueuedProbe[] = [];
  private probesInFlight = 0;

  constructor(
    readonly store: Store,
    opts: SessionIndexOptions = {},
  ) {
    this.clock = opts.clock ?? systemClock;
    this.scanDepth = opts.scanDepth ?? 8;
    this.lengthsTtlMs = opts.prefixLengthsTtlMs ?? 5000;
    this.bulk = opts.bulk;
    this.batchProbes = store.dialect === 'postgres' && opts.batchProbes !== false;
  }

  // ------------------------------------------------------------------ writes

  /**
   * Before a large import: on SQLite, a page cache big enough for the hot
   * part of the lookup index (its inserts land all over it): 256 MiB instead
   * of the store's 64 MiB, for this process's write connection only.
   */
  async prepareBulkWrites(): Promise<void> {
    if (this.store.dialect === 'sqlite') await this.store.run('PRAGMA cache_size = -262144');
  }

  /**
   * Starts a bulk load if the index is empty (a history import before the
   * node goes live): everything written until finishBulkLoad() is one
   * transaction, and the lookup and last-seen indexes are dropped and built
   * once at its end, a sort instead of ~10^7 inserts at random places (which
   * rewrite pages all over the index at every commit). Sessions written
   * twice are merged when the index is built, by the same rules as the
   * upsert. Returns false, changing nothing, if the index holds sessions.
   *
   * Meanwhile other writers wait (SQLite: the write lock; PostgreSQL: the
   * table lock), and look-ups see the index as it was before (SQLite) or
   * wait (PostgreSQL). On SQLite only with no other transaction of this
   * store in flight; on PostgreSQL only with a bulk writer (COPY).
   */
  async beginBulkLoad(): Promise<boolean> {
    if (this.load) return true;
    let q: Queryable;
    let end: (commit: boolean) => Promise<void>;
    if (this.bulk) {
      q = await this.bulk.beginLoad();
      const bulk = this.bulk;
      end = (commit) => bulk.endLoad(commit);
      // Keeps other writers out between the emptiness check and the end; DROP INDEX then takes the table whole.
      await q.run(`LOCK TABLE ${T} IN SHARE ROW EXCLUSIVE MODE`);
    } else if (this.store.dialect === 'sqlite') {
      ({ q, end } = await holdTransaction(this.store));
    } else {
      return false;
    }
    try {
      if (await q.get(`SELECT 1 AS x FROM ${T} LIMIT 1`)) {
        await end(true);
        return false;
      }
      await q.run('DROP INDEX attribution_sessions_lookup');
      await q.run('DROP INDEX attribution_sessions_seen');
    } catch (err) {
      await end(false);
      throw err;
    }
    this.load = { q, unindexed: true, end };
    return true;
  }

  /** Builds the indexes a bulk load dropped and commits it. */
  async finishBulkLoad(): Promise<void> {
    const load = this.load;
    if (!load) return;
    try {
      await this.buildIndexes(load);
    } catch (err) {
      this.load = undefined;
      await load.end(false);
      throw err;
    }
    this.load = undefined;
    await load.end(true);
  }

  /** Rolls a bulk load back (the import failed): the index is empty again, with its indexes. */
  async abortBulkLoad(): Promise<void> {
    const load = this.load;
    this.load = undefined;
    await load?.end(false);
  }

  /**
   * The lookup index, unique: if the load wrote a session twice, its rows
   * are taken out, the index is built, and they go back in through the
   * upsert in the order they were written, merging as live writes do.
   */
  private async buildIndexes(load: NonNullable<SessionIndex['load']>): Promise<void> {
    if (!load.unindexed) return;
    const q = load.q;
    if (this.store.dialect === 'postgres') await q.run("SET LOCAL maintenance_work_mem = '512MB'");
    else await q.all('PRAGMA threads = 2'); // CREATE INDEX may sort in a helper thread
    // Built at once if no session was written twice (the usual case); else the duplicates are found first.
    await q.run('SAVEPOINT attribution_index');
    try {
      await q.run(LOOKUP_INDEX);
      await q.run('RELEASE SAVEPOINT attribution_index');
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      await q.run('ROLLBACK TO SAVEPOINT attribution_index');
      await q.run('RELEASE SAVEPOINT attribution_index');
      await this.rebuildWithDuplicates(q);
    }
    await q.run(SEEN_INDEX);
    load.unindexed = false;
  }

  private async rebuildWithDuplicates(q: Queryable): Promise<void> {
    const dups = await q.all<Row & { id: number; sid_hash: number }>(
      `SELECT d.id, d.addr_key, d.port_start, d.port_end, d.start_at, d.end_at, d.last_seen, d.subscriber, d.nas, d.session_id, d.flags, d.sid_hash FROM ${T} d
       JOIN (SELECT addr_key, port_start, start_at, sid_hash FROM ${T} GROUP BY addr_key, port_start, start_at, sid_hash HAVING COUNT(*) > 1) g
       ON d.addr_key = g.addr_key AND d.port_start = g.port_start AND d.start_at = g.start_at AND d.sid_hash = g.sid_hash ORDER BY d.id`,
    );
    for (let i = 0; i < dups.length; i += 500) {
      const ids = dups.slice(i, i + 500).map((r) => Number(r.id));
      await q.run(`DELETE FROM ${T} WHERE id IN (${ids.map(() => '?').join(', ')})`, ids);
    }
    await q.run(LOOKUP_INDEX);
    for (const r of dups) {
      await q.run(UPSERT, [r.addr_key, Number(r.port_start), Number(r.port_end), Number(r.start_at), r.end_at === null ? null : Number(r.end_at), Number(r.last_seen), Number(r.sid_hash), r.subscriber, r.nas, r.session_id, Number(r.flags)]);
    }
  }

  /**
   * Writes finished or open sessions in one transaction (the import fast
   * path). Writing a session again merges into its row.
   */
  async write(records: readonly SessionRecord[]): Promise<number> {
    if (records.length === 0) return 0;
    return this.writeRows(pushRows([], records));
  }

  /** write() for rows already flattened by pushRows (ROW_WIDTH values each): what an import's parse thread sends. */
  async writeRows(flat: readonly SqlValue[]): Promise<number> {
    const n = flat.length / ROW_WIDTH;
    if (n === 0) return 0;
    await this.registerShapes(flat);
    const load = this.load;
    if (load?.unindexed && !this.bulk) {
      // SQLite bulk load: plain multi-row INSERTs, duplicates merged at the end.
      const full = LOAD_ROWS * ROW_WIDTH;
      let at = 0;
      for (; at + full <= flat.length; at += full) await load.q.run(LOAD_INSERT_FULL, flat.slice(at, at + full));
      if (at < flat.length) await load.q.run(loadInsert((flat.length - at) / ROW_WIDTH), flat.slice(at));
      return n;
    }
    if (load && !this.bulk) {
      for (let i = 0; i < n; i++) await load.q.run(UPSERT, rowAt(flat, i));
      return n;
    }
    if (load?.unindexed) {
      // COPY into the table without its unique index: duplicates are merged when the index is built.
      await this.bulk!.write(flat);
      return n;
    }
    if (this.store.dialect === 'postgres' || this.bulk) {
      // One multi-row upsert may not touch a row twice: merge such pairs first.
      const byKey = new Map<string, SqlValue[]>();
      for (let i = 0; i < n; i++) {
        const p = rowAt(flat, i);
        const k = `${p[0]}|${p[1]}|${p[3]}|${p[6]}`;
        const prev = byKey.get(k);
        byKey.set(k, prev ? mergeParams(prev, p) : p);
      }
      if (this.bulk) {
        const merged: SqlValue[] = [];
        for (const p of byKey.values()) for (const v of p) merged.push(v);
        await this.bulk.write(merged);
      } else await this.store.runMany(UPSERT, [...byKey.values()]);
      return n;
    }
    const rows = new Array<SqlValue[]>(n);
    for (let i = 0; i < n; i++) rows[i] = rowAt(flat, i);
    await this.store.runMany(UPSERT, rows);
    return n;
  }

  /** Resolves store-dependent work (the live RADIUS path, and what an import could not pair) in one transaction, in order. */
  async resolve(ops: readonly PendingOp[]): Promise<void> {
    if (ops.length === 0) return;
    await this.registerHeld(ops);
    const load = this.load;
    if (load) {
      // Matching Stops and Interims needs the lookup index: a bulk load builds it now and goes on with upserts.
      await this.buildIndexes(load);
      for (const op of ops) await this.resolveOne(load.q, op);
      return;
    }
    await this.store.transaction(async (tx) => {
      for (const op of ops) await this.resolveOne(tx, op);
    });
  }

  /** Accounting-On/Off: every session the NAS had open ends at `at`. Returns how many rows were closed. */
  async closeNas(nas: string, at: number): Promise<number> {
    return (await this.store.run(CLOSE_NAS, [at, at, at, nas, at])).changes;
  }

  private async resolveOne(tx: Queryable, op: PendingOp): Promise<void> {
    if (op.kind === 'nas-reset') {
      await tx.run(CLOSE_NAS, [op.at, op.at, op.at, op.nas, op.at]);
      return;
    }
    const s = op.session;
    const open = await tx.all<{ id: number; addr_key: string; port_start: number; start_at: number; flags: number }>(SELECT_OPEN, [s.nas, s.sessionId]);
    if (open.length > 0) {
      let start = Infinity;
      for (const r of open) {
        const reported = (Number(r.flags) & FLAG_START_INFERRED) === 0;
        if (op.kind === 'start' && !reported && Number(r.start_at) !== s.start) await tx.run(FIX_START, [s.start, r.id]);
        start = Math.min(start, op.kind === 'start' && !reported ? s.start : Number(r.start_at));
      }
      if (s.end !== null) await tx.run(CLOSE_OPEN, [s.end, s.lastSeen, s.lastSeen, s.nas, s.sessionId]);
      else await tx.run(TOUCH_OPEN, [s.lastSeen, s.nas, s.sessionId, s.lastSeen]);
      // A network the session gained (an Interim that brings the delegated prefix).
      const have = new Set(open.map((r) => `${r.addr_key}:${Number(r.port_start)}`));
      const missing = s.held.filter((h) => !have.has(`${h.addrKey}:${h.ports?.start ?? 0}`));
      if (missing.length) await this.insert(tx, { ...s, held: missing }, start, op.kind === 'start' ? false : s.startInferred);
      return;
    }
    if (op.kind !== 'start' && s.startInferred) {
      // No open rows: the session may be closed already (a repeated Stop, a
      // late Interim, or a Stop after Accounting-On closed it with a derived end).
      let found = false;
      for (const h of s.held) {
        const row = await tx.get<{ id: number; end_at: number | null; flags: number }>(FIND_CLOSED, [
          h.addrKey, h.ports?.start ?? 0, s.start - INFERRED_START_WINDOW_MS, s.start + INFERRED_START_WINDOW_MS, s.nas, s.sessionId,
        ]);
        if (!row) continue;
        found = true;
        if (s.end !== null && (Number(row.flags) & FLAG_END_INFERRED) !== 0) await tx.run(CORRECT_END, [s.end, s.lastSeen, s.lastSeen, row.id]);
      }
      if (found) return;
    }
    await this.insert(tx, s, s.start, s.startInferred);
  }

  private async insert(tx: Queryable, s: SessionState, start: number, startInferred: boolean): Promise<void> {
    for (const r of recordsOf(s, start, startInferred, s.end, false, s.lastSeen)) await tx.run(UPSERT, recordParams(r));
  }

  private async registerShapes(flat: readonly SqlValue[]): Promise<void> {
    let fresh: string[] | undefined;
    let shared: string[] | undefined;
    for (let i = 0; i < flat.length; i += ROW_WIDTH) {
      const key = flat[i] as string;
      if (flat[i + 1] !== 0 || flat[i + 2] !== 65535) {
        if (!this.knownShared.has(key)) (shared ??= []).push(key);
      } else if (key.indexOf('/') >= 0) {
        // Only keys with a "/" are anything but an IPv4 /32.
        const { family, len } = keyShape(key);
        const shape = `${family}/${len}`;
        if (!this.knownShapes.has(shape)) (fresh ??= []).push(shape);
      }
    }
    if (fresh || shared) await this.addShapes(fresh ?? [], shared ?? []);
  }

  private async registerHeld(ops: readonly PendingOp[]): Promise<void> {
    const fresh: string[] = [];
    const shared: string[] = [];
    for (const op of ops) {
      if (op.kind === 'nas-reset') continue;
      for (const h of op.session.held) {
        if (h.ports && (h.ports.start !== 0 || h.ports.end !== 65535)) {
          if (!this.knownShared.has(h.addrKey)) shared.push(h.addrKey);
        } else if (h.addrKey.indexOf('/') >= 0) {
          const { family, len } = keyShape(h.addrKey);
          if (!this.knownShapes.has(`${family}/${len}`)) fresh.push(`${family}/${len}`);
        }
      }
    }
    if (fresh.length || shared.length) await this.addShapes(fresh, shared);
  }

  private async addShapes(shapes: string[], shared: string[]): Promise<void> {
    // During a SQLite bulk load the store's write turn is the load's own transaction.
    const q: Queryable = this.load && !this.bulk ? this.load.q : this.store;
    for (const shape of new Set(shapes)) {
      const [family, len] = shape.split('/').map(Number) as [number, number];
      await q.run('INSERT INTO attribution_prefix_lengths (family, len) VALUES (?, ?) ON CONFLICT (family, len) DO NOTHING', [family, len]);
      this.knownShapes.add(shape);
    }
    for (const key of new Set(shared)) {
      await q.run('INSERT INTO attribution_shared_addresses (addr_key) VALUES (?) ON CONFLICT (addr_key) DO NOTHING', [key]);
      this.knownShared.add(key);
    }
    this.layout = undefined;
  }

  // ------------------------------------------------------------------ reads

  /** The prefix lengths in use, besides IPv4 /32. */
  async prefixLengths(): Promise<PrefixLengths> {
    return (await this.readLayout()).lengths;
  }

  /**
   * Which prefix lengths and which shared (CGNAT) addresses the index holds:
   * small, read whole, trusted for prefixLengthsTtlMs (another process, an
   * import, may add to them meanwhile).
   */
  private async readLayout(): Promise<{ lengths: PrefixLengths; shared: Set<string> }> {
    const now = this.clock.now();
    if (this.layout && now - this.layout.readAt < this.lengthsTtlMs) return this.layout;
    const rows = await this.store.all<{ family: number; len: number }>('SELECT family, len FROM attribution_prefix_lengths ORDER BY family, len DESC');
    const lengths: { 4: number[]; 6: number[] } = { 4: [], 6: [] };
    for (const r of rows) {
      const f = Number(r.family);
      if (f === 4 && Number(r.len) !== 32) lengths[4].push(Number(r.len));
      if (f === 6) lengths[6].push(Number(r.len));
      this.knownShapes.add(`${f}/${Number(r.len)}`);
    }
    const shared = new Set((await this.store.all<{ addr_key: string }>('SELECT addr_key FROM attribution_shared_addresses')).map((r) => r.addr_key));
    for (const k of shared) this.knownShared.add(k);
    this.layout = { lengths, shared, readAt: now };
    return this.layout;
  }

  /** Who held `addr` at q.at: candidate rows, then the decision (lookup.ts). Not audited: callers go through Attribution. */
  async holderAt(addr: Network, q: HolderQuery): Promise<LookupOutcome> {
    const { rows, shared } = await this.candidates(addr, q);
    return decide(rows, q satisfies LookupQuery, { known: shared });
  }

  /**
   * The rows a decision needs, for every network that may contain `addr`;
   * `shared` when the address has CGNAT port blocks (so it is known even if
   * no block holds the port asked about).
   */
  async candidates(addr: Network, q: HolderQuery): Promise<{ rows: StoredSession[]; shared: boolean }> {
    // The cached layout without an await (a look-up's own promise hops are a visible share of its cost).
    const now = this.clock.now();
    const layout = this.layout && now - this.layout.readAt < this.lengthsTtlMs ? this.layout : await this.readLayout();
    const keys = candidateKeys(addr, layout.lengths);
    if (keys.length === 0) return { rows: [], shared: false };
    const edge = q.at + q.skewMs;
    // Port blocks (CGNAT) exist only on the shared public IPv4 addresses.
    const blockKey = addr.family === 4 && addr.len === 32 && layout.shared.has(keys[0]!) ? keys[0] : undefined;
    const withBlock = blockKey !== undefined && q.port !== undefined;
    let raw: unknown[][];
    if (this.batchProbes && !withBlock) raw = await this.probeBatched(keys, edge);
    else {
      const { sql, params } = probeStatement(keys, withBlock, this.scanDepth, edge, q.port);
      raw = await this.store.values(sql, params);
    }
    const out = new Array<StoredSession>(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = storedOf(raw[i]!, 0);
    if (blockKey !== undefined) {
      if (q.port === undefined) out.push(...(await this.allBlocks(blockKey, edge)));
      else if (!coversPort(out, q)) out.push(...(await this.lowerBlocks(blockKey, q.port, edge, out)));
    }
    return { rows: out, shared: blockKey !== undefined };
  }

  /**
   * The same rows as probeStatement without a port block, for the probes
   * queued while others were out, in one statement: each (key, edge) pair
   * is one row of unnest(), probed by a LATERAL pair of index descents, and
   * the rows come back tagged with their probe's number.
   */
  private probeBatched(keys: string[], edge: number): Promise<unknown[][]> {
    return new Promise<unknown[][]>((resolve, reject) => {
      this.probes.push({ keys, edge, resolve, reject });
      // Group commit: while MAX_PROBES_IN_FLIGHT statements are out, probes queue and go together
      // when one returns; a lone caller's probe leaves at once (in this microtask run), unbatched.
      if (this.probes.length === 1 && this.probesInFlight < MAX_PROBES_IN_FLIGHT) queueMicrotask(() => this.sendProbes());
    });
  }

  private sendProbes(): void {
    if (this.probes.length === 0) return;
    const batch = this.probes.splice(0, MAX_PROBES_PER_BATCH);
    let sent: Promise<unknown[][]>;
    if (batch.length === 1) {
      const { sql, params } = probeStatement(batch[0]!.keys, false, this.scanDepth, batch[0]!.edge, undefined);
      sent = this.store.values(sql, params);
    } else {
      const ks: string[] = [];
      const es: number[] = [];
      const ix: number[] = [];
      batch.forEach((p, i) => {
        for (const k of p.keys) {
          ks.push(k);
          es.push(p.edge);
          ix.push(i);
        }
      });
      sent = this.store.values(batchedProbeText(this.scanDepth), [pgArray(ks), pgArray(es), pgArray(ix)]);
    }
    this.probesInFlight += 1;
    void sent
      .then(
        (rows) => {
          if (batch.length === 1) batch[0]!.resolve(rows);
          else {
            // Each row is the probe's number, then COLS.
            const out = batch.map((): unknown[][] => []);
            for (const r of rows) out[Number(r[0])]!.push(r.slice(1));
            batch.forEach((p, i) => p.resolve(out[i]!));
          }
        },
        (err: unknown) => batch.forEach((p) => p.reject(err)),
      )
      .finally(() => {
        this.probesInFlight -= 1;
        this.sendProbes();
      });
  }

  /** Every port block of a shared address around a time (a look-up without a port), block by block. */
  private async allBlocks(key: string, edge: number): Promise<StoredSession[]> {
    const out: StoredSession[] = [];
    let from = 0;
    for (let i = 0; i < MAX_BLOCKS_LISTED; i++) {
      const next = await this.store.get<{ p: number | null }>(`SELECT MIN(port_start) AS p FROM ${T} WHERE addr_key = ? AND port_start > ?`, [key, from]);
      if (next?.p === null || next?.p === undefined) break;
      from = Number(next.p);
      out.push(...(await this.blockAt(key, from, edge, 2)));
    }
    return out;
  }

  /**
   * The nearest block start below the port held no covering block (block
   * layouts changed over time, or the port sits in a gap): walk down a few
   * more block starts.
   */
  private async lowerBlocks(key: string, port: number, edge: number, seen: StoredSession[]): Promise<StoredSession[]> {
    const out: StoredSession[] = [];
    let below = Math.min(port + 1, ...seen.filter((r) => r.portStart > 0).map((r) => r.portStart));
    for (let i = 0; i < 8; i++) {
      const next = await this.store.get<{ p: number | null }>(`SELECT MAX(port_start) AS p FROM ${T} WHERE addr_key = ? AND port_start > 0 AND port_start < ?`, [key, below]);
      if (next?.p === null || next?.p === undefined) break;
      below = Number(next.p);
      const rows = await this.blockAt(key, below, edge, this.scanDepth);
      out.push(...rows);
      if (rows.some((r) => r.portEnd >= port)) break;
    }
    return out;
  }

  private async blockAt(key: string, portStart: number, edge: number, depth: number): Promise<StoredSession[]> {
    const rows = await this.store.all<Row>(
      `SELECT * FROM (SELECT ${COLS} FROM ${T} WHERE addr_key = ? AND port_start = ? AND start_at <= ? ORDER BY start_at DESC LIMIT ${depth}) AS b
       UNION ALL SELECT * FROM (SELECT ${COLS} FROM ${T} WHERE addr_key = ? AND port_start = ? AND start_at > ? ORDER BY start_at ASC LIMIT 1) AS a`,
      [key, portStart, edge, key, portStart, edge],
    );
    return rows.map(toStored);
  }

  /**
   * The networks a subscriber holds now: their open sessions that no later
   * session on the same network has superseded (a lost Stop). Port blocks
   * are left out: a CGNAT public address is shared with other subscribers.
   */
  async currentHoldings(subscriber: string): Promise<StoredSession[]> {
    const rows = await this.store.all<Row>(
      `SELECT ${COLS} FROM ${T} s WHERE s.subscriber = ? AND s.end_at IS NULL AND s.port_start = 0 AND s.port_end = 65535
       AND NOT EXISTS (SELECT 1 FROM ${T} n WHERE n.addr_key = s.addr_key AND n.port_start = s.port_start AND n.start_at > s.start_at)
       ORDER BY s.start_at`,
      [subscriber],
    );
    return rows.map(toStored);
  }

  // ------------------------------------------------------------------ housekeeping

  async count(): Promise<{ sessions: number; open: number }> {
    const all = await this.store.get<{ n: number }>(`SELECT COUNT(*) AS n FROM ${T}`);
    const open = await this.store.get<{ n: number }>(`SELECT COUNT(*) AS n FROM ${T} WHERE end_at IS NULL`);
    return { sessions: Number(all?.n ?? 0), open: Number(open?.n ?? 0) };
  }
}

const MAX_BLOCKS_LISTED = 256;

/**
 * A store transaction held open across calls: `q` runs in it, `end` commits
 * or rolls it back. For a bulk load, which spans many import batches.
 */
async function holdTransaction(store: Store): Promise<{ q: Queryable; end: (commit: boolean) => Promise<void> }> {
  let finish!: (commit: boolean) => void;
  const decided = new Promise<boolean>((resolve) => (finish = resolve));
  let opened!: (q: Queryable) => void;
  const ready = new Promise<Queryable>((resolve) => (opened = resolve));
  const done = store.transaction(async (tx) => {
    opened(tx);
    if (!(await decided)) throw new RolledBack();
  });
  const q = await Promise.race([ready, done.then(() => { throw new Error('the bulk-load transaction ended before it began'); })]);
  return {
    q,
    end: async (commit) => {
      finish(commit);
      await done.catch((err: unknown) => {
        if (!(err instanceof RolledBack)) throw err;
      });
    },
  };
}

class RolledBack extends Error {}

function coversPort(rows: StoredSession[], q: HolderQuery): boolean {
  return rows.some((r) => r.portStart <= q.port! && q.port! <= r.portEnd && r.start - q.skewMs <= q.at && (r.end === null || r.end + q.skewMs >= q.at));
}

/** Later edges win; a reported end beats a derived one (the same rule as the SQL upsert). */
function mergeParams(a: SqlValue[], b: SqlValue[]): SqlValue[] {
  const [aEnd, bEnd, aFlags, bFlags] = [a[4] as number | null, b[4] as number | null, a[10] as number, b[10] as number];
  let end = aEnd;
  let endBit = aFlags & FLAG_END_INFERRED;
  if (bEnd !== null && (aEnd === null || ((aFlags & 16) !== 0 && (bFlags & 16) === 0) || ((aFlags & 16) === (bFlags & 16) && bEnd > aEnd))) {
    end = bEnd;
    endBit = bFlags & FLAG_END_INFERRED;
  }
  const flags = (aFlags & ~24) | (aFlags & bFlags & FLAG_START_INFERRED) | endBit;
  const out = a.slice();
  out[4] = end;
  out[5] = Math.max(a[5] as number, b[5] as number);
  if (out[7] === '') out[7] = b[7]!;
  out[10] = flags;
  return out;
}

const statementCache = new Map<string, string>();

/**
 * One statement for a whole look-up, so PostgreSQL needs one round trip:
 * per candidate network, the sessions that started up to the time (newest
 * first, `depth` of them) and the first one after it; for a shared (CGNAT)
 * address with a port, also those of the port block holding the port.
 * Every branch is one descent of the lookup index.
 */
function probeStatement(keys: string[], withBlock: boolean, depth: number, edge: number, port: number | undefined): { sql: string; params: SqlValue[] } {
  const params: SqlValue[] = [];
  for (const key of keys) params.push(key, edge, key, edge);
  if (withBlock) params.push(keys[0]!, keys[0]!, port!, edge, keys[0]!, keys[0]!, port!, edge);
  const shape = `${keys.length}|${withBlock ? 1 : 0}|${depth}`;
  let sql = statementCache.get(shape);
  if (sql === undefined) {
    const parts: string[] = [];
    keys.forEach((_key, i) => {
      parts.push(`SELECT * FROM (SELECT ${COLS} FROM ${T} WHERE addr_key = ? AND port_start = 0 AND start_at <= ? ORDER BY start_at DESC LIMIT ${depth}) AS b${i}`);
      parts.push(`SELECT * FROM (SELECT ${COLS} FROM ${T} WHERE addr_key = ? AND port_start = 0 AND start_at > ? ORDER BY start_at ASC LIMIT 1) AS a${i}`);
    });
    if (withBlock) {
      const block = `port_start = (SELECT MAX(port_start) FROM ${T} WHERE addr_key = ? AND port_start > 0 AND port_start <= ?)`;
      parts.push(`SELECT * FROM (SELECT ${COLS} FROM ${T} WHERE addr_key = ? AND ${block} AND start_at <= ? ORDER BY start_at DESC LIMIT ${depth}) AS pb`);
      parts.push(`SELECT * FROM (SELECT ${COLS} FROM ${T} WHERE addr_key = ? AND ${block} AND start_at > ? ORDER BY start_at ASC LIMIT 1) AS pa`);
    }
    sql = parts.join('\nUNION ALL ');
    statementCache.set(shape, sql);
  }
  return { sql, params };
}

const batchedProbeTexts = new Map<number, string>();
function batchedProbeText(depth: number): string {
  let t = batchedProbeTexts.get(depth);
  if (t === undefined) {
    // COLLATE "C" on the key: the column's own collation (see migrations.ts), so the look-up index is used.
    t = `SELECT q.i AS probe, s.* FROM unnest(?::text[], ?::bigint[], ?::int[]) AS q(k, e, i)
CROSS JOIN LATERAL (
  (SELECT ${COLS} FROM ${T} WHERE addr_key = q.k COLLATE "C" AND port_start = 0 AND start_at <= q.e ORDER BY start_at DESC LIMIT ${depth})
  UNION ALL
  (SELECT ${COLS} FROM ${T} WHERE addr_key = q.k COLLATE "C" AND port_start = 0 AND start_at > q.e ORDER BY start_at ASC LIMIT 1)
) AS s`;
    batchedProbeTexts.set(depth, t);
  }
  return t;
}

/** A PostgreSQL array literal of hex keys or integers (no element needs quoting). */
function pgArray(values: readonly (string | number)[]): string {
  return `{${values.join(',')}}`;
}

/** Parses the looked-up address; undefined if it is not an address or prefix. */
export function lookupNetwork(text: string): Network | undefined {
  return parseNetwork(text);
}
