import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { decodeMessage } from '../../wire/index.ts';
import { decodeDnstap, DnstapScan, dnstapFromScan, encodeDnstap, MessageType, messageTypeName, scanDnstap, SocketFamily, SocketProtocol, type DnstapErrorCode } from './dnstap.ts';
import { decodeFrameStream } from './fstrm.ts';
import { cat, dnstapArb, expectedDecode, plainDecode, unknownFieldArb, varintBytes } from './arbitraries.ts';

const fixture = (name: string) => readFileSync(new URL(`./testdata/${name}`, import.meta.url));
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : Buffer.from(b).toString('latin1'));
const RUNS = Number(process.env.DNSTAP_PROPERTY_RUNS ?? 2000);

function framesOf(name: string): Uint8Array[] {
  const r = decodeFrameStream(fixture(name));
  assert.ok(r.ok, r.ok ? '' : r.error.message);
  return r.value;
}

function errorOf(buf: Uint8Array): { code: DnstapErrorCode; offset: number; message: string } {
  const r = decodeDnstap(buf);
  assert.ok(!r.ok, 'expected a decode error');
  return r.error;
}

describe('dnstap protobuf: what real resolvers send', () => {
  for (const [file, identity, version] of [
    ['unbound-1.17.1.fstrm', 'resolver-1', 'unbound 1.17.1'],
    ['bind-9.18.49.fstrm', 'bind-1', 'BIND 9.18.49-1~deb12u3-Debian'],
  ] as const) {
    it(`decodes ${file} (captured with fstrm_capture): CQ/CR pairs over UDP and TCP from 127.0.0.1`, () => {
      const msgs = framesOf(file).map((f) => {
        const r = decodeDnstap(f);
        assert.ok(r.ok, r.ok ? '' : r.error.message);
        return r.value;
      });
      assert.equal(msgs.length, 4);
      for (const d of msgs) {
        assert.equal(d.type, 1);
        assert.equal(text(d.identity), identity);
        assert.equal(text(d.version), version);
        assert.equal(d.message?.socketFamily, SocketFamily.INET);
        assert.deepEqual(Array.from(d.message!.queryAddress!), [127, 0, 0, 1]);
      }
      assert.deepEqual(
        msgs.map((d) => [messageTypeName(d.message!.type), d.message!.socketProtocol]),
        [
          ['CLIENT_QUERY', SocketProtocol.UDP],
          ['CLIENT_RESPONSE', SocketProtocol.UDP],
          ['CLIENT_QUERY', SocketProtocol.TCP],
          ['CLIENT_RESPONSE', SocketProtocol.TCP],
        ],
      );
      const q = decodeMessage(msgs[0]!.message!.queryMessage!);
      assert.ok(q.ok);
      assert.equal(q.value.questions[0]!.name, 'www.example.test');
      const r = decodeMessage(msgs[3]!.message!.responseMessage!);
      assert.ok(r.ok);
      assert.equal(r.value.header.rcode, 3);
      assert.ok(msgs[0]!.message!.queryTimeSec! > 1_600_000_000);
      assert.ok(msgs[0]!.message!.queryTimeNsec! < 1e9);
    });
  }
});

