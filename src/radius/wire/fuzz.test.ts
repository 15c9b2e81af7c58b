/**
 * The decoder faces the Internet: whatever arrives, it must return a value or a
 * WireError, never throw, and never report an offset outside the datagram. Each property
 * runs for a bounded time (about two seconds) rather than a fixed count.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodePacket } from './decode.ts';
import { verifyRequest } from './authenticator.ts';
import { encodePacket } from './encode.ts';
import { packetArb } from './arbitraries.ts';
import { RADCLIENT_INTERIM, hex } from './packets.ts';

const CODES = new Set([
  'TOO_SHORT',
  'BAD_LENGTH',
  'TRUNCATED',
  'ATTRIBUTE_TRUNCATED',
  'BAD_ATTRIBUTE_LENGTH',
  'BAD_ATTRIBUTE_TYPE',
  'BAD_ATTRIBUTE_VALUE',
  'DUPLICATE_MESSAGE_AUTHENTICATOR',
]);

const TIME_LIMIT = { numRuns: 1_000_000, interruptAfterTimeLimit: 2000 };

function check(buf: Uint8Array): void {
  const r = decodePacket(buf);
  if (r.ok) {
    assert.ok(r.value.bytes.length >= 20 && r.value.bytes.length <= Math.min(4096, buf.length));
    // Verification must not throw either, whatever the packet.
    verifyRequest(r.value, 'secret', { requireMessageAuthenticator: true });
  } else {
    assert.ok(CODES.has(r.error.code), r.error.code);
    assert.ok(r.error.offset >= 0 && r.error.offset <= buf.length, `offset ${r.error.offset} outside 0..${buf.length}`);
    assert.ok(r.error.message.length > 0);
  }
}

test('arbitrary bytes never make the decoder throw', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 5000 }), (b) => check(b)),
    TIME_LIMIT,
  );
});

test('arbitrary bytes behind a plausible header never make the decoder throw', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 0xffff }), fc.uint8Array({ maxLength: 600 }), (len, body) => {
      const b = new Uint8Array(20 + body.length);
      b[0] = 4;
      b[2] = len >> 8;
      b[3] = len & 0xff;
      b.set(body, 20);
      check(b);
    }),
    TIME_LIMIT,
  );
});

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('extend' as const), bytes: fc.uint8Array({ maxLength: 40 }) }),
);

type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(src: Uint8Array, ms: Mutation[]): Uint8Array {
  let b = Uint8Array.from(src);
  for (const m of ms) {
    if (b.length === 0) break;
    if (m.kind === 'extend') {
      b = Uint8Array.from([...b, ...m.bytes]);
      continue;
    }
    const at = m.at % b.length;
    if (m.kind === 'flip') b[at]! ^= 1 << m.bit;
    else if (m.kind === 'set') b[at] = m.value;
    else b = b.subarray(0, at);
  }
  return b;
}

test('mutated valid packets (flipped bits, changed octets, cuts, trailing junk) never make the decoder throw', () => {
  const real = hex(RADCLIENT_INTERIM.hex);
  fc.assert(
    fc.property(fc.oneof(fc.constant(real), packetArb.map(encodePacket)), fc.array(mutation, { minLength: 1, maxLength: 6 }), (src, ms) => {
      check(mutate(src, ms));
    }),
    TIME_LIMIT,
  );
});
