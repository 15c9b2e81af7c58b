/**
 * Subscriber attribution: who held an address (or a CGNAT port) at a time.
 * The public surface; other folders import only this file.
 */
export { attributionMigrations } from './migrations.ts';
export { SessionIndex, type SessionIndexOptions, type HolderQuery } from './session-index.ts';
export { Attribution, parseTime, isLookupPurpose, LOOKUP_PURPOSES, ATTRIBUTION_PURPOSE, type LookupRequest, type LookupResult, type LookupPurpose, type AuditSink } from './attribution.ts';
export type { LookupOutcome, SessionView } from './lookup.ts';
export type { SessionRecord, HoldingRole, SessionSource } from './session.ts';
export { sessionEventOf, opOf, SessionAssembler, type SessionEvent, type PendingOp } from './events.ts';
export { keyOf, keyToText, parseNetwork } from './address.ts';
export { attributionRetention } from './retention.ts';
