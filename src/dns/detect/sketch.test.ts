import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EpochCountMin, HyperLogLog, SlotIndex } from './sketch.ts';
import { hashBackward } from './names.ts';

test('HyperLogLog: relative error within 3 standard errors from 10 to 10^6 distinct names (p = 7 and 10)', () => {
  for (const p of [7, 10]) {
    const se = 1.04 / Math.sqrt(1 << p);
    for (const n of [10, 100, 1000, 10_000, 100_000, 1_000_000]) {
      const h = new HyperLogLog(p);
      for (let i = 0; i < n; i++) h.add(hashBackward(`n${i}.victim.example`));
      // Adding the same names again changes nothing.
      for (let i = 0; i < Math.min(n, 1000); i++) h.add(hashBackward(`n${i}.victim.example`));
      const err = Math.abs(h.estimate() - n) / n;
      assert.ok(err <= 3 * se, `p=${p} n=${n}: estimate ${h.estimate().toFixed(0)} is ${(err * 100).toFixed(1)}% off (3 sigma = ${(3 * se * 100).toFixed(1)}%)`);
    }
  }
});

test('HyperLogLog: mean error over many sets matches the theory (p = 7)', () => {
  const p = 7;
  let sq = 0;
  const runs = 60;
  for (let r = 0; r < runs; r++) {
    const h = new HyperLogLog(p);
    for (let i = 0; i < 5000; i++) h.add(hashBackward(`r${r}-${i}.example.com`));
    sq += ((h.estimate() - 5000) / 5000) ** 2;
  }
  const rmse = Math.sqrt(sq / runs);
  assert.ok(rmse < 1.5 * (1.04 / Math.sqrt(1 << p)), `rmse ${rmse}`);
});

test('count-min: never under-counts, resets per epoch', () => {
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 2000 }), (keys) => {
      const cms = new EpochCountMin(6, 3); // tiny table: many collisions
      const truth = new Map<number, number>();
      for (const k of keys) {
        const est = cms.add(k, 7);
        truth.set(k, (truth.get(k) ?? 0) + 1);
        assert.ok(est >= truth.get(k)!);
      }
      assert.equal(cms.add(keys[0]!, 8), 1);
    }),
  );
});

test('SlotIndex behaves like a Map under random set/delete (backward-shift deletion keeps chains)', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.boolean(), fc.integer({ min: -50, max: 50 })), { maxLength: 500 }), (ops) => {
      const idx = new SlotIndex(128);
      const m = new Map<number, number>();
      let n = 0;
      for (const [add, k] of ops) {
        if (add && (m.has(k) || m.size < 128)) {
          idx.set(k, n);
          m.set(k, n++);
        } else {
          assert.equal(idx.delete(k), m.delete(k));
        }
        assert.equal(idx.size, m.size);
      }
      for (let k = -50; k <= 50; k++) assert.equal(idx.get(k), m.has(k) ? m.get(k) : -1);
    }),
  );
});
