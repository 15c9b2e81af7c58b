import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeObservation, parseObservation } from './observation.ts';

const valid = {
  id: 'obs_1',
  kind: 'cc-query',
  source: { name: 'dns-firewall@node1', type: 'sensor' },
  observedAt: '2026-11-22T21:00:00.123Z',
  clockSource: 'ntp',
  network: { ip: '192.0.2.1', port: 53, protocol: 'udp', fqdn: 'cc.example.', asn: 64500, country: 'JP' },
  confidence: 0.9,
  tlp: 'amber',
  purpose: 'cc-blocking',
};

test('a valid observation parses, with evidence defaulting to {}', () => {
  const r = parseObservation(valid);
  assert.ok(r.ok, r.ok ? '' : r.error);
  assert.deepEqual(r.value, { ...valid, evidence: {} });
  const v6 = parseObservation({ ...valid, observedAt: '2026-11-22T21:00:00+09:00', network: { ip: '2001:db8::1', dstIp: '::ffff:192.0.2.7' }, evidence: { queries: 3 } });
  assert.ok(v6.ok, v6.ok ? '' : v6.error);
  assert.deepEqual(v6.value.evidence, { queries: 3 });
});

test('each bad field is named with its path', () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ ...valid, id: '' }, 'id:'],
    [{ ...valid, kind: 'nope' }, 'kind:'],
    [{ ...valid, source: { name: 'x', type: 'robot' } }, 'source.type:'],
    [{ ...valid, source: { name: 'x', type: 'sensor', extra: 1 } }, 'source: unknown key "extra"'],
    [{ ...valid, observedAt: '2026-11-22 21:00' }, 'observedAt:'],
    [{ ...valid, observedAt: '2026-11-22T21:00:00' }, 'observedAt:'],
    [{ ...valid, clockSource: 'sundial' }, 'clockSource:'],
    [{ ...valid, network: { ip: '192.0.2.256' } }, 'network.ip:'],
    [{ ...valid, network: { ip: '010.0.0.1' } }, 'network.ip:'],
    [{ ...valid, network: { port: 65536 } }, 'network.port:'],
    [{ ...valid, network: { dstPort: 1.5 } }, 'network.dstPort:'],
    [{ ...valid, network: { fqdn: 'a..b' } }, 'network.fqdn:'],
    [{ ...valid, network: { fqdn: `${'a'.repeat(64)}.example` } }, 'network.fqdn:'],
    [{ ...valid, network: { country: 'JPN' } }, 'network.country:'],
    [{ ...valid, network: { mac: '00:00' } }, 'network: unknown key "mac"'],
    [{ ...valid, evidence: [] }, 'evidence:'],
    [{ ...valid, confidence: 1.5 }, 'confidence:'],
    [{ ...valid, tlp: 'purple' }, 'tlp:'],
    [{ ...valid, purpose: 'marketing' }, 'purpose:'],
    [{ ...valid, payload: 'raw query' }, '(root): unknown key "payload"'],
  ];
  for (const [input, path] of cases) {
    const r = parseObservation(input);
    assert.equal(r.ok, false, `accepted ${JSON.stringify(input)}`);
    if (!r.ok) assert.ok(r.error.includes(path), `${r.error} does not name ${path}`);
  }
  assert.equal(parseObservation('x').ok, false);
  assert.equal(parseObservation({ ...valid, network: undefined }).ok, false);
});

test('makeObservation fills id, clock source, TLP and confidence, and throws on bad input', () => {
  const o = makeObservation({ kind: 'prsd-target', source: { name: 'dns-detect', type: 'detector' }, observedAt: new Date(0).toISOString(), network: { fqdn: 'victim.example' }, purpose: 'dns-abuse-mitigation' });
  assert.match(o.id, /^obs/);
  assert.equal(o.clockSource, 'system');
  assert.equal(o.tlp, 'amber');
  assert.equal(o.confidence, 0.5);
  assert.throws(() => makeObservation({ ...o, network: { ip: 'not-an-ip' } }), /invalid observation: network\.ip/);
});
