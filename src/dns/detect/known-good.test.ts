import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KnownGoodNames } from './known-good.ts';
import { hashBackward, NameParts } from './names.ts';

function note(kg: KnownGoodNames, name: string, sec: number): void {
  const n = new NameParts();
  n.parse(name);
  kg.note(name, n.full, n.hash(n.zoneLabels), sec);
}

test('known-good names: kept through the table growing, bounded, popular names survive a flood of new ones, text comes back intact', () => {
  const kg = new KnownGoodNames(4096);
  const zone = hashBackward('victim.example');
  const early = Array.from({ length: 50 }, (_, i) => `host${i}.victim.example`);
  for (const name of early) note(kg, name, 10);
  assert.deepEqual(kg.namesOf(zone, 'victim.example', 11, 1000).sort(), [...early].sort());
  // 20,000 names seen once (the table grows to its bound, then replaces); the early names asked again every period.
  for (let i = 0; i < 20_000; i++) {
    note(kg, `n${i}.other${i % 97}.example`, 20 + (i >> 10));
    if ((i & 1023) === 0) {
      kg.newPeriod();
      for (const name of early) note(kg, name, 20 + (i >> 10));
    }
  }
  assert.ok(kg.size <= 4096 && kg.size >= 4000, `size ${kg.size}`);
  // Every early name is still held, with its text intact (rewritten when the ring had passed over it), first seen at 10.
  assert.deepEqual(kg.namesOf(zone, 'victim.example', 11, 1000).sort(), [...early].sort());
  assert.deepEqual(kg.namesOf(zone, 'victim.example', 10, 1000), []);
  // A name seen once, long ago, has aged out.
  const n = new NameParts();
  n.parse('n5.other5.example');
  assert.equal(kg.has(n.full, n.hash(n.zoneLabels)), false);
  n.parse('n19999.other17.example');
  assert.equal(kg.has(n.full, n.hash(n.zoneLabels)), true);
});
