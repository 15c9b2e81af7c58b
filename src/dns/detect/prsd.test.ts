import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, parseObservation, Rng, type Observation } from '../../core/index.ts';
import { NO_MATCH, PolicyEngine, RpzZone } from '../policy/index.ts';
import { DnsDetection, neverBlockFrom, type DetectOptionsInput, type DnsObservedQuery } from './index.ts';

const T0 = 1_700_000_000_000;

/** A firewall in miniature: never-block list, the dynamic zone, and the detector feeding on its answers. */
function rig(opts: DetectOptionsInput = {}, allowNames: string[] = []) {
  const clock = new ManualClock(T0);
  const zone = new RpzZone('detect.dns-abuse.invalid');
  const allow = new RpzZone('allow.invalid');
  allow.apply({ setTriggers: allowNames.map((trigger) => ({ trigger, action: 'passthru' as const })) });
  const engine = new PolicyEngine({ allow, zones: [zone] });
  const observations: Observation[] = [];
  const published: unknown[] = [];
  const det = new DnsDetection(
    { clock, zone, neverBlock: neverBlockFrom(allow), onObservation: (o) => observations.push(o), bus: { publish: async (_t, d) => published.push(d) } },
    opts,
  );
  const ask = (at: number, qname: string, upstreamRcode: number | undefined, client = '192.0.2.1', extra: Partial<DnsObservedQuery> = {}) => {
    const d = engine.decide(qname, undefined, 1);
    const blocked = d !== NO_MATCH && d.zone === zone.name && d.action !== 'passthru';
    const e: DnsObservedQuery = blocked
      ? { at, client, qname, qtype: 1, rcode: 3, matched: 'dns-abuse' }
      : { at, client, qname, qtype: 1, ...(upstreamRcode === undefined ? { upstreamTimeout: true } : { rcode: upstreamRcode }), ...(d !== NO_MATCH && d.zone === allow.name ? { matched: 'allow' as const } : {}), ...extra };
    det.observe(e);
    return blocked;
  };
  const second = (s: number, fill: (at: number) => void) => {
    fill(T0 + s * 1000);
    clock.set(T0 + (s + 1) * 1000);
    det.tick();
  };
  return { clock, zone, engine, det, ask, second, observations, published };
}

function rnd(rng: Rng, n = 12): string {
  let s = '';
  for (let i = 0; i < n; i++) s += 'abcdefghijklmnopqrstuvwxyz0123456789'[rng.int(36)];
  return s;
}

const GOOD = ['www.victim.example', 'mail.victim.example', 'api.victim.example', 'victim.example'];

test('a 1,000 qps random-subdomain flood is mitigated within 5 s; names resolved before it and never-block names keep resolving (R4)', () => {
  const r = rig({}, ['sso.victim.example']);
  const rng = new Rng(1);
  const start = 30;
  let detectedAt: number | undefined;
  for (let s = 0; s < 60; s++) {
    r.second(s, (t) => {
      for (let i = 0; i < 40; i++) r.ask(t + i * 20, GOOD[i % GOOD.length]!, 0, `198.51.100.${i}`);
      if (s >= start) for (let i = 0; i < 1000; i++) r.ask(t + i, `${rnd(rng)}.victim.example`, 3, `203.0.113.${i % 250}`);
    });
    if (detectedAt === undefined && r.det.book.list({ kind: 'prsd' }).length > 0) detectedAt = s + 1;
  }
  assert.ok(detectedAt !== undefined && detectedAt - start <= 5, `detected ${detectedAt! - start} s after the start`);
  const [d] = r.det.book.list({ kind: 'prsd' });
  assert.equal(d!.subject, 'victim.example');
  assert.equal(d!.action, 'mitigated');
  assert.equal(d!.purpose, 'dns-abuse-mitigation');
  assert.ok((d!.evidence.distinctRatio as number) > 0.9);
  // Zero collateral on the names that resolved before the attack, and on the never-block list.
  for (const n of [...GOOD, 'sso.victim.example']) assert.equal(r.ask(T0 + 61_000, n, 0), false, n);
  assert.equal(r.ask(T0 + 61_000, `${rnd(rng)}.victim.example`, 3), true);
  assert.equal(r.ask(T0 + 61_000, 'www.other.example', 0), false);
  // One Observation, schema-valid, for the cases pipeline and the bus.
  assert.equal(r.observations.length, 1);
  assert.equal(r.observations[0]!.kind, 'prsd-target');
  assert.equal(r.observations[0]!.network.fqdn, 'victim.example');
  assert.ok(parseObservation(r.published[0]).ok);
});

