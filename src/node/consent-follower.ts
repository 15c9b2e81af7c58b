import { ConsentFollower } from '../consent/index.ts';
import type { AttributionPart } from '../attribution/index.ts';
import type { Cases } from '../cases/index.ts';
import type { Platform } from './platform.ts';

/**
 * The consent follower (R1) wired to what it follows: attribution's live
 * session stream and holdings, and the subscriber directory (subscriber id
 * to login). See src/consent/follower.ts.
 */
export function consentFollowerPart(platform: Platform, attribution: AttributionPart, cases: Pick<Cases, 'subscribers'>): ConsentFollower {
  const follower = new ConsentFollower({
    consent: platform.consent,
    store: platform.store,
    audit: platform.audit,
    loginOf: async (id) => (await cases.subscribers.byId(id))?.login || undefined,
    holdingsOf: (login) => attribution.holdingsOf(login),
    logger: platform.logger,
  });
  attribution.onSessionChange((c) => follower.sessionChanged(c));
  return follower;
}
