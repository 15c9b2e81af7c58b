/**
 * The benchmark runner every Sakimori benchmark uses: runs a "sakimori"
 * command and an "anchor" command (the established tool we measure against)
 * in alternation for N rounds on this machine, takes the median of every
 * metric per side, and reports sakimori/anchor.
 *
 * Each command prints metrics on stdout, one JSON object per line:
 *   {"metric":"writes/s","value":123456,"higherIsBetter":true,"unit":"rows/s"}
 * Other stdout lines are ignored; stderr passes through (progress).
 *
 *   npx tsx bench/run.ts --name store --rounds 3 --sakimori "<cmd>" --anchor "<cmd>"
 *     [--sakimori-label "SQLite"] [--anchor-label "PostgreSQL 15"] [--note "..."] [--no-append]
 *
 * The result table goes to stdout and, unless --no-append, is appended as a
 * section to docs/BENCHMARKS.md with the date, the machine and the command
 * line that reproduces it.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export interface Metric {
  metric: string;
  value: number;
  higherIsBetter: boolean;
  unit?: string;
}

export interface BenchOptions {
  name: string;
  rounds: number;
  sakimori: string;
  anchor: string;
  sakimoriLabel?: string;
  anchorLabel?: string;
  /** Shown under the table: what the sides are, settings that matter. */
  notes?: string[];
  /** The command line that reproduces this run; default: the bench/run.ts invocation. */
  reproduce?: string;
  /** Append to docs/BENCHMARKS.md (default true). */
  append?: boolean;
  env?: NodeJS.ProcessEnv;
}

export interface MetricSummary {
  metric: string;
  unit: string | undefined;
  higherIsBetter: boolean;
  sakimori: number[];
  anchor: number[];
  sakimoriMedian: number;
  anchorMedian: number;
  /** sakimori / anchor. */
  ratio: number;
}

export interface BenchResult {
  options: BenchOptions;
  startedAt: Date;
  seconds: number;
  metrics: MetricSummary[];
  markdown: string;
}

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BENCHMARKS_MD = join(REPO_ROOT, 'docs', 'BENCHMARKS.md');

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length === 0 ? NaN : s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Parses the metric lines of a command's stdout. */
export function parseMetrics(stdout: string): Metric[] {
  const out: Metric[] = [];
  for (const line of stdout.split('\n')) {
    const t = line.trim();
    if (!t.startsWith('{')) continue;
    let m: unknown;
    try {
      m = JSON.parse(t);
    } catch {
      continue;
    }
    const r = m as Partial<Metric>;
    if (typeof r.metric === 'string' && typeof r.value === 'number' && Number.isFinite(r.value)) {
      out.push({ metric: r.metric, value: r.value, higherIsBetter: r.higherIsBetter !== false, ...(typeof r.unit === 'string' ? { unit: r.unit } : {}) });
    }
  }
  return out;
}

function runCommand(cmd: string, env: NodeJS.ProcessEnv | undefined): Promise<Metric[]> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', cmd], { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (s: string) => (stdout += s));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (code !== 0) return reject(new Error(`benchmark command failed (${signal ?? `exit ${code}`}): ${cmd}\n${stdout.slice(-2000)}`));
      const metrics = parseMetrics(stdout);
      if (metrics.length === 0) return reject(new Error(`benchmark command printed no metric lines: ${cmd}\n${stdout.slice(-2000)}`));
      resolve(metrics);
    });
  });
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const abs = Math.abs(v);
  if (abs >= 1000) return Math.round(v).toLocaleString('en-US');
  if (abs >= 100) return v.toFixed(0);
  if (abs >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

function verdict(m: MetricSummary): string {
  if (!Number.isFinite(m.ratio)) return '';
  const better = m.higherIsBetter ? m.ratio : 1 / m.ratio;
  if (better > 1.05) return `sakimori ${better.toFixed(2)}x better`;
  if (better < 1 / 1.05) return `sakimori ${(1 / better).toFixed(2)}x worse`;
  return 'par (within 5%)';
}

export function machineFacts(): string {
  const cpu = cpus();
  return [
    `${cpu.length} x ${cpu[0]?.model.trim() ?? 'unknown CPU'}`,
    `${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM`,
    `Linux ${release()}`,
    `Node ${process.version}`,
  ].join(', ');
}

/** The machine's CPU time so far (/proc/stat, all CPUs, in clock ticks): all of it, and what the hypervisor took (steal). */
export function cpuTicks(): { total: number; steal: number } {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    return { total: f.slice(0, 8).reduce((a, b) => a + b, 0), steal: f[7] ?? 0 };
  } catch {
    return { total: 0, steal: 0 };
  }
}

