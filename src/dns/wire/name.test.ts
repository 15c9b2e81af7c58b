import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  isSubdomain,
  labelsToText,
  nameToText,
  normalizeName,
  splitLabels,
  textToLabels,
  textToName,
} from './name.ts';
import { labelsArb } from './arbitraries.ts';

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

test('textToName: RFC 1035 §3.1 wire form, trailing dot optional, root is one zero byte', () => {
  const want = hex('03 777777 07 6578616d706c65 03 636f6d 00');
  assert.deepEqual(textToName('www.example.com').ok && textToName('www.example.com'), { ok: true, value: want });
  assert.deepEqual(textToName('www.example.com.'), { ok: true, value: want });
  assert.deepEqual(textToName('.'), { ok: true, value: hex('00') });
});

test('master-file escapes (RFC 1035 §5.1): \\. inside a label, \\DDD for any byte', () => {
  const r = textToLabels('a\\.b.c\\255\\000\\032d');
  assert.ok(r.ok);
  assert.deepEqual(r.value, [Uint8Array.from([0x61, 0x2e, 0x62]), Uint8Array.from([0x63, 255, 0, 32, 0x64])]);
  // Rendering escapes exactly what a master file would misread, and nothing else.
  assert.equal(labelsToText(r.value), 'a\\.b.c\\255\\000\\032d');
  assert.equal(labelsToText([Uint8Array.from(Buffer.from('q"();@$\\x', 'latin1'))]), 'q\\"\\(\\)\\;\\@\\$\\\\x');
  // \X for a non-digit X is X itself; a trailing escaped dot belongs to the label.
  const t = textToLabels('\\a\\b.x\\.');
  assert.ok(t.ok);
  assert.deepEqual(t.value.map((l) => Buffer.from(l).toString('latin1')), ['ab', 'x.']);
});

test('text errors name the problem', () => {
  const code = (s: string) => {
    const r = textToName(s);
    return r.ok ? 'ok' : r.error.code;
  };
  assert.equal(code(''), 'BAD_NAME_TEXT');
  assert.equal(code('a..b'), 'EMPTY_LABEL');
  assert.equal(code('.a'), 'EMPTY_LABEL');
  assert.equal(code('a\\'), 'BAD_ESCAPE');
  assert.equal(code('a\\25'), 'BAD_ESCAPE');
  assert.equal(code('a\\256'), 'BAD_ESCAPE');
  assert.equal(code('ü.example'), 'ok'); // U+00FC is the byte 0xFC
  assert.equal(code('日本.example'), 'BAD_NAME_TEXT');
  assert.equal(code('x'.repeat(63)), 'ok');
  assert.equal(code('x'.repeat(64)), 'LABEL_TOO_LONG');
  // 255 octets exactly: 3 x (1+63) + (1+61) + 1.
  const max = ['a'.repeat(63), 'b'.repeat(63), 'c'.repeat(63), 'd'.repeat(61)].join('.');
  assert.equal(code(max), 'ok');
  assert.equal(code(max + 'd'), 'NAME_TOO_LONG');
  const e = textToName('a..b');
  assert.ok(!e.ok && /empty label/.test(e.error.message) && e.error.offset === 2);
});

test('nameToText reads wire names, with case as sent', () => {
  assert.deepEqual(nameToText(hex('03 577757 07 4578616d706c65 03 434f4d 00')), { ok: true, value: 'WwW.Example.COM' });
  assert.deepEqual(nameToText(hex('00')), { ok: true, value: '.' });
  const r = nameToText(hex('03 777777'));
  assert.ok(!r.ok && r.error.code === 'TRUNCATED');
});

test('property: labels -> text -> labels is the identity, and text -> wire -> text too', () => {
  fc.assert(
    fc.property(labelsArb, (labels) => {
      const text = labelsToText(labels);
      const back = textToLabels(text);
      assert.ok(back.ok, text);
      assert.deepEqual(back.value, labels);
      const wire = textToName(text);
      assert.ok(wire.ok);
      assert.deepEqual(nameToText(wire.value), { ok: true, value: text });
    }),
    { numRuns: 2000 },
  );
});

test('normalizeName lower-cases ASCII only (RFC 4343) and canonicalises escapes', () => {
  assert.equal(normalizeName('WwW.Example.COM'), 'www.example.com');
  assert.equal(normalizeName('www.example.com.'), 'www.example.com');
  assert.equal(normalizeName('.'), '.');
  assert.equal(normalizeName('\\065BC\\.d'), 'abc\\.d');
  assert.equal(normalizeName('Ä\\196.x'), '\\196\\196.x'); // 0xC4 is not folded
  assert.equal(normalizeName('a b'), 'a\\032b');
  fc.assert(
    fc.property(labelsArb, (labels) => {
      const t = labelsToText(labels);
      const n = normalizeName(t);
      assert.equal(normalizeName(n), n);
      assert.equal(n.length, t.length);
      assert.ok(isSubdomain(t, n) && isSubdomain(n, t));
    }),
    { numRuns: 1000 },
  );
});

test('splitLabels keeps escapes and splits on unescaped dots only', () => {
  assert.deepEqual(splitLabels('a\\.b.c\\\\.d'), ['a\\.b', 'c\\\\', 'd']);
  assert.deepEqual(splitLabels('www.example.com.'), ['www', 'example', 'com']);
  assert.deepEqual(splitLabels('.'), []);
});

test('isSubdomain: label-wise, case-insensitive, escapes respected', () => {
  assert.ok(isSubdomain('www.Example.com', 'example.COM'));
  assert.ok(isSubdomain('example.com', 'example.com.'));
  assert.ok(isSubdomain('anything.at.all', '.'));
  assert.ok(!isSubdomain('badexample.com', 'example.com'));
  assert.ok(!isSubdomain('example.com', 'www.example.com'));
  assert.ok(!isSubdomain('a\\.example.com', 'a.example.com'));
  assert.ok(isSubdomain('x.a\\.example.com', 'a\\.example.com'));
  assert.ok(!isSubdomain('x\\.example.com', 'example.com')); // one label "x.example", then "com"
  assert.ok(!isSubdomain('a..b', 'b'));
});
