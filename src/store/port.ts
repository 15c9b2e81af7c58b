/**
 * The Store port. Every capability keeps its state through this interface and
 * nothing else, so the embedded default (SQLite) and the scale-out adapter
 * (PostgreSQL) are interchangeable and pass one contract suite.
 *
 * SQL is written once, with `?` placeholders, in the common subset of SQLite
 * and PostgreSQL (INSERT ... ON CONFLICT, RETURNING, CTEs). Where a dialect
 * differs (column types, mostly), a migration gives both texts.
 *
 * Conventions every capability follows, so the SQL stays portable:
 * - times are INTEGER/BIGINT epoch milliseconds;
 * - JSON is TEXT holding JSON (parse it in the repository code);
 * - booleans are INTEGER 0/1;
 * - 64-bit integers come back as JavaScript numbers (safe up to 2^53).
 *
 * Column types both dialects read the same way: TEXT, BIGINT (every integer:
 * ids, counts, epoch ms, 0/1 flags) and DOUBLE PRECISION. Not INTEGER (int4 in
 * PostgreSQL) nor REAL (float4 in PostgreSQL). Blobs need one text per dialect:
 * BLOB / BYTEA; they come back as Buffer. So do auto-increment keys:
 * `INTEGER PRIMARY KEY` / `BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY`.
 */
export type SqlValue = string | number | bigint | boolean | null | Uint8Array;
export type Row = Record<string, unknown>;

export interface Queryable {
  /** All rows of a query. */
  all<T = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]>;
  /** The first row, or undefined. */
  get<T = Row>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined>;
  /** A statement without result rows (or whose rows are ignored). */
  run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }>;
}

export interface Migration {
  /** Unique and ordered within its capability: "privacy/0001-audit-log". Never renamed once shipped. */
  id: string;
  /** Portable SQL, or one text per dialect. May hold several statements. */
  sql: string | { sqlite: string; postgres: string };
}

export interface MigrationReport {
  applied: string[];
  alreadyApplied: number;
}

export type Dialect = 'sqlite' | 'postgres';

export interface Store extends Queryable {
  readonly dialect: Dialect;
  /**
   * All rows as arrays of column values, in the order the SELECT names them:
   * for hot reads, where building an object per row costs more than the
   * query itself (better-sqlite3: ~7 µs of a 24 µs look-up). Outside transactions.
   */
  values(sql: string, params?: readonly SqlValue[]): Promise<unknown[][]>;
  /** The URL with any password replaced by "***", for logs and --help output. */
  readonly displayUrl: string;
  /**
   * SQLite on a file: its path, so a worker thread can open its own connection to
   * the same database (the audit log's writer). Undefined in memory and on PostgreSQL.
   */
  readonly sqliteFile?: string;
  /**
   * The URL a worker thread opens its own store with, to the same database
   * (the audit log's writer): `sqlite:PATH` for a file, the PostgreSQL URL as
   * given — with its password, so never log it (displayUrl is for that).
   * Undefined in memory.
   */
  readonly workerUrl?: string;
  /**
   * Runs fn in one transaction, committed when fn resolves and rolled back if it
   * throws. Transactions take the write lock at once (SQLite BEGIN IMMEDIATE),
   * so two processes sharing one store (a running node and a CLI command)
   * serialise instead of failing with "database is locked".
   *
   * Transactions never interleave, in one process or across processes, on
   * either adapter (PostgreSQL takes one advisory lock per database), so
   * read-then-write inside fn is safe. Use `tx`, not the store, inside fn: a
   * nested `store.transaction()` waits for its own caller and fails with
   * STORE_BUSY after the busy timeout. Keep fn short (no network calls): every
   * other transaction waits for it. Single statements and runMany do not wait
   * for transactions on PostgreSQL; on SQLite, writes do.
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Runs one statement for many parameter rows in a single transaction: the
   * fast path for imports. Returns the number of rows changed. All or nothing:
   * a failing row rolls back every row. On PostgreSQL an
   * `INSERT ... VALUES (?, ...) [ON CONFLICT ...]` is sent as multi-row INSERTs.
   */
  runMany(sql: string, rows: readonly (readonly SqlValue[])[]): Promise<number>;
  /**
   * Applies the migrations not yet applied, in the order given, each in its own
   * transaction (so no statement that refuses to run in one, such as CREATE
   * INDEX CONCURRENTLY), recording ids in schema_migrations. Safe when two
   * processes start at once.
   */
  migrate(migrations: readonly Migration[]): Promise<MigrationReport>;
  /** A cheap round trip for /healthz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