/** "; N% of the CPU time taken by the hypervisor (steal)" between two cpuTicks(), for the machine line; "" when there is none to tell. */
export function stealNote(from: { total: number; steal: number }, to: { total: number; steal: number }): string {
  const total = to.total - from.total;
  if (total <= 0) return '';
  return `; ${(((to.steal - from.steal) / total) * 100).toFixed(1)}% of the CPU time taken by the hypervisor (steal)`;
}

/**
 * The opening every benchmark section shares: the heading with its UTC time, the machine
 * line (with the load average as the caller words it), and the command that reproduces it.
 */
export function sectionHead(title: string, startedAt: Date | number, machineLine: string, reproduce: string): string[] {
  const at = new Date(startedAt).toISOString().slice(0, 16).replace('T', ' ');
  return [`## ${title} — ${at} UTC`, '', machineLine, '', 'Reproduce:', '', '```sh', reproduce, '```', ''];
}

export function renderTable(metrics: readonly MetricSummary[], labels: { sakimori: string; anchor: string }): string {
  const head = (side: 'sakimori' | 'anchor') => (labels[side] === side ? side : `${labels[side]} (${side})`);
  const rows = [
    `| metric | ${head('sakimori')} | ${head('anchor')} | sakimori/anchor | |`,
    '|---|---:|---:|---:|---|',
    ...metrics.map(
      (m) =>
        `| ${m.metric}${m.unit ? ` (${m.unit}${m.higherIsBetter ? '' : ', lower is better'})` : ''} | ${fmt(m.sakimoriMedian)} | ${fmt(m.anchorMedian)} | ${m.ratio.toFixed(2)} | ${verdict(m)} |`,
    ),
  ];
  return rows.join('\n');
}

function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

export async function runBench(opts: BenchOptions): Promise<BenchResult> {
  const startedAt = new Date();
  const load0 = loadavg()[0]!;
  const ticks0 = cpuTicks();
  const per = { sakimori: [] as Metric[][], anchor: [] as Metric[][] };
  for (let round = 1; round <= opts.rounds; round++) {
    // Alternate which side goes first, so warm caches and a busy neighbour favour neither.
    const order: Array<'sakimori' | 'anchor'> = round % 2 === 1 ? ['sakimori', 'anchor'] : ['anchor', 'sakimori'];
    for (const side of order) {
      process.stderr.write(`[bench ${opts.name}] round ${round}/${opts.rounds}: ${side}\n`);
      per[side].push(await runCommand(opts[side], opts.env));
    }
  }
  const load1 = loadavg()[0]!;
  const steal = stealNote(ticks0, cpuTicks());

  const names: string[] = [];
  const info = new Map<string, { unit: string | undefined; higherIsBetter: boolean }>();
  for (const m of [...per.sakimori.flat(), ...per.anchor.flat()]) {
    if (!info.has(m.metric)) {
      names.push(m.metric);
      info.set(m.metric, { unit: m.unit, higherIsBetter: m.higherIsBetter });
    }
  }
  const values = (side: 'sakimori' | 'anchor', name: string) => per[side].flatMap((r) => r.filter((m) => m.metric === name).map((m) => m.value));
  const metrics: MetricSummary[] = names.map((name) => {
    const s = values('sakimori', name);
    const a = values('anchor', name);
    const sm = median(s);
    const am = median(a);
    return { metric: name, ...info.get(name)!, sakimori: s, anchor: a, sakimoriMedian: sm, anchorMedian: am, ratio: sm / am };
  });

  const seconds = (Date.now() - startedAt.getTime()) / 1000;
  const labels = { sakimori: opts.sakimoriLabel ?? 'sakimori', anchor: opts.anchorLabel ?? 'anchor' };
  const reproduce =
    opts.reproduce ??
    ['npx tsx bench/run.ts', '--name', opts.name, '--rounds', String(opts.rounds), '--sakimori', opts.sakimori, '--anchor', opts.anchor].map((a, i) => (i === 0 ? a : quote(a))).join(' ');
  const markdown = [
    ...sectionHead(
      opts.name,
      startedAt,
      `Machine: ${machineFacts()}; load average ${load0.toFixed(1)} at start, ${load1.toFixed(1)} at end${steal}.\nRounds: ${opts.rounds}, sides alternating; medians shown; ${seconds.toFixed(0)} s in all.`,
      reproduce,
    ),
    renderTable(metrics, labels),
    '',
    '<details><summary>every round</summary>',
    '',
    ...metrics.map((m) => `- ${m.metric}: sakimori ${m.sakimori.map(fmt).join(', ')}; anchor ${m.anchor.map(fmt).join(', ')}`),
    '',
    '</details>',
    ...(opts.notes?.length ? ['', ...opts.notes.map((n) => `- ${n}`)] : []),
    '',
  ].join('\n');

  if (opts.append !== false) appendSection(markdown);
  return { options: opts, startedAt, seconds, metrics, markdown };
}

