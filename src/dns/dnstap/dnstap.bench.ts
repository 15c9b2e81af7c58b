/**
 * Micro-benchmark of the dnstap collector: `npx tsx src/dns/dnstap/dnstap.bench.ts`.
 *
 * 1. One core, no I/O, CPU time: scanDnstap, scan + event, and the whole pure pipeline
 *    (FrameStreamReader over a buffer of frames, scan, event, publish to one consumer)
 *    on the real BIND 9.18 and Unbound 1.17 frames in wire/testdata.
 * 2. Over a Unix socket: a child process writes N frames (half CLIENT_QUERY, half
 *    CLIENT_RESPONSE) as fast as the socket takes them; the collector's CPU time and the
 *    wall time until its consumer saw the last event give frames/s per core.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DnstapCollector } from './collector.ts';
import { dnstapEvent } from './event.ts';
import { EventHub } from './stream.ts';
import { ControlType, decodeFrameStream, DNSTAP_CONTENT_TYPE, DnstapScan, encodeControl, encodeDataFrame, FrameStreamReader, scanDnstap } from './wire/index.ts';

function frames(file: string): Uint8Array[] {
  const r = decodeFrameStream(readFileSync(new URL(`./wire/testdata/${file}`, import.meta.url)));
  if (!r.ok) throw new Error(r.error.message);
  return r.value.map((f) => Uint8Array.from(f));
}

/** [CQ udp, CR udp, CQ tcp, CR tcp] of each capture. */
const bind = frames('bind-9.18.49.fstrm');
const unbound = frames('unbound-1.17.1.fstrm');

/** A writer's stream of n data frames, alternating query and response, after READY/START. */
function stream(n: number, pair: Uint8Array[]): Buffer {
  const parts: Uint8Array[] = [encodeControl(ControlType.READY, [DNSTAP_CONTENT_TYPE]), encodeControl(ControlType.START, [DNSTAP_CONTENT_TYPE])];
  for (let i = 0; i < n; i++) parts.push(encodeDataFrame(pair[i % 2]!));
  parts.push(encodeControl(ControlType.STOP));
  return Buffer.concat(parts);
}

let sink = 0;
const cases: { name: string; fn: () => number; rates: number[]; per: number }[] = [];
/** `fn` handles `per` frames per call. */
function bench(name: string, fn: () => number, per = 1): void {
  cases.push({ name, fn, rates: [], per });
}

/** Rounds interleaved across cases, timed in this process's CPU time; the median is reported. */
function runPure(rounds = 7, roundSeconds = 0.3): void {
  for (const c of cases) for (let i = 0; i < 20_000; i++) sink ^= c.fn();
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) {
      let calls = 0;
      const start = process.cpuUsage();
      let cpu = 0;
      do {
        for (let i = 0; i < 200; i++) sink ^= c.fn();
        calls += 200;
        const d = process.cpuUsage(start);
        cpu = (d.user + d.system) / 1e6;
      } while (cpu < roundSeconds);
      c.rates.push((calls * c.per) / cpu);
    }
  }
  for (const c of cases) {
    const s = [...c.rates].sort((a, b) => a - b);
    const med = s[Math.floor(s.length / 2)]!;
    console.log(`${c.name.padEnd(58)} ${(med / 1e6).toFixed(2).padStart(6)} M frames/s/core  ${(1e9 / med).toFixed(0).padStart(5)} ns/frame  (min ${(s[0]! / 1e6).toFixed(2)}, max ${(s[s.length - 1]! / 1e6).toFixed(2)})`);
  }
}

