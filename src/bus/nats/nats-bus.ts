/**
 * The NATS JetStream bus (`bus.url: nats://HOST:4222`), for more than one
 * process or machine.
 *
 * One stream (default SAKIMORI) holds every topic under one subject prefix:
 * topic "a.b" is subject "sakimori.a.b", and a message's bus sequence is its
 * stream sequence. A durable subscription is a durable pull consumer named
 * after (durable, topic), with explicit acks and a filter on the topic's
 * subject. The stream is created if missing; an existing one keeps its limits
 * (retention is the operator's call: `nats stream edit`).
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type ConsumerConfig,
  type JetStreamClient,
  type JetStreamManager,
  type MsgRequest,
  type StoredMsg,
} from '@nats-io/jetstream';
import { SakimoriError, errorMessage } from '../../core/index.ts';
import type { Bus, BusMessage, Handler, SubscribeOptions, Subscription } from '../port.ts';
import {
  DEFAULT_READ_LIMIT,
  checkReadArgs,
  checkTopic,
  consoleLogger,
  encodeData,
  resolveSubscribeOptions,
  type BusLogger,
  type ResolvedSubscribeOptions,
} from '../rules.ts';
import { NatsSubscription } from './subscription.ts';
import { parseNatsUrl, type NatsTarget } from './url.ts';

export interface NatsBusOptions {
  logger?: BusLogger;
  /** How long to wait for the first connection (default 5 s). */
  connectTimeoutMs?: number;
  /** Connection name shown by `nats server report connections`. */
  connectionName?: string;
}

const READ_EXPIRES_MS = 5_000;
const utf8 = new TextDecoder();

export async function openNatsBus(url: string, opts: NatsBusOptions = {}): Promise<NatsBus> {
  const target = parseNatsUrl(url);
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers: target.servers,
      ...(target.user !== undefined ? { user: target.user, pass: target.pass } : {}),
      ...(target.token !== undefined ? { token: target.token } : {}),
      timeout: opts.connectTimeoutMs ?? 5_000,
      // Once connected, ride out server restarts instead of failing every part of Sakimori.
      maxReconnectAttempts: -1,
      name: opts.connectionName ?? 'sakimori',
    });
  } catch (err) {
    throw new SakimoriError('BUS_UNREACHABLE', `cannot connect to NATS at ${target.displayUrl}: ${errorMessage(err)}`, {
      cause: err,
      hint: 'is nats-server running and reachable there? Start one with `nats-server -js`, or use bus.url: memory: on a single machine',
    });
  }
  try {
    const jsm = await openJetStream(nc, target);
    await ensureStream(jsm, target);
    return new NatsBus(nc, jsm, target, opts.logger ?? consoleLogger);
  } catch (err) {
    await nc.close().catch(() => undefined);
    throw err;
  }
}

async function openJetStream(nc: NatsConnection, t: NatsTarget): Promise<JetStreamManager> {
  try {
    return await jetstreamManager(nc);
  } catch (err) {
    if (err instanceof Error && err.name === 'JetStreamNotEnabled') {
      throw new SakimoriError('BUS_JETSTREAM_DISABLED', `NATS at ${t.displayUrl} does not have JetStream enabled`, {
        cause: err,
        hint: 'start nats-server with -js (or add `jetstream {}` to its configuration)',
      });
    }
    throw new SakimoriError('BUS_UNAVAILABLE', `NATS at ${t.displayUrl}: JetStream does not answer: ${errorMessage(err)}`, {
      cause: err,
      hint: 'check that nats-server runs with -js and that this account may use JetStream',
    });
  }
}

async function ensureStream(jsm: JetStreamManager, t: NatsTarget): Promise<void> {
  const subject = `${t.prefix}.>`;
  try {
    const info = await jsm.streams.info(t.stream);
    const subjects = info.config.subjects ?? [];
    if (!subjects.includes(subject)) await jsm.streams.update(t.stream, { subjects: [...subjects, subject] });
    return;
  } catch (err) {
    if (!isApiError(err, JetStreamApiCodes.StreamNotFound)) throw streamError(t, err);
  }
  try {
    await jsm.streams.add({
      name: t.stream,
      subjects: [subject],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
    });
  } catch (err) {
    throw streamError(t, err);
  }
}

function streamError(t: NatsTarget, err: unknown): SakimoriError {
  return new SakimoriError(
    'BUS_STREAM_FAILED',
    `NATS at ${t.displayUrl}: cannot create or update stream ${t.stream} for subjects ${t.prefix}.>: ${errorMessage(err)}`,
    {
      cause: err,
      hint: 'if another stream already holds these subjects, give this deployment its own ?stream=NAME&prefix=WORD in bus.url',
    },
  );
}

function isApiError(err: unknown, code: number): boolean {
  return err instanceof JetStreamApiError && err.code === code;
}

/** "case-builder" on "dns.policy-changed" -> "case-builder__dns_policy-changed" (topics have no "_", so this never collides). */
export function consumerName(durable: string, topic: string): string {
  return `${durable}__${topic.replaceAll('.', '_')}`;
}

