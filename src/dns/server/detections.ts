/**
 * DNS detections for operators (issue 5 item 5): the DetectionBook of a DnsDetection
 * (the firewall's or the dnstap collector's) written through to the store, so
 * `sakimori dns detections` in another process, the API and the console read the same
 * list; counters on /metrics; `GET /api/v1/dns/detections`.
 *
 * R16: a row is a detection's summary (kind, subject, evidence, action, times), never a
 * query log. Its purpose is `dns-abuse-mitigation` (prsd, amplification) or
 * `infection-notice` (suspected-infection: the subject is a client address); rows go
 * when that purpose's retention ends (privacy.retention), and every read is audited.
 * Writes are batched (one upsert per changed record per flush), off the hot path.
 */
import type { FastifyInstance } from 'fastify';
import type { Clock, Purpose } from '../../core/index.ts';
import type { AuditLog, RetentionRule } from '../../privacy/index.ts';
import type { Migration, Store } from '../../store/index.ts';
import type { Registry } from '../../telemetry/index.ts';
import { purposeOfDetection, type Detection, type DetectionKind, type DnsDetection } from '../detect/index.ts';

export const DETECTION_KINDS: readonly DetectionKind[] = ['prsd', 'amplification', 'suspected-infection'];

export const detectionMigrations: Migration[] = [
  {
    id: 'dns/0002-detections',
    sql: `
      CREATE TABLE dns_detections (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        purpose TEXT NOT NULL,
        action TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        ended_at BIGINT,
        end_reason TEXT,
        evidence TEXT NOT NULL,
        change TEXT,
        confidence REAL NOT NULL,
        observation_id TEXT,
        error TEXT,
        source TEXT NOT NULL
      );
      CREATE INDEX dns_detections_by_time ON dns_detections (purpose, updated_at);
    `,
  },
];

/** Rows go when their purpose's retention ends, counted from the last change. */
export const detectionRetentionRules: RetentionRule[] = [{ name: 'dns detections', table: 'dns_detections', key: 'id', timeColumn: 'updated_at', purposeColumn: 'purpose' }];

/** A stored detection; `source` is the detector that made it (dns@NODE, dnstap@NODE). */
export interface DetectionRecord extends Detection {
  source: string;
}

export interface DetectionListQuery {
  /** Who reads, for the audit log. */
  actor: string;
  kind?: DetectionKind;
  /** Only detections still in force. */
  active?: boolean;
  since?: number;
  limit?: number;
}

interface Row {
  id: string;
  kind: DetectionKind;
  subject: string;
  purpose: Purpose;
  action: Detection['action'];
  started_at: number | string;
  updated_at: number | string;
  ended_at: number | string | null;
  end_reason: string | null;
  evidence: string;
  change: string | null;
  confidence: number;
  observation_id: string | null;
  error: string | null;
  source: string;
}

const UPSERT =
  'INSERT INTO dns_detections (id, kind, subject, purpose, action, started_at, updated_at, ended_at, end_reason, evidence, change, confidence, observation_id, error, source) ' +
  'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET action = excluded.action, updated_at = excluded.updated_at, ended_at = excluded.ended_at, ' +
  'end_reason = excluded.end_reason, evidence = excluded.evidence, change = excluded.change, observation_id = excluded.observation_id, error = excluded.error';

export class DetectionLog {
  private pending = new Map<string, Detection>();
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  readonly counts = { written: 0, writeErrors: 0 };
  private lastError: string | undefined;

  constructor(
    private readonly store: Store,
    private readonly audit: AuditLog,
    private readonly opts: { source: string; flushIntervalMs?: number; log: (level: 'warn' | 'error', msg: string, detail?: Record<string, unknown>) => void },
  ) {}

  /** The book's onChange: the record is written at the next flush (latest state wins). */
  changed(d: Detection): void {
    this.pending.set(d.id, d);
  }

