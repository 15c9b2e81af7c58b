/**
 * How many accounting packets one core handles. Run: npx tsx src/radius/accounting.bench.ts [--seconds 3]
 *
 * Three figures, each on realistic Interim-Updates (22 attributes, 221 octets, as a
 * BRAS sends them), each packet distinct:
 *  1. codec: decode + verify the Request Authenticator + build the AccountingEvent +
 *     encode the signed Accounting-Response. Pure CPU, one core.
 *  2. server: AccountingServer.receive() for each datagram (client lookup, decode,
 *     verify, duplicate ledger, event, onEvent, answer) with the answers really sent
 *     over loopback UDP (a sendto per packet); only the kernel's receive side is left out.
 *  3. end-to-end: a load generator in a second process (the other core) sends signed
 *     requests over loopback with a bounded window and counts the answers.
 *
 * Figures 1 and 2 run in batches of 200 packets: the median batch rate is the headline
 * (robust to the other work on a shared machine, which preempts some batches), the best
 * batch what an idle core does, and the CPU-second rate the whole run over this
 * process's CPU time (GC threads included). End-to-end is wall clock.
 *
 * Prints one JSON metric per line on stdout (the bench/run.ts format) and a summary on stderr.
 */
import dgram from 'node:dgram';
import { spawn } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ManualClock } from '../core/clock.ts';
import { createRegistry } from '../telemetry/metrics.ts';
import { silentLogger } from '../telemetry/log.ts';
import { AccountingServer } from './accounting-server.ts';
import { accountingEventFrom } from './accounting-request.ts';
import { AcctStatusType, Attr, makeAttribute } from './wire/attributes.ts';
import { encodeRequest, encodeResponse, verifyRequest } from './wire/authenticator.ts';
import { md5Packet } from './wire/md5.ts';
import { decodePacket } from './wire/decode.ts';
import { Code, type RadiusAttribute } from './wire/types.ts';

const SECRET = 'bench-secret-0123456789';

/** An Interim-Update as a BRAS sends it; `i` makes it distinct. */
function interim(i: number): RadiusAttribute[] {
  return [
    makeAttribute(Attr.AcctStatusType, AcctStatusType.InterimUpdate),
    makeAttribute(Attr.UserName, `subscriber${i % 10_000_000}@isp.example.jp`),
    makeAttribute(Attr.NasIpAddress, '192.0.2.1'),
    makeAttribute(Attr.NasIdentifier, 'bras-tokyo-01'),
    makeAttribute(Attr.NasPort, i & 0xffff),
    makeAttribute(Attr.NasPortType, 5),
    makeAttribute(Attr.NasPortId, `0/1/${i % 4000}:100`),
    makeAttribute(Attr.ServiceType, 2),
    makeAttribute(Attr.FramedIpAddress, `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`),
    makeAttribute(Attr.DelegatedIpv6Prefix, `2001:db8:${(i & 0xffff).toString(16)}::/56`),
    makeAttribute(Attr.CallingStationId, '00:11:22:33:44:55'),
    makeAttribute(Attr.AcctSessionId, `S${i.toString(16).padStart(12, '0')}`), // fixed width: the generator rewrites it in place
    makeAttribute(Attr.AcctSessionTime, 900 + (i % 86400)),
    makeAttribute(Attr.AcctInputOctets, (i * 7919) >>> 0),
    makeAttribute(Attr.AcctOutputOctets, (i * 104729) >>> 0),
    { type: 47, value: Uint8Array.of(0, 0, 1, 0) },
    { type: 48, value: Uint8Array.of(0, 0, 2, 0) },
    { type: 52, value: Uint8Array.of(0, 0, 0, 0) },
    { type: 53, value: Uint8Array.of(0, 0, 0, 1) },
    makeAttribute(Attr.AcctDelayTime, 0),
    makeAttribute(Attr.EventTimestamp, 1_795_348_800 + i),
    makeAttribute(Attr.Class, Uint8Array.from(Buffer.from('profile-100M'))),
  ];
}

function packets(n: number, from = 0): Uint8Array[] {
  return Array.from({ length: n }, (_, k) => encodeRequest({ code: Code.AccountingRequest, identifier: (from + k) & 0xff, attributes: interim(from + k) }, SECRET));
}

