/**
 * Times as session sources write them. Every source is explicit about its
 * zone except some: a time without an offset is read with the offset the
 * operator gives (--utc-offset), and refused without one — read as UTC or
 * as this machine's zone it could silently name the wrong subscriber.
 */
import { SakimoriError } from '../../core/index.ts';

/** "+09:00" -> 540 (minutes east of UTC); undefined if malformed. */
export function parseUtcOffset(text: string): number | undefined {
  const m = /^(?:UTC|GMT)?([+-])(\d{1,2}):?(\d{2})?$/i.exec(text.trim());
  if (text.trim().toUpperCase() === 'Z' || /^(UTC|GMT)$/i.test(text.trim())) return 0;
  if (!m) return undefined;
  const min = Number(m[2]) * 60 + Number(m[3] ?? 0);
  if (min > 14 * 60) return undefined;
  return m[1] === '-' ? -min : min;
}

export class MissingOffsetError extends SakimoriError {
  constructor(example: string, where: string) {
    super('IMPORT_TIME_ZONE', `${where}: the time "${example}" has no UTC offset`, {
      hint: 'give the zone the file was written in, e.g. --utc-offset +09:00 (or +00:00 for UTC)',
    });
  }
}

const DATE_TIME = /^(\d{4})[-/](\d{2})[-/](\d{2})[T ](\d{2}):(\d{2}):(\d{2})(\.\d+)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

const offsetCache = new Map<string, number | undefined>();

/** Days from 1970-01-01 to y-m-01 (proleptic Gregorian), for Date.UTC's arithmetic without a call per time. */
function daysToMonth(y: number, m: number): number {
  if (m <= 2) y -= 1;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5);
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/** Two digits at `at`, or -1. */
function d2(s: string, at: number): number {
  const a = s.charCodeAt(at) - 48;
  const b = s.charCodeAt(at + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/** The month a time falls in (its first 7 characters) and its day count: consecutive times mostly share it. */
let monthText = '';
let monthDays = 0;

/**
 * The common shapes ("2025-01-06 12:00:00+09", "...T03:00:00.952Z") without a
 * regular expression or Date.UTC: imports parse tens of millions. Null when
 * the text has another shape (parseSourceTimeGeneral reads it); otherwise
 * exactly what parseSourceTimeGeneral returns (importers.test.ts checks it
 * property by property).
 */
function fastDateTime(s: string, defaultOffsetMin: number | undefined): number | undefined | 'no-offset' | null {
  const n = s.length;
  if (n < 19 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58) return null;
  const sep = s.charCodeAt(10);
  if (sep !== 32 && sep !== 84) return null;
  const hi = d2(s, 0), lo = d2(s, 2), mo = d2(s, 5), d = d2(s, 8), h = d2(s, 11), mi = d2(s, 14), se = d2(s, 17);
  if (hi < 0 || lo < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 60) return undefined;
  let i = 19;
  let ms = 0;
  if (s.charCodeAt(i) === 46) {
    let j = i + 1;
    while (j < n && s.charCodeAt(j) >= 48 && s.charCodeAt(j) <= 57) j++;
    const digits = j - i - 1;
    if (digits === 0) return undefined;
    // Up to milliseconds the digits are exact; finer fractions round as Number() does.
    if (digits <= 3) {
      for (let k = i + 1; k < j; k++) ms = ms * 10 + (s.charCodeAt(k) - 48);
      ms *= digits === 1 ? 100 : digits === 2 ? 10 : 1;
    } else ms = Math.round(Number(s.slice(i, j)) * 1000);
    i = j;
  }
  let offset: number | undefined;
  if (i === n) {
    if (defaultOffsetMin === undefined) return 'no-offset';
    offset = defaultOffsetMin;
  } else {
    const c = s.charCodeAt(i);
    if ((c === 90 || c === 122) && i + 1 === n) offset = 0; // Z
    else if ((c === 43 || c === 45) && (i + 3 === n || i + 6 === n) && (i + 3 === n || s.charCodeAt(i + 3) === 58)) {
      // +09, -05:30
      const oh = d2(s, i + 1);
      const om = i + 3 === n ? 0 : d2(s, i + 4);
      if (oh < 0 || om < 0) return undefined;
      const min = oh * 60 + om;
      if (min > 14 * 60) return undefined;
      offset = c === 45 ? -min : min;
    } else {
      const zone = s.slice(i).trim();
      if (zone === 'Z' || zone === 'z') offset = 0;
      else {
        if (!offsetCache.has(zone)) offsetCache.set(zone, /^[+-]\d{2}(?::?\d{2})?$/.test(zone) ? parseUtcOffset(zone) : undefined);
        offset = offsetCache.get(zone);
        if (offset === undefined) return undefined;
      }
    }
  }
  let days: number;
  if (s.charCodeAt(0) === monthText.charCodeAt(0) && s.startsWith(monthText)) days = monthDays;
  else {
    const y = hi * 100 + lo;
    // Date.UTC reads years 0-99 as 1900-1999.
    days = daysToMonth(y <= 99 ? y + 1900 : y, mo);
    monthText = s.slice(0, 7);
    monthDays = days;
  }
  return (((days + d - 1) * 24 + h) * 60 + mi) * 60_000 + se * 1000 + ms - offset * 60_000;
}

/**
 * "2025-01-06 12:00:00+09", "2025-01-06T03:00:00Z", "2025-01-06 12:00:00"
 * (with the default offset), or epoch seconds. Returns epoch ms, undefined
 * when the text is not a time, or 'no-offset' when it needs an offset and
 * none was given.
 */
export function parseSourceTime(text: string, defaultOffsetMin: number | undefined): number | undefined | 'no-offset' {
  const fast = fastDateTime(text, defaultOffsetMin);
  return fast !== null ? fast : parseSourceTimeGeneral(text, defaultOffsetMin);
}

/** parseSourceTime by regular expression and Date.UTC: every shape, slower (the reference the fast path is tested against). */
export function parseSourceTimeGeneral(text: string, defaultOffsetMin: number | undefined): number | undefined | 'no-offset' {
  const s = text.trim();
  if (/^\d{9,10}(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  if (/^\d{12,13}$/.test(s)) return Number(s);
  const m = DATE_TIME.exec(s);
  if (!m) return undefined;
  const ms = m[7] ? Math.round(Number(m[7]) * 1000) : 0;
  const utc = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]), ms);
  // Not a time, with or without an offset: a bad line, not a missing --utc-offset.
  if (!Number.isFinite(utc) || Number(m[2]) < 1 || Number(m[2]) > 12 || Number(m[3]) < 1 || Number(m[3]) > 31 || Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6]) > 60) return undefined;
  let offset: number | undefined;
  if (m[8]) offset = m[8].toUpperCase() === 'Z' ? 0 : parseUtcOffset(m[8]);
  else offset = defaultOffsetMin;
  if (offset === undefined) return m[8] ? undefined : 'no-offset';
  return utc - offset * 60_000;
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** Zone abbreviations that mean one offset only (FreeRADIUS prints Event-Timestamp with %Z). */
const ZONES: Record<string, number> = { UTC: 0, GMT: 0, UT: 0, Z: 0, JST: 540, KST: 540, HKT: 480, SGT: 480, AEST: 600, AEDT: 660, CET: 60, CEST: 120, EET: 120, EEST: 180, EST: -300, EDT: -240, PST: -480, PDT: -420 };

