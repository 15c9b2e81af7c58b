import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CompressionTable, SUFFIX_HASH, hashSuffixes } from './compress.ts';
import { NAME_WIRE, parseNameText } from './name.ts';
import { decodeMessage } from './decode.ts';
import { encodeMessage } from './encode.ts';
import type { DnsMessage } from './types.ts';

function put(out: Uint8Array, at: number, text: string): number {
  const wl = parseNameText(text);
  assert.equal(typeof wl, 'number');
  out.set(NAME_WIRE.subarray(0, wl as number), at);
  hashSuffixes();
  return wl as number;
}

test('a hash collision never yields a pointer to a different name', () => {
  const out = new Uint8Array(64);
  const t = new CompressionTable(2);
  put(out, 0, 'example.com');
  t.add(12345, 0); // pretend "example.com" hashed to 12345
  put(out, 20, 'Example.com'); // differs by case only
  assert.equal(t.find(out, 12345, 0), -1);
  put(out, 40, 'example.com');
  assert.equal(t.find(out, 12345, 0), 0);
  assert.equal(t.find(out, SUFFIX_HASH[0]!, 0), -1); // the real hash was never added
  t.rollback(0);
  assert.equal(t.find(out, 12345, 0), -1);
});

test('2400 records in one message near 64 KiB: compression stays correct past offset 0x4000', () => {
  const answers = Array.from({ length: 2400 }, (_, i) => ({
    name: `host-${i}.zone${i % 7}.example`,
    type: 1,
    class: 1,
    ttl: 60,
    data: { kind: 'A' as const, address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` },
  }));
  const m: DnsMessage = {
    header: { id: 1, qr: true, opcode: 0, aa: true, tc: false, rd: false, ra: false, z: false, ad: false, cd: false, rcode: 0 },
    questions: [{ name: 'example', type: 252, class: 1 }],
    answers,
    authority: [],
    additional: [],
  };
  const wire = encodeMessage(m);
  assert.ok(wire.length > 0x4000 && wire.length <= 0xffff);
  const back = decodeMessage(wire);
  assert.ok(back.ok);
  assert.deepEqual(back.value, m);
  assert.throws(() => encodeMessage({ ...m, answers: [...answers, ...answers, ...answers] }), /exceeds 65535/);
});
