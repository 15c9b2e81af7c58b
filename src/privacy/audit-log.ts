import crypto, { createHash } from 'node:crypto';
import { WriterThread, type Queryable, type Store } from '../store/index.ts';
import { isPurpose, SakimoriError, systemClock, type Clock, type Purpose } from '../core/index.ts';
import { workerBoot } from '../core/runtime.ts';
import type { WriterInit } from './audit-writer.ts';

/**
 * The append-only, hash-chained audit log (R16). Every write, read-for-purpose,
 * purge and export of communication data leaves an entry. Entry n stores
 * hash(n) = SHA-256 over (hash(n-1), n, and the entry's fields exactly as
 * stored), so altering any row breaks the chain from there on; the sequence
 * numbers must be gapless, so removing a row is seen; and audit_head keeps the
 * last seq and hash, so cutting rows off the end is seen too.
 *
 * Entries are buffered and written in batches (one transaction per batch) so
 * that auditing every read does not cost a transaction per read. Several
 * processes may append to one store at once: each batch takes the write lock
 * and extends the chain from the current head. On a SQLite file and on
 * PostgreSQL the batches are written by a worker thread with its own
 * connection (audit-writer.ts), which on SQLite also does the WAL checkpoints,
 * so neither the hashing nor the transaction runs on the caller's thread.
 */
export type AuditAction = 'write' | 'read' | 'purge' | 'export' | 'consent' | 'config' | 'notice' | 'delete';

export interface AuditEntryInput {
  /** Who: "node:dns", "cli", "operator:alice", "api:token-3". */
  actor: string;
  action: AuditAction;
  purpose: Purpose;
  /** What was touched: a table, a record id, a subscriber id, an IP. */
  subject: string;
  /** A short summary (counts, filters, reasons) — never the data itself. */
  detail?: Record<string, unknown>;
}

export interface AuditEntry extends Required<AuditEntryInput> {
  seq: number;
  at: number;
  hash: string;
  prevHash: string;
}

export type VerifyResult =
  | { ok: true; entries: number; headSeq: number; headHash: string }
  | { ok: false; entries: number; firstBadSeq: number; reason: string };

interface AuditRow extends ChainInput {
  seq: number;
  prev_hash: string;
  hash: string;
}

/** One-shot crypto.hash where Node has it (20.12+): a third cheaper than a Hash object per entry. */
const sha256Hex: (text: string) => string =
  typeof crypto.hash === 'function' ? (text) => crypto.hash('sha256', text, 'hex') : (text) => createHash('sha256').update(text).digest('hex');

export function chainHash(prevHash: string, seq: number, at: number, actor: string, action: string, purpose: string, subject: string, detail: string): string {
  return sha256Hex(JSON.stringify([prevHash, seq, at, actor, action, purpose, subject, detail]));
}

/** Entries per INSERT statement (9 parameters each: well under both dialects' limits). */
const INSERT_ROWS = 256;
const insertTexts = new Map<number, string>();
function insertText(n: number): string {
  let t = insertTexts.get(n);
  if (t === undefined) {
    t = `INSERT INTO audit_log (seq, at, actor, action, purpose, subject, detail, prev_hash, hash) VALUES ${Array.from({ length: n }, () => '(?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`;
    // PostgreSQL tails come in any size: keep the full size and only a few of them.
    if (insertTexts.size > 64) insertTexts.clear();
    insertTexts.set(n, t);
  }
  return t;
}

/**
 * Rows per INSERT for the next part of a batch: INSERT_ROWS, then the tail.
 * On SQLite the tail goes in powers of two, so that only 9 statement texts
 * exist and each stays prepared (a tail of any size had its own text: a
 * 150-row INSERT prepared anew per batch cost the writer more than its
 * hashes); on PostgreSQL a statement is a round trip, so the tail is one.
 */
function chunkRows(left: number, dialect: Store['dialect']): number {
  if (left >= INSERT_ROWS) return INSERT_ROWS;
  return dialect === 'sqlite' ? 2 ** Math.floor(Math.log2(left)) : left;
}

export interface AuditLogOptions {
  clock?: Clock;
  /** How long entries may wait in the buffer before they are written. 0 writes each append at once. */
  flushIntervalMs?: number;
  /** A batch this large is written at once. */
  maxBatch?: number;
  /** Told when a batch could not be written (the entries stay queued and are retried). */
  onError?: (err: unknown) => void;
  /** SQLite file and PostgreSQL stores: batches are written by a worker thread with its own connection (default), or here when false. */
  writerThread?: boolean;
  /** With the writer thread: its PASSIVE WAL checkpoint interval (the store's own connection then checkpoints never). */
  checkpointMs?: number;
}