export class NatsBus implements Bus {
  readonly kind = 'nats' as const;
  readonly displayUrl: string;
  private readonly js: JetStreamClient;
  private readonly subs = new Set<NatsSubscription>();
  private closed = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly target: NatsTarget,
    private readonly logger: BusLogger,
  ) {
    this.js = jetstream(nc);
    this.displayUrl = target.displayUrl;
  }

  async publish(topic: string, data: unknown): Promise<{ seq: number }> {
    this.assertOpen();
    checkTopic(topic);
    const json = encodeData(topic, data);
    try {
      const ack = await this.js.publish(this.subject(topic), json);
      return { seq: ack.seq };
    } catch (err) {
      throw this.unavailable(`publish("${topic}")`, err);
    }
  }

  async subscribe<T = unknown>(topic: string, options: SubscribeOptions, handler: Handler<T>): Promise<Subscription> {
    this.assertOpen();
    const o = resolveSubscribeOptions(topic, options);
    const name = consumerName(o.durable, topic);
    const ensure = (): Promise<void> => this.ensureConsumer(name, topic, o);
    let consumer;
    try {
      await ensure();
      consumer = await this.js.consumers.get(this.target.stream, name);
    } catch (err) {
      if (err instanceof SakimoriError) throw err;
      throw this.unavailable(`subscribe("${topic}", durable "${o.durable}")`, err);
    }
    const sub = new NatsSubscription({
      consumer,
      topic,
      durable: o.durable,
      maxInFlight: o.maxInFlight,
      handler: handler as Handler<unknown>,
      logger: this.logger,
      ensureConsumer: ensure,
      onClosed: (s) => this.subs.delete(s),
    });
    this.subs.add(sub);
    sub.start();
    return sub;
  }

  /**
   * Finds the first matching message with a direct "next by subject" get,
   * then streams the rest through an ordered (ephemeral) consumer starting
   * there; its per-message `pending` count says when the topic is exhausted,
   * so a read never waits for a pull to expire.
   */
  async read<T = unknown>(topic: string, fromSeq: number, limit = DEFAULT_READ_LIMIT): Promise<BusMessage<T>[]> {
    this.assertOpen();
    checkReadArgs(topic, fromSeq, limit);
    const subject = this.subject(topic);
    try {
      const query = { seq: Math.max(1, fromSeq), next_by_subj: subject } as unknown as MsgRequest;
      const first = await this.jsm.streams.getMessage(this.target.stream, query);
      if (!first) return [];
      if (limit === 1) return [storedToMessage<T>(topic, first)];
      const ordered = await this.js.consumers.get(this.target.stream, {
        filter_subjects: subject,
        deliver_policy: DeliverPolicy.StartSequence,
        opt_start_seq: first.seq,
      });
      const out: BusMessage<T>[] = [];
      const pull = await ordered.fetch({ max_messages: limit, expires: READ_EXPIRES_MS });
      for await (const m of pull) {
        out.push({
          topic,
          seq: m.seq,
          publishedAt: Math.round(m.info.timestampNanos / 1e6),
          data: JSON.parse(utf8.decode(m.data)) as T,
          redelivered: false,
        });
        if (m.info.pending === 0 || out.length >= limit) void pull.close();
      }
      return out;
    } catch (err) {
      throw this.unavailable(`read("${topic}", ${fromSeq})`, err);
    }
  }

  async ping(): Promise<void> {
    this.assertOpen();
    try {
      await this.nc.flush();
      await this.jsm.streams.info(this.target.stream);
    } catch (err) {
      throw this.unavailable('ping', err);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.subs].map((s) => s.close()));
    // flush: the naks and acks of closing subscriptions reach the server before the socket closes.
    await this.nc.flush().catch(() => undefined);
    await this.nc.close();
  }

  private async ensureConsumer(name: string, topic: string, o: ResolvedSubscribeOptions): Promise<void> {
    const stream = this.target.stream;
    const ackWait = Math.round(o.ackWaitMs * 1e6);
    try {
      const info = await this.jsm.consumers.info(stream, name);
      // An existing durable keeps its position and `from`; only ackWait follows the newest subscriber.
      if (info.config.ack_wait !== ackWait) await this.jsm.consumers.update(stream, name, { ack_wait: ackWait });
      return;
    } catch (err) {
      if (!isApiError(err, JetStreamApiCodes.ConsumerNotFound)) throw err;
    }
    const start: Partial<ConsumerConfig> =
      o.from === 'all'
        ? { deliver_policy: DeliverPolicy.All }
        : o.from === 'new'
          ? { deliver_policy: DeliverPolicy.New }
          : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: o.from.seq };
    try {
      await this.jsm.consumers.add(stream, {
        durable_name: name,
        ack_policy: AckPolicy.Explicit,
        ack_wait: ackWait,
        filter_subject: this.subject(topic),
        max_deliver: -1,
        ...start,
      });
    } catch (err) {
      // Another subscriber may have created it a moment ago with other settings; theirs stands.
      await this.jsm.consumers.info(stream, name).catch(() => {
        throw err;
      });
    }
  }

  private subject(topic: string): string {
    return `${this.target.prefix}.${topic}`;
  }

  private unavailable(what: string, err: unknown): SakimoriError {
    return new SakimoriError('BUS_UNAVAILABLE', `${what} on NATS ${this.displayUrl} failed: ${errorMessage(err)}`, {
      cause: err,
      hint: `is nats-server up, with -js, and does stream ${this.target.stream} exist?`,
    });
  }

  private assertOpen(): void {
    if (this.closed) throw new SakimoriError('BUS_CLOSED', `the NATS bus ${this.displayUrl} is closed`);
  }
}

function storedToMessage<T>(topic: string, m: StoredMsg): BusMessage<T> {
  return { topic, seq: m.seq, publishedAt: m.time.getTime(), data: JSON.parse(utf8.decode(m.data)) as T, redelivered: false };
}
