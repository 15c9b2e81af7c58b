/**
 * The change journal IXFR answers from (RFC 1995 §3: "the server keeps a history of
 * changes"). In memory, the provider keeps the chain of differences that ends at the
 * version it serves; in the store, every difference is kept with the digests of the
 * versions before and after it, so a restarted provider (or one that missed a `rpz add`
 * made while it was down) can rebuild the chain, and a file edited behind the journal's
 * back breaks the chain instead of sending secondaries a wrong difference.
 */
import type { Migration, Queryable } from '../../store/index.ts';
import type { ZoneRecord } from '../policy/index.ts';
import { serialCompare } from '../zone-transfer/index.ts';
import { formatRecord, readZoneRecords } from './master-text.ts';
import type { ZoneDiff } from './zone-content.ts';

export interface JournalEntry extends ZoneDiff {
  zone: string;
  /** Digest of the zone before and after (ZoneContent.digest). */
  fromDigest: string;
  toDigest: string;
  /** Who made the change: "cli:alice", "file" (an edit seen by the provider). */
  actor: string;
  at: number;
}

export function entrySerials(e: ZoneDiff): { from: number; to: number } {
  const s = (r: ZoneRecord) => (r.data.kind === 'SOA' ? r.data.serial : 0);
  return { from: s(e.from), to: s(e.to) };
}

/** The chain of differences ending at the served version, oldest first, at most `max` long. */
export class Journal {
  private entries: JournalEntry[] = [];
  constructor(private readonly max = 200) {}

  get length(): number {
    return this.entries.length;
  }

  /** The oldest serial an IXFR can start from, when there is a journal. */
  get oldestSerial(): number | undefined {
    const e = this.entries[0];
    return e ? entrySerials(e).from : undefined;
  }

  /** Appends the step to the new served version; drops the oldest past `max`. */
  push(e: JournalEntry): void {
    const last = this.entries[this.entries.length - 1];
    if (last && (entrySerials(last).to !== entrySerials(e).from || last.toDigest !== e.fromDigest)) this.entries = [];
    this.entries.push(e);
    if (this.entries.length > this.max) this.entries.splice(0, this.entries.length - this.max);
  }

  /** Forgets the history (a change too large to journal, or a file edited without one). */
  reset(): void {
    this.entries = [];
  }

  /** Replaces the chain (at start, from the store). */
  load(chain: readonly JournalEntry[]): void {
    this.entries = chain.slice(-this.max);
  }

  /** The differences from `serial` to the served version, or undefined when the journal does not reach back that far. */
  since(serial: number): JournalEntry[] | undefined {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const from = entrySerials(this.entries[i]!).from;
      if (from === serial) return this.entries.slice(i);
      // Serials only grow along the chain: once older than the client's, it is not there.
      if (serialCompare(from, serial) === -1) return undefined;
    }
    return undefined;
  }

  all(): readonly JournalEntry[] {
    return this.entries;
  }
}

// ---- persistence -----------------------------------------------------------------------

export const rpzProviderMigrations: readonly Migration[] = [
  {
    id: 'rpz-provider/0001-journal',
    sql: `CREATE TABLE rpz_journal (
  zone TEXT NOT NULL,
  from_serial BIGINT NOT NULL,
  to_serial BIGINT NOT NULL,
  from_digest TEXT NOT NULL,
  to_digest TEXT NOT NULL,
  from_soa TEXT NOT NULL,
  to_soa TEXT NOT NULL,
  deletes TEXT NOT NULL,
  adds TEXT NOT NULL,
  actor TEXT NOT NULL,
  at BIGINT NOT NULL,
  PRIMARY KEY (zone, from_serial, to_serial, to_digest)
);
CREATE INDEX rpz_journal_zone_at ON rpz_journal (zone, at);`,
  },
];

interface JournalRow {
  zone: string;
  from_serial: number;
  to_serial: number;
  from_digest: string;
  to_digest: string;
  from_soa: string;
  to_soa: string;
  deletes: string;
  adds: string;
  actor: string;
  at: number;
}

/** Records as absolute master-file lines (readable in the database, read back by the same reader). */
function linesOf(records: readonly ZoneRecord[]): string {
  return JSON.stringify(records.map((r) => formatRecord(r)));
}

