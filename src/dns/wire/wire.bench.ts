/**
 * Micro-benchmark of the DNS wire hot path: `npx tsx src/dns/wire/wire.bench.ts`.
 * Reports ops/s per CPU-second for the calls a forwarder makes per query, plus the full
 * decoder/encoder for comparison. One core, no I/O.
 */
import { decodeMessage } from './decode.ts';
import { encodeMessage } from './encode.ts';
import { compileRecords, makeLocalDataResponse, makeResponseFromQuery, readQuery } from './query.ts';
import { DIG_AAAA_NOEDNS, DIG_A_COOKIE, HAND_RESPONSE, hex } from './packets.ts';
import { RCode, RRType } from './types.ts';

let sink = 0;
const cases: { name: string; fn: () => number; rates: number[] }[] = [];
function bench(name: string, fn: () => number): void {
  cases.push({ name, fn, rates: [] });
}

/**
 * Rounds are interleaved across cases and timed in CPU time (user + system of this
 * process), so that other load on a shared machine skews every case alike; the median
 * round is reported.
 */
function run(rounds = 7, roundSeconds = 0.25): void {
  for (const c of cases) for (let i = 0; i < 100_000; i++) sink ^= c.fn(); // warm up
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) {
      let ops = 0;
      const start = process.cpuUsage();
      let cpu = 0;
      do {
        for (let i = 0; i < 5000; i++) sink ^= c.fn();
        ops += 5000;
        const d = process.cpuUsage(start);
        cpu = (d.user + d.system) / 1e6;
      } while (cpu < roundSeconds);
      c.rates.push(ops / cpu);
    }
  }
  for (const c of cases) {
    const sorted = [...c.rates].sort((a, b) => a - b);
    const median = sorted[sorted.length >> 1]!;
    console.log(
      `${c.name.padEnd(52)} ${(median / 1e6).toFixed(2).padStart(6)} M ops/s  ${(1e9 / median).toFixed(0).padStart(6)} ns/op  (best ${(sorted[sorted.length - 1]! / 1e6).toFixed(2)} M)`,
    );
  }
}

// A typical stub query (dig: RD, EDNS 1232, cookie) and one with a longer, mixed-case name.
const typical = DIG_A_COOKIE;
const long = hex(`
  abcd 0100 0001 0000 0000 0001
  0a 4c6f6e674c6162656c31 08 73756264 6f6d6169 6e 07 4578616d706c65 02 636f 02 6a70 00 0001 0001
  00 0029 1000 00 00 8000 0000
`);
const plainNoEdns = DIG_AAAA_NOEDNS;
const warning = compileRecords([{ type: RRType.A, ttl: 300, data: { kind: 'A', address: '192.0.2.80' } }]);
// What an RPZ NXDOMAIN carries in its authority section: the policy zone's SOA (~70 bytes).
const soa = compileRecords([{ name: 'cc.rpz.example.net', type: RRType.SOA, ttl: 60, data: { kind: 'SOA', mname: 'localhost', rname: 'hostmaster.localhost', serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: 60 } }]);
const plainInfo = (() => {
  const r = readQuery(plainNoEdns);
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
})();
const typicalInfo = (() => {
  const r = readQuery(typical);
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
})();
const response = (() => {
  const r = decodeMessage(HAND_RESPONSE);
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
})();

console.log(`node ${process.version}, ${process.arch}`);
bench('readQuery (www.example.com, EDNS+cookie)', () => (readQuery(typical).ok ? 1 : 0));
bench('readQuery (5 labels, mixed case, EDNS)', () => (readQuery(long).ok ? 1 : 0));
bench('readQuery (no EDNS)', () => (readQuery(plainNoEdns).ok ? 1 : 0));
bench('makeResponseFromQuery NXDOMAIN (scans query)', () => makeResponseFromQuery(typical, RCode.NXDOMAIN)!.length);
bench('makeResponseFromQuery NXDOMAIN (with readQuery info)', () => makeResponseFromQuery(typical, RCode.NXDOMAIN, { info: typicalInfo })!.length);
bench('readQuery + makeResponseFromQuery NXDOMAIN', () => {
  const q = readQuery(typical);
  return q.ok ? makeResponseFromQuery(typical, RCode.NXDOMAIN, { info: q.value })!.length : 0;
});
bench('makeResponseFromQuery NXDOMAIN + SOA, no EDNS (the bench)', () => makeResponseFromQuery(plainNoEdns, RCode.NXDOMAIN, { info: plainInfo, authority: soa })!.length);
bench('makeLocalDataResponse (warning page A)', () => makeLocalDataResponse(typical, warning, { info: typicalInfo })!.length);
bench('decodeMessage (query)', () => (decodeMessage(typical).ok ? 1 : 0));
bench('decodeMessage (response, 5 records)', () => (decodeMessage(HAND_RESPONSE).ok ? 1 : 0));
bench('encodeMessage (response, 5 records, compressed)', () => encodeMessage(response).length);
run();
if (sink === 0.5) console.log(sink);
