/**
 * The in-process bus (`bus.url: memory:`), the embedded default.
 *
 * One append-only log per topic, sequence numbers global to the bus. A
 * durable consumer is (topic, durable name) and keeps: a cursor (the lowest
 * sequence never delivered), the deliveries in flight, and the messages due
 * for another delivery (handler threw, ackWait ran out, or the subscription
 * holding them closed). Subscriptions of one durable share its work.
 *
 * Memory is bounded by `maxRetained` messages over all topics. Messages every
 * consumer of their topic has acknowledged are dropped oldest first; when the
 * unacknowledged ones alone fill the bound, publish fails with BUS_FULL naming
 * the consumer that lags, instead of silently dropping what it has not read.
 *
 * State lives as long as the bus: in-process, "a consumer that crashed" is a
 * subscription closed without acknowledging, and its messages go to the next
 * subscriber of the same durable.
 */
import { SakimoriError, errorMessage, systemClock, type Clock } from '../../core/index.ts';
import type { Bus, BusMessage, Handler, SubscribeOptions, Subscription } from '../port.ts';
import {
  DEFAULT_READ_LIMIT,
  checkReadArgs,
  checkTopic,
  consoleLogger,
  encodeData,
  resolveSubscribeOptions,
  retryDelayMs,
  type BusLogger,
} from '../rules.ts';
import { TopicLog, type StoredMessage } from './topic-log.ts';

export const DEFAULT_MAX_RETAINED = 100_000;

export interface MemoryBusOptions {
  /** Most messages held over all topics (default 100,000). */
  maxRetained?: number;
  /** Stamps publishedAt; ackWait and retry delays run on real timers. */
  clock?: Clock;
  logger?: BusLogger;
}

interface Delivery {
  readonly seq: number;
  readonly sub: MemorySubscription;
  /** 1 for the first delivery of this message to this consumer. */
  readonly count: number;
  timer: NodeJS.Timeout | undefined;
}

class DurableConsumer {
  /** Lowest sequence never delivered to this consumer. */
  cursor: number;
  ackWaitMs: number;
  readonly inFlight = new Map<number, Delivery>();
  /** Messages to deliver again: seq -> not before (performance.now()). */
  readonly due = new Map<number, number>();
  /** Deliveries so far of each unacknowledged message that was delivered. */
  readonly deliveryCounts = new Map<number, number>();
  readonly subs: MemorySubscription[] = [];
  nextSub = 0;
  pumpScheduled = false;
  retryTimer: NodeJS.Timeout | undefined;
  retryTimerAt = Infinity;

  constructor(
    readonly topic: string,
    readonly durable: string,
    readonly log: TopicLog,
    cursor: number,
    ackWaitMs: number,
  ) {
    this.cursor = cursor;
    this.ackWaitMs = ackWaitMs;
  }

  /** Lowest sequence not acknowledged yet: everything below it may be dropped. */
  ackFloor(): number {
    let floor = this.cursor;
    for (const seq of this.due.keys()) if (seq < floor) floor = seq;
    for (const seq of this.inFlight.keys()) if (seq < floor) floor = seq;
    return floor;
  }

  /** Retained messages this consumer has not acknowledged (an upper bound: acks above the floor are not subtracted). */
  lag(): number {
    return this.log.size - this.log.positionOf(this.ackFloor());
  }
}

class MemorySubscription implements Subscription {
  /** Slots in use: handlers running, including ones past their ackWait. */
  busy = 0;
  closed = false;
  constructor(
    readonly consumer: DurableConsumer,
    readonly handler: Handler<unknown>,
    readonly maxInFlight: number,
    private readonly onClose: (sub: MemorySubscription) => void,
  ) {}
  async close(): Promise<void> {
    this.onClose(this);
  }
}

export class MemoryBus implements Bus {
  readonly kind = 'memory' as const;
  readonly displayUrl = 'memory:';
  private readonly maxRetained: number;
  private readonly clock: Clock;
  private readonly logger: BusLogger;
  private readonly topics = new Map<string, TopicLog>();
  private readonly consumers = new Map<string, Map<string, DurableConsumer>>();
  private lastSeq = 0;
  private retained = 0;
  private closed = false;
  /** One warning / error per episode of lag, not one per publish. */
  private lagWarned = false;
  private fullReported = false;

