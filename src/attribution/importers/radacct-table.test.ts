import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { startPostgres, type PostgresPeer } from '../../../test/peers/postgres.ts';
import { openStore } from '../../store/index.ts';
import { parseNetwork } from '../address.ts';
import { attributionMigrations } from '../migrations.ts';
import { SessionIndex } from '../session-index.ts';
import { importRadacctTable } from './radacct-table.ts';

/** FreeRADIUS 3.2's radacct table in PostgreSQL (raddb/mods-config/sql/main/postgresql/schema.sql), the columns as shipped. */
const RADACCT = `CREATE TABLE radacct (
  RadAcctId bigserial PRIMARY KEY, AcctSessionId text NOT NULL, AcctUniqueId text NOT NULL UNIQUE, UserName text, Realm text,
  NASIPAddress inet NOT NULL, NASPortId text, NASPortType text, AcctStartTime timestamp with time zone, AcctUpdateTime timestamp with time zone,
  AcctStopTime timestamp with time zone, AcctInterval bigint, AcctSessionTime bigint, AcctAuthentic text, ConnectInfo_start text, ConnectInfo_stop text,
  AcctInputOctets bigint, AcctOutputOctets bigint, CalledStationId text, CallingStationId text, AcctTerminateCause text, ServiceType text,
  FramedProtocol text, FramedIPAddress inet, FramedIPv6Address inet, FramedIPv6Prefix inet, FramedInterfaceId text, DelegatedIPv6Prefix inet, Class text)`;

let peer: PostgresPeer | undefined;
const started = startPostgres().then((p) => (peer = p));
before(() => started);
after(() => peer?.stop());

describe('radacct straight from a FreeRADIUS PostgreSQL table', () => {
  it('reads every row in radacctid order, pages through, reports bad rows by radacctid', async () => {
    const url = await (await started).createDatabase();
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      await c.query(RADACCT);
      await c.query(`INSERT INTO radacct (AcctSessionId, AcctUniqueId, UserName, NASIPAddress, AcctStartTime, AcctStopTime, AcctSessionTime, FramedIPAddress, DelegatedIPv6Prefix)
        SELECT 's' || g, 'u' || g, 'user' || g, '192.0.2.1', TIMESTAMPTZ '2025-01-06 10:00:00+00' + g * INTERVAL '1 minute',
               TIMESTAMPTZ '2025-01-06 10:00:30+00' + g * INTERVAL '1 minute', 30, ('10.0.0.' || g)::inet, ('2001:db8:' || to_hex(g) || '::/56')::inet
        FROM generate_series(1, 250) g`);
      // An open session, and one whose start has to come from its stop and session time.
      await c.query(`INSERT INTO radacct (AcctSessionId, AcctUniqueId, UserName, NASIPAddress, AcctStartTime, FramedIPAddress) VALUES ('open1', 'uo', 'olive', '192.0.2.1', '2025-01-06 12:00:00+00', '10.0.1.1')`);
      await c.query(`INSERT INTO radacct (AcctSessionId, AcctUniqueId, UserName, NASIPAddress, AcctStopTime, AcctSessionTime, FramedIPAddress) VALUES ('late', 'ul', 'lena', '192.0.2.1', '2025-01-06 13:00:00+00', 600, '10.0.1.2')`);
      await c.query(`INSERT INTO radacct (AcctSessionId, AcctUniqueId, UserName, NASIPAddress, FramedIPAddress) VALUES ('nostart', 'un', 'nina', '192.0.2.1', '10.0.1.3')`);
    } finally {
      await c.end();
    }
    const store = await openStore('sqlite::memory:');
    try {
      await store.migrate(attributionMigrations);
      const index = new SessionIndex(store, { prefixLengthsTtlMs: 0 });
      const bad: string[] = [];
      const progress: number[] = [];
      const r = await importRadacctTable(index, url, 'radacct', { onBad: (f, line, m) => bad.push(`${f}:${line}: ${m}`), onProgress: (done, total) => progress.push(done / total) }, {}, 100);
      assert.deepEqual(bad, ['radacct:253: acctstarttime is empty and there is no acctstoptime/acctupdatetime with acctsessiontime to derive it from']);
      assert.equal(r.lines, 253);
      assert.equal(r.sessions, 502);
      assert.equal(progress.at(-1), 1);
      const who = (ip: string, at: string) => index.holderAt(parseNetwork(ip)!, { at: Date.parse(at), skewMs: 0 });
      let w = await who('10.0.0.7', '2025-01-06T10:07:15Z');
      assert.ok(w.result === 'found' && w.subscriber === 'user7' && w.session.nas === '192.0.2.1' && w.session.sessionId === 's7', JSON.stringify(w));
      w = await who('2001:db8:fa::1', '2025-01-06T14:10:10Z');
      assert.ok(w.result === 'found' && w.subscriber === 'user250');
      w = await who('10.0.1.1', '2025-01-07T00:00:00Z');
      assert.ok(w.result === 'found' && w.session.end === null);
      w = await who('10.0.1.2', '2025-01-06T12:55:00Z');
      assert.ok(w.result === 'found' && w.session.startInferred === true);
      await assert.rejects(importRadacctTable(index, url, 'radacct; drop table x', {}), /not a table name/);
      await assert.rejects(importRadacctTable(index, url, 'nosuchtable', {}), /cannot be read as a FreeRADIUS radacct table/);
    } finally {
      await store.close();
    }
  });
});
