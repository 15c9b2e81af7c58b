import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatIp, formatPrefix, parseCidr, parseIp } from './ip.ts';
import { PrefixMap } from './prefix-map.ts';

test('parseIp and formatIp round-trip, RFC 5952 text', () => {
  for (const [t, want] of [
    ['192.0.2.1', '192.0.2.1'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['::', '::'],
    ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
  ] as const) assert.equal(formatIp(parseIp(t)!), want);
  for (const bad of ['', '1.2.3', '1.2.3.256', '01.2.3.4', '1::2::3', 'fe80::1%eth0', 'x']) assert.equal(parseIp(bad), undefined, bad);
  fc.assert(fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (t) => formatIp(parseIp(formatIp(parseIp(t)!))!) === formatIp(parseIp(t)!)));
});

test('parseCidr names what is wrong', () => {
  assert.equal(formatPrefix(parseCidr('192.0.2.0/24') as never), '192.0.2.0/24');
  assert.equal((parseCidr('2001:db8::1') as { bits: number }).bits, 128);
  assert.match((parseCidr('192.0.2.1/24') as { error: string }).error, /host bits set past \/24 \(did you mean 192\.0\.2\.0\/24\?\)/);
  assert.match((parseCidr('192.0.2.0/33') as { error: string }).error, /expected 0 to 32/);
  assert.match((parseCidr('nope/8') as { error: string }).error, /not an IPv4 or IPv6/);
});

test('PrefixMap returns the longest matching prefix', () => {
  const m = new PrefixMap<string>();
  const p = (t: string) => parseCidr(t) as never;
  m.set(p('10.0.0.0/8'), 'a');
  m.set(p('10.1.0.0/16'), 'b');
  m.set(p('10.1.2.3/32'), 'c');
  m.set(p('2001:db8::/32'), 'v6');
  m.set(p('0.0.0.0/0'), 'default');
  assert.deepEqual(m.matchText('10.1.2.3'), { value: 'c', bits: 32 });
  assert.deepEqual(m.matchText('10.1.9.9'), { value: 'b', bits: 16 });
  assert.deepEqual(m.matchText('10.200.0.1'), { value: 'a', bits: 8 });
  assert.deepEqual(m.matchText('192.0.2.1'), { value: 'default', bits: 0 });
  assert.deepEqual(m.matchText('2001:db8:5::1'), { value: 'v6', bits: 32 });
  assert.equal(m.matchText('2001:db9::1'), undefined);
  assert.equal(m.size, 5);
  assert.equal(m.delete(p('10.1.0.0/16')), true);
  assert.equal(m.delete(p('10.1.0.0/16')), false);
  assert.deepEqual(m.matchText('10.1.9.9'), { value: 'a', bits: 8 });
  assert.equal(m.size, 4);
});

test('PrefixMap agrees with a brute-force scan (property)', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 32 })), { maxLength: 30 }), fc.integer({ min: 0, max: 0xffffffff }), (entries, addr) => {
      const m = new PrefixMap<number>();
      const list: [number, number, number][] = [];
      entries.forEach(([a, bits], i) => {
        const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
        const net = (a & mask) >>> 0;
        m.set({ family: 4, bits, bytes: new Uint8Array([net >>> 24, (net >>> 16) & 255, (net >>> 8) & 255, net & 255]) }, i);
        for (let k = list.length - 1; k >= 0; k--) if (list[k]![0] === net && list[k]![1] === bits) list.splice(k, 1);
        list.push([net, bits, i]);
      });
      let best: [number, number, number] | undefined;
      for (const e of list) {
        const mask = e[1] === 0 ? 0 : (0xffffffff << (32 - e[1])) >>> 0;
        if (((addr & mask) >>> 0) === e[0] && (!best || e[1] > best[1])) best = e;
      }
      const got = m.match({ family: 4, bytes: new Uint8Array([addr >>> 24, (addr >>> 16) & 255, (addr >>> 8) & 255, addr & 255]) });
      assert.deepEqual(got, best ? { value: best[2], bits: best[1] } : undefined);
    }),
  );
});
