import type { Store } from '../store/index.ts';
import { isPurpose, newId, PurposeMismatchError, SakimoriError, systemClock, type Clock, type Purpose } from '../core/index.ts';
import type { AuditLog } from './audit-log.ts';

/**
 * Purpose-bound records (R16): communication data is written with exactly one
 * purpose and read only by a caller that states the same purpose. A mismatch
 * throws PurposeMismatchError; every write and every read is audited.
 *
 * Capabilities with large, specialised tables (sessions, block events) keep
 * their own tables with a purpose column and use `assertPurpose` + the audit
 * log the same way; this generic table serves the small ones.
 */
export interface PurposeBoundRecord<T = unknown> {
  id: string;
  collection: string;
  purpose: Purpose;
  subject: string | null;
  data: T;
  createdAt: number;
}

/** Throws unless the purpose a reader states is the purpose the data was collected for. */
export function assertPurpose(what: string, recordPurpose: string, requested: Purpose): void {
  if (recordPurpose !== requested) throw new PurposeMismatchError(what, recordPurpose, requested);
}

export interface ReadContext {
  purpose: Purpose;
  /** Who reads, for the audit log. */
  actor: string;
}

interface RecordRow {
  id: string;
  collection: string;
  purpose: string;
  subject: string | null;
  data: string;
  created_at: number;
}

export class PurposeBoundRecords {
  private readonly clock: Clock;
  constructor(private readonly store: Store, private readonly audit: AuditLog, clock?: Clock) {
    this.clock = clock ?? systemClock;
  }

  async write<T>(input: { collection: string; purpose: Purpose; subject?: string; data: T; actor: string }): Promise<string> {
    if (!isPurpose(input.purpose)) throw new SakimoriError('BAD_PURPOSE', `unknown purpose "${String(input.purpose)}"`, { hint: 'use one of the purposes in src/core/purpose.ts' });
    const id = newId('rec', this.clock.now());
    await this.store.run('INSERT INTO purpose_records (id, collection, purpose, subject, data, created_at) VALUES (?, ?, ?, ?, ?, ?)', [
      id,
      input.collection,
      input.purpose,
      input.subject ?? null,
      JSON.stringify(input.data),
      this.clock.now(),
    ]);
    await this.audit.append({ actor: input.actor, action: 'write', purpose: input.purpose, subject: `${input.collection}/${id}`, detail: input.subject ? { subject: input.subject } : {} });
    return id;
  }

  /** Reads one record for a stated purpose; throws PurposeMismatchError (and audits the refusal) on a mismatch. */
  async read<T>(id: string, ctx: ReadContext): Promise<PurposeBoundRecord<T> | undefined> {
    const row = await this.store.get<RecordRow>('SELECT * FROM purpose_records WHERE id = ?', [id]);
    if (!row) return undefined;
    await this.checkAndAudit(row, ctx);
    return toRecord<T>(row);
  }

  /** Records of a collection (optionally of one subject) collected for the stated purpose. Other purposes' records are not returned. */
  async find<T>(q: { collection: string; subject?: string; limit?: number }, ctx: ReadContext): Promise<PurposeBoundRecord<T>[]> {
    const params: (string | number)[] = [q.collection, ctx.purpose];
    let sql = 'SELECT * FROM purpose_records WHERE collection = ? AND purpose = ?';
    if (q.subject !== undefined) {
      sql += ' AND subject = ?';
      params.push(q.subject);
    }
    sql += ' ORDER BY created_at DESC, id DESC LIMIT ?';
    params.push(q.limit ?? 1000);
    const rows = await this.store.all<RecordRow>(sql, params);
    await this.audit.append({ actor: ctx.actor, action: 'read', purpose: ctx.purpose, subject: q.collection, detail: { count: rows.length, ...(q.subject ? { subject: q.subject } : {}) } });
    return rows.map((r) => toRecord<T>(r));
  }

  private async checkAndAudit(row: RecordRow, ctx: ReadContext): Promise<void> {
    const subject = `${row.collection}/${row.id}`;
    if (row.purpose !== ctx.purpose) {
      await this.audit.append({ actor: ctx.actor, action: 'read', purpose: ctx.purpose, subject, detail: { refused: true, recordPurpose: row.purpose } });
      assertPurpose(`record ${subject}`, row.purpose, ctx.purpose);
    }
    await this.audit.append({ actor: ctx.actor, action: 'read', purpose: ctx.purpose, subject });
  }
}

function toRecord<T>(r: RecordRow): PurposeBoundRecord<T> {
  return { id: r.id, collection: r.collection, purpose: r.purpose as Purpose, subject: r.subject, data: JSON.parse(r.data) as T, createdAt: r.created_at };
}
