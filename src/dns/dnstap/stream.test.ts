import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import fc from 'fast-check';
import { EventHub, SampledQueue } from './stream.ts';
import type { DnstapEvent } from './event.ts';

const ev = (i: number): DnstapEvent => ({ at: i, client: '192.0.2.1', qname: `n${i}.example`, qtype: 1, transport: 'udp' });

describe('SampledQueue', () => {
  it('keeps everything in order while there is room, then refuses (counted)', () => {
    const q = new SampledQueue<number>(4);
    for (let i = 0; i < 6; i++) q.offer(i);
    assert.equal(q.length, 4);
    assert.equal(q.dropped, 2);
    assert.deepEqual([q.take(), q.take(), q.take(), q.take(), q.take()], [0, 1, 2, 3, undefined]);
  });

  it('samples harder when over half full at adjust(), as far as offered/taken says; gentler under an eighth', () => {
    const q = new SampledQueue<number>(1000);
    for (let i = 0; i < 800; i++) q.offer(i);
    for (let i = 0; i < 100; i++) q.take();
    // 800 offered, 100 taken in the interval: one in 8 is what the consumer keeps up with.
    q.adjust();
    assert.equal(q.keepOneIn, 8);
    const before = q.length;
    for (let i = 0; i < 800; i++) q.offer(i);
    assert.equal(q.length - before, 100);
    assert.equal(q.sampledOut, 700);
    while (q.length > 100) q.take();
    q.adjust();
    assert.equal(q.keepOneIn, 4);
    q.adjust();
    q.adjust();
    assert.equal(q.keepOneIn, 1);
  });

  it('a consumer that takes nothing: one step harder each adjust, up to one in 65536', () => {
    const q = new SampledQueue<number>(10);
    for (let i = 0; i < 10; i++) q.offer(i);
    for (let k = 1; k <= 20; k++) q.adjust();
    assert.equal(q.keepOneIn, 65536);
  });

  it('property: never holds more than its capacity, and every offer is queued, sampled out or dropped', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.array(fc.constantFrom('offer', 'offer', 'offer', 'take', 'adjust'), { maxLength: 400 }), (cap, ops) => {
        const q = new SampledQueue<number>(cap);
        let offered = 0;
        let queued = 0;
        let taken = 0;
        for (const op of ops) {
          if (op === 'offer') {
            if (q.offer(offered++)) queued++;
          } else if (op === 'take') {
            if (q.take() !== undefined) taken++;
          } else q.adjust();
          assert.ok(q.length <= cap);
        }
        assert.equal(offered, queued + q.sampledOut + q.dropped);
        assert.equal(q.length, queued - taken);
      }),
    );
  });
});

describe('EventHub', () => {
  it('handlers get every event, in order, outside the publishing call', async () => {
    const hub = new EventHub({ capacity: 100 });
    const got: number[] = [];
    hub.onEvent((e) => got.push(e.at));
    for (let i = 0; i < 10; i++) hub.publish(ev(i));
    assert.deepEqual(got, []);
    await tick();
    assert.deepEqual(got, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('a throwing handler is counted and keeps its place; unsubscribing stops it', async () => {
    const errors: unknown[] = [];
    const hub = new EventHub({ capacity: 10, onHandlerError: (e) => errors.push(e) });
    let n = 0;
    const off = hub.onEvent(() => {
      n++;
      throw new Error('boom');
    });
    hub.publish(ev(1));
    hub.publish(ev(2));
    await tick();
    assert.equal(n, 2);
    assert.equal(hub.handlerErrors, 2);
    assert.equal(errors.length, 2);
    off();
    hub.publish(ev(3));
    await tick();
    assert.equal(n, 2);
    assert.equal(hub.consumerCount, 0);
  });

  it('a slow handler gets a sample once it falls behind; the publisher never waits and memory stays at capacity', async () => {
    const hub = new EventHub({ capacity: 1000, batch: 100 });
    let seen = 0;
    hub.onEvent(() => {
      seen++;
    });
    // 10,000 events per turn of the loop, the handler is given 100 per turn.
    for (let turn = 0; turn < 20; turn++) {
      for (let i = 0; i < 10_000; i++) hub.publish(ev(i));
      const s = hub.stats()[0]!;
      assert.ok(s.queued <= 1000);
      hub.adjust();
      await tick();
    }
    const s = hub.stats()[0]!;
    assert.ok(s.keepOneIn >= 64, `keepOneIn ${s.keepOneIn}`);
    assert.ok(s.sampledOut > 100_000, `sampledOut ${s.sampledOut}`);
    assert.equal(seen + s.queued + s.sampledOut + s.dropped, 200_000);
  });

  it('one slow consumer does not slow or sample another', async () => {
    const hub = new EventHub({ capacity: 50, batch: 10 });
    const fast: number[] = [];
    hub.onEvent((e) => fast.push(e.at));
    const slow = hub.events();
    for (let i = 0; i < 40; i++) hub.publish(ev(i));
    await tick();
    await tick();
    await tick();
    await tick();
    assert.equal(fast.length, 40);
    assert.equal(slow.dropped + slow.sampledOut, 0);
    for (let i = 0; i < 40; i++) hub.publish(ev(i));
    assert.equal(slow.dropped, 30);
    slow.close();
  });

  it('async iterators: for await gets the events, a break unsubscribes, close() of the hub ends them after what they hold', async () => {
    const hub = new EventHub({ capacity: 100 });
    const a = hub.events();
    const b = hub.events();
    for (let i = 0; i < 5; i++) hub.publish(ev(i));
    const got: number[] = [];
    for await (const e of a) {
      got.push(e.at);
      if (got.length === 3) break;
    }
    assert.deepEqual(got, [0, 1, 2]);
    assert.equal(hub.consumerCount, 1);
    const waiting = b.next();
    hub.close();
    const rest: number[] = [];
    const first = await waiting;
    if (!first.done) rest.push(first.value.at);
    for await (const e of b) rest.push(e.at);
    assert.deepEqual(rest, [0, 1, 2, 3, 4]);
    assert.deepEqual(await hub.events().next(), { value: undefined, done: true });
  });

  it('an iterator waiting for the next event is woken by publish', async () => {
    const hub = new EventHub({ capacity: 10 });
    const it = hub.events();
    const p = it.next();
    hub.publish(ev(7));
    assert.equal(((await p) as IteratorYieldResult<DnstapEvent>).value.at, 7);
    await assert.rejects(async () => {
      const p1 = it.next();
      const p2 = it.next();
      await Promise.all([p1, p2]);
    }, /called again/);
    it.close();
  });

  it('counts of consumers that left stay in the totals (Prometheus counters never go down)', () => {
    const hub = new EventHub({ capacity: 1 });
    const s = hub.events();
    hub.publish(ev(1));
    hub.publish(ev(2));
    assert.equal(hub.totals().dropped, 1);
    s.close();
    assert.equal(hub.totals().dropped, 1);
    hub.close();
    assert.equal(hub.totals().dropped, 1);
  });

  it('handlers get what their queue holds when the hub closes', () => {
    const hub = new EventHub({ capacity: 10 });
    const got: number[] = [];
    hub.onEvent((e) => got.push(e.at));
    hub.publish(ev(1));
    hub.publish(ev(2));
    hub.close();
    assert.deepEqual(got, [1, 2]);
  });
});