function recordsOf(zone: string, json: string, what: string): ZoneRecord[] {
  const lines = JSON.parse(json) as string[];
  const r = readZoneRecords(`@ 0 IN SOA . . 0 0 0 0 0\n${lines.join('\n')}`, { origin: zone, file: `rpz_journal ${what}` });
  if (!r.ok) throw new Error(`journal row for ${zone} does not read back: ${r.errors.map((e) => e.message).join('; ')}`);
  return r.records;
}

function soaOf(zone: string, line: string): ZoneRecord {
  const r = readZoneRecords(line, { origin: zone, file: 'rpz_journal soa' });
  if (!r.soa) throw new Error(`journal row for ${zone}: "${line}" is not an SOA record`);
  return r.soa;
}

/** Differences larger than this are not journaled: secondaries get the whole zone instead. */
export const MAX_JOURNALED_RECORDS = 200_000;

export class JournalStore {
  constructor(private readonly db: Queryable, private readonly opts: { keep?: number } = {}) {}

  /** Saves a difference (once: the same step saved twice, by the CLI and the provider, is one row). */
  async append(e: JournalEntry): Promise<void> {
    const s = entrySerials(e);
    await this.db.run(
      `INSERT INTO rpz_journal (zone, from_serial, to_serial, from_digest, to_digest, from_soa, to_soa, deletes, adds, actor, at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      [e.zone, s.from, s.to, e.fromDigest, e.toDigest, formatRecord(e.from), formatRecord(e.to), linesOf(e.deletes), linesOf(e.adds), e.actor, e.at],
    );
    const keep = this.opts.keep ?? 1000;
    const cut = await this.db.get<{ at: number }>(`SELECT at FROM rpz_journal WHERE zone = ? ORDER BY at DESC LIMIT 1 OFFSET ?`, [e.zone, keep]);
    if (cut) await this.db.run(`DELETE FROM rpz_journal WHERE zone = ? AND at <= ?`, [e.zone, Number(cut.at)]);
  }

  /**
   * The chain that ends at the version with this serial and digest, oldest first (empty
   * when no saved difference leads there), at most `max` steps.
   */
  async chainTo(zone: string, serial: number, digest: string, max = 200): Promise<JournalEntry[]> {
    const rows = await this.db.all<JournalRow>(`SELECT * FROM rpz_journal WHERE zone = ? ORDER BY at DESC LIMIT ?`, [zone, max * 4]);
    const byTo = new Map<string, JournalRow>();
    for (const r of rows) {
      const k = `${Number(r.to_serial)}/${r.to_digest}`;
      if (!byTo.has(k)) byTo.set(k, r);
    }
    const chain: JournalEntry[] = [];
    let k = `${serial}/${digest}`;
    const seen = new Set<string>();
    while (chain.length < max) {
      const r = byTo.get(k);
      if (!r || seen.has(k)) break;
      seen.add(k);
      chain.push({
        zone,
        from: soaOf(zone, r.from_soa),
        to: soaOf(zone, r.to_soa),
        deletes: recordsOf(zone, r.deletes, 'deletes'),
        adds: recordsOf(zone, r.adds, 'adds'),
        fromDigest: r.from_digest,
        toDigest: r.to_digest,
        actor: r.actor,
        at: Number(r.at),
      });
      k = `${Number(r.from_serial)}/${r.from_digest}`;
    }
    return chain.reverse();
  }

  /** The latest saved changes of a zone, newest first (for `rpz history`). */
  async recent(zone: string, limit = 20): Promise<{ fromSerial: number; toSerial: number; deletes: string[]; adds: string[]; actor: string; at: number }[]> {
    const rows = await this.db.all<JournalRow>(`SELECT * FROM rpz_journal WHERE zone = ? ORDER BY at DESC LIMIT ?`, [zone, limit]);
    return rows.map((r) => ({
      fromSerial: Number(r.from_serial),
      toSerial: Number(r.to_serial),
      deletes: JSON.parse(r.deletes) as string[],
      adds: JSON.parse(r.adds) as string[],
      actor: r.actor,
      at: Number(r.at),
    }));
  }
}
