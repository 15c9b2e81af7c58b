import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { SakimoriError, errorMessage } from '../../core/index.ts';
import type { Migration, MigrationReport, Queryable, Row, SqlValue, Store } from '../port.ts';
import { applyMigrations, type ScriptQueryable } from '../migrate.ts';
import { DEFAULT_BUSY_TIMEOUT_MS, type OpenStoreOptions } from '../options.ts';
import { TransactionQueue } from '../transaction-queue.ts';

type Connection = Database.Database;
type Statement = Database.Statement<unknown[], unknown>;

/**
 * SQLite waits this long for a lock synchronously (blocking the event loop);
 * longer waits happen asynchronously in `retryWhileBusy`, so a node sharing
 * its file with a CLI import keeps answering while the import holds the lock.
 */
const SYNC_BUSY_MS = 5;
const STATEMENT_CACHE_SIZE = 500;
/** Page cache per connection, in KiB, unless OpenStoreOptions.pageCacheKiB says otherwise (SQLite's default is 2 MiB): keeps the hot index pages of a few million rows in memory. */
const PAGE_CACHE_KIB = 65_536;
/**
 * The read connection maps up to this much of the file (SQLite caps it at its
 * compile-time maximum, 2 GiB here): a page outside the page cache is then read
 * from the OS page cache in place instead of by a read() into a copy. An
 * attribution look-up on a 10^6-session file: 29 -> 21 µs of CPU. Pages are
 * mapped as they are touched, so memory grows only with what is read.
 */
const READ_MMAP_BYTES = 2 ** 31;
/** runMany gives the event loop a turn this often while it holds the write lock. */
const ROWS_PER_TURN = 16_384;

const EMPTY: readonly unknown[] = [];

/**
 * better-sqlite3 binds every JS number as REAL, so 3 stored in a TEXT column
 * would read back as "3.0"; safe integers go in as INTEGER instead. Booleans
 * become 0/1 (the port's convention), Uint8Array a Buffer view (no copy).
 */