test('mitigations expire holdSeconds after the flood stops, and stop() withdraws what is left', () => {
  const r = rig({ prsd: { holdSeconds: 20 } });
  const rng = new Rng(2);
  for (let s = 0; s < 80; s++) {
    r.second(s, (t) => {
      for (let i = 0; i < 10; i++) r.ask(t + i, 'www.victim.example', 0);
      if (s >= 10 && s < 30) for (let i = 0; i < 1500; i++) r.ask(t + i / 2, `${rnd(rng)}.victim.example`, 3);
    });
  }
  const [d] = r.det.book.list({ kind: 'prsd' });
  assert.ok(d!.endedAt, 'ended');
  assert.ok(d!.evidence.lastAttackAt, 'updated while in force');
  assert.match(d!.endReason!, /no attack traffic for 20 s/);
  assert.ok((d!.evidence.blocked as number) > 1000);
  assert.equal(r.zone.stats().wildcard, 0, 'triggers withdrawn');
  assert.equal(r.ask(T0 + 81_000, `${rnd(rng)}.victim.example`, 3), false);

  const r2 = rig();
  for (let s = 0; s < 10; s++) r2.second(s, (t) => {
    for (let i = 0; i < 1500; i++) r2.ask(t + i / 2, `${rnd(rng)}.victim2.example`, 3);
  });
  assert.equal(r2.zone.stats().wildcard, 1);
  r2.det.stop();
  assert.equal(r2.zone.stats().wildcard, 0);
  assert.ok(r2.det.book.list()[0]!.endedAt);
});

test('dry-run reports what would have been blocked and changes nothing', () => {
  const r = rig({ prsd: { mode: 'dry-run', holdSeconds: 5 } });
  const rng = new Rng(3);
  for (let s = 0; s < 40; s++) r.second(s, (t) => {
    if (s >= 5 && s < 20) for (let i = 0; i < 1200; i++) r.ask(t + i / 2, `${rnd(rng)}.victim.example`, 3);
  });
  const [d] = r.det.book.list({ kind: 'prsd' });
  assert.equal(d!.action, 'dry-run');
  assert.ok(d!.change?.setTriggers?.some((t) => t.trigger === '*.victim.example'));
  assert.equal(r.zone.stats().wildcard, 0);
  assert.ok((d!.evidence.wouldHaveBlocked as number) > 10_000);
});

test('a flood under one child (rnd.www.victim) mitigates that child only; a timeout-heavy flood (overloaded authority) is caught too', () => {
  const r = rig();
  const rng = new Rng(4);
  for (let s = 0; s < 20; s++) r.second(s, (t) => {
    for (let i = 0; i < 20; i++) r.ask(t + i, 'shop.victim.example', 0);
    if (s >= 10) for (let i = 0; i < 1200; i++) r.ask(t + i / 2, `${rnd(rng)}.www.victim.example`, rng.chance(0.5) ? undefined : 2);
  });
  const [d] = r.det.book.list({ kind: 'prsd' });
  assert.equal(d!.subject, 'www.victim.example');
  assert.ok((d!.evidence.timeoutRatio as number) > 0.3);
  assert.equal(r.ask(T0 + 21_000, 'shop.victim.example', 0), false);
  assert.equal(r.ask(T0 + 21_000, `${rnd(rng)}.shop.victim.example`, 3), false);
  assert.equal(r.ask(T0 + 21_000, `${rnd(rng)}.www.victim.example`, 3), true);
});

