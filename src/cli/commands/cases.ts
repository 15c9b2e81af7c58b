import { statSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { isPurpose, PURPOSE_NAMES, SakimoriError } from '../../core/index.ts';
import type { Case, CaseStatus, FindingClass, Progress } from '../../cases/index.ts';
// What the options and their help need, from the light files that define it; the cases
// code itself (importers, ajv, the node's wiring) loads when an action runs.
import { ATTRIBUTION_MEANING, CASE_STATUSES, FINDING_CLASSES } from '../../cases/model.ts';
import { REPORT_FORMATS } from '../../cases/importers/formats.ts';
import { SHADOWSERVER_REPORTS } from '../../cases/importers/shadowserver.ts';
import type { Platform } from '../../node/index.ts';
import { printJson, withPlatform } from '../context.ts';

const GROUP = 'Attribution and cases:';
const actor = () => `cli:${process.env.USER ?? 'operator'}`;
const casesOf = async (p: Platform) => (await import('../../node/parts.ts')).casesOf(p);
const iso = (t: number | null) => (t === null ? '-' : new Date(t).toISOString().replace('.000Z', 'Z'));

/**
 * A progress bar on stderr for files big enough to wait for (stdout stays
 * clean for --json). Shown on a terminal for files over 1 MiB, or always
 * with --progress. Returns what starts it: cli-progress is loaded here, before
 * a report starts streaming, so nothing is awaited between opening and reading it.
 */
async function progressFor(file: string, opts: { progress?: boolean }): Promise<() => { onProgress?: Progress; stop(): void }> {
  let size = 0;
  try {
    size = statSync(file).size;
  } catch {
    return () => ({ stop() {} });
  }
  const wanted = opts.progress ?? (process.stderr.isTTY === true && size > 1 << 20);
  if (!wanted) return () => ({ stop() {} });
  const { default: cliProgress } = await import('cli-progress');
  return () => {
    const bar = new cliProgress.SingleBar(
      { stream: process.stderr, format: '{bar} {percentage}% | {value}/{total} MiB | {duration_formatted}', hideCursor: true, noTTYOutput: true, notTTYSchedule: 2000 },
      cliProgress.Presets.shades_classic,
    );
    const mib = (b: number) => Math.round((b / (1 << 20)) * 10) / 10;
    bar.start(mib(size), 0);
    return { onProgress: (read) => bar.update(mib(read)), stop: () => bar.stop() };
  };
}

function caseLine(c: Case): string {
  return `${c.id}  ${c.status.padEnd(12)} ${c.class.padEnd(20)} subscriber ${c.subscriberId}  escalation ${c.escalation}  findings ${c.findings}  last seen ${iso(c.lastSeen)}`;
}

function classOpt(v: string | undefined): FindingClass | undefined {
  if (v === undefined) return undefined;
  if (!(FINDING_CLASSES as readonly string[]).includes(v)) throw new SakimoriError('BAD_OPTION', `--class ${v} is not a finding class`, { hint: `one of: ${FINDING_CLASSES.join(', ')}` });
  return v as FindingClass;
}

function limitOpt(v: string | undefined): number {
  const n = Number(v ?? 100);
  if (!Number.isInteger(n) || n < 1) throw new SakimoriError('BAD_OPTION', `--limit ${v} is not a positive whole number`);
  return n;
}

export function registerCases(program: Command): void {
  // ---------------------------------------------------------------- subscribers
  const subscribers = program.command('subscribers').helpGroup(GROUP).description('subscribers and their contract data (who holds which PPPoE/RADIUS login, where to write)');
  subscribers
    .command('import')
    .argument('<file>', 'CSV with the header id,login,name,email,language,prefecture (more columns are ignored)')
    .description('add or update subscribers from the contract system (upsert by id); bad lines are reported by number and skipped')
    .option('--json', 'print the result as JSON')
    .option('--progress', 'always show a progress bar on stderr')
    .addHelpText('after', `
Example file:
  id,login,name,email,language,prefecture
  K001,hanako@isp,山田 花子,hanako@example.jp,ja,北海道`)
    .action(async (file: string, opts: { json?: boolean; progress?: boolean }, cmd: Command) => {
      const bar = (await progressFor(file, opts))();
      const r = await withPlatform(cmd, async (p) => (await casesOf(p)).subscribers.importFile(file, { actor: actor(), ...(bar.onProgress ? { onProgress: bar.onProgress } : {}) })).finally(() => bar.stop());
      if (opts.json) return printJson(r);
      for (const b of r.badLines) process.stderr.write(`${file}:${b.line}: ${b.error} (skipped)\n`);
      process.stdout.write(`${r.imported} subscriber(s) imported, ${r.badLines.length} bad line(s) skipped\n`);
    });
  subscribers
    .command('list')
    .description('subscribers, by id')
    .option('--json', 'print JSON')
    .option('--limit <n>', 'at most this many', '100')
    .action(async (opts: { json?: boolean; limit?: string }, cmd: Command) => {
      const list = await withPlatform(cmd, async (p) => {
        const rows = await (await casesOf(p)).subscribers.list({ limit: limitOpt(opts.limit) });
        await p.audit.append({ actor: actor(), action: 'read', purpose: 'subscriber-attribution', subject: 'subscribers', detail: { count: rows.length } });
        return rows;
      });
      if (opts.json) return printJson(list);
      for (const s of list) process.stdout.write(`${s.id}  ${s.login}  ${s.name}  ${s.email || '(no e-mail)'}  ${s.language}  ${s.prefecture}\n`);
    });

  // ---------------------------------------------------------------- reports
  const reports = program.command('reports').helpGroup(GROUP).description('import abuse and survey reports: each finding is kept, attributed to a subscriber where possible, and joins that subscriber\'s case');
  reports
    .command('import')
    .argument('<file>', 'the report file')
    .addOption(new Option('--format <name>', 'the report format').choices([...REPORT_FORMATS]).makeOptionMandatory())
    .option('--type <report-type>', 'shadowserver: the report type, when the file name does not say it (e.g. scan_dns)')
    .option('--json', 'print the summary as JSON')
    .option('--progress', 'always show a progress bar on stderr')
    .description('read a report into findings and cases; bad lines are reported by number and skipped')
    .addHelpText('after', `
Formats:
  shadowserver  Shadowserver CSV; the report type comes from the file name as Shadowserver names
                its files (2019-09-05-scan_dns-asn-as64500.csv). Handled types:
                ${Object.keys(SHADOWSERVER_REPORTS).join(', ')}
  xarf          X-ARF v4 JSON (one report, an array, or one per line), validated against the v4 schema
  notice        NOTICE-style weak-password list (R9): CSV with header ip,port,timestamp[,device]
  cc-log        log of a taken-down C&C server (R5): CSV with header ip,timestamp[,port][,family]
Times in notice and cc-log files need a zone: 2019-02-20T10:00:00+09:00 or ...Z.

Examples:
  sakimori reports import 2019-09-05-scan_dns-asn-as64500.csv --format shadowserver
  sakimori reports import notice-2019-02.csv --format notice --json`)
    .action(async (file: string, opts: { format: string; type?: string; json?: boolean; progress?: boolean }, cmd: Command) => {
      let bar: ReturnType<Awaited<ReturnType<typeof progressFor>>> | undefined;
      const startBar = await progressFor(file, opts);
      const summary = await withPlatform(cmd, async (p) => {
        // Everything loaded before the report is opened: it streams from then on.
        const { openReport, importReport } = await import('../../cases/index.ts');
        const cases = await casesOf(p);
        const report = openReport(opts.format, file, { ...(opts.type ? { type: opts.type } : {}), onProgress: (read, total) => bar?.onProgress?.(read, total) });
        if (!opts.json) process.stderr.write(`recognised: ${report.description}\n`);
        bar = startBar();
        return importReport(report, cases.book, { actor: actor() });
      }).finally(() => bar?.stop());
      if (opts.json) return printJson(summary);
      for (const b of summary.badLines) process.stderr.write(`${file}:${summary.unit === 'line' ? '' : 'report '}${b.line}: ${b.error} (skipped)\n`);
      if (summary.badLineCount > summary.badLines.length) process.stderr.write(`... and ${summary.badLineCount - summary.badLines.length} more bad line(s)\n`);
      const r = summary.result;
      const un = Object.entries(r.unattributed).map(([k, v]) => `${v} ${k}`).join(', ');
      process.stdout.write(
        `${summary.observations} finding(s) read, ${summary.badLineCount} bad ${summary.unit}(s) skipped, ${summary.skippedCount} not for notices\n` +
          `${r.findings} new finding(s) kept, ${r.duplicates} already known${r.refused.length ? `, ${r.refused.length} refused (purpose)` : ''}\n` +
          `${r.attributed} attributed${un ? `; unattributed: ${un}` : ''}\n` +
          `cases: ${r.opened} opened, ${r.reopened} reopened, ${r.attached} with new evidence\n`,
      );
    });

  // ---------------------------------------------------------------- findings
  const findings = program.command('findings').helpGroup(GROUP).description('every imported or detected finding, attributed or not (with the reason)');
  findings
    .command('list')
    .description('findings, newest first')
    .option('--json', 'print JSON')
    .option('--unattributed', 'only those that could not be tied to a subscriber')
    .option('--subscriber <id>', 'only this subscriber\'s')
    .option('--class <class>', `only this class: ${FINDING_CLASSES.join(', ')}`)
    .option('--purpose <purpose>', 'only those collected for this purpose')
    .option('--limit <n>', 'at most this many', '100')
    .addHelpText('after', `
Reasons a finding is unattributed:
${Object.entries(ATTRIBUTION_MEANING).filter(([k]) => k !== 'found').map(([k, v]) => `  ${k.padEnd(22)} ${v}`).join('\n')}`)
    .action(async (opts: { json?: boolean; unattributed?: boolean; subscriber?: string; class?: string; purpose?: string; limit?: string }, cmd: Command) => {
      if (opts.purpose && !isPurpose(opts.purpose)) throw new SakimoriError('BAD_OPTION', `--purpose ${opts.purpose} is not a purpose`, { hint: `one of: ${PURPOSE_NAMES.join(', ')}` });
      const cls = classOpt(opts.class);
      const list = await withPlatform(cmd, async (p) =>
        (await casesOf(p)).book.findings({
          actor: actor(),
          limit: limitOpt(opts.limit),
          ...(opts.unattributed ? { attributed: false } : {}),
          ...(opts.subscriber ? { subscriberId: opts.subscriber } : {}),
          ...(cls ? { class: cls } : {}),
          ...(opts.purpose && isPurpose(opts.purpose) ? { purpose: opts.purpose } : {}),
        }),
      );
      if (opts.json) return printJson(list);
      for (const f of list) {
        const who = f.attribution === 'found' ? `subscriber ${f.subscriberId} case ${f.caseId}` : `unattributed: ${f.attribution}`;
        process.stdout.write(`${iso(f.observedAt)}  ${(f.ip ?? '-').padEnd(15)} ${f.class.padEnd(20)} ${f.source}  ${who}\n`);
      }
    });

  // ---------------------------------------------------------------- cases
  const cases = program
    .command('cases')
    .helpGroup(GROUP)
    .description('one case per subscriber and finding class: new -> notified -> acknowledged -> resolved; found again after resolution, it reopens one escalation higher')
    .addHelpText('after', `
Examples:
  sakimori cases list --status new
  sakimori cases show case_01HX...
  sakimori cases ack case_01HX... --note "called the subscriber"
  sakimori cases resolve case_01HX...
  sakimori cases notify          send the notices that are due now`);
  cases
    .command('list')
    .description('cases, most recently changed first')
    .option('--json', 'print JSON')
    .addOption(new Option('--status <status>', 'only cases in this state').choices([...CASE_STATUSES]))
    .option('--subscriber <id>', 'only this subscriber\'s')
    .option('--class <class>', `only this class: ${FINDING_CLASSES.join(', ')}`)
    .option('--limit <n>', 'at most this many', '100')
    .action(async (opts: { json?: boolean; status?: CaseStatus; subscriber?: string; class?: string; limit?: string }, cmd: Command) => {
      const cls = classOpt(opts.class);
      const list = await withPlatform(cmd, async (p) =>
        (await casesOf(p)).book.cases({ actor: actor(), limit: limitOpt(opts.limit), ...(opts.status ? { status: opts.status } : {}), ...(opts.subscriber ? { subscriberId: opts.subscriber } : {}), ...(cls ? { class: cls } : {}) }),
      );
      if (opts.json) return printJson(list);
      if (list.length === 0) process.stdout.write('no cases\n');
      for (const c of list) process.stdout.write(`${caseLine(c)}\n`);
    });
  cases
    .command('show')
    .argument('<id>', 'the case id')
    .description('a case with its history and newest evidence')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }, cmd: Command) => {
      const shown = await withPlatform(cmd, async (p) => (await casesOf(p)).book.caseById(id, { actor: actor() }));
      if (!shown) throw new SakimoriError('CASE_NOT_FOUND', `there is no case ${id}`, { hint: 'list cases with `sakimori cases list`' });
      if (opts.json) return printJson(shown);
      const c = shown.case;
      process.stdout.write(`${caseLine(c)}\nopened ${iso(c.openedAt)}, first seen ${iso(c.firstSeen)}, notified ${iso(c.notifiedAt)}, acknowledged ${iso(c.acknowledgedAt)}, resolved ${iso(c.resolvedAt)}\n\nhistory:\n`);
      for (const e of shown.events) process.stdout.write(`  ${iso(e.at)}  ${e.action.padEnd(12)} ${e.fromStatus ?? '-'} -> ${e.toStatus}  escalation ${e.escalation}  by ${e.actor} via ${e.via}${e.note ? `  (${e.note})` : ''}\n`);
      process.stdout.write('\nevidence (newest first):\n');
      for (const f of shown.findings) process.stdout.write(`  ${iso(f.observedAt)}  ${f.ip ?? '-'}${f.port !== null ? `:${f.port}` : ''}  ${f.source}  ${JSON.stringify(f.evidence)}\n`);
    });
  for (const [name, verb] of [['ack', 'acknowledge'], ['resolve', 'resolve']] as const) {
    cases
      .command(name)
      .argument('<id>', 'the case id')
      .description(name === 'ack' ? 'mark a case acknowledged (the subscriber is dealing with it)' : 'mark a case resolved (found again later, it reopens one escalation higher)')
      .option('--note <text>', 'why (kept in the case history)')
      .option('--json', 'print the case as JSON')
      .action(async (id: string, opts: { note?: string; json?: boolean }, cmd: Command) => {
        const c = await withPlatform(cmd, async (p) => (await casesOf(p)).book[verb](id, { actor: actor(), via: 'cli', ...(opts.note ? { note: opts.note } : {}) }));
        if (opts.json) return printJson(c);
        process.stdout.write(`${caseLine(c)}\n`);
      });
  }
  cases
    .command('notify')
    .description('send the notices that are due now (the node does this every notify.interval); the cool-down still holds')
    .option('--now', 'do not wait out notify.batchWindow')
    .option('--json', 'print JSON')
    .action(async (opts: { now?: boolean; json?: boolean }, cmd: Command) => {
      const r = await withPlatform(cmd, async (p) => {
        const c = await casesOf(p);
        try {
          return await c.sender.runOnce({ actor: actor(), ...(opts.now ? { skipBatching: true } : {}) });
        } finally {
          c.mailer.close?.();
        }
      });
      if (opts.json) return printJson(r);
      for (const s of r.sent) process.stdout.write(`sent ${s.noticeId} to subscriber ${s.subscriberId} (${s.caseIds.length} case(s))\n`);
      for (const f of r.failed) process.stderr.write(`not sent ${f.noticeId} to subscriber ${f.subscriberId}: ${f.error}\n`);
      for (const h of r.held) process.stdout.write(`waiting: subscriber ${h.subscriberId} (${h.reason}) until ${iso(h.until)}\n`);
      process.stdout.write(`${r.sent.length} sent, ${r.failed.length} failed, ${r.held.length} waiting\n`);
      if (r.failed.length) process.exitCode = 1;
    });
}
