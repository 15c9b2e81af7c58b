import type { Command } from 'commander';
import { formatDuration, PURPOSES, type Purpose } from '../../core/index.ts';
import { commandConfig, printJson, withPlatform } from '../context.ts';

export function registerPrivacy(program: Command): void {
  const privacy = program.command('privacy').helpGroup('Privacy and audit (R16):').description('purposes, retention and the purge job');

  privacy
    .command('purposes')
    .description('list every purpose data may be collected for, with its retention from the config')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { config } = await commandConfig(cmd);
      const rows = (Object.keys(PURPOSES) as Purpose[]).map((p) => ({ purpose: p, retention: formatDuration(config.privacy.retention[p]), meaning: PURPOSES[p] }));
      if (opts.json) return printJson(rows);
      for (const r of rows) process.stdout.write(`${r.purpose.padEnd(24)} ${r.retention.padStart(6)}  ${r.meaning}\n`);
    });

  privacy
    .command('purge')
    .description('delete now every record older than its purpose\'s retention (the node also does this every privacy.purgeInterval)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const results = await withPlatform(cmd, (p) => p.retention.runOnce());
      if (opts.json) return printJson(results);
      const deleted = results.reduce((n, r) => n + r.deleted, 0);
      for (const r of results.filter((x) => x.deleted)) process.stdout.write(`${r.rule} (${r.purpose}): ${r.deleted} deleted, older than ${new Date(r.cutoff).toISOString()}\n`);
      process.stdout.write(`${deleted} record(s) purged.\n`);
    });
}
