/**
 * CGNAT port-block logs: which subscriber held which block of ports of a
 * shared public address, and when.
 *
 * `cgnat` — one block per line, a CSV with this header (the format this
 * project defines; columns may come in any order):
 *
 *     public_ip,port_start,port_end,subscriber,start,end
 *     203.0.113.5,2048,2303,alice@example.jp,2025-01-06T12:00:00+09:00,2025-01-06T18:30:00+09:00
 *     203.0.113.5,2304,2559,100.64.0.10,2025-01-06T12:00:05+09:00,
 *
 * `subscriber` (or `login`) is the login, or the inside (private) address;
 * an inside address is followed to its own session at look-up time. An
 * empty `end` means the block is still held. Times: ISO 8601 with offset,
 * "YYYY-MM-DD HH:MM:SS" with --utc-offset, or epoch seconds.
 *
 * `cgnat-syslog` — allocate / release messages as CGN boxes log them (Junos
 * JSERVICES_NAT_PORT_BLOCK_ALLOC / _RELEASE / _ACTIVE and the like):
 *
 *     2025-01-06T12:00:00+09:00 cgn1 ...NAT_PORT_BLOCK_ALLOC: 100.64.0.10 -> 203.0.113.5:2048-2303 ...
 *
 * The time is the line's leading ISO 8601 time (RFC 5424, rsyslog), or a
 * BSD syslog time ("Jan  6 12:00:00", with --year and --utc-offset); the box
 * is the host name after it (or --nas). ALLOC opens the block, RELEASE
 * closes it, ACTIVE (interim) keeps it open.
 */
import { ipv4Key } from '../address.ts';
import type { SessionEvent } from '../events.ts';
import type { SessionRecord } from '../session.ts';
import { headerIndex, splitCsv } from './csv.ts';
import { fileNas, type ImportFormat, type ImportSink, type ImportOptions, type LineParser } from './format.ts';
import { MissingOffsetError, parseSourceTime } from './time.ts';

