/**
 * udp-batch over real loopback sockets, both implementations (the addon and the dgram
 * fallback): framing of batches (property test), dig, IPv6, oversize datagrams, a peer
 * that stops reading, close while busy, SO_REUSEPORT, worker-thread teardown.
 * The addon must be built (scripts/test.sh builds it): a missing addon fails here.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { nativeUdpBatch, openUdpBatch, type Datagrams, type UdpBatchSocket } from './udp-batch.ts';

const IMPLS = ['native', 'dgram'] as const;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function client(host = '127.0.0.1', bindTo?: string): Promise<dgram.Socket> {
  const c = dgram.createSocket({ type: host.includes(':') ? 'udp6' : 'udp4', recvBufferSize: 8 << 20 });
  return new Promise((resolve) => c.bind(0, bindTo ?? host, () => resolve(c)));
}

/** The NXDOMAIN answer to a one-question query at b[o, o+n): header + question. */
function nxdomain(b: Uint8Array, o: number, n: number): number {
  let p = o + 12;
  while (p < o + n && b[p] !== 0) p += b[p]! + 1;
  p += 5;
  b[o + 2] = (b[o + 2]! & 0x01) | 0x80;
  b[o + 3] = 0x83;
  b.fill(0, o + 6, o + 12);
  return p;
}

test('the addon is built and loads', () => {
  const n = nativeUdpBatch();
  assert.ok('addon' in n, 'error' in n ? n.error : '');
});

test('without the addon: dgram, and one clear log line however many sockets open', async () => {
  const mod = new URL('./udp-batch.ts', import.meta.url).href;
  const code = `const u = await import(${JSON.stringify(mod)});
    const a = await u.openUdpBatch({ host: '127.0.0.1', port: 0, onBatch() {} });
    const b = await u.openUdpBatch({ host: '127.0.0.1', port: 0, onBatch() {} });
    console.log(a.impl, b.impl); await a.close(); await b.close();`;
  const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) =>
    execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { env: { ...process.env, SAKIMORI_UDP_BATCH_ADDON: '/nonexistent/udp_batch.node' } }, (err, stdout, stderr) =>
      err ? reject(err) : resolve({ stdout, stderr }),
    ),
  );
  assert.equal(stdout.trim(), 'dgram dgram');
  const lines = stderr.split('\n').filter((l) => l.includes('udp-batch'));
  assert.equal(lines.length, 1, stderr);
  assert.match(lines[0]!, /\/nonexistent\/udp_batch\.node not built \(run: node native\/udp-batch\/build\.js.*UDP uses Node's dgram/);
});

