import type { Part } from '../core/index.ts';
import { createCases, createCasesParts, type Cases, type LocateResult, type Mailer, type SubscriberLocator } from '../cases/index.ts';
import { Attribution, attributionMigrations, attributionPart, SessionIndex } from '../attribution/index.ts';
import { dnsParts } from '../dns/index.ts';
import { rpzProviderParts } from '../dns/rpz-provider/index.ts';
import { ALL_MIGRATIONS } from './migrations.ts';
import type { Platform } from './platform.ts';

/**
 * The capabilities a node runs, each as a Part. A new capability (DNS
 * firewall, RADIUS accounting, detectors, ...) adds one line here, building
 * its part from the platform pieces it needs.
 */
export function buildCapabilityParts(platform: Platform): Part[] {
  return [attributionPart(platform), ...dnsParts(platform), ...rpzProviderParts(platform), ...createCasesParts(casesOf(platform), { bus: platform.bus, logger: platform.logger, config: platform.config })];
}

/**
 * Cases ask attribution one question through their own small port. Every
 * look-up states the finding's purpose and is audited by attribution (R16).
 */
export function attributionLocator(attribution: Pick<Attribution, 'lookup'>): SubscriberLocator {
  return {
    async holderAt(ip, at, opts): Promise<LocateResult> {
      const r = await attribution.lookup({ ip, at, port: opts.port, purpose: opts.purpose, actor: 'cases' });
      if (r.result === 'found') {
        const s = r.session;
        return { result: 'found', login: r.subscriber, session: { nas: s.nas, sessionId: s.sessionId, start: s.start, end: s.end, ...(r.via ? { via: 'cgnat' } : {}) } };
      }
      if (r.result === 'ambiguous') return { result: 'ambiguous', logins: [...new Set(r.sessions.map((s) => s.subscriber))] };
      return { result: r.result };
    },
  };
}

/**
 * Who held an address at a time, for cases: the attribution index once its
 * tables are part of the node's migrations; until then every look-up answers
 * "unknown", so findings are kept, unattributed, with that reason.
 */
export function subscriberLocator(platform: Platform): SubscriberLocator {
  if (!attributionMigrations.every((m) => ALL_MIGRATIONS.some((a) => a.id === m.id))) return { holderAt: async (): Promise<LocateResult> => ({ result: 'unknown' }) };
  return attributionLocator(new Attribution(new SessionIndex(platform.store, { clock: platform.clock }), platform.audit, { clockSkewMs: platform.config.attribution.clockSkew }));
}

/** Subscribers, findings, cases and notices over the platform's store and audit log. */
export function casesOf(platform: Platform, opts: { mailer?: Mailer } = {}): Cases {
  return createCases({ store: platform.store, audit: platform.audit, locator: subscriberLocator(platform), consent: platform.consent, config: platform.config, clock: platform.clock, ...opts });
}