/** "Jan  6 2025 12:34:56 JST" (FreeRADIUS Event-Timestamp); undefined if not that, or the zone is unknown. */
export function parseRadiusDate(text: string): number | undefined {
  const m = /^([A-Za-z]{3})\s+(\d{1,2})\s+(\d{4})\s+(\d{2}):(\d{2}):(\d{2})\s*([A-Za-z]+|[+-]\d{2}:?\d{2})?$/.exec(text.trim());
  if (!m) return undefined;
  const mon = MONTHS.indexOf(m[1]!.toLowerCase());
  if (mon < 0) return undefined;
  const zone = m[7] === undefined ? undefined : ZONES[m[7].toUpperCase()] ?? parseUtcOffset(m[7]);
  if (zone === undefined) return undefined;
  return Date.UTC(Number(m[3]), mon, Number(m[2]), Number(m[4]), Number(m[5]), Number(m[6])) - zone * 60_000;
}

/** "Mon Jan  6 12:34:56 2025" (a detail file's record header, local time of the writer). */
export function parseCtime(text: string, offsetMin: number | undefined): number | undefined | 'no-offset' {
  const m = /^[A-Za-z]{3}\s+([A-Za-z]{3})\s+(\d{1,2})\s+(\d{2}):(\d{2}):(\d{2})\s+(\d{4})$/.exec(text.trim());
  if (!m) return undefined;
  const mon = MONTHS.indexOf(m[1]!.toLowerCase());
  if (mon < 0) return undefined;
  if (offsetMin === undefined) return 'no-offset';
  return Date.UTC(Number(m[6]), mon, Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5])) - offsetMin * 60_000;
}