for (const impl of IMPLS) {
  test(`${impl}: batches round-trip exactly (random datagrams, sizes, senders)`, async () => {
    const got: { from: string; bytes: Buffer }[] = [];
    const s = await openUdpBatch({
      host: '127.0.0.1',
      port: 0,
      impl,
      batch: 16,
      slot: 2048,
      onBatch(d) {
        for (let i = 0; i < d.count; i++) {
          assert.equal(d.truncated(i), false);
          assert.equal(d.wireLength(i), d.length(i));
          const bytes = Buffer.from(d.data.subarray(d.offset(i), d.offset(i) + d.length(i)));
          got.push({ from: `${d.peerAddress(i)}:${d.peerPort(i)}`, bytes });
          // Half the echoes go through the batch's reply path, half through send().
          if (bytes.length % 2 === 0) d.reply(i, d.data, d.offset(i), d.offset(i) + d.length(i));
          else s.send(bytes, d.peerPort(i), d.peerAddress(i));
        }
      },
    });
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.record({ sender: fc.nat(3), size: fc.integer({ min: 0, max: 2048 }), seed: fc.nat(255) }), { minLength: 1, maxLength: 60 }),
          fc.uniqueArray(fc.integer({ min: 1, max: 254 }), { minLength: 4, maxLength: 4 }),
          async (datagrams, hosts) => {
            got.length = 0;
            // Four senders on distinct loopback addresses (127.0.0.0/8 is all local on Linux).
            const senders = await Promise.all(hosts.map((h) => client('127.0.0.1', `127.0.${h}.${(h * 7) % 250 + 1}`)));
            const echoes = new Map<dgram.Socket, Buffer[]>(senders.map((c) => [c, []]));
            for (const c of senders) c.on('message', (m) => echoes.get(c)!.push(m));
            const sent = new Map<dgram.Socket, Buffer[]>(senders.map((c) => [c, []]));
            try {
              for (const g of datagrams) {
                const c = senders[g.sender]!;
                const b = Buffer.alloc(g.size);
                for (let k = 0; k < b.length; k++) b[k] = (g.seed + k * 31) & 0xff;
                sent.get(c)!.push(b);
                c.send(b, s.port, '127.0.0.1');
              }
              await until(() => [...echoes.values()].reduce((n, e) => n + e.length, 0) === datagrams.length, 'all echoes');
              // Each sender's datagrams arrived as sent, from its own address and port...
              for (const c of senders) {
                const a = c.address();
                const mine = got.filter((x) => x.from === `${a.address}:${a.port}`).map((x) => x.bytes.toString('hex'));
                assert.deepEqual(mine, sent.get(c)!.map((b) => b.toString('hex')));
                // ...and each got back exactly its own (order within a sender kept by loopback).
                assert.deepEqual(echoes.get(c)!.map((b) => b.toString('hex')).sort(), sent.get(c)!.map((b) => b.toString('hex')).sort());
              }
            } finally {
              for (const c of senders) c.close();
            }
          },
        ),
        { numRuns: 15 },
      );
    } finally {
      await s.close();
    }
  });

  test(`${impl}: dig gets NXDOMAIN over IPv4 and IPv6`, async () => {
    for (const host of ['127.0.0.1', '::1']) {
      const families: number[] = [];
      const s = await openUdpBatch({
        host,
        port: 0,
        impl,
        onBatch(d) {
          for (let i = 0; i < d.count; i++) {
            families.push(d.peerFamily(i));
            const o = d.offset(i);
            d.reply(i, d.data, o, nxdomain(d.data, o, d.length(i)));
          }
        },
      });
      try {
        const out = await new Promise<string>((resolve, reject) =>
          execFile('dig', [`@${host}`, '-p', String(s.port), '+tries=1', '+time=2', '+noedns', 'blocked.example', 'A'], (err, stdout) => (err ? reject(err) : resolve(stdout))),
        );
        assert.match(out, /status: NXDOMAIN/);
        assert.match(out, /QUESTION SECTION:\n;blocked\.example\.\s+IN\s+A/);
        assert.deepEqual(families, [host === '::1' ? 6 : 4]);
        assert.equal(s.stats().received, 1);
      } finally {
        await s.close();
      }
    }
  });

  test(`${impl}: an oversize datagram is marked truncated, its first slot bytes kept`, async () => {
    const seen: { len: number; wire: number; trunc: boolean; head: string }[] = [];
    const s = await openUdpBatch({
      host: '::1',
      port: 0,
      impl,
      slot: 512,
      onBatch(d) {
        for (let i = 0; i < d.count; i++) seen.push({ len: d.length(i), wire: d.wireLength(i), trunc: d.truncated(i), head: Buffer.from(d.data.subarray(d.offset(i), d.offset(i) + 8)).toString('hex') });
      },
    });
    const c = await client('::1');
    try {
      const big = Buffer.alloc(3000, 0xab);
      big.write('deadbeef', 'hex');
      c.send(big, s.port, '::1');
      c.send(Buffer.alloc(512, 1), s.port, '::1');
      await until(() => seen.length === 2, 'two datagrams');
      assert.deepEqual(seen[0], { len: 512, wire: 3000, trunc: true, head: 'deadbeefabababab' });
      assert.deepEqual(seen[1], { len: 512, wire: 512, trunc: false, head: '0101010101010101' });
      assert.equal(s.stats().truncated, 1);
    } finally {
      c.close();
      await s.close();
    }
  });

  test(`${impl}: a peer that stops reading does not stop the server`, async () => {
    let answered = 0;
    const s = await openUdpBatch({
      host: '127.0.0.1',
      port: 0,
      impl,
      onBatch(d) {
        for (let i = 0; i < d.count; i++) {
          answered++;
          // A reply 4x the query, so the silent peer's receive buffer overflows fast.
          const r = new Uint8Array(4 * d.length(i));
          d.reply(i, r);
        }
      },
    });
    // The peer sends 3000 datagrams from a 4 KiB receive buffer, then sleeps without reading.
    const py = spawn('python3', [
      '-c',
      `import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.setsockopt(socket.SOL_SOCKET,socket.SO_RCVBUF,4096)\nfor i in range(3000): s.sendto(b'x'*300,('127.0.0.1',${s.port}))\nprint('sent',flush=True)\ntime.sleep(30)`,
    ]);
    try {
      await new Promise<void>((resolve) => py.stdout.once('data', () => resolve()));
      await until(() => answered >= 2900, 'the silent peer answered (loopback may drop a few under load)');
      await sleep(100);
      // Still serving others.
      const c = await client();
      const back = new Promise<Buffer>((resolve) => c.once('message', resolve));
      c.send(Buffer.alloc(10, 7), s.port, '127.0.0.1');
      assert.equal((await back).length, 40);
      c.close();
      const st = s.stats();
      assert.equal(st.dropped, 0);
      assert.equal(st.sendErrors, 0);
    } finally {
      py.kill('SIGKILL');
      await s.close();
    }
  });

  test(`${impl}: close while busy (from a timer and from inside onBatch), then the port is free`, async () => {
    for (const where of ['timer', 'onBatch'] as const) {
      let n = 0;
      let sock: UdpBatchSocket | undefined;
      const s: UdpBatchSocket = await openUdpBatch({
        host: '127.0.0.1',
        port: 0,
        impl,
        onBatch(d: Datagrams) {
          for (let i = 0; i < d.count; i++) {
            n++;
            d.reply(i, d.data, d.offset(i), d.offset(i) + d.length(i));
            if (where === 'onBatch' && n === 500) void sock!.close();
          }
        },
      });
      sock = s;
      const c = await client();
      let flooding = true;
      const flood = (async () => {
        const b = Buffer.alloc(100, 1);
        while (flooding) {
          for (let k = 0; k < 200; k++) c.send(b, s.port, '127.0.0.1');
          await sleep(1);
        }
      })();
      await until(() => n >= (where === 'timer' ? 1000 : 500), 'datagrams during the flood');
      if (where === 'timer') await s.close();
      const at = n;
      await sleep(100);
      assert.ok(n <= at + 64, `no datagram after close beyond the current batch (${n - at})`);
      s.send(Buffer.alloc(4), 53, '127.0.0.1'); // after close: ignored, no throw
      assert.equal(typeof s.stats().received, 'number');
      await s.close(); // twice: no-op
      flooding = false;
      await flood;
      c.close();
      // The socket is really closed: its port binds again.
      const again = await openUdpBatch({ host: '127.0.0.1', port: s.port, impl, onBatch() {} });
      await again.close();
    }
  });
}