/**
 * `--help` / `-h` for every benchmark: prints the file's opening comment (what it measures,
 * its options, the peers it needs) and exits, before the benchmark parses its options.
 */
export function helpIfAsked(moduleUrl: string): void {
  if (!process.argv.slice(2).some((a) => a === '--help' || a === '-h')) return;
  const text = readFileSync(fileURLToPath(moduleUrl), 'utf8');
  const doc = /^\/\*\*\n([\s\S]*?)\n \*\//.exec(text)?.[1] ?? '';
  process.stdout.write(`${doc.replace(/^ \* ?/gm, '')}\n`);
  process.exit(0);
}

export function appendSection(markdown: string): void {
  if (!existsSync(BENCHMARKS_MD)) {
    mkdirSync(dirname(BENCHMARKS_MD), { recursive: true });
    writeFileSync(
      BENCHMARKS_MD,
      '# Benchmarks\n\nEach section is appended by `bench/run.ts`: Sakimori against an established tool (the anchor) on the same machine, sides alternating, medians of the rounds. Re-run the command in a section to reproduce it.\n\n',
    );
  }
  appendFileSync(BENCHMARKS_MD, '\n' + markdown);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      name: { type: 'string' },
      rounds: { type: 'string', default: '3' },
      sakimori: { type: 'string' },
      anchor: { type: 'string' },
      'sakimori-label': { type: 'string' },
      'anchor-label': { type: 'string' },
      note: { type: 'string', multiple: true },
      'no-append': { type: 'boolean', default: false },
    },
  });
  if (!values.name || !values.sakimori || !values.anchor) {
    console.error('usage: npx tsx bench/run.ts --name NAME --sakimori "CMD" --anchor "CMD" [--rounds 3] [--sakimori-label L] [--anchor-label L] [--note TEXT]... [--no-append]');
    process.exit(2);
  }
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) {
    console.error(`--rounds must be a whole number of at least 1, not '${values.rounds}'`);
    process.exit(2);
  }
  const result = await runBench({
    name: values.name,
    rounds,
    sakimori: values.sakimori,
    anchor: values.anchor,
    ...(values['sakimori-label'] ? { sakimoriLabel: values['sakimori-label'] } : {}),
    ...(values['anchor-label'] ? { anchorLabel: values['anchor-label'] } : {}),
    ...(values.note ? { notes: values.note } : {}),
    append: !values['no-append'],
  });
  process.stdout.write(result.markdown);
  if (!values['no-append']) process.stderr.write(`appended to ${BENCHMARKS_MD}\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  helpIfAsked(import.meta.url);
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
