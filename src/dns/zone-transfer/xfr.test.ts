import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeMessage, Opcode, RCode, RRClass, RRType, type DnsMessage } from '../wire/index.ts';
import type { ZoneRecord } from '../policy/index.ts';
import { answerNotify, queryMessage, serialAdd, serialCompare, serialNewer, TcpMessageReader, frameMessage, xfrMessages, XfrReader, canonicalRecord, type NotifyReceiver, type XfrStep } from './index.ts';

const soa = (serial: number): ZoneRecord => ({ name: 'rpz.test', type: RRType.SOA, ttl: 300, data: { kind: 'SOA', mname: 'localhost', rname: 'hostmaster.localhost', serial, refresh: 3600, retry: 600, expire: 86400, minimum: 300 } });
const cname = (owner: string, target = '.'): ZoneRecord => ({ name: `${owner}.rpz.test`, type: RRType.CNAME, ttl: 300, data: { kind: 'CNAME', cname: target } });

function query(type: number): DnsMessage {
  return {
    header: { id: 4242, qr: false, opcode: Opcode.QUERY, aa: false, tc: false, rd: false, ra: false, z: false, ad: false, cd: false, rcode: 0 },
    questions: [{ name: 'rpz.test', type, class: RRClass.IN }],
    answers: [],
    authority: [],
    additional: [],
  };
}

function readAll(reader: XfrReader, msgs: Iterable<Uint8Array>): XfrStep {
  let last: XfrStep = { done: false };
  for (const m of msgs) {
    const d = decodeMessage(m);
    assert.ok(d.ok, d.ok ? '' : d.error.message);
    last = reader.feed(d.value);
    if (last.done) return last;
  }
  return last;
}

describe('RFC 1982 serial arithmetic', () => {
  it('compares across the wrap', () => {
    assert.equal(serialCompare(1, 2), -1);
    assert.equal(serialCompare(2, 1), 1);
    assert.equal(serialCompare(7, 7), 0);
    assert.equal(serialCompare(0, 0xffffffff), 1, '0 follows 4294967295');
    assert.equal(serialCompare(0xffffffff, 0), -1);
    assert.equal(serialCompare(0x7fffffff, 0), 1);
    assert.equal(serialCompare(0x80000000, 0), undefined, '2^31 apart is undefined (RFC 1982 §3.2)');
    assert.equal(serialNewer(3, 0x80000004), true);
    assert.equal(serialNewer(5, 0x80000004), false);
  });
  it('adds modulo 2^32 and refuses increments of 2^31 or more', () => {
    assert.equal(serialAdd(0xffffffff, 1), 0);
    assert.equal(serialAdd(10, 5), 15);
    assert.throws(() => serialAdd(1, 0x80000000), /RFC 1982/);
  });
});

describe('TCP framing', () => {
  it('reassembles messages split anywhere and keeps the bytes of the next', () => {
    const a = new Uint8Array([1, 2, 3]);
    const b = new Uint8Array(300).fill(7);
    const wire = Buffer.concat([frameMessage(a), frameMessage(b)]);
    const r = new TcpMessageReader();
    const got: Buffer[] = [];
    for (let i = 0; i < wire.length; i += 5) got.push(...r.push(wire.subarray(i, i + 5)));
    assert.equal(got.length, 2);
    assert.deepEqual([...got[0]!], [1, 2, 3]);
    assert.equal(got[1]!.length, 300);
    assert.equal(r.pending, 0);
  });
});

describe('AXFR messages', () => {
  it('splits 10,000 records over several messages under the size asked, question in the first only, ID in all', () => {
    const recs = [soa(1), ...Array.from({ length: 10_000 }, (_, i) => cname(`n${i}.example`)), soa(1)];
    const msgs = [...xfrMessages(query(RRType.AXFR), recs, { maxSize: 16384 })];
    assert.ok(msgs.length > 5, `${msgs.length} messages`);
    let n = 0;
    msgs.forEach((m, i) => {
      assert.ok(m.length <= 16384, `message ${i} is ${m.length} octets`);
      const d = decodeMessage(m);
      assert.ok(d.ok);
      assert.equal(d.value.header.id, 4242);
      assert.equal(d.value.header.tc, false);
      assert.equal(d.value.header.aa, true);
      assert.equal(d.value.questions.length, i === 0 ? 1 : 0);
      n += d.value.answers.length;
    });
    assert.equal(n, recs.length);
    const r = readAll(new XfrReader('rpz.test', { type: 'AXFR' }), msgs);
    assert.ok(r.done && 'outcome' in r && r.outcome.kind === 'full');
    assert.equal(r.outcome.records.length, 10_000);
  });

  it('gives an RRset larger than the size asked a message of its own', () => {
    const big = Array.from({ length: 400 }, (_, i): ZoneRecord => ({ name: 'many.rpz.test', type: RRType.A, ttl: 60, data: { kind: 'A', address: `10.0.${i >> 8}.${i & 255}` } }));
    const msgs = [...xfrMessages(query(RRType.AXFR), [soa(1), ...big, soa(1)], { maxSize: 512 })];
    const counts = msgs.map((m) => (decodeMessage(m) as { ok: true; value: DnsMessage }).value.answers.length);
    assert.ok(counts.includes(400) || counts.some((c) => c >= 399), `counts ${counts.join(',')}`);
    assert.equal(counts.reduce((a, b) => a + b, 0), 402);
  });
});

