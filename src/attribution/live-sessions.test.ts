import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AccountingEvent } from '../radius/index.ts';
import { openStore } from '../store/index.ts';
import { parseNetwork } from './address.ts';
import type { PendingOp } from './events.ts';
import { LiveSessions } from './live-sessions.ts';
import { attributionMigrations } from './migrations.ts';
import { SessionIndex } from './session-index.ts';

const T0 = Date.UTC(2025, 0, 6, 10);
const quiet = { warn() {}, debug() {}, error() {} };

function ev(status: AccountingEvent['status'], sid: string | undefined, extra: Partial<AccountingEvent> = {}): AccountingEvent {
  return { status, at: T0, clock: 'event-timestamp', nas: { address: '127.0.0.1', ip: '192.0.2.1' }, ...(sid ? { sessionId: sid } : {}), userName: `u-${sid}`, ...extra };
}

describe('live RADIUS sessions', () => {
  it('records a burst of events in few transactions, each promise resolving once its event is stored', async () => {
    const store = await openStore('sqlite::memory:');
    await store.migrate(attributionMigrations);
    const index = new SessionIndex(store);
    let batches = 0;
    const resolve = index.resolve.bind(index);
    index.resolve = async (ops: readonly PendingOp[]) => {
      batches++;
      return resolve(ops);
    };
    const live = new LiveSessions(index, quiet);
    const starts = Array.from({ length: 500 }, (_, i) => live.record(ev('start', `s${i}`, { framedIp: `198.51.100.${i % 250}`, at: T0 + i })));
    await Promise.all(starts);
    assert.ok(batches <= 3, `${batches} transactions for 500 events`);
    assert.equal(live.stats.recorded, 500);
    const r = await index.holderAt(parseNetwork('198.51.100.7')!, { at: T0 + 300, skewMs: 0 });
    assert.ok(r.result === 'found' && r.subscriber === 'u-s257', JSON.stringify(r));
    await store.close();
  });

  it('answers packets it can never record (no session id, no address) instead of letting the NAS retry for ever', async () => {
    const store = await openStore('sqlite::memory:');
    await store.migrate(attributionMigrations);
    const live = new LiveSessions(new SessionIndex(store), quiet);
    await live.record(ev('start', undefined, { framedIp: '198.51.100.1' }));
    await live.record(ev('start', 'noaddr'));
    assert.deepEqual(live.stats, { recorded: 0, ignored: 2, failed: 0 });
    await store.close();
  });

  it('a failing event is rejected alone (its NAS retries); the rest of its batch is recorded', async () => {
    const store = await openStore('sqlite::memory:');
    await store.migrate(attributionMigrations);
    const index = new SessionIndex(store);
    const resolve = index.resolve.bind(index);
    index.resolve = async (ops: readonly PendingOp[]) => {
      if (ops.some((o) => o.kind !== 'nas-reset' && o.session.sessionId === 'poison')) throw new Error('disk full');
      return resolve(ops);
    };
    const live = new LiveSessions(index, quiet);
    const results = await Promise.allSettled([
      live.record(ev('start', 'a', { framedIp: '198.51.100.1' })),
      live.record(ev('start', 'poison', { framedIp: '198.51.100.2' })),
      live.record(ev('start', 'b', { framedIp: '198.51.100.3' })),
    ]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.equal(live.stats.failed, 1);
    assert.deepEqual(await index.count(), { sessions: 2, open: 2 });
    await live.drain();
    await store.close();
  });
});
