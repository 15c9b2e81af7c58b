import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, type Observation } from '../../core/index.ts';
import { NO_MATCH, PolicyEngine, RpzZone } from '../policy/index.ts';
import { DnsDetection, neverBlockFrom, type DetectOptionsInput } from './index.ts';

const T0 = 1_700_000_000_000;

function run(opts: DetectOptionsInput, qtype: number, size: number, sources: number, allowNames: string[] = []) {
  const clock = new ManualClock(T0);
  const zone = new RpzZone('detect.dns-abuse.invalid');
  const allow = new RpzZone('allow.invalid');
  allow.apply({ setTriggers: allowNames.map((trigger) => ({ trigger, action: 'passthru' as const })) });
  const observations: Observation[] = [];
  const det = new DnsDetection({ clock, zone, neverBlock: neverBlockFrom(allow), onObservation: (o) => observations.push(o) }, { prsd: { mode: 'off' }, infection: { mode: 'off' }, ...opts });
  for (let s = 0; s < 30; s++) {
    for (let i = 0; i < 100; i++) det.observe({ at: T0 + s * 1000 + i * 10, client: `198.51.100.${i % sources}`, qname: 'big.amp.example', qtype, rcode: 0, responseSize: size });
    // ordinary traffic
    for (let i = 0; i < 100; i++) det.observe({ at: T0 + s * 1000 + i * 10, client: `192.0.2.${i}`, qname: `www${i}.example.com`, qtype: 1, rcode: 0, responseSize: 90 });
    clock.set(T0 + (s + 1) * 1000);
    det.tick();
  }
  return { det, zone, engine: new PolicyEngine({ allow, zones: [zone] }), observations };
}

test('a large ANY answer asked 100 times a second from 100 sources is proposed for the dns-abuse zone as tcp-only (R4)', () => {
  const r = run({}, 255, 3800, 100);
  const [d] = r.det.book.list({ kind: 'amplification' });
  assert.equal(d!.subject, 'big.amp.example');
  assert.equal(d!.action, 'proposed');
  assert.deepEqual(d!.change, { setTriggers: [{ trigger: 'big.amp.example', action: 'tcp-only' }] });
  assert.ok((d!.evidence.amplificationFactor as number) > 50);
  assert.equal(r.zone.stats().qname, 0, 'proposed, not applied');
  assert.equal(r.observations[0]!.kind, 'amplification-name');
});

test("mode 'apply' puts the entry in the zone; the never-block list wins; few sources or ordinary types are not abuse", () => {
  const a = run({ amplification: { mode: 'apply' } }, 16, 3000, 100);
  assert.equal(a.det.book.list()[0]!.action, 'mitigated');
  assert.equal(a.engine.decide('big.amp.example', undefined, 16).action, 'tcp-only');
  const nb = run({ amplification: { mode: 'apply' } }, 16, 3000, 100, ['big.amp.example']);
  assert.equal(nb.det.book.list()[0]!.action, 'never-block');
  assert.equal(nb.zone.stats().qname, 0);
  assert.equal(run({}, 255, 3800, 5).det.book.list().length, 0, 'five sources: a client, not reflection');
  assert.equal(run({}, 1, 1400, 100).det.book.list().length, 0, 'a big A RRset asked by many is just popular');
  assert.equal(run({}, 255, 300, 100).det.book.list().length, 0, 'small answers amplify little');
});
