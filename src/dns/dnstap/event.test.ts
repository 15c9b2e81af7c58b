import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { formatIp, parseIp } from '../../core/index.ts';
import { encodeMessage, type DnsMessage } from '../wire/index.ts';
import { dnstapEvent, type DnstapEvent } from './event.ts';
import { decodeFrameStream, DnstapScan, encodeDnstap, MessageType, scanDnstap, SocketProtocol, type DnstapInput } from './wire/index.ts';

const RUNS = Number(process.env.DNSTAP_PROPERTY_RUNS ?? 2000);

function eventOf(d: DnstapInput, receivedAt = 42): ReturnType<typeof dnstapEvent> {
  const s = new DnstapScan();
  assert.equal(scanDnstap(encodeDnstap(d), s), null);
  return dnstapEvent(s, receivedAt);
}

function dns(name: string, type: number, opts: { qr?: boolean; rcode?: number; opcode?: number; edns?: boolean; answers?: number } = {}): Uint8Array {
  const msg: DnsMessage = {
    header: { id: 7, qr: opts.qr ?? false, opcode: opts.opcode ?? 0, aa: false, tc: false, rd: true, ra: !!opts.qr, z: false, ad: false, cd: false, rcode: opts.rcode ?? 0 },
    questions: [{ name, type, class: 1 }],
    answers: Array.from({ length: opts.answers ?? 0 }, (_, i) => ({ name, type: 1, class: 1, ttl: 60, data: { kind: 'A' as const, address: `192.0.2.${i + 1}` } })),
    authority: [],
    additional: [],
    ...(opts.edns || (opts.rcode ?? 0) > 15 ? { edns: { udpSize: 1232, version: 0, do: false, options: [] } } : {}),
  };
  return encodeMessage(msg);
}

const v4 = Uint8Array.of(192, 0, 2, 10);
const T = 1_767_225_600; // 2026-01-01T00:00:00Z

