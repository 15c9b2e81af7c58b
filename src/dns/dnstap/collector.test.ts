import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ManualClock } from '../../core/index.ts';
import { createRegistry } from '../../telemetry/index.ts';
import { encodeMessage, type DnsMessage } from '../wire/index.ts';
import { DnstapCollector, parseDnstapListen, type DnstapListen, type DnstapLogger } from './collector.ts';
import type { DnstapEvent } from './event.ts';
import { ControlType, DNSTAP_CONTENT_TYPE, encodeControl, encodeDataFrame, encodeDnstap } from './wire/index.ts';

/** Log lines kept for assertions. */
function memoryLogger(): DnstapLogger & { lines: { level: string; msg: string; obj: object }[] } {
  const lines: { level: string; msg: string; obj: object }[] = [];
  const at = (level: string) => (obj: object, msg: string) => void lines.push({ level, msg, obj });
  return { lines, info: at('info'), warn: at('warn'), error: at('error'), debug: at('debug') };
}

function query(name: string, type = 1): Uint8Array {
  const m: DnsMessage = { header: { id: 1, qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, z: false, ad: false, cd: false, rcode: 0 }, questions: [{ name, type, class: 1 }], answers: [], authority: [], additional: [] };
  return encodeMessage(m);
}

function response(name: string, rcode: number): Uint8Array {
  const m: DnsMessage = { header: { id: 1, qr: true, opcode: 0, aa: false, tc: false, rd: true, ra: true, z: false, ad: false, cd: false, rcode }, questions: [{ name, type: 1, class: 1 }], answers: [], authority: [], additional: [] };
  return encodeMessage(m);
}

const T = 1_767_225_600;
const cq = (name: string, client = [192, 0, 2, 7]) => encodeDnstap({ identity: 'test-writer', version: 'v1', message: { type: 5, socketProtocol: 1, queryAddress: Uint8Array.from(client), queryTimeSec: T, queryMessage: query(name) } });
const cr = (name: string, rcode: number) => encodeDnstap({ message: { type: 6, socketProtocol: 2, queryAddress: Uint8Array.of(192, 0, 2, 7), responseTimeSec: T, responseMessage: response(name, rcode) } });

/** A Frame Streams writer as libfstrm's: READY, wait for ACCEPT, START, frames, STOP, wait for FINISH. */
class TestWriter {
  readonly socket: net.Socket;
  private got = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  closed: Promise<void>;
  constructor(l: DnstapListen) {
    this.socket = l.kind === 'unix' ? net.connect(l.path) : net.connect(l.port, l.host);
    this.socket.on('data', (d) => {
      this.got = Buffer.concat([this.got, d]);
      for (const w of this.waiters.splice(0)) w();
    });
    this.socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => this.socket.on('close', () => resolve()));
  }
  async connected(): Promise<void> {
    if (!this.socket.connecting) return;
    await new Promise((resolve) => this.socket.once('connect', resolve));
  }
  /** Waits until `n` bytes came back (or the socket closed). */
  async received(n: number, ms = 3000): Promise<Buffer> {
    const until = Date.now() + ms;
    while (this.got.length < n && !this.socket.destroyed && Date.now() < until) {
      await Promise.race([new Promise<void>((r) => this.waiters.push(r)), sleep(50)]);
    }
    return this.got;
  }
  write(b: Uint8Array): void {
    this.socket.write(b);
  }
  async open(contentType = DNSTAP_CONTENT_TYPE): Promise<void> {
    await this.connected();
    this.write(encodeControl(ControlType.READY, [contentType]));
    const accept = encodeControl(ControlType.ACCEPT, [DNSTAP_CONTENT_TYPE]);
    const got = await this.received(accept.length);
    assert.equal(got.subarray(0, accept.length).toString('hex'), Buffer.from(accept).toString('hex'), 'ACCEPT');
    this.write(encodeControl(ControlType.START, [contentType]));
  }
  send(payloads: Uint8Array[]): void {
    this.write(Buffer.concat(payloads.map(encodeDataFrame)));
  }
  async finish(): Promise<void> {
    this.write(encodeControl(ControlType.STOP));
    const accept = encodeControl(ControlType.ACCEPT, [DNSTAP_CONTENT_TYPE]).length;
    const finish = encodeControl(ControlType.FINISH);
    const got = await this.received(accept + finish.length);
    assert.equal(got.subarray(accept).toString('hex'), Buffer.from(finish).toString('hex'), 'FINISH');
    await this.closed;
  }
}

