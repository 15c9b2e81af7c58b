/**
 * Attribution as a running part of the ISP node: the RADIUS accounting
 * listener feeding the index (when NASes are configured), and the look-up
 * API. Results go to the caller only — never onto the bus (R16: they do
 * not leave the ISP node).
 */
import type { FastifyInstance } from 'fastify';
import { SakimoriError, formatHostPort, systemClock, type Clock, type Endpoint, type Part, type PartHealth } from '../core/index.ts';
import { AccountingServer, type RadiusClientConfig } from '../radius/index.ts';
import type { Logger, Registry } from '../telemetry/index.ts';
import { Attribution, LOOKUP_PURPOSES, parseTime, type AuditSink, type LookupPurpose } from './attribution.ts';
import { LiveSessions } from './live-sessions.ts';
import { keyToText } from './address.ts';
import type { SessionEvent } from './events.ts';
import { parseDuration } from '../core/index.ts';
import { ROLES, SOURCES } from './session.ts';
import { SessionIndex } from './session-index.ts';

export interface AttributionPartOptions {
  index: SessionIndex;
  audit: AuditSink;
  logger: Logger;
  registry: Registry;
  clock?: Clock;
  clockSkewMs: number;
  radius: { listen: string; clients: readonly RadiusClientConfig[] };
}

const sessionSchema = {
  type: 'object',
  properties: {
    subscriber: { type: 'string', description: 'the login (RADIUS User-Name), DHCP client id, or CGNAT inside address' },
    sessionId: { type: 'string' },
    nas: { type: 'string' },
    address: { type: 'string', description: 'the address or prefix held' },
    ports: { type: 'object', properties: { start: { type: 'integer' }, end: { type: 'integer' } } },
    role: { type: 'string', enum: [...ROLES] },
    start: { type: 'string', format: 'date-time' },
    end: { type: ['string', 'null'], format: 'date-time', description: 'null while the session is open' },
    startInferred: { type: 'boolean' },
    endInferred: { type: 'string', enum: ['nas-restart', 'next-session'] },
    lastSeen: { type: 'string', format: 'date-time' },
    source: { type: 'string', enum: [...SOURCES] },
  },
} as const;

const resultSchema = {
  type: 'object',
  required: ['result', 'query'],
  properties: {
    result: { type: 'string', enum: ['found', 'ambiguous', 'gap', 'unknown'] },
    subscriber: { type: 'string', description: 'found: who held the address' },
    session: sessionSchema,
    sessions: { type: 'array', items: sessionSchema, description: 'ambiguous: every covering session; found: all of them when the subscriber had several' },
    reason: { type: 'string', enum: ['overlap', 'clock-skew', 'port-needed'] },
    truncated: { type: 'boolean' },
    before: sessionSchema,
    after: sessionSchema,
    via: {
      type: 'object',
      description: 'CGNAT: the port block, when its holder is an inside address; subscriber and session are then that address\'s own session',
      properties: { insideAddress: { type: 'string' }, portBlock: sessionSchema, result: { type: 'string', enum: ['found', 'ambiguous', 'gap', 'unknown'] } },
    },
    query: {
      type: 'object',
      properties: { ip: { type: 'string' }, port: { type: 'integer' }, at: { type: 'string' }, skewMs: { type: 'integer' }, purpose: { type: 'string' } },
    },
  },
} as const;

const errorSchema = { type: 'object', properties: { error: { type: 'string' }, message: { type: 'string' } } } as const;

export class AttributionPart implements Part {
  readonly name = 'attribution';
  readonly attribution: Attribution;
  readonly live: LiveSessions;
  /** What the subscriber portal asks when an opt-out must reach a subscriber's current addresses (purpose consent, R1). */
  readonly addresses: { currentAddresses(login: string): Promise<string[]> };
  private radius: AccountingServer | undefined;

  /**
   * Each live session change once it is recorded, with the addresses as text
   * ("192.0.2.7/32", "2001:db8:12::/56"); CGNAT port blocks are left out
   * (a shared public address is no one subscriber's). For the consent follower (R1).
   */
  onSessionChange(listener: (c: SessionChange) => void): () => void {
    return this.live.onRecorded((ev) => listener(sessionChangeOf(ev)));
  }

  /** The whole addresses and prefixes a login holds in its open sessions, with the session (not audited here: the caller audits what it does with them). */
  async holdingsOf(login: string): Promise<{ address: string; nas: string; sessionId: string }[]> {
    return (await this.opts.index.currentHoldings(login)).map((h) => ({ address: keyToText(h.addrKey), nas: h.nas, sessionId: h.sessionId }));
  }

  constructor(private readonly opts: AttributionPartOptions) {
    this.attribution = new Attribution(opts.index, opts.audit, { clockSkewMs: opts.clockSkewMs });
    this.live = new LiveSessions(opts.index, opts.logger);
    this.addresses = { currentAddresses: (login) => this.attribution.currentAddresses(login, { purpose: 'consent', actor: 'portal' }) };
  }

