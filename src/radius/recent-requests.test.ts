import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecentRequests } from './recent-requests.ts';

test('a retransmission finds its packet; an answered one keeps its answer for the window', () => {
  const r = new RecentRequests<string>({ windowMs: 10_000, maxEntries: 100 });
  const x = r.begin('event-1', 'pkt-1', 'nas-a', 0);
  assert.equal(r.packet('pkt-1'), x);
  assert.equal(r.event('event-1')?.state, 'pending');
  const toAnswer = r.delivered(x.delivery, 2000);
  assert.deepEqual(toAnswer, [x]);
  x.response = Uint8Array.of(1);
  r.sweep(11_000);
  assert.equal(r.packet('pkt-1')?.response?.[0], 1, 'the window counts from the answer');
  r.sweep(12_001);
  assert.equal(r.packet('pkt-1'), undefined);
  assert.equal(r.event('event-1'), undefined);
});

test('a retry with a new identifier joins the pending event and is answered with it', () => {
  const r = new RecentRequests<string>({ windowMs: 10_000, maxEntries: 100 });
  const first = r.begin('event-1', 'pkt-1', 'a', 0);
  const retry = r.join(r.event('event-1')!, 'pkt-2', 'b', 3000);
  assert.deepEqual(r.delivered(first.delivery, 4000).map((x) => x.target), ['a', 'b']);
  // After delivery, a later retry is not queued: the caller answers it at once.
  const late = r.join(r.event('event-1')!, 'pkt-3', 'c', 5000);
  assert.equal(late.delivery.waiting.length, 0);
  assert.equal(retry.delivery, first.delivery);
});

test('a pending event outlives the window; a failed one is forgotten with its packets', () => {
  const r = new RecentRequests<string>({ windowMs: 1000, maxEntries: 100 });
  const x = r.begin('e', 'p', 't', 0);
  r.sweep(60_000);
  assert.equal(r.event('e'), x.delivery, 'still being recorded');
  assert.equal(r.packet('p'), undefined, 'its packet entry may expire; a retransmission finds the event instead');
  const again = r.join(x.delivery, 'p', 't', 60_000);
  r.failed(x.delivery);
  assert.equal(r.event('e'), undefined);
  assert.equal(r.packet('p'), undefined);
  assert.equal(again.delivery.waiting.length, 0);
  // A new delivery under the same key is independent of the failed one.
  const y = r.begin('e', 'p', 't', 61_000);
  assert.notEqual(y.delivery, x.delivery);
});

test('size stays bounded by maxEntries, oldest first', () => {
  const r = new RecentRequests<number>({ windowMs: 1e9, maxEntries: 50 });
  for (let i = 0; i < 200; i++) {
    const x = r.begin(`e${i}`, `p${i}`, i, i);
    r.delivered(x.delivery, i);
    r.sweep(i);
  }
  assert.ok(r.size.packets <= 51 && r.size.events <= 51, JSON.stringify(r.size));
  assert.equal(r.packet('p0'), undefined);
  assert.ok(r.packet('p199'));
});

test('sweeping with only pending events over the limit terminates', () => {
  const r = new RecentRequests<number>({ windowMs: 10, maxEntries: 5 });
  for (let i = 0; i < 20; i++) r.begin(`e${i}`, `p${i}`, i, 0);
  r.sweep(1000);
  assert.ok(r.size.events >= 1);
});
