import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodePacket } from './decode.ts';
import { Attr, getAttribute, getRaw } from './attributes.ts';
import { RADCLIENT_INTERIM, RFC2865_ACCESS, hex } from './packets.ts';
import type { WireErrorCode } from './types.ts';

/** A header with the given Length field and no attributes, followed by `rest`. */
function packet(attrs: number[], opts: { code?: number; length?: number; extra?: number[] } = {}): Uint8Array {
  const length = opts.length ?? 20 + attrs.length;
  return Uint8Array.from([opts.code ?? 4, 7, length >> 8, length & 0xff, ...new Array(16).fill(0xaa), ...attrs, ...(opts.extra ?? [])]);
}

function errorOf(buf: Uint8Array): { code: WireErrorCode; offset: number; message: string } {
  const r = decodePacket(buf);
  assert.equal(r.ok, false, 'expected a decode error');
  if (r.ok) throw new Error('unreachable');
  return r.error;
}

test('decodes a real radclient Accounting-Request (Interim-Update, IPv4 and delegated IPv6 prefix)', () => {
  const r = decodePacket(hex(RADCLIENT_INTERIM.hex));
  assert.ok(r.ok);
  const p = r.value;
  assert.equal(p.code, 4);
  assert.equal(p.identifier, 0xe9);
  assert.equal(p.bytes.length, 117);
  assert.equal(getAttribute(p, Attr.AcctStatusType), 3);
  assert.equal(getAttribute(p, Attr.AcctSessionId), '0A1B2C3D');
  assert.equal(getAttribute(p, Attr.UserName), 'user01@example.jp');
  assert.equal(getAttribute(p, Attr.NasIpAddress), '192.0.2.1');
  assert.equal(getAttribute(p, Attr.FramedIpAddress), '198.51.100.23');
  // radclient sends all 16 prefix octets; the text form is the same either way.
  assert.equal(getAttribute(p, Attr.DelegatedIpv6Prefix), '2001:db8:ab00::/56');
  assert.equal(getAttribute(p, Attr.AcctSessionTime), 900);
  assert.equal(getAttribute(p, Attr.EventTimestamp), 1795348800);
  assert.equal(getAttribute(p, Attr.FramedIpv6Prefix), undefined);
  assert.equal(p.messageAuthenticatorAt, 117 - 16);
});

test('decodes the RFC 2865 §7.1 Access-Request', () => {
  const r = decodePacket(hex(RFC2865_ACCESS.request));
  assert.ok(r.ok);
  assert.equal(getAttribute(r.value, Attr.UserName), 'nemo');
  assert.equal(getAttribute(r.value, Attr.NasIpAddress), '192.168.1.16');
  assert.equal(getAttribute(r.value, Attr.NasPort), 3);
  assert.equal(getRaw(r.value, 2)?.length, 16, 'User-Password (not defined here) stays raw');
  assert.equal(r.value.messageAuthenticatorAt, -1);
});

test('octets past the Length field are padding and ignored (RFC 2865 §3)', () => {
  const r = decodePacket(packet([1, 3, 0x61], { extra: [0xde, 0xad, 0xbe, 0xef] }));
  assert.ok(r.ok);
  assert.equal(r.value.bytes.length, 23);
  assert.equal(getAttribute(r.value, Attr.UserName), 'a');
});

test('the decoded packet does not alias the input buffer', () => {
  const buf = packet([1, 4, 0x61, 0x62]);
  const r = decodePacket(buf);
  assert.ok(r.ok);
  buf.fill(0);
  assert.equal(getAttribute(r.value, Attr.UserName), 'ab');
  assert.equal(r.value.authenticator[0], 0xaa);
});

test('header errors: too short, Length out of range, truncated datagram', () => {
  assert.deepEqual(errorOf(new Uint8Array(19)).code, 'TOO_SHORT');
  let e = errorOf(packet([], { length: 19 }));
  assert.equal(e.code, 'BAD_LENGTH');
  assert.equal(e.offset, 2);
  e = errorOf(packet(new Array(4077).fill(0), { length: 4097 }));
  assert.equal(e.code, 'BAD_LENGTH');
  assert.match(e.message, /4097/);
  e = errorOf(packet([1, 3, 0x61], { length: 30 }));
  assert.equal(e.code, 'TRUNCATED');
  assert.match(e.message, /says 30 octets but the datagram has 23/);
});

