/**
 * Test-only: fast-check generators for dnstap payloads and Frame Streams, and a canonical
 * form of a decoded Dnstap to compare against what was encoded.
 */
import fc from 'fast-check';
import { encodeDataFrame, encodeControl, ControlType, DNSTAP_CONTENT_TYPE } from './fstrm.ts';
import type { Dnstap, DnstapInput, DnstapMessage } from './dnstap.ts';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
const enumValue = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 16 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0x7fffffff }) });
const bytes = (max: number) => fc.uint8Array({ maxLength: max });
const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });

export const messageArb: fc.Arbitrary<Partial<DnstapMessage> & { type: number }> = fc
  .record({
    type: enumValue,
    socketFamily: opt(enumValue),
    socketProtocol: opt(enumValue),
    queryAddress: opt(fc.oneof(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 16, maxLength: 16 }), bytes(20))),
    responseAddress: opt(fc.oneof(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 16, maxLength: 16 }))),
    queryPort: opt(fc.oneof(fc.integer({ min: 0, max: 0xffff }), u32)),
    responsePort: opt(fc.integer({ min: 0, max: 0xffff })),
    queryTimeSec: opt(fc.oneof(fc.integer({ min: 1_500_000_000, max: 2_500_000_000 }), fc.maxSafeNat())),
    queryTimeNsec: opt(fc.oneof(fc.integer({ min: 0, max: 999_999_999 }), u32)),
    queryMessage: opt(bytes(300)),
    queryZone: opt(bytes(40)),
    responseTimeSec: opt(fc.integer({ min: 0, max: 2 ** 40 })),
    responseTimeNsec: opt(fc.integer({ min: 0, max: 999_999_999 })),
    responseMessage: opt(bytes(600)),
  })
  .map((m) => ({ ...m }));

export const dnstapArb: fc.Arbitrary<DnstapInput> = fc
  .record({
    identity: opt(bytes(40)),
    version: opt(bytes(40)),
    extra: opt(bytes(40)),
    type: fc.oneof({ weight: 5, arbitrary: fc.constant(1) }, { weight: 1, arbitrary: enumValue }),
    message: opt(messageArb),
  })
  .map((d) => ({ ...d }));

const MESSAGE_KEYS = [
  'socketFamily',
  'socketProtocol',
  'queryAddress',
  'responseAddress',
  'queryPort',
  'responsePort',
  'queryTimeSec',
  'queryTimeNsec',
  'queryMessage',
  'queryZone',
  'responseTimeSec',
  'responseTimeNsec',
  'responseMessage',
] as const;

/** What decodeDnstap must give for an encoded input: absent fields undefined, bytes as plain arrays. */
export function expectedDecode(d: DnstapInput): unknown {
  const b = (v: Uint8Array | string | undefined) => (v === undefined ? undefined : Array.from(typeof v === 'string' ? Buffer.from(v) : v));
  const m = d.message;
  return {
    identity: b(d.identity),
    version: b(d.version),
    extra: b(d.extra),
    type: d.type ?? 1,
    message: m === undefined ? undefined : Object.fromEntries([['type', m.type], ...MESSAGE_KEYS.map((k) => [k, m[k] instanceof Uint8Array ? Array.from(m[k] as Uint8Array) : m[k]])]),
  };
}

/** A decoded Dnstap with byte views turned into plain arrays, to compare with expectedDecode. */
export function plainDecode(d: Dnstap): unknown {
  const b = (v: Uint8Array | undefined) => (v === undefined ? undefined : Array.from(v));
  const m = d.message;
  return {
    identity: b(d.identity),
    version: b(d.version),
    extra: b(d.extra),
    type: d.type,
    message: m === undefined ? undefined : Object.fromEntries([['type', m.type], ...MESSAGE_KEYS.map((k) => [k, m[k] instanceof Uint8Array ? Array.from(m[k] as Uint8Array) : m[k]])]),
  };
}

/** A protobuf field of any wire type with a field number dnstap.proto does not use at that level. */
export const unknownFieldArb = (level: 'top' | 'message'): fc.Arbitrary<Uint8Array> => {
  const field = level === 'top' ? fc.oneof(fc.integer({ min: 4, max: 13 }), fc.integer({ min: 16, max: 5000 })) : fc.integer({ min: 15, max: 5000 });
  return fc.tuple(field, fc.integer({ min: 0, max: 4 }), bytes(12), fc.maxSafeNat()).map(([f, kind, payload, n]) => {
    const tag = (wt: number) => varintBytes(f * 8 + wt);
    switch (kind) {
      case 0:
        return cat(tag(0), varintBytes(n));
      case 1:
        return cat(tag(1), new Uint8Array(8).fill(7));
      case 2:
        return cat(tag(2), varintBytes(payload.length), payload);
      case 3:
        // A group holding one varint field, closed by its end tag.
        return cat(tag(3), varintBytes(1 * 8), varintBytes(n), tag(4));
      default:
        return cat(tag(5), new Uint8Array([1, 2, 3, 4]));
    }
  });
};

export function varintBytes(v: number): Uint8Array {
  const out: number[] = [];
  while (v >= 128) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Uint8Array.from(out);
}

export function cat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts));
}

/** A bidirectional writer's whole stream: READY, START, the frames, STOP. */
export function writerStream(payloads: Uint8Array[], contentType = DNSTAP_CONTENT_TYPE): Uint8Array {
  return cat(encodeControl(ControlType.READY, [contentType]), encodeControl(ControlType.START, [contentType]), ...payloads.map(encodeDataFrame), encodeControl(ControlType.STOP));
}

/** Cuts `buf` at the given points (any order, duplicates allowed) into chunks. */
export function split(buf: Uint8Array, cuts: number[]): Uint8Array[] {
  const at = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const c of [...at, buf.length]) {
    out.push(buf.subarray(prev, c));
    prev = c;
  }
  return out;
}
