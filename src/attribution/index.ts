/**
 * Subscriber attribution: who held an address (or a CGNAT port) at a time.
 * The public surface; other folders import only this file.
 */
export { attributionMigrations } from './migrations.ts';
export { SessionIndex, type SessionIndexOptions, type HolderQuery } from './session-index.ts';
export { Attribution, parseTime, isLookupPurpose, LOOKUP_PURPOSES, HOLDINGS_PURPOSES, ATTRIBUTION_PURPOSE, type LookupRequest, type LookupResult, type LookupPurpose, type AuditSink } from './attribution.ts';
export type { LookupOutcome, SessionView } from './lookup.ts';
export type { SessionRecord, HoldingRole, SessionSource } from './session.ts';
export { sessionEventOf, opOf, SessionAssembler, type SessionEvent, type PendingOp } from './events.ts';
export { keyOf, keyToText, parseNetwork } from './address.ts';
export { attributionRetention } from './retention.ts';
export { AttributionPart, attributionPart, type AttributionPartOptions, type AttributionDeps, type SessionChange } from './part.ts';
export { LiveSessions } from './live-sessions.ts';
export { importFile, importFormat, IMPORT_FORMATS, ImportRun, type ImportReport, type ImportHooks, type ImportRunOptions } from './importers/run.ts';
export { importRadacctTable } from './importers/radacct-table.ts';
export type { ImportOptions } from './importers/format.ts';
export { parseUtcOffset } from './importers/time.ts';
export { PostgresCopyWriter, type BulkWriter } from './pg-copy.ts';
export { UPSERT_TAIL } from './session-index.ts';