describe('dnstap protobuf: round trips', () => {
  it('decode(encode(d)) gives d back, field for field', () => {
    fc.assert(
      fc.property(dnstapArb, (d) => {
        const r = decodeDnstap(encodeDnstap(d));
        assert.ok(r.ok, r.ok ? '' : r.error.message);
        assert.deepEqual(plainDecode(r.value), expectedDecode(d));
      }),
      { numRuns: RUNS },
    );
  });

  it('skips unknown fields of every wire type (groups too), at both levels', () => {
    fc.assert(
      fc.property(dnstapArb, fc.array(unknownFieldArb('top'), { maxLength: 3 }), fc.array(unknownFieldArb('message'), { maxLength: 3 }), (d, top, inner) => {
        const plain = encodeDnstap(d);
        let withUnknown: Uint8Array;
        if (d.message) {
          const rest = encodeDnstap({ ...d, message: undefined });
          const inner0 = cat(encodeMessageBody(d.message), ...inner);
          withUnknown = cat(...top, rest, varintBytes(14 * 8 + 2), varintBytes(inner0.length), inner0);
        } else withUnknown = cat(...top, plain);
        const r = decodeDnstap(withUnknown);
        assert.ok(r.ok, r.ok ? '' : r.error.message);
        assert.deepEqual(plainDecode(r.value), expectedDecode(d));
      }),
      { numRuns: RUNS / 2 },
    );
  });

  it('merges a message sent in two parts, later fields winning (protobuf rules)', () => {
    const a = encodeMessageBody({ type: 5, queryPort: 1, queryAddress: Uint8Array.of(192, 0, 2, 1) });
    const b = encodeMessageBody({ type: 6, queryPort: 2 });
    const buf = cat(varintBytes(14 * 8 + 2), varintBytes(a.length), a, varintBytes(14 * 8 + 2), varintBytes(b.length), b, varintBytes(15 * 8), varintBytes(1));
    const r = decodeDnstap(buf);
    assert.ok(r.ok);
    assert.equal(r.value.message!.type, 6);
    assert.equal(r.value.message!.queryPort, 2);
    assert.deepEqual(Array.from(r.value.message!.queryAddress!), [192, 0, 2, 1]);
  });

  it('scanDnstap + dnstapFromScan is decodeDnstap, and a scan is reusable', () => {
    const s = new DnstapScan();
    fc.assert(
      fc.property(dnstapArb, (d) => {
        const buf = encodeDnstap(d);
        assert.equal(scanDnstap(buf, s), null);
        const d2 = decodeDnstap(buf);
        assert.ok(d2.ok);
        assert.deepEqual(plainDecode(dnstapFromScan(s)), plainDecode(d2.value));
      }),
      { numRuns: RUNS / 4 },
    );
  });

  it('an empty message and a message-less payload are valid protobuf', () => {
    const r = decodeDnstap(encodeDnstap({ type: 1 }));
    assert.ok(r.ok);
    assert.equal(r.value.message, undefined);
    const m = decodeDnstap(encodeDnstap({ message: { type: MessageType.RESOLVER_QUERY } }));
    assert.ok(m.ok);
    assert.equal(m.value.message!.type, 3);
    assert.equal(m.value.message!.queryAddress, undefined);
  });
});

/** The Message body alone (what goes inside field 14). */
function encodeMessageBody(m: Parameters<typeof encodeDnstap>[0]['message'] & object): Uint8Array {
  const whole = encodeDnstap({ message: m, type: 1 });
  // whole = tag(14) len body tag(15) 1
  let p = 1;
  let len = 0;
  let mul = 1;
  for (;;) {
    const b = whole[p++]!;
    len += (b & 0x7f) * mul;
    if (b < 0x80) break;
    mul *= 128;
  }
  return whole.subarray(p, p + len);
}

