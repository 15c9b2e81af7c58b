/**
 * FreeRADIUS `radacct` rows (the 3.2 SQL schema's column names): one row per
 * session, as a CSV export (`\copy radacct TO 'radacct.csv' CSV HEADER`, or
 * MySQL's export with \N for NULL) or read straight from the table
 * (radacct-table.ts). Sessions are filed under nasipaddress +
 * acctsessionid, as the live RADIUS path files them.
 */
import { recordsOf } from '../events.ts';
import { heldNetworks } from '../session.ts';
import { headerIndex, pickCsv, splitCsv } from './csv.ts';
import type { ImportFormat, ImportOptions, ImportSink, LineParser } from './format.ts';
import { MissingOffsetError, parseSourceTime } from './time.ts';

/** The columns attribution reads; the rest of a radacct row is ignored (R16: minimal data). */
export const RADACCT_COLUMNS = [
  'acctsessionid', 'username', 'nasipaddress', 'acctstarttime', 'acctupdatetime', 'acctstoptime', 'acctsessiontime',
  'framedipaddress', 'framedipv6address', 'framedipv6prefix', 'delegatedipv6prefix',
] as const;

export interface RadacctRow {
  acctsessionid: string;
  username: string;
  nasipaddress: string;
  acctstarttime: number | null;
  acctupdatetime: number | null;
  acctstoptime: number | null;
  acctsessiontime: number | null;
  framedipaddress: string;
  framedipv6address: string;
  framedipv6prefix: string;
  delegatedipv6prefix: string;
}

/** One radacct row as session records; `where` is the line or row number for reports. */
export function radacctRow(row: RadacctRow, where: number, sink: ImportSink): void {
  if (!row.acctsessionid) return sink.bad(where, 'acctsessionid is empty');
  if (!row.nasipaddress) return sink.bad(where, 'nasipaddress is empty');
  const { held, problems } = heldNetworks({
    framedIp: row.framedipaddress,
    framedIpv6Prefix: row.framedipv6prefix,
    delegatedIpv6Prefix: row.delegatedipv6prefix,
    framedIpv6Address: row.framedipv6address,
  });
  for (const p of problems) sink.bad(where, p.replace(/^Framed-IP-Address/, 'framedipaddress').replace(/^Framed-IPv6-Prefix/, 'framedipv6prefix').replace(/^Delegated-IPv6-Prefix/, 'delegatedipv6prefix').replace(/^Framed-IPv6-Address/, 'framedipv6address'));
  if (held.length === 0) return problems.length ? undefined : sink.skip('radacct row without an address');
  const secs = row.acctsessiontime;
  let start = row.acctstarttime;
  let startInferred = false;
  if (start === null) {
    const ref = row.acctstoptime ?? row.acctupdatetime;
    if (ref === null || secs === null) return sink.bad(where, 'acctstarttime is empty and there is no acctstoptime/acctupdatetime with acctsessiontime to derive it from');
    start = ref - secs * 1000;
    startInferred = true;
  }
  const end = row.acctstoptime;
  if (end !== null && end < start) return sink.bad(where, `acctstoptime is before acctstarttime`);
  const lastSeen = Math.max(start, row.acctupdatetime ?? start, end ?? start);
  const s = { nas: row.nasipaddress, sessionId: row.acctsessionid, subscriber: row.username, held, source: 'radacct' as const };
  for (const r of recordsOf(s, start, startInferred, end, false, lastSeen)) sink.record(r);
}

/** '', \N, NULL, null: what exports write for NULL. */
function isNull(v: string): boolean {
  const n = v.length;
  if (n === 0) return true;
  if (n === 2) return v === '\\N';
  return n === 4 && (v === 'NULL' || v === 'null');
}

/** The columns read, in Columns order; each names its position in the line's picked fields (-1: absent). */
const READ = ['acctsessionid', 'username', 'nasipaddress', 'acctstarttime', 'acctupdatetime', 'acctstoptime', 'acctsessiontime', 'framedipaddress', 'framedipv6address', 'framedipv6prefix', 'delegatedipv6prefix'] as const;
const C = { sessionId: 0, user: 1, nas: 2, start: 3, update: 4, stop: 5, secs: 6, ip: 7, v6addr: 8, v6prefix: 9, pd: 10 } as const;
type Col = (typeof C)[keyof typeof C];

