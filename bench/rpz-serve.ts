/**
 * `sakimori rpz serve` holding a large policy zone: its memory after the load, and what
 * each `sakimori rpz add` costs it — the first, which rewrites the whole file, then edits
 * in place. Per step: the command's wall time, ms from the command's exit until the
 * provider serves the new serial (SOA over UDP), the provider's main-thread CPU over the
 * step (from the command's start until served + 500 ms), its RSS after and peak (VmHWM,
 * reset through /proc/PID/clear_refs before the step), and how many times it read its
 * zone file whole (its log line "reading zone file ... whole"; every `rpz add` is
 * journaled, so after the start this should be 0). Last, one AXFR of the zone (wall ms from
 * the request to the last record read by this process, the provider's CPU for it).
 *
 *   npx tsx bench/rpz-serve.ts [--names 1000000] [--edits 3] [--poll 1000] [--heap MiB] [--bin PATH] [--dist]
 *
 * --poll MS: rpz.watchInterval of the provider (1000, the default); a short one (10)
 * makes the poll and the directory watch race for each change (before b2b4849 the
 * loser read the whole file again). --bin: another tree's bin/sakimori.js (A/B runs; its
 * sources run through tsx unless --dist). --heap: node's --max-old-space-size for both
 * commands (default: node's own). --log PATH: the provider's log (info) is written there. Prints a table and the load average on stdout;
 * appends nothing (copy the table into docs/BENCHMARKS.md by hand).
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { requestTransfer } from '../src/dns/zone-transfer/index.ts';
import { freePort } from '../test/peers/ports.ts';
import { cli, startRpzServe, stop, untilServed, writeZone, ZONE, type Sakimori } from './rpz-common.ts';
import { helpIfAsked } from './run.ts';

helpIfAsked(import.meta.url);

const { values } = parseArgs({
  options: {
    names: { type: 'string', default: '1000000' },
    edits: { type: 'string', default: '3' },
    poll: { type: 'string', default: '1000' },
    heap: { type: 'string' },
    bin: { type: 'string' },
    dist: { type: 'boolean', default: false },
    log: { type: 'string' },
  },
});
const N = Number(values.names);
const EDITS = Number(values.edits);
const POLL = Number(values.poll);
const HEAP = values.heap ? [`--max-old-space-size=${Number(values.heap)}`] : [];
const BIN = resolve(values.bin ?? resolve(import.meta.dirname, '../bin/sakimori.js'));
const ENV = { ...process.env, ...(values.dist ? {} : { SAKIMORI_SOURCES: '1' }) };
if (!(N > 0) || !(EDITS >= 1) || !(POLL > 0)) throw new Error('--names, --edits and --poll take positive numbers');

const mainCpuMs = (pid: number) => Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
function status(pid: number, key: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

interface Row {
  step: string;
  cmdMs: number;
  servedMs: number;
  cpuMs: number;
  rss: number;
  peak: number;
  wholeReads: number;
}

const dir = mkdtempSync(join(tmpdir(), 'sakimori-rpz-serve-bench-'));
const file = join(dir, 'cc.zone');
const sakimori: Sakimori = { bin: BIN, cwd: dir, nodeArgs: HEAP, env: ENV };
let serve: ChildProcess | undefined;
let log = '';
const wholeReads = () => (log.match(/reading zone file [^"]* whole/g) ?? []).length;
const wholeReadsBefore = (rs: Row[]) => rs.reduce((n, r) => n + r.wholeReads, 0);
const rows: Row[] = [];
const load0 = loadavg();
try {
  await writeZone(file, N);
  writeFileSync(join(dir, 'sakimori.yaml'), `rpz:\n  watchInterval: ${POLL}ms\n`);
  const port = await freePort();
  const t0 = performance.now();
  serve = startRpzServe(sakimori, port, file, { logLevel: 'info', stderr: 'pipe' });
  serve.stderr!.setEncoding('utf8').on('data', (s: string) => (log += s));
  const pid = serve.pid!;
  await untilServed(port, 1, { limitMs: 900_000 });
  const loadMs = performance.now() - t0;
  const loadPeak = status(pid, 'VmHWM');
  await new Promise((r) => setTimeout(r, 3000)); // the start's collections settle
  rows.push({ step: `load (${Math.round(loadMs)} ms)`, cmdMs: NaN, servedMs: NaN, cpuMs: mainCpuMs(pid), rss: status(pid, 'VmRSS'), peak: loadPeak, wholeReads: 0 });
  let serial = 1;
  for (let i = 0; i < EDITS; i++) {
    const reads0 = wholeReads();
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    const c0 = mainCpuMs(pid);
    const cmdMs = await cli(sakimori, ['rpz', 'add', '--zone', ZONE, '--file', file, '--name', `added-${i}.example`, '--action', 'nxdomain']);
    serial++;
    const servedMs = await untilServed(port, serial, { limitMs: 900_000 });
    await new Promise((r) => setTimeout(r, 500));
    rows.push({ step: i === 0 ? 'rpz add, whole file' : 'rpz add, in place', cmdMs, servedMs, cpuMs: mainCpuMs(pid) - c0, rss: status(pid, 'VmRSS'), peak: status(pid, 'VmHWM'), wholeReads: wholeReads() - reads0 });
    process.stderr.write(`${JSON.stringify(rows.at(-1))}\n`);
  }
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
  const c0 = mainCpuMs(pid);
  const a0 = performance.now();
  const axfr = await requestTransfer({ host: '127.0.0.1', port }, { zone: ZONE, type: 'AXFR', timeoutMs: 600_000 });
  const axfrMs = performance.now() - a0;
  if (axfr.outcome.kind !== 'full' || axfr.outcome.records.length !== N + 1 + EDITS) throw new Error(`AXFR: ${axfr.outcome.kind}, ${axfr.outcome.kind === 'full' ? axfr.outcome.records.length : 0} records, expected ${N + 1 + EDITS}`);
  rows.push({ step: `AXFR (${axfr.messages} messages)`, cmdMs: NaN, servedMs: axfrMs, cpuMs: mainCpuMs(pid) - c0, rss: status(pid, 'VmRSS'), peak: status(pid, 'VmHWM'), wholeReads: wholeReads() - wholeReadsBefore(rows) });
} finally {
  await stop(serve);
  if (values.log) writeFileSync(values.log, log);
  rmSync(dir, { recursive: true, force: true });
}
const f = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—');
const lines = [
  `\`rpz serve\` with ${N.toLocaleString('en-US')} names, poll ${POLL} ms`,
  '',
  '| step | rpz add (ms) | served after it / AXFR (ms) | provider main-thread CPU (ms) | RSS after (MiB) | peak (MiB) | whole-file reads |',
  '|---|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.step} | ${f(r.cmdMs)} | ${f(r.servedMs)} | ${f(r.cpuMs)} | ${f(r.rss)} | ${f(r.peak)} | ${r.wholeReads} |`),
];
process.stdout.write(`${lines.join('\n')}\n\nload average at the start ${load0.map((x) => x.toFixed(1)).join(' ')}, at the end ${loadavg().map((x) => x.toFixed(1)).join(' ')}; ${values.dist ? 'dist/' : 'sources through tsx'}; ${BIN}\n`);
