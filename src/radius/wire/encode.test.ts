import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodePacket } from './decode.ts';
import { encodePacket } from './encode.ts';
import { Attr, attributeDefinition, getAttribute, makeAttribute, readValue, type AttributeDefinition } from './attributes.ts';
import { packetArb, valueArb } from './arbitraries.ts';
import { RadiusEncodeError, type RadiusPacket } from './types.ts';

function plain(p: RadiusPacket) {
  return { code: p.code, identifier: p.identifier, authenticator: [...p.authenticator], attributes: p.attributes.map((a) => ({ type: a.type, value: [...a.value] })) };
}

test('decode(encode(p)) gives p back, and re-encoding gives the same octets', () => {
  fc.assert(
    fc.property(packetArb, (p) => {
      const bytes = encodePacket(p);
      const r = decodePacket(bytes);
      assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
      assert.deepEqual(plain(r.value), plain(p));
      assert.deepEqual(r.value.bytes, bytes);
      assert.deepEqual(encodePacket(r.value), bytes);
    }),
    { numRuns: 500 },
  );
});

test('every typed attribute reads back the value it was made from', () => {
  const defs = Object.values(Attr) as AttributeDefinition[];
  fc.assert(
    fc.property(
      fc.constantFrom(...defs).chain((d) => fc.tuple(fc.constant(d), valueArb(d))),
      ([d, v]) => {
        const a = makeAttribute(d, v as never);
        const back = getAttribute({ attributes: [a] }, d);
        if (v instanceof Uint8Array) assert.deepEqual([...(back as Uint8Array)], [...v]);
        else assert.equal(back, v);
        // And through the wire.
        const r = decodePacket(encodePacket({ code: 4, identifier: 1, authenticator: new Uint8Array(16), attributes: [a] }));
        assert.ok(r.ok);
        assert.equal(attributeDefinition(r.value.attributes[0]!.type), d);
      },
    ),
    { numRuns: 1000 },
  );
});

test('typed encodings match the RFC layouts', () => {
  assert.deepEqual([...makeAttribute(Attr.FramedIpAddress, '198.51.100.23').value], [198, 51, 100, 23]);
  assert.deepEqual([...makeAttribute(Attr.AcctStatusType, 3).value], [0, 0, 0, 3]);
  assert.deepEqual([...makeAttribute(Attr.EventTimestamp, 0xfffffffe).value], [0xff, 0xff, 0xff, 0xfe]);
  // RFC 4818 §3: Reserved, Prefix-Length, then the prefix octets the length covers.
  assert.deepEqual([...makeAttribute(Attr.DelegatedIpv6Prefix, '2001:db8:ab00::/56').value], [0, 56, 0x20, 0x01, 0x0d, 0xb8, 0xab, 0x00, 0x00]);
  assert.deepEqual([...makeAttribute(Attr.FramedIpv6Prefix, '2001:db8::1/128').value].length, 18);
  assert.deepEqual([...makeAttribute(Attr.FramedIpv6Prefix, '::/0').value], [0, 0]);
  // Bits past the length are cleared.
  assert.equal(readValue('ipv6prefix', makeAttribute(Attr.FramedIpv6Prefix, '2001:db8:ab01:ffff::/56').value), '2001:db8:ab01:ff00::/56');
  assert.deepEqual([...makeAttribute(Attr.NasIpv6Address, '::ffff:192.0.2.1').value.subarray(10)], [0xff, 0xff, 192, 0, 2, 1]);
  assert.deepEqual([...makeAttribute(Attr.UserName, '東').value], [0xe6, 0x9d, 0xb1]);
});

test('the encoder refuses what cannot go on the wire, with a message naming it', () => {
  const base = { code: 4, identifier: 0, authenticator: new Uint8Array(16), attributes: [] };
  assert.throws(() => encodePacket({ ...base, code: 0 }), RadiusEncodeError);
  assert.throws(() => encodePacket({ ...base, identifier: 256 }), /identifier 256/);
  assert.throws(() => encodePacket({ ...base, authenticator: new Uint8Array(15) }), /15 octets/);
  assert.throws(() => encodePacket({ ...base, attributes: [{ type: 0, value: new Uint8Array(1) }] }), /type 0/);
  assert.throws(() => encodePacket({ ...base, attributes: [{ type: 44, value: new Uint8Array(254) }] }), /Acct-Session-Id: value of 254 octets/);
  const big = new Array(17).fill({ type: 26, value: new Uint8Array(253) });
  assert.throws(() => encodePacket({ ...base, attributes: big }), /would be 4355 octets/);
  assert.throws(() => makeAttribute(Attr.FramedIpAddress, '2001:db8::1'), /Framed-IP-Address: "2001:db8::1" is not an IPv4 address/);
  assert.throws(() => makeAttribute(Attr.DelegatedIpv6Prefix, '2001:db8::/129'), /not an IPv6 prefix/);
  assert.throws(() => makeAttribute(Attr.AcctSessionTime, -1), /integer from 0/);
  assert.throws(() => makeAttribute(Attr.UserName, 'x'.repeat(254)), /254 octets/);
});
