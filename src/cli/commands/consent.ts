import type { Command } from 'commander';
import { SakimoriError } from '../../core/index.ts';
import type { ConsentEvent, ConsentScope } from '../../consent/index.ts';
import { printJson, withPlatform } from '../context.ts';

interface SubjectOptions {
  client?: string;
  subscriber?: string;
  reason?: string;
  json?: boolean;
}

function subjectOf(opts: SubjectOptions): { scope: ConsentScope; subject: string } {
  if (!!opts.client === !!opts.subscriber) throw new SakimoriError('BAD_OPTION', 'give exactly one of --client PREFIX or --subscriber ID');
  return opts.client ? { scope: 'client', subject: opts.client } : { scope: 'subscriber', subject: opts.subscriber! };
}

function line(e: ConsentEvent): string {
  return `${new Date(e.at).toISOString()}  ${e.choice.padEnd(7)} ${e.scope}:${e.subject}  via ${e.via} by ${e.actor}${e.reason ? `  (${e.reason})` : ''}`;
}

export function registerConsent(program: Command): void {
  const consent = program
    .command('consent')
    .helpGroup('Privacy and audit (R16):')
    .description('DNS-protection opt-out and opt-in (R1): takes effect at once, history kept')
    .addHelpText('after', `
Examples:
  sakimori consent optout --client 192.0.2.7/32 --reason "ticket 4711"
  sakimori consent optin  --client 192.0.2.7/32
  sakimori consent optout --subscriber S000123
  sakimori consent list
  sakimori consent history --client 192.0.2.7`);

  for (const [name, choice] of [['optout', 'opt-out'], ['optin', 'opt-in']] as const) {
    consent
      .command(name)
      .description(choice === 'opt-out' ? 'stop DNS filtering for a client prefix or subscriber, at once' : 'resume DNS filtering for a client prefix or subscriber')
      .option('--client <prefix>', 'a client address or prefix, e.g. 192.0.2.7/32 or 2001:db8:1::/48')
      .option('--subscriber <id>', 'a subscriber id (applies to the addresses the subscriber holds)')
      .option('--reason <text>', 'why (kept in the history)')
      .option('--json', 'print the recorded event as JSON')
      .action(async (opts: SubjectOptions, cmd: Command) => {
        const { scope, subject } = subjectOf(opts);
        const event = await withPlatform(cmd, (p) => p.consent.set({ scope, subject, choice, actor: `cli:${process.env.USER ?? 'operator'}`, via: 'cli', ...(opts.reason ? { reason: opts.reason } : {}) }));
        if (opts.json) printJson(event);
        else process.stdout.write(`${line(event)}\n`);
      });
  }

  consent
    .command('list')
    .description('who is opted out now')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const rows = await withPlatform(cmd, (p) => p.consent.optedOut());
      if (opts.json) return printJson(rows);
      if (rows.length === 0) process.stdout.write('nobody is opted out of dns-protection\n');
      for (const r of rows) process.stdout.write(`${r.scope}:${r.subject}  opted out since ${new Date(r.since).toISOString()}\n`);
    });

  consent
    .command('history')
    .description('every choice made, oldest first (optionally for one client prefix or subscriber)')
    .option('--client <prefix>', 'only this client prefix')
    .option('--subscriber <id>', 'only this subscriber')
    .option('--json', 'print JSON')
    .action(async (opts: SubjectOptions, cmd: Command) => {
      const q = opts.client || opts.subscriber ? subjectOf(opts) : {};
      const events = await withPlatform(cmd, (p) => p.consent.history(q));
      if (opts.json) return printJson(events);
      for (const e of events) process.stdout.write(`${line(e)}\n`);
    });
}
