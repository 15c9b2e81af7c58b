import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../store/index.ts';
import { AuditLog, privacyMigrations, verifyAuditChain } from './index.ts';

async function fileStore() {
  const dir = mkdtempSync(join(tmpdir(), 'sakimori-audit-writer-'));
  const file = join(dir, 'a.db');
  const store = await openStore(`sqlite:${file}`);
  await store.migrate(privacyMigrations);
  return { store, file, done: async () => { await store.close(); rmSync(dir, { recursive: true, force: true }); } };
}

test('on a SQLite file the writer thread commits every entry in append order, and the chain verifies', async () => {
  const { store, done } = await fileStore();
  const audit = new AuditLog(store, { flushIntervalMs: 5, maxBatch: 50 });
  try {
    assert.equal(await audit.startWriterThread(), true);
    // Appends keep arriving while batches are being written by the thread.
    await Promise.all(Array.from({ length: 500 }, (_, i) => audit.append({ actor: 'test', action: 'read', purpose: 'infection-notice', subject: `ip:${i}`, detail: { i } })));
    assert.equal(audit.written, 500);
    assert.ok(audit.batches >= 10, `500 entries in batches of at most 50: ${audit.batches}`);
    assert.equal(audit.threadBatches, audit.batches, 'every batch went through the writer thread');
    assert.deepEqual(await store.get('PRAGMA wal_autocheckpoint'), { wal_autocheckpoint: 0 }, 'the thread checkpoints, not this connection');
    const rows = await store.all<{ seq: number; subject: string }>('SELECT seq, subject FROM audit_log ORDER BY seq');
    assert.deepEqual(rows.map((r) => r.subject), Array.from({ length: 500 }, (_, i) => `ip:${i}`));
    assert.deepEqual(await verifyAuditChain(store).then((r) => r.ok && r.entries), 500);
  } finally {
    await audit.close();
    await done();
  }
});

test('one batch is written on the caller\'s thread (no thread for a one-shot command); the second starts the thread', async () => {
  const { store, done } = await fileStore();
  const audit = new AuditLog(store, { flushIntervalMs: 0 });
  try {
    await audit.append({ actor: 'cli', action: 'read', purpose: 'operations', subject: 'one' });
    assert.equal(audit.threadBatches, 0);
    assert.equal((await store.get<{ n: number }>('SELECT COUNT(*) AS n FROM audit_log'))?.n, 1);
    await audit.append({ actor: 'cli', action: 'read', purpose: 'operations', subject: 'two' });
    assert.equal(await audit.startWriterThread(), true);
    await audit.append({ actor: 'cli', action: 'read', purpose: 'operations', subject: 'three' });
    assert.equal(audit.threadBatches, 1);
    assert.equal((await verifyAuditChain(store)).ok, true);
  } finally {
    await audit.close();
    await done();
  }
});

test('the writer thread and another writer on the same file extend one chain', async () => {
  const { store, file, done } = await fileStore();
  // A second process's view: its own store, writing in-process.
  const other = await openStore(`sqlite:${file}`);
  const threaded = new AuditLog(store, { flushIntervalMs: 1 });
  const inline = new AuditLog(other, { flushIntervalMs: 1, writerThread: false });
  try {
    assert.equal(await threaded.startWriterThread(), true);
    assert.equal(await inline.startWriterThread(), false);
    await Promise.all(Array.from({ length: 200 }, (_, i) => (i % 2 ? threaded : inline).append({ actor: 'test', action: 'read', purpose: 'operations', subject: `n${i}` })));
    const r = await verifyAuditChain(store);
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.entries, 200);
    assert.ok(threaded.threadBatches > 0);
  } finally {
    await threaded.close();
    await inline.close();
    await other.close();
    await done();
  }
});

test('close() writes what is queued, ends the thread, and a tampered row is still found', async () => {
  const { store, file, done } = await fileStore();
  const audit = new AuditLog(store, { flushIntervalMs: 10_000 });
  try {
    assert.equal(await audit.startWriterThread(), true);
    for (let i = 0; i < 30; i++) audit.record({ actor: 'test', action: 'export', purpose: 'operations', subject: `x${i}` });
    await audit.close();
    assert.equal(audit.written, 30);
    await assert.rejects(audit.append({ actor: 'test', action: 'read', purpose: 'operations', subject: 'late' }), /closed/);
    assert.equal(audit.threadBatches, 1);
    // The thread's last act was a checkpoint, and this connection checkpoints by itself again.
    assert.ok(statSync(file).size > 0);
    assert.deepEqual(await store.get('PRAGMA wal_autocheckpoint'), { wal_autocheckpoint: 1000 });
    await store.run("UPDATE audit_log SET subject = 'forged' WHERE seq = 7");
    const r = await verifyAuditChain(store);
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.firstBadSeq, 7);
  } finally {
    await done();
  }
});

test('on PostgreSQL the writer thread commits the batches too, and the chain verifies', async () => {
  const { startPostgres } = await import('../../test/peers/postgres.ts');
  const peer = await startPostgres();
  const store = await openStore(await peer.createDatabase('audit_writer'));
  const audit = new AuditLog(store, { flushIntervalMs: 5, maxBatch: 50 });
  try {
    await store.migrate(privacyMigrations);
    assert.equal(await audit.startWriterThread(), true);
    await Promise.all(Array.from({ length: 300 }, (_, i) => audit.append({ actor: 'test', action: 'read', purpose: 'infection-notice', subject: `ip:${i}`, detail: { i } })));
    for (let i = 0; i < 20; i++) audit.record({ actor: 'test', action: 'read', purpose: 'infection-notice', subject: `rec:${i}` });
    await audit.close();
    assert.equal(audit.written, 320);
    assert.equal(audit.threadBatches, audit.batches, 'every batch went through the writer thread');
    const rows = await store.all<{ subject: string }>('SELECT subject FROM audit_log ORDER BY seq');
    assert.deepEqual(rows.map((r) => r.subject), [...Array.from({ length: 300 }, (_, i) => `ip:${i}`), ...Array.from({ length: 20 }, (_, i) => `rec:${i}`)]);
    assert.deepEqual(await verifyAuditChain(store).then((r) => r.ok && r.entries), 320);
  } finally {
    await audit.close();
    await store.close();
    await peer.stop();
  }
});
