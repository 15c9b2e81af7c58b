import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startPostgres, type PostgresPeer } from '../../test/peers/postgres.ts';
import { openStore } from '../store/index.ts';
import { keyOf, parseNetwork } from './address.ts';
import { bulkLoadContract, MIN, openIndex, record, sessionIndexContract, T0 } from './index-contract.ts';
import { PostgresCopyWriter } from './pg-copy.ts';
import { SessionIndex, UPSERT_TAIL } from './session-index.ts';

sessionIndexContract('sqlite', () => openStore('sqlite::memory:'));

// No skip when PostgreSQL is missing: startPostgres throws and every test fails, saying why.
let pg: PostgresPeer | undefined;
const started = startPostgres().then((p) => (pg = p));
before(() => started);
after(() => pg?.stop());
sessionIndexContract('postgres', async () => openStore(await (await started).createDatabase()));

describe('PostgreSQL bulk path (COPY into a staging table, then one upsert)', () => {
  it('writes, merges and re-writes exactly as the Store path does, escaping what COPY text must escape', async () => {
    const url = await (await started).createDatabase();
    const store = await openStore(url);
    const copy = new PostgresCopyWriter(url, UPSERT_TAIL);
    try {
      const { index } = await openIndex(store);
      const bulk = new SessionIndex(store, { bulk: copy, prefixLengthsTtlMs: 0 });
      const odd = 'tab\there\\back\nslash';
      const recs = [
        record({ addrKey: keyOf('198.51.100.1')!, subscriber: odd, start: T0, end: null, nas: 'n1', sessionId: 'x1' }),
        record({ addrKey: keyOf('2001:db8:1::/56')!, role: 'ipv6-delegated', subscriber: 'p', start: T0, end: T0 + MIN, nas: 'n1', sessionId: 'x2' }),
      ];
      await bulk.write(recs);
      await bulk.write([{ ...recs[0]!, end: T0 + 2 * MIN, lastSeen: T0 + 2 * MIN }, recs[1]!, recs[1]!]);
      assert.deepEqual(await index.count(), { sessions: 2, open: 0 });
      const r = await index.holderAt(parseNetwork('198.51.100.1')!, { at: T0 + MIN, skewMs: 0 });
      assert.ok(r.result === 'found' && r.subscriber === odd && r.session.end === new Date(T0 + 2 * MIN).toISOString(), JSON.stringify(r));
      const v6 = await index.holderAt(parseNetwork('2001:db8:1:2::3')!, { at: T0 + 1000, skewMs: 0 });
      assert.ok(v6.result === 'found' && v6.subscriber === 'p');
    } finally {
      await copy.close();
      await store.close();
    }
  });

  it('a bulk load through COPY into an empty index leaves what upserts leave, and rolls back whole', async () => {
    const [u1, u2] = [await (await started).createDatabase(), await (await started).createDatabase()];
    const [s1, s2] = [await openStore(u1), await openStore(u2)];
    const [c1, c2] = [new PostgresCopyWriter(u1, UPSERT_TAIL), new PostgresCopyWriter(u2, UPSERT_TAIL)];
    try {
      await openIndex(s1);
      await openIndex(s2);
      await bulkLoadContract(
        { store: s1, index: new SessionIndex(s1, { bulk: c1, prefixLengthsTtlMs: 0 }) },
        { store: s2, index: new SessionIndex(s2, { bulk: c2, prefixLengthsTtlMs: 0 }) },
      );
    } finally {
      await c1.close();
      await c2.close();
      await s1.close();
      await s2.close();
    }
  });
});
