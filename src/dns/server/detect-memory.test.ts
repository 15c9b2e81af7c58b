/**
 * DNS detection through the server path (issue 5, bad input): millions of distinct client
 * addresses and names go through DataPlane.query() (wire parsing, the policy decision,
 * the answer, the observer hook) into one DnsDetection; memory stays flat, the tables stay
 * at their bounds, past maxEventsPerSecond detection samples, and every query is answered.
 * Local answers (a C&C wildcard) keep it synchronous; the sockets are the same code
 * test/dns-detection.test.ts drives over loopback.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ManualClock } from '../../core/index.ts';
import { DnsDetection, DEFAULT_OPTIONS } from '../detect/index.ts';
import { PolicyEngine, RpzZone } from '../policy/index.ts';
import { DataPlane } from './data-plane.ts';
import type { ReplyTarget } from './forwarder.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function used(): number {
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

function query(name: string, id: number): Buffer {
  const labels = name.split('.');
  const q = Buffer.alloc(12 + labels.reduce((n, l) => n + l.length + 1, 0) + 5);
  q.writeUInt16BE(id, 0);
  q[2] = 1;
  q[5] = 1;
  let p = 12;
  for (const l of labels) {
    q[p++] = l.length;
    p += q.write(l, p, 'latin1');
  }
  q[p++] = 0;
  q.writeUInt16BE(1, p);
  q.writeUInt16BE(1, p + 2);
  return q;
}

test('millions of distinct clients and names through DataPlane.query(): bounded memory, sampling past the budget, every query answered', () => {
  const clock = new ManualClock(1_700_000_000_000);
  const abuse = new RpzZone('dns-abuse.detect.invalid');
  const cc = new RpzZone('cc.test');
  cc.apply({ setTriggers: [{ trigger: '*.cc-wild.example', action: 'nxdomain' }] });
  const engine = new PolicyEngine({ zones: [cc, abuse] });
  const detection = new DnsDetection({ clock, zone: abuse }, { maxEventsPerSecond: 100_000 });
  const plane = new DataPlane({
    upstreams: [{ host: '127.0.0.1', port: 9 }],
    timeoutMs: 1000,
    downAfter: 3,
    probeIntervalMs: 1000,
    tcpIdleMs: 1000,
    onBlock: () => undefined,
    log: () => undefined,
    now: () => clock.now(),
    observer: detection,
    zoneKinds: new Map([
      ['cc.test', 'cc'],
      ['dns-abuse.detect.invalid', 'dns-abuse'],
    ]),
  });
  plane.setEngine(engine);
  let answered = 0;
  const target: ReplyTarget = { send: () => void answered++ };
  let i = 0;
  const feed = (n: number) => {
    for (const end = i + n; i < end; i++) {
      const client = i % 3 === 0 ? `2001:db8:${(i >> 16).toString(16)}::${(i & 0xffff).toString(16)}` : `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      // Names at the length limits now and then, and binary labels.
      const name = i % 1000 === 0 ? `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.x${i % 7}.cc-wild.example` : i % 997 === 0 ? `\u0001\u00ff${i}.cc-wild.example` : `n${i}.z${i >> 6}.cc-wild.example`;
      const q = query(name, i & 0xffff);
      plane.query(q, q.length, false, target, 53, client, true);
      // 200,000 queries per second of traffic time: twice the detector's budget.
      if (i % 200_000 === 199_999) {
        clock.advance(1000);
        detection.tick();
      }
    }
  };
  feed(1_000_000);
  const before = used();
  feed(2_000_000);
  const after = used();
  const s = detection.stats();
  assert.equal(answered, 3_000_000, 'a query went unanswered');
  assert.ok(s.sampledOut > 0, 'no sampling past maxEventsPerSecond');
  assert.ok(s.events - s.sampledOut >= 1_000_000, `detection looked at only ${s.events - s.sampledOut} events`);
  assert.ok(s.trackedClients <= DEFAULT_OPTIONS.infection.maxClients, `clients ${s.trackedClients}`);
  assert.ok(s.trackedZones <= DEFAULT_OPTIONS.prsd.maxZones, `zones ${s.trackedZones}`);
  const growth = after - before;
  assert.ok(growth < 24 * 1024 * 1024, `grew ${(growth / 1048576).toFixed(1)} MiB over 2 M more distinct clients and names`);
});