  start(): void {
    this.timer = setInterval(() => void this.flush(), this.opts.flushIntervalMs ?? 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  get error(): string | undefined {
    return this.lastError;
  }

  flush(): Promise<void> {
    if (this.flushing) return this.flushing.then(() => this.flush());
    if (this.pending.size === 0) return Promise.resolve();
    const batch = [...this.pending.values()];
    this.pending = new Map();
    this.flushing = this.write(batch).finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private async write(batch: Detection[]): Promise<void> {
    const t = (s: string | undefined) => (s === undefined ? null : Date.parse(s));
    const rows = batch.map((d) => [
      d.id,
      d.kind,
      d.subject,
      d.purpose,
      d.action,
      t(d.startedAt),
      t(d.updatedAt),
      t(d.endedAt),
      d.endReason ?? null,
      JSON.stringify(d.evidence),
      d.change ? JSON.stringify(d.change) : null,
      d.confidence,
      d.observationId ?? null,
      d.error ?? null,
      this.opts.source,
    ]);
    try {
      await this.store.runMany(UPSERT, rows);
      this.counts.written += rows.length;
      this.lastError = undefined;
    } catch (err) {
      this.counts.writeErrors++;
      this.lastError = (err as Error).message;
      // Kept for the next flush (a detection is worth more than one try), unless newer.
      for (const d of batch) if (!this.pending.has(d.id)) this.pending.set(d.id, d);
      this.opts.log('error', `could not write ${rows.length} DNS detection(s); retried at the next flush`, { err: (err as Error).message });
    }
  }

  /** Newest first; the read is audited once per purpose it covers (R16). */
  async list(q: DetectionListQuery): Promise<DetectionRecord[]> {
    return listDetections(this.store, this.audit, q);
  }
}

/** Reads stored detections (also from a process that runs no detector: the CLI). */
export async function listDetections(store: Store, audit: AuditLog, q: DetectionListQuery): Promise<DetectionRecord[]> {
  const where: string[] = [];
  const params: (string | number)[] = [];
  if (q.kind !== undefined) {
    where.push('kind = ?');
    params.push(q.kind);
  }
  if (q.active === true) where.push('ended_at IS NULL');
  if (q.since !== undefined) {
    where.push('updated_at >= ?');
    params.push(q.since);
  }
  params.push(Math.min(Math.max(1, q.limit ?? 100), 10_000));
  const rows = await store.all<Row>(`SELECT * FROM dns_detections ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY started_at DESC, id DESC LIMIT ?`, params);
  const purposes = q.kind ? [purposeOfDetection(q.kind)] : (['dns-abuse-mitigation', 'infection-notice'] as const);
  for (const purpose of purposes) {
    await audit.append({ actor: q.actor, action: 'read', purpose, subject: 'dns_detections', detail: { rows: rows.filter((r) => r.purpose === purpose).length, ...(q.kind ? { kind: q.kind } : {}), ...(q.active ? { active: true } : {}) } });
  }
  return rows.map(fromRow);
}

function fromRow(r: Row): DetectionRecord {
  const iso = (v: number | string) => new Date(Number(v)).toISOString();
  return {
    id: r.id,
    kind: r.kind,
    subject: r.subject,
    purpose: r.purpose,
    action: r.action,
    startedAt: iso(r.started_at),
    updatedAt: iso(r.updated_at),
    ...(r.ended_at !== null ? { endedAt: iso(r.ended_at) } : {}),
    ...(r.end_reason !== null ? { endReason: r.end_reason } : {}),
    evidence: JSON.parse(r.evidence) as Record<string, unknown>,
    ...(r.change !== null ? { change: JSON.parse(r.change) } : {}),
    confidence: Number(r.confidence),
    ...(r.observation_id !== null ? { observationId: r.observation_id } : {}),
    ...(r.error !== null ? { error: r.error } : {}),
    source: r.source,
  };
}

/** Counters of a DnsDetection on /metrics (read at scrape time). `part`: dns or dnstap. */
export function registerDetectionMetrics(registry: Registry, part: string, detection: DnsDetection): void {
  const r = registry as unknown as { registerMetric(x: unknown): void };
  const metric = (name: string, help: string, type: 'counter' | 'gauge', values: () => { labels: Record<string, string>; value: number }[]) =>
    r.registerMetric({ name, help, type, get: () => ({ name, help, type, values: values(), aggregator: 'sum' }) });
  const L = { part };
  metric('sakimori_dns_detect_events_total', 'answered queries DNS detection looked at (or skipped by sampling), by part', 'counter', () => {
    const s = detection.stats();
    return [{ labels: { ...L, outcome: 'observed' }, value: s.events - s.sampledOut }, { labels: { ...L, outcome: 'sampled-out' }, value: s.sampledOut }];
  });
  metric('sakimori_dns_detections_total', 'detections started, by part, kind and action', 'counter', () => {
    const out = new Map<string, { labels: Record<string, string>; value: number }>();
    for (const [key, n] of detection.counts) {
      const [kind, action] = key.split('\0') as [string, string];
      out.set(key, { labels: { ...L, kind, action }, value: n });
    }
    return [...out.values()];
  });
  metric('sakimori_dns_detections_active', 'detections in force (PRSD mitigations, amplification entries), by part and kind', 'gauge', () =>
    DETECTION_KINDS.filter((k) => k !== 'suspected-infection').map((kind) => ({ labels: { ...L, kind }, value: detection.book.list({ kind, active: true }).length })),
  );
  metric('sakimori_dns_detect_tracked', 'what DNS detection holds in its bounded tables, by part and table', 'gauge', () => {
    const s = detection.stats();
    return [
      { labels: { ...L, table: 'zones' }, value: s.trackedZones },
      { labels: { ...L, table: 'known-good-names' }, value: s.knownGoodNames },
      { labels: { ...L, table: 'amplification-names' }, value: s.trackedAmplificationNames },
      { labels: { ...L, table: 'clients' }, value: s.trackedClients },
    ];
  });
}

/** GET /api/v1/dns/detections, from the store (every detector of this node's store). */
const routed = new WeakSet<FastifyInstance>();

export function detectionRoutes(app: FastifyInstance, deps: { store: Store; audit: AuditLog; clock: Clock; parseSince: (s: string, now: number) => number }): void {
  // The firewall and the dnstap collector of one node share the store, so one route serves both.
  if (routed.has(app)) return;
  routed.add(app);
  app.get(
    '/api/v1/dns/detections',
    {
      schema: {
        summary: 'DNS abuse detections (issue 5): random-subdomain attacks, amplification names, suspected infections',
        description:
          'Current and recent detections, newest first: `kind` (prsd, amplification, suspected-infection), `subject` (the zone, the FQDN or the client address), ' +
          'the evidence summary, the action taken (mitigated, proposed, dry-run, observation-emitted, never-block, failed) and the times. ' +
          'A summary, never a query log; every read is written to the audit log with its purpose (R16) and rows go when that purpose\'s retention ends.',
        tags: ['dns'],
        querystring: {
          type: 'object',
          properties: {
            kind: { type: 'string', enum: [...DETECTION_KINDS] },
            active: { type: 'boolean', description: 'only detections still in force' },
            since: { type: 'string', description: 'ISO 8601 time with offset, or a duration back from now such as 15m or 24h' },
            limit: { type: 'integer', minimum: 1, maximum: 10000, default: 100 },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['detections'],
            properties: {
              detections: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['id', 'kind', 'subject', 'purpose', 'action', 'startedAt', 'updatedAt', 'evidence', 'confidence', 'source'],
                  properties: {
                    id: { type: 'string' },
                    kind: { type: 'string', enum: [...DETECTION_KINDS] },
                    subject: { type: 'string' },
                    purpose: { type: 'string' },
                    action: { type: 'string', enum: ['mitigated', 'proposed', 'dry-run', 'observation-emitted', 'never-block', 'failed'] },
                    startedAt: { type: 'string', format: 'date-time' },
                    updatedAt: { type: 'string', format: 'date-time' },
                    endedAt: { type: 'string', format: 'date-time' },
                    endReason: { type: 'string' },
                    evidence: { type: 'object', additionalProperties: true },
                    change: { type: 'object', additionalProperties: true },
                    confidence: { type: 'number' },
                    observationId: { type: 'string' },
                    error: { type: 'string' },
                    source: { type: 'string' },
                  },
                },
              },
            },
          },
        },
      },
    },
    async (req) => {
      const q = req.query as { kind?: DetectionKind; active?: boolean; since?: string; limit?: number };
      const since = q.since === undefined ? undefined : deps.parseSince(q.since, deps.clock.now());
      const rows = await listDetections(deps.store, deps.audit, { actor: `api:${req.ip}`, ...(q.kind ? { kind: q.kind } : {}), ...(q.active ? { active: true } : {}), ...(since !== undefined ? { since } : {}), ...(q.limit ? { limit: q.limit } : {}) });
      return { detections: rows };
    },
  );
}

export function isDetectionKind(s: string): s is DetectionKind {
  return (DETECTION_KINDS as readonly string[]).includes(s);
}
