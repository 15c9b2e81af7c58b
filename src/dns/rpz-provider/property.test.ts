/**
 * Property: the differences the provider sends by IXFR, applied to the zone a secondary
 * holds, give the zone the provider serves, for any history of versions: in the
 * provider's own zone model, and in the policy engine's (what Sakimori's firewall and
 * the resolvers enforce). Versions are random sets of names with random actions, TTLs
 * and local data, changed by a random walk.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { RRType } from '../wire/index.ts';
import { RpzZone, type ZoneRecord } from '../policy/index.ts';
import { requestTransfer, type XfrLogger } from '../zone-transfer/index.ts';
import { formatRecord, RpzProvider, ZoneContent } from './index.ts';

const quiet: XfrLogger = { debug() {}, info() {}, warn() {}, error() {} };
const ZONE = 'prop.rpz.test';
const SEED = process.env.RPZ_PROPERTY_SEED ? Number(process.env.RPZ_PROPERTY_SEED) : undefined;
let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'sakimori-rpz-prop-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

type Rule = { action: 'nxdomain' | 'nodata' | 'drop' | 'passthru' | 'a' | 'aaaa2'; ttl: number; addr: number };
type Version = Map<string, Rule>;

const nameArb = fc.constantFrom(...Array.from({ length: 40 }, (_, i) => (i % 5 === 0 ? `*.w${i}.example` : `n${i}.example`)));
const ruleArb = fc.record({ action: fc.constantFrom('nxdomain', 'nodata', 'drop', 'passthru', 'a', 'aaaa2') as fc.Arbitrary<Rule['action']>, ttl: fc.constantFrom(60, 300), addr: fc.integer({ min: 1, max: 3 }) });
const stepArb = fc.array(fc.tuple(nameArb, fc.option(ruleArb, { nil: undefined })), { minLength: 1, maxLength: 12 });
const historyArb = fc.record({ first: fc.array(fc.tuple(nameArb, ruleArb), { maxLength: 25 }), steps: fc.array(stepArb, { minLength: 1, maxLength: 4 }) });

function recordsOf(v: Version): ZoneRecord[] {
  const out: ZoneRecord[] = [];
  for (const [n, r] of v) {
    const name = `${n}.${ZONE}`;
    const c = (cname: string): ZoneRecord => ({ name, type: RRType.CNAME, ttl: r.ttl, data: { kind: 'CNAME', cname } });
    if (r.action === 'nxdomain') out.push(c('.'));
    else if (r.action === 'nodata') out.push(c('*'));
    else if (r.action === 'drop') out.push(c('rpz-drop'));
    else if (r.action === 'passthru') out.push(c('rpz-passthru'));
    else if (r.action === 'a') out.push({ name, type: RRType.A, ttl: r.ttl, data: { kind: 'A', address: `192.0.2.${r.addr}` } });
    else {
      out.push({ name, type: RRType.AAAA, ttl: r.ttl, data: { kind: 'AAAA', address: `2001:db8::${r.addr}` } });
      out.push({ name, type: RRType.AAAA, ttl: r.ttl, data: { kind: 'AAAA', address: `2001:db8::${r.addr + 10}` } });
    }
  }
  return out;
}

function soa(serial: number): ZoneRecord {
  return { name: ZONE, type: RRType.SOA, ttl: 300, data: { kind: 'SOA', mname: 'localhost', rname: 'hostmaster.localhost', serial, refresh: 3600, retry: 600, expire: 86400, minimum: 300 } };
}

function fileText(serial: number, v: Version): string {
  return [`$ORIGIN ${ZONE}.`, formatRecord(soa(serial), ZONE), `@ 300 IN NS localhost.`, ...recordsOf(v).map((r) => formatRecord(r, ZONE)), ''].join('\n');
}

/** The policy engine's view of a zone, as sorted text (what a secondary's firewall enforces). */
function policyView(z: RpzZone): string[] {
  return [...z.records()].map((r) => formatRecord(r)).sort();
}

function policyZone(serial: number, v: Version): RpzZone {
  const z = new RpzZone(ZONE);
  for (const r of [soa(serial), ...recordsOf(v)]) assert.equal(z.addRecord(r), undefined);
  return z;
}

describe('IXFR differences rebuild the served zone', () => {
  it('in the provider\'s zone model: a.diffTo(b) applied to a is b', () => {
    fc.assert(
      fc.property(historyArb, ({ first, steps }) => {
        let v: Version = new Map(first);
        const a = ZoneContent.from(ZONE, soa(1), recordsOf(v));
        for (const step of steps) for (const [n, r] of step) r ? v.set(n, r) : v.delete(n);
        v = new Map(v);
        const b = ZoneContent.from(ZONE, soa(2), recordsOf(v));
        const c = a.clone();
        c.apply(a.diffTo(b));
        assert.ok(c.sameAs(b));
        assert.deepEqual([...c.records()].map((r) => formatRecord(r)).sort(), [...b.records()].map((r) => formatRecord(r)).sort());
      }),
      { numRuns: 300, ...(SEED !== undefined ? { seed: SEED } : {}) },
    );
  });

  it('over the wire, from every older version, into the policy engine', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(historyArb, async ({ first, steps }) => {
        const file = join(dir, `z${run++}.zone`);
        const versions: Version[] = [new Map(first)];
        for (const step of steps) {
          const v = new Map(versions.at(-1)!);
          for (const [n, r] of step) r ? v.set(n, r) : v.delete(n);
          versions.push(v);
        }
        writeFileSync(file, fileText(1, versions[0]!));
        const p = new RpzProvider({ listen: { host: '127.0.0.1', port: 0 }, zones: [{ name: ZONE, file }], logger: quiet, watchIntervalMs: 3_600_000 });
        await p.start();
        try {
          const served: ZoneContent[] = [p.zone(ZONE)!.content];
          for (let i = 1; i < versions.length; i++) {
            writeFileSync(file, fileText(i + 1, versions[i]!));
            const r = await p.reload(ZONE);
            // 'unchanged': a step may change nothing (same records again: the serial stays),
            // or the provider's directory watch took this version before our reload did.
            assert.ok(r.result === 'updated' || r.result === 'unchanged', JSON.stringify(r));
            served.push(p.zone(ZONE)!.content);
          }
          const last = served.at(-1)!;
          const want = policyView(policyZone(last.serial, versions.at(-1)!));
          for (let i = 0; i < served.length - 1; i++) {
            const t = await requestTransfer(p.address, { zone: ZONE, type: 'IXFR', soa: served[i]!.soa });
            if (served[i]!.serial === last.serial) {
              assert.equal(t.outcome.kind, 'up-to-date');
              continue;
            }
            assert.equal(t.outcome.kind, 'incremental');
            if (t.outcome.kind !== 'incremental') continue;
            const mine = served[i]!.clone();
            const engine = policyZone(served[i]!.serial, versions[i]!);
            for (const d of t.outcome.diffs) {
              mine.apply(d);
              const res = engine.apply({ deleteRecords: [d.from, ...d.deletes], addRecords: [d.to, ...d.adds] });
              assert.ok(res.ok, res.ok ? '' : res.errors.join('; '));
            }
            assert.ok(mine.sameAs(last), `IXFR from serial ${served[i]!.serial}`);
            assert.equal(engine.serial, last.serial);
            assert.deepEqual(policyView(engine), want);
          }
        } finally {
          await p.stop();
        }
      }),
      { numRuns: 40, ...(SEED !== undefined ? { seed: SEED } : {}) },
    );
  });
});