function emit(metric: string, value: number, unit: string): void {
  process.stdout.write(`${JSON.stringify({ metric, value: Math.round(value), higherIsBetter: true, unit })}\n`);
}

/** Per-CPU-second rate over the whole run, and the median and best rates of its batches (wall clock). */
interface Rates {
  perCpuSecond: number;
  medianBatch: number;
  bestBatch: number;
}

const BATCH = 200;

function rates(packets: number, cpu: NodeJS.CpuUsage, batchMs: number[]): Rates {
  const sorted = [...batchMs].sort((x, y) => x - y);
  return {
    perCpuSecond: packets / ((cpu.user + cpu.system) / 1e6),
    medianBatch: BATCH / (sorted[Math.floor(sorted.length / 2)]! / 1000),
    bestBatch: BATCH / (sorted[0]! / 1000),
  };
}

function codec(pool: Uint8Array[], seconds: number): Rates {
  const secret = Buffer.from(SECRET);
  let n = 0;
  const batches: number[] = [];
  const c0 = process.cpuUsage();
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    const t = performance.now();
    for (let k = 0; k < BATCH; k++) {
      const r = decodePacket(pool[n++ % pool.length]!);
      if (!r.ok || !verifyRequest(r.value, secret).ok) throw new Error('bench packet did not verify');
      const o = accountingEventFrom(r.value, '192.0.2.1', 0);
      if (o.kind !== 'event') throw new Error('no event');
      encodeResponse({ code: Code.AccountingResponse, identifier: r.value.identifier, attributes: [] }, r.value, secret);
    }
    batches.push(performance.now() - t);
  }
  return rates(n, process.cpuUsage(c0), batches);
}

async function server(pool: Uint8Array[], seconds: number): Promise<Rates> {
  // Answers go to a loopback port nobody listens on: the sendto is paid, no receiver shares the core.
  const probe = dgram.createSocket('udp4');
  await new Promise<void>((r) => probe.bind(0, '127.0.0.1', r));
  const rinfo = { address: '127.0.0.1', port: probe.address().port };
  await new Promise<void>((r) => probe.close(() => r()));
  const clock = new ManualClock(Date.now());
  let delivered = 0;
  const s = new AccountingServer({
    listen: '127.0.0.1:0',
    clients: [{ address: '127.0.0.1', secret: SECRET }],
    onEvent: async () => {
      delivered++;
    },
    logger: silentLogger,
    registry: createRegistry({ processMetrics: false }),
    clock,
    maxPending: 1_000_000,
  });
  await s.start();
  let n = 0;
  const batches: number[] = [];
  const run = async (ms: number) => {
    const end = performance.now() + ms;
    while (performance.now() < end) {
      const t = performance.now();
      for (let k = 0; k < BATCH; k++) {
        // 1 ms per packet on the clock: the 10 s duplicate window holds 10,000 packets, fewer than the pool, so none is a duplicate.
        clock.advance(1);
        s.receive(pool[n++ % pool.length]!, rinfo);
      }
      // Let the answers (microtasks after onEvent) and their sends run; a batch ends when its answers are sent.
      await new Promise((r) => setImmediate(r));
      batches.push(performance.now() - t);
    }
  };
  await run(1500); // warm up: the JIT needs longer for the server path than for the codec
  batches.length = 0;
  const before = delivered;
  const c0 = process.cpuUsage();
  await run(seconds * 1000);
  const cpu = process.cpuUsage(c0);
  await s.stop();
  return rates(delivered - before, cpu, batches);
}

async function endToEnd(seconds: number): Promise<{ rate: number; serverCpu: number }> {
  const s = new AccountingServer({
    listen: '127.0.0.1:0',
    clients: [{ address: '127.0.0.1', secret: SECRET }],
    onEvent: async () => {},
    logger: silentLogger,
    registry: createRegistry({ processMetrics: false }),
    maxPending: 1_000_000,
  });
  await s.start();
  const c0 = process.cpuUsage();
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--generate', String(s.address()!.port), '--seconds', String(seconds)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  await new Promise((r) => child.on('close', r));
  const c = process.cpuUsage(c0);
  await s.stop();
  const answered = Number(/answered=(\d+)/.exec(out)?.[1] ?? 0);
  return { rate: answered / seconds, serverCpu: (c.user + c.system) / 1e6 / seconds };
}

