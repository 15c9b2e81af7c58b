/**
 * Zones shared between threads (RpzZone.toShared / fromShared): a zone and its shared
 * copy decide identically; a change after sharing is seen by the thread that made it
 * only (copy-on-write), in either direction; and a real worker thread reads the same
 * SharedArrayBuffers, not a copy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { parseIp, workerBoot, type IpAddress } from '../../core/index.ts';
import { RRType } from '../wire/index.ts';
import { NO_MATCH, PolicyEngine, RpzZone, readZoneText, describeLoad, type TriggerRule } from './index.ts';

const label = fc.constantFrom('a', 'b', 'c', 'www', 'x-y', 'a\\.b', 'q\\255');
const name = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join('.'));
const client = fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 })).map(([a, b]) => `10.0.${a}.${b}`);
const action = fc.constantFrom<TriggerRule['action']>('nxdomain', 'nodata', 'passthru', 'drop', 'tcp-only', {
  localData: [{ type: RRType.A, ttl: 60, data: { kind: 'A', address: '192.0.2.1' } }],
});
const trigger = fc.oneof(
  { weight: 3, arbitrary: name },
  { weight: 3, arbitrary: name.map((n) => `*.${n}`) },
  { weight: 1, arbitrary: fc.constant('*') },
  // 10.0.a.b/32, 10.0.a.(4b)/30, 10.0.a.0/24: networks without host bits, overlapping.
  { weight: 1, arbitrary: fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 }), fc.constantFrom(24, 30, 32)).map(([a, b, bits]) => `${bits}.${bits === 24 ? 0 : bits === 30 ? 4 * b : b}.${a}.0.10.rpz-client-ip`) },
);
const rules = fc.uniqueArray(fc.record({ trigger, action }), { maxLength: 40, selector: (r) => r.trigger });

function built(rs: readonly TriggerRule[]): RpzZone {
  const z = new RpzZone('z.rpz');
  const r = z.apply({ setTriggers: rs });
  assert.ok(r.ok, JSON.stringify(r));
  return z;
}

const seen = (z: RpzZone, q: string, c: IpAddress | undefined): string => {
  const d = new PolicyEngine({ zones: [z] }).decide(q, c, RRType.A);
  return d === NO_MATCH ? 'none' : `${d.action} ${d.zone} ${d.trigger} ${d.ttl}`;
};

function queries(rs: readonly TriggerRule[], extra: readonly string[]): string[] {
  const out = new Set(['.', 'unrelated.example', ...extra]);
  for (const r of rs) {
    const n = r.trigger.replace(/^\*\.?/, '');
    if (n.includes('rpz-')) continue;
    out.add(n === '' ? 'top' : n).add(`www.${n}`).add(`a.b.${n}`);
  }
  return [...out];
}

test('property: fromShared(toShared()) decides as the zone does, on random names and clients', () => {
  fc.assert(
    fc.property(rules, fc.array(name, { maxLength: 10 }), fc.option(client, { nil: undefined }), (rs, extra, c) => {
      const original = built(rs);
      const reference = built(rs); // never shared
      const copy = RpzZone.fromShared(original.toShared());
      const ip = c === undefined ? undefined : parseIp(c);
      for (const q of queries(rs, extra)) {
        const want = seen(reference, q, ip);
        assert.equal(seen(copy, q, ip), want, `shared copy, ${q} from ${c}`);
        assert.equal(seen(original, q, ip), want, `original after toShared, ${q} from ${c}`);
      }
      assert.deepEqual(copy.stats(), original.stats());
    }),
    { numRuns: 300 },
  );
});

test('property: apply() after sharing changes the thread that applied it only (copy-on-write)', () => {
  fc.assert(
    fc.property(rules, rules, fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }), fc.array(name, { maxLength: 6 }), (rs, more, drop, extra) => {
      const removed = rs.filter((_, i) => drop[i % drop.length]).map((r) => r.trigger);
      const change = { removeTriggers: removed, setTriggers: more };
      const original = built(rs);
      const shared = original.toShared();
      const a = RpzZone.fromShared(shared);
      const b = RpzZone.fromShared(shared);
      assert.ok(a.apply(change).ok);
      const before = built(rs);
      const after = built(rs);
      assert.ok(after.apply(change).ok);
      for (const q of queries([...rs, ...more], extra)) {
        assert.equal(seen(a, q, undefined), seen(after, q, undefined), `changed copy, ${q}`);
        assert.equal(seen(b, q, undefined), seen(before, q, undefined), `other copy, ${q}`);
        assert.equal(seen(original, q, undefined), seen(before, q, undefined), `original, ${q}`);
      }
      // The original (which reads the shared buffers since toShared) changes too, alone.
      assert.ok(original.apply(change).ok);
      for (const q of queries([...rs, ...more], extra)) {
        assert.equal(seen(original, q, undefined), seen(after, q, undefined), `original changed, ${q}`);
        assert.equal(seen(b, q, undefined), seen(before, q, undefined), `other copy still, ${q}`);
      }
    }),
    { numRuns: 200 },
  );
});

test('a shared zone keeps every trigger kind, the SOA and local data (records() round trip)', () => {
  const text = [
    '$TTL 60',
    '@ SOA ns.example. h.example. 7 2 3 4 5',
    'a.example A 192.0.2.1',
    'a.example AAAA 2001:db8::1',
    '*.b.example CNAME .',
    'c.example CNAME *.',
    '*.c.example CNAME *.c.example.walled.example.',
    '32.1.2.0.192.rpz-client-ip CNAME rpz-drop.',
    '24.0.2.0.192.rpz-ip CNAME .',
    'ns.x.rpz-nsdname CNAME .',
    '32.53.2.0.192.rpz-nsip CNAME .',
  ].join('\n');
  const r = readZoneText(text, { origin: 'all.rpz' });
  assert.ok(r.ok, describeLoad(r).join('\n'));
  const want = [...r.zone.records()];
  const copy = RpzZone.fromShared(r.zone.toShared());
  assert.deepEqual([...copy.records()], want);
  assert.equal(copy.serial, 7);
  const d = new PolicyEngine({ zones: [copy] }).decide('www.c.example', undefined, RRType.A);
  assert.equal(d.action, 'local-data');
  assert.equal(new PolicyEngine({ zones: [copy] }).decide('x.example', parseIp('192.0.2.1'), RRType.A).action, 'drop');
  // Sharing twice without a change hands out the same buffers.
  assert.equal(r.zone.toShared().names.arena, r.zone.toShared().names.arena);
});

test('a worker thread decides from the same SharedArrayBuffers, and its change stays in that thread', async () => {
  const rs: TriggerRule[] = [];
  for (let i = 0; i < 5000; i++) rs.push({ trigger: i % 10 === 0 ? `*.n${i}.example` : `n${i}.example`, action: 'nxdomain' });
  const zone = built(rs);
  const shared = zone.toShared();
  const worker = new Worker(workerBoot(new URL('./testdata/decide-worker.ts', import.meta.url)), { eval: true });
  try {
    const reply = await new Promise<{ type: string; message?: string; decisions?: string[]; sameMemory?: boolean; afterChange?: string }>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.postMessage({ shared, queries: ['n1.example', 'www.n10.example', 'n10.example', 'n5000.example', 'www.n11.example'] });
    });
    assert.equal(reply.type, 'decided', reply.message);
    assert.deepEqual(reply.decisions, ['nxdomain qname', 'nxdomain wildcard', 'none', 'none', 'none']);
    // postMessage shares a SharedArrayBuffer (never copies it), and the worker's zone reads
    // it as it is until its own change.
    assert.equal(reply.sameMemory, true);
    // The worker removed n1.example in its thread; here it is still blocked.
    assert.equal(reply.afterChange, 'none');
    assert.equal(seen(zone, 'n1.example', undefined), 'nxdomain z.rpz qname 300');
  } finally {
    await worker.terminate();
  }
});

test('property: changes kept over a shared table (and folded into it) decide as a zone never shared, through every re-share', () => {
  const saved = RpzZone.foldMin;
  try {
    fc.assert(
      fc.property(rules, fc.array(fc.tuple(rules, fc.array(fc.boolean(), { minLength: 40, maxLength: 40 })), { minLength: 1, maxLength: 4 }), fc.integer({ min: 0, max: 12 }), fc.array(name, { maxLength: 6 }), (rs, steps, foldMin, extra) => {
        RpzZone.foldMin = foldMin; // 0: every change folds at once; 12: changes pile up over the table
        let main = built(rs);
        main.toShared();
        const reference = built(rs);
        let thread = RpzZone.fromShared(main.toShared());
        const all = [...rs];
        for (const [more, drop] of steps) {
          const removed = all.filter((_, i) => drop[i % drop.length]).map((r) => r.trigger);
          const change = { removeTriggers: removed, setTriggers: more };
          assert.ok(main.apply(change).ok);
          assert.ok(reference.apply(change).ok);
          all.push(...more);
          // The thread swaps in the new version whole; the main thread keeps changing its own.
          thread = RpzZone.fromShared(main.toShared());
          for (const q of queries(all, extra)) {
            const want = seen(reference, q, undefined);
            assert.equal(seen(main, q, undefined), want, `main thread, ${q}`);
            assert.equal(seen(thread, q, undefined), want, `other thread, ${q}`);
          }
          const { tableBytes: _a, ...want } = reference.stats();
          const { tableBytes: _b, ...got } = thread.stats();
          assert.deepEqual(got, want);
          const sorted = (z: RpzZone) => [...z.records()].map((r) => JSON.stringify(r)).sort();
          assert.deepEqual(sorted(thread), sorted(reference));
          if (main.pendingChanges > 0 && foldMin > 0) main = RpzZone.fromShared(main.toShared()); // a zone from fromShared changes the same way
        }
      }),
      { numRuns: 200 },
    );
  } finally {
    RpzZone.foldMin = saved;
  }
});

test('a small change to a shared zone leaves its table where it is: only the changes are shared anew, until they fold', () => {
  const rs: TriggerRule[] = [];
  for (let i = 0; i < 20_000; i++) rs.push({ trigger: i % 10 === 0 ? `*.n${i}.example` : `n${i}.example`, action: 'nxdomain' });
  const zone = built(rs);
  const first = zone.toShared();
  assert.ok(zone.apply({ setTriggers: [{ trigger: 'n1.example', action: 'nodata' }], removeTriggers: ['n2.example', '*.n10.example'] }).ok);
  const second = zone.toShared();
  assert.equal(second.names.arena, first.names.arena, 'the shared table is not copied for a change of three names');
  assert.equal(second.names.slots, first.names.slots);
  assert.ok(second.changes && second.changes.arena.byteLength < 4096, 'the changes travel in a small table of their own');
  const thread = RpzZone.fromShared(second);
  assert.equal(seen(thread, 'n1.example', undefined), 'nodata z.rpz qname 300');
  assert.equal(seen(thread, 'n2.example', undefined), 'none');
  assert.equal(seen(thread, 'www.n10.example', undefined), 'none');
  assert.equal(seen(thread, 'www.n20.example', undefined), 'nxdomain z.rpz wildcard 300');
  const was = RpzZone.fromShared(first).stats();
  assert.equal(thread.stats().qname, was.qname - 1);
  assert.equal(thread.stats().wildcard, was.wildcard - 1);
  // Past foldMin and an eighth of the table the changes fold into one new copy of it.
  const many: TriggerRule[] = [];
  for (let i = 0; i < Math.max(RpzZone.foldMin, 20_000 / 8) + 1; i++) many.push({ trigger: `new${i}.example`, action: 'drop' });
  assert.ok(zone.apply({ setTriggers: many }).ok);
  assert.equal(zone.pendingChanges, 0);
  const third = zone.toShared();
  assert.notEqual(third.names.arena, first.names.arena);
  assert.equal(third.changes, undefined);
  const after = RpzZone.fromShared(third);
  assert.equal(seen(after, 'new7.example', undefined), 'drop z.rpz qname 300');
  assert.equal(seen(after, 'n1.example', undefined), 'nodata z.rpz qname 300');
  assert.equal(seen(after, 'n2.example', undefined), 'none');
  assert.equal(after.stats().qname, thread.stats().qname + many.length);
});
