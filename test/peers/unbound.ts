/**
 * A throwaway Unbound (Debian's `unbound`) on 127.0.0.1, answering from local data: the
 * upstream resolver the DNS firewall tests forward to, a real server, not a mock. Runs in
 * the foreground (-d) as the current user with a config in a temp dir, on a port picked
 * here (Unbound cannot take port 0). Killed on stop() and, as a backstop, at exit.
 *
 * A missing unbound fails the tests (never skips them). scripts/install-peers.sh
 * installs the Debian package.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';

export interface UnboundPeer {
  readonly host: string;
  readonly port: number;
  /** "127.0.0.1:PORT" */
  readonly address: string;
  /** Stops the server (it can be started again with start()). */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Removes the temp dir too. */
  close(): Promise<void>;
  /** The temp dir holding unbound.conf (and any files the test puts next to it). */
  readonly dir: string;
  /** The last 64 KiB Unbound wrote to stderr (its log), for assertions and failure messages. */
  log(): string;
}

export interface UnboundOptions {
  /** local-zone lines, e.g. `"example." static`. */
  localZones?: string[];
  /** local-data lines, e.g. `"www.example. 300 IN A 192.0.2.1"`. */
  localData?: string[];
  /** More `server:` lines. */
  extra?: string[];
  threads?: number;
  port?: number;
  /** Milliseconds to wait for the first answer. Default 20 s. */
  startupMs?: number;
  /** `module-config:`, e.g. "respip iterator" for RPZ. Default: Unbound's own. */
  moduleConfig?: string;
  /** Top-level clauses after `server:` (rpz:, forward-zone:, auth-zone:), one line each, indented as written. */
  clauses?: string[];
  /** Default 0. */
  verbosity?: number;
  /** Files to write into the temp dir before start (name -> content), e.g. root hints. */
  files?: Record<string, string>;
}

export function findUnbound(): string | undefined {
  for (const p of ['/usr/sbin/unbound', '/usr/bin/unbound', '/usr/local/sbin/unbound']) if (existsSync(p)) return p;
  return undefined;
}

export { freePort };

const running = new Set<ChildProcess>();
let hooked = false;

/** Sends one query for `name` A and resolves true when any answer comes back. */
export function answers(host: string, port: number, name: string, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const labels = name.split('.').filter(Boolean);
    const q = Buffer.concat([
      Buffer.from([0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]),
      ...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])),
      Buffer.from([0, 0, 1, 0, 1]),
    ]);
    const t = setTimeout(() => {
      s.close();
      resolve(false);
    }, timeoutMs);
    s.on('message', () => {
      clearTimeout(t);
      s.close();
      resolve(true);
    });
    s.on('error', () => undefined);
    s.send(q, port, host);
  });
}

export async function startUnbound(opts: UnboundOptions = {}): Promise<UnboundPeer> {
  const bin = findUnbound();
  if (!bin) throw new Error('unbound is not installed: the DNS firewall tests forward to a real Unbound. Install it with `sudo apt-get install unbound` (scripts/test.sh does this).');
  if (!hooked) {
    hooked = true;
    process.on('exit', () => {
      for (const c of running) c.kill('SIGKILL');
    });
  }
  const dir = mkdtempSync(join(tmpdir(), 'sakimori-unbound-'));
  const port = opts.port ?? (await freePort());
  const conf = join(dir, 'unbound.conf');
  for (const [name, content] of Object.entries(opts.files ?? {})) writeFileSync(join(dir, name), content);
  writeFileSync(
    conf,
    [
      'server:',
      `  interface: 127.0.0.1@${port}`,
      `  port: ${port}`,
      '  do-ip6: no',
      `  num-threads: ${opts.threads ?? 1}`,
      '  so-reuseport: yes',
      '  username: ""',
      '  chroot: ""',
      `  directory: "${dir}"`,
      '  pidfile: ""',
      '  use-syslog: no',
      '  logfile: ""',
      `  verbosity: ${opts.verbosity ?? 0}`,
      ...(opts.moduleConfig ? [`  module-config: "${opts.moduleConfig}"`] : []),
      '  access-control: 127.0.0.0/8 allow',
      '  do-not-query-localhost: no',
      '  local-zone: "peer-ready.test." static',
      '  local-data: "peer-ready.test. 60 IN A 127.0.0.1"',
      ...(opts.localZones ?? []).map((z) => `  local-zone: ${z}`),
      ...(opts.localData ?? []).map((d) => `  local-data: ${d}`),
      ...(opts.extra ?? []).map((l) => `  ${l}`),
      ...(opts.clauses ?? []),
      'remote-control:',
      '  control-enable: no',
      '',
    ].join('\n'),
  );
  let child: ChildProcess | undefined;
  let stderr = '';
  const start = async (): Promise<void> => {
    stderr = '';
    const c = spawn(bin, ['-d', '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    running.add(c);
    c.stderr!.setEncoding('utf8');
    c.stderr!.on('data', (s: string) => (stderr = (stderr + s).slice(-65536)));
    c.on('exit', () => running.delete(c));
    const until = Date.now() + (opts.startupMs ?? 20_000);
    while (Date.now() < until) {
      if (c.exitCode !== null) throw new Error(`unbound exited with ${c.exitCode}: ${stderr.slice(-4000)}`);
      if (await answers('127.0.0.1', port, 'peer-ready.test', 300)) return;
    }
    c.kill('SIGKILL');
    throw new Error(`unbound did not answer on 127.0.0.1:${port} within ${opts.startupMs ?? 20_000} ms: ${stderr.slice(-4000)}`);
  };
  const stop = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGTERM');
      setTimeout(() => c.kill('SIGKILL'), 3000).unref();
    });
  };
  await start();
  return {
    host: '127.0.0.1',
    port,
    address: `127.0.0.1:${port}`,
    dir,
    log: () => stderr,
    start,
    stop,
    async close() {
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
