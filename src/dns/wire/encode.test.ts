import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeMessage } from './decode.ts';
import { encodeMessage } from './encode.ts';
import { messageArb } from './arbitraries.ts';
import { HAND_RESPONSE } from './packets.ts';
import { RRType, WireEncodeError, type DnsMessage, type ResourceRecord } from './types.ts';

function decode(buf: Uint8Array): DnsMessage {
  const r = decodeMessage(buf);
  if (!r.ok) assert.fail(`${r.error.code} @${r.error.offset}: ${r.error.message}`);
  return r.value;
}

const H = { id: 7, qr: true, opcode: 0, aa: false, tc: false, rd: true, ra: true, z: false, ad: false, cd: false, rcode: 0 };
const a = (name: string, address: string): ResourceRecord => ({ name, type: RRType.A, class: 1, ttl: 60, data: { kind: 'A', address } });

test('property: decode(encode(m)) deep-equals m, with and without compression', () => {
  fc.assert(
    fc.property(messageArb, fc.boolean(), (m, compress) => {
      const wire = encodeMessage(m, { compress });
      assert.deepEqual(decode(wire), m);
    }),
    { numRuns: 3000 },
  );
});

test('property: compression never makes a message longer', () => {
  fc.assert(
    fc.property(messageArb, (m) => {
      assert.ok(encodeMessage(m).length <= encodeMessage(m, { compress: false }).length);
    }),
    { numRuns: 500 },
  );
});

test('re-encoding the hand-built response gives the same bytes (same pointers)', () => {
  assert.deepEqual(encodeMessage(decode(HAND_RESPONSE)), HAND_RESPONSE);
});

test('compression matches suffixes byte for byte, so case is kept exactly', () => {
  const m: DnsMessage = {
    header: H,
    questions: [{ name: 'WwW.ExAmple.com', type: 1, class: 1 }],
    answers: [a('WwW.ExAmple.com', '192.0.2.1'), a('www.example.com', '192.0.2.2'), a('mail.ExAmple.com', '192.0.2.3')],
    authority: [],
    additional: [],
  };
  const wire = encodeMessage(m);
  assert.deepEqual(decode(wire), m);
  // First answer is a bare pointer to the question; the third reuses "ExAmple.com".
  assert.deepEqual([...wire.subarray(33, 35)], [0xc0, 0x0c]);
  assert.ok(wire.length < encodeMessage(m, { compress: false }).length);
});

function bigResponse(): DnsMessage {
  const answers = Array.from({ length: 40 }, (_, i) => a('big.example.com', `10.0.0.${i}`));
  const other = Array.from({ length: 3 }, (_, i) => a('other.example.com', `10.1.0.${i}`));
  return {
    header: H,
    questions: [{ name: 'big.example.com', type: 1, class: 1 }],
    answers: [...other, ...answers],
    authority: [],
    additional: [a('ns.example.com', '192.0.2.53')],
    edns: { udpSize: 1232, version: 0, do: false, z: 0, options: [] },
  };
}

test('truncation: whole RRsets dropped, TC set, question and OPT kept, within maxSize', () => {
  const full = encodeMessage(bigResponse());
  assert.ok(full.length > 512);
  const cut = encodeMessage(bigResponse(), { maxSize: 512 });
  assert.ok(cut.length <= 512);
  const m = decode(cut);
  assert.equal(m.header.tc, true);
  assert.equal(m.questions.length, 1);
  assert.deepEqual(m.answers.map((r) => r.name), ['other.example.com', 'other.example.com', 'other.example.com']);
  assert.deepEqual(m.additional, []);
  assert.deepEqual(m.edns, bigResponse().edns);
  // A limit below question + OPT still yields the question and OPT, with TC.
  const tiny = decode(encodeMessage(bigResponse(), { maxSize: 20 }));
  assert.equal(tiny.header.tc, true);
  assert.equal(tiny.answers.length, 0);
  assert.ok(tiny.edns);
});

test('truncation: dropping only additional records does not set TC (RFC 2181 §9)', () => {
  const m = bigResponse();
  m.answers = m.answers.slice(0, 3);
  m.additional = Array.from({ length: 40 }, (_, i) => a(`ns${i}.example.com`, `192.0.2.${i}`));
  const cut = decode(encodeMessage(m, { maxSize: 512 }));
  assert.equal(cut.header.tc, false);
  assert.equal(cut.answers.length, 3);
  assert.ok(cut.additional.length > 0 && cut.additional.length < 40);
  // Fits: nothing dropped, TC as given.
  assert.deepEqual(decode(encodeMessage(m, { maxSize: 65535 })), m);
});

test('TSIG stays the last record, after the OPT', () => {
  const m = bigResponse();
  m.answers = [];
  m.additional = [a('x.example', '192.0.2.1'), { name: 'key.example', type: RRType.TSIG, class: 255, ttl: 0, data: { kind: 'raw', bytes: new Uint8Array([1, 2, 3]) } }];
  const wire = encodeMessage(m);
  assert.deepEqual(decode(wire), m);
  assert.deepEqual([...wire.subarray(wire.length - 5)], [0, 3, 1, 2, 3]);
});

test('values that cannot be encoded throw WireEncodeError naming the problem', () => {
  const bad = (patch: Partial<DnsMessage>) => () => encodeMessage({ ...bigResponse(), ...patch });
  assert.throws(bad({ header: { ...H, rcode: 16 }, edns: undefined as never }), WireEncodeError);
  assert.throws(bad({ answers: [a('x'.repeat(64) + '.example', '192.0.2.1')] }), /longer than 63/);
  assert.throws(bad({ answers: [a('example', '192.0.2.300')] }), /not an IPv4 address/);
  assert.throws(bad({ answers: [{ ...a('example', '192.0.2.1'), type: RRType.AAAA }] }), /type 28 but A RDATA/);
  assert.throws(bad({ answers: [{ ...a('example', '192.0.2.1'), ttl: -1 }] }), /TTL/);
  assert.throws(bad({ answers: [{ name: 'x', type: 16, class: 1, ttl: 0, data: { kind: 'TXT', strings: [] } }] }), /at least one/);
  assert.throws(bad({ answers: [{ name: 'x', type: 41, class: 1, ttl: 0, data: { kind: 'raw', bytes: new Uint8Array() } }] }), /DnsMessage\.edns/);
});
