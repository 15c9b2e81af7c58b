import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { candidateKeys, formatIPv6, ipv4Key, keyOf, keyToText, networkKey, parseNetwork } from './address.ts';

describe('address keys', () => {
  it('gives IPv4 addresses a fixed-width hex key, and back', () => {
    assert.equal(keyOf('192.0.2.1'), '4c0000201');
    assert.equal(keyOf('10.0.0.255'), '40a0000ff');
    assert.equal(keyToText('4c0000201'), '192.0.2.1');
    assert.equal(keyOf('192.0.2.7/29'), '4c0000200/29');
    assert.equal(keyToText('4c0000200/29'), '192.0.2.0/29');
  });

  it('gives equal IPv6 prefixes equal keys however they are written, host bits cleared', () => {
    const k = keyOf('2001:db8:1::/56');
    assert.equal(k, '620010db8000100/56');
    assert.equal(keyOf('2001:DB8:1:0::/56'), k);
    assert.equal(keyOf('2001:0db8:0001:00ff::1/56'), k);
    assert.equal(keyToText(k!), '2001:db8:1::/56');
    assert.equal(keyOf('2001:db8:abcd:12::/64'), '620010db8abcd0012/64');
    assert.equal(keyToText(keyOf('2001:db8::1')!), '2001:db8::1');
  });

  it('reads IPv4-mapped IPv6 addresses as IPv4, and refuses what is not an address', () => {
    assert.equal(keyOf('::ffff:192.0.2.1'), '4c0000201');
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1.2.3.4/33', '2001:db8::1::1', 'fe80::1%eth0', '2001:db8::/129', 'x::1', '1:2:3:4:5:6:7:8:9', 'hello']) {
      assert.equal(keyOf(bad), undefined, bad);
    }
  });

  it('finds the containing prefix keys for an address, for the lengths in use only', () => {
    const a = parseNetwork('2001:db8:1:2:3:4:5:6')!;
    assert.deepEqual(candidateKeys(a, { 4: [], 6: [64, 56] }), ['620010db800010002/64', '620010db8000100/56']);
    assert.deepEqual(candidateKeys(parseNetwork('192.0.2.9')!, { 4: [29], 6: [64] }), ['4c0000209', '4c0000208/29']);
    // A prefix query does not probe longer prefixes inside it.
    assert.deepEqual(candidateKeys(parseNetwork('2001:db8:1::/56')!, { 4: [], 6: [64, 56, 48] }), ['620010db8000100/56', '620010db80001/48']);
  });

  it('formats IPv6 the RFC 5952 way', () => {
    const b = (s: string) => parseNetwork(s)!.bytes;
    assert.equal(formatIPv6(b('2001:db8:0:0:1:0:0:1')), '2001:db8::1:0:0:1');
    assert.equal(formatIPv6(b('2001:db8:0:1:1:1:1:1')), '2001:db8:0:1:1:1:1:1');
    assert.equal(formatIPv6(b('::')), '::');
    assert.equal(formatIPv6(b('::1')), '::1');
  });

  it('round-trips any IPv4 and IPv6 network through key and text (property)', () => {
    fc.assert(
      fc.property(fc.ipV4(), fc.integer({ min: 0, max: 32 }), (ip, len) => {
        const k = keyOf(`${ip}/${len}`)!;
        assert.equal(keyOf(keyToText(k)), k);
        if (len === 32) assert.equal(ipv4Key(ip), k);
      }),
    );
    fc.assert(
      fc.property(fc.ipV6(), fc.integer({ min: 0, max: 128 }), (ip, len) => {
        const n = parseNetwork(`${ip}/${len}`);
        // IPv4-mapped addresses are IPv4 by design, in either direction.
        if (!n || n.family === 4 || parseNetwork(keyToText(networkKey(n)))?.family === 4) return;
        const k = networkKey(n);
        assert.equal(keyOf(keyToText(k)), k);
      }),
    );
  });
});
