import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NameParts, SUFFIX_RULES, zoneOf } from './names.ts';

test('zone of a name: registrable domain under the suffix list, reverse trees at /16 and /32', () => {
  const cases: [string, string][] = [
    ['www.example.com', 'example.com'],
    ['a.b.c.example.com', 'example.com'],
    ['example.com', 'example.com'],
    ['www.example.co.jp', 'example.co.jp'],
    ['shop.example.tokyo.jp', 'example.tokyo.jp'],
    ['www.example.jp', 'example.jp'],
    ['x.example.co.uk', 'example.co.uk'],
    ['foo.github.io', 'foo.github.io'],
    ['a.foo.github.io', 'foo.github.io'],
    ['bucket.s3.amazonaws.com', 'bucket.s3.amazonaws.com'],
    ['ec2.amazonaws.com', 'amazonaws.com'],
    ['user.sakura.ne.jp', 'user.sakura.ne.jp'],
    ['4.3.2.1.in-addr.arpa', '2.1.in-addr.arpa'],
    ['b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa', '0.0.0.0.1.2.3.4.ip6.arpa'],
    ['x.y.example.zz', 'example.zz'],
    ['com', ''],
    ['co.jp', ''],
    ['localhost', ''],
    ['.', ''],
    ['', ''],
  ];
  for (const [name, zone] of cases) assert.equal(zoneOf(name), zone, name);
  assert.ok(SUFFIX_RULES > 150);
});

test('NameParts: hashes of suffixes match across names, escaped dots stay inside a label, pseudo-TLDs flagged', () => {
  const a = new NameParts();
  const b = new NameParts();
  a.parse('www.victim.example');
  b.parse('zz9.victim.example');
  assert.equal(a.hash(2), b.hash(2));
  assert.notEqual(a.full, b.full);
  assert.equal(a.firstLabelEnd(), 3);
  a.parse('a\\.b.victim.example');
  assert.equal(a.labels, 3);
  assert.equal(a.zone(), 'victim.example');
  a.parse('printer.lan');
  assert.equal(a.pseudo, true);
  a.parse('router.home.arpa');
  assert.equal(a.pseudo, true);
  a.parse('example.com');
  assert.equal(a.pseudo, false);
  // Names at the length limits and binary labels parse without throwing.
  const long = Array.from({ length: 127 }, () => 'a').join('.');
  assert.equal(a.parse(long), true);
  assert.equal(a.labels, 127);
  assert.equal(a.parse('\\000\\255\\.x.example.com'), true);
  assert.equal(a.zone(), 'example.com');
  assert.equal(a.parse('x'.repeat(2000)), false);
});
