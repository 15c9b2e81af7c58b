/**
 * The bus: how Sakimori's parts pass events to each other. `openBus` picks
 * the adapter from `bus.url`: `memory:` (in-process, the embedded default)
 * or `nats://HOST:4222` (NATS JetStream, for more than one process).
 */
import { SakimoriError, type Clock } from '../core/index.ts';
import { MemoryBus } from './memory/index.ts';
import type { Bus } from './port.ts';
import { redactUrl, type BusLogger } from './rules.ts';

export type { Bus, BusMessage, Handler, StartPosition, SubscribeOptions, Subscription } from './port.ts';
export type { BusLogger } from './rules.ts';
export { DEFAULT_ACK_WAIT_MS, DEFAULT_MAX_IN_FLIGHT, DEFAULT_READ_LIMIT } from './rules.ts';
export { MemoryBus, DEFAULT_MAX_RETAINED } from './memory/index.ts';

export interface OpenBusOptions {
  /** Where the bus reports lag, failed handlers and retries; pino's logger fits. Default: console. */
  logger?: BusLogger;
  /** memory: most messages held over all topics (default 100,000). */
  maxRetained?: number;
  /** memory: stamps publishedAt (default the system clock). */
  clock?: Clock;
  /** nats: how long to wait for the first connection (default 5 s). */
  connectTimeoutMs?: number;
}

export async function openBus(url: string, opts: OpenBusOptions = {}): Promise<Bus> {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === 'memory') {
    if (url !== 'memory:') {
      throw new SakimoriError('BUS_URL_INVALID', `bus.url "${redactUrl(url)}": the in-process bus takes no address or options`, {
        hint: 'write bus.url: memory: (set its bound with the memory bus maxRetained option)',
      });
    }
    return new MemoryBus(opts);
  }
  if (scheme === 'nats') {
    // Loaded on demand: the embedded default never pays for the NATS client.
    const { openNatsBus } = await import('./nats/index.ts');
    return openNatsBus(url, opts);
  }
  throw new SakimoriError(
    'BUS_URL_INVALID',
    scheme ? `bus.url "${redactUrl(url)}": unknown scheme "${scheme}:"` : `bus.url "${redactUrl(url)}" has no scheme`,
    { hint: 'use memory: (in-process, the default) or nats://HOST:4222 (NATS JetStream; optionally ?stream=NAME&prefix=WORD)' },
  );
}