interface Pending {
  entry: AuditEntryInput;
  at: number;
  /** Absent for record(): nobody awaits the entry (saves a promise per audited look-up). */
  resolve?: () => void;
  reject?: (err: unknown) => void;
}

export class AuditLog {
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private readonly clock: Clock;
  private readonly flushIntervalMs: number;
  private readonly maxBatch: number;
  private closed = false;
  /** A batch is being written (entries appended meanwhile are taken by the same write loop). */
  private writing = false;
  private writer: WriterThread<ChainInput[]> | undefined;
  written = 0;
  /** Batches (transactions) written: for tests and metrics. */
  batches = 0;

  constructor(private readonly store: Store, private readonly opts: AuditLogOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    this.flushIntervalMs = opts.flushIntervalMs ?? 200;
    this.maxBatch = opts.maxBatch ?? 5000;
  }

  /** Appends an entry; resolves once it is committed to the store. */
  append(entry: AuditEntryInput): Promise<void> {
    const refused = this.refusal(entry);
    if (refused) return Promise.reject(refused);
    return new Promise<void>((resolve, reject) => this.enqueue({ entry, at: this.clock.now(), resolve, reject }));
  }

  private refusal(entry: AuditEntryInput): SakimoriError | undefined {
    if (this.closed) return new SakimoriError('AUDIT_CLOSED', 'the audit log is closed; no further entries can be written');
    if (!isPurpose(entry.purpose)) return new SakimoriError('AUDIT_BAD_PURPOSE', `audit entry has unknown purpose "${String(entry.purpose)}"`);
    return undefined;
  }

  private enqueue(p: Pending): void {
    this.queue.push(p);
    // A write in progress takes what queues up meanwhile (writeQueued loops until
    // the queue is empty): starting another flush per append would commit
    // one tiny batch per entry while a batch is being written.
    if (!this.writing) this.schedule();
  }

  private schedule(): void {
    if (this.queue.length >= this.maxBatch || this.flushIntervalMs === 0) void this.flush();
    else if (!this.timer) {
      // Not unref'd: a caller is awaiting this entry, and a short-lived process (a CLI
      // command) would otherwise exit before the batch is written (exit code 13).
      this.timer = setTimeout(() => void this.flush(), this.flushIntervalMs);
    }
  }

  /** Appends without waiting; a failure reaches onError (a batch that failed stays queued for retry). */
  record(entry: AuditEntryInput): void {
    const refused = this.refusal(entry);
    if (refused) this.opts.onError?.(refused);
    else this.enqueue({ entry, at: this.clock.now() });
  }

