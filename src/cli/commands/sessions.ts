import { basename } from 'node:path';
import { Option, type Command } from 'commander';
import { parseDuration, SakimoriError } from '../../core/index.ts';
import type { ImportHooks, ImportReport, LookupResult, SessionView } from '../../attribution/index.ts';
// What the options and their help list, from the files that define it; the rest of
// attribution (and pg, for COPY) loads when an action runs.
import { IMPORT_FORMATS } from '../../attribution/importers/run.ts';
import { LOOKUP_PURPOSES } from '../../attribution/attribution.ts';
import { printJson, withPlatform } from '../context.ts';

const GROUP = 'Attribution and cases:';
const actor = () => `cli:${process.env.USER ?? 'operator'}`;

/** Bad lines printed before the rest are only counted, so a wrong --format does not flood the terminal. */
const MAX_BAD_SHOWN = 200;

interface ImportCliOptions {
  format: string;
  from?: string;
  table?: string;
  nas?: string;
  utcOffset?: string;
  year?: string;
  batch?: string;
  parseThread?: string;
  progress?: boolean;
  json?: boolean;
}

async function progressBar(opts: { progress?: boolean }, unit: 'MiB' | 'rows'): Promise<{ hooks: Pick<ImportHooks, 'onProgress'>; stop(): void }> {
  const wanted = opts.progress ?? process.stderr.isTTY === true;
  if (!wanted) return { hooks: {}, stop() {} };
  const { default: cliProgress } = await import('cli-progress');
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `{bar} {percentage}% | {value}/{total} ${unit} | {sessions} sessions | {bad} bad lines | {duration_formatted}`,
      hideCursor: true,
      noTTYOutput: true,
      notTTYSchedule: 2000,
    },
    cliProgress.Presets.shades_classic,
  );
  const scale = (n: number) => (unit === 'MiB' ? Math.round((n / (1 << 20)) * 10) / 10 : n);
  let started = false;
  return {
    hooks: {
      onProgress: (done, total, sessions, bad) => {
        if (!started) {
          bar.start(scale(total), 0, { sessions: 0, bad: 0 });
          started = true;
        }
        bar.setTotal(scale(total));
        bar.update(scale(done), { sessions, bad });
      },
    },
    stop: () => started && bar.stop(),
  };
}

function summary(r: ImportReport, fromTable: boolean): string {
  const skipped = Object.entries(r.skipped).map(([why, n]) => `${n} ${why}`);
  return (
    `${r.file}: ${r.lines} ${fromTable ? 'rows' : 'lines'} read, ${r.sessions} session rows written` +
    (r.resolved ? `, ${r.resolved} events matched against stored sessions` : '') +
    `, ${r.badLines} bad line(s) skipped` +
    (skipped.length ? `; skipped as not sessions: ${skipped.join(', ')}` : '') +
    ` — ${r.seconds} s, ${r.sessionsPerSecond} sessions/s\n`
  );
}

function when(s: SessionView): string {
  const to = s.end === null ? 'still open' : `${s.end}${s.endInferred === 'nas-restart' ? ' (NAS restarted)' : s.endInferred === 'next-session' ? ' (next session began)' : ''}`;
  return `${s.start}${s.startInferred ? ' (derived from session time)' : ''} to ${to}`;
}

function describeSession(s: SessionView, indent = '  '): string {
  const ports = s.ports ? ` ports ${s.ports.start}-${s.ports.end}` : '';
  return `${indent}${s.subscriber}  ${s.address}${ports}  session ${s.sessionId} on ${s.nas} (${s.source})  ${when(s)}\n`;
}

function printLookup(r: LookupResult): void {
  const q = r.query;
  const head = `${q.ip}${q.port !== undefined ? ` port ${q.port}` : ''} at ${q.at} (skew ${q.skewMs} ms, purpose ${q.purpose}): `;
  let out = '';
  switch (r.result) {
    case 'found':
      out = `${head}${r.subscriber}\n${describeSession(r.session)}`;
      if (r.via) {
        out += `  via CGNAT port block${describeSession(r.via.portBlock, ' ').trimEnd()}\n`;
        if (r.via.result !== 'found') out += `  (no session of the inside address ${r.via.insideAddress} covers the time: ${r.via.result})\n`;
      }
      if (r.sessions) out += `  (${r.sessions.length} sessions of this subscriber cover the time)\n`;
      break;
    case 'ambiguous':
      out = `${head}AMBIGUOUS (${r.reason === 'port-needed' ? 'a shared CGNAT address: give --port' : r.reason === 'clock-skew' ? 'within the clock-skew tolerance of another session' : 'overlapping sessions'})\n${r.sessions.map((s) => describeSession(s)).join('')}`;
      if (r.truncated) out += '  (more not listed)\n';
      break;
    case 'gap':
      out = `${head}no session covered that time\n${r.before ? `  before: ${describeSession(r.before, '').trimEnd()}\n` : ''}${r.after ? `  after:  ${describeSession(r.after, '').trimEnd()}\n` : ''}`;
      break;
    case 'unknown':
      out = `${head}never seen\n`;
      break;
  }
  process.stdout.write(out);
}

