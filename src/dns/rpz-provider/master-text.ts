/**
 * Policy zones as master-file text (RFC 1035 §5.1), both ways: reading a served zone's
 * file into records (with the policy engine's reader, so a file means exactly what it
 * means to the firewall) and writing records back (`rpz add`, the journal's rows).
 */
import { RRType, type Rdata } from '../wire/index.ts';
import { MasterFileReader, RpzZone, formatProblem, type ZoneProblem, type ZoneRecord } from '../policy/index.ts';

// Read once: an imported binding is a getter call under tsx's loader (tests, benches).
const SOA = RRType.SOA;
const NS = RRType.NS;

const TYPE_NAME = new Map<number, string>(Object.entries(RRType).map(([k, v]) => [v, k]));

export function typeMnemonic(t: number): string {
  return TYPE_NAME.get(t) ?? `TYPE${t}`;
}

/** A name as master-file text: absolute, with the trailing dot ("." for the root). */
export function absolute(name: string): string {
  return name === '.' ? '.' : `${name}.`;
}

function characterString(b: Uint8Array): string {
  let s = '"';
  for (const c of b) {
    if (c === 0x22 || c === 0x5c) s += `\\${String.fromCharCode(c)}`;
    else if (c < 0x20 || c > 0x7e) s += `\\${String(c).padStart(3, '0')}`;
    else s += String.fromCharCode(c);
  }
  return `${s}"`;
}

/** RDATA in presentation form; also the record's identity within its owner (with the type). */
export function formatRdata(d: Rdata): string {
  switch (d.kind) {
    case 'A':
    case 'AAAA':
      return d.address;
    case 'CNAME':
      return absolute(d.cname);
    case 'NS':
      return absolute(d.nsdname);
    case 'PTR':
      return absolute(d.ptrdname);
    case 'DNAME':
      return absolute(d.target);
    case 'MX':
      return `${d.preference} ${absolute(d.exchange)}`;
    case 'SRV':
      return `${d.priority} ${d.weight} ${d.port} ${absolute(d.target)}`;
    case 'TXT':
      return d.strings.map(characterString).join(' ');
    case 'SOA':
      return `${absolute(d.mname)} ${absolute(d.rname)} ${d.serial} ${d.refresh} ${d.retry} ${d.expire} ${d.minimum}`;
    case 'CAA':
      return `${d.flags} ${d.tag} ${characterString(d.value)}`;
    case 'raw':
      return d.bytes.length === 0 ? '\\# 0' : `\\# ${d.bytes.length} ${Buffer.from(d.bytes).toString('hex')}`;
  }
}

/** The owner relative to the zone ("@" for the apex), or absolute when outside it. */
export function relativeOwner(name: string, zone: string): string {
  if (name === zone) return '@';
  if (zone === '.') return absolute(name);
  return name.endsWith(`.${zone}`) ? name.slice(0, -zone.length - 1) : absolute(name);
}

/** One record as a master-file line; owners relative to `origin` when given, else absolute. */
export function formatRecord(r: ZoneRecord, origin?: string): string {
  const owner = origin === undefined ? absolute(r.name) : relativeOwner(r.name, origin);
  return `${owner} ${r.ttl} IN ${typeMnemonic(r.type)} ${formatRdata(r.data)}`;
}

export interface ReadRecordsResult {
  ok: boolean;
  soa: ZoneRecord | undefined;
  /** Every record but the SOA, in file order. */
  records: ZoneRecord[];
  errors: ZoneProblem[];
  warnings: ZoneProblem[];
}

/**
 * Reads a zone's master-file text. Every record also goes through the policy engine's
 * zone model, so a record the firewall would refuse is an error here too (file:line),
 * and a zone file the firewall would not load is never served to others. `$INCLUDE` is
 * refused: `rpz add` rewrites the file, which would flatten includes. With `onRecord`,
 * each record (SOA aside) goes there as it is read and `records` stays empty (a
 * million-name file is not held as a million records on the way into a ZoneContent).
 */
export function readZoneRecords(text: string, opts: { origin: string; file: string; maxProblems?: number; onRecord?: (rec: ZoneRecord) => void }): ReadRecordsResult {
  const max = opts.maxProblems ?? 50;
  const errors: ZoneProblem[] = [];
  const warnings: ZoneProblem[] = [];
  const records: ZoneRecord[] = [];
  let soa: ZoneRecord | undefined;
  let apexNs = false;
  const sink = opts.onRecord ?? ((rec: ZoneRecord) => records.push(rec));
  let check: RpzZone | undefined;
  const problem = (p: ZoneProblem) => {
    const list = p.severity === 'error' ? errors : warnings;
    if (list.length < max) list.push(p);
  };
  try {
    check = new RpzZone(opts.origin);
  } catch (err) {
    problem({ severity: 'error', file: opts.file, line: 0, message: err instanceof Error ? err.message : String(err) });
  }
  const zone = check?.name ?? opts.origin;
  const reader = new MasterFileReader(
    {
      record(rec, file, line) {
        if (rec.name !== zone && zone !== '.' && !rec.name.endsWith(`.${zone}`)) {
          return problem({ severity: 'warning', file, line, message: `${rec.name} is outside the zone ${zone}: left out` });
        }
        const issue = check?.addRecord(rec);
        if (issue?.severity === 'error') return problem({ severity: 'error', file, line, message: issue.message });
        if (rec.type === SOA && rec.name === zone) {
          if (soa) return problem({ severity: 'error', file, line, message: `a second SOA record for ${zone}: a zone has exactly one` });
          soa = rec;
          return;
        }
        if (issue) problem({ severity: 'warning', file, line, message: `${issue.message} (kept in the zone for secondaries)` });
        if (rec.type === NS && rec.name === zone) apexNs = true;
        sink(rec);
      },
      problem,
    },
    { origin: opts.origin, file: opts.file },
  );
  let from = 0;
  for (;;) {
    const nl = text.indexOf('\n', from);
    reader.line(nl === -1 ? text.slice(from) : text.slice(from, nl));
    if (nl === -1) break;
    from = nl + 1;
  }
  reader.end();
  if (!soa && errors.length === 0) problem({ severity: 'error', file: opts.file, line: 0, message: `zone ${zone} has no SOA record: serials, IXFR and NOTIFY need one (add e.g. "@ 300 IN SOA localhost. hostmaster.localhost. 1 3600 600 86400 300")` });
  if (soa && !apexNs) {
    problem({ severity: 'warning', file: opts.file, line: 0, message: `zone ${zone} has no NS record at the apex: BIND refuses to load such a zone as a secondary (add e.g. "@ 300 IN NS localhost.")` });
  }
  return { ok: errors.length === 0, soa, records, errors, warnings };
}

export function describeProblems(r: { errors: ZoneProblem[]; warnings: ZoneProblem[] }): string[] {
  return [...r.errors, ...r.warnings].map(formatProblem);
}
