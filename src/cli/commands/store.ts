import type { Command } from 'commander';
import { printJson, withPlatform } from '../context.ts';

export function registerStore(program: Command): void {
  const store = program.command('store').helpGroup('Store:').description('the database behind the node (SQLite by default, PostgreSQL to scale)');

  store
    .command('migrate')
    .description('apply pending schema migrations (the node does this at start too)')
    .action(async (_opts, cmd: Command) => {
      const { ALL_MIGRATIONS } = await import('../../node/migrations.ts');
      await withPlatform(cmd, async (p) => {
        process.stdout.write(`${p.store.displayUrl}: schema up to date (${ALL_MIGRATIONS.length} migrations known)\n`);
      });
    });

  store
    .command('status')
    .description('show the store URL, dialect and applied migrations')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const status = await withPlatform(cmd, async (p) => {
        const rows = await p.store.all<{ id: string; applied_at: number }>('SELECT id, applied_at FROM schema_migrations ORDER BY applied_at, id');
        return { url: p.store.displayUrl, dialect: p.store.dialect, migrations: rows.map((r) => ({ id: r.id, appliedAt: new Date(r.applied_at).toISOString() })) };
      });
      if (opts.json) return printJson(status);
      process.stdout.write(`${status.url} (${status.dialect})\n`);
      for (const m of status.migrations) process.stdout.write(`  ${m.appliedAt}  ${m.id}\n`);
    });
}