describe('dnstap protobuf: errors name the problem and the offset', () => {
  const T = (f: number, wt: number) => varintBytes(f * 8 + wt);
  const TYPE = cat(T(15, 0), varintBytes(1));
  const cases: [string, Uint8Array, DnstapErrorCode, number][] = [
    ['empty payload (no Dnstap.type)', new Uint8Array(0), 'MISSING_FIELD', 0],
    ['identity only', cat(T(1, 2), varintBytes(1), Uint8Array.of(65)), 'MISSING_FIELD', 3],
    ['message without Message.type', cat(TYPE, T(14, 2), varintBytes(2), T(6, 0), varintBytes(53)), 'MISSING_FIELD', 2],
    ['varint cut off at the end of its message', cat(TYPE, T(14, 2), varintBytes(2), T(1, 0), Uint8Array.of(0x85), Uint8Array.of(0x01)), 'TRUNCATED', 5],
    ['11-byte varint', cat(Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01)), 'BAD_VARINT', 0],
    ['field number 0', cat(Uint8Array.of(0x00, 0x01), TYPE), 'BAD_TAG', 0],
    ['wire type 6', cat(TYPE, Uint8Array.of((7 << 3) | 6)), 'BAD_WIRE_TYPE', 2],
    ['wire type 7 inside the message', cat(TYPE, T(14, 2), varintBytes(1), Uint8Array.of((15 << 3) | 7)), 'BAD_WIRE_TYPE', 4],
    ['Dnstap.type as bytes', cat(T(15, 2), varintBytes(1), Uint8Array.of(1)), 'BAD_WIRE_TYPE', 0],
    ['query_message as a varint', cat(TYPE, T(14, 2), varintBytes(4), T(1, 0), varintBytes(5), T(10, 0), varintBytes(1)), 'BAD_WIRE_TYPE', 6],
    ['query_time_nsec as a varint', cat(TYPE, T(14, 2), varintBytes(4), T(1, 0), varintBytes(5), T(9, 0), varintBytes(1)), 'BAD_WIRE_TYPE', 6],
    ['message longer than the payload', cat(TYPE, T(14, 2), varintBytes(50), T(1, 0), varintBytes(5)), 'TRUNCATED', 3],
    ['query_message longer than its message', cat(TYPE, T(14, 2), varintBytes(5), T(1, 0), varintBytes(5), T(10, 2), varintBytes(9), Uint8Array.of(0)), 'TRUNCATED', 7],
    ['fixed32 cut off', cat(TYPE, T(14, 2), varintBytes(4), T(1, 0), varintBytes(5), T(9, 5), Uint8Array.of(1)), 'TRUNCATED', 7],
    ['end of a group never started', cat(TYPE, T(99, 4)), 'BAD_TAG', 2],
    ['group closed by another field', cat(TYPE, T(99, 3), T(98, 4)), 'BAD_TAG', 4],
    ['groups nested 17 deep', cat(TYPE, ...Array.from({ length: 17 }, () => T(99, 3))), 'TOO_DEEP', 34],
    ['unknown 64-bit field cut off', cat(TYPE, T(99, 1), Uint8Array.of(1, 2)), 'TRUNCATED', 4],
  ];
  for (const [name, buf, code, offset] of cases) {
    it(`${name}: ${code} at ${offset}`, () => {
      const e = errorOf(buf);
      assert.equal(e.code, code, e.message);
      assert.equal(e.offset, offset, e.message);
      assert.ok(e.message.length > 10);
    });
  }

  it('the encoder refuses values protobuf cannot carry', () => {
    assert.throws(() => encodeDnstap({ message: { type: -1 } }), RangeError);
    assert.throws(() => encodeDnstap({ message: { type: 5, queryPort: 2 ** 32 } }), RangeError);
    assert.throws(() => encodeDnstap({ message: { type: 5, queryTimeSec: 1.5 } }), RangeError);
  });
});

describe('dnstap protobuf: hostile bytes', () => {
  const s = new DnstapScan();
  /** Whatever decode accepts re-encodes to the same decode; errors stay inside the input. */
  function check(buf: Uint8Array): void {
    const r = decodeDnstap(buf);
    if (!r.ok) {
      assert.ok(r.error.offset >= 0 && r.error.offset <= buf.length, `offset ${r.error.offset} outside ${buf.length} bytes`);
      assert.equal(scanDnstap(buf, s)?.code, r.error.code);
      return;
    }
    let encoded: Uint8Array;
    try {
      encoded = encodeDnstap(toInput(r.value));
    } catch (e) {
      // Enum values past int32 or times past 2^53 decode (protobuf allows the bytes) but are not ours to encode.
      assert.ok(e instanceof RangeError);
      return;
    }
    const again = decodeDnstap(encoded);
    assert.ok(again.ok);
    assert.deepEqual(plainDecode(again.value), plainDecode(r.value));
  }

  it('random bytes never throw', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => check(b)), { numRuns: RUNS * 5 });
  });

  it('mutations of valid payloads (real captures and generated) never throw', () => {
    const seeds = [...framesOf('unbound-1.17.1.fstrm'), ...framesOf('bind-9.18.49.fstrm')].map((f) => Uint8Array.from(f));
    const payload = fc.oneof(fc.constantFrom(...seeds), dnstapArb.map(encodeDnstap));
    const mutation = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.constantFrom('set', 'cut', 'insert')), { minLength: 1, maxLength: 4 });
    fc.assert(
      fc.property(payload, mutation, (p, muts) => {
        let b: Uint8Array = Uint8Array.from(p);
        for (const [at, v, op] of muts) {
          const i = b.length === 0 ? 0 : at % b.length;
          if (op === 'set' && b.length) b[i] = v;
          else if (op === 'cut') b = b.subarray(0, i);
          else b = cat(b.subarray(0, i), Uint8Array.of(v), b.subarray(i));
        }
        check(b);
      }),
      { numRuns: RUNS * 5 },
    );
  });
});

function toInput(d: ReturnType<typeof dnstapFromScan>): Parameters<typeof encodeDnstap>[0] {
  const m = d.message;
  return {
    identity: d.identity,
    version: d.version,
    extra: d.extra,
    type: d.type,
    ...(m ? { message: Object.fromEntries(Object.entries(m).filter(([, v]) => v !== undefined)) as typeof m } : {}),
  };
}
