import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeMessage } from './decode.ts';
import { encodeMessage } from './encode.ts';
import { nameToText } from './name.ts';
import { DIG_A_COOKIE, DIG_MX_DO, HAND_RESPONSE, header, hex } from './packets.ts';
import type { DnsMessage, WireErrorCode } from './types.ts';

function ok(buf: Uint8Array): DnsMessage {
  const r = decodeMessage(buf);
  if (!r.ok) assert.fail(`${r.error.code} @${r.error.offset}: ${r.error.message}`);
  return r.value;
}
function errCode(buf: Uint8Array): WireErrorCode | 'ok' {
  const r = decodeMessage(buf);
  return r.ok ? 'ok' : r.error.code;
}

test('a real dig query: flags, case-preserved question, EDNS with a cookie option', () => {
  const m = ok(DIG_A_COOKIE);
  assert.deepEqual(m.header, { id: 0xaaae, qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, z: false, ad: true, cd: false, rcode: 0 });
  assert.deepEqual(m.questions, [{ name: 'WwW.Example.COM', type: 1, class: 1 }]);
  assert.deepEqual(m.edns, { udpSize: 1232, version: 0, do: false, z: 0, options: [{ code: 10, data: hex('ad1146b6540bf9f3') }] });
  assert.deepEqual(m.additional, []);
  assert.equal(ok(DIG_MX_DO).edns?.do, true);
});

test('hand-built response: compression in owners and RDATA, glue owner pointing into RDATA', () => {
  const m = ok(HAND_RESPONSE);
  assert.equal(m.header.id, 0x1234);
  assert.ok(m.header.qr && m.header.rd && m.header.ra && !m.header.aa);
  assert.deepEqual(m.answers, [
    { name: 'example.com', type: 1, class: 1, ttl: 3600, data: { kind: 'A', address: '93.184.216.34' } },
    { name: 'example.com', type: 15, class: 1, ttl: 3600, data: { kind: 'MX', preference: 10, exchange: 'mail.example.com' } },
  ]);
  assert.deepEqual(m.authority, [{ name: 'example.com', type: 2, class: 1, ttl: 172800, data: { kind: 'NS', nsdname: 'ns1.example.com' } }]);
  assert.deepEqual(m.additional, [{ name: 'ns1.example.com', type: 1, class: 1, ttl: 3600, data: { kind: 'A', address: '192.0.2.1' } }]);
  assert.deepEqual(m.edns, { udpSize: 4096, version: 0, do: true, z: 0, options: [] });
});

test('RFC 1035 §4.1.4 example: F.ISI.ARPA, FOO.F.ISI.ARPA, ARPA and the root', () => {
  const b = new Uint8Array(100);
  b.set(hex('01 46 03 495349 04 41525041 00'), 20);
  b.set(hex('03 464f4f c014'), 40);
  b.set(hex('c01a'), 64);
  b[92] = 0;
  assert.deepEqual(nameToText(b, 20), { ok: true, value: 'F.ISI.ARPA' });
  assert.deepEqual(nameToText(b, 40), { ok: true, value: 'FOO.F.ISI.ARPA' });
  assert.deepEqual(nameToText(b, 64), { ok: true, value: 'ARPA' });
  assert.deepEqual(nameToText(b, 92), { ok: true, value: '.' });
});

test('typed RDATA: SOA, TXT, SRV, CAA, AAAA, DNAME, PTR; unknown types and A in class CH stay raw', () => {
  const q = '07 6578616d706c65 03 636f6d 00';
  const buf = hex(`${header(0, 9, 0, 0, 0x8400)}
    ${q} 0006 0001 00000e10 0027 03 6e7331 c00c 0a 686f73746d6173746572 c00c 78a3c1f5 00001c20 00000e10 00093a80 0000012c
    c00c 0010 0001 0000003c 0009 03 613d62 00 03 ff0022
    04 5f736970 04 5f746370 c00c 0021 0001 0000003c 0008 000a 0014 13c4 c00c
    c00c 0101 0001 0000003c 000e 80 05 6973737565 6361 2e 6f7267 00
    c00c 001c 0001 0000003c 0010 20010db8 00000000 00000000 00000001
    c00c 0027 0001 0000003c 000d 07 6578616d706c65 03 6e6574 00
    c00c 000c 0001 0000003c 0002 c00c
    c00c 1234 0001 0000003c 0003 010203
    c00c 0001 0003 0000003c 0004 7f000001
  `);
  const m = ok(buf);
  assert.deepEqual(
    m.answers.map((r) => r.data),
    [
      { kind: 'SOA', mname: 'ns1.example.com', rname: 'hostmaster.example.com', serial: 0x78a3c1f5, refresh: 7200, retry: 3600, expire: 604800, minimum: 300 },
      { kind: 'TXT', strings: [hex('613d62'), hex(''), hex('ff0022')] },
      { kind: 'SRV', priority: 10, weight: 20, port: 5060, target: 'example.com' },
      { kind: 'CAA', flags: 128, tag: 'issue', value: hex('6361 2e 6f7267 00') },
      { kind: 'AAAA', address: '2001:db8::1' },
      { kind: 'DNAME', target: 'example.net' },
      { kind: 'PTR', ptrdname: 'example.com' },
      { kind: 'raw', bytes: hex('010203') },
      { kind: 'raw', bytes: hex('7f000001') },
    ],
  );
  assert.equal(m.answers[2]!.name, '_sip._tcp.example.com');
});

