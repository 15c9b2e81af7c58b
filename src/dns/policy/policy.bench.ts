/**
 * Benchmark of the RPZ policy engine: load time, memory, decide() throughput.
 *
 *   npx tsx --expose-gc src/dns/policy/policy.bench.ts                # 1 M names, both shapes, Map baseline
 *   npx tsx --expose-gc src/dns/policy/policy.bench.ts --names 10000000 --shape mixed --no-baseline
 *
 * Shapes: "mixed" = N trigger names, 90% exact `name CNAME .` and 10% `*.name CNAME .`;
 * "suffix" = N names each written twice, `name` and `*.name` (2N lines: what dnsdist's
 * SuffixMatchNode holds for N names, and how block lists are usually published as RPZ).
 * Memory is the growth of heapUsed + external (typed arrays and Buffers are external)
 * across the load, after a full GC, with nothing else retained.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadRpzFile, describeLoad, PolicyEngine, NO_MATCH } from './index.ts';
import { parseIp, Rng } from '../../core/index.ts';

const args = process.argv.slice(2);
const opt = (k: string, d: string) => {
  const i = args.indexOf(`--${k}`);
  return i === -1 ? d : args[i + 1]!;
};
const N = Number(opt('names', '1000000'));
const shapes = opt('shape', 'mixed,suffix').split(',') as ('mixed' | 'suffix')[];
const baseline = !args.includes('--no-baseline');
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  console.error('run with --expose-gc (npx tsx --expose-gc ...) so memory is measured after a full GC');
  process.exit(2);
}

// Deterministic names: 2-3 random labels of 4-12 characters and a TLD, ~22 characters.
function rng(seed: number): () => number {
  const g = new Rng(seed);
  return () => g.next();
}
const TLDS = ['com', 'net', 'org', 'info', 'jp', 'ru', 'cn', 'xyz', 'top', 'io'];
const ALPHA = 'abcdefghijklmnopqrstuvwxyz0123456789';
function makeName(r: () => number): string {
  const labels = 2 + Math.floor(r() * 2);
  const out: string[] = [];
  for (let l = 0; l < labels - 1; l++) {
    const len = 4 + Math.floor(r() * 9);
    let s = '';
    for (let i = 0; i < len; i++) s += ALPHA[Math.floor(r() * 36)];
    out.push(s);
  }
  out.push(TLDS[Math.floor(r() * TLDS.length)]!);
  return out.join('.');
}
const isWild = (i: number) => i % 10 === 9;
// Query names as the server gets them: flat one-byte strings (readQuery slices a Buffer).
const flat = (s: string) => Buffer.from(s, 'latin1').toString('latin1');

function mem() {
  gc!();
  gc!();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
}
const mb = (b: number) => (b / 1048576).toFixed(1);

async function writeZone(path: string, shape: 'mixed' | 'suffix'): Promise<void> {
  const w = createWriteStream(path);
  w.write('$TTL 300\n@ SOA ns.bench.rpz. hostmaster.bench.rpz. 1 3600 600 86400 60\n  NS ns.bench.rpz.\n');
  const r = rng(42);
  let buf = '';
  for (let i = 0; i < N; i++) {
    const n = makeName(r);
    if (shape === 'suffix') buf += `${n} CNAME .\n*.${n} CNAME .\n`;
    else buf += isWild(i) ? `*.${n} CNAME .\n` : `${n} CNAME .\n`;
    if (buf.length > 1 << 20) {
      if (!w.write(buf)) await once(w, 'drain');
      buf = '';
    }
  }
  w.write(buf);
  w.end();
  await once(w, 'finish');
}

function rate(label: string, names: string[], engine: PolicyEngine, expectHit: boolean, client?: ReturnType<typeof parseIp>): string {
  const rounds = Math.max(1, Math.floor(3_000_000 / names.length));
  // Warm up (JIT), then time.
  let hits = 0;
  for (let i = 0; i < names.length; i++) if (engine.decide(names[i]!, client, 1) !== NO_MATCH) hits++;
  if (expectHit ? hits !== names.length : hits !== 0) throw new Error(`${label}: ${hits} of ${names.length} matched, expected ${expectHit ? 'all' : 'none'}`);
  const t0 = process.hrtime.bigint();
  const c0 = process.cpuUsage();
  for (let k = 0; k < rounds; k++) for (let i = 0; i < names.length; i++) engine.decide(names[i]!, client, 1);
  const ns = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(c0);
  const per = ns / (rounds * names.length);
  const perCpu = ((cpu.user + cpu.system) * 1000) / (rounds * names.length);
  return `${label.padEnd(34)} ${(1000 / per).toFixed(2)} M decide/s  (${per.toFixed(0)} ns wall, ${perCpu.toFixed(0)} ns CPU each)`;
}

/** In a fresh process (so RSS means something): load the file, measure, run decide(). */
async function benchShape(path: string, shape: 'mixed' | 'suffix'): Promise<void> {
  const size = (await stat(path)).size;
  const before = mem();
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const r = await loadRpzFile(path, { origin: 'bench.rpz' });
  const loadMs = performance.now() - t0;
  const loadCpu = process.cpuUsage(c0);
  if (!r.ok) throw new Error(describeLoad(r).join('\n'));
  const engine = new PolicyEngine({ zones: [r.zone] });
  const after = mem();
  const s = r.zone.stats();
  const grow = after.heap + after.external - (before.heap + before.external);
  console.log(`\n== ${N.toLocaleString('en')} names, shape ${shape} (${r.records.toLocaleString('en')} records, file ${mb(size)} MB)`);
  console.log(`load                               ${(loadMs / 1000).toFixed(2)} s wall, ${((loadCpu.user + loadCpu.system) / 1e6).toFixed(2)} s CPU  (${((r.records / loadMs) * 1000 / 1e6).toFixed(2)} M records/s)`);
  console.log(`memory growth heap+external        ${mb(grow)} MB  (heap ${mb(after.heap - before.heap)}, external ${mb(after.external - before.external)}; tables ${mb(s.tableBytes)}; ${(grow / N).toFixed(1)} B/name)`);
  console.log(`process after load                 rss ${mb(after.rss)} MB, heapUsed ${mb(after.heap)} MB, external ${mb(after.external)} MB (before: rss ${mb(before.rss)}, heap ${mb(before.heap)}, external ${mb(before.external)})`);
  console.log(`triggers                           qname ${s.qname.toLocaleString('en')}, wildcard ${s.wildcard.toLocaleString('en')}, actions ${s.actions}`);

  // Query sets: every 97th listed name (hits), names below wildcards, fresh names (misses).
  const g = rng(42);
  const exact: string[] = [];
  const wild: string[] = [];
  const limit = 200_000;
  for (let i = 0; i < N && (exact.length < limit || wild.length < limit); i++) {
    const n = makeName(g);
    if (i % 7 !== 0) continue;
    if (shape === 'suffix' || !isWild(i)) {
      if (exact.length < limit) exact.push(flat(n));
    }
    if ((shape === 'suffix' || isWild(i)) && wild.length < limit) wild.push(flat(`www.x${i % 13}.${n}`));
  }
  const m = rng(7);
  const miss: string[] = [];
  // Under a TLD no list uses, so no wildcard can match by chance.
  for (let i = 0; i < limit; i++) miss.push(flat(`q${i}.${makeName(m)}.example`));
  console.log(rate('hit, exact name', exact, engine, true));
  console.log(rate('hit, wildcard (2 labels below)', wild, engine, true));
  console.log(rate('miss (no rule)', miss, engine, false));
  const client = parseIp('192.0.2.7');
  console.log(rate('miss, with client address', miss, engine, false, client));
  engine.configure({});
}

