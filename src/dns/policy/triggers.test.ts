import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatPrefix, parseCidr, type IpPrefix } from '../../core/index.ts';
import { formatRpzPrefix, parseRpzPrefix, parseTrigger, relativeName, triggerText } from './triggers.ts';

const prefix = (t: string) => {
  const p = parseRpzPrefix(t);
  return 'error' in p ? p.error : formatPrefix(p);
};

test('QNAME triggers: exact, wildcard, and the root wildcard', () => {
  assert.deepEqual(parseTrigger('bad.example'), { kind: 'qname', key: 'bad.example' });
  assert.deepEqual(parseTrigger('*.bad.example'), { kind: 'wildcard', key: 'bad.example' });
  assert.deepEqual(parseTrigger('*'), { kind: 'wildcard', key: '' });
  // '*' inside a name is an ordinary label (RFC 4592 §2.1.1).
  assert.deepEqual(parseTrigger('a.*.example'), { kind: 'qname', key: 'a.*.example' });
  // An escaped dot does not make the last label rpz-client-ip.
  assert.deepEqual(parseTrigger('x\\.rpz-client-ip'), { kind: 'qname', key: 'x\\.rpz-client-ip' });
});

test('rpz-client-ip (draft §4.1): 32.2.0.0.127 is 127.0.0.2/32; IPv6 uses zz for the longest zero run', () => {
  assert.equal(prefix('32.2.0.0.127'), '127.0.0.2/32');
  assert.equal(prefix('24.0.2.0.192'), '192.0.2.0/24');
  assert.equal(prefix('128.1.zz'), '::1/128');
  assert.equal(prefix('48.zz.db8.2001'), '2001:db8::/48');
  assert.equal(prefix('128.2.zz.3.2.2001'), '2001:2:3::2/128'); // BIND good-rpz-prefix.db
  assert.equal(prefix('64.zz.1.0.db8.2001'), '2001:db8:0:1::/64');
  assert.equal(prefix('1.zz'), '::/1');
  const t = parseTrigger('32.4.0.53.10.rpz-client-ip');
  assert.ok(!('error' in t) && t.kind === 'client-ip' && t.key === '32.4.0.53.10.rpz-client-ip');
  const ip = parseTrigger('24.0.2.0.192.rpz-ip');
  assert.ok(!('error' in ip) && ip.kind === 'response-ip');
  const ns = parseTrigger('32.1.2.0.192.rpz-nsip');
  assert.ok(!('error' in ns) && ns.kind === 'nsip');
  assert.deepEqual(parseTrigger('ns.example.rpz-nsdname'), { kind: 'nsdname', key: 'ns.example' });
  assert.deepEqual(parseTrigger('*.example.rpz-nsdname'), { kind: 'nsdname-wildcard', key: 'example' });
});

test('bad prefixes are refused with the reason and, where it helps, the right spelling', () => {
  // BIND checkzone bad-rpz-prefix.db: eight groups where zz must stand for the zeros.
  assert.match(prefix('128.2.0.0.0.0.3.2.2001'), /canonical form: write "128\.2\.zz\.3\.2\.2001"/);
  // BIND rpzrecurse db.invalidprefixlength.
  assert.match(prefix('1000.4.0.53.10'), /prefix length 1000 is out of range: expected 1 to 32/);
  assert.match(prefix('33.4.0.53.10'), /out of range: expected 1 to 32/);
  assert.match(prefix('0.0.0.0.0'), /out of range/);
  assert.match(prefix('24.1.2.0.192'), /host bits set past \/24/);
  assert.match(prefix('032.2.0.0.127'), /canonical form: write "32\.2\.0\.0\.127"/);
  assert.match(prefix('32.02.0.0.127'), /not an IPv4|not in canonical|leading|not an IPv4 or IPv6/);
  assert.match(prefix('128.zz.1.zz'), /only once/);
  assert.match(prefix('128.DB8.zz'), /canonical form|hex/);
  assert.match(prefix('128.1.2.3'), /IPv6 prefix .* has 3 groups/);
  assert.match(prefix('x.1.2.3.4'), /not a prefix length/);
  assert.match(prefix('128.0.zz.1'), /canonical form: write "128\.zz\.1"/); // "1::" is "128.zz.1"
  const e = parseTrigger('rpz-client-ip');
  assert.ok('error' in e && /no prefix/.test(e.error));
});

test('relativeName strips the zone at a label boundary only', () => {
  assert.equal(relativeName('bad.example.rpz.local', 'rpz.local'), 'bad.example');
  assert.equal(relativeName('rpz.local', 'rpz.local'), '');
  assert.equal(relativeName('xrpz.local', 'rpz.local'), undefined);
  assert.equal(relativeName('a\\.rpz.local', 'rpz.local'), undefined);
  assert.equal(relativeName('a\\\\.rpz.local', 'rpz.local'), 'a\\\\');
  assert.equal(relativeName('other.example', 'rpz.local'), undefined);
  assert.equal(relativeName('anything', '.'), 'anything');
});

test('property: every prefix has one spelling, and it parses back to the same prefix', () => {
  const v4 = fc.tuple(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.integer({ min: 1, max: 32 })).map(([b, bits]) => mask({ family: 4, bytes: b, bits }));
  // Few distinct group values so runs of zeros are common.
  const group = fc.constantFrom(0, 0, 0, 1, 0xdb8, 0xffff);
  const v6 = fc
    .tuple(fc.array(group, { minLength: 8, maxLength: 8 }), fc.integer({ min: 1, max: 128 }))
    .map(([g, bits]) => mask({ family: 6, bytes: Uint8Array.from(g.flatMap((x) => [x >> 8, x & 0xff])), bits }));
  fc.assert(
    fc.property(fc.oneof(v4, v6), (p) => {
      const text = formatRpzPrefix(p);
      const back = parseRpzPrefix(text);
      assert.ok(!('error' in back), `${text}: ${'error' in back ? back.error : ''}`);
      assert.equal(formatPrefix(back), formatPrefix(p));
      const t = parseTrigger(`${text}.rpz-client-ip`);
      assert.ok(!('error' in t));
      assert.equal(triggerText(t), `${text}.rpz-client-ip`);
    }),
  );
});

function mask(p: IpPrefix): IpPrefix {
  const bytes = Uint8Array.from(p.bytes);
  for (let i = p.bits; i < bytes.length * 8; i++) bytes[i >> 3]! &= ~(0x80 >> (i & 7));
  const r = parseCidr(formatPrefix({ ...p, bytes }));
  if ('error' in r) throw new Error(r.error);
  return r;
}