describe('dnstap messages -> detector events', () => {
  it('turns the real Unbound and BIND captures into the expected events', () => {
    for (const f of ['unbound-1.17.1.fstrm', 'bind-9.18.49.fstrm']) {
      const r = decodeFrameStream(readFileSync(new URL(`./wire/testdata/${f}`, import.meta.url)));
      assert.ok(r.ok);
      const s = new DnstapScan();
      const events = r.value.map((frame) => {
        assert.equal(scanDnstap(frame, s), null);
        const e = dnstapEvent(s, 0);
        assert.equal(typeof e, 'object');
        const { at, responseSize, ...rest } = e as DnstapEvent;
        assert.ok(at > 1_600_000_000_000);
        if (responseSize !== undefined) assert.ok(responseSize > 30);
        return rest;
      });
      assert.deepEqual(events, [
        { client: '127.0.0.1', qname: 'www.example.test', qtype: 1, transport: 'udp' },
        { client: '127.0.0.1', qname: 'www.example.test', qtype: 1, rcode: 0, transport: 'udp' },
        { client: '127.0.0.1', qname: 'nope.example.test', qtype: 28, transport: 'tcp' },
        { client: '127.0.0.1', qname: 'nope.example.test', qtype: 28, rcode: 3, transport: 'tcp' },
      ]);
    }
  });

  it('a CLIENT_QUERY gives time, client, lower-cased name, type and transport; nothing else', () => {
    const e = eventOf({
      identity: 'r1',
      message: { type: MessageType.CLIENT_QUERY, socketFamily: 1, socketProtocol: SocketProtocol.TCP, queryAddress: v4, queryPort: 40000, responseAddress: Uint8Array.of(10, 0, 0, 53), responsePort: 53, queryTimeSec: T, queryTimeNsec: 987_654_321, queryMessage: dns('WWW.Example.COM', 28) },
    });
    assert.deepEqual(e, { at: T * 1000 + 987, client: '192.0.2.10', qname: 'www.example.com', qtype: 28, transport: 'tcp' });
  });

  it('a CLIENT_RESPONSE adds rcode (with EDNS extended bits) and the response size', () => {
    const resp = dns('bad.Example', 16, { qr: true, rcode: 3, answers: 2 });
    const e = eventOf({ message: { type: MessageType.CLIENT_RESPONSE, socketProtocol: SocketProtocol.UDP, queryAddress: v4, queryTimeSec: T, responseTimeSec: T + 1, responseTimeNsec: 5_000_000, responseMessage: resp } });
    assert.deepEqual(e, { at: (T + 1) * 1000 + 5, client: '192.0.2.10', qname: 'bad.example', qtype: 16, rcode: 3, responseSize: resp.length, transport: 'udp' });
    const badvers = eventOf({ message: { type: MessageType.CLIENT_RESPONSE, queryAddress: v4, responseMessage: dns('x.example', 1, { qr: true, rcode: 16 }) } });
    assert.equal((badvers as DnstapEvent).rcode, 16);
  });

  it('times: the response time, else the query time, else the receive time; an absurd time is the receive time', () => {
    const resp = dns('a.example', 1, { qr: true });
    assert.equal((eventOf({ message: { type: 6, queryAddress: v4, queryTimeSec: T, responseMessage: resp } }) as DnstapEvent).at, T * 1000);
    assert.equal((eventOf({ message: { type: 6, queryAddress: v4, responseMessage: resp } }, 1234) as DnstapEvent).at, 1234);
    assert.equal((eventOf({ message: { type: 5, queryAddress: v4, queryTimeSec: Number.MAX_SAFE_INTEGER, queryMessage: dns('a.example', 1) } }, 99) as DnstapEvent).at, 99);
  });

  it('clients: IPv6 in RFC 5952 form, IPv4-mapped IPv6 as IPv4', () => {
    const q = dns('a.example', 1);
    const six = parseIp('2001:db8::53')!.bytes;
    assert.equal((eventOf({ message: { type: 5, queryAddress: six, queryMessage: q } }) as DnstapEvent).client, '2001:db8::53');
    const mapped = Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 198, 51, 100, 7);
    assert.equal((eventOf({ message: { type: 5, queryAddress: mapped, queryMessage: q } }) as DnstapEvent).client, '198.51.100.7');
  });

  it('transports: every SocketProtocol of dnstap.proto, "unknown" when absent or new', () => {
    const q = dns('a.example', 1);
    const names = [1, 2, 3, 4, 5, 6, 7, 99, undefined].map((p) => (eventOf({ message: { type: 5, queryAddress: v4, queryMessage: q, ...(p !== undefined ? { socketProtocol: p } : {}) } }) as DnstapEvent).transport);
    assert.deepEqual(names, ['udp', 'tcp', 'dot', 'doh', 'dnscrypt-udp', 'dnscrypt-tcp', 'doq', 'unknown', 'unknown']);
  });

  it('says why there is no event', () => {
    const q = dns('a.example', 1);
    const cases: [DnstapInput, string][] = [
      [{ type: 1 }, 'no-message'],
      [{ type: 2, message: { type: 5, queryAddress: v4, queryMessage: q } }, 'no-message'],
      ...[1, 2, 3, 4, 7, 8, 9, 10, 11, 12, 13, 14, 15].map((t): [DnstapInput, string] => [{ message: { type: t, queryAddress: v4, queryMessage: q } }, 'other-type']),
      [{ message: { type: 5, queryMessage: q } }, 'no-client'],
      [{ message: { type: 5, queryAddress: Uint8Array.of(1, 2, 3), queryMessage: q } }, 'no-client'],
      [{ message: { type: 5, queryAddress: v4 } }, 'no-dns'],
      [{ message: { type: 6, queryAddress: v4, queryMessage: q } }, 'no-dns'],
      [{ message: { type: 5, queryAddress: v4, queryMessage: Uint8Array.of(1, 2, 3) } }, 'bad-dns'],
      [{ message: { type: 5, queryAddress: v4, queryMessage: dns('a.example', 1, { qr: true }) } }, 'bad-dns'],
      [{ message: { type: 5, queryAddress: v4, queryMessage: dns('a.example', 6, { opcode: 4 }) } }, 'bad-dns'],
      [{ message: { type: 6, queryAddress: v4, responseMessage: Uint8Array.of(0, 1, 0x81, 0x80, 0, 0, 0, 0, 0, 0, 0, 0) } }, 'bad-dns'],
    ];
    for (const [d, why] of cases) assert.equal(eventOf(d), why, JSON.stringify(d, (_, v) => (v instanceof Uint8Array ? Array.from(v) : v)));
  });

  it('property: whatever the client, name, type and rcode, the event carries exactly them', () => {
    const label = fc.stringMatching(/^[a-zA-Z0-9-]{1,20}$/);
    const name = fc.array(label, { minLength: 1, maxLength: 5 }).map((l) => l.join('.'));
    const addr = fc.oneof(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 16, maxLength: 16 }).filter((b) => !(b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff)));
    fc.assert(
      fc.property(addr, name, fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 23 }), fc.boolean(), fc.integer({ min: 1, max: 7 }), (a, n, qtype, rcode, isResponse, proto) => {
        const client = formatIp({ family: a.length === 4 ? 4 : 6, bytes: a });
        const bytes = dns(n, qtype, { qr: isResponse, rcode: isResponse ? rcode : 0 });
        const e = eventOf({ message: { type: isResponse ? 6 : 5, socketProtocol: proto, queryAddress: a, queryTimeSec: T, ...(isResponse ? { responseMessage: bytes } : { queryMessage: bytes }) } });
        assert.equal(typeof e, 'object');
        const ev = e as DnstapEvent;
        assert.equal(ev.client, client);
        assert.equal(ev.qname, n.toLowerCase());
        assert.equal(ev.qtype, qtype);
        assert.equal(ev.rcode, isResponse ? rcode : undefined);
        assert.equal(ev.responseSize, isResponse ? bytes.length : undefined);
        assert.deepEqual(Object.keys(ev).sort(), isResponse ? ['at', 'client', 'qname', 'qtype', 'rcode', 'responseSize', 'transport'] : ['at', 'client', 'qname', 'qtype', 'transport']);
      }),
      { numRuns: RUNS / 2 },
    );
  });
});
