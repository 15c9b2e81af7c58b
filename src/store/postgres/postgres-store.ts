import { Pool, types as pgTypes, type PoolClient, type QueryConfig, type QueryResult, type CustomTypesConfig } from 'pg';
import { SakimoriError, errorMessage } from '../../core/index.ts';
import type { Migration, MigrationReport, Queryable, Row, SqlValue, Store } from '../port.ts';
import { applyMigrations, type ScriptQueryable } from '../migrate.ts';
import { DEFAULT_BUSY_TIMEOUT_MS, type OpenStoreOptions, type StoreLogger } from '../options.ts';
import { TransactionQueue } from '../transaction-queue.ts';
import type { StoreLocation } from '../url.ts';
import { insertShape, multiRowInsert, numberPlaceholders, type InsertShape } from './sql-text.ts';

type PostgresLocation = Extract<StoreLocation, { kind: 'postgres' }>;

const OID_INT8 = 20;
const OID_NUMERIC = 1700;

/**
 * The port returns 64-bit integers as JS numbers (counts, epoch ms, ids), the
 * same as better-sqlite3 does, so repository code never meets a string "42".
 * Set per pool, not on pg's global type table, which other code may share.
 */
const storeTypes: CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === OID_INT8 || oid === OID_NUMERIC) return (text: string) => Number(text);
    return pgTypes.getTypeParser(oid, format ?? 'text');
  }) as CustomTypesConfig['getTypeParser'],
};

/**
 * The key of the advisory lock every transaction takes (two int4s: "SAKI", 1).
 * One lock for the database gives PostgreSQL transactions the same meaning as
 * SQLite's BEGIN IMMEDIATE: they never interleave, so read-modify-write code
 * written against SQLite stays correct. Single statements and runMany do not
 * take it and run concurrently.
 */
const TX_LOCK = '1396788041, 1';

/**
 * Largest number of rows in one multi-row INSERT. PostgreSQL allows 65535
 * parameters per statement; beyond ~1000 rows the gain flattens while the
 * statement text (parsed once per connection) keeps growing. Measured with
 * bench/store-workload.ts: see docs/BENCHMARKS.md.
 */
const MAX_ROWS_PER_INSERT = 1000;
const MAX_PARAMS = 65535;
const SQL_CACHE_SIZE = 1000;

