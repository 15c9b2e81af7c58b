import { basename } from 'node:path';
import { formatIp, makeObservation, parseIp, SakimoriError, type Observation, type ObservationKind, type Purpose } from '../../core/index.ts';
import { csvRecords } from '../wire/csv.ts';
import { fileLines, parsePort, parseReportTime, stableObservationId, type OpenedReport, type Progress, type ReportItem } from './source.ts';

/**
 * Shadowserver reports (CSV, one header line). The report type is not in the
 * file: it is in the file name, as Shadowserver names its files
 * ("2019-09-05-scan_dns-asn-as64500.csv", or just "scan_dns.csv"). Columns are
 * read by the header's names, so a report that gains columns still imports.
 * Times are UTC, as Shadowserver documents.
 *
 * Only the types below lead to notices; their field lists are in Shadowserver's
 * report schema (reports.json). Only the fields a notice needs are kept (R16).
 */
interface ReportSpec {
  kind: ObservationKind;
  purpose: Purpose;
  title: string;
  confidence: number;
}

const OPEN_RESOLVER: ReportSpec = { kind: 'open-resolver', purpose: 'router-survey-notice', title: 'open DNS resolvers (R3)', confidence: 0.9 };
const HTTP: ReportSpec = { kind: 'exposed-admin', purpose: 'router-survey-notice', title: 'HTTP reachable from the Internet: router admin pages (R3)', confidence: 0.6 };
const BRUTE: ReportSpec = { kind: 'honeypot-login', purpose: 'infection-notice', title: 'brute-force logins seen by honeypots: infected terminals (R5, R10)', confidence: 0.8 };
const SINKHOLE: ReportSpec = { kind: 'sinkhole-hit', purpose: 'infection-notice', title: 'bots seen at sinkholes / taken-down C&C servers (R5)', confidence: 0.9 };
const IOT: ReportSpec = { kind: 'suspected-infection', purpose: 'infection-notice', title: 'compromised IoT devices (R5)', confidence: 0.8 };

export const SHADOWSERVER_REPORTS: Readonly<Record<string, ReportSpec>> = {
  scan_dns: OPEN_RESOLVER,
  scan6_dns: OPEN_RESOLVER,
  scan_http: HTTP,
  scan6_http: HTTP,
  scan_netis_router: { ...HTTP, title: 'Netis routers with an open management backdoor (R3)', confidence: 0.9 },
  event4_honeypot_brute_force: BRUTE,
  drone_brute_force: BRUTE, // the report's name before 2022
  event4_sinkhole: SINKHOLE,
  event6_sinkhole: SINKHOLE,
  event4_sinkhole_http: SINKHOLE,
  event6_sinkhole_http: SINKHOLE,
  event4_sinkhole_dns: SINKHOLE,
  event4_microsoft_sinkhole: SINKHOLE,
  event4_microsoft_sinkhole_http: SINKHOLE,
  botnet_drone: SINKHOLE, // the "drone" report's name before 2022
  sinkhole_http_drone: SINKHOLE,
  compromised_iot: IOT,
  compromised_iot6: IOT,
};

/** Fields kept as evidence: what a notice or an operator needs, never credentials or payloads. */
const EVIDENCE_FIELDS = ['tag', 'infection', 'family', 'application', 'service', 'dns_version', 'http_code', 'server', 'device_vendor', 'device_type', 'device_model', 'dst_port'];

/** Shadowserver's own naming: scan_, scan6_, event4_, event6_, population_ ... and a few bare names. */
const LOOKS_LIKE_TYPE = /^(?:scan6?|event[46]|population6?|sandbox|compromised|device|ddos|drone|botnet|sinkhole|blocklist|malware|phish|special|honeypot|ransomware|spam)(?:_[a-z0-9]+)*$/;

/** The report type named in a file name, or why none could be found. */
export function reportTypeFromFileName(fileName: string): { type: string } | { error: string } {
  const base = basename(fileName).replace(/\.(csv|txt)$/i, '');
  const tokens = base.split(/[-.\s]+/).map((t) => t.toLowerCase());
  const known = tokens.filter((t) => Object.hasOwn(SHADOWSERVER_REPORTS, t));
  if (known.length > 0) return { type: known.sort((a, b) => b.length - a.length)[0]! };
  const other = tokens.find((t) => LOOKS_LIKE_TYPE.test(t) && t.includes('_'));
  const handled = `Sakimori handles: ${Object.keys(SHADOWSERVER_REPORTS).join(', ')}`;
  if (other) return { error: `the file name says report type "${other}", which does not lead to subscriber notices (${handled})` };
  return { error: `no Shadowserver report type in the file name "${basename(fileName)}" (Shadowserver names files like 2019-09-05-scan_dns-asn-as64500.csv; rename it, or give --type NAME). ${handled}` };
}

