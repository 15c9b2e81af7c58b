/**
 * Cost of DnsDetection.observe() per query, against the policy decision it sits beside.
 *
 *   npx tsx src/dns/detect/detect.bench.ts [--events 1000000] [--rounds 5] [--only N]
 *
 * Events are generated first (eval/traffic.ts: Zipf benign traffic over 3,000 zones, 20,000
 * clients, DGA clients; "with floods" adds the harness's random-subdomain floods and
 * amplification abuse), then replayed through a fresh DnsDetection (defaults) per round:
 * the first N events untimed (the tables fill as on a running server), the next N timed in
 * chunks of 4,096 read through first (cache-warm, as a query just parsed by the server);
 * CPU time (user+system of the process) per timed event, median of the rounds. The baseline is
 * PolicyEngine.decide() on the same names with a 100,000-name C&C zone and a never-block
 * list: the firewall's in-process decision, without sockets (the whole per-query cost of the
 * firewall, sockets included, is ~5-10 µs). "worst case": every query an NXDOMAIN for a new
 * random registrable domain from a new client (infection path, DGA scoring, table churn).
 * "pass-through": bench/dns.ts's pass-through traffic (distinct names under one zone, all
 * answered NOERROR); and the same with a new name string per query, made as the server
 * makes it, with detection against without (`--only 5`). `--only N` runs only the N-th case (1-based).
 */
import { cpus, loadavg } from 'node:os';
import { ManualClock, Rng } from '../../core/index.ts';
import { NO_MATCH, PolicyEngine, RpzZone } from '../policy/index.ts';
import { DnsDetection } from './detection.ts';
import type { DnsObservedQuery } from './event.ts';
import { World } from './eval/traffic.ts';

const args = process.argv.slice(2);
const opt = (k: string, d: string) => {
  const i = args.indexOf(`--${k}`);
  return i === -1 ? d : args[i + 1]!;
};
const N = Number(opt('events', '1000000'));
const ROUNDS = Number(opt('rounds', '5'));

/**
 * A flat one-byte string, as the server's strings are (readQuery's qname comes from
 * Buffer#latin1Slice, the client address from the socket): the generator's template
 * strings are cons strings, slower to read character by character.
 */
function flat(s: string): string {
  return Buffer.from(s, 'latin1').toString('latin1');
}

/** Events of a World: `warm` (fed untimed first: the tables fill up as on a running server), then `timed`. */
function fromWorld(attacks: boolean): { warm: DnsObservedQuery[]; timed: DnsObservedQuery[] } {
  const w = new World({ seed: 11, durationSec: 7200, attacks });
  const warm: DnsObservedQuery[] = [];
  const timed: DnsObservedQuery[] = [];
  // With floods: the timed part starts where the first flood starts.
  const timedFrom = attacks ? w.attacks[0]!.startSec : Infinity;
  for (let sec = 0; timed.length < N; sec++) {
    for (const q of w.second(sec)) {
      const e: DnsObservedQuery = { at: q.at, client: flat(q.client), qname: flat(q.qname), qtype: q.qtype, responseSize: q.size, ...(q.rcode === undefined ? { upstreamTimeout: true } : { rcode: q.rcode }) };
      if (sec < timedFrom && warm.length < N) warm.push(e);
      else if (timed.length < N) timed.push(e);
    }
  }
  return { warm, timed };
}

