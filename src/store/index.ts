import type { Store } from './port.ts';
import type { OpenStoreOptions } from './options.ts';
import { parseStoreUrl } from './url.ts';

export type { SqlValue, Row, Queryable, Migration, MigrationReport, Dialect, Store } from './port.ts';
export type { OpenStoreOptions, StoreLogger } from './options.ts';
export { parseStoreUrl, redactPassword, type StoreLocation } from './url.ts';
export { WriterThread, serveWriterThread, type JobWriter, type WriterThreadOptions } from './writer-thread.ts';

/**
 * Opens the store named by `store.url`:
 *   sqlite:./data/sakimori.db    sqlite:/abs/path.db    sqlite::memory:
 *   postgres://USER[:PASSWORD]@HOST[:PORT]/DB    postgres://USER@/DB?host=/run/postgresql
 * A PostgreSQL store is checked with one round trip, so an unreachable server
 * fails here with a message naming host:port, not on the first query.
 */
export async function openStore(url: string, opts: OpenStoreOptions = {}): Promise<Store> {
  const where = parseStoreUrl(url);
  // Each adapter loads its driver only when named (pg alone is ~13 MiB in a process that
  // never speaks PostgreSQL: the DNS data plane on SQLite).
  if (where.kind === 'sqlite') return (await import('./sqlite/sqlite-store.ts')).openSqliteStore(where.path, where.displayUrl, opts);
  return (await import('./postgres/postgres-store.ts')).openPostgresStore(where, opts);
}

/**
 * True if err is a unique or primary-key violation from either adapter, for the
 * rare caller that must tell "already there" from other failures (prefer
 * INSERT ... ON CONFLICT where you can).
 */
export function isUniqueViolation(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}
