export { AuditLog, verifyAuditChain, chainHash } from './audit-log.ts';
export type { AuditAction, AuditEntry, AuditEntryInput, AuditLogOptions, VerifyResult } from './audit-log.ts';
export { PurposeBoundRecords, assertPurpose } from './purpose-bound.ts';
export type { PurposeBoundRecord, ReadContext } from './purpose-bound.ts';
export { RetentionPurger } from './retention.ts';
export type { RetentionRule, PurgeResult } from './retention.ts';
export { privacyMigrations } from './migrations.ts';