export function registerSessions(program: Command): void {
  const sessions = program
    .command('sessions')
    .helpGroup(GROUP)
    .description('subscriber sessions: who held an address (or a CGNAT port) at a time');

  sessions
    .command('import')
    .argument('[file]', 'the file to import (.gz is read compressed); not with --from')
    .description('import sessions from accounting logs, lease files or CGNAT logs; bad lines are reported as FILE:LINE and skipped')
    .addOption(new Option('--format <name>', 'the file format').choices(IMPORT_FORMATS.map((f) => f.name)).makeOptionMandatory())
    .option('--from <url>', 'radacct only: read the table from this PostgreSQL database instead of a file')
    .option('--table <name>', 'with --from: the table to read', 'radacct')
    .option('--nas <name>', 'file sessions under this NAS / DHCP server / CGNAT box when the source names none')
    .option('--utc-offset <offset>', 'the zone of times written without one, e.g. +09:00 (required for such files)')
    .option('--year <year>', 'cgnat-syslog: the year of BSD syslog times, which have none')
    .option('--batch <rows>', 'session rows handed to the store at a time (into an empty index the whole import is one bulk-load transaction; otherwise each batch is one upsert transaction)', '20000')
    .addOption(new Option('--parse-thread <when>', 'read and parse the file in a worker thread while this one writes (auto: for files of 4 MiB and more)').choices(['auto', 'on', 'off']).default('auto'))
    .option('--progress', 'show a progress bar on stderr even when it is not a terminal')
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      `
Formats:
${IMPORT_FORMATS.map((f) => `  ${f.name.padEnd(13)} ${f.summary}`).join('\n')}

Examples:
  sakimori sessions import /var/log/freeradius/radacct/192.0.2.1/detail-20250106 --format detail
  sakimori sessions import radacct.csv --format radacct
  sakimori sessions import --format radacct --from postgres://radius@db1/radius --table radacct
  sakimori sessions import /var/lib/dhcp/dhcpd.leases --format dhcpd
  sakimori sessions import blocks.csv --format cgnat --utc-offset +09:00

Importing the same file again changes nothing (sessions are keyed by NAS and session id).`,
    )
    .action(async (file: string | undefined, opts: ImportCliOptions, cmd: Command) => {
      const { importFile, importRadacctTable, parseUtcOffset, PostgresCopyWriter, SessionIndex, UPSERT_TAIL } = await import('../../attribution/index.ts');
      if (opts.from !== undefined && opts.format !== 'radacct') throw new SakimoriError('BAD_OPTION', '--from reads a radacct table: use it with --format radacct');
      if ((file === undefined) === (opts.from === undefined)) throw new SakimoriError('BAD_OPTION', 'give a FILE, or --from postgres://... (not both)');
      const utcOffsetMin = opts.utcOffset === undefined ? undefined : parseUtcOffset(opts.utcOffset);
      if (opts.utcOffset !== undefined && utcOffsetMin === undefined) throw new SakimoriError('BAD_OPTION', `--utc-offset ${opts.utcOffset} is not an offset`, { hint: 'e.g. +09:00, -05:00 or +00:00' });
      const year = opts.year === undefined ? undefined : Number(opts.year);
      if (year !== undefined && !(Number.isInteger(year) && year >= 1970 && year <= 9999)) throw new SakimoriError('BAD_OPTION', `--year ${opts.year} is not a year`);
      const batchSize = Number(opts.batch);
      if (!Number.isInteger(batchSize) || batchSize < 1) throw new SakimoriError('BAD_OPTION', `--batch ${opts.batch} is not a positive whole number`);

      let shown = 0;
      const onBad = (f: string, line: number, message: string) => {
        if (shown++ < MAX_BAD_SHOWN) process.stderr.write(`${f}:${line}: ${message} (skipped)\n`);
        else if (shown === MAX_BAD_SHOWN + 1) process.stderr.write(`... further bad lines are counted, not shown\n`);
      };
      const bar = await progressBar(opts, opts.from ? 'rows' : 'MiB');
      const report = await withPlatform(cmd, async (p) => {
        // On PostgreSQL, batches go in through COPY (see src/attribution/pg-copy.ts).
        const bulk = p.store.dialect === 'postgres' ? new PostgresCopyWriter(p.config.store.url, UPSERT_TAIL) : undefined;
        const index = new SessionIndex(p.store, { clock: p.clock, ...(bulk ? { bulk } : {}) });
        await index.prepareBulkWrites();
        const hooks: ImportHooks = { onBad, ...bar.hooks };
        const r = await (opts.from
          ? importRadacctTable(index, opts.from, opts.table ?? 'radacct', hooks, { batchSize })
          : importFile(index, file!, opts.format, { nas: opts.nas, utcOffsetMin, year }, hooks, { batchSize, ...(opts.parseThread === 'auto' ? {} : { parseThread: opts.parseThread === 'on' }) })
        ).finally(() => bulk?.close());
        await p.audit.append({
          actor: actor(),
          action: 'write',
          purpose: 'subscriber-attribution',
          subject: 'attribution_sessions',
          detail: { source: opts.from ? `table ${opts.table}` : basename(file!), format: opts.format, sessions: r.sessions, resolved: r.resolved, badLines: r.badLines },
        });
        return r;
      }).finally(() => bar.stop());
      if (opts.json) printJson(report);
      else process.stderr.write(summary(report, opts.from !== undefined));
    });

  sessions
    .command('lookup')
    .argument('<ip>', 'IPv4 or IPv6 address')
    .description('who held the address (and port) at that time; the look-up is audited with its purpose (R16)')
    .requiredOption('--at <time>', 'ISO 8601 time with its offset (2025-01-06T12:00:00Z, 2025-01-06T21:00:00+09:00) or epoch seconds')
    .option('--port <n>', 'the source port, for an address shared by CGNAT')
    .addOption(new Option('--purpose <purpose>', 'why the look-up is made').choices([...LOOKUP_PURPOSES]).default('subscriber-attribution'))
    .option('--skew <duration>', 'clock-skew tolerance for this look-up, overriding attribution.clockSkew (e.g. 30s)')
    .option('--json', 'print the result object as JSON')
    .addHelpText(
      'after',
      `
The result is one of:
  found      the session covering the time: subscriber (login), session id, NAS, start and end
  ambiguous  several subscribers' sessions cover the time (all listed), or a CGNAT address without --port
  gap        the address was seen, but no session covered the time (the nearest before and after are shown)
  unknown    the address was never seen

Example:
  sakimori sessions lookup 198.51.100.7 --at 2025-01-06T21:00:00+09:00 --purpose infection-notice --json`,
    )
    .action(async (ip: string, opts: { at: string; port?: string; purpose: string; skew?: string; json?: boolean }, cmd: Command) => {
      const { Attribution, isLookupPurpose, parseTime, SessionIndex } = await import('../../attribution/index.ts');
      const at = parseTime(opts.at);
      if (typeof at !== 'number') throw new SakimoriError('BAD_OPTION', `--at: ${at.error}`);
      const port = opts.port === undefined ? undefined : Number(opts.port);
      if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) throw new SakimoriError('BAD_OPTION', `--port ${opts.port} is not a port number (0-65535)`);
      const skewMs = opts.skew === undefined ? undefined : parseDuration(opts.skew);
      if (opts.skew !== undefined && (skewMs === undefined || /^\s*\d+(\.\d+)?\s*$/.test(opts.skew))) throw new SakimoriError('BAD_OPTION', `--skew ${opts.skew} is not a duration such as 2s or 1m`);
      if (!isLookupPurpose(opts.purpose)) throw new SakimoriError('BAD_OPTION', `--purpose ${opts.purpose} may not attribute subscribers`);
      const result = await withPlatform(cmd, async (p) => {
        const attribution = new Attribution(new SessionIndex(p.store, { clock: p.clock }), p.audit, { clockSkewMs: p.config.attribution.clockSkew });
        return attribution.lookup({ ip, at, port, purpose: opts.purpose as never, actor: actor(), skewMs });
      });
      if (opts.json) printJson(result);
      else printLookup(result);
    });

  sessions
    .command('stats')
    .description('how many sessions the index holds, and how many are open')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const { SessionIndex } = await import('../../attribution/index.ts');
      const stats = await withPlatform(cmd, async (p) => {
        const index = new SessionIndex(p.store, { clock: p.clock });
        const counts = await index.count();
        const lengths = await index.prefixLengths();
        await p.audit.append({ actor: actor(), action: 'read', purpose: 'subscriber-attribution', subject: 'attribution_sessions', detail: { counts: true } });
        return { ...counts, prefixLengths: { ipv4: [32, ...lengths[4]], ipv6: [...lengths[6]] } };
      });
      if (opts.json) return printJson(stats);
      process.stdout.write(`${stats.sessions} session rows, ${stats.open} open; prefix lengths held: IPv4 /${stats.prefixLengths.ipv4.join(', /')}${stats.prefixLengths.ipv6.length ? `; IPv6 /${stats.prefixLengths.ipv6.join(', /')}` : ''}\n`);
    });
}
