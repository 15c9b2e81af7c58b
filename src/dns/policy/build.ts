/**
 * Building a zone from text, pure: master-file text (readZoneText) or a plain list of
 * names (readNameList). The streaming file adapter (load.ts) drives the same builder.
 *
 * A zone with any error is refused as a whole (BIND does the same): the result carries
 * every problem with file:line, and the caller keeps the policy it had.
 */
import { RRType } from '../wire/index.ts';
import { MasterFileReader, canonicalAbsolute, formatProblem, type ZoneProblem, type ZoneRecord } from './master-file.ts';
import { RpzZone, type PolicyActionSpec } from './zone.ts';

export type ZoneLoadResult =
  | { ok: true; zone: RpzZone; records: number; warnings: ZoneProblem[]; warningCount: number }
  | { ok: false; errors: ZoneProblem[]; errorCount: number; warnings: ZoneProblem[]; warningCount: number };

/** At most this many problems of each severity are kept (the counts are exact). */
export const MAX_PROBLEMS = 100;

export interface ZoneTextOptions {
  /** The zone's name, e.g. "cc.rpz.example" (files often omit $ORIGIN). */
  origin: string;
  /** File name for problems. Default "<text>". */
  file?: string;
  /** TTL for records without one when the file has no $TTL. */
  defaultTtl?: number;
}

/** Collects records into a new zone and problems into capped lists. */
export class ZoneBuilder {
  readonly zone: RpzZone | undefined;
  readonly errors: ZoneProblem[] = [];
  readonly warnings: ZoneProblem[] = [];
  errorCount = 0;
  warningCount = 0;
  records = 0;

  constructor(origin: string, file: string, expectedNames = 0) {
    let zone: RpzZone | undefined;
    try {
      zone = new RpzZone(origin, { expectedNames });
    } catch (err) {
      this.problem({ severity: 'error', file, line: 0, message: err instanceof Error ? err.message : String(err) });
    }
    this.zone = zone;
  }

  record(rec: ZoneRecord, file: string, line: number): void {
    if (!this.zone) return;
    this.records++;
    const issue = this.zone.addRecord(rec);
    if (issue) this.problem({ severity: issue.severity, file, line, message: issue.message });
  }

  problem(p: ZoneProblem): void {
    if (p.severity === 'error') {
      if (this.errorCount++ < MAX_PROBLEMS) this.errors.push(p);
    } else if (this.warningCount++ < MAX_PROBLEMS) this.warnings.push(p);
  }

  finish(file: string): ZoneLoadResult {
    const zone = this.zone;
    if (!zone || this.errorCount > 0) {
      return { ok: false, errors: this.errors, errorCount: this.errorCount, warnings: this.warnings, warningCount: this.warningCount };
    }
    zone.trim();
    const s = zone.stats();
    if (s.nsdname + s.nsip > 0) {
      this.problem({
        severity: 'warning',
        file,
        line: 0,
        message: `${s.nsdname} rpz-nsdname and ${s.nsip} rpz-nsip trigger(s) were loaded but are not enforced: Sakimori forwards to an upstream resolver and never sees the name servers it asks`,
      });
    }
    if (zone.serial === undefined) this.problem({ severity: 'warning', file, line: 0, message: `zone ${zone.name} has no SOA record: IXFR and serial tracking need one` });
    return { ok: true, zone, records: this.records, warnings: this.warnings, warningCount: this.warningCount };
  }
}

/** Reads a whole zone from master-file text. $INCLUDE is refused here (see loadRpzFile). */
export function readZoneText(text: string, opts: ZoneTextOptions): ZoneLoadResult {
  const file = opts.file ?? '<text>';
  const b = new ZoneBuilder(opts.origin, file);
  const reader = new MasterFileReader(b, { origin: opts.origin, file, ...(opts.defaultTtl === undefined ? {} : { defaultTtl: opts.defaultTtl }) });
  let from = 0;
  for (;;) {
    const nl = text.indexOf('\n', from);
    reader.line(nl === -1 ? text.slice(from) : text.slice(from, nl));
    if (nl === -1) break;
    from = nl + 1;
  }
  reader.end();
  return b.finish(file);
}

export interface NameListOptions {
  /** Name of the zone the list becomes, e.g. "allow". */
  zone: string;
  /** What each name does. Default 'passthru' (a never-block list). */
  action?: PolicyActionSpec;
  file?: string;
  ttl?: number;
}

/**
 * A plain list, one domain per line (`#` or `;` start a comment). Each name covers itself
 * and every name below it (like dnsdist's SuffixMatchNode, and what a person writing a
 * never-block list means); `*.example.com` covers only the names below.
 */
export class NameListReader {
  private lineNo = 0;
  constructor(
    private readonly b: ZoneBuilder,
    private readonly opts: NameListOptions,
    private readonly file: string,
  ) {}

  line(raw: string): void {
    const line = ++this.lineNo;
    let s = raw;
    const hash = s.search(/[#;]/);
    if (hash !== -1) s = s.slice(0, hash);
    s = s.trim();
    if (s === '') return;
    if (/\s/.test(s)) return this.b.problem({ severity: 'error', file: this.file, line, message: `"${s}" is more than one name: write one name per line` });
    const below = s === '*' || s.startsWith('*.');
    const bare = below ? s.slice(2) : s;
    const zone = this.b.zone;
    if (!zone) return;
    const n = bare === '' || bare === '.' ? '.' : canonicalAbsolute(bare);
    if (typeof n !== 'string') return this.b.problem({ severity: 'error', file: this.file, line, message: `"${s}": ${n.error}` });
    const rules = n === '.' ? ['*'] : below ? [`*.${n}`] : [n, `*.${n}`];
    const r = zone.apply({ setTriggers: rules.map((trigger) => ({ trigger, action: this.opts.action ?? 'passthru', ttl: this.opts.ttl ?? 300 })) });
    if (!r.ok) for (const e of r.errors) this.b.problem({ severity: 'error', file: this.file, line, message: e });
    else this.b.records++;
  }

  /** A list has no SOA: give the zone one (serial 1) so it behaves like any other. */
  end(): void {
    const z = this.b.zone;
    if (!z || z.serial !== undefined) return;
    const soa = { kind: 'SOA' as const, mname: z.name, rname: z.name, serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: 60 };
    z.apply({ addRecords: [{ name: z.name, type: RRType.SOA, ttl: 60, data: soa }] });
  }
}

export function readNameList(text: string, opts: NameListOptions): ZoneLoadResult {
  const file = opts.file ?? '<text>';
  const b = new ZoneBuilder(opts.zone, file);
  const r = new NameListReader(b, opts, file);
  for (const line of text.split('\n')) r.line(line);
  r.end();
  return b.finish(file);
}

/** One line per problem, "file:line: severity: message", for logs and the CLI. */
export function describeLoad(r: ZoneLoadResult): string[] {
  const out = (r.ok ? [] : r.errors).concat(r.warnings).map(formatProblem);
  if (!r.ok && r.errorCount > r.errors.length) out.push(`... and ${r.errorCount - r.errors.length} more error(s)`);
  if (r.warningCount > r.warnings.length) out.push(`... and ${r.warningCount - r.warnings.length} more warning(s)`);
  return out;
}
