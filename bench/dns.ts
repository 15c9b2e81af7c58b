/**
 * DNS firewall benchmark (issue 3): Sakimori against Unbound (the list as an RPZ zone,
 * 2 threads) and dnsdist (the list as a SuffixMatchNode), in one run on this machine,
 * driven by dnsperf. Block path: queries for listed names (each answered NXDOMAIN by
 * policy). Pass-through: unlisted names forwarded to one local Unbound answering from
 * local data (the same upstream for every contender, so the upstream is not what is
 * measured). Recorded per contender and path: queries/s, p50/p99 latency (from dnsperf -v),
 * lost queries, the server's CPU time per answered query (/proc/PID/stat utime + stime,
 * every thread), resident memory after the list is loaded and after the rounds, load time. Also Sakimori's
 * policy swap under load (its zone file rewritten mid-run: lost queries must be 0).
 *
 * Every contender is loaded first (Unbound, dnsdist, then Sakimori once per --threads x
 * --detect value, each with its own copy of the zone file); they stay up, idle while not
 * measured. Then --rounds rounds: in each, dnsperf runs against every contender on each of
 * its paths in turn, the order rotated by one contender per round (and the two paths
 * swapped every other round), so a busy neighbour or a warm cache favours no one. The
 * table shows the median of the rounds per row; every round's figure is listed under it.
 *
 * Latency at the same offered load: dnsperf keeps --outstanding queries in flight, so in
 * the throughput runs each server's latency is its queue (Little's law: in-flight /
 * answered per second), and a server that drops queries holds fewer in flight (each lost
 * query sits out dnsperf's 2 s time-out) and so shows a lower p99. With --rate N (default
 * 40000; 0: off) each round also sends N queries/s (dnsperf -Q) to every contender on each
 * path, below every contender's capacity, and a second table compares p50/p99 there.
 *
 * The host's share: this kind of machine is a VM whose hypervisor takes 5-45% of the CPU
 * time under load (steal), changing within a minute; every contender's q/s and p99 follow
 * it. Each run's steal is recorded (/proc/stat), listed per round, and a third table holds
 * it equal: q/s and p99 at the run's median steal (a least-squares line over each
 * contender's rounds). More, shorter rounds make that line firmer.
 *
 *   npx tsx bench/dns.ts [--names 1000000] [--seconds 15] [--rounds 3] [--clients 16] [--outstanding 300]
 *                        [--threads 0,2 (Sakimori once per value)] [--only unbound|dnsdist|sakimori] [--no-swap] [--no-append]
 *                        [--detect on|off|off,on (DNS detection in Sakimori; a list runs it once per value)] [--rate 40000 (q/s; 0: off)]
 *                        [--warmup 3 (s of dnsperf on every contender and path before the rounds, not counted; 0: none)]
 *
 * Sakimori runs through bin/sakimori.js: from dist/ when dist/ is current (`npm run build`
 * right before), else the sources through tsx; the section says which.
 * Needs Debian's unbound, dnsdist, dnsperf and dnsutils. Loopback only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, copyFileSync, createReadStream, createWriteStream, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { answers, freePort, startUnbound } from '../test/peers/unbound.ts';
import { appendSection, cpuTicks, machineFacts, helpIfAsked, median, sectionHead, stealNote } from './run.ts';

helpIfAsked(import.meta.url);

const { values: args } = parseArgs({
  options: {
    names: { type: 'string', default: '1000000' },
    seconds: { type: 'string', default: '15' },
    rounds: { type: 'string', default: '3' },
    clients: { type: 'string', default: '16' },
    outstanding: { type: 'string', default: '300' },
    threads: { type: 'string', default: '0,2' },
    only: { type: 'string' },
    'no-swap': { type: 'boolean', default: false },
    'no-append': { type: 'boolean', default: false },
    detect: { type: 'string', default: 'on' },
    rate: { type: 'string', default: '40000' },
    warmup: { type: 'string', default: '3' },
  },
});
const DETECT = args.detect!.split(',').map((d) => {
  if (d !== 'on' && d !== 'off') throw new Error(`--detect ${args.detect}: each value is on or off`);
  return d;
});
const NAMES = Number(args.names);
const SECONDS = Number(args.seconds);
const ROUNDS = Number(args.rounds);
const RATE = Number(args.rate);
const WARMUP = Number(args.warmup);
if (!(WARMUP >= 0)) throw new Error(`--warmup ${args.warmup}: seconds, 0 or more`);
if (!Number.isInteger(RATE) || RATE < 0) throw new Error(`--rate ${args.rate}: queries per second, a whole number (0: no fixed-rate runs)`);
/** A fixed-rate run: long enough for a p99 of many answers, short enough not to double the bench. */
const RATE_SECONDS = Math.min(SECONDS, 10);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error(`--rounds ${args.rounds}: a whole number of at least 1`);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'sakimori-bench-dns-'));
const children = new Set<ChildProcess>();
/** The last 3,000 characters each server wrote to stderr. */
const stderrOf = new Map<ChildProcess, () => string>();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});
const log = (s: string) => process.stderr.write(`[bench dns] ${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---- data ---------------------------------------------------------------------------------

/** Deterministic names: 6-14 random letters/digits under one of ten TLDs. */
function generate(): void {
  let seed = 0x5eed;
  const rnd = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 4294967296;
  };
  const tlds = ['com', 'net', 'org', 'info', 'xyz', 'top', 'ru', 'cn', 'jp', 'biz'];
  const alpha = 'abcdefghijklmnopqrstuvwxyz0123456789';
  const seen = new Set<string>();
  const names: string[] = [];
  while (names.length < NAMES) {
    const len = 6 + Math.floor(rnd() * 9);
    let s = '';
    for (let i = 0; i < len; i++) s += alpha[Math.floor(rnd() * alpha.length)];
    s += `.${tlds[Math.floor(rnd() * tlds.length)]}`;
    if (seen.has(s)) continue;
    seen.add(s);
    names.push(s);
  }
  seen.clear();
  const rpz = createWriteStream(join(dir, 'cc.rpz'));
  rpz.write('$TTL 300\n$ORIGIN cc.rpz.bench.\n@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 60\n@ NS localhost.\n');
  const list = createWriteStream(join(dir, 'names.txt'));
  for (let i = 0; i < names.length; i += 10_000) {
    const chunk = names.slice(i, i + 10_000);
    rpz.write(chunk.map((n) => `${n} CNAME .\n`).join(''));
    list.write(chunk.map((n) => `${n}\n`).join(''));
  }
  rpz.end();
  list.end();
  const q: string[] = [];
  for (let i = 0; i < 200_000; i++) q.push(`${names[Math.floor(rnd() * names.length)]} A`);
  writeFileSync(join(dir, 'q-block.txt'), `${q.join('\n')}\n`);
  q.length = 0;
  for (let i = 0; i < 200_000; i++) q.push(`h${i}.pass.example A`);
  writeFileSync(join(dir, 'q-pass.txt'), `${q.join('\n')}\n`);
  writeFileSync(join(dir, 'first-name.txt'), names[0]!);
}

// ---- processes ----------------------------------------------------------------------------

function run(cmd: string, argv: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): ChildProcess {
  const c = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'], cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env } });
  let err = '';
  c.stderr!.setEncoding('utf8');
  c.stderr!.on('data', (s: string) => (err = (err + s).slice(-3000)));
  stderrOf.set(c, () => err);
  c.on('exit', (code, sig) => {
    children.delete(c);
    if (code && code !== 0 && sig === null) log(`${cmd} exited ${code}: ${err}`);
  });
  children.add(c);
  return c;
}

async function stop(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    c.once('exit', () => resolve());
    c.kill('SIGTERM');
    setTimeout(() => c.kill('SIGKILL'), 5000).unref();
  });
}

/** Resident memory of a process and its descendants, MiB. */
function rssMiB(pid: number): number {
  let kb = 0;
  const kids = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      (kids.get(ppid) ?? kids.set(ppid, []).get(ppid)!).push(Number(d));
    } catch {
      // gone
    }
  }
  const walk = (p: number) => {
    try {
      const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      kb += Number(m?.[1] ?? 0);
    } catch {
      return;
    }
    for (const k of kids.get(p) ?? []) walk(k);
  };
  walk(pid);
  return kb / 1024;
}

/** Waits until the server answers a listed name (so the list is loaded). Returns seconds. */
async function ready(port: number, c: ChildProcess, t0: number, limitS = 300): Promise<number> {
  const name = readFileSync(join(dir, 'first-name.txt'), 'utf8');
  while ((Date.now() - t0) / 1000 < limitS) {
    if (c.exitCode !== null) throw new Error('server exited while loading');
    if (await blocked(port, name)) return (Date.now() - t0) / 1000;
    await sleep(100);
  }
  throw new Error('server not ready in time');
}

/** True when `name` is answered NXDOMAIN. */
async function blocked(port: number, name: string): Promise<boolean> {
  const dgram = await import('node:dgram');
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const labels = name.split('.');
    const q = Buffer.concat([Buffer.from([1, 2, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0, 0, 1, 0, 1])]);
    const t = setTimeout(() => {
      s.close();
      resolve(false);
    }, 300);
    s.on('message', (m) => {
      clearTimeout(t);
      s.close();
      resolve((m[3]! & 0x0f) === 3);
    });
    s.on('error', () => undefined);
    s.send(q, port, '127.0.0.1');
  });
}

interface PerfResult {
  qps: number;
  p99ms: number;
  p50ms: number;
  lostPct: number;
  /** Queries answered. */
  completed: number;
}

/** CPU seconds (user + system, every thread) a process has used: /proc/PID/stat fields 14 and 15. */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** dnsperf for SECONDS; -v gives each answer's latency, for p50/p99. */
async function dnsperf(port: number, file: string, during?: () => Promise<void>, rate = 0, seconds = SECONDS): Promise<PerfResult> {
  const out = join(dir, 'perf.out');
  const limit = rate > 0 ? ['-Q', String(rate), '-l', String(RATE_SECONDS)] : ['-l', String(seconds)];
  const c = spawn('dnsperf', ['-s', '127.0.0.1', '-p', String(port), '-d', join(dir, file), ...limit, '-c', args.clients!, '-q', args.outstanding!, '-t', '2', '-v'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(c);
  const sink = createWriteStream(out);
  c.stdout!.pipe(sink);
  const done = new Promise<void>((resolve) => c.on('exit', () => resolve()));
  if (during) await during();
  await done;
  children.delete(c);
  await new Promise<void>((r) => sink.close(() => r()));
  const lat: number[] = [];
  let summary = '';
  const rl = createInterface({ input: createReadStream(out) });
  for await (const line of rl) {
    if (line.startsWith('> ')) {
      const v = Number(line.slice(line.lastIndexOf(' ') + 1));
      if (!line.startsWith('> T') && Number.isFinite(v)) lat.push(v);
    } else summary += `${line}\n`;
  }
  const f = new Float64Array(lat).sort();
  const pct = (p: number) => (f.length ? f[Math.min(f.length - 1, Math.floor(f.length * p))]! * 1000 : NaN);
  const qps = Number(/Queries per second:\s+([\d.]+)/.exec(summary)?.[1] ?? NaN);
  const lostPct = Number(/Queries lost:\s+\d+ \(([\d.]+)%\)/.exec(summary)?.[1] ?? NaN);
  const completed = Number(/Queries completed:\s+(\d+)/.exec(summary)?.[1] ?? NaN);
  return { qps, p99ms: pct(0.99), p50ms: pct(0.5), lostPct, completed };
}

// ---- contenders ---------------------------------------------------------------------------

type Path = 'block' | 'pass';

/** A server loaded and waiting for its turns. */
interface Contender {
  name: string;
  sakimori: boolean;
  port: number;
  proc: ChildProcess;
  paths: Path[];
  rss: number;
  /** RSS after the last round (tables that grow with traffic have grown). */
  rssAfter?: number;
  loadS: number;
  /** Sakimori: its own copy of the zone file (the swap rewrites it). */
  zoneFile?: string;
}

/** One dnsperf run against one contender on one path. */
interface Measured {
  perf: PerfResult;
  /** The server's CPU time (every thread) per answered query, microseconds. */
  cpuUs: number;
  /** The share of the machine's CPU time the hypervisor took during the run (/proc/stat steal), percent. */
  stealPct: number;
}

const notes: string[] = [];
const marginal = new Map<string, number>();

async function loadUnbound(): Promise<Contender> {
  const port = await freePort();
  const conf = join(dir, 'unbound-rpz.conf');
  writeFileSync(
    conf,
    [
      'server:',
      `  interface: 127.0.0.1@${port}`,
      '  do-ip6: no',
      '  num-threads: 2',
      '  so-reuseport: yes',
      '  username: ""',
      '  chroot: ""',
      `  directory: "${dir}"`,
      '  pidfile: ""',
      '  use-syslog: no',
      '  logfile: ""',
      '  verbosity: 0',
      '  access-control: 127.0.0.0/8 allow',
      '  module-config: "respip iterator"',
      'rpz:',
      '  name: "cc.rpz.bench."',
      `  zonefile: "${join(dir, 'cc.rpz')}"`,
      'remote-control:',
      '  control-enable: no',
      '',
    ].join('\n'),
  );
  const t0 = Date.now();
  const c = run('unbound', ['-d', '-c', conf]);
  const loadS = await ready(port, c, t0);
  await sleep(1000);
  const rss = rssMiB(c.pid!);
  log(`unbound loaded in ${loadS.toFixed(1)} s, ${rss.toFixed(0)} MiB`);
  return { name: 'Unbound (RPZ, 2 threads)', sakimori: false, port, proc: c, paths: ['block'], rss, loadS };
}

async function loadDnsdist(upstream: number): Promise<Contender> {
  const port = await freePort();
  const conf = join(dir, 'dnsdist.conf');
  writeFileSync(
    conf,
    [
      `setLocal('127.0.0.1:${port}', { reusePort = true })`,
      `addLocal('127.0.0.1:${port}', { reusePort = true })`,
      'setSecurityPollSuffix("")',
      `newServer({ address = '127.0.0.1:${upstream}', checkName = 'pass.example.' })`,
      'local smn = newSuffixMatchNode()',
      `for line in io.lines('${join(dir, 'names.txt')}') do smn:add(newDNSName(line)) end`,
      'addAction(SuffixMatchNodeRule(smn), RCodeAction(DNSRCode.NXDOMAIN))',
      '',
    ].join('\n'),
  );
  const t0 = Date.now();
  const c = run('dnsdist', ['--supervised', '--disable-syslog', '-C', conf]);
  const loadS = await ready(port, c, t0);
  await sleep(2000);
  const rss = rssMiB(c.pid!);
  log(`dnsdist loaded in ${loadS.toFixed(1)} s, ${rss.toFixed(0)} MiB`);
  return { name: 'dnsdist (SuffixMatchNode, 2 listeners)', sakimori: false, port, proc: c, paths: ['block', 'pass'], rss, loadS };
}

function serve(port: number, upstream: number, zone: string, threads: number, detect: 'on' | 'off'): ChildProcess {
  const db = join(dir, `sakimori-${port}.db`);
  // As the service runs (src/dns/README.md): large blocks from mmap, so a replaced zone's memory goes back.
  return run(process.execPath, [join(ROOT, 'bin/sakimori.js'), '--store', `sqlite:${db}`, '--log-level', 'warn', 'dns', 'serve', '--threads', String(threads), '--listen', `127.0.0.1:${port}`, '--upstream', `127.0.0.1:${upstream}`, '--rpz', zone, '--detect', detect], {
    cwd: dir,
    env: { MALLOC_MMAP_THRESHOLD_: '131072' },
  });
}

/** How bin/sakimori.js ran Sakimori: dist/, or the sources through tsx (it says why on stderr). */
const runtimes = new Set<string>();
function runtimeOf(c: ChildProcess): string {
  if (!existsSync(join(ROOT, 'dist/BUILD'))) return 'the sources through tsx (no dist/ built)';
  const why = /running the sources through tsx: ([^;\n]*)/.exec(stderrOf.get(c)?.() ?? '')?.[1];
  return why === undefined ? 'dist/ (compiled, current)' : `the sources through tsx (${why})`;
}

async function loadSakimori(upstream: number, threads: number, detect: 'on' | 'off'): Promise<Contender> {
  const label = `Sakimori (${threads > 0 ? `${threads} worker thread${threads > 1 ? 's' : ''}` : 'one thread'}${DETECT.length > 1 || detect === 'off' ? `, detection ${detect}` : ''})`;
  // The same server with a one-name zone first: what the process costs before the list.
  const empty = join(dir, 'empty.rpz');
  writeFileSync(empty, `$TTL 300\n$ORIGIN cc.rpz.bench.\n@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 60\n${readFileSync(join(dir, 'first-name.txt'), 'utf8')} CNAME .\n`);
  const port0 = await freePort();
  const e = serve(port0, upstream, empty, threads, detect);
  await ready(port0, e, Date.now());
  await sleep(2000);
  const base = rssMiB(e.pid!);
  await stop(e);
  // Its own copy of the list: the policy swap rewrites it, and must not reload the others.
  const zoneFile = join(dir, `cc-${threads}-${detect}.rpz`);
  copyFileSync(join(dir, 'cc.rpz'), zoneFile);
  const port = await freePort();
  const t0 = Date.now();
  const c = serve(port, upstream, zoneFile, threads, detect);
  const loadS = await ready(port, c, t0);
  await sleep(2000);
  const rss = rssMiB(c.pid!);
  const runtime = runtimeOf(c);
  runtimes.add(runtime);
  notes.push(`${label} with a one-name zone: ${base.toFixed(0)} MiB (node ${process.version}, ${runtime}${threads > 0 ? ' in every thread' : ''}, every module of the CLI); the ${NAMES.toLocaleString('en-US')} names add ${(rss - base).toFixed(0)} MiB${threads > 0 ? ' (one copy, loaded by the main thread, read by every worker thread from shared memory)' : ''}.`);
  marginal.set(label, rss - base);
  log(`${label} loaded in ${loadS.toFixed(1)} s, ${rss.toFixed(0)} MiB (${runtime})`);
  return { name: label, sakimori: true, port, proc: c, paths: ['block', 'pass'], rss, loadS, zoneFile };
}

/** dnsperf against a contender, with the server's CPU time per answered query (less sensitive than q/s to other jobs). */
async function measure(c: Contender, path: Path, during?: () => Promise<void>, rate = 0): Promise<Measured> {
  if (c.proc.exitCode !== null || c.proc.signalCode !== null) throw new Error(`${c.name} exited before its turn`);
  const c0 = cpuSeconds(c.proc.pid!);
  const t0 = cpuTicks();
  const perf = await dnsperf(c.port, path === 'block' ? 'q-block.txt' : 'q-pass.txt', during, rate);
  const t1 = cpuTicks();
  const stealPct = t1.total > t0.total ? ((t1.steal - t0.steal) / (t1.total - t0.total)) * 100 : 0;
  return { perf, cpuUs: ((cpuSeconds(c.proc.pid!) - c0) * 1e6) / perf.completed, stealPct };
}

const stealsOf = (ms: readonly Measured[]) => ms.map((m) => `${m.stealPct.toFixed(0)}%`).join(', ');
const medianSteal = (by: Map<string, Measured[]>) => median([...by.values()].flat().map((m) => m.stealPct));

/** f's value at steal x: a least-squares line over the runs (kept within their values), or their median when their steal spans < 5 points. */
function atSteal(ms: readonly Measured[], f: (m: Measured) => number, x: number): number {
  const xs = ms.map((m) => m.stealPct);
  const ys = ms.map(f);
  if (ms.length < 3 || Math.max(...xs) - Math.min(...xs) < 5) return median(ys);
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let sxy = 0;
  let sxx = 0;
  for (let i = 0; i < xs.length; i++) {
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    sxx += (xs[i]! - mx) ** 2;
  }
  // Within what was seen: a line through noisy rounds must not invent a better or worse p99.
  return Math.min(Math.max(my + (sxy / sxx) * (x - mx), Math.min(...ys)), Math.max(...ys));
}

/** A policy swap under load: the contender's zone file gets one more name a third into a block-path run. */
async function swap(c: Contender): Promise<void> {
  log(`${c.name}: block path with a policy swap mid-run`);
  const m = await measure(c, 'block', async () => {
    await sleep((SECONDS * 1000) / 3);
    appendFileSync(c.zoneFile!, 'swapped-in.example CNAME .\n');
  });
  const after = rssMiB(c.proc.pid!);
  const swapped = await blocked(c.port, 'swapped-in.example');
  notes.push(
    `Policy swap under load (${c.name}): the ${NAMES.toLocaleString('en-US')}-name zone file was changed a third into a ${SECONDS} s block-path run (after the rounds); the new version was ${swapped ? 'in force at the end' : 'NOT in force at the end'}; ` +
      `${m.perf.qps.toFixed(0)} q/s, ${m.perf.lostPct}% lost, p99 ${m.perf.p99ms.toFixed(2)} ms; RSS after the swap ${after.toFixed(0)} MiB.`,
  );
}

// ---- main -------------------------------------------------------------------------------

const load0 = loadavg()[0]!;
const ticks0 = cpuTicks();
const started = Date.now();
log(`generating ${NAMES.toLocaleString('en-US')} names in ${dir}`);
generate();
await sleep(500);
// A 4 MiB receive buffer, as a busy resolver is configured: with the default (208 KiB, ~270
// datagrams) this Unbound dropped 23,661 queries at its socket in one 2-worker pass-through run
// (session 5, `ss -m`), and every contender's pass-through figure measured its drops and retries.
const upstream = await startUnbound({ localZones: ['"pass.example." redirect'], localData: ['"pass.example. 300 IN A 192.0.2.1"'], threads: 1, extra: ['so-rcvbuf: 4m'] });
if (!(await answers('127.0.0.1', upstream.port, 'h1.pass.example'))) throw new Error('the pass-through upstream does not answer');
const contenders: Contender[] = [];
/** Per contender and path, one result per round. */
const results = new Map<string, Measured[]>();
/** The same, at RATE queries per second. */
const atRate = new Map<string, Measured[]>();
const key = (c: Contender, p: Path) => `${c.name}\0${p}`;
try {
  const only = args.only;
  if (!only || only === 'unbound') contenders.push(await loadUnbound());
  if (!only || only === 'dnsdist') contenders.push(await loadDnsdist(upstream.port));
  if (!only || only === 'sakimori') for (const t of args.threads!.split(',')) for (const d of DETECT) contenders.push(await loadSakimori(upstream.port, Number(t), d));
  // Not counted: Sakimori's JavaScript is compiled while it runs (the anchors are C++), and
  // every server's caches fill; a server in service has run for days.
  if (WARMUP > 0) {
    for (const c of contenders) {
      for (const p of c.paths) {
        log(`warm-up: ${c.name}, ${p} path, ${WARMUP} s`);
        await dnsperf(c.port, p === 'block' ? 'q-block.txt' : 'q-pass.txt', undefined, 0, WARMUP);
      }
    }
  }
  for (let r = 0; r < ROUNDS; r++) {
    const order = contenders.map((_, i) => contenders[(i + r) % contenders.length]!);
    for (const c of order) {
      for (const p of r % 2 === 0 ? c.paths : [...c.paths].reverse()) {
        log(`round ${r + 1}/${ROUNDS}: ${c.name}, ${p} path`);
        const m = await measure(c, p);
        (results.get(key(c, p)) ?? results.set(key(c, p), []).get(key(c, p))!).push(m);
        log(`  ${m.perf.qps.toFixed(0)} q/s, ${m.cpuUs.toFixed(1)} µs CPU per query, p99 ${m.perf.p99ms.toFixed(2)} ms, steal ${m.stealPct.toFixed(0)}%`);
        if (RATE > 0) {
          const f = await measure(c, p, undefined, RATE);
          (atRate.get(key(c, p)) ?? atRate.set(key(c, p), []).get(key(c, p))!).push(f);
          log(`  at ${RATE} q/s: p50 ${f.perf.p50ms.toFixed(2)} ms, p99 ${f.perf.p99ms.toFixed(2)} ms, ${f.perf.lostPct}% lost, steal ${f.stealPct.toFixed(0)}%`);
        }
      }
    }
  }
  for (const c of contenders) c.rssAfter = rssMiB(c.proc.pid!);
  if (!args['no-swap']) for (const c of contenders.filter((x) => x.sakimori)) await swap(c);
} finally {
  for (const c of contenders) await stop(c.proc);
  await upstream.close();
}
const load1 = loadavg()[0]!;
const steal = stealNote(ticks0, cpuTicks());

interface Row {
  name: string;
  path: Path;
  rss: number;
  rssAfter: number;
  loadS: number;
  sakimori: boolean;
  rounds: Measured[];
  /** Medians of the rounds, each figure on its own. */
  qps: number;
  p50ms: number;
  p99ms: number;
  lostPct: number;
  cpuUs: number;
}
const rows: Row[] = contenders.flatMap((c) =>
  c.paths.map((path) => {
    const rs = results.get(key(c, path)) ?? [];
    const med = (f: (m: Measured) => number) => median(rs.map(f));
    return { name: c.name, path, rss: c.rss, rssAfter: c.rssAfter ?? NaN, loadS: c.loadS, sakimori: c.sakimori, rounds: rs, qps: med((m) => m.perf.qps), p50ms: med((m) => m.perf.p50ms), p99ms: med((m) => m.perf.p99ms), lostPct: med((m) => m.perf.lostPct), cpuUs: med((m) => m.cpuUs) };
  }),
);

const fmt = (v: number, d = 0) => (Number.isFinite(v) ? v.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }) : '-');
const best = (path: Path) => rows.filter((r) => r.path === path && !r.sakimori).sort((a, b) => b.qps - a.qps)[0];
const table = [
  '| contender | path | queries/s | p50 (ms) | p99 (ms) | lost | server CPU per query (µs) | RSS after load (MiB) | RSS after the rounds (MiB) | load (s) | q/s vs best anchor | CPU per query vs that anchor |',
  '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map((r) => {
    const b = best(r.path);
    const vs = r.sakimori && b;
    return `| ${r.name} | ${r.path} | ${fmt(r.qps)} | ${fmt(r.p50ms, 2)} | ${fmt(r.p99ms, 2)} | ${fmt(r.lostPct, 2)}% | ${fmt(r.cpuUs, 1)} | ${fmt(r.rss)} | ${fmt(r.rssAfter)} | ${fmt(r.loadS, 1)} | ${vs ? (r.qps / b.qps).toFixed(2) : ''} | ${vs ? (r.cpuUs / b.cpuUs).toFixed(2) : ''} |`;
  }),
].join('\n');
// Latency at the same offered load (RATE q/s), medians of the rounds.
const rateRows = contenders.flatMap((c) =>
  c.paths.map((path) => {
    const rs = atRate.get(key(c, path)) ?? [];
    const med = (f: (m: Measured) => number) => median(rs.map(f));
    return { name: c.name, path, sakimori: c.sakimori, rounds: rs, qps: med((m) => m.perf.qps), p50ms: med((m) => m.perf.p50ms), p99ms: med((m) => m.perf.p99ms), lostPct: med((m) => m.perf.lostPct), cpuUs: med((m) => m.cpuUs) };
  }),
);
/** The anchor with the lowest p99 on a path at RATE. */
const bestLatency = (path: Path) => rateRows.filter((r) => r.path === path && !r.sakimori && r.rounds.length > 0).sort((a, b) => a.p99ms - b.p99ms)[0];
const rateTable =
  RATE > 0
    ? [
        `Latency at the same offered load: ${RATE.toLocaleString('en-US')} queries/s to each contender (dnsperf -Q ${RATE} -l ${RATE_SECONDS}, same clients and in-flight limit), after its throughput run in each round; medians of the rounds.`,
        '',
        '| contender | path | queries/s | p50 (ms) | p99 (ms) | lost | server CPU per query (µs) | p99 vs the anchor with the lowest p99 |',
        '|---|---|---:|---:|---:|---:|---:|---:|',
        ...rateRows.map((r) => {
          const b = bestLatency(r.path);
          return `| ${r.name} | ${r.path} | ${fmt(r.qps)} | ${fmt(r.p50ms, 2)} | ${fmt(r.p99ms, 2)} | ${fmt(r.lostPct, 2)}% | ${fmt(r.cpuUs, 1)} | ${r.sakimori && b ? (r.p99ms / b.p99ms).toFixed(2) : ''} |`;
        }),
        '',
        '<details><summary>every round at the fixed rate</summary>',
        '',
        ...rateRows.map((r) => `- ${r.name}, ${r.path}: p50 ${r.rounds.map((m) => fmt(m.perf.p50ms, 2)).join(', ')} ms; p99 ${r.rounds.map((m) => fmt(m.perf.p99ms, 2)).join(', ')} ms; lost ${r.rounds.map((m) => `${m.perf.lostPct}%`).join(', ')}; steal ${stealsOf(r.rounds)}`),
        '',
        '</details>',
        '',
      ]
    : [];
const everyRound = rows.map(
  (r) => `- ${r.name}, ${r.path}: q/s ${r.rounds.map((m) => fmt(m.perf.qps)).join(', ')}; CPU per query ${r.rounds.map((m) => fmt(m.cpuUs, 1)).join(', ')} µs; p99 ${r.rounds.map((m) => fmt(m.perf.p99ms, 2)).join(', ')} ms; lost ${r.rounds.map((m) => `${m.perf.lostPct}%`).join(', ')}; steal ${stealsOf(r.rounds)}`,
);

// The host's share. On this kind of virtual machine the hypervisor takes 5-45% of the CPU
// time under load, changing within a minute, and every contender's q/s and p99 follow it
// more than they differ from each other. Held equal: each contender's q/s and p99 at the
// run's median steal, from a least-squares line over its rounds (kept within what its
// rounds saw; the median of its rounds when they span < 5 points of steal).
const stealRows = rows.map((r) => {
  const rate = rateRows.find((x) => x.name === r.name && x.path === r.path)!;
  return {
    name: r.name,
    path: r.path,
    sakimori: r.sakimori,
    qps: atSteal(r.rounds, (m) => m.perf.qps, medianSteal(results)),
    p99Sat: atSteal(r.rounds, (m) => m.perf.p99ms, medianSteal(results)),
    p99Rate: atSteal(rate.rounds, (m) => m.perf.p99ms, medianSteal(atRate)),
  };
});
const stealTable =
  ROUNDS >= 3
    ? [
        `With the host's share held equal: each figure at the run's median steal (saturation runs ${fmt(medianSteal(results), 0)}%${RATE > 0 ? `, ${fmt(RATE)} q/s runs ${fmt(medianSteal(atRate), 0)}%` : ''}), read off a least-squares line through the contender's rounds (steal against the figure; kept within what its rounds saw; the median of its rounds when their steal spans less than 5 points).`,
        '',
        `| contender | path | queries/s | vs best anchor | p99 at saturation (ms) | vs lowest anchor |${RATE > 0 ? ` p99 at ${fmt(RATE)} q/s (ms) | vs lowest anchor |` : ''}`,
        `|---|---|---:|---:|---:|---:|${RATE > 0 ? '---:|---:|' : ''}`,
        ...stealRows.map((r) => {
          const anchors = stealRows.filter((x) => x.path === r.path && !x.sakimori);
          const bq = Math.max(...anchors.map((x) => x.qps));
          const bs = Math.min(...anchors.map((x) => x.p99Sat));
          const br = Math.min(...anchors.map((x) => x.p99Rate));
          const vs = (a: number, b: number) => (r.sakimori && Number.isFinite(b) ? (a / b).toFixed(2) : '');
          return `| ${r.name} | ${r.path} | ${fmt(r.qps)} | ${vs(r.qps, bq)} | ${fmt(r.p99Sat, 2)} | ${vs(r.p99Sat, bs)} |${RATE > 0 ? ` ${fmt(r.p99Rate, 2)} | ${vs(r.p99Rate, br)} |` : ''}`;
        }),
        '',
      ]
    : [];
