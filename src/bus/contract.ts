/**
 * The one contract every Bus adapter passes (memory.test.ts, nats.test.ts).
 * `makeBus` must return a fresh, empty bus each call: tests assume they are
 * alone on it.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SakimoriError } from '../core/index.ts';
import type { Bus, BusMessage, Handler } from './port.ts';

/** Time allowed for something that should happen "promptly" (far below any ackWait the tests would otherwise hit). */
const PROMPT_MS = 5_000;
/** How long to watch for a message that must not come. */
const QUIET_MS = 300;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond`; on timeout the error shows `state()` (what had arrived), so a failure explains itself. */
async function waitFor(what: string, cond: () => boolean, timeoutMs = PROMPT_MS, state?: () => unknown): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${state ? `; had ${JSON.stringify(state())}` : ''}`);
    }
    await sleep(5);
  }
}

/** Records what a handler was given; the handler itself acknowledges unless told otherwise. */
class Inbox<T = unknown> {
  readonly got: BusMessage<T>[] = [];
  readonly handler: Handler<T> = (m) => {
    this.got.push(m);
  };
  get seqs(): number[] {
    return this.got.map((m) => m.seq);
  }
  until(n: number, what = `${n} message(s)`): Promise<void> {
    return waitFor(what, () => this.got.length >= n, PROMPT_MS, () => this.got.map((m) => [m.seq, m.redelivered]));
  }
}

const never = (): Promise<void> => new Promise<void>(() => undefined);

async function publishAll(bus: Bus, topic: string, items: unknown[]): Promise<number[]> {
  const seqs: number[] = [];
  for (const data of items) seqs.push((await bus.publish(topic, data)).seq);
  return seqs;
}

const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i);