function bindValue(v: SqlValue): unknown {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? BigInt(v) : v;
  if (typeof v === 'boolean') return v ? 1n : 0n;
  if (v instanceof Uint8Array && !Buffer.isBuffer(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return v;
}

function bind(params: readonly SqlValue[] | undefined): readonly unknown[] {
  if (params === undefined || params.length === 0) return EMPTY;
  const out = new Array<unknown>(params.length);
  for (let i = 0; i < params.length; i++) out[i] = bindValue(params[i]!);
  return out;
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

/** True for a plain query (SELECT/WITH/VALUES), which may run on the read connection. */
function isPlainQuery(sql: string): boolean {
  const text = sql.replace(/^(?:\s+|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*/, '');
  return /^(?:select|with|values)\b/i.test(text);
}

/**
 * Another process holds the lock: wait without blocking the event loop, up to
 * busyTimeoutMs. Only for operations that do nothing when they hit SQLITE_BUSY
 * (BEGIN IMMEDIATE, a statement in autocommit mode), so retrying is safe.
 */
async function retryWhileBusy<T>(op: () => T, busyTimeoutMs: number, displayUrl: string): Promise<T> {
  const deadline = Date.now() + busyTimeoutMs;
  let delay = 1;
  for (;;) {
    try {
      return op();
    } catch (err) {
      if (!isBusy(err)) throw err;
      if (Date.now() >= deadline) {
        throw new SakimoriError('STORE_BUSY', `${displayUrl}: the database stayed locked by another process for ${busyTimeoutMs} ms`, {
          hint: 'another Sakimori process (a running node or a CLI command such as an import) holds a long write transaction on this file; retry when it is done',
          cause: err,
        });
      }
      await sleep(delay + Math.random() * delay);
      delay = Math.min(delay * 2, 50);
    }
  }
}

class StatementCache {
  private readonly map = new Map<string, Statement>();
  constructor(private readonly db: Connection) {}
  get(sql: string): Statement {
    let stmt = this.map.get(sql);
    if (stmt === undefined) {
      stmt = this.db.prepare(sql);
      // Oldest-first eviction keeps the hit path to one Map lookup.
      if (this.map.size >= STATEMENT_CACHE_SIZE) this.map.delete(this.map.keys().next().value!);
      this.map.set(sql, stmt);
    }
    return stmt;
  }
}

/** The SQLite adapter. See openSqliteStore. */
export class SqliteStore implements Store {
  readonly dialect = 'sqlite' as const;
  private readonly writerStatements: StatementCache;
  private readonly readerStatements: StatementCache | undefined;
  /** sql -> true if plain reads of it may go to the read connection. */
  private readonly readRoute = new Map<string, boolean>();
  private readonly queue: TransactionQueue;
  private closing: Promise<void> | undefined;

  constructor(
    readonly displayUrl: string,
    private readonly writer: Connection,
    private readonly reader: Connection | undefined,
    private readonly busyTimeoutMs: number,
    readonly sqliteFile?: string,
  ) {
    this.writerStatements = new StatementCache(writer);
    this.readerStatements = reader ? new StatementCache(reader) : undefined;
    this.queue = new TransactionQueue(displayUrl, busyTimeoutMs);
    this.workerUrl = sqliteFile === undefined ? undefined : `sqlite:${sqliteFile}`;
  }

  readonly workerUrl: string | undefined;

  // --- Queryable, outside any transaction -------------------------------------------------

  async all<T = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    this.assertOpen();
    const stmt = this.readStatement(sql);
    if (stmt) return this.onReader(() => stmt.all(bind(params)) as T[]);
    return this.onWriter(() => allOn(this.writerStatements.get(sql), params) as T[]);
  }

  async values(sql: string, params?: readonly SqlValue[]): Promise<unknown[][]> {
    this.assertOpen();
    const stmt = this.readStatement(sql);
    if (stmt) return this.onReader(() => valuesOn(stmt, params));
    return this.onWriter(() => valuesOn(this.writerStatements.get(sql), params));
  }

  async get<T = Row>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined> {
    this.assertOpen();
    const stmt = this.readStatement(sql);
    if (stmt) return this.onReader(() => stmt.get(bind(params)) as T | undefined);
    return this.onWriter(() => getOn(this.writerStatements.get(sql), params) as T | undefined);
  }

  async run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    this.assertOpen();
    return this.onWriter(() => ({ changes: this.writerStatements.get(sql).run(bind(params)).changes }));
  }

  // --- transactions ------------------------------------------------------------------------

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.inTransaction(fn);
  }

  private async inTransaction<T>(fn: (tx: ScriptQueryable) => Promise<T>): Promise<T> {
    this.assertOpen();
    await this.queue.acquire();
    try {
      await this.retry(() => this.writer.exec('BEGIN IMMEDIATE'));
      const tx = new SqliteTransaction(this.writer, this.writerStatements);
      let result: T;
      try {
        result = await fn(tx);
      } catch (err) {
        tx.finish();
        if (this.writer.inTransaction) this.writer.exec('ROLLBACK');
        throw err;
      }
      tx.finish();
      try {
        this.writer.exec('COMMIT');
      } catch (err) {
        if (this.writer.inTransaction) this.writer.exec('ROLLBACK');
        throw err;
      }
      return result;
    } finally {
      this.queue.release();
    }
  }

  async runMany(sql: string, rows: readonly (readonly SqlValue[])[]): Promise<number> {
    this.assertOpen();
    if (rows.length === 0) return 0;
    await this.queue.acquire();
    try {
      const stmt = this.writerStatements.get(sql);
      await this.retry(() => this.writer.exec('BEGIN IMMEDIATE'));
      let changes = 0;
      try {
        for (let i = 0; i < rows.length; i++) {
          changes += stmt.run(bind(rows[i])).changes;
          if (i % ROWS_PER_TURN === ROWS_PER_TURN - 1) await new Promise<void>((r) => setImmediate(r));
        }
        this.writer.exec('COMMIT');
      } catch (err) {
        if (this.writer.inTransaction) this.writer.exec('ROLLBACK');
        throw err;
      }
      return changes;
    } finally {
      this.queue.release();
    }
  }

  migrate(migrations: readonly Migration[]): Promise<MigrationReport> {
    return applyMigrations('sqlite', (fn) => this.inTransaction(fn), migrations);
  }

  async ping(): Promise<void> {
    await this.get('SELECT 1 AS ok');
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      // Let the transactions already queued finish; new calls fail in assertOpen.
      await this.queue.acquire().catch(() => undefined);
      this.reader?.close();
      this.writer.close();
    })();
    return this.closing;
  }

  // --- connection routing --------------------------------------------------------------------

  private assertOpen(): void {
    if (this.closing) {
      throw new SakimoriError('STORE_CLOSED', `${this.displayUrl}: the store was closed`, {
        hint: 'a part of Sakimori used the store after shutdown began; this is a bug in the caller',
      });
    }
  }

  /**
   * Plain queries outside a transaction go to the read connection: in WAL mode
   * it reads the last committed state without waiting for the write turn, so
   * lookups keep flowing during an import, and `store.get()` inside somebody's
   * transaction cannot deadlock.
   */
  private readStatement(sql: string): Statement | undefined {
    if (!this.readerStatements) return undefined;
    const route = this.readRoute.get(sql);
    if (route === false) return undefined;
    if (route === undefined) {
      if (!isPlainQuery(sql)) {
        if (this.readRoute.size >= STATEMENT_CACHE_SIZE * 4) this.readRoute.clear();
        this.readRoute.set(sql, false);
        return undefined;
      }
      const stmt = this.readerStatements.get(sql);
      if (this.readRoute.size >= STATEMENT_CACHE_SIZE * 4) this.readRoute.clear(); // routes are cheap to relearn
      this.readRoute.set(sql, stmt.readonly && stmt.reader);
      if (!stmt.readonly || !stmt.reader) return undefined;
      return stmt;
    }
    return this.readerStatements.get(sql);
  }

  private retry<T>(op: () => T): Promise<T> {
    return retryWhileBusy(op, this.busyTimeoutMs, this.displayUrl);
  }

  private onReader<T>(op: () => T): Promise<T> | T {
    try {
      return op();
    } catch (err) {
      if (!isBusy(err)) throw err;
      return this.retry(op);
    }
  }

  /** Runs a statement on the shared write connection, never inside somebody else's open transaction. */
  private async onWriter<T>(op: () => T): Promise<T> {
    if (this.queue.tryAcquire()) {
      let result: T;
      try {
        result = op(); // synchronous: nothing else can run on the connection meanwhile
      } catch (err) {
        if (!isBusy(err)) {
          this.queue.release();
          throw err;
        }
        try {
          return await this.retry(op);
        } finally {
          this.queue.release();
        }
      }
      this.queue.release();
      return result;
    }
    await this.queue.acquire();
    try {
      return await this.retry(op);
    } finally {
      this.queue.release();
    }
  }
}