  constructor(opts: MemoryBusOptions = {}) {
    const max = opts.maxRetained ?? DEFAULT_MAX_RETAINED;
    if (!Number.isSafeInteger(max) || max < 1) {
      throw new SakimoriError('BUS_OPTION_INVALID', `memory bus maxRetained must be a positive integer, got ${max}`);
    }
    this.maxRetained = max;
    this.clock = opts.clock ?? systemClock;
    this.logger = opts.logger ?? consoleLogger;
  }

  async publish(topic: string, data: unknown): Promise<{ seq: number }> {
    this.assertOpen();
    checkTopic(topic);
    const json = encodeData(topic, data);
    if (this.retained >= this.maxRetained) this.makeRoom(topic);
    const seq = ++this.lastSeq;
    this.topicLog(topic).append({ seq, publishedAt: this.clock.now(), json });
    this.retained++;
    for (const c of this.consumers.get(topic)?.values() ?? []) this.schedulePump(c);
    return { seq };
  }

  async subscribe<T = unknown>(topic: string, options: SubscribeOptions, handler: Handler<T>): Promise<Subscription> {
    this.assertOpen();
    const o = resolveSubscribeOptions(topic, options);
    let byName = this.consumers.get(topic);
    if (!byName) this.consumers.set(topic, (byName = new Map()));
    let c = byName.get(o.durable);
    if (!c) {
      const cursor = o.from === 'all' ? 1 : o.from === 'new' ? this.lastSeq + 1 : o.from.seq;
      c = new DurableConsumer(topic, o.durable, this.topicLog(topic), cursor, o.ackWaitMs);
      byName.set(o.durable, c);
    }
    c.ackWaitMs = o.ackWaitMs;
    const sub = new MemorySubscription(c, handler as Handler<unknown>, o.maxInFlight, (s) => this.closeSubscription(s));
    c.subs.push(sub);
    this.schedulePump(c);
    return sub;
  }

  async read<T = unknown>(topic: string, fromSeq: number, limit = DEFAULT_READ_LIMIT): Promise<BusMessage<T>[]> {
    this.assertOpen();
    checkReadArgs(topic, fromSeq, limit);
    const log = this.topics.get(topic);
    if (!log) return [];
    return log.slice(fromSeq, limit).map((m) => this.toMessage<T>(topic, m, false));
  }

