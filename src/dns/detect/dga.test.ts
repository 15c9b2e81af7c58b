import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scoreLabel, IDN_SCORE } from './dga.ts';
import { benignLabel, DGA_FAMILIES, dgaLabel } from './eval/labels.ts';
import { Rng } from '../../core/index.ts';
import { TEST_WORDS } from './eval/words.ts';

test('DGA scorer on held-out words: generated families score above ordinary labels', () => {
  const rng = new Rng(99);
  const benign: number[] = [];
  for (let i = 0; i < 5000; i++) benign.push(scoreLabel(benignLabel(rng, TEST_WORDS)));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const fpr = benign.filter((s) => s >= 0.5).length / benign.length;
  assert.ok(mean(benign) < 0.3, `benign mean ${mean(benign)}`);
  assert.ok(fpr < 0.15, `benign labels scoring >= 0.5: ${fpr}`);
  for (const f of DGA_FAMILIES) {
    const xs: number[] = [];
    for (let i = 0; i < 2000; i++) xs.push(scoreLabel(dgaLabel(rng, f, TEST_WORDS)));
    if (f === 'dictionary') continue; // word compounds look ordinary by design (caught by NXDOMAIN counts)
    // Consonant-vowel names are the hard family for a character model: clearly above, not far.
    const floor = f === 'pronounceable' ? mean(benign) + 0.2 : 0.8;
    assert.ok(mean(xs) > floor, `${f}: mean ${mean(xs)}`);
  }
});

test('DGA scorer: examples, IDNA labels, empty and odd input', () => {
  for (const l of ['google', 'rakuten', 'kagoshima', 'www', 'mail', 'nhk']) assert.ok(scoreLabel(l) < 0.5, l);
  for (const l of ['d41d8cd98f00b204e980', 'xjwqkdhpzt', 'mfrggzdfmztwq2lk', 'a8f3kq0zx1']) assert.ok(scoreLabel(l) > 0.9, l);
  assert.equal(scoreLabel('xn--eckwd4c7c'), IDN_SCORE);
  assert.equal(scoreLabel(''), 0);
  const s = scoreLabel('\u00ff\u0000\\255'.repeat(30));
  assert.ok(s >= 0 && s <= 1);
  // a range inside a longer string
  assert.equal(scoreLabel('www.google.com', 4, 10), scoreLabel('google'));
});