function allOn(stmt: Statement, params: readonly SqlValue[] | undefined): unknown[] {
  if (stmt.reader) return stmt.all(bind(params));
  stmt.run(bind(params));
  return [];
}

/** Rows as arrays: the cached statement is shared with all(), so raw mode is on for this call only (all synchronous). */
function valuesOn(stmt: Statement, params: readonly SqlValue[] | undefined): unknown[][] {
  if (!stmt.reader) {
    stmt.run(bind(params));
    return [];
  }
  stmt.raw(true);
  try {
    return stmt.all(bind(params)) as unknown[][];
  } finally {
    stmt.raw(false);
  }
}

function getOn(stmt: Statement, params: readonly SqlValue[] | undefined): unknown {
  if (stmt.reader) return stmt.get(bind(params));
  stmt.run(bind(params));
  return undefined;
}

/** The `tx` a transaction callback receives: statements run directly on the write connection, which holds the lock. */
class SqliteTransaction implements ScriptQueryable {
  private finished = false;
  constructor(
    private readonly db: Connection,
    private readonly statements: StatementCache,
  ) {}

  finish(): void {
    this.finished = true;
  }

  private check(): void {
    if (this.finished) {
      throw new SakimoriError('STORE_TX_FINISHED', 'a transaction object was used after its transaction ended', {
        hint: 'await every statement inside the transaction callback; do not keep the tx for later',
      });
    }
  }

