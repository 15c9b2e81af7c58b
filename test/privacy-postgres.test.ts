import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgres, type PostgresPeer } from './peers/postgres.ts';
import { openStore } from '../src/store/index.ts';
import { AuditLog, PurposeBoundRecords, privacyMigrations, verifyAuditChain } from '../src/privacy/index.ts';
import { PurposeMismatchError } from '../src/core/index.ts';

// The privacy core on the scale-out store: two writers (two nodes, or a node
// and a CLI command) extending one audit chain at once must serialise.
let pg: PostgresPeer;
before(async () => {
  pg = await startPostgres();
});
after(async () => {
  await pg?.stop();
});

test('two audit writers on one PostgreSQL database keep one gapless, valid chain', async () => {
  const url = await pg.createDatabase();
  const a = await openStore(url);
  const b = await openStore(url);
  await a.migrate(privacyMigrations);
  await b.migrate(privacyMigrations);
  const logA = new AuditLog(a, { flushIntervalMs: 1, maxBatch: 16 });
  const logB = new AuditLog(b, { flushIntervalMs: 1, maxBatch: 16 });
  await Promise.all(
    Array.from({ length: 400 }, (_, i) => (i % 2 ? logA : logB).append({ actor: i % 2 ? 'node' : 'cli', action: 'read', purpose: 'subscriber-attribution', subject: `ip${i}` })),
  );
  await logA.close();
  await logB.close();
  const r = await verifyAuditChain(a);
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.equal(r.entries, 400);
  await a.run(`UPDATE audit_log SET actor = 'someone-else' WHERE seq = 123`);
  const broken = await verifyAuditChain(b);
  assert.equal(!broken.ok && broken.firstBadSeq, 123);
  await a.close();
  await b.close();
});

test('purpose-bound reads are enforced on PostgreSQL too', async () => {
  const store = await openStore(await pg.createDatabase());
  await store.migrate(privacyMigrations);
  const audit = new AuditLog(store, { flushIntervalMs: 0 });
  const records = new PurposeBoundRecords(store, audit);
  const id = await records.write({ collection: 'auth-log', purpose: 'credential-abuse', subject: 'user@isp', data: { ip: '198.51.100.4' }, actor: 'aaa' });
  await assert.rejects(records.read(id, { purpose: 'infection-notice', actor: 'x' }), PurposeMismatchError);
  assert.equal((await records.read<{ ip: string }>(id, { purpose: 'credential-abuse', actor: 'x' }))?.data.ip, '198.51.100.4');
  await audit.close();
  await store.close();
});
