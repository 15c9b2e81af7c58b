/**
 * What the rpz and policy benches (rpz-edit.ts, rpz-serve.ts, policy-update.ts) share: the generated policy zone, running
 * a `sakimori` command as a child process, and waiting until `sakimori rpz serve` answers a
 * serial. Not a bench of its own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { querySoa, soaSerial } from '../src/dns/zone-transfer/index.ts';

export const ZONE = 'cc.rpz.bench';

/** Name i of the bench zone. */
export const nameOf = (i: number): string => `n${i}.bad${i % 977}.example`;

/**
 * The zone file of `names` names, serial 1, written 10,000 lines at a time: each `CNAME .`
 * (NXDOMAIN), or `CNAME *.` (NODATA) for the indexes in `nodata`.
 */
export async function writeZone(file: string, names: number, nodata: ReadonlySet<number> = new Set()): Promise<void> {
  const out = createWriteStream(file);
  out.write(`$ORIGIN ${ZONE}.\n$TTL 300\n@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 300\n@ NS localhost.\n`);
  for (let i = 0; i < names; i += 10_000) {
    let chunk = '';
    for (let j = i; j < Math.min(names, i + 10_000); j++) chunk += `${nameOf(j)} CNAME ${nodata.has(j) ? '*' : ''}.\n`;
    if (!out.write(chunk)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r) => out.end(r));
}

/** How a bench runs `sakimori`: which bin/sakimori.js, from where, with which node flags and environment. */
export interface Sakimori {
  bin: string;
  cwd: string;
  /** Flags for node itself, before the script (e.g. --max-old-space-size). */
  nodeArgs?: readonly string[];
  /** Default: this process's environment. */
  env?: NodeJS.ProcessEnv;
}

/** Starts `sakimori ARGS`; its stdout is dropped, its stderr passed through or piped. */
export function start(s: Sakimori, args: readonly string[], stderr: 'inherit' | 'pipe'): ChildProcess {
  return spawn(process.execPath, [...(s.nodeArgs ?? []), s.bin, ...args], { cwd: s.cwd, env: s.env, stdio: ['ignore', 'ignore', stderr] });
}

/** Runs one `sakimori` command to its end: its wall time in ms, or its stderr in the error if it failed. */
export function cli(s: Sakimori, args: readonly string[]): Promise<number> {
  const t0 = performance.now();
  return new Promise((res, rej) => {
    const c = start(s, args, 'pipe');
    let err = '';
    c.stderr!.setEncoding('utf8').on('data', (d: string) => (err += d));
    c.on('exit', (code) => (code === 0 ? res(performance.now() - t0) : rej(new Error(`sakimori ${args.join(' ')} exited ${code}: ${err}`))));
  });
}

/** `sakimori [--log-level L] rpz serve` of the bench zone from `file` on 127.0.0.1:port. */
export function startRpzServe(s: Sakimori, port: number, file: string, opts: { logLevel?: string; stderr: 'inherit' | 'pipe' }): ChildProcess {
  const log = opts.logLevel ? ['--log-level', opts.logLevel] : [];
  return start(s, [...log, 'rpz', 'serve', '--listen', `127.0.0.1:${port}`, '--zone', `${ZONE}=${file}`], opts.stderr);
}

/** The zone's serial as served on 127.0.0.1:port (SOA over UDP), or -1 while it answers nothing. */
export async function servedSerial(port: number): Promise<number> {
  try {
    return soaSerial(await querySoa({ host: '127.0.0.1', port }, ZONE, { timeoutMs: 500 }));
  } catch {
    return -1;
  }
}

/**
 * Polls every 20 ms until `serial` is served; returns ms since `since` (default: now).
 * Throws once more than `limitMs` have passed since then.
 */
export async function untilServed(port: number, serial: number, opts: { limitMs: number; since?: number }): Promise<number> {
  const t0 = opts.since ?? performance.now();
  while ((await servedSerial(port)) !== serial) {
    if (performance.now() - t0 > opts.limitMs) throw new Error(`serial ${serial} not served within ${opts.limitMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return performance.now() - t0;
}

/** SIGTERM, then half a second for it to stop before the bench removes its directory. */
export async function stop(child: ChildProcess | undefined): Promise<void> {
  child?.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
}