async function benchMap(): Promise<void> {
  const before = mem();
  const r = rng(42);
  const t0 = performance.now();
  const map = new Map<string, number>();
  for (let i = 0; i < N; i++) map.set(makeName(r), 0);
  const ms = performance.now() - t0;
  const after = mem();
  const grow = after.heap + after.external - (before.heap + before.external);
  console.log(`\n== baseline: Map<string, number> of the same ${N.toLocaleString('en')} names (no parsing)`);
  console.log(`fill                               ${(ms / 1000).toFixed(2)} s`);
  console.log(`memory growth heap+external        ${mb(grow)} MB  (${(grow / N).toFixed(1)} B/name)`);
  if (map.size === 0) console.log('');
}

const child = args.indexOf('--child');
if (child !== -1) {
  const what = args[child + 1]!;
  if (what === 'map') await benchMap();
  else await benchShape(args[child + 2]!, what as 'mixed' | 'suffix');
} else {
  const dir = await mkdtemp(join(tmpdir(), 'sakimori-policy-bench-'));
  const run = (...a: string[]) =>
    new Promise<void>((res, rej) => {
      const p = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--names', String(N), '--child', ...a], { stdio: 'inherit' });
      p.on('exit', (code) => (code === 0 ? res() : rej(new Error(`child ${a.join(' ')} exited with ${code}`))));
    });
  try {
    console.log(`node ${process.version}, ${process.arch}, ${cpus().length} CPU(s) ${cpus()[0]?.model ?? ''}; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}; names ${N.toLocaleString('en')}`);
    for (const shape of shapes) {
      const path = join(dir, `bench-${shape}.rpz`);
      await writeZone(path, shape);
      await run(shape, path);
      await rm(path);
    }
    if (baseline) await run('map');
    console.log(`load average at the end ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