const leanest = rows.filter((r) => !r.sakimori).sort((a, b) => a.rss - b.rss)[0];
for (const ours of rows.filter((r) => r.sakimori && r.path === 'block').reverse()) {
  if (!leanest) break;
  const m = marginal.get(ours.name) ?? NaN;
  notes.unshift(
    `Memory, ${ours.name}: ${fmt(ours.rss)} MiB in all against the leanest anchor's ${fmt(leanest.rss)} MiB (${(ours.rss / leanest.rss).toFixed(2)}x); the names alone take ${fmt(m)} MiB (${(m / leanest.rss).toFixed(2)}x of the anchor's whole process; the goal is <= 0.25x).`,
  );
}
// Detection's share of the per-query cost: the same contender with and without it (medians of the rounds).
for (const on of rows.filter((r) => r.name.includes('detection on'))) {
  const off = rows.find((r) => r.path === on.path && r.name === on.name.replace('detection on', 'detection off'));
  if (!off) continue;
  const cost = on.cpuUs / off.cpuUs - 1;
  notes.unshift(
    `DNS detection's cost, ${on.name.replace(', detection on', '')}, ${on.path} path: server CPU per answered query ${fmt(off.cpuUs, 1)} µs without, ${fmt(on.cpuUs, 1)} µs with (medians of ${ROUNDS} round${ROUNDS > 1 ? 's' : ''}): ${cost >= 0 ? '+' : ''}${(cost * 100).toFixed(1)}% (goal: at most +10%); q/s ${fmt(off.qps)} -> ${fmt(on.qps)}, p99 ${fmt(off.p99ms, 2)} -> ${fmt(on.p99ms, 2)} ms.`,
  );
}
const reproduce = `npx tsx bench/dns.ts --names ${NAMES} --seconds ${SECONDS} --rounds ${ROUNDS} --clients ${args.clients} --outstanding ${args.outstanding} --threads ${args.threads} --rate ${RATE}${args.only ? ` --only ${args.only}` : ''}${args['no-swap'] ? ' --no-swap' : ''}${args.detect !== 'on' ? ` --detect ${args.detect}` : ''}${WARMUP !== 3 ? ` --warmup ${WARMUP}` : ''}`;
const md = [
  ...sectionHead(
    'dns',
    started,
    `Machine: ${machineFacts()}; load average ${load0.toFixed(1)} at start, ${load1.toFixed(1)} at end${steal}. ${((Date.now() - started) / 1000).toFixed(0)} s in all.${runtimes.size ? ` Sakimori ran from ${[...runtimes].join('; ')}.` : ''}`,
    reproduce,
  ),
  `Rounds: ${ROUNDS}. Every contender was loaded first and stayed up (idle while not measured)${WARMUP > 0 ? `, then took ${WARMUP} s of dnsperf on each of its paths, not counted` : ''}; in each round dnsperf ran ${SECONDS} s against every contender on each of its paths in turn, the order rotated by one contender per round and the paths swapped every other round. Each figure in the table is the median of the rounds, taken on its own (q/s, p50, p99, lost, CPU); the ratios compare medians.`,
  '',
  table,
  '',
  '<details><summary>every round</summary>',
  '',
  ...everyRound,
  '',
  '</details>',
  '',
  ...rateTable,
  ...stealTable,
  ...notes.map((n) => `- ${n}`),
  `- ${NAMES.toLocaleString('en-US')} random names (6-14 characters under ten TLDs); block path: 200,000 queries for listed names (NXDOMAIN by policy), looped; pass-through: 200,000 unlisted names under pass.example, forwarded to one local Unbound (1 thread, so-rcvbuf 4m) answering every one from local data, the same upstream for every contender.`,
  '- Server CPU per query: the server process\'s user + system time (every thread; /proc/PID/stat) over a dnsperf run, divided by the queries answered in it; for Unbound and dnsdist as for Sakimori. Less sensitive to other jobs on the machine than q/s, since a server waiting for the CPU uses none.',
  '- Sakimori runs with MALLOC_MMAP_THRESHOLD_=131072 in its environment, as src/dns/README.md advises for the service: glibc then maps large blocks, so a replaced zone\'s memory goes back to the system (without it RSS grew by ~50 MiB per reload of this zone in 2 worker threads; with it, it fell).',
  `- dnsperf 2.10 (one thread) on the same 2 cores: -c ${args.clients} -q ${args.outstanding} -l ${SECONDS} -t 2 -v; p50/p99 from the latency of every answer (-v); "lost" counts queries unanswered after 2 s. RSS: the server process and its children (for Sakimori: node, and tsx's esbuild service if running), read from /proc after the list loaded (before the other contenders loaded) and again after the last round (before the policy swaps).`,
  '- The machine is shared with other engineers\' jobs and, as a virtual machine, with its host (see the load average and the steal): compare ratios within this run, not absolute figures across runs.',
  '',
].join('\n');
process.stdout.write(md);
if (!args['no-append']) {
  appendSection(md);
  log('appended to docs/BENCHMARKS.md');
}
rmSync(dir, { recursive: true, force: true });
process.exit(0);
