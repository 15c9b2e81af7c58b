import type { Migration } from '../store/index.ts';
import type { RetentionRule } from '../privacy/index.ts';

/**
 * Subscribers (contract data), findings (every imported or detected finding,
 * attributed or not), cases (one per subscriber and class), their history,
 * and the notices sent. Portable SQL: TEXT and BIGINT only.
 */
export const casesMigrations: Migration[] = [
  {
    id: 'cases/0001-cases',
    sql: `
      CREATE TABLE subscribers (
        id TEXT PRIMARY KEY,
        login TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        email TEXT NOT NULL,
        language TEXT NOT NULL,
        prefecture TEXT NOT NULL,
        updated_at BIGINT NOT NULL
      );
      CREATE TABLE case_findings (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        class TEXT NOT NULL,
        purpose TEXT NOT NULL,
        source TEXT NOT NULL,
        ip TEXT,
        port BIGINT,
        observed_at BIGINT NOT NULL,
        received_at BIGINT NOT NULL,
        attribution TEXT NOT NULL,
        detail TEXT NOT NULL,
        subscriber_id TEXT,
        case_id TEXT,
        evidence TEXT NOT NULL
      );
      CREATE INDEX case_findings_by_case ON case_findings (case_id, observed_at);
      CREATE INDEX case_findings_by_received ON case_findings (received_at);
      CREATE INDEX case_findings_by_age ON case_findings (purpose, observed_at);
      CREATE TABLE cases (
        id TEXT PRIMARY KEY,
        subscriber_id TEXT NOT NULL,
        class TEXT NOT NULL,
        purpose TEXT NOT NULL,
        status TEXT NOT NULL,
        escalation BIGINT NOT NULL,
        opened_at BIGINT NOT NULL,
        pending_since BIGINT,
        updated_at BIGINT NOT NULL,
        first_seen BIGINT NOT NULL,
        last_seen BIGINT NOT NULL,
        findings BIGINT NOT NULL,
        notified_at BIGINT,
        acknowledged_at BIGINT,
        resolved_at BIGINT,
        last_notice_id TEXT
      );
      CREATE UNIQUE INDEX cases_one_per_class ON cases (subscriber_id, class);
      CREATE INDEX cases_by_status ON cases (status, pending_since);
      CREATE INDEX cases_by_resolved ON cases (purpose, resolved_at);
      CREATE TABLE case_events (
        id TEXT PRIMARY KEY,
        case_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        purpose TEXT NOT NULL,
        at BIGINT NOT NULL,
        action TEXT NOT NULL,
        from_status TEXT,
        to_status TEXT NOT NULL,
        escalation BIGINT NOT NULL,
        actor TEXT NOT NULL,
        via TEXT NOT NULL,
        note TEXT
      );
      CREATE UNIQUE INDEX case_events_by_case ON case_events (case_id, seq);
      CREATE TABLE notices (
        id TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        subscriber_id TEXT NOT NULL,
        purpose TEXT NOT NULL,
        email TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        sent_at BIGINT,
        error TEXT,
        message_id TEXT,
        subject TEXT NOT NULL,
        body TEXT NOT NULL
      );
      CREATE INDEX notices_by_subscriber ON notices (subscriber_id, created_at);
      CREATE TABLE notice_cases (
        id TEXT PRIMARY KEY,
        notice_id TEXT NOT NULL,
        case_id TEXT NOT NULL,
        class TEXT NOT NULL,
        purpose TEXT NOT NULL,
        escalation BIGINT NOT NULL,
        created_at BIGINT NOT NULL
      );
      CREATE INDEX notice_cases_by_notice ON notice_cases (notice_id);
      CREATE INDEX notice_cases_by_case ON notice_cases (case_id);`,
  },
];

/**
 * Retention (R16). Findings go when their purpose's retention has passed,
 * unless they are evidence of a case still open. Cases go that long after
 * they were resolved; their history, notices and notice links go with them.
 * Contract data (subscribers) is not communication data: it is kept while the
 * contract lasts and replaced by each import.
 */
export const casesRetentionRules: RetentionRule[] = [
  {
    name: 'findings',
    table: 'case_findings',
    key: 'id',
    timeColumn: 'observed_at',
    purposeColumn: 'purpose',
    where: "case_id IS NULL OR case_id NOT IN (SELECT id FROM cases WHERE status <> 'resolved')",
  },
  { name: 'resolved cases', table: 'cases', key: 'id', timeColumn: 'resolved_at', purposeColumn: 'purpose', where: "status = 'resolved'" },
  { name: 'case history', table: 'case_events', key: 'id', timeColumn: 'at', purposeColumn: 'purpose', where: 'case_id NOT IN (SELECT id FROM cases)' },
  { name: 'notice links', table: 'notice_cases', key: 'id', timeColumn: 'created_at', purposeColumn: 'purpose', where: 'case_id NOT IN (SELECT id FROM cases)' },
  { name: 'notices', table: 'notices', key: 'id', timeColumn: 'created_at', purposeColumn: 'purpose', where: 'id NOT IN (SELECT notice_id FROM notice_cases)' },
];
