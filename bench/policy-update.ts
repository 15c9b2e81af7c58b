/**
 * Policy updates on a large zone, through the real server (issue 3: "take effect atomically
 * within one second, without dropping queries and without doubling memory"): how long one
 * changed name takes to be answered by every thread, what the step costs the main thread,
 * and the memory it takes on the way.
 *
 *   npx tsx bench/policy-update.ts                                   # 1 M names, threads 0 and 2, file and ixfr
 *   npx tsx bench/policy-update.ts --names 1000000,10000000 --threads 0,2 --paths file,ixfr --steps 2
 *
 * Paths: "file" runs `sakimori dns serve --rpz FILE` and renames a rewritten file over the
 * zone (one name's action changed: NXDOMAIN -> NODATA); "ixfr" runs `sakimori rpz serve`
 * as the primary and `dns serve --rpz-primary` with a NOTIFY listener, then `sakimori rpz
 * add` changes one name's action (NOTIFY -> IXFR; a first `rpz add`, which rewrites the
 * whole file, is done and waited for before, not counted). Each step changes another name.
 * Throughout a step 16 UDP sockets (16 source ports, so the kernel's SO_REUSEPORT hash
 * spreads them over the threads) each ask for the changed name every 10 ms.
 *
 * Figures per step: "seen" = ms from the update (the rename, or `rpz add` removing its lock
 * file: the edit committed) until the first socket / every socket got the new answer;
 * "main CPU" = the server's main thread on-CPU time from the update (for ixfr, too, from
 * the edit's commit) until every socket saw it plus 500 ms, less the same thread's CPU rate
 * under the same query stream before the step (the least of three one-second windows) over
 * as long a time; "all CPU"
 * = the same for every thread of the process; "RSS before" and "peak" (VmHWM, reset through
 * /proc/PID/clear_refs just before the step) in MiB; "lost" = queries never answered
 * (waited 2 s) of those sent during the step; "flips" = answers with the old policy on a
 * socket after it had the new one (must be 0: a version is swapped in whole). Servers run
 * from the sources (SAKIMORI_SOURCES=1: tsx, as the tests do) unless --dist.
 *
 * The firewall keeps no local copy of a zone from a primary here (dns.zoneCopyDir: ""):
 * with one (the default) each change is followed, at most every 30 s, by a rewrite of the
 * whole copy on the main thread. Before each step the bench waits until the main thread
 * is quiet (under 30% of a core over a second).
 *
 * Options: --names LIST (1000000), --threads LIST (0,2), --paths LIST (file,ixfr),
 * --steps N (2), --dist (run dist/ as it is; build it first), --heap MiB (16384: node's
 * --max-old-space-size for `rpz serve`, `rpz add` and, on the ixfr path, `dns serve`: at
 * 10 M names the firewall's first AXFR, held as JS objects, passes node's default limit of
 * ~4 GiB; the provider's zone model and its whole-file edit fit in it since session 5). Prints a table on stdout and
 * the load average; appends nothing (copy the table into docs/BENCHMARKS.md by hand).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, watch, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { PolicyProbe } from '../test/peers/policy-probe.ts';
import { freePort } from '../test/peers/ports.ts';
import { helpIfAsked } from './run.ts';
import { cli as runCli, nameOf, writeZone, ZONE } from './rpz-common.ts';

helpIfAsked(import.meta.url);

const { values } = parseArgs({
  options: {
    names: { type: 'string', default: '1000000' },
    threads: { type: 'string', default: '0,2' },
    paths: { type: 'string', default: 'file,ixfr' },
    steps: { type: 'string', default: '2' },
    dist: { type: 'boolean', default: false },
    heap: { type: 'string', default: '16384' },
  },
});
const list = (s: string) => s.split(',').map((x) => x.trim()).filter((x) => x !== '');
const SIZES = list(values.names).map(Number);
const THREADS = list(values.threads).map(Number);
const PATHS = list(values.paths) as ('file' | 'ixfr')[];
const STEPS = Number(values.steps);
const HEAP = Number(values.heap);
for (const p of PATHS) if (p !== 'file' && p !== 'ixfr') throw new Error(`--paths: "${p}" is neither file nor ixfr`);

const BIN = resolve(import.meta.dirname, '../bin/sakimori.js');
const ENV = { ...process.env, ...(values.dist ? {} : { SAKIMORI_SOURCES: '1' }) };

/** Step k changes name k * 7919 + 13 of the zone (nameOf). */
const changed = (step: number, n: number) => (step * 7919 + 13) % n;

interface Proc {
  child: ChildProcess;
  out(): string;
  err(): string;
  stop(): Promise<void>;
}

