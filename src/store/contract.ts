/**
 * The Store contract: one suite every adapter must pass, so SQLite and
 * PostgreSQL are interchangeable. `freshDatabaseUrl` returns the URL of a new,
 * empty database each time it is called; the suite opens it (through
 * openStore, as the node does) once or several times, as several processes
 * would.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { SakimoriError } from '../core/index.ts';
import { isUniqueViolation, openStore, type Migration, type OpenStoreOptions, type Store } from './index.ts';

const BLOB = { sqlite: 'BLOB', postgres: 'BYTEA' } as const;

/** A table used by most tests: every portable column type. */
const valuesTable: Migration = {
  id: 'contract/0001-values',
  sql: {
    sqlite: `CREATE TABLE vals (id BIGINT PRIMARY KEY, t TEXT, i BIGINT, f DOUBLE PRECISION, b ${BLOB.sqlite}, flag BIGINT)`,
    postgres: `CREATE TABLE vals (id BIGINT PRIMARY KEY, t TEXT, i BIGINT, f DOUBLE PRECISION, b ${BLOB.postgres}, flag BIGINT)`,
  },
};
const counterTable: Migration = {
  id: 'contract/0002-counter',
  sql: "CREATE TABLE counter (name TEXT PRIMARY KEY, n BIGINT NOT NULL); INSERT INTO counter (name, n) VALUES ('c', 0)",
};

