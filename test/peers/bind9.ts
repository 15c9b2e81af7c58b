/**
 * A throwaway BIND 9 (Debian's `bind9`, the `named` binary) on 127.0.0.1 at a port picked
 * here, with its own config, pid file, session key and working dir in a temp dir, in the
 * foreground (-g: everything it logs goes to stderr, kept for assertions), IPv4 only (-4).
 * Runs as the current user; as root it stays root (-u root: no privilege drop to a
 * `bind` user that could not read the temp dir). The control channel is off.
 *
 * Traffic stays on loopback: the caller gives the forwarders (forward only), and the
 * root hints name 127.0.0.1 only, so even a priming query goes nowhere else.
 * Killed on close() and, as a backstop, at exit. A missing named fails the tests (never
 * skips them); scripts/install-peers.sh installs the Debian package.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { answers, freePort } from './unbound.ts';

export interface Bind9Peer {
  readonly host: string;
  readonly port: number;
  readonly dir: string;
  /** The last 256 KiB named wrote to stderr (its log). */
  log(): string;
  close(): Promise<void>;
}

export interface Bind9Options {
  /** Statements inside `options { }`, each ending with ";". */
  options?: string[];
  /** Top-level statements (zone "..." { ... };). */
  statements?: string[];
  /** Files to write into the temp dir before start. */
  files?: Record<string, string>;
  port?: number;
  /** Milliseconds to wait for the first answer. Default 30 s. */
  startupMs?: number;
}

export function findNamed(): string | undefined {
  for (const p of ['/usr/sbin/named', '/usr/bin/named', '/usr/local/sbin/named']) if (existsSync(p)) return p;
  return undefined;
}

const running = new Set<ChildProcess>();
let hooked = false;

export async function startBind9(opts: Bind9Options = {}): Promise<Bind9Peer> {
  const bin = findNamed();
  if (!bin) throw new Error('named is not installed: the RPZ interop tests need a real BIND 9. Install it with `sudo apt-get install bind9 dnsutils` (scripts/test.sh does this).');
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      for (const c of running) c.kill('SIGKILL');
    });
  }
  const dir = mkdtempSync(join(tmpdir(), 'sakimori-named-'));
  const port = opts.port ?? (await freePort());
  const files: Record<string, string> = {
    'root.hints': '.\t3600000\tNS\ta.root.invalid.\na.root.invalid.\t3600000\tA\t127.0.0.1\n',
    'ready.db': '$TTL 60\n@ SOA localhost. hostmaster.localhost. 1 60 60 600 60\n@ NS localhost.\n@ A 127.0.0.1\n',
    ...opts.files,
  };
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  const conf = join(dir, 'named.conf');
  writeFileSync(
    conf,
    [
      'options {',
      `  directory "${dir}";`,
      `  pid-file "${join(dir, 'named.pid')}";`,
      `  session-keyfile "${join(dir, 'session.key')}";`,
      `  managed-keys-directory "${dir}";`,
      `  dump-file "${join(dir, 'named_dump.db')}";`,
      `  statistics-file "${join(dir, 'named.stats')}";`,
      `  listen-on port ${port} { 127.0.0.1; };`,
      '  listen-on-v6 { none; };',
      '  allow-query { 127.0.0.0/8; };',
      '  dnssec-validation no;',
      '  notify no;',
      '  masterfile-format text;',
      ...(opts.options ?? []).map((l) => `  ${l}`),
      '};',
      'controls { };',
      'zone "." { type hint; file "root.hints"; };',
      'zone "peer-ready.invalid" { type primary; file "ready.db"; };',
      ...(opts.statements ?? []),
      '',
    ].join('\n'),
  );
  let stderr = '';
  const c = spawn(bin, ['-g', '-4', '-u', 'root', '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  running.add(c);
  c.stderr!.setEncoding('utf8');
  c.stderr!.on('data', (s: string) => (stderr = (stderr + s).slice(-262144)));
  c.on('exit', () => running.delete(c));
  const stop = async () => {
    if (c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGTERM');
      setTimeout(() => c.kill('SIGKILL'), 5000).unref();
    });
  };
  const until = Date.now() + (opts.startupMs ?? 30_000);
  for (;;) {
    if (c.exitCode !== null) throw new Error(`named exited with ${c.exitCode}:\n${stderr.slice(-4000)}`);
    if (await answers('127.0.0.1', port, 'peer-ready.invalid', 300)) break;
    if (Date.now() > until) {
      await stop();
      throw new Error(`named did not answer on 127.0.0.1:${port} within ${opts.startupMs ?? 30_000} ms:\n${stderr.slice(-4000)}`);
    }
  }
  return {
    host: '127.0.0.1',
    port,
    dir,
    log: () => stderr,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