  async all<T = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    this.check();
    return allOn(this.statements.get(sql), params) as T[];
  }

  async get<T = Row>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined> {
    this.check();
    return getOn(this.statements.get(sql), params) as T | undefined;
  }

  async run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    this.check();
    return { changes: this.statements.get(sql).run(bind(params)).changes };
  }

  async exec(script: string): Promise<void> {
    this.check();
    this.db.exec(script);
  }
}

function openConnection(path: string, displayUrl: string, readonly: boolean): Connection {
  try {
    return new Database(path, { timeout: SYNC_BUSY_MS, fileMustExist: readonly });
  } catch (err) {
    throw new SakimoriError('STORE_OPEN_FAILED', `${displayUrl}: cannot open the SQLite file: ${errorMessage(err)}`, {
      hint: `check that the directory ${dirname(path)} exists and that the user running Sakimori may read and write it`,
      cause: err,
    });
  }
}

/**
 * Opens (creating if needed) a SQLite store: WAL journal so readers never wait
 * for the writer, synchronous=NORMAL (durable at checkpoints, never corrupt),
 * foreign keys on. A file store has two connections: one for writes and
 * transactions, one for plain reads. `:memory:` has one (a second connection
 * would see a different database).
 */
export async function openSqliteStore(path: string, displayUrl: string, opts: OpenStoreOptions = {}): Promise<SqliteStore> {
  const busyTimeoutMs = opts.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  const cacheKiB = opts.pageCacheKiB ?? PAGE_CACHE_KIB;
  if (!Number.isInteger(cacheKiB) || cacheKiB < 64) throw new RangeError(`pageCacheKiB ${cacheKiB}: a whole number of KiB, at least 64`);
  const memory = path === ':memory:';
  if (!memory) {
    try {
      mkdirSync(dirname(path), { recursive: true });
    } catch (err) {
      throw new SakimoriError('STORE_OPEN_FAILED', `${displayUrl}: cannot create the directory ${dirname(path)}: ${errorMessage(err)}`, {
        hint: 'create it, or point store.url at a writable location',
        cause: err,
      });
    }
  }
  const writer = openConnection(path, displayUrl, false);
  let reader: Connection | undefined;
  try {
    // Switching to WAL needs a moment of exclusive access, so it waits like any write.
    await retryWhileBusy(() => {
      const mode = writer.pragma('journal_mode = WAL', { simple: true });
      if (!memory && String(mode).toLowerCase() !== 'wal') {
        throw new SakimoriError('STORE_OPEN_FAILED', `${displayUrl}: SQLite refused WAL mode (journal_mode is ${String(mode)})`, {
          hint: 'WAL needs a local file system with shared memory (not NFS); move the database to a local disk',
        });
      }
    }, busyTimeoutMs, displayUrl);
    writer.pragma('synchronous = NORMAL');
    writer.pragma('foreign_keys = ON');
    writer.pragma(`cache_size = -${cacheKiB}`);
    if (memory) return new SqliteStore(displayUrl, writer, undefined, busyTimeoutMs);
    reader = openConnection(path, displayUrl, true);
    reader.pragma('query_only = ON');
    reader.pragma('foreign_keys = ON');
    reader.pragma(`cache_size = -${cacheKiB}`);
    reader.pragma(`mmap_size = ${READ_MMAP_BYTES}`);
    opts.logger?.info({ store: displayUrl }, 'store opened');
    return new SqliteStore(displayUrl, writer, reader, busyTimeoutMs, path);
  } catch (err) {
    reader?.close();
    writer.close();
    if (err instanceof SakimoriError) throw err;
    throw new SakimoriError('STORE_OPEN_FAILED', `${displayUrl}: cannot open the SQLite database: ${errorMessage(err)}`, {
      hint: 'if the file is not a SQLite database, point store.url elsewhere; if it is, check permissions on the file and its -wal/-shm files',
      cause: err,
    });
  }
}
