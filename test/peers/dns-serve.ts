/**
 * `sakimori dns serve ARGS` as a child process in a working directory, its JSON log read
 * back (test/dns-primary*.test.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { logLinesOf, type LogLine } from './rpz-feed.ts';

const BIN = resolve(import.meta.dirname, '../../bin/sakimori.js');

export interface Served {
  port: number;
  child: ChildProcess;
  out(): string;
  logs(): LogLine[];
  close(): Promise<void>;
}

/** Spawns `sakimori dns serve ARGS` in `cwd`; with `wait`, resolves once it answers DNS. */
export function dnsServe(args: string[], cwd: string, wait = true): Promise<Served> {
  const child = spawn(process.execPath, [BIN, '--log-level', 'info', 'dns', 'serve', '--listen', '127.0.0.1:0', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const lines = logLinesOf(child);
  child.stdout!.setEncoding('utf8').on('data', (s: string) => (out += s));
  const kill = () => child.kill('SIGKILL');
  process.once('exit', kill);
  const served: Served = {
    get port() {
      return Number(/DNS firewall \(UDP\+TCP\): dns:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1] ?? 0);
    },
    child,
    out: () => out,
    logs: () => lines,
    async close() {
      process.off('exit', kill);
      if (child.exitCode !== null || child.signalCode !== null) return;
      await new Promise<void>((r) => {
        child.once('exit', () => r());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 5000).unref();
      });
    },
  };
  if (!wait) return Promise.resolve(served);
  return new Promise((res, rej) => {
    const until = Date.now() + 60_000;
    const poll = setInterval(() => {
      if (served.port > 0) {
        clearInterval(poll);
        res(served);
      } else if (child.exitCode !== null || Date.now() > until) {
        clearInterval(poll);
        kill();
        rej(new Error(`dns serve did not start:\n${out}\n${lines.map((l) => JSON.stringify(l)).join('\n')}`));
      }
    }, 100);
  });
}

