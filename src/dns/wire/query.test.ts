import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeMessage } from './decode.ts';
import { encodeMessage } from './encode.ts';
import { normalizeName } from './name.ts';
import {
  compileRecords,
  extendedError,
  makeHeaderOnlyResponse,
  makeLocalDataResponse,
  makeResponseFromQuery,
  readQuery,
  readQueryInto,
  emptyQueryInfo,
  responseLength,
  writeResponseFromQuery,
  type QueryInfo,
} from './query.ts';
import { queryMessageArb } from './arbitraries.ts';
import { DIG_AAAA_NOEDNS, DIG_A_COOKIE, DIG_MX_DO, HAND_RESPONSE, header, hex } from './packets.ts';
import { RCode, RRType, type DnsMessage } from './types.ts';

function info(buf: Uint8Array): QueryInfo {
  const r = readQuery(buf);
  if (!r.ok) assert.fail(`${r.error.code} @${r.error.offset}: ${r.error.message}`);
  return r.value;
}
function decode(buf: Uint8Array | undefined): DnsMessage {
  assert.ok(buf);
  const r = decodeMessage(buf);
  if (!r.ok) assert.fail(`${r.error.code} @${r.error.offset}: ${r.error.message}`);
  return r.value;
}

test('readQuery on real dig queries: lower-cased qname, EDNS size and DO', () => {
  assert.deepEqual(info(DIG_A_COOKIE), {
    id: 0xaaae,
    opcode: 0,
    rd: true,
    cd: false,
    qname: 'www.example.com',
    qtype: 1,
    qclass: 1,
    questionEnd: 33,
    edns: true,
    udpSize: 1232,
    do: false,
    ednsVersion: 0,
  });
  const noEdns = info(DIG_AAAA_NOEDNS);
  assert.equal(noEdns.qname, 'example.org');
  assert.equal(noEdns.qtype, RRType.AAAA);
  assert.equal(noEdns.edns, false);
  assert.equal(noEdns.questionEnd, DIG_AAAA_NOEDNS.length);
  assert.equal(info(DIG_MX_DO).do, true);
});

test('readQuery escapes binary labels exactly like normalizeName(nameToText)', () => {
  const q = info(hex(`${header(1)} 04 41002e5c 03 434f4d 00 0001 0001`));
  assert.equal(q.qname, 'a\\000\\.\\\\.com');
  assert.equal(info(hex(`${header(1)} 00 0002 0001`)).qname, '.');
});

test('readQuery rejects what a forwarder must not pass on, with a code', () => {
  const code = (b: Uint8Array) => {
    const r = readQuery(b);
    return r.ok ? 'ok' : r.error.code;
  };
  assert.equal(code(HAND_RESPONSE), 'NOT_A_QUERY');
  assert.equal(code(hex(`${header(0)}`)), 'BAD_QUESTION_COUNT');
  assert.equal(code(hex(`${header(2)} 00 0001 0001 00 0001 0001`)), 'BAD_QUESTION_COUNT');
  assert.equal(code(DIG_A_COOKIE.subarray(0, 20)), 'TRUNCATED');
  assert.equal(code(DIG_A_COOKIE.subarray(0, 40)), 'TRUNCATED');
  assert.equal(code(hex(`${header(1)} c00c 0001 0001`)), 'COMPRESSION_LOOP');
  assert.equal(code(hex(`${header(1)} 00 0001 0001 00`)), 'TRAILING_DATA');
  assert.equal(code(hex(`${header(1, 1)} 00 0001 0001 00 0029 1000 00000000 0000`)), 'BAD_OPT');
  assert.equal(code(hex(`${header(1, 0, 0, 2)} 00 0001 0001 00 0029 1000 00000000 0000 00 0029 1000 00000000 0000`)), 'BAD_OPT');
  for (let n = 0; n < DIG_A_COOKIE.length; n++) assert.equal(code(DIG_A_COOKIE.subarray(0, n)), 'TRUNCATED', `prefix ${n}`);
});

test('NXDOMAIN from a query: ID, RD, CD and question case kept; QR RA set; AD cleared; OPT echoes DO', () => {
  for (const q of [DIG_A_COOKIE, DIG_MX_DO]) {
    const qm = decode(q);
    const r = decode(makeResponseFromQuery(q, RCode.NXDOMAIN));
    assert.deepEqual(r.header, { ...qm.header, qr: true, ra: true, ad: false, rcode: RCode.NXDOMAIN });
    assert.deepEqual(r.questions, qm.questions); // 'WwW.Example.COM' stays as sent
    assert.deepEqual(r.answers, []);
    assert.deepEqual(r.edns, { udpSize: 1232, version: 0, do: qm.edns!.do, z: 0, options: [] });
  }
  const plain = decode(makeResponseFromQuery(DIG_AAAA_NOEDNS, RCode.REFUSED, { ra: false }));
  assert.equal(plain.edns, undefined);
  assert.equal(plain.header.rcode, RCode.REFUSED);
  assert.equal(plain.header.ra, false);
  assert.equal(decode(makeResponseFromQuery(DIG_AAAA_NOEDNS, RCode.SERVFAIL)).header.rcode, RCode.SERVFAIL);
  assert.equal(makeResponseFromQuery(HAND_RESPONSE, RCode.NXDOMAIN), undefined);
});

