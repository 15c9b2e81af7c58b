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
  /** The URL with any password replaced by "***", for logs and --help output. */
  readonly displayUrl: string;
  /**
   * Runs fn in one transaction, committed when fn resolves and rolled back if it
   * throws. Transactions take the write lock at once (SQLite BEGIN IMMEDIATE),
   * so two processes sharing one store (a running node and a CLI command)
   * serialise instead of failing with "database is locked".
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /**
   * Runs one statement for many parameter rows in a single transaction: the
   * fast path for imports. Returns the number of rows changed.
   */
  runMany(sql: string, rows: readonly (readonly SqlValue[])[]): Promise<number>;
  /** Applies the migrations not yet applied, in the order given, each in its own transaction. */
  migrate(migrations: readonly Migration[]): Promise<MigrationReport>;
  /** A cheap round trip for /healthz. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