test('native: replies the kernel will not take at once wait for writability, in order, none dropped', async () => {
  // Loopback UDP hands datagrams over synchronously, so EAGAIN is injected on every 2nd batch.
  const s = await openUdpBatch({
    host: '127.0.0.1',
    port: 0,
    impl: 'native',
    batch: 8,
    injectEagainEvery: 2,
    onBatch(d) {
      for (let i = 0; i < d.count; i++) d.reply(i, new Uint8Array(1000).fill(d.data[d.offset(i)]!));
    },
  });
  const c = dgram.createSocket({ type: 'udp4', recvBufferSize: 32 << 20 });
  await new Promise<void>((r) => c.bind(0, '127.0.0.1', () => r()));
  const got: number[] = [];
  c.on('message', (m) => got.push(m[0]!));
  try {
    for (let k = 0; k < 200; k++) c.send(Buffer.from([k]), s.port, '127.0.0.1');
    await until(() => got.length === 200, '200 replies');
    const st = s.stats();
    assert.ok(st.queued > 0, 'the pending path ran');
    assert.equal(st.sent, 200);
    assert.equal(st.pending, 0);
    assert.equal(st.dropped + st.sendErrors, 0);
    assert.deepEqual(got, [...Array(200).keys()], 'replies in the order of the queries');
  } finally {
    c.close();
    await s.close();
  }
});