describe('reading IXFR answers (RFC 1995 §4)', () => {
  it('one SOA: up to date', () => {
    const msgs = [...xfrMessages(query(RRType.IXFR), [soa(5)])];
    const r = readAll(new XfrReader('rpz.test', { type: 'IXFR', clientSerial: 5 }), msgs);
    assert.ok(r.done && 'outcome' in r);
    assert.equal(r.outcome.kind, 'up-to-date');
  });

  it('differences, several versions, in order', () => {
    const seq = [soa(4), soa(2), cname('a.example'), soa(3), cname('b.example'), soa(3), cname('b.example'), soa(4), cname('c.example', 'rpz-drop'), soa(4)];
    const r = readAll(new XfrReader('rpz.test', { type: 'IXFR', clientSerial: 2 }), xfrMessages(query(RRType.IXFR), seq, { maxSize: 100 }));
    assert.ok(r.done && 'outcome' in r && r.outcome.kind === 'incremental', JSON.stringify(r));
    assert.equal(r.outcome.diffs.length, 2);
    assert.deepEqual(r.outcome.diffs.map((d) => [d.deletes.length, d.adds.length]), [[1, 1], [1, 1]]);
    assert.equal(r.outcome.diffs[1]!.adds[0]!.data.kind === 'CNAME' && r.outcome.diffs[1]!.adds[0]!.data.cname, 'rpz-drop');
  });

  it('an AXFR-style answer to IXFR is a full zone; an empty zone too', () => {
    const full = readAll(new XfrReader('rpz.test', { type: 'IXFR', clientSerial: 1 }), xfrMessages(query(RRType.IXFR), [soa(9), cname('x.example'), soa(9)]));
    assert.ok(full.done && 'outcome' in full && full.outcome.kind === 'full' && full.outcome.records.length === 1);
    const empty = readAll(new XfrReader('rpz.test', { type: 'IXFR', clientSerial: 1 }), xfrMessages(query(RRType.IXFR), [soa(9), soa(9)]));
    assert.ok(empty.done && 'outcome' in empty && empty.outcome.kind === 'full' && empty.outcome.records.length === 0);
  });

  it('refuses broken sequences with a reason', () => {
    const cases: [ZoneRecord[], RegExp][] = [
      [[cname('x.example')], /first record/],
      [[soa(9), cname('x.example'), soa(8)], /closing SOA has serial 8/],
      [[soa(4), soa(2), soa(3), soa(7), soa(4)], /previous one ended at 3/],
    ];
    for (const [seq, why] of cases) {
      const r = readAll(new XfrReader('rpz.test', { type: 'IXFR', clientSerial: 2 }), xfrMessages(query(RRType.IXFR), seq));
      assert.ok(r.done && 'error' in r, JSON.stringify(r));
      assert.match(r.error, why);
    }
    const refused = new XfrReader('rpz.test', { type: 'AXFR' }).feed({ ...query(RRType.AXFR), header: { ...query(RRType.AXFR).header, qr: true, rcode: RCode.REFUSED } });
    assert.ok(refused.done && 'error' in refused && /REFUSED/.test(refused.error));
  });

  it('puts names in canonical form, as the policy engine compares them', () => {
    const r = canonicalRecord({ name: 'Bad.EXAMPLE.rpz.test', type: RRType.CNAME, ttl: 1, data: { kind: 'CNAME', cname: 'RPZ-Drop' } });
    assert.equal(r.name, 'bad.example.rpz.test');
    assert.ok(r.data.kind === 'CNAME' && r.data.cname === 'rpz-drop');
  });
});

describe('NOTIFY to several receivers of one zone', () => {
  it('refreshes every receiver of the zone whose primary sent it, and no other', () => {
    const got: string[] = [];
    const receiver = (name: string, zone: string, primary: string): NotifyReceiver => ({ zone, primary: { host: primary, port: 53 }, primaryAddresses: [primary], key: undefined, notify: () => got.push(name) });
    const list = [receiver('a', 'cc.rpz.test', '192.0.2.1'), receiver('b', 'other.rpz.test', '192.0.2.1'), receiver('c', 'cc.rpz.test', '192.0.2.1'), receiver('d', 'cc.rpz.test', '192.0.2.9')];
    const r = answerNotify(queryMessage('cc.rpz.test', RRType.SOA, Opcode.NOTIFY), '192.0.2.1', list);
    assert.equal(r.reply.header.rcode, RCode.NOERROR);
    assert.equal(r.accepted, list[0]);
    assert.deepEqual(got, ['a', 'c']);
    got.length = 0;
    assert.equal(answerNotify(queryMessage('cc.rpz.test', RRType.SOA, Opcode.NOTIFY), '192.0.2.7', list).reply.header.rcode, RCode.REFUSED);
    assert.deepEqual(got, []);
  });
});