async function until<T>(what: string, f: () => T | undefined | false, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('dnstap listen addresses', () => {
  it('parses unix:PATH and ADDR:PORT, and says what is expected otherwise', () => {
    assert.deepEqual(parseDnstapListen('unix:/run/x.sock'), { kind: 'unix', path: '/run/x.sock' });
    assert.deepEqual(parseDnstapListen('127.0.0.1:6000'), { kind: 'tcp', host: '127.0.0.1', port: 6000 });
    assert.deepEqual(parseDnstapListen('[::1]:6000'), { kind: 'tcp', host: '::1', port: 6000 });
    assert.match((parseDnstapListen('unix:') as { error: string }).error, /no path/);
    assert.match((parseDnstapListen('/run/x.sock') as { error: string }).error, /unix:PATH/);
  });
});

describe('DnstapCollector over real sockets', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sakimori-dnstap-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts the bidirectional handshake on a Unix socket and a TCP port, and delivers events', async () => {
    const log = memoryLogger();
    const registry = createRegistry({ processMetrics: false });
    const sock = join(dir, 'a.sock');
    const c = new DnstapCollector({ listen: [{ kind: 'unix', path: sock }, { kind: 'tcp', host: '127.0.0.1', port: 0 }], summaryIntervalMs: 0 }, { logger: log, registry });
    await c.start();
    try {
      assert.equal(statSync(sock).mode & 0o777, 0o660);
      const events: DnstapEvent[] = [];
      const off = c.onEvent((e) => events.push(e));
      const iter = c.events();
      for (const l of c.addresses()) {
        const w = new TestWriter(l);
        await w.open();
        w.send([cq('A.Example'), cr('a.example', 3), cq('b.example', [10, 1, 2, 3])]);
        await w.finish();
      }
      await until('6 events', () => events.length >= 6);
      assert.deepEqual(events.slice(0, 3), [
        { at: T * 1000, client: '192.0.2.7', qname: 'a.example', qtype: 1, transport: 'udp' },
        { at: T * 1000, client: '192.0.2.7', qname: 'a.example', qtype: 1, rcode: 3, responseSize: response('a.example', 3).length, transport: 'tcp' },
        { at: T * 1000, client: '10.1.2.3', qname: 'b.example', qtype: 1, transport: 'udp' },
      ]);
      const first = await iter.next();
      assert.equal(first.done, false);
      assert.equal((first.value as DnstapEvent).qname, 'a.example');
      const s = c.stats();
      assert.equal(s.frames, 6);
      assert.equal(s.queries, 4);
      assert.equal(s.responses, 2);
      assert.equal(s.connectionsTotal, 2);
      assert.ok(log.lines.some((l) => l.level === 'info' && /"test-writer" \(v1\) is sending on unix:/.test(l.msg)));
      const metrics = await registry.metrics();
      assert.match(metrics, /sakimori_dnstap_frames_total 6/);
      assert.match(metrics, /sakimori_dnstap_events_total\{kind="query"\} 4/);
      assert.match(metrics, /sakimori_dnstap_events_total\{kind="response"\} 2/);
      off();
      iter.close();
    } finally {
      await c.stop();
    }
    assert.equal(existsSync(sock), false, 'socket file removed at stop');
  });

  it('a broken stream closes that connection with its reason logged; another writer goes on', async () => {
    const log = memoryLogger();
    const c = new DnstapCollector({ listen: [{ kind: 'tcp', host: '127.0.0.1', port: 0 }], summaryIntervalMs: 0, maxFrameSize: 4096 }, { logger: log });
    await c.start();
    try {
      const [l] = c.addresses();
      const events: DnstapEvent[] = [];
      c.onEvent((e) => events.push(e));
      const good = new TestWriter(l!);
      await good.open();
      good.send([cq('before.example')]);

      const notDnstap = new TestWriter(l!);
      await notDnstap.open();
      notDnstap.send([Uint8Array.of(0xff, 0xff, 0xff)]);
      await notDnstap.closed;

      const huge = new TestWriter(l!);
      await huge.open();
      huge.write(Uint8Array.of(0, 1, 0, 0));
      await huge.closed;

      const wrongType = new TestWriter(l!);
      await wrongType.connected();
      wrongType.write(encodeControl(ControlType.READY, ['protobuf:something.Else']));
      await wrongType.closed;

      good.send([cq('after.example')]);
      await good.finish();
      await until('2 events', () => events.length >= 2);
      assert.deepEqual(events.map((e) => e.qname), ['before.example', 'after.example']);
      const warns = log.lines.filter((x) => x.level === 'warn').map((x) => x.msg);
      assert.equal(warns.length, 3);
      assert.match(warns[0]!, /closed the connection from 127\.0\.0\.1:\d+ on 127\.0\.0\.1:\d+: data frame at stream offset \d+: not a dnstap message/);
      assert.match(warns[1]!, /data frame of 65536 bytes .* more than the 4096 allowed/);
      assert.match(warns[2]!, /offers "protobuf:something.Else"; this reader takes "protobuf:dnstap.Dnstap"/);
      assert.deepEqual(c.stats().closedBad, { BAD_PAYLOAD: 1, FRAME_TOO_LARGE: 1, CONTENT_TYPE_MISMATCH: 1 });
    } finally {
      await c.stop();
    }
  });

  it('closes a connection that never sends START, refuses writers past maxConnections and outside allowFrom', async () => {
    const log = memoryLogger();
    const c = new DnstapCollector({ listen: [{ kind: 'tcp', host: '127.0.0.1', port: 0 }], summaryIntervalMs: 0, handshakeTimeoutMs: 200, maxConnections: 2 }, { logger: log });
    await c.start();
    try {
      const [l] = c.addresses();
      const idle = new TestWriter(l!);
      await idle.connected();
      const second = new TestWriter(l!);
      await second.open();
      const third = new TestWriter(l!);
      await third.closed;
      await idle.closed;
      assert.equal(c.stats().refused, 1);
      assert.equal(c.stats().closedBad.HANDSHAKE_TIMEOUT, 1);
      assert.ok(log.lines.some((x) => /no START within 200 ms/.test(x.msg)));
      assert.ok(log.lines.some((x) => /already 2 writers connected/.test(x.msg)));
      second.socket.destroy();
    } finally {
      await c.stop();
    }
    const picky = new DnstapCollector({ listen: [{ kind: 'tcp', host: '127.0.0.1', port: 0 }], summaryIntervalMs: 0, allowFrom: ['192.0.2.0/24'] }, { logger: log });
    await picky.start();
    try {
      const w = new TestWriter(picky.addresses()[0]!);
      await w.closed;
      assert.ok(log.lines.some((x) => /127\.0\.0\.1:\d+ refused: not in dnstap.allowFrom/.test(x.msg)));
    } finally {
      await picky.stop();
    }
  });

  it('takes over a stale socket file, but not a live one or a regular file', async () => {
    const log = memoryLogger();
    const stale = join(dir, 'stale.sock');
    // A process that exits without closing its listener leaves the file behind, as a crashed collector would.
    execFileSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stale)}, () => process.exit(0))`]);
    assert.ok(existsSync(stale));
    const c = new DnstapCollector({ listen: [{ kind: 'unix', path: stale }], summaryIntervalMs: 0 }, { logger: log });
    await c.start();
    const other = new DnstapCollector({ listen: [{ kind: 'unix', path: stale }], summaryIntervalMs: 0 }, { logger: log });
    await assert.rejects(other.start(), /another process is listening on that socket/);
    await c.stop();
    const file = join(dir, 'regular');
    writeFileSync(file, 'x');
    const onFile = new DnstapCollector({ listen: [{ kind: 'unix', path: file }], summaryIntervalMs: 0 }, { logger: log });
    await assert.rejects(onFile.start(), /exists and is not a socket/);
    assert.ok(existsSync(file));
    const busy = new DnstapCollector({ listen: [{ kind: 'tcp', host: '127.0.0.1', port: 0 }], summaryIntervalMs: 0 }, { logger: log });
    await busy.start();
    const port = (busy.addresses()[0] as { port: number }).port;
    const clash = new DnstapCollector({ listen: [{ kind: 'tcp', host: '127.0.0.1', port }], summaryIntervalMs: 0 }, { logger: log });
    await assert.rejects(clash.start(), /cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/);
    await busy.stop();
  });

  it('a consumer slower than the stream gets a counted sample; memory stays bounded', async () => {
    const log = memoryLogger();
    const c = new DnstapCollector({ listen: [{ kind: 'tcp', host: '127.0.0.1', port: 0 }], summaryIntervalMs: 0, queue: 256 }, { logger: log });
    await c.start();
    try {
      const slow = c.events();
      const w = new TestWriter(c.addresses()[0]!);
      await w.open();
      const frames = Array.from({ length: 20_000 }, (_, i) => cq(`n${i}.example`));
      for (let i = 0; i < frames.length; i += 1000) w.send(frames.slice(i, i + 1000));
      await w.finish();
      await until('all frames', () => c.stats().frames === 20_000);
      const s = c.stats();
      assert.equal(s.consumers[0]!.queued, 256);
      assert.equal(s.dropped + s.sampledOut, 20_000 - 256);
      const got = await slow.next();
      assert.equal((got.value as DnstapEvent).qname, 'n0.example');
      slow.close();
    } finally {
      await c.stop();
    }
  });

  it('logs one summary line per interval with what came in since the last', async () => {
    const log = memoryLogger();
    const c = new DnstapCollector({ listen: [{ kind: 'tcp', host: '127.0.0.1', port: 0 }], summaryIntervalMs: 60_000 }, { logger: log, clock: new ManualClock(T * 1000) });
    await c.start();
    try {
      const w = new TestWriter(c.addresses()[0]!);
      await w.open();
      w.send([cq('a.example'), cr('a.example', 0), encodeDnstap({ message: { type: 3, queryAddress: Uint8Array.of(1, 2, 3, 4) } })]);
      await until('frames', () => c.stats().frames === 3);
      const first = c.summaryLine();
      assert.equal(first.line, 'dnstap: last 60s: 3 frames, 1 client queries, 1 responses, 1 other messages; 1 writer(s) connected');
      assert.equal(c.summaryLine().line, 'dnstap: last 60s: 0 frames, 0 client queries, 0 responses, 0 other messages; 1 writer(s) connected');
      await w.finish();
    } finally {
      await c.stop();
    }
  });
});
