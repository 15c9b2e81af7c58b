import type { Migration } from '../store/index.ts';
import { privacyMigrations } from '../privacy/index.ts';
import { consentMigrations } from '../consent/index.ts';
import { casesMigrations } from '../cases/index.ts';
import { rpzProviderMigrations } from '../dns/rpz-provider/index.ts';
import { attributionMigrations } from '../attribution/index.ts';
import { dnsMigrations } from '../dns/index.ts';

/**
 * Every capability's migrations, in the order they are applied. A new
 * capability adds its list here; ids are never renamed once shipped.
 */
export const ALL_MIGRATIONS: readonly Migration[] = [...privacyMigrations, ...consentMigrations, ...casesMigrations, ...attributionMigrations, ...dnsMigrations, ...rpzProviderMigrations];