test('native: the read delay (how long the oldest datagram of each batch waited in the socket) is counted from kernel receive times', async () => {
  let got = 0;
  let reads = 0;
  const s = await openUdpBatch({
    host: '127.0.0.1',
    port: 0,
    impl: 'native',
    readDelay: true,
    onBatch: (d) => {
      got += d.count;
      reads++;
    },
  });
  try {
    // Sent while this thread is held (a child process, waited for synchronously), then held
    // 60 ms more: every one of them waits at least that long before it is read.
    execFileSync('python3', ['-c', `import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\nfor i in range(20): s.sendto(b'q%d' % i,('127.0.0.1',${s.port}))`]);
    const until60 = Date.now() + 60;
    while (Date.now() < until60);
    await until(() => got === 20, '20 datagrams read');
    const st = s.stats();
    const bins = st.waitBins ?? [];
    assert.equal(bins.length, 24);
    assert.equal(bins.reduce((a, v) => a + v, 0), reads, 'each read once');
    // Bin k counts delays under 2^k µs: the first read's, 60 ms or more, is in bin 16 (32.8-65.5 ms) or above.
    assert.ok(bins.slice(16).reduce((a, v) => a + v, 0) >= 1, `bins ${bins}`);
    assert.ok(st.waitSum! >= 0.06, `sum ${st.waitSum}`);
    // Read at once when nothing holds the thread: the next ones are counted too.
    const c = await client();
    c.send(Buffer.from('x'), s.port, '127.0.0.1');
    await until(() => got === 21, 'one more');
    c.close();
    assert.equal(s.stats().waitBins!.reduce((a, v) => a + v, 0), reads);
  } finally {
    await s.close();
  }
  // Not asked for (the forwarder's upstream sockets): no histogram.
  const plain = await openUdpBatch({ host: '127.0.0.1', port: 0, impl: 'native', onBatch() {} });
  assert.equal(plain.stats().waitBins, undefined);
  await plain.close();
  // dgram has no receive times: no histogram rather than a wrong one.
  const d = await openUdpBatch({ host: '127.0.0.1', port: 0, impl: 'dgram', readDelay: true, onBatch() {} });
  assert.equal(d.stats().waitBins, undefined);
  await d.close();
});

test('native: SO_REUSEPORT lets two sockets share a port; without it the second bind fails', async () => {
  const a = await openUdpBatch({ host: '127.0.0.1', port: 0, impl: 'native', reusePort: true, onBatch() {} });
  const b = await openUdpBatch({ host: '127.0.0.1', port: a.port, impl: 'native', reusePort: true, onBatch() {} });
  assert.equal(b.port, a.port);
  await assert.rejects(openUdpBatch({ host: '127.0.0.1', port: a.port, impl: 'native', onBatch() {} }), /bind 127\.0\.0\.1 port \d+: Address already in use/);
  await a.close();
  await b.close();
  await assert.rejects(openUdpBatch({ host: '127.0.0.1', port: 0, impl: 'dgram', reusePort: true, onBatch() {} }), /reusePort needs the native addon/);
  await assert.rejects(openUdpBatch({ host: 'localhost', port: 0, impl: 'native', onBatch() {} }), /IPv4 or IPv6 address literal/);
});

