import type { Part } from '../core/index.ts';
import { createCases, createCasesParts, type Cases, type LocateResult, type Mailer, type SubscriberLocator } from '../cases/index.ts';
import type { Platform } from './platform.ts';

/**
 * The capabilities a node runs, each as a Part. A new capability (DNS
 * firewall, RADIUS accounting, detectors, ...) adds one line here, building
 * its part from the platform pieces it needs.
 */
export function buildCapabilityParts(platform: Platform): Part[] {
  return [...createCasesParts(casesOf(platform), { bus: platform.bus, logger: platform.logger, config: platform.config })];
}

/**
 * Who held an address at a time, for cases. Until the attribution index
 * (src/attribution) is wired here, every look-up answers "unknown", so
 * findings are kept, unattributed, with that reason.
 */
export function subscriberLocator(_platform: Platform): SubscriberLocator {
  return { holderAt: async (): Promise<LocateResult> => ({ result: 'unknown' }) };
}

/** Subscribers, findings, cases and notices over the platform's store and audit log. */
export function casesOf(platform: Platform, opts: { mailer?: Mailer } = {}): Cases {
  return createCases({ store: platform.store, audit: platform.audit, locator: subscriberLocator(platform), config: platform.config, clock: platform.clock, ...opts });
}