  async start(): Promise<void> {
    if (this.opts.radius.clients.length === 0) return;
    this.radius = new AccountingServer({
      listen: this.opts.radius.listen,
      clients: this.opts.radius.clients,
      onEvent: (ev) => this.live.record(ev),
      logger: this.opts.logger,
      registry: this.opts.registry,
      clock: this.opts.clock ?? systemClock,
      name: 'radius-accounting',
    });
    await this.radius.start();
  }

  async stop(): Promise<void> {
    await this.radius?.stop();
    await this.live.drain();
  }

  /** Where the RADIUS listener is bound (the real port when configured with port 0). */
  radiusAddress(): { host: string; port: number } | undefined {
    return this.radius?.address();
  }

  async health(): Promise<PartHealth> {
    const radius = this.radius ? await this.radius.health() : undefined;
    const stats = this.live.stats;
    const status = radius?.status === 'down' ? 'down' : stats.lastError && stats.failed > 0 ? 'degraded' : (radius?.status ?? 'ok');
    return {
      status,
      detail: {
        radius: radius ?? 'not started: no attribution.radius.clients configured',
        events: { recorded: stats.recorded, ignored: stats.ignored, failed: stats.failed, ...(stats.lastError ? { lastError: stats.lastError } : {}) },
      },
    };
  }

  endpoints(): Endpoint[] {
    const a = this.radius?.address();
    return a ? [{ label: 'RADIUS accounting (UDP)', url: `radius://${formatHostPort(a)}` }] : [];
  }

  routes(app: FastifyInstance): void {
    app.get(
      '/api/v1/attribution/lookup',
      {
        schema: {
          summary: 'Who held an address (and port, behind CGNAT) at a time',
          description:
            'Finds the subscriber session covering the time, within the clock-skew tolerance. Every look-up states its purpose and is written to the audit log (R16). ' +
            'result: found (subscriber and session), ambiguous (all overlapping sessions), gap (none covered the time; nearest before and after), unknown (address never seen).',
          tags: ['attribution'],
          querystring: {
            type: 'object',
            required: ['ip', 'at'],
            properties: {
              ip: { type: 'string', description: 'IPv4 or IPv6 address' },
              at: { type: 'string', description: 'ISO 8601 time with offset (2025-01-06T12:00:00Z) or epoch seconds' },
              port: { type: 'integer', minimum: 0, maximum: 65535, description: 'source port, for an address shared by CGNAT' },
              purpose: { type: 'string', enum: [...LOOKUP_PURPOSES], default: 'subscriber-attribution', description: 'why the look-up is made (audited)' },
              skew: { type: 'string', description: 'overrides attribution.clockSkew for this look-up, e.g. "30s" for a report with a poor clock' },
            },
          },
          response: { 200: resultSchema, 400: errorSchema },
        },
      },
      async (req) => {
        const q = req.query as { ip: string; at: string; port?: number; purpose?: LookupPurpose; skew?: string };
        const at = parseTime(q.at);
        if (typeof at !== 'number') throw new SakimoriError('ATTRIBUTION_BAD_TIME', at.error);
        let skewMs: number | undefined;
        if (q.skew !== undefined) {
          skewMs = parseDuration(q.skew);
          if (skewMs === undefined || /^\s*\d+(\.\d+)?\s*$/.test(q.skew)) throw new SakimoriError('ATTRIBUTION_BAD_SKEW', `skew "${q.skew}" is not a duration such as 2s or 1m`);
        }
        return this.attribution.lookup({ ip: q.ip, at, port: q.port, purpose: q.purpose ?? 'subscriber-attribution', actor: `api:${req.ip}`, skewMs });
      },
    );
  }
}

/** A recorded live session change, as the consent follower reads it. */
export interface SessionChange {
  kind: 'start' | 'interim' | 'stop' | 'nas-reset';
  nas: string;
  sessionId?: string;
  /** The login (RADIUS User-Name). */
  login?: string;
  addresses: string[];
}

function sessionChangeOf(ev: SessionEvent): SessionChange {
  if (ev.kind === 'nas-reset') return { kind: 'nas-reset', nas: ev.nas, addresses: [] };
  return { kind: ev.kind, nas: ev.nas, sessionId: ev.sessionId, login: ev.subscriber, addresses: ev.held.filter((h) => !h.ports && h.role !== 'port-block').map((h) => keyToText(h.addrKey)) };
}

/** What the node gives attribution (the node's Platform fits). */
export interface AttributionDeps {
  store: SessionIndex['store'];
  audit: AuditSink;
  logger: Logger;
  registry: Registry;
  clock: Clock;
  config: { attribution: { clockSkew: number; radius: { listen: string; clients: readonly RadiusClientConfig[] } } };
}

/** The node's attribution part, from the platform pieces it needs. */
export function attributionPart(deps: AttributionDeps): AttributionPart {
  const { store, audit, logger, registry, clock, config } = deps;
  return new AttributionPart({ index: new SessionIndex(store, { clock }), audit, logger, registry, clock, clockSkewMs: config.attribution.clockSkew, radius: config.attribution.radius });
}
