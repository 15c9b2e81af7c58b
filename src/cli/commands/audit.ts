import type { Command } from 'commander';
import { isPurpose, SakimoriError } from '../../core/index.ts';
import { printJson, withPlatform } from '../context.ts';

export function registerAudit(program: Command): void {
  const audit = program.command('audit').helpGroup('Privacy and audit (R16):').description('the hash-chained audit log of every write, read-for-purpose, purge and export');

  audit
    .command('verify')
    .description('check the whole audit chain; exits 0 if intact, 1 naming the first altered or missing entry')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', '\nWorks on the same store as a running node (use --store URL for another one).\nExample: sakimori audit verify --store postgres://sakimori@db1/sakimori')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { verifyAuditChain } = await import('../../privacy/index.ts');
      const result = await withPlatform(cmd, async (p) => {
        await p.audit.flush();
        return verifyAuditChain(p.store);
      });
      if (opts.json) printJson(result);
      else if (result.ok) process.stdout.write(`audit log intact: ${result.entries} entries, head at entry ${result.headSeq} (hash ${result.headHash.slice(0, 16)}...)\n`);
      else process.stderr.write(`audit log BROKEN at entry ${result.firstBadSeq}: ${result.reason} (${result.entries} entries verified before it)\n`);
      if (!result.ok) process.exitCode = 1;
    });

  audit
    .command('list')
    .description('print the newest audit entries')
    .option('--limit <n>', 'how many entries', '50')
    .option('--purpose <purpose>', 'only entries of this purpose')
    .option('--json', 'print JSON')
    .action(async (opts: { limit: string; purpose?: string; json?: boolean }, cmd: Command) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new SakimoriError('BAD_OPTION', `--limit ${opts.limit}: expected a positive whole number`);
      if (opts.purpose !== undefined && !isPurpose(opts.purpose)) throw new SakimoriError('BAD_OPTION', `--purpose ${opts.purpose}: unknown purpose`, { hint: 'see `sakimori privacy purposes`' });
      const entries = await withPlatform(cmd, (p) => p.audit.list({ limit, ...(opts.purpose ? { purpose: opts.purpose as never } : {}) }));
      if (opts.json) return printJson(entries);
      for (const e of entries) {
        process.stdout.write(`${String(e.seq).padStart(8)}  ${new Date(e.at).toISOString()}  ${e.action.padEnd(7)} ${e.purpose.padEnd(22)} ${e.actor.padEnd(14)} ${e.subject} ${JSON.stringify(e.detail)}\n`);
      }
    });
}
