import type { Store } from '../store/index.ts';
import { systemClock, type Clock, type Purpose } from '../core/index.ts';
import type { AuditLog } from './audit-log.ts';

/**
 * Retention (R16): data is kept only as long as its purpose needs. Each
 * capability registers the tables that hold communication data; the purger
 * deletes rows older than the retention configured for their purpose, in
 * bounded chunks (so a purge of millions of rows never holds the write lock
 * for long), and audits each purge with its count and cut-off.
 */
export interface RetentionRule {
  /** Name for logs and the audit log, e.g. "dns block events". */
  name: string;
  table: string;
  /** Primary-key column, used to delete in chunks. */
  key: string;
  /** Epoch-ms column the age is measured from. */
  timeColumn: string;
  /** Either every row of the table has this purpose ... */
  purpose?: Purpose;
  /** ... or the table has a purpose column and each purpose gets its own retention. */
  purposeColumn?: string;
  /** Extra condition, e.g. "status = 'resolved'" for cases that may only go once closed. */
  where?: string;
}

export interface PurgeResult {
  rule: string;
  purpose: Purpose;
  deleted: number;
  cutoff: number;
}

const IDENT = /^[a-z_][a-z0-9_]*$/;

export class RetentionPurger {
  private readonly rules: RetentionRule[] = [];
  private readonly clock: Clock;

  constructor(
    private readonly store: Store,
    private readonly audit: AuditLog,
    private readonly retentionMs: Readonly<Record<Purpose, number>>,
    opts: { clock?: Clock; chunk?: number } = {},
  ) {
    this.clock = opts.clock ?? systemClock;
    this.chunk = opts.chunk ?? 10_000;
  }
  private readonly chunk: number;

  register(rule: RetentionRule): void {
    for (const ident of [rule.table, rule.key, rule.timeColumn, rule.purposeColumn ?? 'x']) {
      if (!IDENT.test(ident)) throw new Error(`retention rule "${rule.name}": "${ident}" is not a plain SQL identifier`);
    }
    if (!rule.purpose === !rule.purposeColumn) throw new Error(`retention rule "${rule.name}": give exactly one of purpose or purposeColumn`);
    this.rules.push(rule);
  }

  get registered(): readonly RetentionRule[] {
    return this.rules;
  }

  /** One purge pass over every rule and every purpose. */
  async runOnce(): Promise<PurgeResult[]> {
    const now = this.clock.now();
    const results: PurgeResult[] = [];
    for (const rule of this.rules) {
      const purposes: Purpose[] = rule.purpose ? [rule.purpose] : (Object.keys(this.retentionMs) as Purpose[]);
      for (const purpose of purposes) {
        const keep = this.retentionMs[purpose];
        if (keep === undefined) continue;
        const cutoff = now - keep;
        const deleted = await this.purge(rule, purpose, cutoff);
        if (deleted > 0) {
          await this.audit.append({ actor: 'retention', action: 'purge', purpose, subject: rule.table, detail: { rule: rule.name, deleted, cutoff: new Date(cutoff).toISOString() } });
        }
        results.push({ rule: rule.name, purpose, deleted, cutoff });
      }
    }
    return results;
  }

  private async purge(rule: RetentionRule, purpose: Purpose, cutoff: number): Promise<number> {
    const conds = [`${rule.timeColumn} < ?`];
    const params: (string | number)[] = [cutoff];
    if (rule.purposeColumn) {
      conds.push(`${rule.purposeColumn} = ?`);
      params.push(purpose);
    }
    if (rule.where) conds.push(`(${rule.where})`);
    const sql = `DELETE FROM ${rule.table} WHERE ${rule.key} IN (SELECT ${rule.key} FROM ${rule.table} WHERE ${conds.join(' AND ')} LIMIT ?)`;
    let total = 0;
    for (;;) {
      const { changes } = await this.store.run(sql, [...params, this.chunk]);
      total += changes;
      if (changes < this.chunk) return total;
    }
  }
}