test('native: a worker thread that exits with its socket open and busy tears down cleanly', async () => {
  const api = import.meta.resolve('tsx/esm/api');
  const mod = new URL('./udp-batch.ts', import.meta.url).href;
  const code = `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(mod)}); }).then(async (u) => {
    const { parentPort } = require('node:worker_threads');
    const s = await u.openUdpBatch({ host: '127.0.0.1', port: 0, impl: 'native', onBatch(d) { for (let i = 0; i < d.count; i++) d.reply(i, d.data, d.offset(i), d.offset(i) + d.length(i)); } });
    parentPort.postMessage(s.port);
  });`;
  for (const end of ['terminate', 'exit'] as const) {
    const w = new Worker(end === 'exit' ? code.replace('parentPort.postMessage(s.port);', 'parentPort.postMessage(s.port); setTimeout(() => process.exit(0), 200);') : code, { eval: true });
    const port = await new Promise<number>((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    const c = await client();
    const back = new Promise<void>((resolve) => c.once('message', () => resolve()));
    c.send(Buffer.from('ping'), port, '127.0.0.1');
    await back;
    for (let k = 0; k < 2000; k++) c.send(Buffer.from('busy'), port, '127.0.0.1');
    const code2 = end === 'terminate' ? await w.terminate() : await new Promise<number>((r) => w.once('exit', r));
    assert.equal(typeof code2, 'number');
    c.close();
    // The worker's socket was closed with it.
    const again = await openUdpBatch({ host: '127.0.0.1', port, impl: 'native', onBatch() {} });
    await again.close();
  }
});

test('connect (native): only the peer is read, sends need no address, and a port unreachable (peer gone, then back) does not stop reading', async () => {
  const peer = await client();
  const port = peer.address().port;
  const stranger = await client();
  const got: string[] = [];
  const s = await openUdpBatch({
    host: '127.0.0.1',
    port: 0,
    impl: 'native',
    onBatch(d: Datagrams) {
      for (let i = 0; i < d.count; i++) got.push(Buffer.from(d.data.subarray(d.offset(i), d.offset(i) + d.length(i))).toString());
    },
  });
  try {
    assert.equal(s.connect!('127.0.0.1', port), true);
    const heard: string[] = [];
    peer.on('message', (m) => heard.push(m.toString()));
    // The address given is ignored once connected: the datagram goes to the peer.
    s.send(Buffer.from('one'), 9, '127.0.0.9');
    await until(() => heard.length === 1, 'the peer hears the send');
    assert.deepEqual(heard, ['one']);
    stranger.send('not-the-peer', s.port, '127.0.0.1');
    peer.send('from-peer', s.port, '127.0.0.1');
    await until(() => got.length === 1, 'the peer datagram');
    await sleep(50);
    assert.deepEqual(got, ['from-peer'], 'only the connected peer is read');
    // The peer goes away: the next send draws an ICMP port unreachable (a socket error).
    peer.close();
    s.send(Buffer.from('two'), port, '127.0.0.1');
    await until(() => s.stats().recvErrors + s.stats().sendErrors > 0, 'the ICMP error is seen');
    s.send(Buffer.from('three'), port, '127.0.0.1');
    await sleep(50);
    // Back on the same port: reading goes on.
    const again = dgram.createSocket('udp4');
    await new Promise<void>((r) => again.bind(port, '127.0.0.1', () => r()));
    again.send('back', s.port, '127.0.0.1');
    await until(() => got.length === 2, 'a datagram after the error');
    assert.equal(got[1], 'back');
    again.close();
  } finally {
    await s.close();
    stranger.close();
  }
});

test('readRounds (native): batches per readiness event, 1-64; out of range is refused with the limits', async () => {
  await assert.rejects(openUdpBatch({ host: '127.0.0.1', port: 0, impl: 'native', readRounds: 0, onBatch() {} }), /readRounds 1-64/);
  const got: number[] = [];
  const s = await openUdpBatch({ host: '127.0.0.1', port: 0, impl: 'native', readRounds: 1, batch: 4, onBatch: (d) => void got.push(d.count) });
  const c = await client();
  try {
    for (let i = 0; i < 40; i++) c.send(`q${i}`, s.port, '127.0.0.1');
    await until(() => got.reduce((a, b) => a + b, 0) === 40, 'every datagram read, 4 at a time');
    assert.ok(got.every((n) => n <= 4));
  } finally {
    await s.close();
    c.close();
  }
});
