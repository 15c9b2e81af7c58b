/**
 * A throwaway PostgreSQL for tests and benchmarks: the newest server under
 * /usr/lib/postgresql (Debian's `postgresql` package), a fresh cluster in a
 * temp dir, listening only on 127.0.0.1 (a free port) and a socket in that
 * dir, with durability off for speed. Stopped and deleted by stop(), and on
 * process exit or SIGINT/SIGTERM if stop() was never reached.
 *
 *   const pg = await startPostgres();
 *   const url = await pg.createDatabase();   // a fresh, empty database
 *   ...
 *   await pg.stop();
 *
 * Throws with a clear message if PostgreSQL is not installed or will not
 * start, so a test that needs it fails instead of silently skipping.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processAlive } from '../../src/core/index.ts';
import { freePort } from './ports.ts';
import { Client } from 'pg';

export interface PostgresPeer {
  /** URL of the `postgres` maintenance database (trust auth, no password). */
  readonly url: string;
  readonly port: number;
  /** The directory holding the server's unix socket. */
  readonly socketDir: string;
  /** Creates a new empty database and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  stop(): Promise<void>;
}

const PG_ROOT = '/usr/lib/postgresql';

/** The bin directory of the newest installed PostgreSQL major version. */
export function findPostgresBin(): string {
  const versions = existsSync(PG_ROOT)
    ? readdirSync(PG_ROOT)
        .filter((v) => /^\d+(\.\d+)?$/.test(v) && existsSync(join(PG_ROOT, v, 'bin', 'postgres')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) {
    throw new Error(`PostgreSQL is not installed: no ${PG_ROOT}/<version>/bin/postgres. Install it with: apt-get install postgresql`);
  }
  return join(PG_ROOT, versions[0]!, 'bin');
}

/** When running as root, the server must run as an unprivileged user: postgres refuses root. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  const fields = line?.split(':');
  if (!fields || fields.length < 4) {
    throw new Error('running as root and there is no "postgres" user to run the test PostgreSQL as (the postgresql package creates it)');
  }
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

const running = new Set<{ child: ChildProcess; dir: string }>();
let exitHooked = false;

/** Last-resort cleanup, synchronous because it runs in 'exit'. */
function killAllNow(): void {
  for (const r of running) {
    try {
      r.child.kill('SIGQUIT'); // immediate shutdown: the postmaster stops its backends and exits
    } catch {
      /* already gone */
    }
    const until = Date.now() + 3000;
    while (r.child.pid !== undefined && processAlive(r.child.pid) && Date.now() < until) {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
    rmSync(r.dir, { recursive: true, force: true });
  }
  running.clear();
}

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on('exit', killAllNow);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killAllNow();
      // If nobody else handles the signal, die of it as we would have without this hook.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    });
  }
}

export async function startPostgres(opts: { log?: (line: string) => void } = {}): Promise<PostgresPeer> {
  const bin = findPostgresBin();
  const user = serverUser();
  const dir = mkdtempSync(join(tmpdir(), 'sakimori-pg-'));
  const data = join(dir, 'data');
  if (user) chownSync(dir, user.uid, user.gid);
  const asServer = user ? { uid: user.uid, gid: user.gid } : {};
  const env = { ...process.env, LC_ALL: 'C', LANG: 'C' };

  // -N: no fsync; trust auth: the server is reachable only from this machine and dies with the test.
  const init = spawnSync(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '-N'], {
    ...asServer,
    cwd: dir,
    env,
    encoding: 'utf8',
  });
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`initdb failed (exit ${init.status ?? init.signal}): ${init.error?.message ?? ''}${init.stderr}${init.stdout}`);
  }

  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child = spawn(
      join(bin, 'postgres'),
      [
        '-D', data,
        '-p', String(port),
        '-c', 'listen_addresses=127.0.0.1',
        '-c', `unix_socket_directories=${dir}`,
        '-c', 'fsync=off',
        '-c', 'synchronous_commit=off',
        '-c', 'full_page_writes=off',
        '-c', 'max_connections=200',
        '-c', 'shared_buffers=256MB',
        '-c', 'max_wal_size=4GB',
        '-c', 'log_min_messages=warning',
      ],
      { ...asServer, cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => {
      stderr += s;
      if (stderr.length > 20_000) stderr = stderr.slice(-10_000);
      opts.log?.(s);
    });
    const entry = { child, dir };
    running.add(entry);
    hookExit();
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

    const ready = await waitReady(url, child, 15_000);
    if (ready) {
      let counter = 0;
      let stopping: Promise<void> | undefined;
      return {
        url,
        port,
        socketDir: dir,
        async createDatabase(name?: string) {
          const db = name ?? `t${process.pid}_${++counter}`;
          const c = new Client({ connectionString: url });
          await c.connect();
          try {
            await c.query(`CREATE DATABASE "${db.replace(/"/g, '""')}" TEMPLATE template0 ENCODING 'UTF8'`);
          } finally {
            await c.end();
          }
          return `postgres://postgres@127.0.0.1:${port}/${encodeURIComponent(db)}`;
        },
        stop() {
          stopping ??= (async () => {
            if (child.exitCode === null && child.signalCode === null) {
              child.kill('SIGINT'); // fast shutdown: disconnect clients, no checkpoint wait beyond need
              const t = setTimeout(() => child.kill('SIGQUIT'), 10_000);
              await exited;
              clearTimeout(t);
            }
            running.delete(entry);
            rmSync(dir, { recursive: true, force: true });
          })();
          return stopping;
        },
      };
    }
    lastError = stderr;
    child.kill('SIGQUIT');
    await exited;
    running.delete(entry);
    if (!/could not bind|address already in use/i.test(stderr)) break; // only a lost port race is worth retrying
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`PostgreSQL (${bin}/postgres) did not start: ${lastError.trim() || 'no output'}`);
}

async function waitReady(url: string, child: ChildProcess, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    const c = new Client({ connectionString: url, connectionTimeoutMillis: 1000 });
    try {
      await c.connect();
      await c.query('SELECT 1');
      await c.end();
      return true;
    } catch {
      await c.end().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return false;
}
