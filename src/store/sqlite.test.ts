import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SakimoriError } from '../core/index.ts';
import { storeContract } from './contract.ts';
import { openStore } from './index.ts';

const dir = mkdtempSync(join(tmpdir(), 'sakimori-sqlite-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

// Files, not :memory:, so that two stores (and two processes) can share one database.
storeContract('sqlite', async () => `sqlite:${join(dir, `db-${++n}`, 'sakimori.db')}`);

describe('SQLite adapter specifics', () => {
  it('creates the parent directory and uses WAL with foreign keys on', async () => {
    const path = join(dir, 'deep', 'er', 'node.db');
    const s = await openStore(`sqlite:${path}`);
    try {
      assert.ok(existsSync(path));
      assert.equal(s.displayUrl, `sqlite:${path}`);
      assert.deepEqual(await s.get('PRAGMA journal_mode'), { journal_mode: 'wal' });
      assert.deepEqual(await s.get('PRAGMA foreign_keys'), { foreign_keys: 1 });
    } finally {
      await s.close();
    }
  });

  it('gives each connection a 64 MiB page cache, or pageCacheKiB (a writer thread that only appends)', async () => {
    const cache = async (s: Awaited<ReturnType<typeof openStore>>) => [await s.get('PRAGMA cache_size'), await s.transaction((tx) => tx.get('PRAGMA cache_size'))];
    const big = await openStore(`sqlite:${join(dir, 'cache', 'big.db')}`);
    const small = await openStore(`sqlite:${join(dir, 'cache', 'small.db')}`, { pageCacheKiB: 2048 });
    try {
      // Reader and writer connections alike (negative: KiB, not pages).
      assert.deepEqual(await cache(big), [{ cache_size: -65536 }, { cache_size: -65536 }]);
      assert.deepEqual(await cache(small), [{ cache_size: -2048 }, { cache_size: -2048 }]);
    } finally {
      await big.close();
      await small.close();
    }
    await assert.rejects(openStore(`sqlite:${join(dir, 'cache', 'bad.db')}`, { pageCacheKiB: 0.5 }), /pageCacheKiB 0\.5: a whole number of KiB/);
  });

  it('works in memory, on one connection', async () => {
    const s = await openStore('sqlite::memory:');
    try {
      await s.migrate([{ id: 'm/1', sql: 'CREATE TABLE t (id BIGINT PRIMARY KEY, v TEXT)' }]);
      assert.equal(await s.runMany('INSERT INTO t (id, v) VALUES (?, ?)', [[1, 'a'], [2, 'b']]), 2);
      await Promise.all(Array.from({ length: 10 }, (_, k) => s.transaction((tx) => tx.run('UPDATE t SET v = v || ? WHERE id = 1', [String(k)]))));
      assert.equal((await s.get<{ v: string }>('SELECT v FROM t WHERE id = 1'))!.v, 'a0123456789');
      // A read outside a transaction waits for it (same connection) instead of seeing its uncommitted rows.
      let seen: unknown = 'nothing yet';
      let outside: Promise<unknown> | undefined;
      await s.transaction(async (tx) => {
        await tx.run('INSERT INTO t (id, v) VALUES (3, ?)', ['c']);
        outside = s.get('SELECT v FROM t WHERE id = 3').then((r) => (seen = r));
        await new Promise((r) => setTimeout(r, 20));
        assert.equal(seen, 'nothing yet');
      });
      await outside;
      assert.deepEqual(seen, { v: 'c' });
    } finally {
      await s.close();
    }
  });

  it('says which path it cannot create', async () => {
    await assert.rejects(
      openStore('sqlite:/etc/hostname/sub/x.db'),
      (e) => e instanceof SakimoriError && e.code === 'STORE_OPEN_FAILED' && e.message.includes('/etc/hostname/sub'),
    );
  });

  it('refuses a file that is not a SQLite database', async () => {
    await assert.rejects(openStore('sqlite:/etc/passwd'), (e) => e instanceof SakimoriError && e.code === 'STORE_OPEN_FAILED' && e.message.includes('/etc/passwd'));
  });
});
