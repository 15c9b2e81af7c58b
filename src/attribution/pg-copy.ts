/**
 * The PostgreSQL bulk path for imports: COPY FROM STDIN into a temporary
 * staging table, then one INSERT ... SELECT ... ON CONFLICT into the index,
 * in one transaction. COPY sends rows as one tab-separated text stream
 * instead of 11 bound parameters each, which takes the parameter handling
 * off the client and the parser off the server (measured in
 * docs/BENCHMARKS.md against the Store's multi-row INSERT).
 *
 * COPY needs a connection of its own (the Store port does not lend one), so
 * this opens one client on the store's URL for the length of an import.
 * The COPY sub-protocol is driven through pg's Submittable interface (what
 * pg-cursor and pg-query-stream use): an object whose submit() sends the
 * query and whose handle*() methods receive the backend's messages.
 */
import pg from 'pg';
import { SakimoriError, errorMessage } from '../core/index.ts';
import type { Queryable, Row, SqlValue } from '../store/index.ts';

/** Where the bulk rows go; SessionIndex uses it instead of Store.runMany when given. */
export interface BulkWriter {
  /**
   * Rows in recordParams() order, flat (ROW_WIDTH values a row); no two with
   * the same lookup key unless a bulk load (beginLoad) is still without its unique index.
   */
  write(flat: readonly SqlValue[]): Promise<void>;
  /**
   * Opens one transaction on the writer's connection that lasts until
   * endLoad(): writes join it instead of committing each, and the returned
   * Queryable runs statements in it (SessionIndex's bulk load).
   */
  beginLoad(): Promise<Queryable>;
  /** Commits (or rolls back) what beginLoad() opened. */
  endLoad(commit: boolean): Promise<void>;
  close(): Promise<void>;
}

interface CopyConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
}

/** One COPY ... FROM STDIN with its data already in hand. */
class CopyIn {
  private settled = false;
  readonly done: Promise<void>;
  private resolve!: () => void;
  private reject!: (err: unknown) => void;

