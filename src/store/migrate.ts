import { SakimoriError, errorMessage } from '../core/index.ts';
import type { Dialect, Migration, MigrationReport, Queryable } from './port.ts';

/** What a migration runs against: a transaction that can also run a multi-statement script. */
export interface ScriptQueryable extends Queryable {
  /** Runs a script of one or more statements, without parameters. */
  exec(script: string): Promise<void>;
}

/** Runs fn in one transaction that serialises with every other transaction on the store, in and across processes. */
export type RunInTransaction = <T>(fn: (tx: ScriptQueryable) => Promise<T>) => Promise<T>;

const LEDGER = 'CREATE TABLE IF NOT EXISTS schema_migrations (id TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)';

export function migrationSql(m: Migration, dialect: Dialect): string {
  return typeof m.sql === 'string' ? m.sql : m.sql[dialect];
}

function checkList(migrations: readonly Migration[], dialect: Dialect): void {
  const seen = new Set<string>();
  for (const m of migrations) {
    if (typeof m.id !== 'string' || m.id.trim() === '') {
      throw new SakimoriError('STORE_MIGRATION_INVALID', 'a migration has an empty id', {
        hint: 'give every migration a unique id such as "privacy/0001-audit-log"',
      });
    }
    if (seen.has(m.id)) {
      throw new SakimoriError('STORE_MIGRATION_INVALID', `migration id "${m.id}" appears twice in the list`, {
        hint: 'migration ids must be unique; never reuse or rename a shipped id, add a new one',
      });
    }
    seen.add(m.id);
    const sql = migrationSql(m, dialect);
    if (typeof sql !== 'string' || sql.trim() === '') {
      throw new SakimoriError('STORE_MIGRATION_INVALID', `migration "${m.id}" has no SQL for ${dialect}`, {
        hint: 'give the SQL as one portable string, or as { sqlite, postgres } with both texts',
      });
    }
  }
}

/**
 * Applies the migrations not yet recorded in schema_migrations, in the order
 * given, each in its own transaction together with its ledger row, so a failed
 * migration leaves nothing behind and is retried on the next start. Two
 * processes starting at once are safe: each migration re-checks the ledger
 * after taking the store's transaction lock, so the second one skips it.
 */
export async function applyMigrations(
  dialect: Dialect,
  inTransaction: RunInTransaction,
  migrations: readonly Migration[],
  now: () => number = Date.now,
): Promise<MigrationReport> {
  checkList(migrations, dialect);
  // One transaction reads the ledger (creating it on first use), so a start with nothing to do costs one round trip.
  const done = await inTransaction(async (tx) => {
    await tx.exec(LEDGER);
    const rows = await tx.all<{ id: string }>('SELECT id FROM schema_migrations');
    return new Set(rows.map((r) => r.id));
  });

  const applied: string[] = [];
  let alreadyApplied = 0;
  for (const m of migrations) {
    if (done.has(m.id)) {
      alreadyApplied++;
      continue;
    }
    const ran = await inTransaction(async (tx) => {
      // Another process may have applied it since we read the ledger.
      if (await tx.get('SELECT id FROM schema_migrations WHERE id = ?', [m.id])) return false;
      try {
        await tx.exec(migrationSql(m, dialect));
      } catch (err) {
        throw new SakimoriError('STORE_MIGRATION_FAILED', `migration "${m.id}" failed on ${dialect}: ${errorMessage(err)}`, {
          hint: 'nothing of this migration was applied (it ran in a transaction); fix its SQL or the database, then start again',
          cause: err,
        });
      }
      await tx.run('INSERT INTO schema_migrations (id, applied_at) VALUES (?, ?)', [m.id, now()]);
      return true;
    });
    if (ran) applied.push(m.id);
    else alreadyApplied++;
  }
  return { applied, alreadyApplied };
}