export function storeContract(name: string, freshDatabaseUrl: () => Promise<string>): void {
  const stores: Store[] = [];
  async function open(url: string, opts: OpenStoreOptions = {}): Promise<Store> {
    const s = await openStore(url, opts);
    stores.push(s);
    return s;
  }
  /** A store on a fresh database, with the common tables; closed (with any sibling) when fn ends. */
  async function withStore(fn: (store: Store, url: string) => Promise<void>, opts: OpenStoreOptions = {}): Promise<void> {
    const url = await freshDatabaseUrl();
    const store = await open(url, opts);
    try {
      await store.migrate([valuesTable, counterTable]);
      await fn(store, url);
    } finally {
      await Promise.all(stores.splice(0).map((s) => s.close()));
    }
  }

  async function increment(s: Store, thinkMs = 0): Promise<void> {
    await s.transaction(async (tx) => {
      const row = await tx.get<{ n: number }>("SELECT n FROM counter WHERE name = 'c'");
      await sleep(thinkMs); // give every other caller the chance to interleave, if it could
      await tx.run("UPDATE counter SET n = ? WHERE name = 'c'", [row!.n + 1]);
    });
  }
  async function counter(s: Store): Promise<number> {
    return (await s.get<{ n: number }>("SELECT n FROM counter WHERE name = 'c'"))!.n;
  }

  describe(`Store contract: ${name}`, () => {
    it('round-trips every SqlValue type through run/get/all', () =>
      withStore(async (s) => {
        const text = '通信の秘密を守る — ISP 🛡️ \'quoted\' "double" ?';
        await s.run('INSERT INTO vals (id, t, i, f, b, flag) VALUES (?, ?, ?, ?, ?, ?)', [1, text, 2 ** 53 - 1, 3.25, new Uint8Array([0, 1, 254, 255]), true]);
        await s.run('INSERT INTO vals (id, t, i, f, b, flag) VALUES (?, ?, ?, ?, ?, ?)', [2n, '', -(2 ** 53 - 1), -0.1, new Uint8Array(0), false]);
        await s.run('INSERT INTO vals (id, t, i, f, b, flag) VALUES (?, ?, ?, ?, ?, ?)', [3, null, 9007199254740991n, 1e300, null, null]);
        await s.run('INSERT INTO vals (id, t, i) VALUES (?, ?, ?)', [4, 42, 0]); // a number into TEXT reads back as "42"

        const rows = await s.all('SELECT id, t, i, f, b, flag FROM vals ORDER BY id');
        assert.equal(rows.length, 4);
        assert.deepEqual(rows[0], { id: 1, t: text, i: 2 ** 53 - 1, f: 3.25, b: Buffer.from([0, 1, 254, 255]), flag: 1 });
        assert.deepEqual(rows[1], { id: 2, t: '', i: -(2 ** 53 - 1), f: -0.1, b: Buffer.alloc(0), flag: 0 });
        assert.deepEqual(rows[2], { id: 3, t: null, i: 2 ** 53 - 1, f: 1e300, b: null, flag: null });
        assert.deepEqual(rows[3], { id: 4, t: '42', i: 0, f: null, b: null, flag: null });
        assert.ok(rows[0]!['b'] instanceof Uint8Array);

        const one = await s.get<{ t: string }>('SELECT t FROM vals WHERE id = ?', [1]);
        assert.equal(one?.t, text);
        assert.equal(await s.get('SELECT t FROM vals WHERE id = ?', [99]), undefined);
        assert.deepEqual(await s.all('SELECT t FROM vals WHERE id = ?', [99]), []);
        const agg = await s.get<{ n: number; total: number }>('SELECT count(*) AS n, sum(i) AS total FROM vals WHERE id IN (?, ?)', [1, 4]);
        assert.deepEqual(agg, { n: 2, total: 2 ** 53 - 1 });
        // values(): the same rows as arrays, columns in the SELECT's order; all() afterwards still gives objects.
        assert.deepEqual(await s.values('SELECT i, id, t FROM vals WHERE id IN (?, ?) ORDER BY id', [1, 4]), [[2 ** 53 - 1, 1, text], [0, 4, '42']]);
        assert.deepEqual(await s.values('SELECT t FROM vals WHERE id = ?', [99]), []);
        assert.deepEqual(await s.values('SELECT i, id FROM vals WHERE id = ?', [4]), [[0, 4]]);
        assert.deepEqual(await s.all('SELECT i, id FROM vals WHERE id = ?', [4]), [{ i: 0, id: 4 }], 'the same statement text gives objects again');
      }));

    it('run reports the rows changed; RETURNING and ON CONFLICT work the same', () =>
      withStore(async (s) => {
        assert.deepEqual(await s.run('INSERT INTO vals (id, i) VALUES (?, ?)', [1, 10]), { changes: 1 });
        await s.run('INSERT INTO vals (id, i) VALUES (?, ?)', [2, 20]);
        assert.deepEqual(await s.run('UPDATE vals SET i = i + 1'), { changes: 2 });
        assert.deepEqual(await s.run('DELETE FROM vals WHERE id = ?', [99]), { changes: 0 });
        const back = await s.get<{ id: number; i: number }>('INSERT INTO vals (id, i) VALUES (?, ?) RETURNING id, i', [3, 30]);
        assert.deepEqual(back, { id: 3, i: 30 });
        await s.run('INSERT INTO vals (id, i) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET i = excluded.i', [3, 31]);
        assert.equal((await s.get<{ i: number }>('SELECT i FROM vals WHERE id = 3'))!.i, 31);
        const ignored = await s.run('INSERT INTO vals (id, i) VALUES (?, ?) ON CONFLICT (id) DO NOTHING', [3, 99]);
        assert.equal(ignored.changes, 0);
      }));

    it('leaves ? inside string literals, quoted identifiers and comments alone', () =>
      withStore(async (s) => {
        await s.run("INSERT INTO vals (id, t) VALUES (?, 'why? because?') -- really?", [1]);
        await s.run(`INSERT INTO vals (id, t) VALUES (/* a ? here */ ?, 'it''s ? ok')`, [2]);
        const rows = await s.all<{ id: number; t: string; "odd?name": string }>(
          `SELECT id, t, 'lit?' AS "odd?name" FROM vals WHERE id >= ? AND t <> '?' ORDER BY id`,
          [1],
        );
        assert.deepEqual(rows, [
          { id: 1, t: 'why? because?', 'odd?name': 'lit?' },
          { id: 2, t: "it's ? ok", 'odd?name': 'lit?' },
        ]);
      }));

    it('keeps working when a table changes under a cached statement (a migration by another node)', () =>
      withStore(async (s, url) => {
        const other = await open(url);
        await s.run('CREATE TABLE sc (a BIGINT)');
        await s.run('INSERT INTO sc (a) VALUES (1)');
        for (let k = 0; k < 3; k++) assert.deepEqual(await s.all('SELECT * FROM sc'), [{ a: 1 }]);
        await other.run('ALTER TABLE sc ADD COLUMN b TEXT');
        for (let k = 0; k < 3; k++) assert.deepEqual(await s.all('SELECT * FROM sc'), [{ a: 1, b: null }]);
        assert.deepEqual(await s.transaction((tx) => tx.all('SELECT * FROM sc')), [{ a: 1, b: null }]);
      }));

    it('commits a transaction and returns its result', () =>
      withStore(async (s) => {
        const result = await s.transaction(async (tx) => {
          await tx.run('INSERT INTO vals (id, t) VALUES (?, ?)', [1, 'a']);
          await tx.run('INSERT INTO vals (id, t) VALUES (?, ?)', [2, 'b']);
          return (await tx.get<{ n: number }>('SELECT count(*) AS n FROM vals'))!.n;
        });
        assert.equal(result, 2);
        assert.equal((await s.get<{ n: number }>('SELECT count(*) AS n FROM vals'))!.n, 2);
      }));

    it('rolls back when fn throws, and rethrows the same error', () =>
      withStore(async (s) => {
        const boom = new Error('boom');
        await assert.rejects(
          s.transaction(async (tx) => {
            await tx.run('INSERT INTO vals (id, t) VALUES (?, ?)', [1, 'a']);
            await tx.run("UPDATE counter SET n = 100 WHERE name = 'c'");
            throw boom;
          }),
          (err) => err === boom,
        );
        assert.equal(await s.get('SELECT id FROM vals WHERE id = 1'), undefined);
        assert.equal(await counter(s), 0);
        // The store is usable afterwards.
        await s.transaction((tx) => tx.run('INSERT INTO vals (id) VALUES (?)', [1]));
        assert.ok(await s.get('SELECT id FROM vals WHERE id = 1'));
      }));

    it('keeps uncommitted writes invisible outside the transaction', () =>
      withStore(async (s) => {
        let seenOutside: unknown = 'not read';
        await s.transaction(async (tx) => {
          await tx.run('INSERT INTO vals (id) VALUES (?)', [7]);
          assert.ok(await tx.get('SELECT id FROM vals WHERE id = 7'), 'the transaction sees its own write');
          seenOutside = await s.get('SELECT id FROM vals WHERE id = 7');
        });
        assert.equal(seenOutside, undefined);
        assert.ok(await s.get('SELECT id FROM vals WHERE id = 7'));
      }));

    it('does not interleave 50 concurrent transactions (no lost updates)', () =>
      withStore(async (s) => {
        await Promise.all(Array.from({ length: 50 }, () => increment(s)));
        assert.equal(await counter(s), 50);
      }));

    it('refuses a tx used after its transaction ended', () =>
      withStore(async (s) => {
        let kept: Parameters<Parameters<Store['transaction']>[0]>[0] | undefined;
        await s.transaction(async (tx) => {
          kept = tx;
        });
        await assert.rejects(kept!.run('INSERT INTO vals (id) VALUES (1)'), (e) => e instanceof SakimoriError && e.code === 'STORE_TX_FINISHED');
      }));

    it('fails a transaction nested on the store (not tx) with STORE_BUSY instead of hanging', () =>
      withStore(
        async (s) => {
          await assert.rejects(
            s.transaction(async () => {
              await s.transaction(async (inner) => inner.run('INSERT INTO vals (id) VALUES (1)'));
            }),
            (e) => e instanceof SakimoriError && e.code === 'STORE_BUSY' && /use the tx argument/.test(e.hint ?? ''),
          );
          assert.equal(await s.get('SELECT id FROM vals WHERE id = 1'), undefined);
        },
        { busyTimeoutMs: 300 },
      ));

    it('runMany inserts 10,000 rows in one call and reports them', () =>
      withStore(async (s) => {
        const rows = Array.from({ length: 10_000 }, (_, k) => [k, `row ${k} 行`, k * 3, k / 7, k % 2 === 0] as const);
        const n = await s.runMany('INSERT INTO vals (id, t, i, f, flag) VALUES (?, ?, ?, ?, ?)', rows);
        assert.equal(n, 10_000);
        const agg = await s.get<{ n: number; total: number; flags: number }>('SELECT count(*) AS n, sum(i) AS total, sum(flag) AS flags FROM vals');
        assert.deepEqual(agg, { n: 10_000, total: 3 * ((9_999 * 10_000) / 2), flags: 5_000 });
        assert.deepEqual(await s.get('SELECT t, f FROM vals WHERE id = ?', [9_999]), { t: 'row 9999 行', f: 9_999 / 7 });
        assert.equal(await s.runMany('INSERT INTO vals (id) VALUES (?)', []), 0);
      }));

    it('runMany is all or nothing: a unique violation in row 5,000 leaves no row behind', () =>
      withStore(async (s) => {
        const rows = Array.from({ length: 10_000 }, (_, k) => [k === 5_000 ? 0 : k]);
        await assert.rejects(s.runMany('INSERT INTO vals (id) VALUES (?)', rows), (e) => isUniqueViolation(e));
        assert.equal((await s.get<{ n: number }>('SELECT count(*) AS n FROM vals'))!.n, 0);
      }));

    it('runMany upserts with the last row winning, and runs UPDATE/DELETE statements', () =>
      withStore(async (s) => {
        await s.runMany('INSERT INTO vals (id, i) VALUES (?, ?)', [[1, 0], [2, 0], [3, 0]]);
        const upsert = 'INSERT INTO vals (id, i) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET i = excluded.i';
        // Key 1 appears three times in one call: each row applies in order.
        await s.runMany(upsert, [[1, 10], [4, 40], [1, 11], [1, 12]]);
        assert.deepEqual(await s.all('SELECT id, i FROM vals ORDER BY id'), [
          { id: 1, i: 12 },
          { id: 2, i: 0 },
          { id: 3, i: 0 },
          { id: 4, i: 40 },
        ]);
        assert.equal(await s.runMany('INSERT INTO vals (id, i) VALUES (?, ?) ON CONFLICT (id) DO NOTHING', [[1, 0], [5, 50], [5, 51]]), 1);
        assert.equal(await s.runMany('UPDATE vals SET i = i + ? WHERE id = ?', [[1, 1], [1, 2], [1, 99]]), 2);
        assert.equal(await s.runMany('DELETE FROM vals WHERE id = ?', [[4], [5], [99]]), 2);
        assert.deepEqual(await s.all('SELECT id, i FROM vals ORDER BY id'), [
          { id: 1, i: 13 },
          { id: 2, i: 1 },
          { id: 3, i: 0 },
        ]);
      }));

    it('surfaces a unique-constraint violation as an error, inside and outside transactions', () =>
      withStore(async (s) => {
        await s.run('INSERT INTO vals (id) VALUES (?)', [1]);
        await assert.rejects(s.run('INSERT INTO vals (id) VALUES (?)', [1]), (e) => isUniqueViolation(e));
        await assert.rejects(
          s.transaction(async (tx) => {
            await tx.run('INSERT INTO vals (id) VALUES (?)', [2]);
            await tx.run('INSERT INTO vals (id) VALUES (?)', [1]);
          }),
          (e) => isUniqueViolation(e),
        );
        assert.equal(await s.get('SELECT id FROM vals WHERE id = 2'), undefined);
        assert.equal(isUniqueViolation(new Error('other')), false);
      }));

    it('applies migrations in order, once, and reports what it did', () =>
      withStore(async (s) => {
        const m1: Migration = { id: 'test/0001-a', sql: 'CREATE TABLE a (id BIGINT PRIMARY KEY, name TEXT NOT NULL)' };
        // Depends on m1 and holds several statements.
        const m2: Migration = {
          id: 'test/0002-b',
          sql: "CREATE TABLE b (id BIGINT PRIMARY KEY, a_id BIGINT NOT NULL REFERENCES a (id));\nCREATE INDEX b_a ON b (a_id);\nINSERT INTO a (id, name) VALUES (1, 'first; not a statement end?');",
        };
        assert.deepEqual(await s.migrate([m1, m2]), { applied: ['test/0001-a', 'test/0002-b'], alreadyApplied: 0 });
        assert.deepEqual(await s.migrate([m1, m2]), { applied: [], alreadyApplied: 2 });
        const m3: Migration = { id: 'test/0003-c', sql: 'ALTER TABLE a ADD COLUMN note TEXT' };
        assert.deepEqual(await s.migrate([m1, m2, m3]), { applied: ['test/0003-c'], alreadyApplied: 2 });
        assert.deepEqual(await s.get('SELECT id, name, note FROM a'), { id: 1, name: 'first; not a statement end?', note: null });
        const ledger = await s.all<{ id: string; applied_at: number }>("SELECT id, applied_at FROM schema_migrations WHERE id LIKE 'test/%' ORDER BY id");
        assert.deepEqual(ledger.map((r) => r.id), ['test/0001-a', 'test/0002-b', 'test/0003-c']);
        assert.ok(ledger.every((r) => typeof r.applied_at === 'number' && Math.abs(r.applied_at - Date.now()) < 60_000));
        // Foreign keys are enforced in both dialects.
        await assert.rejects(s.run('INSERT INTO b (id, a_id) VALUES (1, 999)'));
      }));

    it('rolls back a failed migration entirely, keeps the earlier ones, and retries it next time', () =>
      withStore(async (s) => {
        const ok: Migration = { id: 'test/0001-ok', sql: 'CREATE TABLE ok (id BIGINT PRIMARY KEY)' };
        const bad: Migration = { id: 'test/0002-bad', sql: 'CREATE TABLE half (id BIGINT PRIMARY KEY); INSERT INTO no_such_table VALUES (1)' };
        await assert.rejects(s.migrate([ok, bad]), (e) => e instanceof SakimoriError && e.code === 'STORE_MIGRATION_FAILED' && e.message.includes('test/0002-bad'));
        assert.deepEqual(await s.migrate([ok]), { applied: [], alreadyApplied: 1 });
        await s.run('SELECT id FROM ok'); // applied
        await assert.rejects(s.run('SELECT id FROM half')); // rolled back with its migration
        const fixed: Migration = { id: 'test/0002-bad', sql: 'CREATE TABLE half (id BIGINT PRIMARY KEY)' };
        assert.deepEqual(await s.migrate([ok, fixed]), { applied: ['test/0002-bad'], alreadyApplied: 1 });
      }));

    it('refuses a migration list with a duplicate id', () =>
      withStore(async (s) => {
        const m: Migration = { id: 'test/dup', sql: 'CREATE TABLE d (id BIGINT)' };
        await assert.rejects(s.migrate([m, m]), (e) => e instanceof SakimoriError && e.code === 'STORE_MIGRATION_INVALID' && e.message.includes('test/dup'));
      }));

    it('runs the text for its own dialect in a dialect-specific migration', () =>
      withStore(async (s) => {
        await s.migrate([
          {
            id: 'test/0001-dialect',
            sql: {
              sqlite: "CREATE TABLE d (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO d (v) VALUES ('sqlite')",
              postgres: "CREATE TABLE d (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v TEXT); INSERT INTO d (v) VALUES ('postgres')",
            },
          },
        ]);
        assert.deepEqual(await s.all('SELECT id, v FROM d'), [{ id: 1, v: s.dialect }]);
        const next = await s.get<{ id: number }>('INSERT INTO d (v) VALUES (?) RETURNING id', ['more']);
        assert.equal(next?.id, 2);
      }));

    it('two stores on one database: each sees the other\'s commits, concurrent writers both succeed', () =>
      withStore(async (a, url) => {
        const b = await open(url);
        await a.run('INSERT INTO vals (id, t) VALUES (?, ?)', [1, 'from a']);
        assert.deepEqual(await b.get('SELECT t FROM vals WHERE id = 1'), { t: 'from a' });
        await b.runMany('INSERT INTO vals (id, t) VALUES (?, ?)', [[2, 'from b'], [3, 'from b']]);
        assert.equal((await a.get<{ n: number }>('SELECT count(*) AS n FROM vals'))!.n, 3);

        // Migrations run by both at once apply once.
        const m: Migration = { id: 'test/0001-shared', sql: 'CREATE TABLE shared (id BIGINT PRIMARY KEY)' };
        const [ra, rb] = await Promise.all([a.migrate([m]), b.migrate([m])]);
        assert.deepEqual([...ra.applied, ...rb.applied], ['test/0001-shared']);

        // Read-modify-write transactions from both stores, interleaved.
        await Promise.all([...Array.from({ length: 20 }, () => increment(a)), ...Array.from({ length: 20 }, () => increment(b))]);
        assert.equal(await counter(a), 40);
      }));

    it('a writer waits for the other store\'s open transaction without blocking the event loop', () =>
      withStore(async (a, url) => {
        const b = await open(url);
        let release!: () => void;
        const held = new Promise<void>((r) => (release = r));
        let entered!: () => void;
        const inside = new Promise<void>((r) => (entered = r));
        const slow = a.transaction(async (tx) => {
          await tx.run('INSERT INTO vals (id, t) VALUES (?, ?)', [1, 'a']);
          entered();
          await held;
        });
        await inside;
        const order: string[] = [];
        const write = b.transaction(async (tx) => {
          await tx.run('INSERT INTO vals (id, t) VALUES (?, ?)', [2, 'b']);
          order.push('b wrote');
        });
        // The event loop keeps turning while b waits: timers fire.
        await sleep(150);
        order.push('timer fired');
        release();
        await Promise.all([slow, write]);
        assert.deepEqual(order, ['timer fired', 'b wrote']);
        assert.equal((await b.get<{ n: number }>('SELECT count(*) AS n FROM vals'))!.n, 2);
      }));

    it('a transaction kept waiting longer than busyTimeoutMs by another store fails with STORE_BUSY', () =>
      withStore(async (a, url) => {
        const b = await open(url, { busyTimeoutMs: 200 });
        let release!: () => void;
        const held = new Promise<void>((r) => (release = r));
        let entered!: () => void;
        const inside = new Promise<void>((r) => (entered = r));
        const slow = a.transaction(async (tx) => {
          await tx.run('INSERT INTO vals (id) VALUES (1)');
          entered();
          await held;
        });
        await inside;
        const started = Date.now();
        await assert.rejects(
          b.transaction((tx) => tx.run('INSERT INTO vals (id) VALUES (2)')),
          (e) => e instanceof SakimoriError && e.code === 'STORE_BUSY' && e.message.includes(b.displayUrl) && (e.hint ?? '').length > 0,
        );
        assert.ok(Date.now() - started >= 150, 'it waited about busyTimeoutMs first');
        release();
        await slow;
        assert.deepEqual(await b.all('SELECT id FROM vals'), [{ id: 1 }]);
      }));

    it('another process writing to the same database at the same time: both succeed', () =>
      withStore(async (s, url) => {
        const child = writerProcess(url, 20);
        await child.ready; // start together: Node's start-up alone outlasts 20 transactions
        await Promise.all([child.done, ...Array.from({ length: 20 }, () => increment(s, 5))]);
        assert.equal(await counter(s), 40);
      }));

    it('pings, and refuses work after close()', () =>
      withStore(async (s) => {
        await s.ping();
        assert.ok(!/:[^/@]*@/.test(s.displayUrl.replace(/^[a-z]+:\/\//, '')) || s.displayUrl.includes('***'));
        let committed = false;
        const inFlight = s.transaction(async (tx) => {
          await sleep(50);
          await tx.run('INSERT INTO vals (id) VALUES (1)');
          committed = true;
        });
        await sleep(5);
        await s.close(); // waits for the transaction in flight
        await inFlight;
        assert.ok(committed);
        await s.close(); // a second close is harmless
        await assert.rejects(s.get('SELECT 1'), (e) => e instanceof SakimoriError && e.code === 'STORE_CLOSED');
        await assert.rejects(s.transaction(async () => undefined), (e) => e instanceof SakimoriError && e.code === 'STORE_CLOSED');
      }));
  });
}

const STORE_INDEX = new URL('./index.ts', import.meta.url).href;
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Runs `increments` counter transactions from a separate Node process on the
 * same database; `ready` resolves when that process has opened the store.
 */
function writerProcess(url: string, increments: number): { ready: Promise<void>; done: Promise<void> } {
  const script = `
    const { openStore } = await import(${JSON.stringify(STORE_INDEX)});
    const s = await openStore(${JSON.stringify(url)});
    process.stdout.write('ready\\n');
    await Promise.all(Array.from({ length: ${increments} }, () => s.transaction(async (tx) => {
      const row = await tx.get("SELECT n FROM counter WHERE name = 'c'");
      await new Promise((r) => setTimeout(r, 5));
      await tx.run("UPDATE counter SET n = ? WHERE name = 'c'", [row.n + 1]);
    })));
    await s.close();
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`writer process exited with ${code}: ${stderr}`))));
  });
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    done.then(() => reject(new Error('writer process ended before it was ready')), reject);
  });
  return { ready, done };
}
