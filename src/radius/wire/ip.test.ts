import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatIPv6, formatIPv6Prefix, parseIPv4, parseIPv6, parseIPv6Prefix } from './ip.ts';

const ipv6Bytes = fc.oneof(
  fc.uint8Array({ minLength: 16, maxLength: 16 }),
  fc.array(fc.constantFrom(0, 0, 0, 1, 0xff), { minLength: 16, maxLength: 16 }).map((a) => Uint8Array.from(a)),
);

test('IPv6 text is RFC 5952 canonical: the WHATWG URL serializer agrees (IPv4-mapped: mixed notation)', () => {
  fc.assert(
    fc.property(ipv6Bytes, (b) => {
      const text = formatIPv6(b);
      // IPv4-mapped addresses are written in mixed notation (RFC 5952 §5), which the URL serializer does not do.
      if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) {
        assert.match(text, /^::ffff:\d+\.\d+\.\d+\.\d+$/);
        assert.deepEqual(parseIPv6(text), b);
        return;
      }
      // new URL() serializes IPv6 hosts per RFC 5952 §4 (compress the first longest run of 2+ zero groups).
      assert.equal(`[${text}]`, new URL(`http://[${text}]/`).hostname);
      assert.deepEqual(parseIPv6(text), b);
    }),
    { numRuns: 2000 },
  );
});

test('IPv6 parsing accepts every form Node accepts', () => {
  assert.equal(formatIPv6(parseIPv6('2001:0DB8:0000:0000:0000:0000:0000:0001')!), '2001:db8::1');
  assert.equal(formatIPv6(parseIPv6('::ffff:192.0.2.1')!), '::ffff:192.0.2.1'); // RFC 5952 §5 mixed notation
  assert.equal(formatIPv6(parseIPv6('::')!), '::');
  assert.equal(formatIPv6(parseIPv6('1::')!), '1::');
  assert.equal(formatIPv6(parseIPv6('fe80::1%eth0')!), 'fe80::1');
  assert.equal(formatIPv6(parseIPv6('1:0:0:2:0:0:0:3')!), '1:0:0:2::3');
  assert.equal(parseIPv6('1:2:3'), undefined);
  assert.equal(parseIPv6('192.0.2.1'), undefined);
  assert.equal(parseIPv4('192.0.2.256'), undefined);
  assert.deepEqual([...parseIPv4('192.0.2.1')!], [192, 0, 2, 1]);
});

test('prefixes: masked, canonical, and malformed ones refused', () => {
  assert.equal(formatIPv6Prefix(parseIPv6Prefix('2001:DB8:1:2::/48')!), '2001:db8:1::/48');
  assert.equal(formatIPv6Prefix(parseIPv6Prefix('2001:db8::1/128')!), '2001:db8::1/128');
  assert.equal(formatIPv6Prefix(parseIPv6Prefix('2001:db8::1/0')!), '::/0');
  for (const bad of ['2001:db8::', '2001:db8::/129', '2001:db8::/-1', '2001:db8::/a', '192.0.2.0/24', '2001:db8::/ 56']) {
    assert.equal(parseIPv6Prefix(bad), undefined, bad);
  }
});
