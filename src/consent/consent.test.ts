import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openStore } from '../store/index.ts';
import { AuditLog, privacyMigrations, verifyAuditChain } from '../privacy/index.ts';
import { ManualClock, PrefixMap, formatPrefix } from '../core/index.ts';
import { ConsentRegistry, consentMigrations, type ConsentEvent } from './index.ts';

async function fresh() {
  const store = await openStore('sqlite::memory:');
  await store.migrate([...privacyMigrations, ...consentMigrations]);
  const clock = new ManualClock(Date.UTC(2026, 10, 22, 9));
  const audit = new AuditLog(store, { clock, flushIntervalMs: 0 });
  const published: unknown[] = [];
  const registry = new ConsentRegistry(store, audit, { clock, publisher: { publish: async (_t, d) => published.push(d) } });
  return { store, audit, clock, registry, published };
}

test('opt-out and opt-in keep the history, the current state, and tell listeners at once', async () => {
  const { store, clock, registry, published } = await fresh();
  const seen: ConsentEvent[] = [];
  registry.onChange((e) => seen.push(e));
  await registry.optOut({ scope: 'client', subject: '192.0.2.7', actor: 'op', via: 'cli', reason: 'ticket 1' });
  clock.advance(60_000);
  await registry.optOut({ scope: 'subscriber', subject: 'S1', actor: 'S1', via: 'portal' });
  clock.advance(60_000);
  await registry.optIn({ scope: 'client', subject: '192.0.2.7/32', actor: 'op', via: 'cli' });

  assert.equal(seen.length, 3);
  assert.equal(published.length, 3);
  assert.deepEqual((await registry.optedOut()).map((r) => `${r.scope}:${r.subject}`), ['subscriber:S1']);
  assert.equal(await registry.choiceOf('client', '192.0.2.7'), 'opt-in');
  assert.equal(await registry.choiceOf('client', '198.51.100.1'), undefined);
  const history = await registry.history({ scope: 'client', subject: '192.0.2.7' });
  assert.deepEqual(history.map((e) => [e.choice, e.subject, e.reason]), [['opt-out', '192.0.2.7/32', 'ticket 1'], ['opt-in', '192.0.2.7/32', null]]);
  await store.close();
});

test('client opt-outs feed a PrefixMap; bad prefixes are refused with the reason', async () => {
  const { store, registry } = await fresh();
  await registry.optOut({ scope: 'client', subject: '2001:db8:1::/48', actor: 'op', via: 'cli' });
  await registry.optOut({ scope: 'client', subject: '127.0.0.2/32', actor: 'op', via: 'cli' });
  const map = new PrefixMap<true>();
  for (const p of await registry.clientOptOuts()) map.set(p, true);
  assert.ok(map.matchText('2001:db8:1:2::53'));
  assert.ok(map.matchText('127.0.0.2'));
  assert.equal(map.matchText('127.0.0.1'), undefined);
  assert.deepEqual((await registry.clientOptOuts()).map(formatPrefix).sort(), ['127.0.0.2/32', '2001:db8:1::/48']);
  await assert.rejects(registry.optOut({ scope: 'client', subject: '192.0.2.1/24', actor: 'op', via: 'cli' }), /host bits set past \/24/);
  await assert.rejects(registry.optOut({ scope: 'subscriber', subject: '  ', actor: 'op', via: 'cli' }), /subscriber id is required/);
  await store.close();
});

test('every consent change is in the audit log', async () => {
  const { store, audit, registry } = await fresh();
  await registry.optOut({ scope: 'subscriber', subject: 'S9', actor: 'S9', via: 'portal' });
  const [entry] = await audit.list();
  assert.equal(entry?.action, 'consent');
  assert.equal(entry?.purpose, 'consent');
  assert.equal(entry?.subject, 'subscriber:S9');
  assert.ok((await verifyAuditChain(store)).ok);
  await store.close();
});

test('retention removes old choices but never the one in force', async () => {
  const { store, audit, clock, registry } = await fresh();
  const { RetentionPurger } = await import('../privacy/index.ts');
  const { consentRetentionRules } = await import('./index.ts');
  await registry.optOut({ scope: 'subscriber', subject: 'S1', actor: 'S1', via: 'portal' });
  clock.advance(1000);
  await registry.optIn({ scope: 'subscriber', subject: 'S1', actor: 'S1', via: 'portal' });
  await registry.optOut({ scope: 'subscriber', subject: 'S2', actor: 'S2', via: 'portal' });
  clock.advance(10 * 365 * 86_400_000);
  const purger = new RetentionPurger(store, audit, { consent: 1825 * 86_400_000 } as never, { clock });
  for (const r of consentRetentionRules) purger.register(r);
  const [result] = await purger.runOnce();
  assert.equal(result?.deleted, 1); // S1's old opt-out; S1's opt-in and S2's opt-out are in force
  assert.equal(await registry.choiceOf('subscriber', 'S1'), 'opt-in');
  assert.equal(await registry.choiceOf('subscriber', 'S2'), 'opt-out');
  assert.equal((await registry.history()).length, 2);
  await store.close();
});