  /** Writes everything queued so far. */
  flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.flushing = this.flushing.then(() => this.writeQueued());
    return this.flushing;
  }

  private async writeQueued(): Promise<void> {
    this.writing = true;
    try {
      await this.writeAll();
    } finally {
      this.writing = false;
      // Entries appended after the loop's last look at the queue.
      if (this.queue.length > 0 && !this.timer && !this.closed) this.schedule();
    }
  }

  /**
   * Writes the entries queued when it starts. Not until the queue is empty:
   * callers keep appending while a batch is written (their awaits interleave
   * with the write's), and chasing them would commit a batch of one or two
   * entries per look-up; what arrives meanwhile waits for the next batch.
   */
  private async writeAll(): Promise<void> {
    let left = this.queue.length;
    while (left > 0 && this.queue.length > 0) {
      const batch = this.queue.slice(0, Math.min(left, this.maxBatch));
      left -= batch.length;
      try {
        await this.writeBatch(batch);
      } catch (err) {
        // Keep the entries: they are retried on the next flush, never dropped.
        this.opts.onError?.(err);
        if (this.closed) for (const p of this.queue.splice(0)) p.reject?.(err);
        else if (!this.timer) {
          this.timer = setTimeout(() => void this.flush(), Math.max(this.flushIntervalMs, 1000));
          this.timer.unref();
        }
        return;
      }
      this.queue.splice(0, batch.length);
      this.written += batch.length;
      this.batches += 1;
      for (const p of batch) p.resolve?.();
    }
  }

  /**
   * One batch, committed before it resolves: by the writer thread on a SQLite
   * file or PostgreSQL (so neither the transaction nor the WAL checkpoint runs
   * on this thread), else in a transaction on the store itself.
   */
  private async writeBatch(batch: Pending[]): Promise<void> {
    const entries = batch.map(({ entry, at }): ChainInput => ({ at, actor: entry.actor, action: entry.action, purpose: entry.purpose, subject: entry.subject, detail: JSON.stringify(entry.detail ?? {}) }));
    // A process that writes one batch (a CLI command) never pays for a thread: it starts with the second.
    if (this.batches > 0) void this.startWriterThread();
    const written = this.writer?.write(entries);
    if (written) return written;
    // No thread running (none here, still starting, or gone): written on this thread; the next batch reads the same head.
    await this.store.transaction((tx) => writeChained(tx, this.store.dialect, entries));
  }

  /**
   * Starts the writer thread now (otherwise it starts with the second batch);
   * resolves true once it takes batches, false where there is none (memory,
   * `writerThread: false`) or it could not start.
   */
  startWriterThread(): Promise<boolean> {
    if (this.store.workerUrl === undefined || this.opts.writerThread === false || this.closed) return Promise.resolve(false);
    this.writer ??= writerThreadFor(this.store, this.store.workerUrl, this.opts.checkpointMs ?? 1000, this.opts.onError);
    return this.writer.ready;
  }

  /** Batches the writer thread committed (the rest were written on this thread): for tests and metrics. */
  get threadBatches(): number {
    return this.writer?.batches ?? 0;
  }

  /** Entries, newest first, for the console and `sakimori audit list`. */
  async list(opts: { limit?: number; beforeSeq?: number; purpose?: Purpose } = {}): Promise<AuditEntry[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (opts.beforeSeq !== undefined) {
      where.push('seq < ?');
      params.push(opts.beforeSeq);
    }
    if (opts.purpose) {
      where.push('purpose = ?');
      params.push(opts.purpose);
    }
    params.push(opts.limit ?? 100);
    const rows = await this.store.all<AuditRow>(
      `SELECT * FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`,
      params,
    );
    return rows.map(toEntry);
  }

  /** Flushes and stops accepting entries. */
  async close(): Promise<void> {
    await this.flush();
    this.closed = true;
    await this.writer?.close();
  }
}

/** An entry as it is chained and stored (detail already serialised). */
export interface ChainInput {
  at: number;
  actor: string;
  action: string;
  purpose: string;
  subject: string;
  detail: string;
}

/**
 * Extends the chain from the current head by `entries`, in order, inside the
 * caller's transaction: the one place hashes are computed, on whichever thread
 * writes the batch.
 */
export async function writeChained(tx: Queryable, dialect: Store['dialect'], entries: readonly ChainInput[]): Promise<void> {
  const lock = dialect === 'postgres' ? ' FOR UPDATE' : '';
  const head = await tx.get<{ seq: number; hash: string }>(`SELECT seq, hash FROM audit_head WHERE id = 1${lock}`);
  if (!head) throw new SakimoriError('AUDIT_NO_HEAD', 'audit_head row is missing: the audit log was tampered with or not migrated', { hint: 'run `sakimori audit verify`' });
  let seq = head.seq;
  let prev = head.hash;
  // Multi-row INSERTs: one statement (and on PostgreSQL one round trip) per
  // up to INSERT_ROWS entries instead of one per entry.
  for (let i = 0; i < entries.length; ) {
    const n = chunkRows(entries.length - i, dialect);
    const params = new Array<string | number>(n * 9);
    for (let k = 0; k < n; k++, i++) {
      const e = entries[i]!;
      seq += 1;
      const hash = chainHash(prev, seq, e.at, e.actor, e.action, e.purpose, e.subject, e.detail);
      const o = k * 9;
      params[o] = seq;
      params[o + 1] = e.at;
      params[o + 2] = e.actor;
      params[o + 3] = e.action;
      params[o + 4] = e.purpose;
      params[o + 5] = e.subject;
      params[o + 6] = e.detail;
      params[o + 7] = prev;
      params[o + 8] = hash;
      prev = hash;
    }
    await tx.run(insertText(n), params);
  }
  await tx.run('UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1', [seq, prev]);
}

// Compiled audit-writer.js when this process runs dist/, else the .ts through tsx.
const WRITER_BOOT = workerBoot(new URL('./audit-writer.ts', import.meta.url));