function toParam(v: SqlValue): unknown {
  if (typeof v === 'boolean') return v ? 1 : 0; // booleans are INTEGER 0/1 in both dialects
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array && !Buffer.isBuffer(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return v;
}

function toParams(params: readonly SqlValue[] | undefined, into?: unknown[]): unknown[] {
  const out = into ?? [];
  if (params) for (let i = 0; i < params.length; i++) out.push(toParam(params[i]!));
  return out;
}

interface PreparedText {
  text: string;
  /** A named statement is parsed and planned once per connection. */
  name: string;
}

type BatchPlan = { kind: 'multi-row'; shape: InsertShape; rowsPerInsert: number; full: PreparedText } | { kind: 'row-by-row' };

/** The PostgreSQL adapter. See openPostgresStore. */
export class PostgresStore implements Store {
  readonly dialect = 'postgres' as const;
  readonly displayUrl: string;
  readonly workerUrl: string;
  private readonly texts = new Map<string, PreparedText>();
  private readonly batchPlans = new Map<string, BatchPlan>();
  private nextName = 0;
  private readonly queue: TransactionQueue;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly where: PostgresLocation,
    private readonly pool: Pool,
    private readonly busyTimeoutMs: number,
  ) {
    this.displayUrl = where.displayUrl;
    this.workerUrl = where.connectionString;
    this.queue = new TransactionQueue(this.displayUrl, busyTimeoutMs);
  }

  /** `?` -> `$n`, converted once per distinct SQL text. */
  private prepared(sql: string): PreparedText {
    let p = this.texts.get(sql);
    if (p === undefined) {
      p = { text: numberPlaceholders(sql).text, name: `sakimori_${++this.nextName}` };
      if (this.texts.size >= SQL_CACHE_SIZE) this.texts.delete(this.texts.keys().next().value!);
      this.texts.set(sql, p);
    }
    return p;
  }

  query(sql: string, params: readonly SqlValue[] | undefined, rowMode?: 'array'): QueryConfig {
    const p = this.prepared(sql);
    return { name: p.name, text: p.text, values: toParams(params), ...(rowMode ? { rowMode } : {}) };
  }

  /**
   * Sends one statement. A named statement's result type is fixed when it is
   * prepared: after a migration (perhaps by another node) changes what
   * `SELECT *` returns, PostgreSQL refuses it with "cached plan must not change
   * result type". Then the text is prepared afresh under a new name, and
   * outside a transaction (where the failure changed nothing) sent again.
   */
  async send(target: Pool | PoolClient, sql: string, params: readonly SqlValue[] | undefined, retry: boolean, rowMode?: 'array'): Promise<QueryResult> {
    try {
      return await target.query(this.query(sql, params, rowMode));
    } catch (err) {
      if (isConnectionFailure(err)) throw explainConnectFailure(err, this.where);
      if ((err as { code?: unknown }).code !== '0A000' || !/cached plan/.test(errorMessage(err))) throw err;
      this.texts.delete(sql);
      if (!retry) throw err;
      return await target.query(this.query(sql, params, rowMode));
    }
  }

  async all<T = Row>(sql: string, params?: readonly SqlValue[]): Promise<T[]> {
    this.assertOpen();
    return (await this.send(this.pool, sql, params, true)).rows as T[];
  }

  async values(sql: string, params?: readonly SqlValue[]): Promise<unknown[][]> {
    this.assertOpen();
    return (await this.send(this.pool, sql, params, true, 'array')).rows as unknown[][];
  }

  async get<T = Row>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined> {
    this.assertOpen();
    return (await this.send(this.pool, sql, params, true)).rows[0] as T | undefined;
  }

  async run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    this.assertOpen();
    return { changes: (await this.send(this.pool, sql, params, true)).rowCount ?? 0 };
  }

  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.inTransaction(fn);
  }

  private async inTransaction<T>(fn: (tx: ScriptQueryable) => Promise<T>): Promise<T> {
    this.assertOpen();
    // Wait for our turn here, holding no pooled connection, so that statements
    // outside transactions always find a free one.
    await this.queue.acquire();
    let client: PoolClient | undefined;
    let broken: unknown;
    try {
      client = await this.connect();
      try {
        await client.query(
          `BEGIN; SET LOCAL lock_timeout = ${Math.max(1, Math.round(this.busyTimeoutMs))}; SELECT pg_advisory_xact_lock(${TX_LOCK}); SET LOCAL lock_timeout TO DEFAULT`,
        );
      } catch (err) {
        await rollback(client).catch((e: unknown) => (broken = e));
        if ((err as { code?: unknown }).code === '55P03') {
          throw new SakimoriError('STORE_BUSY', `${this.displayUrl}: waited ${this.busyTimeoutMs} ms for another process's transaction to finish`, {
            hint: 'another Sakimori process holds a long transaction on this database; retry when it is done',
            cause: err,
          });
        }
        throw err;
      }
      const tx = new PostgresTransaction(this, client);
      let result: T;
      try {
        result = await fn(tx);
      } catch (err) {
        tx.finish();
        await rollback(client).catch((e: unknown) => (broken = e));
        throw err;
      }
      tx.finish();
      try {
        await client.query('COMMIT'); // a COMMIT that fails has rolled back
      } catch (err) {
        broken = err; // or the connection is gone: do not hand this client out again
        throw err;
      }
      return result;
    } finally {
      // A client whose ROLLBACK failed may still be inside a transaction: destroy it.
      client?.release(broken instanceof Error ? broken : undefined);
      this.queue.release();
    }
  }

  /**
   * INSERT ... VALUES (?, ...) goes as multi-row INSERTs of up to
   * MAX_ROWS_PER_INSERT rows (one round trip each); anything else as one
   * prepared statement per row. Either way in one transaction.
   */
  async runMany(sql: string, rows: readonly (readonly SqlValue[])[]): Promise<number> {
    this.assertOpen();
    if (rows.length === 0) return 0;
    const plan = this.batchPlan(sql);
    const client = await this.connect();
    let broken: unknown;
    try {
      await client.query('BEGIN');
      let changes = 0;
      try {
        if (plan.kind === 'multi-row') {
          for (let at = 0; at < rows.length; at += plan.rowsPerInsert) {
            const batch = rows.slice(at, at + plan.rowsPerInsert);
            changes += await this.insertBatch(client, sql, plan, batch);
          }
        } else {
          for (const row of rows) changes += (await this.send(client, sql, row, false)).rowCount ?? 0;
        }
      } catch (err) {
        await rollback(client).catch((e: unknown) => (broken = e));
        throw err;
      }
      await client.query('COMMIT');
      return changes;
    } finally {
      client.release(broken instanceof Error ? broken : undefined);
    }
  }

  private async connect(): Promise<PoolClient> {
    try {
      return await this.pool.connect();
    } catch (err) {
      throw isConnectionFailure(err) ? explainConnectFailure(err, this.where) : err;
    }
  }

  private batchPlan(sql: string): BatchPlan {
    let plan = this.batchPlans.get(sql);
    if (plan === undefined) {
      const shape = insertShape(sql);
      if (shape) {
        const rowsPerInsert = Math.max(1, Math.min(MAX_ROWS_PER_INSERT, Math.floor(MAX_PARAMS / shape.paramsPerRow)));
        plan = { kind: 'multi-row', shape, rowsPerInsert, full: { text: multiRowInsert(shape, rowsPerInsert), name: `sakimori_${++this.nextName}` } };
      } else {
        plan = { kind: 'row-by-row' };
      }
      if (this.batchPlans.size >= SQL_CACHE_SIZE) this.batchPlans.delete(this.batchPlans.keys().next().value!);
      this.batchPlans.set(sql, plan);
    }
    return plan;
  }

  private async insertBatch(
    client: PoolClient,
    sql: string,
    plan: Extract<BatchPlan, { kind: 'multi-row' }>,
    batch: readonly (readonly SqlValue[])[],
  ): Promise<number> {
    const values: unknown[] = [];
    for (const row of batch) {
      if (row.length !== plan.shape.paramsPerRow) {
        throw new SakimoriError('STORE_BAD_PARAMS', `runMany: a row has ${row.length} values, the statement takes ${plan.shape.paramsPerRow}`, {
          hint: `statement: ${sql.slice(0, 200)}`,
        });
      }
      toParams(row, values);
    }
    // The full-size text is a named statement; the one shorter tail batch is sent unnamed.
    const q: QueryConfig =
      batch.length === plan.rowsPerInsert
        ? { name: plan.full.name, text: plan.full.text, values }
        : { text: multiRowInsert(plan.shape, batch.length), values };
    if (!plan.shape.upsert) return (await client.query(q)).rowCount ?? 0;
    // ON CONFLICT DO UPDATE refuses to touch one row twice in a statement
    // (21000); one row per statement it is allowed, and the last row wins.
    await client.query('SAVEPOINT sakimori_batch');
    try {
      const n = (await client.query(q)).rowCount ?? 0;
      await client.query('RELEASE SAVEPOINT sakimori_batch');
      return n;
    } catch (err) {
      if ((err as { code?: unknown }).code !== '21000') throw err;
      await client.query('ROLLBACK TO SAVEPOINT sakimori_batch');
      let n = 0;
      for (const row of batch) n += (await this.send(client, sql, row, false)).rowCount ?? 0;
      return n;
    }
  }

  migrate(migrations: readonly Migration[]): Promise<MigrationReport> {
    return applyMigrations('postgres', (fn) => this.inTransaction(fn), migrations);
  }

  async ping(): Promise<void> {
    this.assertOpen();
    await this.pool.query('SELECT 1');
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.queue.acquire().catch(() => undefined);
      await this.pool.end();
    })();
    return this.closing;
  }

  private assertOpen(): void {
    if (this.closing) {
      throw new SakimoriError('STORE_CLOSED', `${this.displayUrl}: the store was closed`, {
        hint: 'a part of Sakimori used the store after shutdown began; this is a bug in the caller',
      });
    }
  }

  /** For error messages. */
  get endpoint(): string {
    return this.where.endpoint;
  }
}

