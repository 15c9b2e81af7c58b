/**
 * The consent follower on the scale-out store: two nodes, each with its own
 * connection to one PostgreSQL database, follow one subscriber. The opt-out
 * is recorded once per address whichever node sees it, and the Stop reaching
 * the node that did not make the opt-out still takes it off.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startPostgres, type PostgresPeer } from './peers/postgres.ts';
import { openStore, type Store } from '../src/store/index.ts';
import { AuditLog, privacyMigrations } from '../src/privacy/index.ts';
import { formatPrefix } from '../src/core/index.ts';
import { ConsentFollower, ConsentRegistry, consentMigrations } from '../src/consent/index.ts';

let pg: PostgresPeer;
before(async () => {
  pg = await startPostgres();
});
after(async () => {
  await pg?.stop();
});

test('two nodes on one PostgreSQL database follow one subscriber without doubling or losing a change', async () => {
  const url = await pg.createDatabase();
  const held = [{ address: '2001:db8:77::/56', nas: 'bras1', sessionId: 'P1' }];
  const nodes: { store: Store; audit: AuditLog; consent: ConsentRegistry; follower: ConsentFollower }[] = [];
  for (let i = 0; i < 2; i++) {
    const store = await openStore(url);
    await store.migrate([...privacyMigrations, ...consentMigrations]);
    const audit = new AuditLog(store, { flushIntervalMs: 1 });
    const consent = new ConsentRegistry(store, audit);
    const follower = new ConsentFollower({ consent, store, audit, loginOf: async () => 'yuki@isp', holdingsOf: async () => held, logger: { warn: () => undefined }, pollMs: 20 });
    await follower.start();
    nodes.push({ store, audit, consent, follower });
  }
  const [a, b] = nodes as [(typeof nodes)[0], (typeof nodes)[0]];
  try {
    await a.consent.optOut({ scope: 'subscriber', subject: 'S5', actor: 'cli:alice', via: 'cli' });
    for (let i = 0; i < 300 && (await a.consent.clientOptOuts()).length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 200));
    await Promise.all(nodes.map((n) => n.follower.idle()));
    assert.deepEqual((await a.consent.clientOptOuts()).map(formatPrefix), ['2001:db8:77::/56']);
    assert.deepEqual((await a.consent.history({ scope: 'client', subject: '2001:db8:77::/56' })).map((e) => e.choice), ['opt-out']);

    // A new session on node A; its Stop reaches node B.
    await new Promise((r) => setTimeout(r, 5));
    held.push({ address: '198.51.100.55', nas: 'bras1', sessionId: 'P2' });
    a.follower.sessionChanged({ kind: 'start', nas: 'bras1', sessionId: 'P2', login: 'yuki@isp', addresses: ['198.51.100.55'] });
    await a.follower.idle();
    assert.deepEqual((await b.consent.clientOptOuts()).map(formatPrefix).sort(), ['198.51.100.55/32', '2001:db8:77::/56']);
    await new Promise((r) => setTimeout(r, 5));
    held.pop();
    b.follower.sessionChanged({ kind: 'stop', nas: 'bras1', sessionId: 'P2', login: 'yuki@isp', addresses: ['198.51.100.55'] });
    await b.follower.idle();
    assert.deepEqual((await a.consent.clientOptOuts()).map(formatPrefix), ['2001:db8:77::/56']);
    assert.deepEqual((await a.consent.history({ scope: 'client', subject: '198.51.100.55/32' })).map((e) => e.choice), ['opt-out', 'opt-in']);
  } finally {
    for (const n of nodes) {
      await n.follower.stop();
      await n.audit.close();
      await n.store.close();
    }
  }
});
