/**
 * Decoders face hostile bytes from the Internet: they must never throw, never hang, and
 * whatever they accept must re-encode to a fixed point. Mutation fuzzing from valid
 * packets reaches deep into records; plain random bytes rarely get past the header.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeMessage } from './decode.ts';
import { encodeMessage } from './encode.ts';
import { nameToText, normalizeName } from './name.ts';
import { makeResponseFromQuery, readQuery } from './query.ts';
import { messageArb, queryMessageArb } from './arbitraries.ts';
import { DIG_AAAA_NOEDNS, DIG_A_COOKIE, DIG_MX_DO, HAND_RESPONSE } from './packets.ts';

const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Everything the decoders promise about one input; throws (with the input) if broken. */
function checkInput(buf: Uint8Array): boolean {
  try {
    const d = decodeMessage(buf);
    const q = readQuery(buf);
    const resp = makeResponseFromQuery(buf, 3);
    nameToText(buf, 12);
    if (q.ok) {
      assert.ok(resp !== undefined, 'readQuery accepted but no response was built');
      assert.ok(decodeMessage(resp).ok, 'response to an accepted query does not decode');
    }
    if (!d.ok) {
      assert.ok(d.error.offset >= 0 && d.error.offset <= buf.length, `error offset ${d.error.offset} outside the packet`);
      return false;
    }
    const m = d.value;
    if (!m.header.qr && m.questions.length === 1) {
      assert.ok(q.ok, `decodeMessage accepts this query but readQuery says ${q.ok ? '' : q.error.code}`);
      assert.equal(q.value.qname, normalizeName(m.questions[0]!.name));
      assert.equal(q.value.qtype, m.questions[0]!.type);
      assert.equal(q.value.edns, m.edns !== undefined);
      assert.equal(q.value.do, m.edns?.do ?? false);
    }
    // What was accepted re-encodes, and encoding is a fixed point after one round.
    const once = encodeMessage(m);
    const again = decodeMessage(once);
    assert.ok(again.ok, 're-encoded message does not decode');
    assert.deepEqual(encodeMessage(again.value), once);
    return true;
  } catch (err) {
    throw new Error(`input ${toHex(buf)}: ${(err as Error).message}`, { cause: err });
  }
}

/** mulberry32: a small seeded PRNG, so a failure can be replayed from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(src: Uint8Array, r: () => number): Uint8Array {
  let b = Uint8Array.from(src);
  const ops = 1 + Math.floor(r() * 4);
  for (let k = 0; k < ops; k++) {
    const at = Math.floor(r() * Math.max(1, b.length));
    switch (Math.floor(r() * 8)) {
      case 0: // flip one bit
        if (b.length) b[at] = b[at]! ^ (1 << Math.floor(r() * 8));
        break;
      case 1: // random byte
        if (b.length) b[at] = Math.floor(r() * 256);
        break;
      case 2: // an interesting byte: label/pointer boundaries, counts
        if (b.length) b[at] = [0, 1, 0x3f, 0x40, 0x7f, 0x80, 0xc0, 0xff][Math.floor(r() * 8)]!;
        break;
      case 3: // a compression pointer to anywhere (often backwards, sometimes to itself)
        if (b.length > 1) {
          const target = r() < 0.3 ? at : Math.floor(r() * b.length);
          b[at] = 0xc0 | (target >> 8);
          if (at + 1 < b.length) b[at + 1] = target & 0xff;
        }
        break;
      case 4: // truncate
        b = b.subarray(0, at);
        break;
      case 5: {
        // insert random bytes
        const n = 1 + Math.floor(r() * 4);
        const out = new Uint8Array(b.length + n);
        out.set(b.subarray(0, at));
        for (let i = 0; i < n; i++) out[at + i] = Math.floor(r() * 256);
        out.set(b.subarray(at), at + n);
        b = out;
        break;
      }
      case 6: {
        // duplicate a slice (repeats names and records)
        const len = Math.floor(r() * 16);
        const from = Math.floor(r() * Math.max(1, b.length - len));
        const out = new Uint8Array(b.length + len);
        out.set(b.subarray(0, at));
        out.set(b.subarray(from, from + len), at);
        out.set(b.subarray(at), at + len);
        b = out.subarray(0, b.length + Math.min(len, b.subarray(from, from + len).length));
        break;
      }
      default: // bump a section count
        if (b.length >= 12) b[4 + 2 * Math.floor(r() * 4) + 1] = Math.floor(r() * 4);
    }
  }
  return b;
}

test('property: decoders never throw on arbitrary bytes', () => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 600 }), (b) => void checkInput(b)), { numRuns: 20000 });
  // Random bytes behind a plausible header: one question, a few records.
  const plausible = fc.tuple(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ maxLength: 200 })).map(([h, body]) => {
    const b = new Uint8Array(12 + body.length);
    b.set(h);
    b.set([0, 1, 0, h[2]! & 3, 0, h[3]! & 1, 0, h[0]! & 1], 4);
    b.set(body, 12);
    return b;
  });
  fc.assert(fc.property(plausible, (b) => void checkInput(b)), { numRuns: 20000 });
});

test('fuzz: 300k mutations of valid packets in bounded time; nothing throws, accepted input re-encodes to a fixed point', () => {
  const seeds: Uint8Array[] = [DIG_A_COOKIE, DIG_AAAA_NOEDNS, DIG_MX_DO, HAND_RESPONSE];
  for (const m of fc.sample(messageArb, { numRuns: 150, seed: 42 })) seeds.push(encodeMessage(m));
  for (const m of fc.sample(queryMessageArb, { numRuns: 50, seed: 43 })) seeds.push(encodeMessage(m));
  const seed = Number(process.env.WIRE_FUZZ_SEED ?? 20260101);
  const r = rng(seed);
  const target = Number(process.env.WIRE_FUZZ_RUNS ?? 300_000);
  const deadline = Date.now() + Number(process.env.WIRE_FUZZ_MS ?? 8000);
  let runs = 0;
  let accepted = 0;
  while (runs < target && Date.now() < deadline) {
    for (let i = 0; i < 1000; i++, runs++) {
      const input = mutate(seeds[Math.floor(r() * seeds.length)]!, r);
      if (checkInput(input)) accepted++;
    }
  }
  process.stdout.write(`# fuzz: ${runs} inputs, ${accepted} accepted, seed ${seed}\n`);
  // Mutations must still reach the decoders' accepting paths, or the fuzz tests nothing.
  assert.ok(accepted > runs / 50, `only ${accepted} of ${runs} mutated inputs decoded (seed ${seed})`);
  assert.ok(runs >= Math.min(target, 100_000), `only ${runs} inputs within the time bound (seed ${seed})`);
});
