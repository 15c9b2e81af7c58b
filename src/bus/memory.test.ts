import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SakimoriError } from '../core/index.ts';
import { busContract } from './contract.ts';
import { MemoryBus, openBus, type BusLogger } from './index.ts';

const quietLog = (): BusLogger & { warnings: string[]; errors: string[] } => {
  const warnings: string[] = [];
  const errors: string[] = [];
  return { warnings, errors, warn: (_f, m) => warnings.push(m), error: (_f, m) => errors.push(m) };
};

busContract('memory', () => openBus('memory:', { logger: quietLog() }));

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('memory bus: acknowledged messages are dropped oldest first, so memory stays bounded', async () => {
  const bus = new MemoryBus({ maxRetained: 100, logger: quietLog() });
  let handled = 0;
  const sub = await bus.subscribe('observations', { durable: 'keeps-up' }, () => {
    handled++;
  });
  for (let i = 0; i < 1000; i++) {
    await bus.publish('observations', i);
    await bus.publish('no-consumer', i);
    // Let the consumer catch up now and then, so only the bound, not a slow machine, decides.
    if (i % 20 === 19) while (handled < i + 1) await sleep(1);
  }
  const kept = await bus.read('no-consumer', 0);
  assert.ok(kept.length <= 100, `at most 100 retained, got ${kept.length}`);
  assert.equal(kept.at(-1)!.data, 999, 'the newest are kept');
  await sleep(20);
  assert.equal(handled, 1000);
  await sub.close();
  await bus.close();
});

test('memory bus: a lagging consumer is named and publishing fails instead of dropping its messages', async () => {
  const log = quietLog();
  const bus = new MemoryBus({ maxRetained: 50, logger: log });
  const stuck: (() => void)[] = [];
  const sub = await bus.subscribe('observations', { durable: 'slow-writer', from: 'all' }, () => new Promise<void>((r) => stuck.push(r)));
  for (let i = 0; i < 50; i++) await bus.publish('observations', i);
  await assert.rejects(bus.publish('observations', 50), (err: unknown) => {
    assert.ok(err instanceof SakimoriError);
    assert.equal(err.code, 'BUS_FULL');
    assert.match(err.message, /"slow-writer" on "observations"/);
    assert.match(err.hint ?? '', /maxRetained/);
    return true;
  });
  assert.equal(log.errors.length, 1, 'reported once');
  assert.ok(log.warnings.some((w) => /consumers lag/.test(w)));
  // Nothing was dropped: the consumer still gets all 50, then publishing works again.
  const seen: number[] = [];
  await sub.close();
  const sub2 = await bus.subscribe<number>('observations', { durable: 'slow-writer', maxInFlight: 100 }, (m) => {
    seen.push(m.data);
  });
  for (let i = 0; i < 100 && seen.length < 50; i++) await sleep(5);
  assert.deepEqual([...new Set(seen)].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i));
  await bus.publish('observations', 50);
  await sub2.close();
  await bus.close();
});

test('memory bus: close() stops redelivery timers and leaves nothing keeping the process alive', async () => {
  const bus = new MemoryBus({ logger: quietLog() });
  await bus.publish('observations', 1);
  let calls = 0;
  await bus.subscribe('observations', { durable: 'd', ackWaitMs: 20 }, () => {
    calls++;
    throw new Error('always');
  });
  await sleep(50);
  await bus.close();
  const after = calls;
  await sleep(400);
  assert.equal(calls, after, 'no delivery after close');
  assert.ok(after >= 1);
});

test('openBus: unknown or malformed URLs fail with a clear error', async () => {
  for (const url of ['kafka://x:9092', 'memory://host', 'no-scheme']) {
    await assert.rejects(openBus(url), (err: unknown) => {
      assert.ok(err instanceof SakimoriError, url);
      assert.equal(err.code, 'BUS_URL_INVALID');
      assert.match(err.hint ?? '', /memory:/);
      return true;
    });
  }
  await assert.rejects(openBus('kafka://user:secret@x'), (err: unknown) => !String((err as Error).message).includes('secret'));
});