test('a zone answering NOERROR for any child (wildcard) is caught by distinct rate and label shape; its older names stay', () => {
  const r = rig();
  const rng = new Rng(5);
  for (let s = 0; s < 30; s++) r.second(s, (t) => {
    for (let i = 0; i < 10; i++) r.ask(t + i, GOOD[i % GOOD.length]!, 0);
    if (s >= 20) for (let i = 0; i < 1500; i++) r.ask(t + i / 2, `${rnd(rng)}.victim.example`, 0);
  });
  const [d] = r.det.book.list({ kind: 'prsd' });
  assert.ok(d, 'detected');
  for (const n of GOOD) assert.equal(r.ask(T0 + 31_000, n, 0), false, n);
  // Random names that slipped into the known-good table during the flood got no exception.
  assert.ok((d!.evidence.keptNames as number) <= GOOD.length);
});

test('benign busy zones are left alone: many NOERROR hash names (telemetry), DNSBL reverse-octet lookups, one broken name asked 1,000 times a second', () => {
  const r = rig();
  const rng = new Rng(6);
  for (let s = 0; s < 60; s++) r.second(s, (t) => {
    for (let i = 0; i < 800; i++) r.ask(t + i, `${rnd(rng, 32).replace(/[g-z]/g, 'a')}.avqs.telemetry.example`, 0);
    for (let i = 0; i < 400; i++) r.ask(t + i, `${rng.int(256)}.${rng.int(256)}.${rng.int(256)}.${rng.int(256)}.zen.dnsbl.example`, rng.chance(0.8) ? 3 : 0);
    for (let i = 0; i < 1000; i++) r.ask(t + i, 'broken.misconfigured.example', 2);
  });
  assert.deepEqual(r.det.book.list(), []);
});

test('a zone on the never-block list is reported, not mitigated', () => {
  const r = rig({}, ['*.victim.example']);
  const rng = new Rng(7);
  for (let s = 0; s < 10; s++) r.second(s, (t) => {
    for (let i = 0; i < 1500; i++) r.ask(t + i / 2, `${rnd(rng)}.victim.example`, 3);
  });
  const list = r.det.book.list({ kind: 'prsd' });
  assert.equal(list.length, 1);
  assert.equal(list[0]!.action, 'never-block');
  assert.equal(r.zone.stats().wildcard, 0);
});

test('adapter: activeChange() restores triggers after a zone replacement; a refused change is recorded as failed; no zone means dry-run', () => {
  const rng = new Rng(8);
  const flood = (det: DnsDetection, clock: ManualClock) => {
    for (let s = 0; s < 6; s++) {
      for (let i = 0; i < 1500; i++) det.observe({ at: clock.now() + i / 2, client: '203.0.113.9', qname: `${rnd(rng)}.victim.example`, qtype: 1, rcode: 3 });
      clock.advance(1000);
      det.tick();
    }
  };
  const r = rig();
  flood(r.det, r.clock);
  const again = new RpzZone('detect.dns-abuse.invalid');
  assert.equal(again.apply(r.det.activeChange()).ok, true);
  assert.equal(again.stats().wildcard, 1);

  const clock = new ManualClock(T0);
  const refused = new DnsDetection({ clock, zone: { apply: () => ({ ok: false, errors: ['zone is read-only'], warnings: [] }) } });
  flood(refused, clock);
  assert.equal(refused.book.list()[0]!.action, 'failed');
  assert.match(refused.book.list()[0]!.error!, /read-only/);

  const clock2 = new ManualClock(T0);
  const none = new DnsDetection({ clock: clock2 });
  flood(none, clock2);
  assert.equal(none.book.list()[0]!.action, 'dry-run');
  assert.match(none.book.list()[0]!.error!, /no policy zone/);
});

test('a flood the firewall already answers from a cc zone is no PRSD attack (no upstream load) but still counts as C&C lookups', () => {
  const r = rig();
  const rng = new Rng(3);
  for (let s = 0; s < 20; s++) {
    r.second(s, (t) => {
      for (let i = 0; i < 1000; i++) r.det.observe({ at: t + i, client: '203.0.113.9', qname: `${rnd(rng)}.cc-listed.example`, qtype: 1, rcode: 3, matched: 'cc' });
    });
  }
  assert.deepEqual(r.det.book.list({ kind: 'prsd' }), []);
  assert.equal(r.det.stats().trackedZones, 0);
  const [inf] = r.det.book.list({ kind: 'suspected-infection' });
  assert.equal(inf?.subject, '203.0.113.9');
  assert.ok((inf!.evidence.ccNames as number) >= 2);
});
