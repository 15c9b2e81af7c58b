export { ConsentRegistry, canonicalSubject, CONSENT_SERVICES, CONSENT_TOPIC } from './consent-registry.ts';
export type { ConsentEvent, ConsentChange, ConsentChoice, ConsentScope, ConsentService, ConsentVia, ConsentPublisher } from './consent-registry.ts';
export { consentMigrations } from './migrations.ts';
export { consentRetentionRules } from './retention.ts';
export { ConsentFollower, FOLLOWER_ACTOR, type ConsentFollowerDeps, type FollowedSessionChange } from './follower.ts';
