import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startNats, type NatsPeer } from '../../test/peers/nats.ts';
import { SakimoriError } from '../core/index.ts';
import { busContract } from './contract.ts';
import { openBus, type Bus, type BusLogger } from './index.ts';

const quietLog: BusLogger = { warn: () => undefined, error: () => undefined };

let peer: NatsPeer;
before(async () => {
  peer = await startNats();
});
after(async () => {
  await peer?.stop();
});

// Each contract test gets its own stream and subject prefix on the one server: a fresh, empty bus.
let n = 0;
busContract('NATS JetStream', () => {
  n++;
  return openBus(`${peer.url}?stream=CONTRACT${n}&prefix=contract${n}`, { logger: quietLog });
});

test('nats: a consumer process SIGKILLed mid-stream loses no event; its durable resumes in a new consumer', { timeout: 60_000 }, async () => {
  const url = `${peer.url}?stream=CRASH&prefix=crash`;
  const bus = await openBus(url, { logger: quietLog });
  try {
    const published = new Set<number>();
    for (let i = 0; i < 50; i++) published.add((await bus.publish('observations', { i })).seq);

    const fixture = fileURLToPath(new URL('./nats/fixtures/crashing-consumer.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, url, 'observations', 'crash-test'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    const got = new Set<number>();
    const handled = new Set<number>();
    try {
      // Kill it once it has finished some messages and holds others: mid-stream.
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`consumer made no progress: got ${got.size}, handled ${handled.size}`)), 30_000);
        createInterface({ input: child.stdout! }).on('line', (line) => {
          const ev = JSON.parse(line) as { got?: number; acked?: number };
          if (ev.got !== undefined) got.add(ev.got);
          if (ev.acked !== undefined) handled.add(ev.acked);
          if (handled.size >= 10) {
            clearTimeout(timer);
            resolve();
          }
        });
        void exited.then((sig) => reject(new Error(`consumer exited early (${sig})`)));
      });
    } finally {
      child.kill('SIGKILL');
    }
    assert.equal(await exited, 'SIGKILL');
    const heldWhenKilled = [...got].filter((s) => !handled.has(s));
    assert.ok(heldWhenKilled.length > 0, 'the killed consumer held unacknowledged messages');
    assert.ok(got.size < published.size, 'it was killed before it saw everything');

    // A new consumer with the same durable gets everything the dead one did not
    // finish: what it never received at once, what it held once its ackWait (2 s) ends.
    const resumed: number[] = [];
    const sub = await bus.subscribe('observations', { durable: 'crash-test', maxInFlight: 16, ackWaitMs: 2_000 }, (m) => {
      resumed.push(m.seq);
    });
    const missing = (): number[] => [...published].filter((s) => !handled.has(s) && !resumed.includes(s));
    const deadline = Date.now() + 20_000;
    while (missing().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await sub.close();
    assert.deepEqual(missing(), [], 'no event lost');
    for (const s of heldWhenKilled) {
      assert.ok(resumed.includes(s), `${s}, held unacknowledged by the killed process, was delivered again`);
    }
  } finally {
    await bus.close();
  }
});

test('nats: an unreachable server fails fast with BUS_UNREACHABLE and a hint', async () => {
  const started = Date.now();
  await assert.rejects(openBus('nats://127.0.0.1:1', { connectTimeoutMs: 2_000 }), (err: unknown) => {
    assert.ok(err instanceof SakimoriError);
    assert.equal(err.code, 'BUS_UNREACHABLE');
    assert.match(err.message, /nats:\/\/127\.0\.0\.1:1/);
    assert.match(err.hint ?? '', /nats-server -js/);
    return true;
  });
  assert.ok(Date.now() - started < 5_000);
});

test('nats: a server without JetStream fails with BUS_JETSTREAM_DISABLED: "start nats-server with -js"', async () => {
  const plain = await startNats({ jetstream: false });
  try {
    await assert.rejects(openBus(plain.url), (err: unknown) => {
      assert.ok(err instanceof SakimoriError);
      assert.equal(err.code, 'BUS_JETSTREAM_DISABLED');
      assert.match(err.hint ?? '', /start nats-server with -js/);
      return true;
    });
  } finally {
    await plain.stop();
  }
});

test('nats: topics map to PREFIX.topic subjects in one stream; seq is the stream sequence; credentials never shown', async () => {
  const bus: Bus = await openBus(`${peer.url}?stream=LAYOUT&prefix=layout`, { logger: quietLog });
  try {
    assert.equal(bus.kind, 'nats');
    const a = await bus.publish('dns.policy-changed', { v: 1 });
    const b = await bus.publish('observations', { v: 2 });
    assert.equal(b.seq, a.seq + 1, 'one stream: one sequence over all topics');
    const { jetstreamManager } = await import('@nats-io/jetstream');
    const { connect } = await import('@nats-io/transport-node');
    const nc = await connect({ servers: peer.url });
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info('LAYOUT');
    assert.deepEqual(info.config.subjects, ['layout.>']);
    assert.equal((await jsm.streams.getMessage('LAYOUT', { seq: a.seq }))?.subject, 'layout.dns.policy-changed');
    await nc.close();
  } finally {
    await bus.close();
  }
  await assert.rejects(openBus('nats://user:hunter2@127.0.0.1:1', { connectTimeoutMs: 500 }), (err: unknown) => {
    assert.ok(!String((err as Error).message).includes('hunter2'));
    return true;
  });
  await assert.rejects(openBus(`${peer.url}?bogus=1`), (err: unknown) => err instanceof SakimoriError && err.code === 'BUS_URL_INVALID');
});
