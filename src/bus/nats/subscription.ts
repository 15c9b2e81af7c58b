/**
 * One subscription to a durable JetStream pull consumer.
 *
 * It pulls only as many messages as it has free handler slots (maxInFlight),
 * never a prefetch buffer: a buffered message's ackWait would already be
 * running while it waits, and a stuck handler would keep pulling work that
 * another subscription of the same durable could do.
 */
import type { Consumer, ConsumerMessages, JsMsg } from '@nats-io/jetstream';
import { errorMessage } from '../../core/index.ts';
import type { BusMessage, Handler, Subscription } from '../port.ts';
import { retryDelayMs, type BusLogger } from '../rules.ts';

/** How long one pull request waits on the server for messages (the client's minimum is 1 s). */
const PULL_EXPIRES_MS = 5_000;

const utf8 = new TextDecoder();

export interface NatsSubscriptionParams {
  consumer: Consumer;
  topic: string;
  durable: string;
  maxInFlight: number;
  handler: Handler<unknown>;
  logger: BusLogger;
  /** Re-creates the durable consumer if someone deleted it; a no-op when it exists. */
  ensureConsumer: () => Promise<void>;
  onClosed: (sub: NatsSubscription) => void;
}

export class NatsSubscription implements Subscription {
  private closed = false;
  private pull: ConsumerMessages | undefined;
  /** Messages whose handler has not finished. */
  private readonly handling = new Set<JsMsg>();
  private readonly acks = new Set<Promise<void>>();
  private wake: (() => void) | undefined;
  private loop: Promise<void> = Promise.resolve();

  constructor(private readonly p: NatsSubscriptionParams) {}

  /** Starts pulling; separate from the constructor so creating one does no I/O. */
  start(): void {
    this.loop = this.run();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    void this.pull?.close();
    // Unacknowledged messages go back to the consumer now rather than after ackWait.
    for (const m of this.handling) this.tell(m, 'nak');
    this.handling.clear();
    this.wakeUp();
    await this.loop;
    await Promise.allSettled([...this.acks]);
    this.p.onClosed(this);
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.closed) {
      const free = this.p.maxInFlight - this.handling.size;
      if (free <= 0) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      try {
        const pull = await this.p.consumer.fetch({ max_messages: free, expires: PULL_EXPIRES_MS });
        this.pull = pull;
        if (this.closed) void pull.close();
        for await (const m of pull) this.take(m);
        failures = 0;
      } catch (err) {
        if (this.closed) break;
        failures++;
        const delay = retryDelayMs(failures);
        this.p.logger.warn(
          { topic: this.p.topic, durable: this.p.durable, attempt: failures, retryInMs: delay, err: errorMessage(err) },
          'bus cannot pull messages from NATS; retrying',
        );
        await this.sleep(delay);
        await this.p.ensureConsumer().catch(() => undefined);
      } finally {
        this.pull = undefined;
      }
    }
  }

  private take(m: JsMsg): void {
    if (this.closed) {
      this.tell(m, 'nak');
      return;
    }
    let data: unknown;
    try {
      data = JSON.parse(utf8.decode(m.data));
    } catch (err) {
      // Not from a Sakimori publisher; redelivering it would loop forever.
      this.p.logger.error(
        { topic: this.p.topic, durable: this.p.durable, seq: m.seq, err: errorMessage(err) },
        'bus message is not JSON; terminating its delivery',
      );
      this.tell(m, 'term');
      return;
    }
    this.handling.add(m);
    const msg: BusMessage = {
      topic: this.p.topic,
      seq: m.seq,
      publishedAt: Math.round(m.info.timestampNanos / 1e6),
      data,
      redelivered: m.redelivered,
    };
    let result: Promise<void>;
    try {
      result = Promise.resolve(this.p.handler(msg));
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      () => this.settle(m, true, undefined),
      (err: unknown) => this.settle(m, false, err),
    );
  }

  private settle(m: JsMsg, ok: boolean, err: unknown): void {
    // Not in the set: close() already handed it back, so its result no longer counts.
    if (!this.handling.delete(m)) return;
    if (ok) {
      // ackAck waits for the server: once close() returns, acknowledged messages stay acknowledged.
      const ack: Promise<void> = m.ackAck().then(
        (confirmed) => {
          if (!confirmed) this.warnAck(m, 'not confirmed');
        },
        (e: unknown) => this.warnAck(m, errorMessage(e)),
      );
      this.acks.add(ack);
      void ack.finally(() => this.acks.delete(ack));
    } else {
      const delay = retryDelayMs(m.info.deliveryCount);
      this.tell(m, 'nak', delay);
      this.p.logger.warn(
        { topic: this.p.topic, durable: this.p.durable, seq: m.seq, attempt: m.info.deliveryCount, retryInMs: delay, err: errorMessage(err) },
        'bus handler failed; the message will be delivered again',
      );
    }
    this.wakeUp();
  }

  /**
   * nak/term are fire-and-forget publishes that throw if the connection is
   * closed. Not fatal: the server redelivers after ackWait anyway.
   */
  private tell(m: JsMsg, what: 'nak' | 'term', delayMs?: number): void {
    try {
      if (what === 'nak') m.nak(delayMs);
      else m.term();
    } catch (err) {
      this.warnAck(m, `${what}: ${errorMessage(err)}`);
    }
  }

  private warnAck(m: JsMsg, why: string): void {
    this.p.logger.warn(
      { topic: this.p.topic, durable: this.p.durable, seq: m.seq, err: why },
      'bus acknowledgement failed; the message will be delivered again',
    );
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
