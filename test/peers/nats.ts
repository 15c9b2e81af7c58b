/**
 * A throwaway `nats-server -js` for tests: loopback only, a port the kernel
 * picks (`-p -1`, read back from the server's log, so two test files never
 * race for one port), and a temp store dir removed on stop. The server is
 * killed on stop() and, as a backstop, when the test process exits.
 *
 * A missing nats-server fails the tests (never skips them): a skipped peer
 * test hides a gap. scripts/test.sh installs the Debian package.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

export interface NatsPeer {
  /** nats://127.0.0.1:PORT */
  readonly url: string;
  /** Kills the server and removes its store dir. Safe to call twice. */
  stop(): Promise<void>;
}

const STARTUP_TIMEOUT_MS = 15_000;

/** SAKIMORI_NATS_SERVER names another binary (e.g. a newer release); otherwise PATH, then /usr/sbin. */
export function findNatsServer(): string | undefined {
  const override = process.env['SAKIMORI_NATS_SERVER'];
  if (override) return existsSync(override) ? override : undefined;
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/sbin', '/usr/local/bin', '/usr/bin'];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, 'nats-server');
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}

const running = new Set<{ child: ChildProcess; storeDir: string }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous: SIGKILL and rmSync are.
  process.on('exit', () => {
    for (const r of running) {
      r.child.kill('SIGKILL');
      rmSync(r.storeDir, { recursive: true, force: true });
    }
  });
}

export interface StartNatsOptions {
  /** Default true. false starts a server without JetStream, to test that error. */
  jetstream?: boolean;
}

export async function startNats(opts: StartNatsOptions = {}): Promise<NatsPeer> {
  const bin = findNatsServer();
  if (!bin) {
    throw new Error(
      `nats-server is not installed (looked ${process.env['SAKIMORI_NATS_SERVER'] ? `at SAKIMORI_NATS_SERVER=${process.env['SAKIMORI_NATS_SERVER']}` : 'on PATH and in /usr/sbin'}): ` +
        'the NATS bus tests need a real server. ' +
        'Install it with `sudo apt-get install nats-server` (scripts/test.sh does this).',
    );
  }
  installExitHook();
  const storeDir = mkdtempSync(join(tmpdir(), 'sakimori-nats-'));
  const args = ['-a', '127.0.0.1', '-p', '-1', ...(opts.jetstream === false ? [] : ['-js', '-sd', storeDir])];
  const child = spawn(bin, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const entry = { child, storeDir };
  running.add(entry);

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.ref(); // unref'd after startup; waiting for its exit must keep this process alive
      child.kill('SIGKILL');
      await exited;
    }
    running.delete(entry);
    rmSync(storeDir, { recursive: true, force: true });
  };

  try {
    const port = await waitForPort(child);
    await waitForConnect(port);
    // A test that forgets stop() must not hang its process: the exit hook kills the server.
    child.unref();
    (child.stdout as unknown as { unref?: () => void } | null)?.unref?.();
    (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();
    return { url: `nats://127.0.0.1:${port}`, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** nats-server logs "Listening for client connections on 127.0.0.1:PORT" once it has bound. */
function waitForPort(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let log = '';
    const onData = (chunk: Buffer): void => {
      log += chunk.toString('utf8');
      const m = /Listening for client connections on [^\s]*:(\d+)/.exec(log);
      if (m) {
        cleanup();
        resolve(Number(m[1]));
      }
    };
    const onExit = (code: number | null, signal: string | null): void => {
      cleanup();
      reject(new Error(`nats-server exited during startup (code ${code}, signal ${signal}):\n${log.slice(-2000)}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`nats-server did not report its port within ${STARTUP_TIMEOUT_MS} ms:\n${log.slice(-2000)}`));
    }, STARTUP_TIMEOUT_MS);
    const cleanup = (): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      child.off('exit', onExit);
      // Keep draining the pipes so a chatty server never blocks on a full pipe.
      child.stdout?.resume();
      child.stderr?.resume();
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}

async function waitForConnect(port: number): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = createConnection({ host: '127.0.0.1', port }, () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nats-server on 127.0.0.1:${port} does not accept connections`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
