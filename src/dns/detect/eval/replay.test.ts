import { test } from 'node:test';
import assert from 'node:assert/strict';
import { replay } from './replay.ts';
import { World } from './traffic.ts';

test('evaluation replay (small world): every flood mitigated within 5 s, zero collateral on resolved and never-block names, no false alarm, infected clients found', () => {
  const world = new World({ seed: 5, durationSec: 420, zones: 800, cleanClients: 3000, infectedPerFamily: 8, benignQps: 600 });
  const r = replay(world);
  for (const a of r.prsd.attacks) {
    assert.ok(a.detectedAfterSec !== undefined && a.detectedAfterSec <= 5, `${a.zone} (${a.style}, ${a.response}) detected after ${a.detectedAfterSec}`);
    assert.equal(a.collateralKnown, 0, a.zone);
    assert.equal(a.collateralNeverBlock, 0, a.zone);
    assert.ok(a.blockedAfterDetection / a.attackAfterDetection > 0.99);
  }
  assert.equal(r.prsd.attacks.find((a) => a.qps === 5000)!.subject?.startsWith('www.'), true, 'the flood under www. mitigates www. only');
  assert.deepEqual(r.prsd.falseAlarmSubjects, []);
  assert.ok(r.amplification.names.every((a) => a.detectedAfterSec !== undefined && a.action === 'proposed'));
  assert.deepEqual(r.amplification.falseAlarms, []);
  assert.ok(r.infection.recall >= 0.9, `recall ${r.infection.recall}`);
  assert.ok(r.infection.falsePositives <= 3, `false positives ${r.infection.falsePositives}`);
});
