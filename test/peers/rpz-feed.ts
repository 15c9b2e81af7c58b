/**
 * What the RPZ interop tests (test/rpz-*.test.ts) share: Sakimori's own RPZ provider run
 * as the real command (`sakimori rpz serve`, its JSON log read back), `sakimori rpz
 * add|remove` as the operator runs them, an upstream that answers every test name from
 * local data (a throwaway Unbound, so resolvers under test never send a packet beyond
 * loopback), and `dig` against the resolver under test.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { freePort, startUnbound, type UnboundPeer } from './unbound.ts';

const run = promisify(execFile);
const BIN = resolve(import.meta.dirname, '../../bin/sakimori.js');

export const RPZ_ZONE = 'cc.rpz.sakimori';

/** The policy at serial 1: one name per action the resolvers must enforce. */
export function initialZone(): string {
  return [
    `$ORIGIN ${RPZ_ZONE}.`,
    '$TTL 60',
    '@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 60',
    '@ NS localhost.',
    'bad.example CNAME .', //              NXDOMAIN
    '*.wild.example CNAME .', //           NXDOMAIN for every name below wild.example
    'nodata.example CNAME *.', //          NODATA
    'warn.example A 192.0.2.80', //        local data: the warning page
    'ok.example CNAME rpz-passthru.', //   PASSTHRU
    '',
  ].join('\n');
}

/** Every test name exists upstream, so a policy hit is the only way to get anything else. */
export function startUpstream(): Promise<UnboundPeer> {
  const names = { www: 1, bad: 66, nodata: 67, warn: 68, ok: 69, new: 70, 'a.wild': 71 };
  return startUnbound({
    localZones: ['"example." static'],
    localData: Object.entries(names).map(([n, i]) => `"${n}.example. 60 IN A 192.0.2.${i}"`),
  });
}

export interface DigResult {
  status: string;
  answers: string[];
}

/** dig A over UDP (one try, one second), status and answer lines. */
/** The status and answers (type and data) of `dig +noall +comments +answer` output. */
export function digResult(stdout: string): DigResult {
  const status = /status: ([A-Z]+)/.exec(stdout)?.[1] ?? 'NONE';
  const answers = stdout.split('\n').filter((l) => l && !l.startsWith(';')).map((l) => l.split(/\s+/).slice(3).join(' '));
  return { status, answers };
}

export async function dig(port: number, name: string): Promise<DigResult> {
  try {
    const r = await run('dig', ['+time=1', '+tries=1', '+noall', '+comments', '+answer', '@127.0.0.1', '-p', String(port), name, 'A']);
    return digResult(r.stdout);
  } catch {
    return { status: 'TIMEOUT', answers: [] };
  }
}

/** Polls until `ok` holds for the resolver's answer; returns the milliseconds it took. */
export async function digUntil(port: number, name: string, ok: (r: DigResult) => boolean, ms: number): Promise<{ ms: number; last: DigResult }> {
  const t0 = Date.now();
  let last = await dig(port, name);
  while (!ok(last)) {
    if (Date.now() - t0 > ms) return { ms: -1, last };
    await new Promise((r) => setTimeout(r, 100));
    last = await dig(port, name);
  }
  return { ms: Date.now() - t0, last };
}

export interface LogLine {
  level: string;
  msg: string;
  [k: string]: unknown;
}

/** The child's stderr as pino log lines (a line that is not JSON is kept as { level: 'raw' }), filled as they come. */
export function logLinesOf(child: ChildProcess): LogLine[] {
  const lines: LogLine[] = [];
  let partial = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => {
    partial += s;
    const parts = partial.split('\n');
    partial = parts.pop()!;
    for (const p of parts) {
      try {
        lines.push(JSON.parse(p) as LogLine);
      } catch {
        lines.push({ level: 'raw', msg: p });
      }
    }
  });
  return lines;
}

export interface SakimoriRpz {
  readonly port: number;
  readonly file: string;
  /** Every JSON log line `rpz serve` wrote so far. */
  logs(): LogLine[];
  /** Runs `sakimori rpz ARGS...` in the same working dir (so the same store); resolves when it exits. */
  cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }>;
  close(): Promise<void>;
}

/** Starts `sakimori rpz serve` in `dir` on a free port, serving RPZ_ZONE from dir/cc.zone, notifying `notify`. */
export async function startSakimoriRpz(dir: string, notify: string[], extra: readonly string[] = []): Promise<SakimoriRpz> {
  const file = join(dir, 'cc.zone');
  writeFileSync(file, initialZone());
  const port = await freePort();
  const args = [BIN, '--log-level', 'info', 'rpz', 'serve', '--listen', `127.0.0.1:${port}`, '--zone', `${RPZ_ZONE}=${file}`, ...notify.flatMap((n) => ['--notify', n]), ...extra];
  const child: ChildProcess = spawn(process.execPath, args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = logLinesOf(child);
  let out = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (s: string) => (out += s));
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  const until = Date.now() + 60_000;
  while (!out.includes('is running')) {
    if (child.exitCode !== null) throw new Error(`sakimori rpz serve exited with ${child.exitCode}:\n${lines.map((l) => l.msg).join('\n')}`);
    if (Date.now() > until) {
      kill();
      throw new Error(`sakimori rpz serve did not start within 60 s:\n${out}\n${lines.map((l) => JSON.stringify(l)).join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    file,
    logs: () => lines,
    cli: (cliArgs) =>
      new Promise((resolveRun) => {
        const c = spawn(process.execPath, [BIN, 'rpz', ...cliArgs], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        c.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
        c.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
        c.on('exit', (code) => resolveRun({ code, stdout, stderr }));
      }),
    async close() {
      process.off('exit', kill);
      if (child.exitCode !== null) return;
      await new Promise<void>((r) => {
        child.once('exit', () => r());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      });
    },
  };
}

/** The transfers `rpz serve` logged (one line per AXFR/IXFR answered). */
export function transfers(logs: LogLine[]): { type: string; style: string; clientSerial?: number; serial: number; client: string }[] {
  return logs.filter((l) => typeof l.type === 'string' && typeof l.style === 'string' && /XFR/.test(l.msg)) as never;
}
