import type { Migration } from '../store/index.ts';

/** Consent history (every choice, kept) and current state (one row per subject and service). */
export const consentMigrations: Migration[] = [
  {
    id: 'consent/0001-consent',
    sql: {
      sqlite: `
        CREATE TABLE consent_events (
          id TEXT PRIMARY KEY,
          at INTEGER NOT NULL,
          scope TEXT NOT NULL,
          subject TEXT NOT NULL,
          service TEXT NOT NULL,
          choice TEXT NOT NULL,
          actor TEXT NOT NULL,
          via TEXT NOT NULL,
          reason TEXT
        );
        CREATE INDEX consent_events_by_subject ON consent_events (scope, subject, service, at);
        CREATE TABLE consent_state (
          scope TEXT NOT NULL,
          subject TEXT NOT NULL,
          service TEXT NOT NULL,
          choice TEXT NOT NULL,
          since INTEGER NOT NULL,
          event_id TEXT NOT NULL,
          PRIMARY KEY (scope, subject, service)
        );`,
      postgres: `
        CREATE TABLE consent_events (
          id TEXT PRIMARY KEY,
          at BIGINT NOT NULL,
          scope TEXT NOT NULL,
          subject TEXT NOT NULL,
          service TEXT NOT NULL,
          choice TEXT NOT NULL,
          actor TEXT NOT NULL,
          via TEXT NOT NULL,
          reason TEXT
        );
        CREATE INDEX consent_events_by_subject ON consent_events (scope, subject, service, at);
        CREATE TABLE consent_state (
          scope TEXT NOT NULL,
          subject TEXT NOT NULL,
          service TEXT NOT NULL,
          choice TEXT NOT NULL,
          since BIGINT NOT NULL,
          event_id TEXT NOT NULL,
          PRIMARY KEY (scope, subject, service)
        );`,
    },
  },
];