function worst(): { warm: DnsObservedQuery[]; timed: DnsObservedQuery[] } {
  const rng = new Rng(5);
  const out: DnsObservedQuery[] = [];
  for (let i = 0; i < N; i++) {
    let l = '';
    for (let k = 0; k < 12; k++) l += String.fromCharCode(97 + rng.int(26));
    out.push({ at: 1_700_000_000_000 + i / 20, client: flat(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`), qname: flat(`${l}.com`), qtype: 1, rcode: 3, responseSize: 100 });
  }
  return { warm: [], timed: out };
}

/**
 * bench/dns.ts's pass-through traffic: distinct names under one zone (h0.pass.example,
 * h1..., looped every 200,000), every one answered NOERROR, from one client, 20,000 q/s:
 * each name new to the known-good table and the zone's sketches.
 */
function passThrough(): { warm: DnsObservedQuery[]; timed: DnsObservedQuery[] } {
  const all: DnsObservedQuery[] = [];
  for (let i = 0; i < 2 * N; i++) all.push({ at: 1_700_000_000_000 + i / 20, client: flat('127.0.0.1'), qname: flat(`h${i % 200_000}.pass.example`), qtype: 1, rcode: 0, responseSize: 49, matched: undefined, upstreamTimeout: false });
  return { warm: all.slice(0, N), timed: all.slice(N) };
}

/**
 * The pass-through traffic as the server sees it: each query's name a new string (read
 * from a packet buffer, as readQuery makes it), dropped after the query unless detection
 * keeps it. CPU per query with detection against the same loop without it, alternating
 * rounds: what detection adds, garbage collection included (the pre-made events above
 * hide what keeping the server's strings costs the collector).
 */
function passThroughFresh(): { on: number[]; off: number[] } {
  const packet = Buffer.alloc(64);
  const on: number[] = [];
  const off: number[] = [];
  for (let r = 0; r <= ROUNDS; r++) {
    for (const withDetection of r % 2 === 0 ? [true, false] : [false, true]) {
      const t0 = 1_700_000_000_000;
      const clock = new ManualClock(t0);
      const det = new DnsDetection({ clock });
      const e: DnsObservedQuery = { at: t0, client: '127.0.0.1', qname: '', qtype: 1, rcode: 0, responseSize: 49, matched: undefined, upstreamTimeout: false };
      let nextTick = t0 + 1000;
      const ns = cpuNs(() => {
        for (let i = 0; i < 2 * N; i++) {
          const len = packet.write(`h${i % 200_000}.pass.example`, 0, 'latin1');
          e.qname = packet.toString('latin1', 0, len);
          e.at = t0 + i / 20;
          if (withDetection) {
            if (e.at >= nextTick) {
              det.tick(nextTick);
              nextTick += 1000;
            }
            det.observe(e);
          } else sink += e.qname.length;
        }
      });
      if (r > 0) (withDetection ? on : off).push(ns / (2 * N));
    }
  }
  return { on, off };
}

function cpuNs(fn: () => void): number {
  const c0 = process.cpuUsage();
  fn();
  const c = process.cpuUsage(c0);
  return (c.user + c.system) * 1000;
}

let sink = 0;

/**
 * Runs `fn` over `events` in chunks of 4,096, each read through first (untimed) so that its
 * objects and qname strings are in the CPU cache, as a query's are when the server has just
 * made them; only `fn` is timed. Without this the figure is mostly the cost of streaming
 * hundreds of MB of pre-generated events from memory.
 */
function chunked(events: DnsObservedQuery[], fn: (xs: DnsObservedQuery[]) => void): number {
  let ns = 0;
  for (let i = 0; i < events.length; i += 4096) {
    const chunk = events.slice(i, i + 4096);
    for (const e of chunk) sink += e.qname.charCodeAt(e.qname.length - 1) + e.client.length + e.at;
    ns += cpuNs(() => fn(chunk));
  }
  return ns;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function observeCost({ warm, timed: events }: { warm: DnsObservedQuery[]; timed: DnsObservedQuery[] }): { median: number; all: number[] } {
  const all: number[] = [];
  // Round 0 warms the JIT up and is not counted.
  for (let r = 0; r <= ROUNDS; r++) {
    const first = warm[0] ?? events[0]!;
    const clock = new ManualClock(first.at);
    const det = new DnsDetection({ clock });
    let nextTick = Math.floor(first.at / 1000) * 1000 + 1000;
    const feed = (xs: DnsObservedQuery[]) => {
      for (let i = 0; i < xs.length; i++) {
        const e = xs[i]!;
        // The timer's work (tick) is counted too, at its real rate: once per second of traffic.
        if (e.at >= nextTick) {
          det.tick(nextTick);
          nextTick += 1000;
        }
        det.observe(e);
      }
    };
    feed(warm);
    const ns = chunked(events, feed);
    if (r > 0) all.push(ns / events.length);
  }
  return { median: median(all), all };
}

function decideCost(events: DnsObservedQuery[]): number {
  const cc = new RpzZone('cc.bench.invalid');
  const rng = new Rng(9);
  const triggers = [];
  for (let i = 0; i < 100_000; i++) {
    let l = '';
    for (let k = 0; k < 10; k++) l += String.fromCharCode(97 + rng.int(26));
    triggers.push({ trigger: `${l}.com`, action: 'nxdomain' as const });
  }
  cc.apply({ setTriggers: triggers });
  const allow = new RpzZone('allow.bench.invalid');
  allow.apply({ setTriggers: [{ trigger: '*.example.com', action: 'passthru' }] });
  const engine = new PolicyEngine({ allow, zones: [cc] });
  const all: number[] = [];
  let hits = 0;
  for (let r = 0; r <= ROUNDS; r++) {
    const ns = chunked(events, (xs) => {
      for (let i = 0; i < xs.length; i++) if (engine.decide(xs[i]!.qname, undefined, xs[i]!.qtype) !== NO_MATCH) hits++;
    });
    if (r > 0) all.push(ns / events.length);
  }
  if (hits < 0 || sink === -1) console.log(hits);
  return median(all);
}


const cases: [string, () => { warm: DnsObservedQuery[]; timed: DnsObservedQuery[] }][] = [
  ['benign traffic', () => fromWorld(false)],
  ['with floods (PRSD 2,000 qps + amplification)', () => fromWorld(true)],
  ["pass-through (bench/dns.ts's: 200,000 distinct names under one zone, NOERROR)", passThrough],
  ['worst case (every query a new NXDOMAIN domain from a new client)', worst],
];
console.log(`# observe() cost, ${N.toLocaleString('en-US')} events per case, ${ROUNDS} rounds, ${cpus()[0]?.model ?? 'cpu'} x${cpus().length}, load ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
console.log('| case | observe() ns/event (median) | rounds | PolicyEngine.decide() ns/query | observe / decide |');
console.log('|---|---|---|---|---|');
const onlyCase = Number(opt('only', '0'));
if (onlyCase === 0 || onlyCase === cases.length + 1) {
  const { on, off } = passThroughFresh();
  console.log(`| pass-through, a new name string per query (server-like), the loop with detection against without it | ${(median(on) - median(off)).toFixed(0)} added (${median(off).toFixed(0)} -> ${median(on).toFixed(0)}) | on ${on.map((x) => x.toFixed(0)).join(', ')}; off ${off.map((x) => x.toFixed(0)).join(', ')} | | |`);
}
for (const [i, [name, make]] of cases.entries()) {
  if (onlyCase > 0 && i + 1 !== onlyCase) continue;
  const events = make();
  const o = observeCost(events);
  const d = decideCost(events.timed);
  console.log(`| ${name} | ${o.median.toFixed(0)} | ${o.all.map((x) => x.toFixed(0)).join(', ')} | ${d.toFixed(0)} | ${(o.median / d).toFixed(2)} |`);
}
