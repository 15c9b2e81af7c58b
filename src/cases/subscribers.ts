import type { Queryable, Store } from '../store/index.ts';
import type { AuditLog } from '../privacy/index.ts';
import { SakimoriError, systemClock, type Clock } from '../core/index.ts';
import { csvRecords } from './wire/csv.ts';
import { fileLines, type Progress } from './importers/source.ts';
import type { Subscriber } from './model.ts';

/**
 * Subscribers and their contract data: who holds which login (the PPPoE /
 * RADIUS user name attribution answers with), and where to write to them.
 * Imported from the ISP's contract system as CSV:
 *
 *   id,login,name,email,language,prefecture
 *
 * More columns may follow; they are ignored (R16: keep only what a notice
 * needs). A line with the same id replaces the subscriber (upsert).
 */
export const SUBSCRIBER_COLUMNS = ['id', 'login', 'name', 'email', 'language', 'prefecture'] as const;

export interface SubscriberImportResult {
  imported: number;
  badLines: { line: number; error: string }[];
}

interface SubscriberRow {
  id: string;
  login: string;
  name: string;
  email: string;
  language: string;
  prefecture: string;
}

const EMAIL = /^[^\s@<>,;"]+@[^\s@<>,;"]+\.[^\s@<>,;"]+$/;
const CHUNK = 1000;

/** Checks one CSV row; pure. An empty e-mail is allowed (no notice can go until it is known). */
export function subscriberFromFields(fields: readonly string[]): Subscriber | { error: string } {
  if (fields.length < SUBSCRIBER_COLUMNS.length) return { error: `has ${fields.length} fields; expected at least ${SUBSCRIBER_COLUMNS.length} (${SUBSCRIBER_COLUMNS.join(',')})` };
  const [id, login, name, email, language, prefecture] = fields.slice(0, 6).map((f) => f.trim()) as [string, string, string, string, string, string];
  if (!id) return { error: 'has an empty id' };
  if (!login) return { error: 'has an empty login' };
  if (email && !EMAIL.test(email)) return { error: `e-mail "${email}" is not an e-mail address` };
  const lang = language.toLowerCase() || 'ja';
  if (lang !== 'ja' && lang !== 'en') return { error: `language "${language}" is not ja or en` };
  return { id, login, name, email, language: lang, prefecture };
}

export class SubscriberDirectory {
  private readonly clock: Clock;
  constructor(private readonly store: Store, private readonly audit: AuditLog, opts: { clock?: Clock } = {}) {
    this.clock = opts.clock ?? systemClock;
  }

  /** Imports a CSV file; bad lines are reported by number and skipped, the rest upserted. */
  async importFile(path: string, opts: { actor: string; onProgress?: Progress }): Promise<SubscriberImportResult> {
    return this.importLines(fileLines(path, opts.onProgress), opts);
  }

  async importLines(lines: AsyncIterable<string> | Iterable<string>, opts: { actor: string }): Promise<SubscriberImportResult> {
    const result: SubscriberImportResult = { imported: 0, badLines: [] };
    let header = false;
    let chunk: { line: number; s: Subscriber }[] = [];
    const seenLogin = new Map<string, { id: string; line: number }>();
    for await (const rec of csvRecords(lines)) {
      if (!header) {
        const got = 'fields' in rec ? rec.fields.slice(0, 6).map((f) => f.trim().toLowerCase()) : [];
        if (got.join(',') !== SUBSCRIBER_COLUMNS.join(',')) {
          throw new SakimoriError('IMPORT_HEADER', `line ${rec.line}: the header must begin with ${SUBSCRIBER_COLUMNS.join(',')}`, {
            hint: `got: ${'fields' in rec ? rec.fields.join(',') : rec.error}`,
          });
        }
        header = true;
        continue;
      }
      if ('error' in rec) {
        result.badLines.push(rec);
        continue;
      }
      const s = subscriberFromFields(rec.fields);
      if ('error' in s) {
        result.badLines.push({ line: rec.line, error: s.error });
        continue;
      }
      const other = seenLogin.get(s.login);
      if (other && other.id !== s.id) {
        result.badLines.push({ line: rec.line, error: `login "${s.login}" is already subscriber ${other.id}'s (line ${other.line})` });
        continue;
      }
      seenLogin.set(s.login, { id: s.id, line: rec.line });
      chunk.push({ line: rec.line, s });
      if (chunk.length >= CHUNK) {
        await this.writeChunk(chunk, result);
        chunk = [];
      }
    }
    if (!header) throw new SakimoriError('IMPORT_HEADER', `the file is empty: expected the header ${SUBSCRIBER_COLUMNS.join(',')}`);
    if (chunk.length) await this.writeChunk(chunk, result);
    await this.audit.append({ actor: opts.actor, action: 'write', purpose: 'subscriber-attribution', subject: 'subscribers', detail: { imported: result.imported, badLines: result.badLines.length } });
    return result;
  }

  private async writeChunk(chunk: { line: number; s: Subscriber }[], result: SubscriberImportResult): Promise<void> {
    const now = this.clock.now();
    await this.store.transaction(async (tx) => {
      for (const { line, s } of chunk) {
        // A login moving to another id is a contract system error, not something to paper over.
        const holder = await tx.get<{ id: string }>('SELECT id FROM subscribers WHERE login = ? AND id <> ?', [s.login, s.id]);
        if (holder) {
          result.badLines.push({ line, error: `login "${s.login}" belongs to subscriber ${holder.id} already` });
          continue;
        }
        await tx.run(
          `INSERT INTO subscribers (id, login, name, email, language, prefecture, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET login = excluded.login, name = excluded.name, email = excluded.email,
             language = excluded.language, prefecture = excluded.prefecture, updated_at = excluded.updated_at`,
          [s.id, s.login, s.name, s.email, s.language, s.prefecture, now],
        );
        result.imported++;
      }
    });
    result.badLines.sort((a, b) => a.line - b.line);
  }

  async byId(id: string, q: Queryable = this.store): Promise<Subscriber | undefined> {
    return q.get<SubscriberRow>('SELECT id, login, name, email, language, prefecture FROM subscribers WHERE id = ?', [id]);
  }

  async byLogin(login: string, q: Queryable = this.store): Promise<Subscriber | undefined> {
    return q.get<SubscriberRow>('SELECT id, login, name, email, language, prefecture FROM subscribers WHERE login = ?', [login]);
  }

  async list(opts: { limit?: number; afterId?: string } = {}): Promise<Subscriber[]> {
    return this.store.all<SubscriberRow>('SELECT id, login, name, email, language, prefecture FROM subscribers WHERE id > ? ORDER BY id LIMIT ?', [opts.afterId ?? '', opts.limit ?? 1000]);
  }

  async count(): Promise<number> {
    const r = await this.store.get<{ n: number }>('SELECT COUNT(*) AS n FROM subscribers');
    return Number(r?.n ?? 0);
  }
}