/** The main thread's handle on audit-writer.ts; while it runs, it does the store's WAL checkpoints (SQLite). */
function writerThreadFor(store: Store, url: string, checkpointMs: number, onError?: (err: unknown) => void): WriterThread<ChainInput[]> {
  const sqlite = store.dialect === 'sqlite';
  return new WriterThread<ChainInput[]>(WRITER_BOOT, { url, checkpointMs } satisfies WriterInit, {
    name: 'the audit writer thread',
    codes: { start: 'AUDIT_WRITER_FAILED', exit: 'AUDIT_WRITER_EXITED' },
    jobError: (message, code) => Object.assign(new SakimoriError('AUDIT_WRITE_FAILED', `audit batch not written: ${message}`), code ? { cause: code } : {}),
    ...(onError ? { onFail: onError } : {}),
    // The writer thread checkpoints; this process's own write connection no longer does.
    onReady: () => {
      if (sqlite) void store.run('PRAGMA wal_autocheckpoint = 0').catch(() => undefined);
    },
    // Nobody checkpoints for this connection any more: SQLite's default again.
    onClosed: async () => {
      if (sqlite) await store.run('PRAGMA wal_autocheckpoint = 1000').catch(() => undefined);
    },
  });
}

function toEntry(r: AuditRow): AuditEntry {
  return {
    seq: r.seq,
    at: r.at,
    actor: r.actor,
    action: r.action as AuditAction,
    purpose: r.purpose as Purpose,
    subject: r.subject,
    detail: JSON.parse(r.detail) as Record<string, unknown>,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

/**
 * Walks the whole chain in pages and names the first entry that does not fit:
 * a gap in the sequence (a removed row), a hash that does not match the row
 * (an altered row), or a head that does not match the last row (rows cut off
 * the end, or the head itself altered).
 */
export async function verifyAuditChain(store: Queryable, pageSize = 5000): Promise<VerifyResult> {
  let expectedSeq = 1;
  let prev = '';
  let entries = 0;
  for (;;) {
    const rows = await store.all<AuditRow>('SELECT * FROM audit_log WHERE seq >= ? ORDER BY seq LIMIT ?', [expectedSeq, pageSize]);
    if (rows.length === 0) break;
    for (const r of rows) {
      if (r.seq !== expectedSeq) {
        return { ok: false, entries, firstBadSeq: expectedSeq, reason: `entry ${expectedSeq} is missing (the next entry is ${r.seq}): a row was deleted` };
      }
      if (r.prev_hash !== prev) {
        return { ok: false, entries, firstBadSeq: r.seq, reason: `entry ${r.seq} does not link to entry ${r.seq - 1} (prev_hash differs): a row was altered or replaced` };
      }
      const h = chainHash(r.prev_hash, r.seq, r.at, r.actor, r.action, r.purpose, r.subject, r.detail);
      if (h !== r.hash) {
        return { ok: false, entries, firstBadSeq: r.seq, reason: `entry ${r.seq} was altered: its content no longer matches its hash` };
      }
      prev = r.hash;
      expectedSeq += 1;
      entries += 1;
    }
  }
  // A row with a seq lower than 1, or any row past a gap at the start, is also tampering.
  const before = await store.get<{ n: number }>('SELECT COUNT(*) AS n FROM audit_log WHERE seq < 1');
  if (before && Number(before.n) > 0) return { ok: false, entries, firstBadSeq: 0, reason: 'entries with seq < 1 exist: rows were inserted by hand' };
  const head = await store.get<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_head WHERE id = 1');
  if (!head) return { ok: false, entries, firstBadSeq: expectedSeq, reason: 'the audit_head row is missing' };
  if (head.seq !== expectedSeq - 1 || head.hash !== prev) {
    const more = await store.get<{ seq: number }>('SELECT MIN(seq) AS seq FROM audit_log WHERE seq > ?', [expectedSeq - 1]);
    if (more && more.seq !== null && more.seq !== undefined) {
      return { ok: false, entries, firstBadSeq: expectedSeq, reason: `entry ${expectedSeq} is missing (the next entry is ${more.seq}): a row was deleted` };
    }
    return {
      ok: false,
      entries,
      firstBadSeq: Math.min(head.seq, expectedSeq),
      reason: head.seq > expectedSeq - 1
        ? `the head says the log ends at entry ${head.seq}, but entries ${expectedSeq}..${head.seq} are missing: rows were deleted from the end`
        : `the head (entry ${head.seq}) does not match the last entry ${expectedSeq - 1}: the head or the last rows were altered`,
    };
  }
  return { ok: true, entries, headSeq: head.seq, headHash: head.hash };
}
