import { dirname, join } from 'node:path';
import type { Part } from '../core/index.ts';
import { createCases, createCasesParts, type Cases, type LocateResult, type Mailer, type SubscriberLocator } from '../cases/index.ts';
import { Attribution, attributionMigrations, attributionPart, SessionIndex } from '../attribution/index.ts';
import { dnsParts, listDetections } from '../dns/index.ts';
import { rpzProviderParts } from '../dns/rpz-provider/index.ts';
import { dnstapParts } from '../dns/dnstap/index.ts';
import { webParts, type AddressLookup, type SubscriberAddresses, type SubscriberFollower } from '../web/index.ts';
import { ALL_MIGRATIONS } from './migrations.ts';
import { consentFollowerPart } from './consent-follower.ts';
import type { Platform } from './platform.ts';

/**
 * The capabilities a node runs, each as a Part. A new capability (DNS
 * firewall, RADIUS accounting, detectors, ...) adds one line here, building
 * its part from the platform pieces it needs.
 */
export function buildCapabilityParts(platform: Platform): Part[] {
  const attribution = attributionPart(platform);
  const cases = casesOf(platform);
  const follower = consentFollowerPart(platform, attribution, cases);
  return [attribution, follower, ...dnsParts(platform), ...rpzProviderParts(platform), ...dnstapParts(platform), ...createCasesParts(cases, { bus: platform.bus, logger: platform.logger, config: platform.config }), ...portalAndConsole(platform, cases, attribution.attribution, attribution.addresses, follower)];
}

/**
 * The subscriber portal and the operator console. The portal's opt-out
 * reaches the addresses a subscriber holds now once attribution can name
 * them (`SubscriberAddresses`); until then the choice is recorded for the
 * subscriber only, and the portal says so in its log at start.
 */
export function portalAndConsole(platform: Platform, cases: Cases, lookup: AddressLookup, addresses?: SubscriberAddresses, follower?: SubscriberFollower): Part[] {
  const { config, logger, clock } = platform;
  return webParts({
    notices: cases.notices,
    cases: cases.book,
    subscribers: cases.subscribers,
    consent: platform.consent,
    addresses,
    follower,
    lookup,
    detections: { list: (q) => listDetections(platform.store, platform.audit, q) },
    audit: platform.audit,
    logger,
    clock,
    organization: config.notify.organization,
    portalUrl: config.notify.portalUrl,
    support: config.web.portal.support,
    tokenFile: config.web.console.tokenFile,
    // The portal's form key lives beside the console's token file (the node's data directory).
    formKeyFile: join(dirname(config.web.console.tokenFile), 'portal-form-key'),
  });
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
