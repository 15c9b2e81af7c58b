/**
 * FreeRADIUS `detail` files (rlm_detail): a header line with the time the
 * record was written ("Mon Jan  6 12:34:56 2025"), then one tab-indented
 * `Attribute = value` line per attribute, then a blank line.
 *
 * The event time is Event-Timestamp when the NAS sent one, else Timestamp
 * (when FreeRADIUS received the packet) minus Acct-Delay-Time, else the
 * header (written in the server's local time: --utc-offset).
 */
import { heldNetworks } from '../session.ts';
import type { SessionEvent } from '../events.ts';
import { fileNas, type ImportFormat, type ImportSink, type ImportOptions, type LineParser } from './format.ts';
import { MissingOffsetError, parseCtime, parseRadiusDate } from './time.ts';

const STATUS: Record<string, 'start' | 'stop' | 'interim' | 'nas-reset' | undefined> = {
  start: 'start', '1': 'start',
  stop: 'stop', '2': 'stop',
  'interim-update': 'interim', alive: 'interim', '3': 'interim',
  'accounting-on': 'nas-reset', '7': 'nas-reset',
  'accounting-off': 'nas-reset', '8': 'nas-reset',
};

/** A value as rlm_detail prints it: "quoted with \" escapes" or bare. */
function unquote(v: string): string {
  if (v.length < 2 || v[0] !== '"' || v[v.length - 1] !== '"') return v;
  const inner = v.slice(1, -1);
  if (inner.indexOf('\\') < 0) return inner;
  return inner.replace(/\\(?:([0-7]{3})|(.))/g, (_m, oct: string | undefined, c: string | undefined) => {
    if (oct) return String.fromCharCode(parseInt(oct, 8));
    return c === 'n' ? '\n' : c === 'r' ? '\r' : c === 't' ? '\t' : c!;
  });
}

interface Pending {
  line: number;
  header: string;
  attrs: Map<string, { value: string; line: number }>;
}

class DetailParser implements LineParser {
  private rec: Pending | undefined;
  constructor(
    private readonly file: string,
    private readonly options: ImportOptions,
    private readonly sink: ImportSink,
  ) {}

  line(text: string, no: number): void {
    if (text.length === 0 || text.trim() === '') {
      this.flush();
      return;
    }
    const c = text.charCodeAt(0);
    if (c !== 9 && c !== 32) {
      // A header: a new record begins (a missing blank line is tolerated).
      this.flush();
      this.rec = { line: no, header: text, attrs: new Map() };
      return;
    }
    if (!this.rec) {
      this.sink.bad(no, 'attribute line before any record header (expected a line such as "Mon Jan  6 12:34:56 2025")');
      return;
    }
    const eq = text.indexOf(' = ');
    if (eq < 0) {
      this.sink.bad(no, `not an "Attribute = value" line: ${JSON.stringify(text.trim().slice(0, 80))}`);
      return;
    }
    const name = text.slice(0, eq).trim().toLowerCase();
    if (!this.rec.attrs.has(name)) this.rec.attrs.set(name, { value: unquote(text.slice(eq + 3).trim()), line: no });
  }

  end(): void {
    this.flush();
  }

  private flush(): void {
    const rec = this.rec;
    this.rec = undefined;
    if (!rec) return;
    const get = (n: string) => rec.attrs.get(n)?.value;
    const statusText = get('acct-status-type');
    if (statusText === undefined) {
      this.sink.skip('not an accounting record (no Acct-Status-Type)');
      return;
    }
    const kind = STATUS[statusText.toLowerCase()];
    if (!kind) {
      this.sink.skip(`Acct-Status-Type ${statusText}`);
      return;
    }
    const at = this.timeOf(rec);
    if (at === undefined) return;
    const nas = get('nas-ip-address') || get('nas-ipv6-address') || get('nas-identifier') || get('packet-src-ip-address') || get('packet-src-ipv6-address') || fileNas('detail', this.file, this.options);
    if (kind === 'nas-reset') {
      this.sink.event({ kind, nas, at, source: 'detail' });
      return;
    }
    const sessionId = get('acct-session-id');
    if (!sessionId) {
      this.sink.bad(rec.line, `${statusText} record has no Acct-Session-Id`);
      return;
    }
    const { held, problems } = heldNetworks({
      framedIp: get('framed-ip-address'),
      framedIpv6Prefix: get('framed-ipv6-prefix'),
      delegatedIpv6Prefix: get('delegated-ipv6-prefix'),
      framedIpv6Address: get('framed-ipv6-address'),
    });
    for (const p of problems) this.sink.bad(this.lineOf(rec, p), p);
    const timeText = get('acct-session-time');
    const sessionTime = timeText === undefined ? undefined : Number(timeText);
    if (sessionTime !== undefined && !(Number.isInteger(sessionTime) && sessionTime >= 0)) {
      this.sink.bad(rec.attrs.get('acct-session-time')!.line, `Acct-Session-Time "${timeText}" is not a number of seconds`);
      return;
    }
    if (held.length === 0 && kind !== 'stop') {
      this.sink.skip(problems.length ? 'no valid address' : `${statusText} without an address`);
      return;
    }
    const ev: SessionEvent = { kind, nas, sessionId, subscriber: get('user-name') ?? '', held, at, sessionTime, source: 'detail' };
    this.sink.event(ev);
  }

  private lineOf(rec: Pending, problem: string): number {
    const attr = problem.split(' ')[0]!.toLowerCase();
    return rec.attrs.get(attr)?.line ?? rec.line;
  }

  private timeOf(rec: Pending): number | undefined {
    const ev = rec.attrs.get('event-timestamp');
    if (ev) {
      const t = /^\d+$/.test(ev.value) ? Number(ev.value) * 1000 : parseRadiusDate(ev.value);
      if (t !== undefined) return t;
    }
    const ts = rec.attrs.get('timestamp');
    if (ts && /^\d+$/.test(ts.value)) {
      const delay = Number(rec.attrs.get('acct-delay-time')?.value ?? 0);
      return Number(ts.value) * 1000 - (Number.isFinite(delay) ? delay * 1000 : 0);
    }
    const h = parseCtime(rec.header, this.options.utcOffsetMin);
    if (h === 'no-offset') throw new MissingOffsetError(rec.header, `${this.file}:${rec.line}`);
    if (h === undefined) {
      this.sink.bad(ev?.line ?? rec.line, ev ? `Event-Timestamp "${ev.value}" is not a time this importer reads, and the record has no Timestamp` : `record header "${rec.header}" is not a time (expected e.g. "Mon Jan  6 12:34:56 2025")`);
    }
    return h;
  }
}

export const detailFormat: ImportFormat = {
  name: 'detail',
  summary: 'FreeRADIUS detail file (radacct/<nas>/detail-YYYYMMDD, .gz too): Start/Interim/Stop/Accounting-On records',
  open: ({ file, options, sink }) => new DetailParser(file, options, sink),
};