  constructor(
    readonly text: string,
    private readonly data: Buffer,
  ) {
    this.done = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  submit(connection: CopyConnection): void {
    connection.query(this.text);
  }

  handleCopyInResponse(connection: CopyConnection): void {
    // CopyData messages of up to 1 MiB; the socket buffers them.
    for (let at = 0; at < this.data.length; at += 1 << 20) connection.sendCopyFromChunk(this.data.subarray(at, at + (1 << 20)));
    connection.endCopyFrom();
  }

  /** pg detaches the query on an error and never calls handleReadyForQuery for it: settle now. */
  handleError(err: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.reject(err);
  }

  handleReadyForQuery(): void {
    if (this.settled) return;
    this.settled = true;
    this.resolve();
  }

  handleCommandComplete(): void {}
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  /** pg replaces this when query_timeout is set. */
  callback(): void {}
}

async function copyIn(c: pg.Client, text: string, data: Buffer): Promise<void> {
  const copy = new CopyIn(text, data);
  await Promise.all([c.query(copy as unknown as pg.QueryConfig), copy.done]);
}

/** COPY text format: tab-separated, \N for NULL, backslash escapes. */
function copyField(v: SqlValue): string {
  if (v === null) return '\\N';
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (typeof v === 'boolean') return v ? '1' : '0';
  if (v instanceof Uint8Array) throw new TypeError('binary values are not written by the attribution bulk path');
  return /[\\\t\n\r]/.test(v) ? v.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r')) : v;
}

/** Flat rows (WIDTH values each) as COPY text, one string: no per-row arrays, a load formats ~10^7 rows. */
function copyText(flat: readonly SqlValue[]): string {
  let out = '';
  for (let i = 0; i < flat.length; i += WIDTH) {
    let line = copyField(flat[i]!);
    for (let j = i + 1; j < i + WIDTH; j++) line += '\t' + copyField(flat[j]!);
    out += line + '\n';
  }
  return out;
}

/** `?` placeholders as PostgreSQL numbers them (the attribution statements hold no `?` in literals). */
function dollarPlaceholders(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

const COLUMNS = 'addr_key, port_start, port_end, start_at, end_at, last_seen, sid_hash, subscriber, nas, session_id, flags';
/** Values a row (session-index.ts ROW_WIDTH; not imported: SessionIndex imports this file's types). */
const WIDTH = 11;

export class PostgresCopyWriter implements BulkWriter {
  private client: pg.Client | undefined;
  /**
   * Rows go straight into the index with COPY while that works; the first
   * batch that meets a row already there (a re-import, or sessions the live
   * RADIUS path recorded) is redone through the staging table, and so is
   * every later batch of this import.
   */
  private direct = true;
  /** Between beginLoad() and endLoad(). */
  private loading = false;

  /** `upsertSet`: the ON CONFLICT ... DO UPDATE SET clause the index uses, so both paths merge alike. */
  constructor(
    private readonly url: string,
    private readonly upsertTail: string,
  ) {}

  private async connect(): Promise<pg.Client> {
    if (this.client) return this.client;
    const c = new pg.Client({ connectionString: this.url, application_name: 'sakimori-import' });
    try {
      await c.connect();
    } catch (err) {
      throw new SakimoriError('STORE_UNREACHABLE', `cannot open a bulk-import connection to the store: ${errorMessage(err)}`, { hint: 'check store.url', cause: err });
    }
    await c.query(`CREATE TEMP TABLE IF NOT EXISTS attribution_import (
      addr_key TEXT COLLATE "C", port_start BIGINT, port_end BIGINT, start_at BIGINT, end_at BIGINT, last_seen BIGINT,
      sid_hash BIGINT, subscriber TEXT, nas TEXT, session_id TEXT, flags BIGINT) ON COMMIT DELETE ROWS`);
    this.client = c;
    return c;
  }

  async write(flat: readonly SqlValue[]): Promise<void> {
    if (flat.length === 0) return;
    const c = await this.connect();
    const data = Buffer.from(copyText(flat), 'utf8');
    // Inside a load the batch joins its transaction; otherwise it is one.
    if (!this.loading) await c.query('BEGIN');
    try {
      await this.writeIn(c, data);
      if (!this.loading) await c.query('COMMIT');
    } catch (err) {
      if (!this.loading) await c.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  private async writeIn(c: pg.Client, data: Buffer): Promise<void> {
    if (this.direct) {
      await c.query('SAVEPOINT attribution_direct');
      try {
        await copyIn(c, `COPY attribution_sessions (${COLUMNS}) FROM STDIN`, data);
        await c.query('RELEASE SAVEPOINT attribution_direct');
        return;
      } catch (err) {
        if ((err as { code?: unknown }).code !== '23505') throw err;
        await c.query('ROLLBACK TO SAVEPOINT attribution_direct');
        this.direct = false;
      }
    }
    await copyIn(c, `COPY attribution_import (${COLUMNS}) FROM STDIN`, data);
    await c.query(`INSERT INTO attribution_sessions (${COLUMNS}) SELECT ${COLUMNS} FROM attribution_import ${this.upsertTail}`);
    // ON COMMIT DELETE ROWS empties it at the end of a transaction; a load is one long one.
    if (this.loading) await c.query('TRUNCATE attribution_import');
  }

  async beginLoad(): Promise<Queryable> {
    const c = await this.connect();
    await c.query('BEGIN');
    this.loading = true;
    // Into a table without its unique index (a bulk load) COPY cannot conflict.
    this.direct = true;
    const run = async (sql: string, params?: readonly SqlValue[]) => c.query(dollarPlaceholders(sql), params as unknown[] | undefined);
    return {
      all: async <T = Row>(sql: string, params?: readonly SqlValue[]) => (await run(sql, params)).rows as T[],
      get: async <T = Row>(sql: string, params?: readonly SqlValue[]) => (await run(sql, params)).rows[0] as T | undefined,
      run: async (sql: string, params?: readonly SqlValue[]) => ({ changes: (await run(sql, params)).rowCount ?? 0 }),
    };
  }

  async endLoad(commit: boolean): Promise<void> {
    if (!this.loading) return;
    this.loading = false;
    const c = await this.connect();
    if (commit) await c.query('COMMIT');
    else await c.query('ROLLBACK').catch(() => undefined);
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => undefined);
  }
}