async function rollback(client: PoolClient): Promise<void> {
  await client.query('ROLLBACK');
}

class PostgresTransaction implements ScriptQueryable {
  private finished = false;
  constructor(
    private readonly store: PostgresStore,
    private readonly client: PoolClient,
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
    return (await this.store.send(this.client, sql, params, false)).rows as T[];
  }

  async get<T = Row>(sql: string, params?: readonly SqlValue[]): Promise<T | undefined> {
    this.check();
    return (await this.store.send(this.client, sql, params, false)).rows[0] as T | undefined;
  }

  async run(sql: string, params?: readonly SqlValue[]): Promise<{ changes: number }> {
    this.check();
    return { changes: (await this.store.send(this.client, sql, params, false)).rowCount ?? 0 };
  }

  /** A parameterless query goes over the simple protocol, which allows several statements. */
  async exec(script: string): Promise<void> {
    this.check();
    await this.client.query(script);
  }
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ENOENT', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', '57P03']);

/** The server could not be reached at all (as opposed to an error in SQL). */
function isConnectionFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (typeof code === 'string' && NETWORK_CODES.has(code)) || /timeout exceeded when trying to connect/i.test(errorMessage(err));
}

/** Turns a failed connection into what an operator needs: which server, and what to check. */
export function explainConnectFailure(err: unknown, where: PostgresLocation): SakimoriError {
  const code = (err as { code?: unknown } | null)?.code;
  const at = `PostgreSQL at ${where.endpoint} (${where.displayUrl})`;
  const detail = errorMessage(err);
  const make = (message: string, hint: string) => new SakimoriError('STORE_UNREACHABLE', message, { hint, cause: err });
  switch (code) {
    case 'ECONNREFUSED':
      return make(`${at} refused the connection`, `check that PostgreSQL is running and listening on ${where.endpoint} (listen_addresses and port in postgresql.conf), and that no firewall is in the way`);
    case 'ENOENT':
      return make(`${at}: no such socket`, 'check that PostgreSQL is running and that ?host= names its unix_socket_directories');
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return make(`${at}: the host name does not resolve`, 'check the host name in store.url and this machine\'s DNS');
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return make(`${at} did not answer (${detail})`, 'check the address, the route and any firewall between this machine and the database');
    case '28P01':
      return make(`${at} rejected the password for user "${where.user}"`, 'check the user and password in store.url');
    case '28000':
      return make(`${at} refused user "${where.user}": ${detail}`, 'check that the role exists and that pg_hba.conf allows it from this host');
    case '3D000':
      return make(`${at}: database "${where.database}" does not exist`, `create it: createdb -O ${where.user} ${where.database}`);
    case '57P03':
      return make(`${at} is starting up or shutting down`, 'wait a moment and start again');
    default:
      if (detail.includes('timeout')) {
        return make(`${at} did not answer within 10 s (${detail})`, 'check the address, the route and any firewall between this machine and the database');
      }
      return make(`${at}: cannot connect: ${detail}`, 'check store.url, that PostgreSQL is running, and its log');
  }
}

/**
 * Opens a pool on the database and checks it with one round trip. int8 and
 * numeric come back as JS numbers, bytea as Buffer.
 */
export async function openPostgresStore(where: PostgresLocation, opts: OpenStoreOptions = {}): Promise<PostgresStore> {
  const logger: StoreLogger | undefined = opts.logger;
  const pool = new Pool({
    connectionString: where.connectionString,
    max: opts.poolSize ?? 10,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    application_name: 'sakimori',
    types: storeTypes,
  });
  // An idle client losing its server (restart, failover) must not crash the process; the next query reconnects.
  pool.on('error', (err) => logger?.warn({ store: where.displayUrl, err: errorMessage(err) }, 'idle PostgreSQL connection failed'));
  try {
    await pool.query('SELECT 1');
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw explainConnectFailure(err, where);
  }
  logger?.info({ store: where.displayUrl }, 'store opened');
  return new PostgresStore(where, pool, opts.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS);
}