/** Turns one row into an observation, or says what is wrong with it. Pure. */
export function shadowserverObservation(type: string, header: readonly string[], fields: readonly string[]): Observation | { error: string } {
  const spec = SHADOWSERVER_REPORTS[type];
  if (!spec) return { error: `report type "${type}" is not handled` };
  if (fields.length !== header.length) return { error: `has ${fields.length} fields, but the header has ${header.length}` };
  const row = new Map<string, string>();
  header.forEach((h, i) => row.set(h, fields[i]!.trim()));
  const get = (...names: string[]) => {
    for (const n of names) {
      const v = row.get(n);
      if (v !== undefined && v !== '') return v;
    }
    return undefined;
  };
  const ipText = get('src_ip', 'ip');
  if (!ipText) return { error: 'has no IP address (src_ip / ip is empty)' };
  const ip = parseIp(ipText);
  if (!ip) return { error: `"${ipText}" is not an IP address` };
  const tsText = get('timestamp');
  if (!tsText) return { error: 'has no timestamp' };
  const at = parseReportTime(tsText, 'UTC');
  if (typeof at !== 'number') return at;
  const port = parsePort(get('src_port', 'port'));
  if (typeof port === 'object') return port;
  const evidence: Record<string, unknown> = { report: type };
  for (const f of EVIDENCE_FIELDS) {
    const v = get(f);
    if (v !== undefined) evidence[f] = v;
  }
  if (spec.kind === 'exposed-admin') evidence.authDemanded = get('http_code') === '401' || get('www_authenticate') !== undefined;
  const protocol = get('protocol')?.toLowerCase();
  const asnText = get('src_asn', 'asn');
  const country = get('src_geo', 'geo');
  const network: Observation['network'] = { ip: formatIp(ip) };
  if (port !== undefined) network.port = port;
  if (protocol === 'tcp' || protocol === 'udp' || protocol === 'icmp') network.protocol = protocol;
  if (asnText && /^\d{1,10}$/.test(asnText) && Number(asnText) <= 4294967295) network.asn = Number(asnText);
  if (country && /^[A-Z]{2}$/.test(country)) network.country = country;
  // An admin page that asks for a password is the R3 case: stronger evidence than any page.
  const confidence = spec.kind === 'exposed-admin' && evidence.authDemanded ? 0.9 : spec.confidence;
  return makeObservation({
    id: stableObservationId('shadowserver', type, ...fields),
    kind: spec.kind,
    source: { name: `shadowserver:${type}`, type: 'report' },
    observedAt: new Date(at).toISOString(),
    clockSource: 'report',
    network,
    evidence,
    confidence,
    tlp: 'amber',
    purpose: spec.purpose,
  });
}

/** Reads a Shadowserver CSV file; the type comes from its name unless given. */
export function openShadowserver(path: string, opts: { type?: string; onProgress?: Progress } = {}): OpenedReport {
  let type: string;
  if (opts.type) {
    if (!Object.hasOwn(SHADOWSERVER_REPORTS, opts.type)) {
      throw new SakimoriError('IMPORT_TYPE', `--type ${opts.type} is not a Shadowserver report type Sakimori handles`, { hint: `one of: ${Object.keys(SHADOWSERVER_REPORTS).join(', ')}` });
    }
    type = opts.type;
  } else {
    const r = reportTypeFromFileName(path);
    if ('error' in r) throw new SakimoriError('IMPORT_TYPE', `${basename(path)}: ${r.error}`);
    type = r.type;
  }
  const spec = SHADOWSERVER_REPORTS[type]!;
  const lines = fileLines(path, opts.onProgress);
  return { description: `Shadowserver report ${type}: ${spec.title}`, unit: 'line', items: rows(type, lines) };
}

async function* rows(type: string, lines: AsyncIterable<string>): AsyncGenerator<ReportItem> {
  let header: string[] | undefined;
  for await (const rec of csvRecords(lines)) {
    if ('error' in rec) {
      if (!header) throw new SakimoriError('IMPORT_HEADER', `line ${rec.line}: the header line cannot be read: ${rec.error}`);
      yield rec;
      continue;
    }
    if (!header) {
      header = rec.fields.map((f) => f.trim().toLowerCase());
      if (!header.includes('timestamp') || !(header.includes('ip') || header.includes('src_ip'))) {
        throw new SakimoriError('IMPORT_HEADER', `line ${rec.line}: the header has no "timestamp" and "ip" (or "src_ip") columns; is this a Shadowserver CSV report?`, {
          hint: `the header read was: ${rec.fields.slice(0, 8).join(',')}${rec.fields.length > 8 ? ',...' : ''}`,
        });
      }
      continue;
    }
    const r = shadowserverObservation(type, header, rec.fields);
    yield 'error' in r ? { line: rec.line, error: r.error } : { line: rec.line, observation: r };
  }
}