function start(args: string[], cwd: string, heapMiB?: number): Proc {
  const child = spawn(process.execPath, [...(heapMiB ? [`--max-old-space-size=${heapMiB}`] : []), BIN, ...args], { cwd, env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err = (err + s).slice(-20_000)));
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  return {
    child,
    out: () => out,
    err: () => err,
    async stop() {
      process.off('exit', kill);
      if (child.exitCode !== null || child.signalCode !== null) return;
      await new Promise<void>((r) => {
        child.once('exit', () => r());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
      });
    },
  };
}

async function until(what: string, p: Proc, ok: () => boolean, ms: number): Promise<void> {
  const t0 = Date.now();
  while (!ok()) {
    if (p.child.exitCode !== null || p.child.signalCode !== null) throw new Error(`${what}: exited ${p.child.exitCode ?? p.child.signalCode}\n${p.out()}\n${p.err()}`);
    if (Date.now() - t0 > ms) throw new Error(`${what}: not within ${ms} ms\n${p.out()}\n${p.err()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One `sakimori` command run to its end (the shared runner, with this bench's heap and environment). */
const cli = (args: string[], cwd: string, heapMiB?: number): Promise<number> => runCli({ bin: BIN, cwd, env: ENV, nodeArgs: heapMiB ? [`--max-old-space-size=${heapMiB}`] : [] }, args);

// ---- /proc ---------------------------------------------------------------------------------

/** On-CPU ns of one thread (schedstat's first field). */
function threadNs(pid: number, tid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
  } catch {
    return 0; // a thread that ended
  }
}
const mainNs = (pid: number) => threadNs(pid, pid);
const allNs = (pid: number) => readdirSync(`/proc/${pid}/task`).reduce((s, t) => s + threadNs(pid, Number(t)), 0);
function status(pid: number, key: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

// ---- one configuration -----------------------------------------------------------------------

interface Row {
  names: number;
  threads: number;
  path: string;
  step: number;
  firstMs: number;
  allMs: number;
  mainMs: number;
  allCpuMs: number;
  rssBefore: number;
  peak: number;
  lost: number;
  sent: number;
  flips: number;
}

async function configuration(n: number, threads: number, path: 'file' | 'ixfr', rows: Row[]): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sakimori-policy-update-'));
  const file = join(dir, 'cc.zone');
  const procs: Proc[] = [];
  const probe = new PolicyProbe(16, 10);
  try {
    await writeZone(file, n, new Set());
    const upstream = await freePort(); // nothing listens there: every probed name is answered from policy
    const serveArgs = ['--log-level', 'warn', 'dns', 'serve', '--listen', '127.0.0.1:0', '--upstream', `127.0.0.1:${upstream}`, '--detect', 'off', '--threads', String(threads)];
    const t0 = Date.now();
    if (path === 'ixfr') {
      const rpzPort = await freePort();
      const notifyPort = await freePort();
      const primary = start(['--log-level', 'warn', 'rpz', 'serve', '--listen', `127.0.0.1:${rpzPort}`, '--zone', `${ZONE}=${file}`, '--notify', `127.0.0.1:${notifyPort}`], dir, HEAP);
      procs.push(primary);
      await until('rpz serve', primary, () => primary.out().includes('is running'), 900_000);
      serveArgs.push('--rpz-primary', `${ZONE}=127.0.0.1:${rpzPort}`, '--notify-listen', `127.0.0.1:${notifyPort}`);
      // No local copy of the zone: it is rewritten whole (O(names), on the main thread, at
      // most every 30 s) after a change, which would fall into the steps' CPU windows.
      writeFileSync(join(dir, 'sakimori.yaml'), 'dns:\n  zoneCopyDir: ""\n');
    } else serveArgs.push('--rpz', file);
    // The whole first transfer is held as records before the zone is built (zone-transfer): a large heap for 10 M.
    const fw = start(serveArgs, dir, path === 'ixfr' ? HEAP : undefined);
    procs.push(fw);
    let port = 0;
    await until('dns serve', fw, () => (port = Number(/dns:\/\/127\.0\.0\.1:(\d+)/.exec(fw.out())?.[1] ?? 0)) > 0, 900_000);
    const pid = fw.child.pid!;
    process.stderr.write(`${n} names, threads ${threads}, ${path}: serving after ${((Date.now() - t0) / 1000).toFixed(1)} s, RSS ${status(pid, 'VmRSS').toFixed(0)} MiB\n`);
    await new Promise((r) => setTimeout(r, 3000)); // let the start's collections settle
    await probe.open(port);
    const nodata = new Set<number>();
    // ixfr: step 0 is not counted: the first `rpz add` rewrites the whole file (later ones
    // edit it in place), which the provider reads whole before it has a journal to follow.
    for (let step = path === 'ixfr' ? 0 : 1; step <= STEPS; step++) {
      const k = changed(step, n);
      nodata.add(k);
      probe.run(nameOf(k), 'nxdomain', 'nodata');
      // Until the main thread is quiet (what the start or the last step left: collections,
      // the provider's re-read), then the same stream for a second: its CPU without an update.
      for (let waited = 0; waited < 900; waited++) {
        const q0 = mainNs(pid);
        await new Promise((r) => setTimeout(r, 1000));
        if (mainNs(pid) - q0 < 0.3e9) break;
      }
      // The stream's own CPU rate: the least of three one-second windows (a collection in one
      // window would otherwise be subtracted from the step and could make it negative).
      let idleMain = Infinity;
      let idleAll = Infinity;
      for (let w = 0; w < 3; w++) {
        const b0 = performance.now();
        const bm = mainNs(pid);
        const ba = allNs(pid);
        await new Promise((r) => setTimeout(r, 1000));
        const idle = performance.now() - b0;
        idleMain = Math.min(idleMain, (mainNs(pid) - bm) / idle);
        idleAll = Math.min(idleAll, (allNs(pid) - ba) / idle);
      }
      // The rewritten file is prepared before the step; the step starts at its rename.
      const next = join(dir, 'cc.zone.next');
      if (path === 'file') await writeZone(next, n, nodata);
      const rssBefore = status(pid, 'VmRSS');
      writeFileSync(`/proc/${pid}/clear_refs`, '5');
      let m0 = mainNs(pid);
      let a0 = allNs(pid);
      probe.mark();
      const t0 = performance.now();
      let update = t0;
      if (path === 'file') renameSync(next, file);
      else {
        // The step counts from the edit's commit — `rpz add` removing its lock file — not from
        // the command's start (node, the store) or exit (the provider may have it before that).
        const lock = `${file}.lock`;
        let unlocked: number | undefined;
        // The CPU window starts there too: the command's own seconds (node's start) would
        // otherwise sit in it and the idle rate subtracted over them swamp the step (negative figures).
        const w = watch(dir, (_e, f) => {
          if (f !== basename(lock) || existsSync(lock) || unlocked !== undefined) return;
          unlocked = performance.now();
          m0 = mainNs(pid);
          a0 = allNs(pid);
        });
        await cli(['rpz', 'add', '--zone', ZONE, '--file', file, '--name', nameOf(k), '--action', 'nodata'], dir, HEAP);
        w.close();
        update = unlocked ?? performance.now();
      }
      await probe.untilAllNew(step === 0 ? 1_800_000 : 900_000);
      const seenAt = performance.now() - update;
      await new Promise((r) => setTimeout(r, 500));
      const span = performance.now() - update;
      const mainMs = (mainNs(pid) - m0 - idleMain * span) / 1e6;
      const allCpuMs = (allNs(pid) - a0 - idleAll * span) / 1e6;
      const peak = status(pid, 'VmHWM');
      const first = Math.min(...probe.firstNew.map((x) => x ?? Infinity)) - (update - t0);
      const sent = probe.sent;
      const flips = probe.flips;
      const lost = await probe.stop();
      const row: Row = { names: n, threads, path, step, firstMs: first, allMs: probe.allNew ? seenAt : NaN, mainMs, allCpuMs, rssBefore, peak, lost, sent, flips };
      if (step > 0) rows.push(row);
      process.stderr.write(`${step === 0 ? 'not counted: ' : ''}${JSON.stringify(row)}\n`);
    }
  } finally {
    probe.close();
    for (const p of procs.reverse()) await p.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const rows: Row[] = [];
const load0 = loadavg();
for (const n of SIZES) for (const threads of THREADS) for (const path of PATHS) await configuration(n, threads, path, rows);
const f = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—');
const lines = [
  '| names | threads | path | step | seen first / every thread (ms) | main-thread CPU (ms) | all threads CPU (ms) | RSS before → peak (MiB) | lost / sent | flips |',
  '|---|---|---|---|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${f(r.names)} | ${r.threads} | ${r.path} | ${r.step} | ${f(r.firstMs)} / ${f(r.allMs)} | ${f(r.mainMs)} | ${f(r.allCpuMs)} | ${f(r.rssBefore)} → ${f(r.peak)} (${r.peak - r.rssBefore < 0 ? '' : '+'}${f(r.peak - r.rssBefore)}) | ${r.lost} / ${r.sent} | ${r.flips} |`),
];
process.stdout.write(`${lines.join('\n')}\n\nload average at the start ${load0.map((x) => x.toFixed(1)).join(' ')}, at the end ${loadavg().map((x) => x.toFixed(1)).join(' ')}; ${values.dist ? 'dist/' : 'sources through tsx'}\n`);
