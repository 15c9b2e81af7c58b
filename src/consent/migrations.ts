import type { Migration } from '../store/index.ts';

/** Consent history (every choice, kept) and current state (one row per subject and service). */
export const consentMigrations: Migration[] = [
  {
    id: 'consent/0001-consent',
    // Portable: BIGINT has integer affinity in SQLite.
    sql: `
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
  {
    // The client-scope opt-outs the consent follower made, with the session that held the address and the event that made it (R1): only these does it take off again.
    id: 'consent/0002-follow',
    // Portable: BIGINT has integer affinity in SQLite.
    sql: `
      CREATE TABLE consent_follow (
        subject TEXT NOT NULL,
        service TEXT NOT NULL,
        subscriber TEXT NOT NULL,
        nas TEXT NOT NULL,
        session_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        at BIGINT NOT NULL,
        PRIMARY KEY (subject, service)
      );
      CREATE INDEX consent_follow_by_session ON consent_follow (nas, session_id);
      CREATE INDEX consent_follow_by_subscriber ON consent_follow (subscriber);`,
  },
];
