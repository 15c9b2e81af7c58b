/**
 * The Bus port: how parts pass events (mostly Observations) to each other.
 * Embedded default: in-process memory. Scale-out: NATS JetStream. Both pass
 * one contract suite.
 *
 * Delivery is at-least-once: a durable consumer that does not acknowledge a
 * message (it crashed, it closed, its handler threw, or ackWait ran out) gets
 * it again. Handlers must therefore be idempotent; `redelivered` tells them.
 *
 * Topics are dotted lower-case words ("observations", "dns.policy-changed").
 * Sequence numbers are positive, increase with every publish, and are what
 * `from: { seq }` replays from.
 */
export interface BusMessage<T = unknown> {
  readonly topic: string;
  readonly seq: number;
  /** Epoch ms when the bus accepted the message. */
  readonly publishedAt: number;
  readonly data: T;
  /** True if this message was delivered before and not acknowledged. */
  readonly redelivered: boolean;
}

export type StartPosition = 'new' | 'all' | { seq: number };

export interface SubscribeOptions {
  /**
   * Durable consumer name: its acknowledged position survives the
   * subscription (and, with NATS, the process). Two subscriptions with the
   * same durable name share the work.
   */
  durable: string;
  /** Where a durable consumer that does not exist yet starts. Default 'all'. */
  from?: StartPosition;
  /** How long a delivered message may go unacknowledged before it is delivered again. Default 30 s. */
  ackWaitMs?: number;
  /**
   * How many messages this subscription hands its handler at once. Default 1:
   * one at a time, in sequence order (redeliveries aside). Raise it for
   * throughput when order does not matter. A subscription never takes more
   * messages than it has free slots, so a stuck handler cannot hoard work
   * that another subscription of the same durable could do.
   */
  maxInFlight?: number;
}

/**
 * The handler acknowledges a message by resolving. Throwing (or rejecting)
 * asks for redelivery later. A handler that never returns holds the message
 * until ackWait runs out.
 */
export type Handler<T = unknown> = (msg: BusMessage<T>) => Promise<void> | void;

export interface Subscription {
  /** Stops delivery. Messages delivered but not acknowledged go back to the consumer. */
  close(): Promise<void>;
}

export interface Bus {
  readonly kind: 'memory' | 'nats';
  readonly displayUrl: string;
  publish(topic: string, data: unknown): Promise<{ seq: number }>;
  subscribe<T = unknown>(topic: string, options: SubscribeOptions, handler: Handler<T>): Promise<Subscription>;
  /** Reads stored messages of a topic from a sequence number on (no consumer, no acks): replay. */
  read<T = unknown>(topic: string, fromSeq: number, limit?: number): Promise<BusMessage<T>[]>;
  ping(): Promise<void>;
  close(): Promise<void>;
}