/**
 * The load generator (its own process): 16 sockets, up to 64 requests outstanding each.
 * Every request is new: a template Interim-Update whose Acct-Session-Id carries a
 * counter, re-signed (RFC 2866 §3) for each send, so the generator stays cheap.
 */
async function generate(port: number, seconds: number): Promise<void> {
  const key = Buffer.from(SECRET);
  const template = encodeRequest({ code: Code.AccountingRequest, identifier: 0, attributes: interim(0) }, SECRET);
  const sidAt = Buffer.from(template).indexOf(Buffer.from('S000000000000')) + 1;
  const zero = new Uint8Array(16);
  let next = 1;
  const nextPacket = (): Uint8Array => {
    const b = Uint8Array.from(template);
    const id = next++;
    b[1] = id & 0xff;
    b.set(Buffer.from(id.toString(16).padStart(12, '0')), sidAt);
    b.set(md5Packet(b, zero, key), 4);
    return b;
  };
  const sockets = await Promise.all(
    Array.from({ length: 16 }, async () => {
      const sock = dgram.createSocket('udp4');
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
      return sock;
    }),
  );
  let answered = 0;
  const window = 64;
  const end = Date.now() + seconds * 1000;
  const outstanding = new Array<number>(sockets.length).fill(0);
  const fill = (i: number) => {
    while (outstanding[i]! < window && Date.now() < end) {
      outstanding[i]!++;
      sockets[i]!.send(nextPacket(), port, '127.0.0.1');
    }
  };
  sockets.forEach((sock, i) => {
    sock.on('message', () => {
      answered++;
      outstanding[i]!--;
      if (outstanding[i]! < window / 2) fill(i);
    });
  });
  // Refill windows whose datagrams were lost (loopback drops when a receive buffer is full), as a NAS would retry.
  const refill = setInterval(() => sockets.forEach((_, i) => ((outstanding[i] = 0), fill(i))), 100);
  sockets.forEach((_, i) => fill(i));
  await new Promise((r) => setTimeout(r, seconds * 1000));
  clearInterval(refill);
  process.stdout.write(`answered=${answered}\n`);
  for (const sock of sockets) sock.close();
}

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '3' }, generate: { type: 'string' }, only: { type: 'string' } } });
const seconds = Number(values.seconds);
if (values.generate !== undefined) {
  await generate(Number(values.generate), seconds);
} else {
  const pool = packets(20_000);
  process.stderr.write(`accounting bench: ${pool[0]!.length}-octet Interim-Updates, ${seconds} s per figure, node ${process.version}\n`);
  const want = (name: string) => values.only === undefined || values.only === name;
  const none: Rates = { perCpuSecond: NaN, medianBatch: NaN, bestBatch: NaN };
  codec(pool, 1); // warm up
  const c = want('codec') ? codec(pool, seconds) : none;
  emit('codec decode+verify+event+response, median batch', c.medianBatch, 'packets/s');
  const sv = want('server') ? await server(pool, seconds) : none;
  emit('server receive+verify+deliver+respond, median batch', sv.medianBatch, 'packets/s');
  const e2e = want('e2e') ? await endToEnd(seconds) : { rate: NaN, serverCpu: NaN };
  emit('end-to-end over loopback UDP', e2e.rate, 'answers/s');
  const f = (x: number) => Math.round(x).toLocaleString('en').padStart(9);
  const row = (name: string, r: Rates) => `  ${name.padEnd(36)} ${f(r.medianBatch)} ${f(r.bestBatch)} ${f(r.perCpuSecond)}\n`;
  process.stderr.write(
    `  ${'packets/s on one core'.padEnd(36)} ${'median'.padStart(9)} ${'best'.padStart(9)} ${'per CPU-s'.padStart(9)}\n` +
      row('codec: decode+verify+event+response', c) +
      row('server: receive() incl. sendto', sv) +
      `  end-to-end over loopback UDP: ${f(e2e.rate).trim()} answers/s wall clock, server process busy ${(e2e.serverCpu * 100).toFixed(0)}% of a core ` +
      `(${f(e2e.rate / e2e.serverCpu).trim()} answers per server CPU-second); generator in a second process\n` +
      `  machine: ${cpus().length} cores, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')} at the end` +
      ` (median/best: batches of ${BATCH} packets timed by wall clock; per CPU-s: the whole run over process CPU time, GC threads included)\n`,
  );
}