class RadacctCsvParser implements LineParser {
  /** Line positions of the columns read, ascending (pickCsv), and where each of READ landed among them. */
  private positions: number[] | undefined;
  private slot: number[] = [];
  private line_ = 0;
  private readonly picked: string[] = [];
  constructor(
    private readonly file: string,
    private readonly options: ImportOptions,
    private readonly sink: ImportSink,
  ) {}

  line(text: string, no: number): void {
    if (text.length === 0 || text.trim() === '') return;
    if (!this.positions) {
      const fields = splitCsv(text);
      if (!Array.isArray(fields)) return this.sink.bad(no, fields.error);
      return this.header(fields, no);
    }
    const ok = pickCsv(text, this.positions, this.picked);
    if (ok !== true) return this.sink.bad(no, ok.error);
    this.line_ = no;
    const start = this.time(C.start, 'acctstarttime');
    const update = this.time(C.update, 'acctupdatetime');
    const stop = this.time(C.stop, 'acctstoptime');
    if (start === 'bad' || update === 'bad' || stop === 'bad') return;
    const secsText = this.get(C.secs);
    const secs = secsText === '' ? null : Number(secsText);
    if (secs !== null && !(Number.isInteger(secs) && secs >= 0)) return this.sink.bad(no, `acctsessiontime "${secsText}" is not a number of seconds`);
    radacctRow(
      {
        acctsessionid: this.get(C.sessionId), username: this.get(C.user), nasipaddress: this.get(C.nas),
        acctstarttime: start, acctupdatetime: update, acctstoptime: stop, acctsessiontime: secs,
        framedipaddress: this.get(C.ip), framedipv6address: this.get(C.v6addr), framedipv6prefix: this.get(C.v6prefix), delegatedipv6prefix: this.get(C.pd),
      },
      no,
      this.sink,
    );
  }

  private header(fields: string[], no: number): void {
    const cols = headerIndex(fields);
    const missing = ['acctsessionid', 'nasipaddress', 'acctstarttime', 'framedipaddress'].filter((c) => !cols.has(c));
    if (missing.length) {
      return this.sink.bad(no, `the header names no ${missing.join(', ')} column: expected the radacct column names (radacctid,acctsessionid,acctuniqueid,username,...), as \\copy radacct TO ... CSV HEADER writes them`);
    }
    const at = READ.map((name) => cols.get(name) ?? -1);
    this.positions = [...new Set(at.filter((i) => i >= 0))].sort((a, b) => a - b);
    this.slot = at.map((i) => (i < 0 ? -1 : this.positions!.indexOf(i)));
  }

  private get(c: Col): string {
    const i = this.slot[c]!;
    if (i < 0) return '';
    const v = this.picked[i]!;
    const t = v.length > 0 && (v.charCodeAt(0) === 32 || v.charCodeAt(v.length - 1) === 32) ? v.trim() : v;
    return isNull(t) ? '' : t;
  }

  private time(c: Col, name: string): number | null | 'bad' {
    const v = this.get(c);
    if (v === '') return null;
    const t = parseSourceTime(v, this.options.utcOffsetMin);
    if (t === 'no-offset') throw new MissingOffsetError(v, `${this.file}:${this.line_}: ${name}`);
    if (t === undefined) {
      this.sink.bad(this.line_, `${name} "${v}" is not a time (expected e.g. 2025-01-06 12:00:00+09)`);
      return 'bad';
    }
    return t;
  }

  end(): void {
    if (!this.positions) this.sink.bad(1, 'the file is empty: no header line');
  }
}

export const radacctCsvFormat: ImportFormat = {
  name: 'radacct',
  summary: 'FreeRADIUS radacct rows as CSV with a header of radacct column names (or --from postgres://... --table radacct)',
  open: ({ file, options, sink }) => new RadacctCsvParser(file, options, sink),
};
