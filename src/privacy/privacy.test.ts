import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openStore, type Store } from '../store/index.ts';
import { ManualClock, PurposeMismatchError, type Purpose, PURPOSE_NAMES } from '../core/index.ts';
import { AuditLog, PurposeBoundRecords, RetentionPurger, privacyMigrations, verifyAuditChain } from './index.ts';

async function fresh(): Promise<{ store: Store; audit: AuditLog; clock: ManualClock }> {
  const store = await openStore('sqlite::memory:');
  await store.migrate(privacyMigrations);
  const clock = new ManualClock(Date.UTC(2026, 10, 22));
  const audit = new AuditLog(store, { clock, flushIntervalMs: 0 });
  return { store, audit, clock };
}

const DAY = 86_400_000;

function pick(r: Awaited<ReturnType<typeof verifyAuditChain>>): unknown {
  return r.ok ? { ok: r.ok, entries: r.entries, headSeq: r.headSeq } : r;
}
const retention = Object.fromEntries(PURPOSE_NAMES.map((p) => [p, 30 * DAY])) as Record<Purpose, number>;

test('a purpose-bound record reads back for its own purpose', async () => {
  const { store, audit, clock } = await fresh();
  const records = new PurposeBoundRecords(store, audit, clock);
  const id = await records.write({ collection: 'dns-blocks', purpose: 'cc-blocking', subject: '192.0.2.7', data: { fqdn: 'cc.example.' }, actor: 'test' });
  const rec = await records.read<{ fqdn: string }>(id, { purpose: 'cc-blocking', actor: 'test' });
  assert.equal(rec?.data.fqdn, 'cc.example.');
  assert.equal(rec?.purpose, 'cc-blocking');
  await store.close();
});

test('reading a purpose-bound record for another purpose throws PurposeMismatchError, and the refusal is audited (R16)', async () => {
  const { store, audit, clock } = await fresh();
  const records = new PurposeBoundRecords(store, audit, clock);
  const id = await records.write({ collection: 'dns-blocks', purpose: 'cc-blocking', data: { fqdn: 'cc.example.' }, actor: 'test' });
  await assert.rejects(records.read(id, { purpose: 'hub-sharing', actor: 'analyst' }), (err: unknown) => {
    assert.ok(err instanceof PurposeMismatchError);
    assert.match((err as Error).message, /collected for purpose "cc-blocking" and cannot be read for "hub-sharing"/);
    return true;
  });
  const entries = await audit.list();
  assert.equal(entries[0]?.action, 'read');
  assert.deepEqual(entries[0]?.detail, { refused: true, recordPurpose: 'cc-blocking' });
  // find() for another purpose sees nothing of this purpose's records
  assert.deepEqual(await records.find({ collection: 'dns-blocks' }, { purpose: 'infection-notice', actor: 'x' }), []);
  assert.equal((await records.find({ collection: 'dns-blocks' }, { purpose: 'cc-blocking', actor: 'x' })).length, 1);
  await store.close();
});

test('audit chain verifies, and names an altered row', async () => {
  const { store, audit } = await fresh();
  for (let i = 0; i < 20; i++) await audit.append({ actor: 'test', action: 'write', purpose: 'cc-blocking', subject: `s${i}`, detail: { i } });
  assert.deepEqual(pick(await verifyAuditChain(store)), { ok: true, entries: 20, headSeq: 20 });
  await store.run(`UPDATE audit_log SET subject = 'forged' WHERE seq = 7`);
  const r = await verifyAuditChain(store);
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.firstBadSeq, 7);
  assert.match(!r.ok ? r.reason : '', /altered/);
  await store.close();
});

test('audit chain names a deleted row, in the middle and at the end', async () => {
  const { store, audit } = await fresh();
  for (let i = 0; i < 12; i++) await audit.append({ actor: 'test', action: 'read', purpose: 'infection-notice', subject: `s${i}` });
  await store.run('DELETE FROM audit_log WHERE seq = 5');
  let r = await verifyAuditChain(store, 3); // small pages: the gap may fall on a page boundary
  assert.equal(!r.ok && r.firstBadSeq, 5);
  assert.match(!r.ok ? r.reason : '', /missing/);

  const second = await fresh();
  for (let i = 0; i < 12; i++) await second.audit.append({ actor: 'test', action: 'read', purpose: 'infection-notice', subject: `s${i}` });
  await second.store.run('DELETE FROM audit_log WHERE seq >= 11');
  r = await verifyAuditChain(second.store);
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.firstBadSeq, 11);
  assert.match(!r.ok ? r.reason : '', /deleted from the end/);
  await store.close();
  await second.store.close();
});

test('a re-hashed forged row is still caught by the next link', async () => {
  const { store, audit } = await fresh();
  for (let i = 0; i < 5; i++) await audit.append({ actor: 'test', action: 'write', purpose: 'cc-blocking', subject: `s${i}` });
  const { chainHash } = await import('./audit-log.ts');
  const row = await store.get<{ prev_hash: string; at: number; detail: string }>('SELECT * FROM audit_log WHERE seq = 3');
  const forged = chainHash(row!.prev_hash, 3, row!.at, 'test', 'write', 'cc-blocking', 'forged', row!.detail);
  await store.run(`UPDATE audit_log SET subject = 'forged', hash = ? WHERE seq = 3`, [forged]);
  const r = await verifyAuditChain(store);
  assert.equal(!r.ok && r.firstBadSeq, 4);
  await store.close();
});