test('NODATA with an SOA for negative caching (RFC 2308 §3), EDE "Blocked", TC for TCP-only', () => {
  const soa = compileRecords([
    { name: 'rpz.sakimori', type: RRType.SOA, ttl: 60, data: { kind: 'SOA', mname: 'rpz.sakimori', rname: 'hostmaster.rpz.sakimori', serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: 60 } },
  ]);
  const r = decode(makeResponseFromQuery(DIG_A_COOKIE, RCode.NOERROR, { authority: soa, ednsOptions: extendedError(15, 'blocked by policy') }));
  assert.equal(r.header.rcode, 0);
  assert.equal(r.authority[0]?.data.kind, 'SOA');
  assert.deepEqual(r.edns?.options, [{ code: 15, data: hex('000f' + Buffer.from('blocked by policy').toString('hex')) }]);
  assert.equal(decode(makeResponseFromQuery(DIG_A_COOKIE, 0, { tc: true })).header.tc, true);
  // Extended rcode needs the OPT: BADVERS = 16.
  assert.equal(decode(makeResponseFromQuery(DIG_A_COOKIE, RCode.BADVERS)).header.rcode, 16);
});

test('local data: warning-page A/AAAA owned by the query name, or a CNAME to it plus its address', () => {
  const warn = compileRecords([
    { type: RRType.A, ttl: 300, data: { kind: 'A', address: '192.0.2.80' } },
    { type: RRType.AAAA, ttl: 300, data: { kind: 'AAAA', address: '2001:db8::80' } },
  ]);
  const r = decode(makeLocalDataResponse(DIG_A_COOKIE, warn, { info: info(DIG_A_COOKIE) }));
  assert.deepEqual(r.answers, [
    { name: 'WwW.Example.COM', type: 1, class: 1, ttl: 300, data: { kind: 'A', address: '192.0.2.80' } },
    { name: 'WwW.Example.COM', type: 28, class: 1, ttl: 300, data: { kind: 'AAAA', address: '2001:db8::80' } },
  ]);
  const cname = compileRecords([
    { type: RRType.CNAME, ttl: 300, data: { kind: 'CNAME', cname: 'warning.sakimori.example' } },
    { name: 'warning.sakimori.example', type: RRType.A, ttl: 300, data: { kind: 'A', address: '192.0.2.80' } },
  ]);
  const c = decode(makeLocalDataResponse(DIG_AAAA_NOEDNS, cname));
  assert.deepEqual(c.answers.map((a) => [a.name, a.data]), [
    ['example.org', { kind: 'CNAME', cname: 'warning.sakimori.example' }],
    ['warning.sakimori.example', { kind: 'A', address: '192.0.2.80' }],
  ]);
  assert.throws(() => compileRecords([{ type: RRType.AAAA, ttl: 1, data: { kind: 'A', address: '192.0.2.1' } }]), /type 28/);
});

test('header-only response for unparseable queries', () => {
  const r = decode(makeHeaderOnlyResponse(hex(`${header(1)} 41`), RCode.FORMERR));
  assert.equal(r.header.id, 0xbeef);
  assert.equal(r.header.rcode, RCode.FORMERR);
  assert.equal(r.header.rd, true);
  assert.equal(makeHeaderOnlyResponse(new Uint8Array(5), 1), undefined);
});

const SOA = compileRecords([
  { name: 'rpz.sakimori', type: RRType.SOA, ttl: 60, data: { kind: 'SOA', mname: 'rpz.sakimori', rname: 'hostmaster.rpz.sakimori', serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: 60 } },
]);
const EDE = extendedError(15, 'blocked by policy');

test('property: readQuery agrees with decodeMessage on every valid query, and responses decode', () => {
  fc.assert(
    fc.property(queryMessageArb, (m) => {
      const wire = encodeMessage(m);
      const full = decodeMessage(wire);
      assert.ok(full.ok);
      const r = readQuery(wire);
      assert.ok(r.ok, r.ok ? '' : r.error.message);
      const q = r.value;
      const h = full.value.header;
      const question = full.value.questions[0]!;
      assert.equal(q.id, h.id);
      assert.equal(q.opcode, h.opcode);
      assert.equal(q.rd, h.rd);
      assert.equal(q.cd, h.cd);
      assert.equal(q.qname, normalizeName(question.name));
      assert.equal(q.qtype, question.type);
      assert.equal(q.qclass, question.class);
      assert.equal(q.edns, full.value.edns !== undefined);
      assert.equal(q.udpSize, full.value.edns?.udpSize ?? 0);
      assert.equal(q.do, full.value.edns?.do ?? false);
      assert.equal(q.ednsVersion, full.value.edns?.version ?? 0);
      const only = encodeMessage({ header: { ...m.header, rcode: 0 }, questions: m.questions, answers: [], authority: [], additional: [] });
      assert.equal(q.questionEnd, only.length);
      // With and without the readQuery result, the same answer.
      const resp = makeResponseFromQuery(wire, RCode.NXDOMAIN, { info: q });
      assert.deepEqual(resp, makeResponseFromQuery(wire, RCode.NXDOMAIN));
      // readQueryInto fills a reused object with what readQuery returns.
      const into = emptyQueryInfo();
      assert.equal(readQueryInto(wire, into), null);
      assert.deepEqual(into, q);
      // Written in place (a send buffer, at an offset) the same bytes, of the length said.
      const soaOpts = { info: q, authority: SOA, ednsOptions: EDE };
      const want = makeResponseFromQuery(wire, RCode.NXDOMAIN, soaOpts)!;
      const out = new Uint8Array(want.length + 20).fill(0xee);
      assert.equal(responseLength(soaOpts), want.length);
      assert.equal(writeResponseFromQuery(wire, RCode.NXDOMAIN, soaOpts, out, 7), want.length);
      assert.deepEqual(Buffer.from(out.subarray(7, 7 + want.length)), Buffer.from(want));
      assert.ok(out.subarray(0, 7).every((b) => b === 0xee) && out.subarray(7 + want.length).every((b) => b === 0xee));
      const d = decode(resp);
      assert.deepEqual(d.questions, full.value.questions);
      assert.equal(d.header.id, h.id);
    }),
    { numRuns: 2000 },
  );
});
