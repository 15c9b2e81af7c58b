/**
 * Memory of one policy zone in a process with worker threads: each worker loading its own
 * copy (how the data plane runs today) against the main thread loading it once and the
 * workers reading the same SharedArrayBuffers (RpzZone.toShared / fromShared).
 *
 *   npx tsx --expose-gc bench/policy-memory.ts                        # 1 M names, 2 workers
 *   npx tsx --expose-gc bench/policy-memory.ts --names 10000000 --threads 2
 *
 * Each mode runs in a fresh process: "none" (the workers started, no zone: what the
 * threads cost), "copy" (every worker loads the file), "shared" (the main thread loads it
 * and posts the shared tables). Workers boot as core/runtime.ts says (tsx here, since the
 * bench runs from the sources). Figures: the process's RSS (every thread) after each
 * thread ran a full GC, and the time until every worker answered from its zone. Every
 * worker checks its zone: 1000 listed names must hit, 1000 unlisted must not.
 */
import { createWriteStream, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { workerBoot } from '../src/core/runtime.ts';
import { RRType } from '../src/dns/wire/index.ts';
import { describeLoad, loadRpzFile, NO_MATCH, PolicyEngine, RpzZone, type SharedRpzZone } from '../src/dns/policy/index.ts';
import { helpIfAsked } from './run.ts';

helpIfAsked(import.meta.url);

const ORIGIN = 'cc.rpz.bench';
const gc = (globalThis as { gc?: () => void }).gc;

interface WorkerJob {
  mode: 'none' | 'copy' | 'shared';
  file: string;
  shared?: SharedRpzZone;
  listed: string[];
  unlisted: string[];
}

/** Names as the generator writes them: name i is listed (exact, or under a wildcard every 10th). */
function nameOf(i: number): string {
  let s = (Math.imul(i + 1, 0x9e3779b1) >>> 0).toString(36);
  s += (Math.imul(i + 7, 0x85ebca6b) >>> 0).toString(36).slice(0, (i % 6) + 1);
  return `${s}${i.toString(36)}.${['com', 'net', 'org', 'jp', 'info', 'biz', 'io', 'xyz', 'top', 'site'][i % 10]}`;
}
const queryOf = (i: number) => (i % 10 === 0 ? `www.${nameOf(i)}` : nameOf(i));

async function load(file: string): Promise<RpzZone> {
  const r = await loadRpzFile(file, { origin: ORIGIN });
  if (!r.ok) throw new Error(describeLoad(r).join('\n'));
  return r.zone;
}

function check(zone: RpzZone, job: WorkerJob): string | undefined {
  const e = new PolicyEngine({ zones: [zone] });
  for (const q of job.listed) if (e.decide(q, undefined, RRType.A) === NO_MATCH) return `${q} is listed but did not match`;
  for (const q of job.unlisted) if (e.decide(q, undefined, RRType.A) !== NO_MATCH) return `${q} is not listed but matched`;
  return undefined;
}

// ---- worker thread -------------------------------------------------------------------------
if (!isMainThread && workerData?.bench === 'policy-memory') {
  let zone: RpzZone | undefined;
  parentPort!.on('message', async (job: WorkerJob | 'gc') => {
    if (job === 'gc') {
      gc?.();
      return parentPort!.postMessage({ type: 'gc' });
    }
    try {
      if (job.mode === 'copy') zone = await load(job.file);
      else if (job.mode === 'shared') zone = RpzZone.fromShared(job.shared!);
      const bad = zone ? check(zone, job) : undefined;
      parentPort!.postMessage({ type: 'ready', bad });
    } catch (err) {
      parentPort!.postMessage({ type: 'ready', bad: String((err as Error).stack ?? err) });
    }
  });
}

// ---- one mode, in a fresh process -----------------------------------------------------------
async function child(mode: WorkerJob['mode'], file: string, threads: number, names: number): Promise<void> {
  const t0 = performance.now();
  const sample = Array.from({ length: 1000 }, (_, k) => Math.floor((k * names) / 1000));
  const job: WorkerJob = { mode, file, listed: sample.map(queryOf), unlisted: sample.map((i) => `not-${nameOf(i)}`) };
  let main: RpzZone | undefined;
  if (mode === 'shared') {
    main = await load(file);
    job.shared = main.toShared();
  }
  const boot = workerBoot(new URL(import.meta.url));
  const workers = Array.from({ length: threads }, () => new Worker(boot, { eval: true, workerData: { bench: 'policy-memory' } }));
  const ask = (w: Worker, msg: unknown, type: string) =>
    new Promise<{ type: string; bad?: string; message?: string }>((resolve, reject) => {
      const on = (m: { type: string; bad?: string; message?: string }) => {
        if (m.type === 'fatal') reject(new Error(m.message));
        if (m.type !== type && m.type !== 'fatal') return;
        w.off('message', on);
        resolve(m);
      };
      w.on('message', on);
      w.once('error', reject);
      w.postMessage(msg);
    });
  const replies = await Promise.all(workers.map((w) => ask(w, job, 'ready')));
  const bad = replies.find((r) => r.bad)?.bad;
  if (bad) throw new Error(bad);
  const readyS = (performance.now() - t0) / 1000;
  await Promise.all(workers.map((w) => ask(w, 'gc', 'gc')));
  gc?.();
  await new Promise((r) => setTimeout(r, 1000));
  const rss = Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;
  const m = process.memoryUsage();
  const tableMiB = (main ?? (mode === 'none' ? undefined : await load(file)))?.stats().tableBytes;
  process.stdout.write(`${JSON.stringify({ mode, rss, readyS, mainHeap: m.heapUsed / 2 ** 20, mainExternal: m.external / 2 ** 20, sharedBytes: m.arrayBuffers / 2 ** 20, tableMiB: tableMiB === undefined ? undefined : tableMiB / 2 ** 20 })}\n`);
  await Promise.all(workers.map((w) => w.terminate()));
}

// ---- driver ----------------------------------------------------------------------------------
async function driver(): Promise<void> {
  const args = process.argv.slice(2);
  const opt = (k: string, d: string) => {
    const i = args.indexOf(`--${k}`);
    return i === -1 ? d : args[i + 1]!;
  };
  if (!gc) {
    console.error('run with --expose-gc (npx tsx --expose-gc bench/policy-memory.ts) so memory is measured after a full GC');
    process.exit(2);
  }
  const names = Number(opt('names', '1000000'));
  const threads = Number(opt('threads', '2'));
  if (args.includes('--child')) return child(opt('child', 'none') as WorkerJob['mode'], opt('file', ''), threads, names);
  const dir = await mkdtemp(join(tmpdir(), 'sakimori-policy-memory-'));
  try {
    const file = join(dir, 'cc.rpz');
    const out = createWriteStream(file);
    out.write(`$TTL 300\n$ORIGIN ${ORIGIN}.\n@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 60\n`);
    // 90% exact names, 10% wildcards (`*.name`): the "mixed" shape of policy.bench.ts.
    for (let i = 0; i < names; i++) if (!out.write(`${i % 10 === 0 ? '*.' : ''}${nameOf(i)} CNAME .\n`)) await once(out, 'drain');
    out.end();
    await once(out, 'finish');
    const load0 = loadavg()[0]!;
    const rows: Record<string, number | string | undefined>[] = [];
    for (const mode of ['none', 'copy', 'shared'] as const) {
      const c = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--child', mode, '--file', file, '--threads', String(threads), '--names', String(names)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      c.stdout.on('data', (b: Buffer) => (text += b.toString()));
      const [code] = (await once(c, 'exit')) as [number];
      if (code !== 0) throw new Error(`${mode}: child exited with ${code}`);
      rows.push(JSON.parse(text.trim().split('\n').pop()!));
    }
    const none = rows[0]!.rss as number;
    const f = (n: unknown, d = 0) => (typeof n === 'number' ? n.toFixed(d) : '—');
    console.log(`${names.toLocaleString('en-US')} names, ${threads} worker threads; Node ${process.version}, ${cpus().length} x ${cpus()[0]?.model}; load average ${load0.toFixed(1)} at start, ${loadavg()[0]!.toFixed(1)} at end`);
    console.log('| mode | RSS (MiB) | over "none" (MiB) | ready (s) | name tables (MiB) |');
    console.log('|---|---:|---:|---:|---:|');
    for (const r of rows) console.log(`| ${r.mode} | ${f(r.rss)} | ${f((r.rss as number) - none)} | ${f(r.readyS, 1)} | ${f(r.tableMiB, 1)} |`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (isMainThread) await driver();
