/**
 * Rules both adapters follow, so a consumer behaves the same on the
 * in-process bus and on NATS: names, defaults, retry backoff, payload
 * encoding, and the logger the bus reports to.
 */
import { SakimoriError } from '../core/index.ts';
import type { SubscribeOptions } from './port.ts';

export const DEFAULT_ACK_WAIT_MS = 30_000;
export const DEFAULT_MAX_IN_FLIGHT = 1;
export const DEFAULT_READ_LIMIT = 1_000;

/**
 * Dotted lower-case words ("observations", "dns.policy-changed"), at most
 * 120 characters. No "_": the NATS adapter turns "." into "_" to build
 * consumer names, which must not collide, and a consumer name (durable, "__",
 * topic) must fit a 255-byte file name in the JetStream store.
 */
const TOPIC_RE = /^[a-z0-9]+(?:-[a-z0-9]+)*(?:\.[a-z0-9]+(?:-[a-z0-9]+)*)*$/;
/** Letters, digits, "-" and "_": valid as a JetStream consumer name part. */
const DURABLE_RE = /^[A-Za-z0-9_-]{1,64}$/;

export function checkTopic(topic: string): void {
  if (typeof topic !== 'string' || topic.length > 120 || !TOPIC_RE.test(topic)) {
    throw new SakimoriError('BUS_TOPIC_INVALID', `bus topic ${JSON.stringify(topic)} is not valid`, {
      hint: 'a topic is dotted lower-case words of a-z, 0-9 and "-" (at most 120 characters), e.g. "observations" or "dns.policy-changed"',
    });
  }
}

export interface ResolvedSubscribeOptions {
  durable: string;
  from: NonNullable<SubscribeOptions['from']>;
  ackWaitMs: number;
  maxInFlight: number;
}

export function resolveSubscribeOptions(topic: string, o: SubscribeOptions): ResolvedSubscribeOptions {
  checkTopic(topic);
  const where = `subscribe("${topic}", { durable: ${JSON.stringify(o.durable)} })`;
  if (typeof o.durable !== 'string' || !DURABLE_RE.test(o.durable)) {
    throw new SakimoriError('BUS_DURABLE_INVALID', `${where}: durable name is not valid`, {
      hint: 'use 1-64 characters of A-Z, a-z, 0-9, "-" and "_", naming the consuming part, e.g. "case-builder"',
    });
  }
  const from = o.from ?? 'all';
  if (typeof from === 'object' && !(Number.isSafeInteger(from.seq) && from.seq >= 1)) {
    throw new SakimoriError('BUS_OPTION_INVALID', `${where}: from.seq must be an integer >= 1, got ${String(from.seq)}`);
  }
  const ackWaitMs = o.ackWaitMs ?? DEFAULT_ACK_WAIT_MS;
  if (!Number.isFinite(ackWaitMs) || ackWaitMs < 1) {
    throw new SakimoriError('BUS_OPTION_INVALID', `${where}: ackWaitMs must be a positive number of milliseconds`);
  }
  const maxInFlight = o.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT;
  if (!Number.isSafeInteger(maxInFlight) || maxInFlight < 1 || maxInFlight > 10_000) {
    throw new SakimoriError('BUS_OPTION_INVALID', `${where}: maxInFlight must be an integer from 1 to 10000`);
  }
  return { durable: o.durable, from, ackWaitMs, maxInFlight };
}

export function checkReadArgs(topic: string, fromSeq: number, limit: number): void {
  checkTopic(topic);
  if (!Number.isSafeInteger(fromSeq) || fromSeq < 0) {
    throw new SakimoriError('BUS_OPTION_INVALID', `read("${topic}"): fromSeq must be an integer >= 0, got ${fromSeq}`);
  }
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw new SakimoriError('BUS_OPTION_INVALID', `read("${topic}"): limit must be an integer >= 1, got ${limit}`);
  }
}

/**
 * Delay before a message whose handler threw is offered again: quick for a
 * passing hiccup, then backing off so a poison message does not spin a CPU.
 * 100 ms, 200 ms, 400 ms ... capped at 10 s.
 */
export function retryDelayMs(deliveryCount: number): number {
  return Math.min(100 * 2 ** Math.max(0, Math.min(deliveryCount - 1, 20)), 10_000);
}

/** Payloads are JSON on both adapters, so the memory bus cannot hand out shared mutable objects NATS could not. */
export function encodeData(topic: string, data: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(data);
  } catch (err) {
    throw new SakimoriError('BUS_DATA_INVALID', `publish("${topic}"): data cannot be encoded as JSON: ${(err as Error).message}`, {
      cause: err,
      hint: 'publish plain JSON values (no BigInt, no cycles)',
    });
  }
  if (json === undefined) {
    throw new SakimoriError('BUS_DATA_INVALID', `publish("${topic}"): data is ${typeof data}, which JSON cannot carry`);
  }
  return json;
}

/** What the bus reports to; pino's logger fits it. */
export interface BusLogger {
  warn(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
}

export const consoleLogger: BusLogger = {
  warn: (fields, msg) => console.warn(`[bus] ${msg}`, fields),
  error: (fields, msg) => console.error(`[bus] ${msg}`, fields),
};

/** Hides credentials ("nats://user:secret@host" -> "nats://***@host") before a URL goes into a message or log. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
