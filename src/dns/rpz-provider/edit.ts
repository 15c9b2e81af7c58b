/**
 * Changing a policy zone file (`sakimori rpz add|remove`): read it, set or remove the
 * records of a name, increase the SOA serial by one (RFC 1982), write the file back in
 * one rename, and save the difference in the journal, under a lock file so two commands
 * never interleave. A running provider sees the new file within its watch interval (or
 * at once through the bus), and notifies its secondaries.
 *
 * The file is rewritten in a canonical form: records keep their order, comments and
 * formatting do not survive (a zone edited by tools should not be formatted by hand).
 */
import { open, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';
import { SakimoriError, parseIp, systemClock, type Clock } from '../../core/index.ts';
import { normalizeName, textToName, RRType } from '../wire/index.ts';
import { RpzZone, formatProblem, type ZoneRecord } from '../policy/index.ts';
import type { JournalStore } from './journal.ts';
import { formatRecord, readZoneRecords } from './master-text.ts';
import { sameWithTtl, ZoneContent } from './zone-content.ts';

export const ACTION_WORDS = ['nxdomain', 'nodata', 'drop', 'passthru', 'tcp-only'] as const;
export const ACTION_HELP = 'nxdomain, nodata, drop, passthru, tcp-only, or redirect:ADDRESS[,ADDRESS] / redirect:HOST (local data: the warning page)';

const CNAME_OF: Record<(typeof ACTION_WORDS)[number], string> = {
  nxdomain: '.',
  nodata: '*',
  drop: 'rpz-drop',
  passthru: 'rpz-passthru',
  'tcp-only': 'rpz-tcp-only',
};

/** The records an action is written as (draft-vixie-dnsop-dns-rpz §5), or why the text is not an action. */
export function actionRecords(owner: string, action: string, ttl: number): ZoneRecord[] | { error: string } {
  const a = action.trim().toLowerCase();
  if (a in CNAME_OF) return [{ name: owner, type: RRType.CNAME, ttl, data: { kind: 'CNAME', cname: CNAME_OF[a as keyof typeof CNAME_OF] } }];
  if (a.startsWith('redirect:')) {
    const targets = action.trim().slice('redirect:'.length).split(',').map((s) => s.trim()).filter(Boolean);
    if (targets.length === 0) return { error: `"${action}": redirect needs an address or a host name, e.g. redirect:192.0.2.80` };
    const out: ZoneRecord[] = [];
    for (const t of targets) {
      const ip = parseIp(t);
      if (ip) {
        out.push(ip.family === 4 ? { name: owner, type: RRType.A, ttl, data: { kind: 'A', address: t } } : { name: owner, type: RRType.AAAA, ttl, data: { kind: 'AAAA', address: t } });
        continue;
      }
      if (targets.length > 1 || !textToName(t).ok || !/[a-z]/i.test(t)) return { error: `"${t}" is not an IP address${targets.length > 1 ? '' : ' or a host name'} (redirect:192.0.2.80, redirect:2001:db8::80 or redirect:warning.example.net)` };
      out.push({ name: owner, type: RRType.CNAME, ttl, data: { kind: 'CNAME', cname: normalizeName(t) } });
    }
    return out;
  }
  return { error: `"${action}" is not an action — expected ${ACTION_HELP}` };
}

/** The owner of a name's trigger in a zone: `bad.example` in `cc.rpz` is `bad.example.cc.rpz`. */
export function triggerOwner(name: string, zone: string): string | { error: string } {
  const n = normalizeName(name.trim());
  if (n === '' || n === '.') return { error: 'a name is needed, e.g. --name bad.example.com' };
  const owner = n === zone || n.endsWith(`.${zone}`) ? n : `${n}.${zone}`;
  const w = textToName(owner);
  if (!w.ok) return { error: `"${name}" does not make a valid name in zone ${zone}: ${w.error.message}` };
  return owner;
}

export type ZoneEdit =
  | { op: 'add'; name: string; action: string; ttl?: number; subdomains?: boolean }
  | { op: 'remove'; name: string; subdomains?: boolean };

export interface EditOptions {
  zone: string;
  file: string;
  edits: readonly ZoneEdit[];
  /** "cli:alice": kept in the journal. */
  actor: string;
  journal?: JournalStore;
  clock?: Clock;
  /** Create the file (SOA serial 1, NS localhost.) when it does not exist. Default true. */
  create?: boolean;
  /** How long to wait for another command's lock. Default 10 s. */
  lockWaitMs?: number;
}

export interface EditResult {
  zone: string;
  file: string;
  created: boolean;
  /** False when the edits changed nothing (same records already there, or nothing to remove). */
  changed: boolean;
  fromSerial: number;
  serial: number;
  added: string[];
  removed: string[];
}

function defaultZoneText(zone: string): string {
  return `$ORIGIN ${zone === '.' ? '.' : `${zone}.`}\n@ 300 IN SOA localhost. hostmaster.localhost. 1 3600 600 86400 300\n@ 300 IN NS localhost.\n`;
}

/** Master-file text of a zone: $ORIGIN, the SOA, then the records with owners relative to the zone. */
export function zoneFileText(c: ZoneContent, note = ''): string {
  const lines = [
    `; Policy zone ${c.name}, serial ${c.serial}, written by \`sakimori rpz\`${note ? ` (${note})` : ''}.`,
    '; Comments are not kept. Editing by hand is fine: increase the serial when you do.',
    `$ORIGIN ${c.name === '.' ? '.' : `${c.name}.`}`,
    formatRecord(c.soa, c.name),
  ];
  for (const r of c.records()) lines.push(formatRecord(r, c.name));
  return `${lines.join('\n')}\n`;
}

async function lock(file: string, waitMs: number): Promise<() => Promise<void>> {
  const path = `${file}.lock`;
  const until = Date.now() + waitMs;
  for (;;) {
    try {
      const fh = await open(path, 'wx');
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      return () => unlink(path).catch(() => undefined);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new SakimoriError('RPZ_LOCK', `cannot create the lock file ${path}: ${(err as Error).message}`, { hint: 'the zone file directory must be writable' });
    }
    // A lock whose holder is gone, or older than a minute, is stale.
    const holder = await readFile(path, 'utf8').then((s) => Number(s.trim()), () => NaN);
    const age = await stat(path).then((s) => Date.now() - s.mtimeMs, () => 0);
    let alive = true;
    if (Number.isInteger(holder) && holder > 0) {
      try {
        process.kill(holder, 0);
      } catch (e) {
        alive = (e as NodeJS.ErrnoException).code === 'EPERM';
      }
    }
    if (!alive || age > 60_000) {
      await unlink(path).catch(() => undefined);
      continue;
    }
    if (Date.now() > until) throw new SakimoriError('RPZ_LOCK', `zone file ${file} is locked by process ${holder} (${path})`, { hint: 'another `sakimori rpz add/remove` is running; try again, or remove the lock file if that process is gone' });
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Applies edits to a zone file (see the file comment). Throws SakimoriError with file:line on a bad file. */
export async function editZoneFile(opts: EditOptions): Promise<EditResult> {
  const zone = new RpzZone(opts.zone).name;
  const unlock = await lock(opts.file, opts.lockWaitMs ?? 10_000);
  try {
    let text: string;
    let created = false;
    try {
      text = await readFile(opts.file, 'latin1');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || opts.create === false) throw new SakimoriError('RPZ_ZONE_FILE', `cannot read zone file ${opts.file}: ${(err as Error).message}`);
      text = defaultZoneText(zone);
      created = true;
    }
    const r = readZoneRecords(text, { origin: zone, file: opts.file });
    if (!r.ok || !r.soa) throw new SakimoriError('RPZ_ZONE_FILE', `zone file ${opts.file} has errors, so it was not changed:\n${r.errors.map(formatProblem).join('\n')}`, { hint: 'fix the lines named above first' });
    // One version in memory, changed in place: a million-name zone is not copied per edit.
    const zc = ZoneContent.from(zone, r.soa, r.records);
    const fromDigest = zc.digest;
    const fromSerial = zc.serial;
    const fromSoa = zc.soa;
    const touched = new Map<string, { orig: readonly ZoneRecord[]; final: ZoneRecord[] }>();
    for (const e of opts.edits) {
      const owner = triggerOwner(e.name, zone);
      if (typeof owner !== 'string') throw new SakimoriError('RPZ_NAME', owner.error);
      const owners = e.subdomains ? [owner, `*.${owner}`] : [owner];
      for (const o of owners) {
        if (o === zone) throw new SakimoriError('RPZ_NAME', `the zone apex ${zone} is not a trigger`, { hint: 'name the domain to act on, e.g. --name bad.example.com' });
        let t = touched.get(o);
        if (!t) {
          t = { orig: [...zc.at(o)], final: [] };
          touched.set(o, t);
        }
        if (e.op === 'remove') {
          t.final = [];
          continue;
        }
        const recs = actionRecords(o, e.action, e.ttl ?? 300);
        if ('error' in recs) throw new SakimoriError('RPZ_ACTION', recs.error);
        const check = new RpzZone(zone);
        for (const rec of recs) {
          const issue = check.addRecord(rec);
          if (issue?.severity === 'error') throw new SakimoriError('RPZ_ACTION', issue.message);
        }
        t.final = recs;
      }
    }
    const deletes: ZoneRecord[] = [];
    const adds: ZoneRecord[] = [];
    for (const t of touched.values()) {
      for (const x of t.orig) if (!t.final.some((y) => sameWithTtl(x, y))) deletes.push(x);
      for (const y of t.final) if (!t.orig.some((x) => sameWithTtl(x, y))) adds.push(y);
    }
    if (!created && adds.length === 0 && deletes.length === 0) {
      return { zone, file: opts.file, created, changed: false, fromSerial, serial: fromSerial, added: [], removed: [] };
    }
    for (const [o, t] of touched) {
      zc.deleteOwner(o);
      for (const rec of t.final) zc.put(rec);
    }
    const serial = created ? fromSerial : zc.nextSerial();
    zc.setSoa(zc.soaWithSerial(serial));
    const out = zoneFileText(zc);
    const tmp = join(dirname(opts.file), `.${basename(opts.file)}.${process.pid}.tmp`);
    await writeFile(tmp, out, 'latin1');
    await rename(tmp, opts.file);
    const final = { from: fromSoa, deletes, to: zc.soa, adds };
    if (opts.journal && !created) {
      await opts.journal.append({ zone, ...final, fromDigest, toDigest: zc.digest, actor: opts.actor, at: (opts.clock ?? systemClock).now() });
    }
    return { zone, file: opts.file, created, changed: true, fromSerial, serial, added: final.adds.map((x) => formatRecord(x, zone)), removed: final.deletes.map((x) => formatRecord(x, zone)) };
  } finally {
    await unlock();
  }
}

/** The triggers of a zone file as (owner relative, action text) rows, for `rpz list`. */
export async function listZoneFile(zone: string, file: string): Promise<{ serial: number; rows: { name: string; action: string; ttl: number }[] }> {
  const name = new RpzZone(zone).name;
  const text = await readFile(file, 'latin1').catch((err: Error) => {
    throw new SakimoriError('RPZ_ZONE_FILE', `cannot read zone file ${file}: ${err.message}`);
  });
  const r = readZoneRecords(text, { origin: name, file });
  if (!r.ok || !r.soa) throw new SakimoriError('RPZ_ZONE_FILE', `zone file ${file} has errors:\n${r.errors.map(formatProblem).join('\n')}`);
  const c = ZoneContent.from(name, r.soa, r.records);
  const byOwner = new Map<string, ZoneRecord[]>();
  for (const rec of c.records()) {
    if (rec.name === name) continue;
    const list = byOwner.get(rec.name) ?? [];
    list.push(rec);
    byOwner.set(rec.name, list);
  }
  const rows = [...byOwner].map(([owner, recs]) => ({ name: owner.slice(0, -name.length - 1), action: describeAction(recs), ttl: recs[0]!.ttl }));
  return { serial: c.serial, rows };
}

/** The action a trigger's records say, in the words `rpz add` takes. */
export function describeAction(recs: readonly ZoneRecord[]): string {
  if (recs.length === 1 && recs[0]!.data.kind === 'CNAME') {
    const t = recs[0]!.data.cname;
    for (const [word, target] of Object.entries(CNAME_OF)) if (t === target) return word;
    return `redirect:${t}`;
  }
  const addrs = recs.filter((r) => r.data.kind === 'A' || r.data.kind === 'AAAA').map((r) => (r.data.kind === 'A' || r.data.kind === 'AAAA' ? r.data.address : ''));
  if (addrs.length === recs.length) return `redirect:${addrs.join(',')}`;
  return `local data (${recs.map((r) => formatRecord(r).split(' ').slice(3).join(' ')).join('; ')})`;
}
