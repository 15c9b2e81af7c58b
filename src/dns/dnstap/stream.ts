/**
 * How events reach their consumers without the collector ever holding more than a fixed
 * number of them. Each consumer (an `onEvent` handler or an `events()` iterator) has its
 * own bounded queue, so one slow consumer never holds up another or the sockets. When a
 * consumer falls behind, its queue keeps one event in 2^k (systematic sampling, so the
 * ratios a detector looks at — NXDOMAIN share, names per zone — stay fair) and k is
 * raised until the consumer keeps up, then lowered again; what sampling skips and what a
 * full queue still refuses are counted, never buffered (issue 5: degrade by sampling).
 */
import type { DnstapEvent } from './event.ts';

/** The largest sampling step: one event in 2^16 kept. */
const MAX_SHIFT = 16;

/** A ring of at most `capacity` items with 1-in-2^k admission. Pure: no timers, no I/O. */
export class SampledQueue<T> {
  private readonly ring: (T | undefined)[];
  private head = 0;
  private size = 0;
  private shift = 0;
  private seq = 0;
  private offeredSinceAdjust = 0;
  private takenSinceAdjust = 0;
  /** Offered but skipped by sampling. */
  sampledOut = 0;
  /** Admitted by sampling but refused because the queue was full. */
  dropped = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`queue capacity must be a whole number >= 1, got ${capacity}`);
    this.ring = new Array<T | undefined>(capacity);
  }

  get length(): number {
    return this.size;
  }

  /** 1, 2, 4, ...: one offered item in this many is kept. */
  get keepOneIn(): number {
    return 2 ** this.shift;
  }

  /** Returns whether the item was queued. */
  offer(x: T): boolean {
    this.offeredSinceAdjust++;
    if (this.shift > 0 && (this.seq++ & ((1 << this.shift) - 1)) !== 0) {
      this.sampledOut++;
      return false;
    }
    if (this.size === this.capacity) {
      this.dropped++;
      return false;
    }
    this.ring[(this.head + this.size) % this.capacity] = x;
    this.size++;
    return true;
  }

  take(): T | undefined {
    if (this.size === 0) return undefined;
    const x = this.ring[this.head];
    this.ring[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.size--;
    this.takenSinceAdjust++;
    return x;
  }

  /**
   * Called at a steady pace (the collector: every second). Over half full: sample harder,
   * at once as far as the last interval's offered/taken ratio says. Under an eighth full:
   * one step gentler. In between: keep the step.
   */
  adjust(): void {
    const offered = this.offeredSinceAdjust;
    const taken = this.takenSinceAdjust;
    this.offeredSinceAdjust = 0;
    this.takenSinceAdjust = 0;
    if (this.size * 2 > this.capacity) {
      const need = taken > 0 ? Math.ceil(Math.log2(offered / taken)) : this.shift + 1;
      this.shift = Math.min(MAX_SHIFT, Math.max(this.shift + 1, need));
    } else if (this.size * 8 < this.capacity && this.shift > 0) this.shift--;
  }

  /** Forgets what is queued (a consumer that left). */
  clear(): void {
    this.ring.fill(undefined);
    this.head = 0;
    this.size = 0;
  }
}

/** Per consumer: what sampling did to it so far. */
export interface ConsumerStats {
  kind: 'handler' | 'iterator';
  queued: number;
  keepOneIn: number;
  sampledOut: number;
  dropped: number;
}

/** The async-iterator surface: `for await (const e of collector.events()) ...`. */
export interface DnstapEventStream extends AsyncIterableIterator<DnstapEvent> {
  /** One event in this many reaches this iterator right now (1 when it keeps up). */
  readonly keepOneIn: number;
  /** Events skipped by sampling, and refused by a full queue, for this iterator so far. */
  readonly sampledOut: number;
  readonly dropped: number;
  /** Stops the iterator (same as `return()`; a `break` out of `for await` does it too). */
  close(): void;
}

export interface HubOptions {
  /** Events held per consumer at most. */
  capacity: number;
  /** Events a handler is given per turn of the event loop before sockets are read again. Default 4096. */
  batch?: number;
  /** Called when a handler throws (the event is skipped, the handler stays). */
  onHandlerError?: (err: unknown) => void;
}

interface Consumer {
  kind: 'handler' | 'iterator';
  queue: SampledQueue<DnstapEvent>;
  /** Handler consumers: drain scheduled. Iterator consumers: waiting next(). */
  wake(): void;
  end(): void;
  /** Handlers: deliver what is queued now. */
  flush?(): void;
}

/**
 * The fan-out from the collector to its consumers. Handlers run from setImmediate, in
 * batches, never inside the socket's data callback: a slow handler makes its queue grow,
 * which makes its sampling harder, instead of stalling the reads (the resolver would
 * then drop frames on its side, uncounted here).
 */
export class EventHub {
  private readonly consumers = new Set<Consumer>();
  private readonly capacity: number;
  private readonly batch: number;
  private readonly onHandlerError: (err: unknown) => void;
  private closed = false;
  /** Handler calls that threw. */
  handlerErrors = 0;