  async ping(): Promise<void> {
    this.assertOpen();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const byName of this.consumers.values()) {
      for (const c of byName.values()) {
        for (const sub of [...c.subs]) this.closeSubscription(sub);
        clearTimeout(c.retryTimer);
        c.retryTimer = undefined;
      }
    }
  }

  // --- delivery ---------------------------------------------------------

  private schedulePump(c: DurableConsumer): void {
    if (c.pumpScheduled || this.closed) return;
    c.pumpScheduled = true;
    // setImmediate, not a direct call: a handler that publishes must not
    // re-enter delivery, and a long backlog must not starve I/O.
    setImmediate(() => {
      c.pumpScheduled = false;
      this.pump(c);
    });
  }

  private pump(c: DurableConsumer): void {
    if (this.closed) return;
    // One `now` for the whole turn: if "is it due yet?" and "arm a timer for
    // what is not due yet" read the clock separately, a message that becomes
    // due between the two reads gets neither, and waits forever.
    const now = performance.now();
    // A handler may close the bus or its subscription synchronously: re-check each turn.
    while (!this.closed) {
      const sub = this.freeSubscription(c);
      if (!sub) break;
      const entry = this.takeNext(c, now);
      if (!entry) break;
      this.deliver(c, sub, entry);
    }
    this.armRetryTimer(c, now);
  }

  /** Round-robin over subscriptions with a free slot, so subscriptions of one durable share the work. */
  private freeSubscription(c: DurableConsumer): MemorySubscription | undefined {
    const n = c.subs.length;
    for (let i = 0; i < n; i++) {
      const sub = c.subs[(c.nextSub + i) % n]!;
      if (sub.busy < sub.maxInFlight) {
        c.nextSub = (c.nextSub + i + 1) % n;
        return sub;
      }
    }
    return undefined;
  }

  /** Messages due again come first, lowest sequence first; then the next never-delivered one. */
  private takeNext(c: DurableConsumer, now: number): StoredMessage | undefined {
    let best: number | undefined;
    for (const [seq, notBefore] of c.due) if (notBefore <= now && (best === undefined || seq < best)) best = seq;
    if (best !== undefined) {
      c.due.delete(best);
      // Never dropped: trimming stops below the consumer's ack floor.
      return c.log.atOrAfter(best);
    }
    const fresh = c.log.atOrAfter(c.cursor);
    if (fresh) c.cursor = fresh.seq + 1;
    return fresh;
  }

  private deliver(c: DurableConsumer, sub: MemorySubscription, entry: StoredMessage): void {
    const count = (c.deliveryCounts.get(entry.seq) ?? 0) + 1;
    c.deliveryCounts.set(entry.seq, count);
    const d: Delivery = { seq: entry.seq, sub, count, timer: undefined };
    d.timer = setTimeout(() => this.expire(c, d), c.ackWaitMs);
    d.timer.unref();
    c.inFlight.set(entry.seq, d);
    sub.busy++;
    const msg = this.toMessage(c.topic, entry, count > 1);
    let result: Promise<void>;
    try {
      result = Promise.resolve(sub.handler(msg));
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      () => this.settle(c, d, true, undefined),
      (err: unknown) => this.settle(c, d, false, err),
    );
  }

  private settle(c: DurableConsumer, d: Delivery, ok: boolean, err: unknown): void {
    d.sub.busy--;
    if (c.inFlight.get(d.seq) === d) {
      clearTimeout(d.timer);
      c.inFlight.delete(d.seq);
      if (ok) {
        c.deliveryCounts.delete(d.seq);
      } else {
        const delay = retryDelayMs(d.count);
        c.due.set(d.seq, performance.now() + delay);
        this.logger.warn(
          { topic: c.topic, durable: c.durable, seq: d.seq, attempt: d.count, retryInMs: delay, err: errorMessage(err) },
          'bus handler failed; the message will be delivered again',
        );
      }
    } else if (ok && !d.sub.closed && !this.closed) {
      // A late ack (after ackWait ran out): the message is waiting to be
      // delivered again or is with another subscription. Accept it, as
      // JetStream does (it acks by stream sequence), to spare a duplicate.
      c.due.delete(d.seq);
      const other = c.inFlight.get(d.seq);
      if (other) {
        clearTimeout(other.timer);
        c.inFlight.delete(d.seq);
      }
      c.deliveryCounts.delete(d.seq);
    }
    this.schedulePump(c);
  }

  private expire(c: DurableConsumer, d: Delivery): void {
    if (c.inFlight.get(d.seq) !== d) return;
    c.inFlight.delete(d.seq);
    c.due.set(d.seq, 0);
    this.logger.warn(
      { topic: c.topic, durable: c.durable, seq: d.seq, attempt: d.count, ackWaitMs: c.ackWaitMs },
      'bus message not acknowledged within ackWait; it will be delivered again',
    );
    this.schedulePump(c);
  }

  private closeSubscription(sub: MemorySubscription): void {
    if (sub.closed) return;
    sub.closed = true;
    const c = sub.consumer;
    const i = c.subs.indexOf(sub);
    if (i >= 0) c.subs.splice(i, 1);
    // Unacknowledged messages go back to the consumer at once, for the next subscriber.
    for (const d of c.inFlight.values()) {
      if (d.sub !== sub) continue;
      clearTimeout(d.timer);
      c.inFlight.delete(d.seq);
      c.due.set(d.seq, 0);
    }
    this.schedulePump(c);
  }

  /**
   * Wakes the consumer when its earliest not-yet-due retry becomes due.
   * Messages already due need no timer: the subscriptions are busy, and the
   * next settled delivery pumps again.
   */
  private armRetryTimer(c: DurableConsumer, now: number): void {
    let next = Infinity;
    for (const notBefore of c.due.values()) if (notBefore > now && notBefore < next) next = notBefore;
    if (next === Infinity || next >= c.retryTimerAt) return;
    clearTimeout(c.retryTimer);
    c.retryTimerAt = next;
    // Node may fire a timer a little early; the pump then finds it not due and re-arms.
    c.retryTimer = setTimeout(() => {
      c.retryTimer = undefined;
      c.retryTimerAt = Infinity;
      this.pump(c);
    }, Math.max(1, next - performance.now()));
    c.retryTimer.unref();
  }

  // --- retention --------------------------------------------------------

  /**
   * Called when the bound is reached: drops acknowledged messages, oldest
   * first, down to 90% of the bound (so this runs once per 10% of publishes,
   * not on every one). Throws BUS_FULL if unacknowledged messages fill it.
   */
  private makeRoom(topic: string): void {
    const lowWater = Math.floor(this.maxRetained * 0.9);
    const droppable = new Map<string, number>();
    let totalDroppable = 0;
    for (const [t, log] of this.topics) {
      let floor = Infinity;
      for (const c of this.consumers.get(t)?.values() ?? []) floor = Math.min(floor, c.ackFloor());
      const n = log.positionOf(floor);
      if (n > 0) droppable.set(t, n);
      totalDroppable += n;
    }
    const unacked = this.retained - totalDroppable;
    while (this.retained > lowWater && droppable.size > 0) {
      // The droppable topic whose oldest message is oldest; drop up to the next topic's oldest.
      let oldest: string | undefined;
      let oldestSeq = Infinity;
      let secondSeq = Infinity;
      for (const t of droppable.keys()) {
        const s = this.topics.get(t)!.firstSeq!;
        if (s < oldestSeq) {
          secondSeq = oldestSeq;
          oldestSeq = s;
          oldest = t;
        } else if (s < secondSeq) secondSeq = s;
      }
      const log = this.topics.get(oldest!)!;
      const n = Math.min(droppable.get(oldest!)!, log.positionOf(secondSeq), this.retained - lowWater);
      log.dropOldest(n);
      this.retained -= n;
      const left = droppable.get(oldest!)! - n;
      if (left > 0) droppable.set(oldest!, left);
      else droppable.delete(oldest!);
    }

    if (unacked > this.maxRetained * 0.8) {
      if (!this.lagWarned) {
        this.lagWarned = true;
        this.logger.warn(
          { unacknowledged: unacked, maxRetained: this.maxRetained, laggards: this.laggards() },
          `in-process bus: consumers lag; ${unacked} of at most ${this.maxRetained} messages are unacknowledged, and publishing fails when that bound is reached`,
        );
      }
    } else if (unacked < this.maxRetained * 0.5) {
      this.lagWarned = false;
    }

    if (this.retained < this.maxRetained) {
      this.fullReported = false;
      return;
    }
    const who = this.laggards()
      .map((l) => `"${l.durable}" on "${l.topic}" (${l.unacknowledged} unacknowledged, ${l.subscriptions} subscription(s))`)
      .join(', ');
    const err = new SakimoriError(
      'BUS_FULL',
      `in-process bus is full: its ${this.maxRetained} retained messages are not yet acknowledged by ${who}; ` +
        `publish("${topic}") refused rather than drop messages a consumer has not read`,
      {
        hint:
          'start or speed up that consumer (more subscriptions, a higher maxInFlight), raise the memory bus maxRetained, ' +
          'or use NATS JetStream (bus.url: nats://HOST:4222) for disk-backed retention',
      },
    );
    if (!this.fullReported) {
      this.fullReported = true;
      this.logger.error({ code: err.code, laggards: this.laggards() }, err.message);
    }
    throw err;
  }

  private laggards(): { topic: string; durable: string; unacknowledged: number; subscriptions: number }[] {
    const all: { topic: string; durable: string; unacknowledged: number; subscriptions: number }[] = [];
    for (const byName of this.consumers.values()) {
      for (const c of byName.values()) {
        const lag = c.lag();
        if (lag > 0) all.push({ topic: c.topic, durable: c.durable, unacknowledged: lag, subscriptions: c.subs.length });
      }
    }
    return all.sort((a, b) => b.unacknowledged - a.unacknowledged).slice(0, 3);
  }

  // --- helpers ----------------------------------------------------------

  private topicLog(topic: string): TopicLog {
    let log = this.topics.get(topic);
    if (!log) this.topics.set(topic, (log = new TopicLog()));
    return log;
  }

  private toMessage<T>(topic: string, m: StoredMessage, redelivered: boolean): BusMessage<T> {
    return { topic, seq: m.seq, publishedAt: m.publishedAt, data: JSON.parse(m.json) as T, redelivered };
  }

  private assertOpen(): void {
    if (this.closed) throw new SakimoriError('BUS_CLOSED', 'the in-process bus is closed');
  }
}
