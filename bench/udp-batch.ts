/**
 * Batched UDP I/O benchmark (issue 3, performance, phase 1): how many queries/s a Node
 * process can answer at all, before any DNS policy work, with Node's dgram against the
 * recvmmsg/sendmmsg addon (src/dns/server/udp-batch.ts), and against Unbound answering
 * the same names from local-zone data. Every contender answers NXDOMAIN to every query;
 * dnsperf drives them with the flags bench/dns.ts uses, in one run on this machine.
 *
 *   npx tsx bench/udp-batch.ts [--seconds 10] [--clients 16] [--outstanding 300]
 *                              [--only dgram,wrapper-dgram,native,native-2t,unbound-1t,unbound-2t]
 *                              [--batch 64 (datagrams per recvmmsg)] [--no-append]
 *
 * Contenders: dgram (the minimal responder: 'message' -> socket.send(msg, port, address)),
 * wrapper-dgram (the wrapper's fallback: dgram with a synchronous lookup), native (the
 * addon, one thread), native-2t (the addon in 2 worker threads, one SO_REUSEPORT socket
 * each), unbound-1t / unbound-2t (Debian's Unbound, local-zone "nx.bench." static).
 * Needs dnsperf and unbound. Loopback only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, workerData } from 'node:worker_threads';
import { openUdpBatch, type Datagrams } from '../src/dns/server/udp-batch.ts';
import { answers, freePort, startUnbound } from '../test/peers/unbound.ts';
import { appendSection, machineFacts, helpIfAsked, sectionHead } from './run.ts';

helpIfAsked(import.meta.url);

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    clients: { type: 'string', default: '16' },
    outstanding: { type: 'string', default: '300' },
    only: { type: 'string' },
    batch: { type: 'string', default: '64' },
    'no-append': { type: 'boolean', default: false },
    // internal: run as a responder (a child process), or as one of its worker threads
    serve: { type: 'string' },
    port: { type: 'string' },
  },
});

// ---- the responders -------------------------------------------------------------------------

/**
 * Rewrites the query at data[o, o + n) in place into an NXDOMAIN answer (header + question,
 * RD kept, RA set) and returns its end, or -1 when it is not a well-formed one-question query.
 */
function nxdomain(b: Uint8Array, o: number, n: number): number {
  if (n < 17 || (b[o + 2]! & 0x80) !== 0 || b[o + 4] !== 0 || b[o + 5] !== 1) return -1;
  let p = o + 12;
  const end = o + n;
  while (p < end && b[p] !== 0) {
    if (b[p]! > 63) return -1;
    p += b[p]! + 1;
  }
  p += 5;
  if (p > end) return -1;
  b[o + 2] = (b[o + 2]! & 0x01) | 0x80;
  b[o + 3] = 0x83;
  b.fill(0, o + 6, o + 12);
  return p;
}

function answerBatch(d: Datagrams): void {
  for (let i = 0; i < d.count; i++) {
    const o = d.offset(i);
    const end = nxdomain(d.data, o, d.length(i));
    if (end > 0) d.reply(i, d.data, o, end);
  }
}

