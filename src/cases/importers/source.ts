import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { SakimoriError, type Observation } from '../../core/index.ts';

/**
 * What an importer hands on: an observation; a line it could not read
 * (error, a bad line); or a well-formed entry that leads to no notice
 * (skipped, e.g. an X-ARF copyright complaint).
 */
export type ReportItem = { line: number; observation: Observation } | { line: number; error: string } | { line: number; skipped: string };

export interface OpenedReport {
  /** What was recognised, for the operator: "Shadowserver report scan_dns (DNS-Open-Resolvers)". */
  description: string;
  /** What `line` counts: lines of the file, or reports in a JSON array. */
  unit: 'line' | 'report';
  items: AsyncIterable<ReportItem>;
}

export type Progress = (bytesRead: number, totalBytes: number) => void;

/** The lines of a file, streamed (a Shadowserver report of a large ISP is big), reporting bytes read. */
export function fileLines(path: string, onProgress?: Progress): AsyncIterable<string> {
  let total: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new SakimoriError('IMPORT_FILE', `${path} is not a file`);
    total = st.size;
  } catch (err) {
    if (err instanceof SakimoriError) throw err;
    throw new SakimoriError('IMPORT_FILE', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : (err as Error).message}`);
  }
  const stream = createReadStream(path);
  if (onProgress) {
    let read = 0;
    stream.on('data', (chunk) => {
      read += chunk.length;
      onProgress(read, total);
    });
  }
  return createInterface({ input: stream, crlfDelay: Infinity });
}

/**
 * A stable observation id from what a report says, so importing the same
 * report twice (or a report that repeats a row, as Shadowserver's do) makes
 * one finding, not two.
 */
export function stableObservationId(...parts: string[]): string {
  return `obs_${createHash('sha256').update(parts.join('\u001f')).digest('hex').slice(0, 26).toUpperCase()}`;
}

/**
 * A report time in epoch ms. ISO 8601 with "Z" or an offset is taken as
 * written; "YYYY-MM-DD HH:MM:SS" without a zone only where the format says
 * which zone it is in (`bareZone`, e.g. UTC for Shadowserver): a wrong zone
 * would find the wrong subscriber.
 */
export function parseReportTime(text: string, bareZone?: 'UTC'): number | { error: string } {
  const t = text.trim();
  const bare = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?$/.exec(t);
  if (bare) {
    if (!bareZone) return { error: `time "${t}" has no time zone — write it as 2019-02-20T10:00:00+09:00 or 2019-02-20T01:00:00Z` };
    const ms = Date.UTC(+bare[1]!, +bare[2]! - 1, +bare[3]!, +bare[4]!, +bare[5]!, +(bare[6] ?? 0), Math.round(Number(bare[7] ?? 0) * 1000));
    return validDate(ms, t);
  }
  if (/^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})$/i.test(t)) return validDate(Date.parse(t.replace(' ', 'T')), t);
  return { error: `time "${t}" is not a date and time — expected ISO 8601, such as 2019-02-20T10:00:00+09:00` };
}

function validDate(ms: number, t: string): number | { error: string } {
  if (!Number.isFinite(ms)) return { error: `time "${t}" is not a valid date` };
  // Date.UTC rolls 2019-02-31 over to March; a real date formats back to itself.
  const d = new Date(ms).toISOString();
  const ymd = /^(\d{4}-\d{2}-\d{2})/.exec(t)?.[1];
  if (ymd && !/[+-]\d{2}:?\d{2}$/.test(t) && d.slice(0, 10) !== ymd) return { error: `time "${t}" is not a valid date` };
  return ms;
}

/** Port text -> number, or undefined when empty; an error for anything else. */
export function parsePort(text: string | undefined): number | undefined | { error: string } {
  const t = (text ?? '').trim();
  if (t === '') return undefined;
  if (!/^\d{1,5}$/.test(t) || Number(t) > 65535) return { error: `port "${t}" is not a number from 0 to 65535` };
  return Number(t);
}