export function busContract(name: string, makeBus: () => Promise<Bus>): void {
  describe(`Bus contract: ${name}`, () => {
    const withBus = (title: string, fn: (bus: Bus) => Promise<void>, timeout = 30_000): void => {
      test(title, { timeout }, async () => {
        const bus = await makeBus();
        try {
          await fn(bus);
        } finally {
          await bus.close();
        }
      });
    };

    withBus('publish returns positive, increasing sequence numbers across topics', async (bus) => {
      const seqs = [];
      for (const i of range(6)) seqs.push((await bus.publish(i % 2 ? 'alpha' : 'beta', { i })).seq);
      for (const s of seqs) assert.ok(Number.isSafeInteger(s) && s > 0, `seq ${s} is a positive integer`);
      for (let i = 1; i < seqs.length; i++) assert.ok(seqs[i]! > seqs[i - 1]!, `seqs increase: ${seqs.join(',')}`);
      await bus.ping();
    });

    withBus("from 'all' delivers what was published before the subscription, in order", async (bus) => {
      const before = Date.now();
      const seqs = await publishAll(bus, 'observations', [{ n: 1 }, { n: 2 }, { n: 3 }]);
      const inbox = new Inbox<{ n: number }>();
      const sub = await bus.subscribe('observations', { durable: 'all-reader', from: 'all' }, inbox.handler);
      await inbox.until(3);
      assert.deepEqual(inbox.seqs, seqs);
      assert.deepEqual(inbox.got.map((m) => m.data.n), [1, 2, 3]);
      for (const m of inbox.got) {
        assert.equal(m.topic, 'observations');
        assert.equal(m.redelivered, false);
        assert.ok(m.publishedAt >= before - 1000 && m.publishedAt <= Date.now() + 1000, `publishedAt ${m.publishedAt} is about now`);
      }
      await sub.close();
    });

    withBus("'all' is the default start position", async (bus) => {
      await bus.publish('observations', 'early');
      const inbox = new Inbox();
      const sub = await bus.subscribe('observations', { durable: 'default-start' }, inbox.handler);
      await inbox.until(1);
      assert.equal(inbox.got[0]!.data, 'early');
      await sub.close();
    });

    withBus("from 'new' skips what was published before the durable existed", async (bus) => {
      await bus.publish('observations', 'old');
      const inbox = new Inbox();
      const sub = await bus.subscribe('observations', { durable: 'new-reader', from: 'new' }, inbox.handler);
      const { seq } = await bus.publish('observations', 'fresh');
      await inbox.until(1);
      await sleep(QUIET_MS);
      assert.deepEqual(inbox.got.map((m) => [m.seq, m.data]), [[seq, 'fresh']]);
      await sub.close();
    });

    withBus('from { seq } starts at that sequence number', async (bus) => {
      const seqs = await publishAll(bus, 'observations', range(5));
      const inbox = new Inbox<number>();
      const sub = await bus.subscribe('observations', { durable: 'seq-reader', from: { seq: seqs[2]! } }, inbox.handler);
      await inbox.until(3);
      await sleep(QUIET_MS);
      assert.deepEqual(inbox.seqs, seqs.slice(2));
      assert.deepEqual(inbox.got.map((m) => m.data), [2, 3, 4]);
      await sub.close();
    });

    withBus('a durable keeps its position across close and resubscribe: nothing missed, nothing acked twice', async (bus) => {
      const first = await publishAll(bus, 'cases', range(5));
      const a = new Inbox();
      const subA = await bus.subscribe('cases', { durable: 'case-builder' }, a.handler);
      await a.until(5);
      await subA.close();
      const second = await publishAll(bus, 'cases', range(3, 5));
      const b = new Inbox();
      // `from` is ignored for a durable that exists: it resumes where it was.
      const subB = await bus.subscribe('cases', { durable: 'case-builder', from: 'all' }, b.handler);
      await b.until(3);
      await sleep(QUIET_MS);
      assert.deepEqual(a.seqs, first);
      assert.deepEqual(b.seqs, second);
      assert.ok(b.got.every((m) => !m.redelivered));
      await subB.close();
    });

    withBus('a handler that throws gets the message again, marked redelivered', async (bus) => {
      const seqs = await publishAll(bus, 'observations', ['poison-once', 'next']);
      const got: [number, unknown, boolean][] = [];
      let failed = false;
      const sub = await bus.subscribe('observations', { durable: 'flaky' }, (m) => {
        got.push([m.seq, m.data, m.redelivered]);
        if (m.data === 'poison-once' && !failed) {
          failed = true;
          throw new Error('temporary failure');
        }
      });
      await waitFor('the retry and the next message', () => got.length >= 3, PROMPT_MS, () => got);
      await sleep(QUIET_MS);
      const poison = got.filter(([seq]) => seq === seqs[0]);
      assert.deepEqual(poison, [
        [seqs[0], 'poison-once', false],
        [seqs[0], 'poison-once', true],
      ]);
      assert.deepEqual(
        got.filter(([seq]) => seq === seqs[1]),
        [[seqs[1], 'next', false]],
      );
      await sub.close();
    });

    withBus('a rejected promise counts as a failure too', async (bus) => {
      const { seq } = await bus.publish('observations', 'x');
      const got: boolean[] = [];
      const sub = await bus.subscribe('observations', { durable: 'rejecter' }, async (m) => {
        got.push(m.redelivered);
        if (got.length === 1) throw new Error('async failure');
      });
      await waitFor('redelivery', () => got.length >= 2);
      assert.deepEqual(got, [false, true]);
      const again = await bus.read('observations', seq);
      assert.equal(again.length, 1);
      await sub.close();
    });

    withBus('a subscription closed without acknowledging hands its message to the next subscriber at once', async (bus) => {
      const { seq } = await bus.publish('observations', { crash: 'me' });
      const a = new Inbox();
      const subA = await bus.subscribe('observations', { durable: 'crashy', ackWaitMs: 60_000 }, (m) => {
        a.got.push(m);
        return never(); // "crashes" before acknowledging
      });
      await a.until(1);
      await subA.close();
      const b = new Inbox();
      const started = Date.now();
      const subB = await bus.subscribe('observations', { durable: 'crashy', ackWaitMs: 60_000 }, b.handler);
      await b.until(1);
      assert.ok(Date.now() - started < PROMPT_MS, 'well before ackWait');
      assert.equal(b.got[0]!.seq, seq);
      assert.equal(b.got[0]!.redelivered, true);
      assert.deepEqual(b.got[0]!.data, { crash: 'me' });
      await subB.close();
    });

    withBus('a consumer that stops mid-stream loses nothing: every unacknowledged message reaches the next subscriber', async (bus) => {
      const seqs = await publishAll(bus, 'observations', range(40));
      const acked = new Set<number>();
      let seen = 0;
      const subA = await bus.subscribe('observations', { durable: 'mid-stream', maxInFlight: 8, ackWaitMs: 60_000 }, async (m) => {
        seen++;
        if (m.seq % 3 === 0 || seen > 20) return never(); // some hang forever, as if the process died
        acked.add(m.seq);
      });
      await waitFor('subscriber A to stall', () => seen > 20);
      await sleep(50);
      await subA.close();
      const b = new Inbox();
      const subB = await bus.subscribe('observations', { durable: 'mid-stream', maxInFlight: 8 }, b.handler);
      const expected = seqs.filter((s) => !acked.has(s));
      await waitFor('every unacknowledged message', () => expected.every((s) => b.seqs.includes(s)));
      await sleep(QUIET_MS);
      assert.deepEqual([...new Set([...acked, ...b.seqs])].sort((x, y) => x - y), seqs, 'no event lost');
      assert.equal(b.seqs.filter((s) => acked.has(s)).length, 0, 'acknowledged messages are not delivered again');
      await subB.close();
    });

    withBus('a message not acknowledged within ackWait is delivered again', async (bus) => {
      const { seq } = await bus.publish('observations', 'slow');
      const a = new Inbox();
      const ackWaitMs = 500;
      const subA = await bus.subscribe('observations', { durable: 'slowpoke', ackWaitMs }, (m) => {
        a.got.push(m);
        return never(); // holds its only slot forever
      });
      await a.until(1);
      const started = Date.now();
      const b = new Inbox();
      const subB = await bus.subscribe('observations', { durable: 'slowpoke', ackWaitMs }, b.handler);
      await b.until(1, 'redelivery after ackWait');
      const waited = Date.now() - started;
      assert.ok(waited >= ackWaitMs * 0.7, `redelivered after ${waited} ms, not before ackWait (${ackWaitMs} ms)`);
      assert.equal(b.got[0]!.seq, seq);
      assert.equal(b.got[0]!.redelivered, true);
      assert.equal(a.got[0]!.redelivered, false);
      await subA.close();
      await subB.close();
    });

    withBus("the newest subscription's ackWait applies to the durable", async (bus) => {
      const first = new Inbox();
      const sub1 = await bus.subscribe('observations', { durable: 'retimed', ackWaitMs: 60_000 }, first.handler);
      await sub1.close();
      const { seq } = await bus.publish('observations', 'x');
      const a = new Inbox();
      const subA = await bus.subscribe('observations', { durable: 'retimed', ackWaitMs: 400 }, (m) => {
        a.got.push(m);
        return never();
      });
      await a.until(1);
      const b = new Inbox();
      const subB = await bus.subscribe('observations', { durable: 'retimed', ackWaitMs: 400 }, b.handler);
      await b.until(1, 'redelivery after the shorter ackWait');
      assert.equal(b.got[0]!.seq, seq);
      assert.equal(b.got[0]!.redelivered, true);
      await subA.close();
      await subB.close();
    });

    withBus('two subscriptions of one durable share the work without loss or duplicates', async (bus) => {
      const a = new Inbox();
      const b = new Inbox();
      const slow = (inbox: Inbox): Handler => async (m) => {
        await sleep(1);
        inbox.got.push(m);
      };
      const subA = await bus.subscribe('observations', { durable: 'workers' }, slow(a));
      const subB = await bus.subscribe('observations', { durable: 'workers' }, slow(b));
      const seqs = await publishAll(bus, 'observations', range(200));
      await waitFor('all 200 messages', () => a.got.length + b.got.length >= 200);
      await sleep(QUIET_MS);
      const all = [...a.seqs, ...b.seqs].sort((x, y) => x - y);
      assert.deepEqual(all, seqs);
      assert.ok(a.got.length > 0 && b.got.length > 0, `both worked: ${a.got.length} / ${b.got.length}`);
      await subA.close();
      await subB.close();
    });

    withBus('different durables each get every message', async (bus) => {
      const a = new Inbox();
      const b = new Inbox();
      const subA = await bus.subscribe('observations', { durable: 'reader-a' }, a.handler);
      const subB = await bus.subscribe('observations', { durable: 'reader-b' }, b.handler);
      const seqs = await publishAll(bus, 'observations', range(10));
      await a.until(10);
      await b.until(10);
      assert.deepEqual(a.seqs, seqs);
      assert.deepEqual(b.seqs, seqs);
      await subA.close();
      await subB.close();
    });

    withBus('topics are isolated, also from their dotted children', async (bus) => {
      const alpha = await publishAll(bus, 'alpha', ['a1', 'a2']);
      await publishAll(bus, 'alpha.beta', ['ab1']);
      await publishAll(bus, 'beta', ['b1']);
      const inbox = new Inbox();
      // Same durable name on two topics: two separate consumers.
      const sub = await bus.subscribe('alpha', { durable: 'one-name' }, inbox.handler);
      const child = new Inbox();
      const subChild = await bus.subscribe('alpha.beta', { durable: 'one-name' }, child.handler);
      await inbox.until(2);
      await child.until(1);
      await sleep(QUIET_MS);
      assert.deepEqual(inbox.seqs, alpha);
      assert.deepEqual(inbox.got.map((m) => m.data), ['a1', 'a2']);
      assert.deepEqual(child.got.map((m) => m.data), ['ab1']);
      assert.deepEqual((await bus.read('beta', 0)).map((m) => m.data), ['b1']);
      await sub.close();
      await subChild.close();
    });

    withBus('read() replays a topic from a sequence number, without a consumer', async (bus) => {
      const seqs: number[] = [];
      for (const i of range(10)) {
        seqs.push((await bus.publish('observations', { i })).seq);
        await bus.publish('noise', { i });
      }
      const all = await bus.read<{ i: number }>('observations', 0);
      assert.deepEqual(all.map((m) => m.seq), seqs);
      assert.deepEqual(all.map((m) => m.data.i), range(10));
      assert.ok(all.every((m) => m.topic === 'observations' && !m.redelivered));
      const mid = await bus.read<{ i: number }>('observations', seqs[3]!, 3);
      assert.deepEqual(mid.map((m) => m.seq), seqs.slice(3, 6));
      // A sequence between two of this topic's messages starts at the next one.
      const between = await bus.read('observations', seqs[3]! + 1, 1);
      assert.deepEqual(between.map((m) => m.seq), [seqs[4]]);
      assert.deepEqual(await bus.read('observations', seqs[9]! + 100), []);
      assert.deepEqual(await bus.read('never-published', 0), []);
      // Reading does not consume: a durable still gets everything.
      const inbox = new Inbox();
      const sub = await bus.subscribe('observations', { durable: 'after-read' }, inbox.handler);
      await inbox.until(10);
      await sub.close();
    });

    withBus(
      '10,000 messages through one consumer: none lost, none delivered twice, nothing back after ack',
      async (bus) => {
        const total = 10_000;
        const published: number[] = [];
        // Published in concurrent chunks: the NATS client pipelines them on one connection, in order.
        for (let i = 0; i < total; i += 1000) {
          const acks = await Promise.all(range(Math.min(1000, total - i), i).map((n) => bus.publish('bulk', { n })));
          published.push(...acks.map((a) => a.seq));
        }
        const got: number[] = [];
        let redelivered = 0;
        const sub = await bus.subscribe<{ n: number }>('bulk', { durable: 'bulk-reader', maxInFlight: 32 }, (m) => {
          if (m.redelivered) redelivered++;
          got.push(m.seq);
        });
        await waitFor('10,000 messages', () => got.length >= total, 60_000);
        await sleep(QUIET_MS);
        await sub.close();
        assert.equal(redelivered, 0, 'no redeliveries');
        assert.equal(new Set(got).size, got.length, 'no duplicates');
        assert.deepEqual([...got].sort((x, y) => x - y), published);
        const again = new Inbox();
        const sub2 = await bus.subscribe('bulk', { durable: 'bulk-reader' }, again.handler);
        await sleep(QUIET_MS);
        assert.equal(again.got.length, 0, 'nothing acknowledged comes back');
        await sub2.close();
      },
      120_000,
    );

    withBus('one subscription with the default maxInFlight handles messages one at a time, in order', async (bus) => {
      const seqs = await publishAll(bus, 'ordered', range(200));
      const got: number[] = [];
      let running = 0;
      let overlap = 0;
      const sub = await bus.subscribe('ordered', { durable: 'in-order' }, async (m) => {
        if (++running > 1) overlap++;
        got.push(m.seq);
        await sleep(0);
        running--;
      });
      await waitFor('200 messages', () => got.length >= 200);
      assert.equal(overlap, 0, 'never two handlers at once');
      assert.deepEqual(got, seqs);
      await sub.close();
    });

    withBus('JSON data round-trips, Japanese text included', async (bus) => {
      const samples: unknown[] = [
        { fqdn: 'c2.example.jp', note: '悪性サイトへの通信を遮断しました', tags: ['ボットネット', 'C&C'], n: 3.25, ok: true, none: null },
        '通信の秘密',
        42,
        null,
        [1, '二', { 三: 3 }],
        { emoji: '🛡️', escapes: 'tab\tnewline\n"quote"\\', nested: { deep: { deeper: [[]] } } },
      ];
      const seqs = await publishAll(bus, 'i18n', samples);
      const inbox = new Inbox();
      const sub = await bus.subscribe('i18n', { durable: 'i18n-reader' }, inbox.handler);
      await inbox.until(samples.length);
      assert.deepEqual(inbox.got.map((m) => m.data), samples);
      assert.deepEqual((await bus.read('i18n', seqs[0]!)).map((m) => m.data), samples);
      await sub.close();
    });

    withBus('bad names and options fail with clear SakimoriErrors', async (bus) => {
      const code = (c: string) => (err: unknown) => err instanceof SakimoriError && err.code === c;
      await assert.rejects(bus.publish('Bad Topic', 1), code('BUS_TOPIC_INVALID'));
      await assert.rejects(bus.publish('a..b', 1), code('BUS_TOPIC_INVALID'));
      await assert.rejects(bus.publish('under_score', 1), code('BUS_TOPIC_INVALID'));
      await assert.rejects(bus.publish('a'.repeat(121), 1), code('BUS_TOPIC_INVALID'));
      await assert.rejects(bus.publish('ok', undefined), code('BUS_DATA_INVALID'));
      await assert.rejects(bus.publish('ok', { big: 1n }), code('BUS_DATA_INVALID'));
      await assert.rejects(bus.subscribe('ok', { durable: 'has space' }, () => undefined), code('BUS_DURABLE_INVALID'));
      await assert.rejects(bus.subscribe('ok', { durable: 'd', from: { seq: 0 } }, () => undefined), code('BUS_OPTION_INVALID'));
      await assert.rejects(bus.subscribe('ok', { durable: 'd', ackWaitMs: 0 }, () => undefined), code('BUS_OPTION_INVALID'));
      await assert.rejects(bus.subscribe('ok', { durable: 'd', maxInFlight: 0 }, () => undefined), code('BUS_OPTION_INVALID'));
      await assert.rejects(bus.read('ok', -1), code('BUS_OPTION_INVALID'));
    });

    test('a closed bus refuses work with BUS_CLOSED', async () => {
      const bus = await makeBus();
      await bus.close();
      await bus.close(); // twice is fine
      await assert.rejects(bus.publish('observations', 1), (e: unknown) => e instanceof SakimoriError && e.code === 'BUS_CLOSED');
      await assert.rejects(bus.ping(), (e: unknown) => e instanceof SakimoriError && e.code === 'BUS_CLOSED');
    });
  });
}
