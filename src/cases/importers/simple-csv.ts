import { formatIp, makeObservation, parseIp, SakimoriError, type Observation } from '../../core/index.ts';
import { csvRecords } from '../wire/csv.ts';
import { fileLines, parsePort, parseReportTime, stableObservationId, type OpenedReport, type Progress, type ReportItem } from './source.ts';

/**
 * Two small CSV formats Sakimori defines, for lists that come as IP + time
 * (+ port). A header line names the columns (any order, extra columns are
 * ignored); times need a zone ("2019-02-20T10:00:00+09:00" or "...Z"),
 * because a time read in the wrong zone finds the wrong subscriber.
 *
 * notice — NOTICE-style weak-credential lists (R9): an authorised body tried
 * well-known passwords on IoT devices and hands the ISP each device that let
 * it in. Columns: ip, port, timestamp, and optionally device (or protocol):
 *   ip,port,timestamp,device
 *   192.0.2.10,23,2019-02-20T10:00:00+09:00,telnet
 * Sakimori itself never tries a password (R3); it only imports these lists.
 *
 * cc-log — logs of a taken-down C&C server or sinkhole (R5): the bots that
 * connected to it. Columns: ip, timestamp, and optionally port (the bot's
 * source port, which CGNAT attribution needs) and family:
 *   ip,timestamp,port,family
 *   192.0.2.20,2024-05-01T03:04:05Z,51234,mirai
 */
interface Format {
  name: 'notice' | 'cc-log';
  required: string[];
  optional: string[];
  title: string;
  row(get: (c: string) => string | undefined): Observation | { error: string };
}

function common(get: (c: string) => string | undefined): { ip: string; at: number; port: number | undefined } | { error: string } {
  const ipText = get('ip');
  if (!ipText) return { error: 'has no ip' };
  const ip = parseIp(ipText);
  if (!ip) return { error: `"${ipText}" is not an IP address` };
  const ts = get('timestamp');
  if (!ts) return { error: 'has no timestamp' };
  const at = parseReportTime(ts);
  if (typeof at !== 'number') return at;
  const port = parsePort(get('port'));
  if (typeof port === 'object') return port;
  return { ip: formatIp(ip), at, port };
}

const NOTICE: Format = {
  name: 'notice',
  required: ['ip', 'port', 'timestamp'],
  optional: ['device', 'protocol'],
  title: 'NOTICE-style list of IoT devices with weak passwords (R9)',
  row(get) {
    const c = common(get);
    if ('error' in c) return c;
    if (c.port === undefined) return { error: 'has no port' };
    const device = get('device') ?? get('protocol');
    return makeObservation({
      id: stableObservationId('notice', c.ip, String(c.port), String(c.at)),
      kind: 'weak-credential',
      source: { name: 'notice', type: 'report' },
      observedAt: new Date(c.at).toISOString(),
      clockSource: 'report',
      network: { ip: c.ip, port: c.port },
      evidence: device ? { device } : {},
      confidence: 0.95,
      tlp: 'amber',
      purpose: 'router-survey-notice',
    });
  },
};

const CC_LOG: Format = {
  name: 'cc-log',
  required: ['ip', 'timestamp'],
  optional: ['port', 'family'],
  title: 'log of a taken-down C&C server: infected terminals (R5)',
  row(get) {
    const c = common(get);
    if ('error' in c) return c;
    const family = get('family');
    return makeObservation({
      id: stableObservationId('cc-log', c.ip, String(c.port ?? ''), String(c.at)),
      kind: 'sinkhole-hit',
      source: { name: 'cc-log', type: 'report' },
      observedAt: new Date(c.at).toISOString(),
      clockSource: 'report',
      network: c.port === undefined ? { ip: c.ip } : { ip: c.ip, port: c.port },
      evidence: family ? { family } : {},
      confidence: 0.9,
      tlp: 'amber',
      purpose: 'infection-notice',
    });
  },
};

export const SIMPLE_CSV_FORMATS = { notice: NOTICE, 'cc-log': CC_LOG } as const;

export function openSimpleCsv(format: 'notice' | 'cc-log', path: string, opts: { onProgress?: Progress } = {}): OpenedReport {
  const f = SIMPLE_CSV_FORMATS[format];
  return { description: `${f.name}: ${f.title}`, unit: 'line', items: simpleRows(f, fileLines(path, opts.onProgress)) };
}

/** Rows of a notice / cc-log CSV from its lines (exported for tests). */
export async function* simpleRows(f: Format, lines: AsyncIterable<string> | Iterable<string>): AsyncGenerator<ReportItem> {
  let cols: Map<string, number> | undefined;
  for await (const rec of csvRecords(lines)) {
    if (!cols) {
      if ('error' in rec) throw new SakimoriError('IMPORT_HEADER', `line ${rec.line}: the header line cannot be read: ${rec.error}`);
      cols = new Map(rec.fields.map((h, i) => [h.trim().toLowerCase(), i]));
      const missing = f.required.filter((c) => !cols!.has(c));
      if (missing.length) {
        throw new SakimoriError('IMPORT_HEADER', `line ${rec.line}: the ${f.name} header lacks ${missing.join(', ')}`, {
          hint: `the first line names the columns: ${[...f.required, ...f.optional].join(',')} (${f.optional.join(', ')} optional)`,
        });
      }
      continue;
    }
    if ('error' in rec) {
      yield rec;
      continue;
    }
    const fields = rec.fields;
    const r = f.row((c) => {
      const i = cols!.get(c);
      const v = i === undefined ? undefined : fields[i]?.trim();
      return v === '' ? undefined : v;
    });
    yield 'error' in r ? { line: rec.line, error: r.error } : { line: rec.line, observation: r };
  }
}