test('extended rcode: header 4 bits + OPT upper 8 bits (RFC 6891 §6.1.3)', () => {
  const m = ok(hex(`${header(0, 0, 0, 1, 0x8000)} 00 0029 0200 01 00 0000 0000`));
  assert.equal(m.header.rcode, 16); // BADVERS
});

test('compression errors: pointer to itself, forward, into the header, loops back into the name', () => {
  assert.equal(errCode(hex(`${header(1)} c00c 0001 0001`)), 'COMPRESSION_LOOP');
  assert.equal(errCode(hex(`${header(1)} c010 0001 0001 00`)), 'BAD_POINTER');
  assert.equal(errCode(hex(`${header(1)} c002 0001 0001`)), 'BAD_POINTER');
  // Owner at 29: "a" then a pointer to 29, i.e. to the start of the same name.
  const q = '01 61 00 0001 0001'; // @12..20, next 21
  assert.equal(errCode(hex(`${header(1, 1)} ${q} 01 61 c015 0001 0001 00000000 0000`)), 'COMPRESSION_LOOP');
  // "a" "b" then a pointer back to "b" inside the same name.
  assert.equal(errCode(hex(`${header(1, 1)} ${q} 01 61 01 62 c017 0001 0001 00000000 0000`)), 'COMPRESSION_LOOP');
  // Pointer chains that only go backwards are fine: 21 -> 12.
  assert.equal(errCode(hex(`${header(1, 1)} ${q} c00c 1234 0001 00000000 0000`)), 'ok');
  const e = decodeMessage(hex(`${header(1)} c00c 0001 0001`));
  assert.ok(!e.ok && e.error.offset === 12 && /itself/.test(e.error.message));
});

test('name limits: 255 octets after decompression, label types 0x40/0x80 rejected', () => {
  const l63 = '3f' + '61'.repeat(63);
  // Question: 3 x 63-octet labels (193 octets with root). Answer owner: one more 63-octet label + pointer -> 257.
  const ok3 = hex(`${header(1)} ${l63}${l63}${l63} 00 0001 0001`);
  assert.equal(errCode(ok3), 'ok');
  const tooLong = hex(`${header(1, 1)} ${l63}${l63}${l63} 00 0001 0001 ${l63} c00c 0001 0001 00000000 0000`);
  assert.equal(errCode(tooLong), 'NAME_TOO_LONG');
  assert.equal(errCode(hex(`${header(1)} ${l63}${l63}${l63}${l63} 00 0001 0001`)), 'NAME_TOO_LONG');
  assert.equal(errCode(hex(`${header(1)} 41 61 00 0001 0001`)), 'BAD_LABEL_TYPE');
  assert.equal(errCode(hex(`${header(1)} 81 61 00 0001 0001`)), 'BAD_LABEL_TYPE');
});

test('every proper prefix of a valid packet is TRUNCATED; an extra byte is TRAILING_DATA', () => {
  for (let n = 0; n < HAND_RESPONSE.length; n++) assert.equal(errCode(HAND_RESPONSE.subarray(0, n)), 'TRUNCATED', `prefix ${n}`);
  const longer = new Uint8Array(HAND_RESPONSE.length + 1);
  longer.set(HAND_RESPONSE);
  const r = decodeMessage(longer);
  assert.ok(!r.ok && r.error.code === 'TRAILING_DATA' && r.error.offset === HAND_RESPONSE.length);
});

