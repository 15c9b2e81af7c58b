import type { Migration } from '../store/index.ts';
import type { RetentionRule } from '../privacy/index.ts';
// Each capability's light registry files (tables and retention rules only, nothing heavy
// imported), not its index.ts: every process that opens the store applies these, and
// `dns serve` must not load pg, nodemailer or ajv for the cases and attribution code.
import { privacyMigrations } from '../privacy/migrations.ts';
import { consentMigrations } from '../consent/migrations.ts';
import { consentRetentionRules } from '../consent/retention.ts';
import { casesMigrations, casesRetentionRules } from '../cases/migrations.ts';
import { attributionMigrations } from '../attribution/migrations.ts';
import { attributionRetention } from '../attribution/retention.ts';
import { dnsMigrations, dnsRetentionRules, rpzProviderMigrations } from '../dns/migrations.ts';

/**
 * Every capability's migrations, in the order they are applied. A new
 * capability adds its list here; ids are never renamed once shipped.
 */
export const ALL_MIGRATIONS: readonly Migration[] = [...privacyMigrations, ...consentMigrations, ...casesMigrations, ...attributionMigrations, ...dnsMigrations, ...rpzProviderMigrations];

/** Every capability's retention rules (R16), registered with the purger by src/node/platform.ts. */
export const ALL_RETENTION_RULES: readonly RetentionRule[] = [...consentRetentionRules, ...casesRetentionRules, ...attributionRetention, ...dnsRetentionRules];