async function serve(mode: string, port: number): Promise<void> {
  if (mode === 'dgram') {
    const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
    s.on('message', (msg, rinfo) => {
      const end = nxdomain(msg, 0, msg.length);
      if (end > 0) s.send(msg, 0, end, rinfo.port, rinfo.address);
    });
    s.bind(port, '127.0.0.1');
    return;
  }
  if (mode === 'native-2t') {
    const boot = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(import.meta.url)}); })`;
    for (let t = 0; t < 2; t++) new Worker(boot, { eval: true, workerData: { port, batch: Number(args.batch) } });
    return;
  }
  await openUdpBatch({ host: '127.0.0.1', port, impl: mode === 'native' ? 'native' : 'dgram', batch: Number(args.batch), onBatch: answerBatch });
}

if (!isMainThread && (workerData as { port?: number } | null)?.port) {
  const w = workerData as { port: number; batch: number };
  await openUdpBatch({ host: '127.0.0.1', port: w.port, impl: 'native', reusePort: true, batch: w.batch, onBatch: answerBatch });
} else if (args.serve) {
  await serve(args.serve, Number(args.port));
} else if (isMainThread) {
  await main();
}

// ---- the run -----------------------------------------------------------------------------------

interface PerfResult {
  qps: number;
  p50ms: number;
  p99ms: number;
  lostPct: number;
}

async function main(): Promise<void> {
  const SECONDS = Number(args.seconds);
  const dir = mkdtempSync(join(tmpdir(), 'sakimori-bench-udp-'));
  const children = new Set<ChildProcess>();
  process.on('exit', () => {
    for (const c of children) c.kill('SIGKILL');
  });
  const log = (s: string) => process.stderr.write(`[bench udp-batch] ${s}\n`);
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  // 100,000 distinct names under nx.bench., looped by dnsperf.
  const lines: string[] = [];
  for (let i = 0; i < 100_000; i++) lines.push(`q${(i * 2654435761) >>> 0}.nx.bench A`);
  writeFileSync(join(dir, 'queries.txt'), lines.join('\n') + '\n');

  async function dnsperf(port: number): Promise<PerfResult> {
    const out = join(dir, 'perf.out');
    const c = spawn('dnsperf', ['-s', '127.0.0.1', '-p', String(port), '-d', join(dir, 'queries.txt'), '-l', String(SECONDS), '-c', args.clients!, '-q', args.outstanding!, '-t', '2', '-v'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(c);
    const sink = createWriteStream(out);
    c.stdout!.pipe(sink);
    await new Promise<void>((resolve) => c.on('exit', () => resolve()));
    children.delete(c);
    await new Promise<void>((r) => sink.close(() => r()));
    const lat: number[] = [];
    let summary = '';
    for await (const line of createInterface({ input: createReadStream(out) })) {
      if (line.startsWith('> ')) {
        const v = Number(line.slice(line.lastIndexOf(' ') + 1));
        if (!line.startsWith('> T') && Number.isFinite(v)) lat.push(v);
      } else summary += `${line}\n`;
    }
    const f = new Float64Array(lat).sort();
    const pct = (p: number) => (f.length ? f[Math.min(f.length - 1, Math.floor(f.length * p))]! * 1000 : NaN);
    return {
      qps: Number(/Queries per second:\s+([\d.]+)/.exec(summary)?.[1] ?? NaN),
      lostPct: Number(/Queries lost:\s+\d+ \(([\d.]+)%\)/.exec(summary)?.[1] ?? NaN),
      p50ms: pct(0.5),
      p99ms: pct(0.99),
    };
  }

  async function responder(mode: string): Promise<PerfResult> {
    const port = await freePort();
    const c = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--serve', mode, '--port', String(port), '--batch', args.batch!], { stdio: ['ignore', 'inherit', 'inherit'] });
    children.add(c);
    try {
      const until = Date.now() + 60_000;
      while (!(await answers('127.0.0.1', port, 'ready.nx.bench', 300))) {
        if (c.exitCode !== null || Date.now() > until) throw new Error(`responder ${mode} did not start`);
        await sleep(200);
      }
      return await dnsperf(port);
    } finally {
      c.kill('SIGKILL');
      children.delete(c);
    }
  }

  async function unbound(threads: number): Promise<PerfResult> {
    const u = await startUnbound({ localZones: ['"nx.bench." static'], threads, extra: ['num-queries-per-thread: 4096', 'so-rcvbuf: 4m', 'so-sndbuf: 4m'] });
    try {
      return await dnsperf(u.port);
    } finally {
      await u.close();
    }
  }

  const contenders: { key: string; name: string; run: () => Promise<PerfResult> }[] = [
    { key: 'dgram', name: "Node dgram, minimal ('message' -> send), 1 thread", run: () => responder('dgram') },
    { key: 'wrapper-dgram', name: 'udp-batch wrapper, dgram fallback, 1 thread', run: () => responder('wrapper-dgram') },
    { key: 'native', name: 'udp-batch addon (recvmmsg/sendmmsg), 1 thread', run: () => responder('native') },
    { key: 'native-2t', name: 'udp-batch addon, 2 worker threads (SO_REUSEPORT)', run: () => responder('native-2t') },
    { key: 'unbound-1t', name: 'Unbound, local-zone static, 1 thread', run: () => unbound(1) },
    { key: 'unbound-2t', name: 'Unbound, local-zone static, 2 threads', run: () => unbound(2) },
  ];
  const only = args.only?.split(',');
  const load0 = loadavg();
  const started = Date.now();
  const rows: { key: string; name: string; perf: PerfResult; load: number }[] = [];
  for (const c of contenders) {
    if (only && !only.includes(c.key)) continue;
    log(`${c.key} ...`);
    const perf = await c.run();
    rows.push({ key: c.key, name: c.name, perf, load: loadavg()[0]! });
    log(`${c.key}: ${perf.qps.toFixed(0)} q/s, p50 ${perf.p50ms.toFixed(2)} ms, p99 ${perf.p99ms.toFixed(2)} ms, lost ${perf.lostPct}%`);
  }
  const load1 = loadavg();

  const fmt = (v: number, d = 0) => (Number.isFinite(v) ? v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '-');
  const by = (k: string) => rows.find((r) => r.key === k)?.perf.qps ?? NaN;
  const ratio = (a: number, b: number) => (Number.isFinite(a / b) ? (a / b).toFixed(2) : '-');
  const table = [
    '| contender | queries/s | p50 (ms) | p99 (ms) | lost | vs dgram | vs Unbound 1t | vs Unbound 2t | load (1 min) after |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.name} | ${fmt(r.perf.qps)} | ${fmt(r.perf.p50ms, 2)} | ${fmt(r.perf.p99ms, 2)} | ${r.perf.lostPct}% | ${ratio(r.perf.qps, by('dgram'))} | ${ratio(r.perf.qps, by('unbound-1t'))} | ${ratio(r.perf.qps, by('unbound-2t'))} | ${r.load.toFixed(1)} |`,
    ),
  ].join('\n');
  const reproduce = `npx tsx bench/udp-batch.ts --seconds ${SECONDS} --clients ${args.clients} --outstanding ${args.outstanding} --batch ${args.batch}${args.only ? ` --only ${args.only}` : ''}`;
  const md = [
    ...sectionHead(
      'dns udp-batch',
      started,
      `Machine: ${machineFacts()}; load average (1/5/15 min) ${load0.map((l) => l.toFixed(1)).join('/')} at start, ${load1.map((l) => l.toFixed(1)).join('/')} at end (shared machine: other engineers' jobs run too). ${((Date.now() - started) / 1000).toFixed(0)} s in all.`,
      reproduce,
    ),
    table,
    '',
    '- Every contender answers NXDOMAIN to every query (100,000 distinct names under nx.bench., looped); no policy, no forwarding: this measures the UDP path alone, the floor under the DNS firewall\'s block path.',
    `- dnsperf (one thread) on the same 2 cores: -c ${args.clients} -q ${args.outstanding} -l ${SECONDS} -t 2 -v, as bench/dns.ts; p50/p99 from every answer's latency.`,
    '- Node responders run as their own process under tsx; "2 worker threads" opens one SO_REUSEPORT socket per thread on the same port, the kernel spreading clients between them by their address hash.',
    '- Contenders run one after another: compare ratios within this run, not absolute figures across runs.',
    '',
  ].join('\n');
  process.stdout.write(md);
  if (!args['no-append']) {
    appendSection(md);
    log('appended to docs/BENCHMARKS.md');
  }
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
}