test('bad RDATA: wrong A length, name overrunning RDLENGTH, bytes after a name, empty TXT, broken SOA', () => {
  const q = '01 61 00 0001 0001';
  const rr = (type: string, rd: string) => hex(`${header(1, 1)} ${q} c00c ${type} 0001 00000000 ${(rd.replace(/\s/g, '').length / 2).toString(16).padStart(4, '0')} ${rd}`);
  assert.equal(errCode(rr('0001', '7f0000')), 'BAD_RDATA');
  assert.equal(errCode(rr('001c', '7f000001')), 'BAD_RDATA');
  assert.equal(errCode(rr('0005', '01 62')), 'TRUNCATED'); // name runs to the packet's end
  assert.equal(errCode(hex(`${header(1, 1)} ${q} c00c 0005 0001 00000000 0002 01 62 00`)), 'BAD_RDATA');
  assert.equal(errCode(rr('0005', '01 62 00 ff')), 'BAD_RDATA');
  assert.equal(errCode(rr('0010', '')), 'BAD_RDATA');
  assert.equal(errCode(rr('0010', '05 6162')), 'BAD_RDATA');
  assert.equal(errCode(rr('0006', 'c00c c00c 00000001')), 'BAD_RDATA');
  assert.equal(errCode(rr('000f', '000a')), 'BAD_RDATA');
  assert.equal(errCode(rr('0101', '00 00')), 'BAD_RDATA');
  assert.equal(errCode(rr('0005', 'c00c')), 'ok');
});

test('OPT rules (RFC 6891 §6.1.1): one, in additional, owned by the root, options well framed', () => {
  const opt = '00 0029 1000 00 00 0000 0000';
  assert.equal(errCode(hex(`${header(0, 0, 0, 1)} ${opt}`)), 'ok');
  assert.equal(errCode(hex(`${header(0, 1)} ${opt}`)), 'BAD_OPT');
  assert.equal(errCode(hex(`${header(0, 0, 0, 2)} ${opt} ${opt}`)), 'BAD_OPT');
  assert.equal(errCode(hex(`${header(0, 0, 0, 1)} 01 61 00 0029 1000 00000000 0000`)), 'BAD_OPT');
  assert.equal(errCode(hex(`${header(0, 0, 0, 1)} 00 0029 1000 00000000 0006 000a 0004 0102`)), 'BAD_OPT');
  assert.equal(errCode(hex(`${header(0, 0, 0, 1)} 00 0029 1000 00000000 0002 000a`)), 'BAD_OPT');
});

test('results never alias the input buffer', () => {
  const buf = Buffer.from(DIG_A_COOKIE);
  const m = ok(buf);
  buf.fill(0);
  assert.deepEqual(m.edns?.options[0]?.data, hex('ad1146b6540bf9f3'));
  assert.equal(Object.getPrototypeOf(m.edns?.options[0]?.data), Uint8Array.prototype);
});

test('NOTIFY (RFC 1996 §3.7) and IXFR request (RFC 1995 §3), hand-built, decode and re-encode byte for byte', () => {
  const zone = '03 72707a 08 73616b696d6f7269 00'; // rpz.sakimori @12..25
  const soa = (serial: string) => `c00c 0006 0001 00000e10 0023 c00c 0a 686f73746d6173746572 c00c ${serial} 00000e10 00000258 00093a80 0000003c`;
  const notify = hex(`5a5a 2400 0001 0001 0000 0000 ${zone} 0006 0001 ${soa('0000002a')}`);
  const n = ok(notify);
  assert.equal(n.header.opcode, 4);
  assert.equal(n.header.aa, true);
  assert.deepEqual(n.questions, [{ name: 'rpz.sakimori', type: 6, class: 1 }]);
  assert.ok(n.answers[0]?.data.kind === 'SOA' && n.answers[0].data.serial === 42 && n.answers[0].data.rname === 'hostmaster.rpz.sakimori');
  assert.deepEqual(encodeMessage(n), notify);

  const ixfr = hex(`7777 0000 0001 0000 0001 0000 ${zone} 00fb 0001 ${soa('00000029')}`);
  const x = ok(ixfr);
  assert.equal(x.questions[0]?.type, 251);
  assert.ok(x.authority[0]?.data.kind === 'SOA' && x.authority[0].data.serial === 41);
  assert.deepEqual(encodeMessage(x), ixfr);
});
