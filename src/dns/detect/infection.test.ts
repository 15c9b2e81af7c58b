import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock, Rng, type Observation } from '../../core/index.ts';
import { DnsDetection, type DetectOptionsInput } from './index.ts';
import { dgaLabel, benignLabel } from './eval/labels.ts';
import { TEST_WORDS } from './eval/words.ts';

const T0 = 1_700_000_000_000;

function rig(opts: DetectOptionsInput = {}) {
  const clock = new ManualClock(T0);
  const observations: Observation[] = [];
  const det = new DnsDetection({ clock, onObservation: (o) => observations.push(o) }, { prsd: { mode: 'off' }, amplification: { mode: 'off' }, ...opts });
  return { clock, det, observations };
}

test('a DGA-infected client gets ONE suspected-infection Observation with a summary, not its query log (R5, R6, R16)', () => {
  const r = rig();
  const rng = new Rng(1);
  const names: string[] = [];
  for (let i = 0; i < 60; i++) {
    const q = `${dgaLabel(rng, 'letters', TEST_WORDS)}.com`;
    names.push(q);
    r.det.observe({ at: T0 + i * 2000, client: '192.0.2.66', qname: q, qtype: 1, rcode: 3 });
    r.det.observe({ at: T0 + i * 2000, client: '192.0.2.66', qname: 'www.example.com', qtype: 1, rcode: 0 });
    r.det.tick(T0 + i * 2000 + 1000);
  }
  assert.equal(r.observations.length, 1);
  const o = r.observations[0]!;
  assert.equal(o.kind, 'suspected-infection');
  assert.equal(o.purpose, 'infection-notice');
  assert.equal(o.network.ip, '192.0.2.66');
  assert.equal(o.network.fqdn, undefined);
  const ev = o.evidence as Record<string, unknown>;
  assert.ok((ev.examples as string[]).length <= 3);
  assert.ok((ev.nxdomainDomains as number) < 60, 'reported when the threshold was crossed, not at the end');
  assert.ok((ev.dgaLikeDomains as number) >= 5);
  const text = JSON.stringify(o);
  assert.ok(names.filter((n) => text.includes(n)).length <= 3, 'at most three names leave the detector');
  assert.ok(!text.includes('www.example.com'));
  const [d] = r.det.book.list({ kind: 'suspected-infection' });
  assert.equal(d!.action, 'observation-emitted');
  assert.equal(d!.purpose, 'infection-notice');
});

test('a clean client is not flagged: typos, browser probes, .lan/.local names, missing children of real domains, dead links', () => {
  const r = rig();
  const rng = new Rng(2);
  let t = T0;
  const ask = (qname: string, rcode: number) => r.det.observe({ at: (t += 500), client: '192.0.2.10', qname, qtype: 1, rcode });
  for (let i = 0; i < 3; i++) ask('qwhxkzmbpd'.slice(0, 7 + i), 3); // Chrome's intranet probes
  for (let i = 0; i < 30; i++) ask(`${['wpad', 'printer', 'nas'][i % 3]}.${['lan', 'local', 'home'][i % 3]}`, 3);
  for (let i = 0; i < 200; i++) ask(`${benignLabel(rng, TEST_WORDS)}.cdn.example.com`, 3); // stale children
  for (let i = 0; i < 8; i++) ask(`www.${benignLabel(rng, TEST_WORDS)}.co.jp`, 3); // a page of dead links
  for (let i = 0; i < 2000; i++) ask(`www.site${i % 50}.example`, 0);
  r.det.tick(t + 1000);
  assert.deepEqual(r.observations, []);
});

test('two distinct C&C-listed names are enough (ccWeight 4, threshold 8); one is not', () => {
  const r = rig();
  r.det.observe({ at: T0, client: '192.0.2.20', qname: 'c2.bad.example', qtype: 1, rcode: 3, matched: 'cc' });
  r.det.observe({ at: T0 + 1, client: '192.0.2.20', qname: 'c2.bad.example', qtype: 1, rcode: 3, matched: 'cc' });
  r.det.observe({ at: T0, client: '192.0.2.21', qname: 'c2.bad.example', qtype: 1, rcode: 3, matched: 'cc' });
  r.det.observe({ at: T0 + 5, client: '192.0.2.21', qname: 'c3.worse.example', qtype: 1, rcode: 3, matched: 'cc' });
  r.det.tick(T0 + 1000);
  assert.deepEqual(r.observations.map((o) => o.network.ip), ['192.0.2.21']);
  assert.equal((r.observations[0]!.evidence as Record<string, unknown>).ccNames, 2);
});

test('evidence older than the window is forgotten (R16), and a reported client is not reported again within the cooldown', () => {
  const r = rig({ infection: { windowSeconds: 600 } });
  const rng = new Rng(3);
  // 4 DGA names (~5.4 points), then 30 minutes of silence, then 4 more: never 8 points inside one window.
  for (const base of [0, 1_800_000]) {
    for (let i = 0; i < 4; i++) r.det.observe({ at: T0 + base + i * 1000, client: '192.0.2.30', qname: `${dgaLabel(rng, 'hex', TEST_WORDS)}.net`, qtype: 1, rcode: 3 });
  }
  r.det.tick(T0 + 2_000_000);
  assert.deepEqual(r.observations, []);
  for (let i = 0; i < 200; i++) r.det.observe({ at: T0 + 2_000_000 + i * 1000, client: '192.0.2.30', qname: `${dgaLabel(rng, 'hex', TEST_WORDS)}.net`, qtype: 1, rcode: 3 });
  r.det.tick(T0 + 2_300_000);
  assert.equal(r.observations.length, 1);
});
