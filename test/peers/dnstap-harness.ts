/**
 * What the dnstap interop tests share: `dig` against a resolver on loopback, a collector
 * whose events are kept for assertions, and checks that a Debian tool is there (a
 * missing one fails the test with the package to install; never a skip).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { DnstapCollector, type DnstapEvent, type DnstapListen } from '../../src/dns/dnstap/index.ts';

export function requireTool(bin: string, pkg: string, why: string): string {
  for (const dir of ['/usr/bin', '/usr/sbin', '/usr/local/bin', '/usr/local/sbin']) if (existsSync(`${dir}/${bin}`)) return `${dir}/${bin}`;
  throw new Error(`${bin} is not installed: ${why}. Install it with \`sudo apt-get install ${pkg}\` (scripts/install-peers.sh).`);
}

/** Unbound must be built with --enable-dnstap (Debian's is). */
export function requireUnboundDnstap(unbound: string): void {
  const v = execFileSync(unbound, ['-V'], { encoding: 'utf8' });
  if (!v.includes('--enable-dnstap')) throw new Error(`${unbound} was built without dnstap (no --enable-dnstap in \`unbound -V\`): install Debian's unbound package, which has it`);
}

export interface DigResult {
  status: string;
  /** ";; MSG SIZE  rcvd: N": the size of the response dig got. */
  size: number;
  answer: string[];
}

/** One query with dig (+tcp when asked); never to anything but 127.0.0.1. */
export function dig(port: number, name: string, type: string, opts: { tcp?: boolean } = {}): Promise<DigResult> {
  return new Promise((resolve, reject) => {
    const c = spawn('dig', ['@127.0.0.1', '-p', String(port), '+time=2', '+tries=1', ...(opts.tcp ? ['+tcp'] : []), name, type], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    c.on('error', reject);
    c.on('close', () => {
      const status = /status: (\w+)/.exec(out)?.[1];
      const size = /MSG SIZE\s+rcvd: (\d+)/.exec(out)?.[1];
      if (!status || !size) return reject(new Error(`dig ${name} ${type} got no answer from 127.0.0.1:${port}:\n${out}`));
      const answer = (/;; ANSWER SECTION:\n([\s\S]*?)\n\n/.exec(out)?.[1] ?? '').split('\n').filter(Boolean);
      resolve({ status, size: Number(size), answer });
    });
  });
}

/** A collector whose events are all kept (a test's short run only). */
export class CollectedEvents {
  readonly events: DnstapEvent[] = [];
  constructor(readonly collector: DnstapCollector) {
    collector.onEvent((e) => this.events.push(e));
  }

  static async start(listen: DnstapListen[], logger = silent()): Promise<CollectedEvents> {
    const c = new DnstapCollector({ listen, summaryIntervalMs: 0 }, { logger });
    await c.start();
    return new CollectedEvents(c);
  }

  async waitFor(what: string, pred: (e: DnstapEvent) => boolean, ms = 20_000, context: () => string = () => ''): Promise<DnstapEvent> {
    const until = Date.now() + ms;
    for (;;) {
      const e = this.events.find(pred);
      if (e) return e;
      if (Date.now() > until) throw new Error(`no dnstap event for ${what} within ${ms} ms; collector stats ${JSON.stringify(this.collector.stats())}; events ${JSON.stringify(this.events.slice(-10))}\n${context()}`);
      await sleep(20);
    }
  }

  /** Sends `probe` until the resolver's dnstap connection carries it (writers connect asynchronously). */
  async waitUntilFlowing(port: number, probe: string, ms = 30_000, context: () => string = () => ''): Promise<void> {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      await dig(port, probe, 'A').catch(() => undefined);
      const deadline = Date.now() + 1000;
      while (Date.now() < deadline) {
        if (this.events.some((e) => e.qname === probe)) return;
        await sleep(20);
      }
    }
    throw new Error(`the resolver on 127.0.0.1:${port} sent no dnstap for ${probe} within ${ms} ms; collector stats ${JSON.stringify(this.collector.stats())}\n${context()}`);
  }

  stop(): Promise<void> {
    return this.collector.stop();
  }
}

function silent() {
  const none = () => undefined;
  return { info: none, warn: none, error: none, debug: none };
}
