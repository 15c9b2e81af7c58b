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
import { emptyQueryInfo, makeResponseFromQuery, readQuery, readQueryInto } from './query.ts';
import { messageArb, queryMessageArb } from './arbitraries.ts';
import { DIG_AAAA_NOEDNS, DIG_A_COOKIE, DIG_MX_DO, HAND_RESPONSE } from './packets.ts';
import { Rng } from '../../core/index.ts';

const toHex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && Buffer.compare(a, b) === 0;

const LONGER = new Uint8Array(70_000);
const INTO = emptyQueryInfo();

/** Everything the decoders promise about one input; throws (with the input) if broken. */
function checkInput(buf: Uint8Array): boolean {
  try {
    const d = decodeMessage(buf);
    const q = readQuery(buf);
    const resp = makeResponseFromQuery(buf, 3);
    nameToText(buf, 12);
    if (q.ok !== (resp !== undefined)) assert.fail('makeResponseFromQuery and readQuery disagree on whether this is a query');
    // Read where it arrived, in a reused buffer longer than the message (a server's batch
    // slot, garbage after it): the same verdict and the same facts.
    LONGER.set(buf);
    LONGER.fill(0xc0, buf.length, buf.length + 64);
    const e = readQueryInto(LONGER, INTO, buf.length);
    if (q.ok) assert.ok(e === null && JSON.stringify(INTO) === JSON.stringify(q.value), `readQueryInto(buf[0, ${buf.length}) of a longer buffer) differs from readQuery: ${e?.code}`);
    else assert.equal(e?.code, q.error.code, 'readQueryInto of a longer buffer gives another error');
    if (!d.ok) {
      if (!(d.error.offset >= 0 && d.error.offset <= buf.length)) assert.fail(`error offset ${d.error.offset} outside the packet`);
      return false;
    }
    if (resp !== undefined && !decodeMessage(resp).ok) assert.fail('response to an accepted query does not decode');
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
    if (!sameBytes(encodeMessage(again.value), once)) assert.fail('encode(decode(encode(m))) differs from encode(m)');
    return true;
  } catch (err) {
    throw new Error(`input ${toHex(buf)}: ${(err as Error).message}`, { cause: err });
  }
}

/** The seeded generator as a function, so a failure can be replayed from its seed. */
function rng(seed: number): () => number {
  const g = new Rng(seed);
  return () => g.next();
}

// Mutations happen in one scratch buffer: a fresh ArrayBuffer per input made the fuzzer
// spend most of its time allocating and collecting.
const SCRATCH = new Uint8Array(4096);
const INTERESTING = [0, 1, 0x3f, 0x40, 0x7f, 0x80, 0xc0, 0xff];

/** A mutated copy of `src` as a view of SCRATCH (valid until the next call). */
function mutate(src: Uint8Array, r: () => number): Uint8Array {
  const b = SCRATCH;
  b.set(src);
  let len = src.length;
  const ops = 1 + Math.floor(r() * 4);
  for (let k = 0; k < ops; k++) {
    const at = Math.floor(r() * Math.max(1, len));
    switch (Math.floor(r() * 8)) {
      case 0: // flip one bit
        if (len) b[at] = b[at]! ^ (1 << Math.floor(r() * 8));
        break;
      case 1: // random byte
        if (len) b[at] = Math.floor(r() * 256);
        break;
      case 2: // an interesting byte: label/pointer boundaries, counts
        if (len) b[at] = INTERESTING[Math.floor(r() * 8)]!;
        break;
      case 3: // a compression pointer to anywhere (often backwards, sometimes to itself)
        if (len > 1) {
          const target = r() < 0.3 ? at : Math.floor(r() * len);
          b[at] = 0xc0 | (target >> 8);
          if (at + 1 < len) b[at + 1] = target & 0xff;
        }
        break;
      case 4: // truncate
        len = at;
        break;
      case 5: {
        // insert random bytes
        const n = 1 + Math.floor(r() * 4);
        if (len + n > b.length) break;
        b.copyWithin(at + n, at, len);
        for (let i = 0; i < n; i++) b[at + i] = Math.floor(r() * 256);
        len += n;
        break;
      }
      case 6: {
        // duplicate a slice (repeats names and records)
        const n = Math.min(Math.floor(r() * 16), len);
        const from = Math.floor(r() * Math.max(1, len - n));
        if (len + 2 * n > b.length) break;
        b.copyWithin(len + n, from, from + n); // stash it past where the shifted tail ends
        b.copyWithin(at + n, at, len);
        b.copyWithin(at, len + n, len + 2 * n);
        len += n;
        break;
      }
      default: // bump a section count
        if (len >= 12) b[4 + 2 * Math.floor(r() * 4) + 1] = Math.floor(r() * 4);
    }
  }
  return b.subarray(0, len);
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
  // Seeds of the sizes seen on the wire (most DNS packets are under 200 bytes), so the
  // budget buys many mutations rather than a few slow giant ones.
  const seeds: Uint8Array[] = [DIG_A_COOKIE, DIG_AAAA_NOEDNS, DIG_MX_DO, HAND_RESPONSE];
  const small = (b: Uint8Array) => b.length <= 200;
  seeds.push(...fc.sample(messageArb, { numRuns: 600, seed: 42 }).map((m) => encodeMessage(m)).filter(small).slice(0, 150));
  seeds.push(...fc.sample(queryMessageArb, { numRuns: 200, seed: 43 }).map((m) => encodeMessage(m)).filter(small).slice(0, 50));
  const seed = Number(process.env.WIRE_FUZZ_SEED ?? 20260101);
  const r = rng(seed);
  const target = Number(process.env.WIRE_FUZZ_RUNS ?? 300_000);
  // A time bound, not a time limit: on a loaded machine fewer inputs run, and the count is printed.
  const deadline = Date.now() + Number(process.env.WIRE_FUZZ_MS ?? 10_000);
  let runs = 0;
  let accepted = 0;
  const cpu0 = process.cpuUsage();
  while (runs < target && Date.now() < deadline) {
    for (let i = 0; i < 1000; i++, runs++) {
      const input = mutate(seeds[Math.floor(r() * seeds.length)]!, r);
      if (checkInput(input)) accepted++;
    }
  }
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(`# fuzz: ${runs} inputs, ${accepted} decoded, ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s CPU, seed ${seed}\n`);
  // Mutations must still reach the decoders' accepting paths, or the fuzz tests nothing.
  assert.ok(accepted > runs / 50, `only ${accepted} of ${runs} mutated inputs decoded (seed ${seed})`);
  assert.ok(runs >= Math.min(target, 20_000), `only ${runs} inputs within the time bound (seed ${seed})`);
});
