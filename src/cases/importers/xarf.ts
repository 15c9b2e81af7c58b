import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { formatIp, makeObservation, parseIp, SakimoriError, type Observation, type ObservationKind, type Purpose } from '../../core/index.ts';
import { parseReportTime, stableObservationId, type OpenedReport, type ReportItem } from './source.ts';

/**
 * X-ARF v4 abuse reports (JSON). Each report is validated against the X-ARF
 * v4 JSON Schema (xarf-schema/, from the specification) before it is read.
 * A file holds one report, a JSON array of reports, or one report per line
 * (NDJSON). Only the category/type pairs below lead to notices; the others
 * (spam, phishing content, copyright...) are skipped and counted.
 */
const SCHEMA_DIR = join(import.meta.dirname, 'xarf-schema');
const MASTER_ID = 'https://xarf.org/schemas/v4/xarf-v4-master.json';

let validator: ValidateFunction | undefined;

/** The compiled v4 master schema (every type schema registered by its $id). */
export function xarfValidator(): ValidateFunction {
  if (validator) return validator;
  // strict: false because the schemas carry annotations ajv does not know ("x-recommended").
  const ajv = new Ajv2020({ strict: false, allErrors: false });
  (addFormats as unknown as (a: Ajv2020) => void)(ajv);
  const files = [join(SCHEMA_DIR, 'xarf-core.json'), join(SCHEMA_DIR, 'xarf-v4-master.json'), ...readdirSync(join(SCHEMA_DIR, 'types')).filter((f) => f.endsWith('.json')).map((f) => join(SCHEMA_DIR, 'types', f))];
  for (const f of files) ajv.addSchema(JSON.parse(readFileSync(f, 'utf8')) as object);
  validator = ajv.getSchema(MASTER_ID);
  if (!validator) throw new Error(`X-ARF master schema ${MASTER_ID} not found in ${SCHEMA_DIR}`);
  return validator;
}

interface Mapping {
  kind: ObservationKind;
  purpose: Purpose;
}

const INFECTION: Mapping = { kind: 'suspected-infection', purpose: 'infection-notice' };

/** category/type (and for open services, the service) -> what Sakimori makes of it. */
function mappingOf(category: string, type: string, service: string | undefined): Mapping | undefined {
  const key = `${category}/${type}`;
  if (key === 'connection/infected_host' || key === 'infrastructure/botnet') return INFECTION;
  // A terminal that runs login attacks is a bot (R5), like a honeypot login.
  if (key === 'connection/login_attack') return { kind: 'honeypot-login', purpose: 'infection-notice' };
  if (key === 'vulnerability/open_service') {
    const s = (service ?? '').toLowerCase();
    if (s === 'dns' || s === 'domain') return { kind: 'open-resolver', purpose: 'router-survey-notice' };
    if (['http', 'https', 'http-admin', 'router-admin', 'web-admin', 'webadmin'].includes(s)) return { kind: 'exposed-admin', purpose: 'router-survey-notice' };
  }
  return undefined;
}

/** Turns one parsed JSON value into an observation, a skip, or an error. Pure (after the schema is loaded). */
export function xarfObservation(report: unknown): Observation | { error: string } | { skipped: string } {
  const validate = xarfValidator();
  if (!validate(report)) {
    const e = validate.errors?.[0];
    const where = e?.instancePath ? e.instancePath.slice(1).replaceAll('/', '.') : '(report)';
    return { error: `not a valid X-ARF v4 report: ${where} ${e?.message ?? 'is invalid'}` };
  }
  const r = report as Record<string, unknown>;
  const category = String(r.category);
  const type = String(r.type);
  const service = typeof r.service === 'string' ? r.service : undefined;
  const m = mappingOf(category, type, service);
  if (!m) return { skipped: `X-ARF ${category}/${type}${service ? ` (service ${service})` : ''} leads to no subscriber notice` };
  const src = String(r.source_identifier);
  const ip = parseIp(src);
  if (!ip) return { skipped: `source_identifier "${src}" is not an IP address (a domain or other identifier cannot be attributed to a subscriber)` };
  const at = parseReportTime(String(r.timestamp));
  if (typeof at !== 'number') return at;
  const evidence: Record<string, unknown> = { xarf: `${category}/${type}`, reportId: r.report_id, reporter: (r.reporter as { org?: string } | undefined)?.org };
  for (const k of ['malware_family', 'service', 'evidence_source'] as const) if (typeof r[k] === 'string') evidence[k] = r[k];
  const network: Observation['network'] = { ip: formatIp(ip) };
  if (typeof r.source_port === 'number') network.port = r.source_port;
  if (r.protocol === 'tcp' || r.protocol === 'udp') network.protocol = r.protocol;
  return makeObservation({
    id: stableObservationId('xarf', String(r.report_id), src),
    kind: m.kind,
    source: { name: `xarf:${category}/${type}`, type: 'report' },
    observedAt: new Date(at).toISOString(),
    clockSource: 'report',
    network,
    evidence,
    confidence: typeof r.confidence === 'number' ? r.confidence : 0.7,
    tlp: 'amber',
    purpose: m.purpose,
  });
}

export function openXarf(path: string): OpenedReport {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new SakimoriError('IMPORT_FILE', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'it does not exist' : (err as Error).message}`);
  }
  const trimmed = text.trimStart();
  let whole: unknown;
  let isWhole = false;
  try {
    whole = JSON.parse(text);
    isWhole = true;
  } catch {
    /* not one JSON document: NDJSON, one report per line */
  }
  if (isWhole && Array.isArray(whole)) {
    return { description: `X-ARF v4: a JSON array of ${whole.length} report(s)`, unit: 'report', items: fromValues(whole.map((v, i) => ({ n: i + 1, v }))) };
  }
  if (isWhole) return { description: 'X-ARF v4: one report', unit: 'report', items: fromValues([{ n: 1, v: whole }]) };
  if (trimmed.startsWith('[')) throw new SakimoriError('IMPORT_FORMAT', `${path} starts like a JSON array but is not valid JSON`);
  return { description: 'X-ARF v4: one report per line (NDJSON)', unit: 'line', items: ndjson(text) };
}

async function* fromValues(values: { n: number; v: unknown }[]): AsyncGenerator<ReportItem> {
  for (const { n, v } of values) yield item(n, xarfObservation(v));
}

async function* ndjson(text: string): AsyncGenerator<ReportItem> {
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!.trim();
    if (l === '') continue;
    let v: unknown;
    try {
      v = JSON.parse(l);
    } catch (err) {
      yield { line: i + 1, error: `not JSON: ${(err as Error).message}` };
      continue;
    }
    yield item(i + 1, xarfObservation(v));
  }
}

function item(line: number, r: Observation | { error: string } | { skipped: string }): ReportItem {
  if ('error' in r) return { line, error: r.error };
  if ('skipped' in r) return { line, skipped: r.skipped };
  return { line, observation: r };
}
