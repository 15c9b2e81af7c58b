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

test('a query lost on the way is asked again after the upstream RTO (its measured round trip), not the whole time-out', { timeout: 15_000 }, async () => {
  // An upstream on loopback that drops the first copy of every query for lost*.example.
  const up = dgram.createSocket('udp4');
  const copies = new Map<string, number>();
  up.on('message', (msg, r) => {
    const name = msg.subarray(13, 13 + msg[12]!).toString();
    const n = (copies.get(name) ?? 0) + 1;
    copies.set(name, n);
    if (name.startsWith('lost') && n === 1) return;
    msg[2]! |= 0x80;
    up.send(msg, r.port, '127.0.0.1');
  });
  await new Promise<void>((resolve) => up.bind(0, '127.0.0.1', () => resolve()));
  // 20 s per attempt: were the first attempt to wait that long, the test's 15 s would end first.
  const fw = new Forwarder({ upstreams: [{ host: '127.0.0.1', port: up.address().port }], timeoutMs: 20_000, downAfter: 5, probeIntervalMs: 1000, log: () => undefined });
  fw.start();
  const ask = (name: string, id: number) =>
    new Promise<Buffer>((resolve) => {
      const q = query(id, name, 0);
      fw.relay(q, q.length, q.length, false, { send: (b, _p, _a, start = 0, end = b.length) => resolve(Buffer.from(b.subarray(start, end))) }, 1000, '127.0.0.1');
    });
  try {
    assert.equal(fw.stats()[0]!.rtoMs, 20_000, 'no round trip measured yet: the whole time-out');
    for (let i = 0; i < 20; i++) await ask(`n${i}.example`, i);
    const rto = fw.stats()[0]!.rtoMs!;
    assert.ok(rto >= 50 && rto < 20_000, `RTO from 20 answered queries: ${rto} ms`);
    const a = await ask('lost1.example', 4242);
    assert.equal((a[0]! << 8) | a[1]!, 4242);
    assert.equal(a[3]! & 0x0f, 0, 'the answer, not SERVFAIL');
    assert.equal(copies.get('lost1'), 2, 'sent twice: the first copy was lost');
    const s = fw.stats()[0]!;
    assert.equal(s.timeouts, 1);
    assert.ok(s.rtoMs! >= Math.min(20_000, rto * 2), 'backed off after the time-out');
  } finally {
    await fw.stop();
    up.close();
  }
});
