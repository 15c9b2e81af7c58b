import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startPostgres, type PostgresPeer } from '../../test/peers/postgres.ts';
import { SakimoriError } from '../core/index.ts';
import { storeContract } from './contract.ts';
import { openStore } from './index.ts';

// No skip when PostgreSQL is missing: startPostgres throws and every test fails, saying why.
let pg: PostgresPeer | undefined;
const started = startPostgres().then((p) => (pg = p));
before(() => started);
after(() => pg?.stop());

storeContract('postgres', async () => (await started).createDatabase());

describe('PostgreSQL adapter specifics', () => {
  it('connects through a unix socket given as ?host=', async () => {
    const peer = await started;
    await peer.createDatabase('via_socket');
    const s = await openStore(`postgres://postgres@/via_socket?host=${encodeURIComponent(peer.socketDir)}&port=${peer.port}`);
    try {
      assert.deepEqual(await s.get('SELECT current_database() AS db, inet_server_addr() AS addr'), { db: 'via_socket', addr: null });
    } finally {
      await s.close();
    }
  });

  it('names host:port and what to check when nothing listens there', async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    await assert.rejects(openStore(`postgres://sakimori:topsecret@127.0.0.1:${port}/sakimori`), (e) => {
      assert.ok(e instanceof SakimoriError);
      assert.equal(e.code, 'STORE_UNREACHABLE');
      assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
      assert.match(e.hint ?? '', /PostgreSQL is running/);
      assert.ok(!e.toDisplay().includes('topsecret'), 'the password is never shown');
      return true;
    });
  });

  it('says how to create a database that does not exist', async () => {
    const peer = await started;
    await assert.rejects(openStore(`postgres://postgres@127.0.0.1:${peer.port}/no_such_db`), (e) => {
      assert.ok(e instanceof SakimoriError);
      assert.match(e.message, /database "no_such_db" does not exist/);
      assert.match(e.hint ?? '', /createdb/);
      return true;
    });
  });

  it('returns int8 and numeric aggregates as numbers, bytea as Buffer', async () => {
    const s = await openStore(await (await started).createDatabase());
    try {
      assert.deepEqual(
        await s.get("SELECT count(*) AS n, sum(x)::numeric AS total, 9007199254740991::int8 AS big, '\\x00ff'::bytea AS b FROM (VALUES (1), (2)) AS v (x)"),
        { n: 2, total: 3, big: 2 ** 53 - 1, b: Buffer.from([0, 255]) },
      );
    } finally {
      await s.close();
    }
  });
});
