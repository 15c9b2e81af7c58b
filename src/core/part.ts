import type { FastifyInstance } from 'fastify';

/**
 * A part of a running node (the HTTP server, the DNS firewall, the RADIUS
 * accounting listener, a detector...). The node starts parts in order, gives
 * their routes to the HTTP server, reports their health on /healthz and stops
 * them in reverse order. Work starts in start(), never in a constructor.
 */
export type PartStatus = 'ok' | 'degraded' | 'down';

export interface PartHealth {
  status: PartStatus;
  detail?: Record<string, unknown>;
}

export interface Endpoint {
  /** What a person would call it: "console", "DNS (UDP+TCP)", "RADIUS accounting". */
  label: string;
  url: string;
}

export interface Part {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  health(): Promise<PartHealth>;
  /** Where it listens, printed at start. */
  endpoints(): Endpoint[];
  /** HTTP routes this part adds to the node's server (API, pages). */
  routes?(app: FastifyInstance): void | Promise<void>;
}

export function worstStatus(statuses: Iterable<PartStatus>): PartStatus {
  let worst: PartStatus = 'ok';
  for (const s of statuses) {
    if (s === 'down') return 'down';
    if (s === 'degraded') worst = 'degraded';
  }
  return worst;
}