function portOf(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

class CgnatCsvParser implements LineParser {
  private cols: Map<string, number> | undefined;
  private readonly nas: string;
  constructor(
    private readonly file: string,
    private readonly options: ImportOptions,
    private readonly sink: ImportSink,
  ) {
    this.nas = fileNas('cgnat', file, options);
  }

  line(text: string, no: number): void {
    if (text.trim() === '' || text.startsWith('#')) return;
    const f = splitCsv(text);
    if (!Array.isArray(f)) return this.sink.bad(no, f.error);
    if (!this.cols) {
      const cols = headerIndex(f);
      if (!cols.has('subscriber') && cols.has('login')) cols.set('subscriber', cols.get('login')!);
      const missing = ['public_ip', 'port_start', 'port_end', 'subscriber', 'start', 'end'].filter((c) => !cols.has(c));
      if (missing.length) return this.sink.bad(no, `the header has no ${missing.join(', ')} column: expected public_ip,port_start,port_end,subscriber,start,end`);
      this.cols = cols;
      return;
    }
    const get = (c: string) => (f[this.cols!.get(c)!] ?? '').trim();
    const ip = get('public_ip');
    const key = ipv4Key(ip);
    if (!key) return this.sink.bad(no, `public_ip "${ip}" is not an IPv4 address`);
    const ps = portOf(get('port_start'));
    const pe = portOf(get('port_end'));
    if (ps === undefined || pe === undefined || pe < ps) return this.sink.bad(no, `ports "${get('port_start')}-${get('port_end')}" are not a range of ports (0-65535, start <= end)`);
    const subscriber = get('subscriber');
    if (!subscriber) return this.sink.bad(no, 'subscriber is empty');
    const time = (c: string) => {
      const t = parseSourceTime(get(c), this.options.utcOffsetMin);
      if (t === 'no-offset') throw new MissingOffsetError(get(c), `${this.file}:${no}: ${c}`);
      return t;
    };
    const start = time('start');
    if (start === undefined) return this.sink.bad(no, `start "${get('start')}" is not a time (expected ISO 8601 with offset, or epoch seconds)`);
    let end: number | null = null;
    if (get('end') !== '') {
      const e = time('end');
      if (e === undefined) return this.sink.bad(no, `end "${get('end')}" is not a time`);
      if (e < start) return this.sink.bad(no, 'end is before start');
      end = e;
    }
    const r: SessionRecord = {
      nas: this.nas, sessionId: `${ip}:${ps}-${pe}@${start}`, subscriber, addrKey: key, portStart: ps, portEnd: pe, role: 'port-block',
      start, startInferred: false, end, endInferred: false, lastSeen: end ?? start, source: 'cgnat',
    };
    this.sink.record(r);
  }

  end(): void {
    if (!this.cols) this.sink.bad(1, 'the file is empty: no header line');
  }
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const ISO_HEAD = /^(?:<\d+>1\s+)?(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)\s+(\S+)/;
const BSD_HEAD = /^(?:<\d+>)?([A-Z][a-z]{2})\s+(\d{1,2})\s+(\d{2}):(\d{2}):(\d{2})\s+(\S+)/;
const BLOCK = /(ALLOC|RELEASE|ACTIVE|INTERIM)[A-Z_]*:?\s*(\S+)\s*->\s*(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})-(\d{1,5})/i;

class CgnatSyslogParser implements LineParser {
  constructor(
    private readonly file: string,
    private readonly options: ImportOptions,
    private readonly sink: ImportSink,
  ) {}

  line(text: string, no: number): void {
    if (text.trim() === '') return;
    const m = BLOCK.exec(text);
    if (!m) return this.sink.skip('not a port-block message');
    let at: number | undefined;
    let host: string;
    const iso = ISO_HEAD.exec(text);
    if (iso) {
      const t = parseSourceTime(iso[1]!.replace('T', ' '), this.options.utcOffsetMin);
      if (t === 'no-offset') throw new MissingOffsetError(iso[1]!, `${this.file}:${no}`);
      at = t;
      host = iso[2]!;
    } else {
      const b = BSD_HEAD.exec(text);
      if (!b) return this.sink.bad(no, 'no time at the start of the line (expected ISO 8601, or a BSD syslog time such as "Jan  6 12:00:00")');
      if (this.options.year === undefined || this.options.utcOffsetMin === undefined) {
        throw new MissingOffsetError(`${b[1]} ${b[2]} ${b[3]}:${b[4]}:${b[5]}`, `${this.file}:${no} (BSD syslog times have no year and no zone: give --year and --utc-offset)`);
      }
      const mon = MONTHS.indexOf(b[1]!.toLowerCase());
      at = Date.UTC(this.options.year, mon, Number(b[2]), Number(b[3]), Number(b[4]), Number(b[5])) - this.options.utcOffsetMin * 60_000;
      host = b[6]!;
    }
    if (at === undefined || !Number.isFinite(at)) return this.sink.bad(no, 'the time at the start of the line is not valid');
    const [, verb, inside, pub, psText, peText] = m as unknown as [string, string, string, string, string, string];
    const key = ipv4Key(pub);
    if (!key) return this.sink.bad(no, `"${pub}" is not an IPv4 address`);
    const ps = portOf(psText);
    const pe = portOf(peText);
    if (ps === undefined || pe === undefined || pe < ps) return this.sink.bad(no, `"${psText}-${peText}" is not a range of ports`);
    const v = verb.toUpperCase();
    const kind = v === 'ALLOC' ? 'start' : v === 'RELEASE' ? 'stop' : 'interim';
    const ev: SessionEvent = {
      kind,
      nas: this.options.nas ?? host,
      // One block of one inside address; successive holdings differ by start time.
      sessionId: `${pub}:${ps}-${pe}/${inside}`,
      subscriber: inside,
      held: [{ addrKey: key, role: 'port-block', ports: { start: ps, end: pe } }],
      at,
      source: 'cgnat',
    };
    this.sink.event(ev);
  }

  end(): void {}
}

export const cgnatCsvFormat: ImportFormat = {
  name: 'cgnat',
  summary: 'CGNAT port blocks as CSV: public_ip,port_start,port_end,subscriber,start,end (subscriber: login or inside address)',
  open: ({ file, options, sink }) => new CgnatCsvParser(file, options, sink),
};

export const cgnatSyslogFormat: ImportFormat = {
  name: 'cgnat-syslog',
  summary: 'CGNAT port-block allocate/release syslog lines ("... ALLOC: INSIDE -> PUBLIC:FIRST-LAST", Junos-style)',
  open: ({ file, options, sink }) => new CgnatSyslogParser(file, options, sink),
};