test('batched appends from concurrent callers form one gapless chain', async () => {
  const store = await openStore('sqlite::memory:');
  await store.migrate(privacyMigrations);
  const audit = new AuditLog(store, { flushIntervalMs: 5, maxBatch: 64 });
  await Promise.all(Array.from({ length: 500 }, (_, i) => audit.append({ actor: `a${i % 7}`, action: 'read', purpose: 'operations', subject: String(i) })));
  await audit.close();
  assert.deepEqual(pick(await verifyAuditChain(store)), { ok: true, entries: 500, headSeq: 500 });
  await assert.rejects(audit.append({ actor: 'x', action: 'read', purpose: 'operations', subject: 'late' }), /closed/);
  await store.close();
});

test('a caller that keeps appending while a batch is written joins the next batch, not a transaction per entry', async () => {
  const store = await openStore('sqlite::memory:');
  await store.migrate(privacyMigrations);
  const audit = new AuditLog(store, { flushIntervalMs: 60_000, maxBatch: 100 });
  // Like a look-up loop: one entry, a few awaits (the look-up), the next entry.
  const pending: Promise<void>[] = [];
  for (let i = 0; i < 1000; i++) {
    pending.push(audit.append({ actor: 'loop', action: 'read', purpose: 'operations', subject: String(i) }));
    for (let k = 0; k < 3; k++) await Promise.resolve();
  }
  await audit.close();
  await Promise.all(pending);
  assert.deepEqual(pick(await verifyAuditChain(store)), { ok: true, entries: 1000, headSeq: 1000 });
  assert.ok(audit.batches <= 20, `1000 entries took ${audit.batches} transactions`);
  await store.close();
});

test('retention purges only what is older than its purpose allows, and audits the purge', async () => {
  const { store, audit, clock } = await fresh();
  const records = new PurposeBoundRecords(store, audit, clock);
  const start = clock.now();
  for (let d = 0; d < 40; d++) {
    clock.set(start + d * DAY);
    await records.write({ collection: 'c', purpose: 'cc-blocking', data: { d }, actor: 't' });
    await records.write({ collection: 'c', purpose: 'consent', data: { d }, actor: 't' });
  }
  clock.set(start + 40 * DAY);
  const purger = new RetentionPurger(store, audit, { ...retention, consent: 3650 * DAY }, { clock, chunk: 4 });
  purger.register({ name: 'records', table: 'purpose_records', key: 'id', timeColumn: 'created_at', purposeColumn: 'purpose' });
  const results = await purger.runOnce();
  const cc = results.find((r) => r.purpose === 'cc-blocking');
  assert.equal(cc?.deleted, 10); // days 0..9 are older than 30 days
  assert.equal(results.find((r) => r.purpose === 'consent')?.deleted, 0);
  const left = await store.get<{ n: number }>(`SELECT COUNT(*) AS n FROM purpose_records WHERE purpose = 'cc-blocking'`);
  assert.equal(left?.n, 30);
  const purgeEntries = (await audit.list()).filter((e) => e.action === 'purge');
  assert.equal(purgeEntries.length, 1);
  assert.equal(purgeEntries[0]?.detail.deleted, 10);
  assert.ok((await verifyAuditChain(store)).ok);
  await store.close();
});

test('retention rules reject identifiers that are not plain SQL names', async () => {
  const { store, audit } = await fresh();
  const purger = new RetentionPurger(store, audit, retention);
  assert.throws(() => purger.register({ name: 'x', table: 'a; DROP TABLE b', key: 'id', timeColumn: 't', purpose: 'cc-blocking' }), /plain SQL identifier/);
  assert.throws(() => purger.register({ name: 'x', table: 'a', key: 'id', timeColumn: 't' }), /exactly one of purpose or purposeColumn/);
  await store.close();
});

test('the chain hash of an entry is SHA-256 over its JSON array, unchanged (logs written by earlier versions still verify)', async () => {
  const { chainHash } = await import('./audit-log.ts');
  assert.equal(chainHash('', 1, 1763769600000, 'cli', 'read', 'subscriber-attribution', '192.0.2.1', '{"result":"found"}'), '642b8881ed920f95a354a4f89eb338a55f98d78d056619a5552044c519b1c9bf');
});

test('record() on a closed log, or with an unknown purpose, is reported to onError (not dropped silently)', async () => {
  const store = await openStore('sqlite::memory:');
  await store.migrate(privacyMigrations);
  const errors: string[] = [];
  const audit = new AuditLog(store, { flushIntervalMs: 0, onError: (e) => errors.push((e as { code?: string }).code ?? String(e)) });
  audit.record({ actor: 'test', action: 'read', purpose: 'no-such-purpose' as Purpose, subject: 'x' });
  audit.record({ actor: 'test', action: 'read', purpose: 'operations', subject: 'kept' });
  await audit.close();
  audit.record({ actor: 'test', action: 'read', purpose: 'operations', subject: 'late' });
  assert.deepEqual(errors, ['AUDIT_BAD_PURPOSE', 'AUDIT_CLOSED']);
  assert.equal(audit.written, 1);
  await store.close();
});
