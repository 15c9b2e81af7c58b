import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openStore, type Store } from '../store/index.ts';
import { AuditLog, privacyMigrations } from '../privacy/index.ts';
import { formatPrefix, ManualClock } from '../core/index.ts';
import { ConsentRegistry, consentMigrations, ConsentFollower, FOLLOWER_ACTOR, type ConsentEvent } from './index.ts';

describe('ConsentFollower (R1: the opt-out follows the subscriber onto new addresses)', () => {
  let store: Store;
  let audit: AuditLog;
  let consent: ConsentRegistry;
  let follower: ConsentFollower;
  const clock = new ManualClock(Date.parse('2025-01-06T00:00:00Z'));
  // What attribution says each login holds now (the real index is exercised end to end in test/consent-follower.test.ts).
  const held = new Map<string, { address: string; nas: string; sessionId: string }[]>();
  const seen: ConsentEvent[] = [];
  const optOuts = async () => (await consent.clientOptOuts()).map(formatPrefix).sort();

  before(async () => {
    store = await openStore('sqlite::memory:');
    await store.migrate([...privacyMigrations, ...consentMigrations]);
    audit = new AuditLog(store, { clock, flushIntervalMs: 0 });
    consent = new ConsentRegistry(store, audit, { clock });
    consent.onChange((e) => seen.push(e));
    follower = new ConsentFollower({
      consent,
      store,
      audit,
      loginOf: async (id) => (id === 'S1' ? 'hanako@isp' : undefined),
      holdingsOf: async (login) => held.get(login) ?? [],
      logger: { warn: () => undefined },
      pollMs: 20,
    });
    await follower.start();
  });
  after(async () => {
    await follower.stop();
    await audit.close();
    await store.close();
  });

  it('an opt-out made in another process is picked up and put on the address held now', async () => {
    held.set('hanako@isp', [{ address: '192.0.2.21', nas: 'bras1', sessionId: 'A' }]);
    // Written straight to the store, as `sakimori consent optout --subscriber S1` in another process does.
    await new ConsentRegistry(store, audit, { clock }).optOut({ scope: 'subscriber', subject: 'S1', actor: 'cli:alice', via: 'cli' });
    for (let i = 0; i < 100 && (await optOuts()).length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    await follower.idle();
    assert.deepEqual(await optOuts(), ['192.0.2.21/32']);
    const e = (await consent.history({ scope: 'client', subject: '192.0.2.21/32' })).at(-1)!;
    assert.deepEqual([e.choice, e.actor, e.via], ['opt-out', FOLLOWER_ACTOR, 'session']);
  });

  it('a session Stop takes its opt-out off; a Start on a new address (and a delegated prefix) puts one on at once; other logins are left alone', async () => {
    seen.length = 0;
    held.set('hanako@isp', []);
    follower.sessionChanged({ kind: 'stop', nas: 'bras1', sessionId: 'A', login: 'hanako@isp', addresses: ['192.0.2.21'] });
    held.set('hanako@isp', [{ address: '192.0.2.22', nas: 'bras1', sessionId: 'B' }, { address: '2001:db8:12::/56', nas: 'bras1', sessionId: 'B' }]);
    follower.sessionChanged({ kind: 'start', nas: 'bras1', sessionId: 'B', login: 'hanako@isp', addresses: ['192.0.2.22', '2001:db8:12::/56'] });
    follower.sessionChanged({ kind: 'start', nas: 'bras1', sessionId: 'C', login: 'taro@isp', addresses: ['192.0.2.23'] });
    await follower.idle();
    assert.deepEqual(await optOuts(), ['192.0.2.22/32', '2001:db8:12::/56']);
    assert.deepEqual(seen.map((e) => [e.subject, e.choice]), [['192.0.2.21/32', 'opt-in'], ['192.0.2.22/32', 'opt-out'], ['2001:db8:12::/56', 'opt-out']]);
    assert.ok(seen.every((e) => e.actor === FOLLOWER_ACTOR && e.via === 'session' && e.reason));
    const entries = await audit.list({ limit: 100 });
    assert.ok(entries.filter((e) => e.action === 'consent' && e.actor === FOLLOWER_ACTOR).length >= 4);
  });

  it('removes only what it made: an operator\'s own later opt-out of a followed address stands after the Stop', async () => {
    clock.advance(1000);
    await consent.optOut({ scope: 'client', subject: '192.0.2.22/32', actor: 'cli:alice', via: 'cli', reason: 'ticket 4711' });
    follower.sessionChanged({ kind: 'stop', nas: 'bras1', sessionId: 'B', login: 'hanako@isp', addresses: [] });
    held.set('hanako@isp', []);
    await follower.idle();
    assert.deepEqual(await optOuts(), ['192.0.2.22/32']);
    assert.equal((await consent.history({ scope: 'client', subject: '192.0.2.22/32' })).at(-1)!.actor, 'cli:alice');
    assert.deepEqual(await follower.followed(), []);
  });

  it('an address the operator opted out already is not taken over, and a NAS restart releases what the NAS held', async () => {
    held.set('hanako@isp', [{ address: '192.0.2.22', nas: 'bras1', sessionId: 'D' }, { address: '192.0.2.30', nas: 'bras1', sessionId: 'D' }]);
    follower.sessionChanged({ kind: 'start', nas: 'bras1', sessionId: 'D', login: 'hanako@isp', addresses: ['192.0.2.22', '192.0.2.30'] });
    await follower.idle();
    assert.deepEqual((await follower.followed()).map((f) => f.subject), ['192.0.2.30/32']);
    follower.sessionChanged({ kind: 'nas-reset', nas: 'bras1', addresses: [] });
    held.set('hanako@isp', []);
    await follower.idle();
    assert.deepEqual(await optOuts(), ['192.0.2.22/32']);
  });

  it('an opt-in takes off every opt-out it made for the subscriber; Starts after that change nothing', async () => {
    held.set('hanako@isp', [{ address: '192.0.2.40', nas: 'bras2', sessionId: 'E' }, { address: '192.0.2.41', nas: 'bras3', sessionId: 'F' }]);
    follower.sessionChanged({ kind: 'start', nas: 'bras2', sessionId: 'E', login: 'hanako@isp', addresses: ['192.0.2.40'] });
    follower.sessionChanged({ kind: 'start', nas: 'bras3', sessionId: 'F', login: 'hanako@isp', addresses: ['192.0.2.41'] });
    await follower.idle();
    assert.deepEqual(await optOuts(), ['192.0.2.22/32', '192.0.2.40/32', '192.0.2.41/32']);
    clock.advance(1000);
    seen.length = 0;
    await consent.optIn({ scope: 'subscriber', subject: 'S1', actor: 'subscriber:S1', via: 'portal' });
    // The follower's poll sees the choice (as it would one made in another process).
    for (let i = 0; i < 100 && (await optOuts()).length > 1; i++) await new Promise((r) => setTimeout(r, 20));
    await follower.idle();
    assert.deepEqual(await optOuts(), ['192.0.2.22/32']);
    assert.deepEqual(seen.filter((e) => e.scope === 'client').map((e) => [e.subject, e.choice, e.actor]).sort(), [['192.0.2.40/32', 'opt-in', FOLLOWER_ACTOR], ['192.0.2.41/32', 'opt-in', FOLLOWER_ACTOR]]);
    assert.deepEqual(await follower.release('S1'), [], 'nothing left to release');
    follower.sessionChanged({ kind: 'start', nas: 'bras2', sessionId: 'G', login: 'hanako@isp', addresses: ['192.0.2.42'] });
    await follower.idle();
    assert.deepEqual(await optOuts(), ['192.0.2.22/32']);
  });

  it('reconciliation covers what it could not see (sessions imported by another process) and releases what is no longer held', async () => {
    clock.advance(1000);
    await consent.optOut({ scope: 'subscriber', subject: 'S9', actor: 'cli:alice', via: 'cli' });
    held.set('S9', [{ address: '198.51.100.9', nas: 'dhcp', sessionId: 'lease-1' }]);
    await follower.reconcile();
    assert.ok((await optOuts()).includes('198.51.100.9/32'), 'a login the directory does not know stands for itself');
    held.set('S9', []);
    await follower.reconcile();
    assert.ok(!(await optOuts()).includes('198.51.100.9/32'));
    const h = await follower.health();
    assert.equal(h.status, 'ok');
  });

  it('another subscriber\'s Start on a followed address (the Stop of the session that held it was lost) ends the opt-out there', async () => {
    held.set('S9', [{ address: '198.51.100.10', nas: 'dhcp', sessionId: 'lease-2' }]);
    follower.sessionChanged({ kind: 'start', nas: 'dhcp', sessionId: 'lease-2', login: 'S9', addresses: ['198.51.100.10'] });
    await follower.idle();
    assert.ok((await optOuts()).includes('198.51.100.10/32'));
    clock.advance(1000); // history orders events of one millisecond by their random id
    follower.sessionChanged({ kind: 'start', nas: 'dhcp', sessionId: 'lease-3', login: 'taro@isp', addresses: ['198.51.100.10'] });
    await follower.idle();
    assert.ok(!(await optOuts()).includes('198.51.100.10/32'), 'taro is filtered as his own (default) choice says');
    assert.match((await consent.history({ scope: 'client', subject: '198.51.100.10/32' })).at(-1)!.reason!, /another subscriber/);
  });

  it('a Stop handed over right behind its Start (one batch) still takes the opt-out off', async () => {
    clock.advance(1000);
    held.set('S9', [{ address: '198.51.100.11', nas: 'bras9', sessionId: 'Q' }]);
    follower.sessionChanged({ kind: 'start', nas: 'bras9', sessionId: 'Q', login: 'S9', addresses: ['198.51.100.11'] });
    follower.sessionChanged({ kind: 'stop', nas: 'bras9', sessionId: 'Q', login: 'S9', addresses: ['198.51.100.11'] });
    await follower.idle();
    const h = await consent.history({ scope: 'client', subject: '198.51.100.11/32' });
    assert.deepEqual(h.map((e) => e.choice).sort(), ['opt-in', 'opt-out']);
    assert.ok(!(await optOuts()).includes('198.51.100.11/32'));
  });
});

describe('ConsentFollower on several nodes sharing one store', () => {
  it('an opt-out seen by every node is recorded once per address, and the Stop seen by one node takes it off', async () => {
    const store = await openStore('sqlite::memory:');
    await store.migrate([...privacyMigrations, ...consentMigrations]);
    const clock = new ManualClock(Date.parse('2025-01-06T00:00:00Z'));
    const audit = new AuditLog(store, { clock, flushIntervalMs: 0 });
    const held = [{ address: '192.0.2.70', nas: 'bras1', sessionId: 'N1' }, { address: '192.0.2.71', nas: 'bras2', sessionId: 'N2' }];
    const nodes = [1, 2, 3].map(
      () =>
        new ConsentFollower({
          consent: new ConsentRegistry(store, audit, { clock }),
          store,
          audit,
          loginOf: async () => 'kenji@isp',
          holdingsOf: async () => held,
          logger: { warn: () => undefined },
          pollMs: 10,
        }),
    );
    try {
      for (const n of nodes) await n.start();
      const consent = new ConsentRegistry(store, audit, { clock });
      await consent.optOut({ scope: 'subscriber', subject: 'S7', actor: 'cli:alice', via: 'cli' });
      for (let i = 0; i < 200 && (await consent.clientOptOuts()).length < 2; i++) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 100)); // every node has had its look
      for (const n of nodes) await n.idle();
      for (const a of ['192.0.2.70/32', '192.0.2.71/32']) assert.deepEqual((await consent.history({ scope: 'client', subject: a })).map((e) => e.choice), ['opt-out'], a);
      clock.advance(1000);
      held.shift();
      nodes[1]!.sessionChanged({ kind: 'stop', nas: 'bras1', sessionId: 'N1', login: 'kenji@isp', addresses: ['192.0.2.70'] });
      for (const n of nodes) await n.idle();
      assert.deepEqual((await consent.history({ scope: 'client', subject: '192.0.2.70/32' })).map((e) => e.choice), ['opt-out', 'opt-in']);
      assert.deepEqual((await consent.clientOptOuts()).map(formatPrefix), ['192.0.2.71/32']);
    } finally {
      for (const n of nodes) await n.stop();
      await audit.close();
      await store.close();
    }
  });
});