test('a 4096-octet packet is accepted', () => {
  const attrs: number[] = [];
  while (attrs.length + 255 <= 4076) attrs.push(26, 255, ...new Array(253).fill(1));
  const left = 4076 - attrs.length;
  attrs.push(26, left, ...new Array(left - 2).fill(2));
  const r = decodePacket(packet(attrs));
  assert.ok(r.ok);
  assert.equal(r.value.bytes.length, 4096);
});

test('attribute errors name the attribute and its offset', () => {
  let e = errorOf(packet([1]));
  assert.equal(e.code, 'ATTRIBUTE_TRUNCATED');
  assert.equal(e.offset, 20);
  e = errorOf(packet([0, 3, 1]));
  assert.equal(e.code, 'BAD_ATTRIBUTE_TYPE');
  e = errorOf(packet([1, 3, 0x61, 44, 1]));
  assert.equal(e.code, 'BAD_ATTRIBUTE_LENGTH');
  assert.equal(e.offset, 24);
  assert.match(e.message, /Acct-Session-Id at offset 23 has Length 1/);
  e = errorOf(packet([8, 8, 1, 2, 3, 4, 5]));
  assert.equal(e.code, 'ATTRIBUTE_TRUNCATED');
  assert.match(e.message, /Framed-IP-Address at offset 20 has Length 8, running past the end/);
});

test('typed attributes with the wrong length or value are rejected', () => {
  const cases: [number[], WireErrorCode, RegExp][] = [
    [[8, 5, 1, 2, 3], 'BAD_ATTRIBUTE_LENGTH', /Framed-IP-Address at offset 20 holds 3 octet\(s\), not 4/],
    [[40, 7, 0, 0, 0, 1, 0], 'BAD_ATTRIBUTE_LENGTH', /Acct-Status-Type/],
    [[55, 2], 'BAD_ATTRIBUTE_LENGTH', /Event-Timestamp/],
    [[95, 6, 1, 2, 3, 4], 'BAD_ATTRIBUTE_LENGTH', /NAS-IPv6-Address .* not 16/],
    [[97, 4, 0, 129, 0, 0], 'BAD_ATTRIBUTE_VALUE', /Framed-IPv6-Prefix .* prefix length 129/],
    [[123, 7, 0, 56, 0x20, 0x01, 0x0d], 'BAD_ATTRIBUTE_LENGTH', /Delegated-IPv6-Prefix .* prefix length 56 but only 3 prefix octet/],
    [[123, 21, 0, 64, ...new Array(17).fill(0)], 'BAD_ATTRIBUTE_LENGTH', /not 2 to 18/],
    [[80, 10, ...new Array(8).fill(0)], 'BAD_ATTRIBUTE_LENGTH', /Message-Authenticator .* not 16/],
    [[80, 18, ...new Array(16).fill(0), 80, 18, ...new Array(16).fill(0)], 'DUPLICATE_MESSAGE_AUTHENTICATOR', /second Message-Authenticator at offset 38/],
  ];
  for (const [attrs, code, message] of cases) {
    const e = errorOf(packet(attrs));
    assert.equal(e.code, code, `attrs ${attrs.slice(0, 4)}`);
    assert.match(e.message, message);
  }
});

test('empty text, unknown types, a short prefix and Vendor-Specific stay readable', () => {
  const r = decodePacket(
    packet([
      32, 2, // empty NAS-Identifier
      200, 4, 9, 9, // unknown type 200
      97, 6, 0, 0, 0xff, 0xff, // ::/0 with stray octets: masked
      123, 11, 0, 56, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01, 0x02, // 7 octets for a /56
      26, 12, 0, 0, 0x0a, 0x8c, 1, 6, 0, 0, 0, 1, // a 3GPP2-style VSA, kept raw
    ]),
  );
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  const p = r.value;
  assert.equal(getAttribute(p, Attr.NasIdentifier), '');
  assert.deepEqual([...getRaw(p, 200)!], [9, 9]);
  assert.equal(getAttribute(p, Attr.FramedIpv6Prefix), '::/0');
  assert.equal(getAttribute(p, Attr.DelegatedIpv6Prefix), '2001:db8:1:200::/56');
  assert.deepEqual([...getAttribute(p, Attr.VendorSpecific)!], [0, 0, 0x0a, 0x8c, 1, 6, 0, 0, 0, 1]);
});