  constructor(opts: HubOptions) {
    this.capacity = opts.capacity;
    this.batch = opts.batch ?? 4096;
    this.onHandlerError = opts.onHandlerError ?? (() => undefined);
  }

  get consumerCount(): number {
    return this.consumers.size;
  }

  publish(e: DnstapEvent): void {
    for (const c of this.consumers) if (c.queue.offer(e)) c.wake();
  }

  /** Calls `handler` with every event (or, when it falls behind, a counted sample). Returns the unsubscribe function. */
  onEvent(handler: (e: DnstapEvent) => void): () => void {
    const queue = new SampledQueue<DnstapEvent>(this.capacity);
    let scheduled: NodeJS.Immediate | undefined;
    let ended = false;
    const drain = (limit = this.batch) => {
      scheduled = undefined;
      for (let n = 0; n < limit; n++) {
        const e = queue.take();
        if (e === undefined) return;
        try {
          handler(e);
        } catch (err) {
          this.handlerErrors++;
          this.onHandlerError(err);
        }
        if (ended) return;
      }
      if (queue.length > 0 && !ended) scheduled = setImmediate(drain);
    };
    const c: Consumer = {
      kind: 'handler',
      queue,
      wake: () => {
        if (scheduled === undefined && !ended) scheduled = setImmediate(drain);
      },
      end: () => {
        if (ended) return;
        ended = true;
        if (scheduled !== undefined) clearImmediate(scheduled);
        scheduled = undefined;
        this.retire(c);
        queue.clear();
      },
      flush: () => {
        if (scheduled !== undefined) clearImmediate(scheduled);
        drain(queue.length);
      },
    };
    if (this.closed) return () => undefined;
    this.consumers.add(c);
    return c.end;
  }

  /** An async iterator over the events; it ends when the collector stops or it is closed. */
  events(): DnstapEventStream {
    const queue = new SampledQueue<DnstapEvent>(this.capacity);
    let waiting: ((r: IteratorResult<DnstapEvent>) => void) | undefined;
    let ended = this.closed;
    const DONE: IteratorResult<DnstapEvent> = { value: undefined, done: true };
    const c: Consumer = {
      kind: 'iterator',
      queue,
      wake: () => {
        if (waiting === undefined) return;
        const w = waiting;
        waiting = undefined;
        w({ value: queue.take()!, done: false });
      },
      end: () => {
        ended = true;
        this.retire(c);
        if (waiting !== undefined) {
          const w = waiting;
          waiting = undefined;
          w(DONE);
        }
      },
    };
    if (!ended) this.consumers.add(c);
    const stream: DnstapEventStream = {
      get keepOneIn() {
        return queue.keepOneIn;
      },
      get sampledOut() {
        return queue.sampledOut;
      },
      get dropped() {
        return queue.dropped;
      },
      close: () => {
        c.end();
        queue.clear();
      },
      next: () => {
        const e = queue.take();
        if (e !== undefined) return Promise.resolve({ value: e, done: false });
        if (ended) return Promise.resolve(DONE);
        if (waiting !== undefined) return Promise.reject(new Error('DnstapEventStream: next() called again before the previous one resolved'));
        return new Promise((resolve) => (waiting = resolve));
      },
      return: () => {
        stream.close();
        return Promise.resolve(DONE);
      },
      [Symbol.asyncIterator]() {
        return stream;
      },
    };
    return stream;
  }

  /** Lets every queue adapt its sampling; the collector calls it every second. */
  adjust(): void {
    for (const c of this.consumers) c.queue.adjust();
  }

  stats(): ConsumerStats[] {
    return [...this.consumers].map((c) => ({ kind: c.kind, queued: c.queue.length, keepOneIn: c.queue.keepOneIn, sampledOut: c.queue.sampledOut, dropped: c.queue.dropped }));
  }

  /** Totals over the consumers there are now (for metrics; a consumer that left takes its counts along). */
  totals(): { sampledOut: number; dropped: number; queued: number } {
    let sampledOut = this.retiredSampledOut;
    let dropped = this.retiredDropped;
    let queued = 0;
    for (const c of this.consumers) {
      sampledOut += c.queue.sampledOut;
      dropped += c.queue.dropped;
      queued += c.queue.length;
    }
    return { sampledOut, dropped, queued };
  }

  private retiredSampledOut = 0;
  private retiredDropped = 0;

  /** A consumer leaves; its counts stay in the totals (Prometheus counters never go down). */
  private retire(c: Consumer): void {
    if (!this.consumers.delete(c)) return;
    this.retiredSampledOut += c.queue.sampledOut;
    this.retiredDropped += c.queue.dropped;
  }

  /**
   * Ends every iterator (each still yields what it has queued) and stops every handler
   * after giving it what its queue holds (at most `capacity` events each).
   */
  close(): void {
    this.closed = true;
    for (const c of [...this.consumers]) {
      if (c.kind === 'handler') c.flush?.();
      c.end();
    }
  }
}
