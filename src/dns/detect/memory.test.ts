import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ManualClock } from '../../core/index.ts';
import { DnsDetection, DEFAULT_OPTIONS } from './index.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function used(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

test('overload: past maxEventsPerSecond the adapter samples, and a 100,000 qps flood is still mitigated', () => {
  const clock = new ManualClock(1_700_000_000_000);
  const det = new DnsDetection({ clock }, { maxEventsPerSecond: 20_000, prsd: { mode: 'dry-run' } });
  for (let s = 0; s < 5; s++) {
    for (let i = 0; i < 100_000; i++) det.observe({ at: clock.now() + i / 100, client: '192.0.2.1', qname: `r${s}x${i}q.victim.example`, qtype: 1, rcode: 3 });
    clock.advance(1000);
    det.tick();
  }
  const s = det.stats();
  // The first second is taken whole (no volume known yet); then 1 in 5 of what exceeds the budget.
  assert.equal(s.sampledOut, 4 * 64_000);
  assert.equal(det.book.list()[0]?.subject, 'victim.example');
});

test('memory stays bounded: millions of distinct zones, names and clients (NXDOMAIN, NOERROR, large answers, IPv4 and IPv6)', () => {
  const clock = new ManualClock(1_700_000_000_000);
  const det = new DnsDetection({ clock });
  // Idle, detection holds almost nothing: its tables grow with traffic.
  const idle = det.stats().stateBytes;
  assert.ok(idle < 256 * 1024, `an idle detection holds ${idle} bytes of tables`);
  let i = 0;
  const feed = (n: number) => {
    for (const end = i + n; i < end; i++) {
      const at = clock.now() + i / 50; // 50,000 queries per second of traffic time
      const client = i % 3 === 0 ? `2001:db8:${(i >> 16).toString(16)}::${(i & 0xffff).toString(16)}` : `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      const k = i % 4;
      det.observe({
        at,
        client,
        qname: k === 0 ? `x${i}q.com` : k === 1 ? `www.zone${i}.co.jp` : `n${i}.zone${i >> 4}.example`,
        qtype: k === 3 ? 255 : 1,
        rcode: k === 1 ? 0 : 3,
        responseSize: k === 3 ? 3000 : 100,
      });
      if (i % 50_000 === 0) det.tick(at);
    }
  };
  feed(1_000_000);
  const before = used();
  const grownTo = det.stats().stateBytes;
  feed(2_000_000);
  const after = used();
  const s = det.stats();
  // The tables grew to their bounds in the first million events and not past them.
  assert.ok(grownTo > 18 * 1024 * 1024, `the tables grew to only ${grownTo} bytes`);
  assert.equal(s.stateBytes, grownTo, 'the tables grew past their bounds');
  assert.ok(s.trackedZones <= DEFAULT_OPTIONS.prsd.maxZones, `zones ${s.trackedZones}`);
  assert.ok(s.knownGoodNames <= DEFAULT_OPTIONS.prsd.knownGoodNames);
  assert.equal(s.knownGoodNames, DEFAULT_OPTIONS.prsd.knownGoodNames, 'the known-good table filled up and stayed at its size');
  assert.ok(s.trackedClients <= DEFAULT_OPTIONS.infection.maxClients);
  assert.ok(s.trackedAmplificationNames <= DEFAULT_OPTIONS.amplification.maxNames);
  assert.ok(s.detections <= DEFAULT_OPTIONS.maxDetections);
  const growth = after - before;
  assert.ok(growth < 16 * 1024 * 1024, `grew ${(growth / 1048576).toFixed(1)} MiB over 2 M more distinct names and clients`);
  assert.ok(s.stateBytes < 40 * 1024 * 1024, `fixed state ${s.stateBytes} bytes`);
});