function pure(): void {
  const s = new DnstapScan();
  for (const [who, f] of [['BIND', bind], ['Unbound', unbound]] as const) {
    bench(`scanDnstap ${who} CLIENT_QUERY (${f[0]!.length} B)`, () => (scanDnstap(f[0]!, s) === null ? s.queryPort : 0));
    bench(`scanDnstap ${who} CLIENT_RESPONSE (${f[1]!.length} B)`, () => (scanDnstap(f[1]!, s) === null ? s.queryPort : 0));
    bench(`scan + event ${who} CLIENT_QUERY (readQuery)`, () => {
      scanDnstap(f[0]!, s);
      const e = dnstapEvent(s, 0);
      return typeof e === 'string' ? 0 : e.qtype;
    });
    bench(`scan + event ${who} CLIENT_RESPONSE (decodeMessage)`, () => {
      scanDnstap(f[1]!, s);
      const e = dnstapEvent(s, 0);
      return typeof e === 'string' ? 0 : e.qtype;
    });
  }
  // The whole pure pipeline, as the collector runs it per chunk: 64 KiB reads.
  const N = 2000;
  const buf = stream(N, bind);
  const chunks: Buffer[] = [];
  for (let o = 0; o < buf.length; o += 65536) chunks.push(buf.subarray(o, o + 65536));
  const hub = new EventHub({ capacity: 1 << 20 });
  const consumer = hub.events();
  bench(
    `pipeline BIND CQ+CR: framing + scan + event + queue (${N} frames)`,
    () => {
      const r = new FrameStreamReader();
      let n = 0;
      const onFrame = (p: Uint8Array) => {
        if (scanDnstap(p, s) !== null) return 'bad';
        const e = dnstapEvent(s, 0);
        if (typeof e !== 'string') hub.publish(e);
        n++;
        return undefined;
      };
      for (const c of chunks) r.push(c, onFrame);
      // Drain what was queued, as the consumer would.
      for (let i = 0; i < n; i++) void consumer.next();
      return n;
    },
    N,
  );
  runPure();
}

/** The writer child: connects, handshakes, writes the stream, waits for FINISH. */
async function writer(path: string, n: number): Promise<void> {
  const buf = stream(n, bind);
  const sock = net.connect(path);
  await new Promise((r) => sock.once('connect', r));
  const ready = buf.subarray(0, encodeControl(ControlType.READY, [DNSTAP_CONTENT_TYPE]).length);
  sock.write(ready);
  await new Promise((r) => sock.once('data', r));
  sock.write(buf.subarray(ready.length));
  await new Promise((r) => sock.once('data', r));
  sock.end();
}

async function overSocket(n: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sakimori-dnstap-bench-'));
  const path = join(dir, 'bench.sock');
  const none = () => undefined;
  const c = new DnstapCollector({ listen: [{ kind: 'unix', path }], summaryIntervalMs: 0, queue: 1 << 20 }, { logger: { info: none, warn: none, error: none, debug: none } });
  await c.start();
  let seen = 0;
  let done!: () => void;
  const all = new Promise<void>((r) => (done = r));
  c.onEvent(() => {
    if (++seen === n) done();
  });
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const child = fork(fileURLToPath(import.meta.url), ['--writer', path, String(n)], { execArgv: ['--import', 'tsx'] });
  await all;
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const d = process.cpuUsage(cpu0);
  const cpu = (d.user + d.system) / 1e6;
  await new Promise((r) => child.once('exit', r));
  const st = c.stats();
  await c.stop();
  rmSync(dir, { recursive: true, force: true });
  console.log(
    `Unix socket, ${n} BIND frames (CQ+CR), one onEvent consumer: ${(n / cpu / 1e6).toFixed(2)} M frames per collector CPU-second, ${(n / wall / 1e3).toFixed(0)} k frames/s wall (writer process included, ${wall.toFixed(2)} s); sampled out ${st.sampledOut}, dropped ${st.dropped}`,
  );
}

if (process.argv[2] === '--writer') {
  await writer(process.argv[3]!, Number(process.argv[4]));
} else {
  pure();
  for (let i = 0; i < 3; i++) await overSocket(1_000_000);
  if (sink === 42) console.log('');
}
