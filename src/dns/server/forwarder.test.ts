/**
 * The forwarder's pending table: more queries in flight than its first slots (it grows),
 * queries longer than an arena slot, answers in another order than the queries; every
 * client gets its own answer back, byte for byte, with its own ID. The upstream is a real
 * UDP socket on loopback that holds every query until it has them all.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { Forwarder, type ReplyTarget } from './forwarder.ts';

/** A query for `name` (A, RD), with an EDNS padding option of `pad` bytes when pad > 0. */
function query(id: number, name: string, pad: number): Buffer {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const head = Buffer.from([id >> 8, id & 0xff, 1, 0, 0, 1, 0, 0, 0, 0, 0, pad > 0 ? 1 : 0]);
  const q = Buffer.concat([head, ...labels, Buffer.from([0, 0, 1, 0, 1])]);
  if (pad === 0) return q;
  const opt = Buffer.alloc(11 + 4 + pad);
  opt[2] = 41; // OPT
  opt.writeUInt16BE(1232, 3);
  opt.writeUInt16BE(4 + pad, 9);
  opt.writeUInt16BE(12, 11); // Padding (RFC 7830)
  opt.writeUInt16BE(pad, 13);
  return Buffer.concat([q, opt]);
}

test('3,000 queries in flight, some longer than an arena slot, answered in reverse order: each client gets its own answer and ID', async () => {
  const N = 3000;
  const up = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 << 20 });
  const held: { msg: Buffer; port: number }[] = [];
  up.on('message', (msg, r) => {
    held.push({ msg, port: r.port });
    if (held.length === N) {
      for (const h of held.reverse()) {
        h.msg[2]! |= 0x80; // QR: the query itself, as its answer
        up.send(h.msg, h.port, '127.0.0.1');
      }
    }
  });
  await new Promise<void>((resolve) => up.bind(0, '127.0.0.1', () => resolve()));
  const fw = new Forwarder({ upstreams: [{ host: '127.0.0.1', port: up.address().port }], timeoutMs: 20_000, downAfter: 5, probeIntervalMs: 1000, log: () => undefined });
  fw.start();
  const sent = new Map<string, Buffer>();
  const got = new Map<string, Buffer>();
  let done!: () => void;
  const all = new Promise<void>((resolve) => (done = resolve));
  const target: ReplyTarget = {
    send(bytes, port, address, start = 0, end = bytes.length) {
      // The forwarder's buffer is reused after this call: keep a copy.
      got.set(`${address}:${port}`, Buffer.from(bytes.subarray(start, end)));
      if (got.size === N) done();
    },
  };
  try {
    for (let i = 0; i < N; i++) {
      const q = query(i % 65536, `n${i}.Example.TEST`, i % 7 === 0 ? 300 + (i % 50) : 0);
      const client = `127.0.${i >> 8}.${i & 255}`;
      sent.set(`${client}:${1000 + (i % 50)}`, Buffer.from(q));
      // The caller's buffer may be overwritten at once (a batch slot): the forwarder copies it.
      fw.relay(q, q.length, q.length - (q[11] === 1 ? 11 + 4 + 300 + (i % 50) : 0), false, target, 1000 + (i % 50), client);
      q.fill(0xee);
      // Let the upstream (same thread) read each 100 before more come: a socket buffer holds a few hundred.
      if (i % 100 === 99) while (held.length < i + 1) await new Promise((resolve) => setTimeout(resolve, 1));
    }
    assert.equal(fw.inFlight, N);
    await all;
    for (const [key, q] of sent) {
      const a = got.get(key);
      assert.ok(a, `no answer for ${key}`);
      const want = Buffer.from(q);
      want[2]! |= 0x80;
      assert.deepEqual(a, want, `answer for ${key}: its own ID and bytes`);
    }
    assert.equal(fw.inFlight, 0);
  } finally {
    await fw.stop();
    up.close();
  }
});
