/**
 * The provider's zone model against a plain one: any walk of puts, deletes and owner
 * deletions leaves the same records, count and digest as a zone built afresh from them,
 * and diffTo() says exactly what changed. Owners share their records (one object per
 * distinct TTL/type/RDATA): a shared record is dropped when its last owner goes.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RRType } from '../wire/index.ts';
import type { ZoneRecord } from '../policy/index.ts';
import { formatRecord, ZoneContent } from './index.ts';

const ZONE = 'model.rpz.test';
const SOA: ZoneRecord = { name: ZONE, type: RRType.SOA, ttl: 300, data: { kind: 'SOA', mname: 'localhost', rname: 'hostmaster.localhost', serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: 300 } };

const recordArb: fc.Arbitrary<ZoneRecord> = fc
  .record({ owner: fc.integer({ min: 0, max: 7 }), kind: fc.integer({ min: 0, max: 3 }), ttl: fc.constantFrom(60, 300), n: fc.integer({ min: 1, max: 3 }) })
  .map(({ owner, kind, ttl, n }) => {
    const name = `n${owner}.${ZONE}`;
    if (kind === 0) return { name, type: RRType.CNAME, ttl, data: { kind: 'CNAME', cname: '.' } };
    if (kind === 1) return { name, type: RRType.CNAME, ttl, data: { kind: 'CNAME', cname: 'rpz-drop' } };
    if (kind === 2) return { name, type: RRType.A, ttl, data: { kind: 'A', address: `192.0.2.${n}` } };
    return { name, type: RRType.AAAA, ttl, data: { kind: 'AAAA', address: `2001:db8::${n}` } };
  });
const opArb = fc.oneof(
  recordArb.map((r) => ({ op: 'put' as const, r })),
  recordArb.map((r) => ({ op: 'delete' as const, r })),
  fc.integer({ min: 0, max: 7 }).map((o) => ({ op: 'owner' as const, owner: `n${o}.${ZONE}` })),
);

const lines = (rs: Iterable<ZoneRecord>) => [...rs].map((r) => formatRecord(r)).sort();
const key = (r: ZoneRecord) => `${r.name} ${r.type} ${formatRecord(r).split(' ').slice(4).join(' ')}`;

describe('ZoneContent', () => {
  it('matches a plain model after any walk of changes: records, count, digest, and the difference from where it started', () => {
    fc.assert(
      fc.property(fc.array(recordArb, { maxLength: 10 }), fc.array(opArb, { maxLength: 30 }), (first, ops) => {
        const z = ZoneContent.from(ZONE, SOA, first);
        const start = ZoneContent.from(ZONE, SOA, first);
        // The plain model: records by owner + type + RDATA (a put of the same one with another TTL replaces it).
        const model = new Map<string, ZoneRecord>();
        for (const r of first) model.set(key(r), r);
        for (const o of ops) {
          if (o.op === 'put') {
            z.put(o.r);
            model.set(key(o.r), o.r);
          } else if (o.op === 'delete') {
            assert.equal(z.delete(o.r), model.delete(key(o.r)));
          } else {
            const gone = z.deleteOwner(o.owner);
            const mine = [...model.values()].filter((r) => r.name === o.owner);
            assert.deepEqual(lines(gone), lines(mine));
            for (const r of mine) model.delete(key(r));
          }
        }
        assert.deepEqual(lines(z.records()), lines(model.values()));
        assert.equal(z.size, model.size);
        const fresh = ZoneContent.from(ZONE, SOA, model.values());
        assert.equal(z.digest, fresh.digest);
        assert.ok(z.sameAs(fresh));
        for (let i = 0; i < 8; i++) assert.deepEqual(lines(z.at(`n${i}.${ZONE}`)), lines([...model.values()].filter((r) => r.name === `n${i}.${ZONE}`)));
        // Applying start's difference to it gives this version.
        const d = start.diffTo(z);
        start.apply({ ...d, to: SOA });
        assert.equal(start.digest, z.digest);
        assert.deepEqual(lines(start.records()), lines(z.records()));
      }),
      { numRuns: 300 },
    );
  });

  it('shares one record among the owners that hold it, and drops it with its last owner', () => {
    const z = ZoneContent.from(ZONE, SOA, []);
    for (let i = 0; i < 1000; i++) z.put({ name: `n${i}.${ZONE}`, type: RRType.CNAME, ttl: 300, data: { kind: 'CNAME', cname: '.' } });
    assert.equal(z.distinctRecords, 1, 'a thousand owners, one `CNAME .`');
    for (let i = 0; i < 1000; i++) z.put({ name: `u${i}.${ZONE}`, type: RRType.A, ttl: 300, data: { kind: 'A', address: `10.0.${i >> 8}.${i & 255}` } });
    assert.equal(z.distinctRecords, 1001);
    for (let i = 0; i < 1000; i++) z.deleteOwner(`u${i}.${ZONE}`);
    for (let i = 0; i < 999; i++) z.delete({ name: `n${i}.${ZONE}`, type: RRType.CNAME, ttl: 300, data: { kind: 'CNAME', cname: '.' } });
    assert.equal(z.distinctRecords, 1, 'records no owner holds are not kept');
    z.put({ name: `n999.${ZONE}`, type: RRType.CNAME, ttl: 60, data: { kind: 'CNAME', cname: '.' } });
    assert.equal(z.distinctRecords, 1, 'a TTL change replaces the record');
    assert.equal(z.at(`n999.${ZONE}`)[0]!.ttl, 60);
    assert.equal(z.size, 1);
  });
});
