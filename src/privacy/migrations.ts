import type { Migration } from '../store/index.ts';

/** Tables of the privacy core (R16): the hash-chained audit log and purpose-bound records. */
export const privacyMigrations: Migration[] = [
  {
    id: 'privacy/0001-audit-log',
    sql: {
      sqlite: `
        CREATE TABLE audit_log (
          seq INTEGER PRIMARY KEY,
          at INTEGER NOT NULL,
          actor TEXT NOT NULL,
          action TEXT NOT NULL,
          purpose TEXT NOT NULL,
          subject TEXT NOT NULL,
          detail TEXT NOT NULL,
          prev_hash TEXT NOT NULL,
          hash TEXT NOT NULL
        );
        CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL);
        INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '');`,
      postgres: `
        CREATE TABLE audit_log (
          seq BIGINT PRIMARY KEY,
          at BIGINT NOT NULL,
          actor TEXT NOT NULL,
          action TEXT NOT NULL,
          purpose TEXT NOT NULL,
          subject TEXT NOT NULL,
          detail TEXT NOT NULL,
          prev_hash TEXT NOT NULL,
          hash TEXT NOT NULL
        );
        CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL, hash TEXT NOT NULL);
        INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '');`,
    },
  },
  {
    id: 'privacy/0002-purpose-records',
    // Portable: BIGINT has integer affinity in SQLite.
    sql: `
      CREATE TABLE purpose_records (
        id TEXT PRIMARY KEY,
        collection TEXT NOT NULL,
        purpose TEXT NOT NULL,
        subject TEXT,
        data TEXT NOT NULL,
        created_at BIGINT NOT NULL
      );
      CREATE INDEX purpose_records_by_subject ON purpose_records (collection, subject);
      CREATE INDEX purpose_records_by_age ON purpose_records (purpose, created_at);`,
  },
];
