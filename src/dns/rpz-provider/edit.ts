/**
 * Changing a policy zone file (`sakimori rpz add|remove`): read it, set or remove the
 * records of a name, increase the SOA serial by one (RFC 1982), write the file back in
 * one rename, and save the difference in the journal, under a lock file so two commands
 * never interleave. A running provider sees the new file within its watch interval (or
 * at once through the bus), and notifies its secondaries.
 *
 * The file is rewritten in a canonical form: records keep their order, comments and
 * formatting do not survive (a zone edited by tools should not be formatted by hand).
 *
 * A million-name zone is not re-read and rewritten per edit (that took ~13 s). After a
 * full write, a small state file beside the zone (`.NAME.sakimori-state`) records the
 * file's identity (inode, size, mtime), its serial and digest, and where its SOA line is.
 * While the zone file still has that identity (nobody else touched it), an edit is done in
 * place: the name's lines are found by a byte search, blanked into comments, the new
 * records appended, and the SOA line (written with room to grow) rewritten with the new
 * serial — the zone file stays the whole truth, readable by anyone. The difference goes to
 * the journal with digests computed from the state (digestAfter), so a running provider
 * applies it without reading the file either. When blanked and appended lines pass a
 * quarter of the file, or the file changed behind the state, the next edit writes the
 * whole file again (compaction). A crash between the appends and the SOA write leaves a
 * changed file with the old serial, which the provider refuses until the next edit.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, linkSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync } from 'node:fs';
import { open, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, basename, join } from 'node:path';
import { SakimoriError, parseIp, processAlive, systemClock, type Clock } from '../../core/index.ts';
import { normalizeName, textToName, RRType } from '../wire/index.ts';
import { serialAdd } from '../zone-transfer/index.ts';
import { RpzZone, formatProblem, type ZoneRecord } from '../policy/index.ts';
import type { JournalStore } from './journal.ts';
import { formatRecord, readZoneRecords } from './master-text.ts';
import { digestAfter, readZoneContent, sameWithTtl, type ZoneContent } from './zone-content.ts';

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

/** Spaces after the SOA line, so its serial can grow by an in-place edit. */
const SOA_ROOM = 24;

/** The lines of a zone's file: comments, $ORIGIN, the SOA (with room to grow; the fourth line), then the records with owners relative to the zone. */
function* zoneFileLines(c: ZoneContent, note = ''): IterableIterator<string> {
  yield `; Policy zone ${c.name}, written by \`sakimori rpz\`${note ? ` (${note})` : ''}.`;
  yield '; Comments are not kept. Editing by hand is fine: increase the serial when you do.';
  yield `$ORIGIN ${c.name === '.' ? '.' : `${c.name}.`}`;
  yield formatRecord(c.soa, c.name) + ' '.repeat(SOA_ROOM);
  for (const r of c.records()) yield formatRecord(r, c.name);
}

/** Master-file text of a zone (zoneFileLines). */
export function zoneFileText(c: ZoneContent, note = ''): string {
  return `${[...zoneFileLines(c, note)].join('\n')}\n`;
}

/**
 * Writes a zone's file (zoneFileText) 10,000 lines at a time: a 10 M-name zone is never
 * one string or an array of every line. Returns its size and where the SOA line is.
 */
async function writeZoneFile(path: string, c: ZoneContent): Promise<{ size: number; soaOffset: number; soaLength: number }> {
  const fh = await open(path, 'w');
  let size = 0;
  let soaOffset = 0;
  let soaLength = 0;
  let chunk = '';
  let n = 0;
  const flush = async () => {
    const b = Buffer.from(chunk, 'latin1');
    const { bytesWritten } = await fh.write(b, 0, b.length, size);
    if (bytesWritten !== b.length) throw new Error(`${path}: short write (${bytesWritten} of ${b.length} bytes)`);
    size += b.length;
    chunk = '';
  };
  try {
    for (const line of zoneFileLines(c)) {
      if (n === 3) {
        soaOffset = size + chunk.length; // latin1: a character is a byte
        soaLength = line.length;
      }
      chunk += `${line}\n`;
      if (++n % 10_000 === 0) await flush();
    }
    await flush();
  } finally {
    await fh.close();
  }
  return { size, soaOffset, soaLength };
}

/** What the last `rpz add|remove` knows of the file it wrote (see the file comment). */
export interface EditState {
  /** fileStamp() right after the write. */
  stamp: string;
  serial: number;
  digest: string;
  soa: string;
  soaOffset: number;
  soaLength: number;
  /** Bytes of blanked and appended lines since the last full write. */
  churn: number;
  size: number;
}

/** A file's identity for "changed since?": inode, size, mtime. */
export async function fileStamp(file: string): Promise<string> {
  const s = await stat(file);
  return `${s.ino}/${s.size}/${s.mtimeMs}`;
}

/** The state file beside a zone file (what the last edit knows of it). */
export function statePath(file: string): string {
  return join(dirname(file), `.${basename(file)}.sakimori-state`);
}

/** The state file of a zone file, when there is one that reads. */
export async function readEditState(file: string): Promise<EditState | undefined> {
  try {
    const s = JSON.parse(await readFile(statePath(file), 'utf8')) as EditState;
    return typeof s.stamp === 'string' && typeof s.digest === 'string' && Number.isInteger(s.soaOffset) ? s : undefined;
  } catch {
    return undefined;
  }
}

async function writeEditState(file: string, st: EditState): Promise<void> {
  const tmp = `${statePath(file)}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(st));
  await rename(tmp, statePath(file));
}

/** The lock file an edit holds while it writes the zone, the journal and the state file. */
export function lockPath(file: string): string {
  return `${file}.lock`;
}

/** A lock file as read once (inode, mtime and text of one open file), to tell it later from another lock at the same path: a new lock can get the inode number of one just removed. */
interface LockSeen {
  dev: bigint;
  ino: bigint;
  mtimeNs: bigint;
  text: string;
}

function sameLock(a: LockSeen, b: LockSeen): boolean {
  return a.dev === b.dev && a.ino === b.ino && a.mtimeNs === b.mtimeNs && a.text === b.text;
}

/** Who holds a lock as read (see lockHeld), or undefined when it is stale. */
function lockHolder(seen: LockSeen): string | undefined {
  const age = Date.now() - Number(seen.mtimeNs / 1_000_000n);
  const [pidText = '', host] = seen.text.trim().split(/\s+/);
  const pid = Number(pidText);
  const holder = seen.text.trim() || '(unknown)';
  if (!Number.isInteger(pid) || pid <= 0) return age < 60_000 ? holder : undefined;
  if (host !== undefined && host !== hostname()) return age < 600_000 ? holder : undefined;
  if (!processAlive(pid)) return undefined;
  return age < 3_600_000 ? holder : undefined;
}

/**
 * Whether an edit holds the zone file's lock (it names its pid and host). A lock is held
 * while its holder is alive, however long it takes: the first, whole write of a 10 M-name
 * zone takes minutes, and a provider or another edit that broke it then would read the
 * file half-written. A holder on this host that is gone left it stale, and so did a live
 * pid after an hour (its number reused after a crash). A holder elsewhere (another host or
 * container sharing the directory) cannot be checked: its lock holds for ten minutes; one
 * that names no pid (written by something else, or not yet), for a minute.
 */
export async function lockHeld(file: string): Promise<{ holder: string } | undefined> {
  let seen: LockSeen | undefined;
  try {
    seen = readLock(lockPath(file));
  } catch {
    seen = undefined;
  }
  const holder = seen && lockHolder(seen);
  return holder === undefined ? undefined : { holder };
}

/**
 * The lock file at `path`, or undefined when there is none. Synchronous: removeLockIf reads
 * it again just before its rename, where no other task of ours may run between the steps.
 */
function readLock(path: string): LockSeen | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const s = fstatSync(fd, { bigint: true });
    return { dev: s.dev, ino: s.ino, mtimeNs: s.mtimeNs, text: readFileSync(fd, 'utf8') };
  } finally {
    closeSync(fd);
  }
}

/**
 * Removes the lock at `path` only if it is still the one `seen` (judged stale, or our own).
 * `unlink(path)` would remove whatever is there by then: two waiters that judged the same
 * stale lock would both remove it, the second one the fresh lock the first just took.
 * There is no "remove if it is this inode" in POSIX, so the lock is read again, renamed to
 * a name of ours (atomic: what we hold now is one file nobody else can reach), read there,
 * and removed only if it is the same; otherwise it is linked back (link() never replaces).
 * What is left: a lock broken and taken again between the re-read and the rename is moved
 * away and back; while it is away, a third acquirer can take the lock too (the link back
 * then fails: two holders), or its holder's release finds nothing to remove (the lock
 * comes back and stays until that process ends). Synchronous calls keep both windows to a
 * few syscalls with no other task of ours in between (asynchronous, under load, they were
 * milliseconds: a 5-process stress test saw both); and they need two acquirers racing on
 * a stale lock, i.e. after a crash. A crash between the rename and the unlink leaves the
 * aside file: the next holder removes it (removeDeadAsides).
 */
function removeLockIf(path: string, seen: LockSeen, probe: LockProbe = {}): boolean {
  const now = readLock(path);
  if (!now || !sameLock(now, seen)) return false;
  probe.beforeRename?.();
  const aside = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.removing`;
  try {
    renameSync(path, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  let taken: LockSeen | undefined;
  try {
    taken = readLock(aside);
  } catch {
    taken = undefined;
  }
  if (taken && sameLock(taken, seen)) {
    unlinkSync(aside);
    return true;
  }
  try {
    linkSync(aside, path);
  } catch {
    // EEXIST: taken meanwhile (see above)
  }
  try {
    unlinkSync(aside);
  } catch {
    // gone already
  }
  return false;
}

/**
 * Locks set aside by removeLockIf (`LOCK.PID.HEX.removing`) whose process is gone: one
 * that crashed between the rename and the unlink. Called while holding the lock; an aside
 * of a live process is its own business and stays.
 */
function removeDeadAsides(path: string): void {
  const prefix = `${basename(path)}.`;
  let names: string[];
  try {
    names = readdirSync(dirname(path));
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.removing')) continue;
    const pid = Number(name.slice(prefix.length).split('.')[0]);
    if (!Number.isInteger(pid) || pid <= 0 || processAlive(pid)) continue;
    try {
      unlinkSync(join(dirname(path), name));
    } catch {
      // removed by another holder meanwhile, or not ours to remove: left
    }
  }
}

/** Test hooks for lockZoneFile: when a lock was judged stale (before it is broken), when it was read again just before its rename, and when a held lock is waited for. */
export interface LockProbe {
  judgedStale?: () => Promise<void>;
  beforeRename?: () => void;
  waiting?: (holder: string) => void;
}

/**
 * Takes the zone file's lock (lockPath), breaking a stale one (lockHeld), waiting up to
 * `waitMs` for a held one. Returns the release, which removes our lock only: if ours was
 * broken as stale and someone else's is there now, that one stays.
 */
export async function lockZoneFile(file: string, waitMs: number, probe: LockProbe = {}): Promise<() => Promise<void>> {
  const path = lockPath(file);
  const until = Date.now() + waitMs;
  const fail = (err: unknown) => new SakimoriError('RPZ_LOCK', `cannot take the lock file ${path}: ${(err as Error).message}`, { hint: 'the zone file directory must be writable' });
  for (;;) {
    try {
      const fh = await open(path, 'wx');
      const text = `${process.pid} ${hostname()}\n`;
      let mine: LockSeen;
      try {
        await fh.writeFile(text);
        const s = await fh.stat({ bigint: true });
        mine = { dev: s.dev, ino: s.ino, mtimeNs: s.mtimeNs, text };
      } finally {
        await fh.close();
      }
      removeDeadAsides(path);
      return async () => {
        try {
          removeLockIf(path, mine);
        } catch {
          // cannot remove it: it goes stale when we exit
        }
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fail(err);
    }
    let seen: LockSeen | undefined;
    try {
      seen = readLock(path);
    } catch (err) {
      throw fail(err);
    }
    if (!seen) continue; // released since
    const holder = lockHolder(seen);
    if (holder === undefined) {
      await probe.judgedStale?.();
      try {
        removeLockIf(path, seen, probe);
      } catch (err) {
        throw fail(err);
      }
      continue;
    }
    if (Date.now() > until) throw new SakimoriError('RPZ_LOCK', `zone file ${file} is locked by process ${holder} (${path})`, { hint: 'another `sakimori rpz add/remove` is running; try again, or remove the lock file if that process is gone' });
    probe.waiting?.(holder);
    await new Promise((r) => setTimeout(r, 50));
  }
}

type Touched = Map<string, { orig: readonly ZoneRecord[]; final: ZoneRecord[] }>;

/** The owners the edits touch, each with its records before (from `at`) and after. */
function planEdits(zone: string, edits: readonly ZoneEdit[], at: (owner: string) => readonly ZoneRecord[]): Touched {
  const touched: Touched = new Map();
  for (const e of edits) {
    const owner = triggerOwner(e.name, zone);
    if (typeof owner !== 'string') throw new SakimoriError('RPZ_NAME', owner.error);
    const owners = e.subdomains ? [owner, `*.${owner}`] : [owner];
    for (const o of owners) {
      if (o === zone) throw new SakimoriError('RPZ_NAME', `the zone apex ${zone} is not a trigger`, { hint: 'name the domain to act on, e.g. --name bad.example.com' });
      let t = touched.get(o);
      if (!t) {
        t = { orig: [...at(o)], final: [] };
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
  return touched;
}

function differences(touched: Touched): { deletes: ZoneRecord[]; adds: ZoneRecord[] } {
  const deletes: ZoneRecord[] = [];
  const adds: ZoneRecord[] = [];
  for (const t of touched.values()) {
    for (const x of t.orig) if (!t.final.some((y) => sameWithTtl(x, y))) deletes.push(x);
    for (const y of t.final) if (!t.orig.some((x) => sameWithTtl(x, y))) adds.push(y);
  }
  return { deletes, adds };
}

/**
 * The in-place edit (see the file comment), or undefined when the file is not the one the
 * state describes (then the whole file is read and written).
 */
async function editInPlace(zone: string, opts: EditOptions): Promise<EditResult | undefined> {
  const st = await readEditState(opts.file);
  if (!st || st.churn > st.size / 4) return undefined;
  const stamp = await fileStamp(opts.file).catch(() => undefined);
  if (stamp !== st.stamp) return undefined;
  const buf = await readFile(opts.file);
  if (buf.length !== st.size) return undefined;
  const origin = `$ORIGIN ${zone === '.' ? '.' : `${zone}.`}\n`;
  const soaText = buf.toString('latin1', st.soaOffset, st.soaOffset + st.soaLength);
  const head = readZoneRecords(`${origin}${soaText}\n`, { origin: zone, file: opts.file });
  const fromSoa = head.soa;
  if (!head.ok || !fromSoa || fromSoa.data.kind !== 'SOA' || formatRecord(fromSoa) !== st.soa) return undefined;
  // Every line of an owner starts with its name relative to the zone (canonical form).
  const lines = new Map<string, { start: number; end: number }[]>();
  const found = (owner: string): readonly ZoneRecord[] => {
    const rel = formatRecord({ name: owner, type: RRType.A, ttl: 0, data: { kind: 'A', address: '0.0.0.0' } }, zone).split(' ')[0]!;
    const key = Buffer.from(`\n${rel} `, 'latin1');
    const at: { start: number; end: number }[] = [];
    for (let i = buf.indexOf(key); i >= 0; i = buf.indexOf(key, i + 1)) {
      const end = buf.indexOf(10, i + 1);
      at.push({ start: i + 1, end: end < 0 ? buf.length : end });
    }
    lines.set(owner, at);
    if (at.length === 0) return [];
    const r = readZoneRecords(`${origin}${soaText}\n${at.map((l) => buf.toString('latin1', l.start, l.end)).join('\n')}\n`, { origin: zone, file: opts.file });
    if (!r.ok) throw new SakimoriError('RPZ_ZONE_FILE', `zone file ${opts.file} has errors at ${owner}:\n${r.errors.map(formatProblem).join('\n')}`, { hint: 'fix those lines first' });
    return r.records.filter((x) => x.name === owner);
  };
  const touched = planEdits(zone, opts.edits, found);
  const { deletes, adds } = differences(touched);
  const fromSerial = fromSoa.data.serial;
  if (adds.length === 0 && deletes.length === 0) return { zone, file: opts.file, created: false, changed: false, fromSerial, serial: fromSerial, added: [], removed: [] };
  const serial = serialAdd(fromSerial, 1);
  const toSoa: ZoneRecord = { ...fromSoa, data: { ...fromSoa.data, serial } };
  const soaLine = formatRecord(toSoa, zone);
  if (soaLine.length > st.soaLength) return undefined;
  let appended = '';
  const blank: { start: number; end: number }[] = [];
  for (const [owner, t] of touched) {
    if (t.orig.length === t.final.length && t.orig.every((x) => t.final.some((y) => sameWithTtl(x, y)))) continue;
    blank.push(...(lines.get(owner) ?? []));
    for (const r of t.final) appended += `${formatRecord(r, zone)}\n`;
  }
  let fh: FileHandle | undefined;
  try {
    fh = await open(opts.file, 'r+');
    // Appends first, blanks next, the serial last: a reader in between sees the old serial.
    const tail = Buffer.from(buf.length > 0 && buf[buf.length - 1] !== 10 ? `\n${appended}` : appended, 'latin1');
    await fh.write(tail, 0, tail.length, buf.length);
    for (const l of blank) {
      const b = Buffer.alloc(l.end - l.start, 0x20);
      b[0] = 0x3b; // ';': the line is a comment now
      await fh.write(b, 0, b.length, l.start);
    }
    const soaBuf = Buffer.from(soaLine.padEnd(st.soaLength, ' '), 'latin1');
    await fh.write(soaBuf, 0, soaBuf.length, st.soaOffset);
    await fh.close();
    fh = undefined;
    const toDigest = digestAfter(st.digest, { from: fromSoa, deletes, to: toSoa, adds });
    if (opts.journal) await opts.journal.append({ zone, from: fromSoa, deletes, to: toSoa, adds, fromDigest: st.digest, toDigest, actor: opts.actor, at: (opts.clock ?? systemClock).now() });
    const churn = st.churn + tail.length + blank.reduce((n, l) => n + l.end - l.start, 0);
    await writeEditState(opts.file, { ...st, stamp: await fileStamp(opts.file), serial, digest: toDigest, soa: formatRecord(toSoa), churn, size: buf.length + tail.length });
  } finally {
    await fh?.close();
  }
  return { zone, file: opts.file, created: false, changed: true, fromSerial, serial, added: adds.map((x) => formatRecord(x, zone)), removed: deletes.map((x) => formatRecord(x, zone)) };
}

/** The zone file read whole (or the text of a new one), for the whole-file edit. */
async function readForEdit(zone: string, opts: EditOptions): Promise<{ zc: ZoneContent; created: boolean }> {
  let created = false;
  const text = await readFile(opts.file, 'latin1').catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT' || opts.create === false) throw new SakimoriError('RPZ_ZONE_FILE', `cannot read zone file ${opts.file}: ${err.message}`);
    created = true;
    return defaultZoneText(zone);
  });
  const r = readZoneContent(text, { origin: zone, file: opts.file });
  if (!r.content) throw new SakimoriError('RPZ_ZONE_FILE', `zone file ${opts.file} has errors, so it was not changed:\n${r.errors.map(formatProblem).join('\n')}`, { hint: 'fix the lines named above first' });
  return { zc: r.content, created };
}

/** Applies edits to a zone file (see the file comment). Throws SakimoriError with file:line on a bad file. */
export async function editZoneFile(opts: EditOptions): Promise<EditResult> {
  const zone = new RpzZone(opts.zone).name;
  const unlock = await lockZoneFile(opts.file, opts.lockWaitMs ?? 10_000);
  try {
    const quick = await editInPlace(zone, opts);
    if (quick) return quick;
    // One version in memory, changed in place: a million-name zone is not copied per edit
    // (and its text is not kept while the new file is written).
    const { zc, created } = await readForEdit(zone, opts);
    const fromDigest = zc.digest;
    const fromSerial = zc.serial;
    const fromSoa = zc.soa;
    const touched = planEdits(zone, opts.edits, (o) => zc.at(o));
    const { deletes, adds } = differences(touched);
    if (!created && adds.length === 0 && deletes.length === 0) {
      return { zone, file: opts.file, created, changed: false, fromSerial, serial: fromSerial, added: [], removed: [] };
    }
    for (const [o, t] of touched) {
      zc.deleteOwner(o);
      for (const rec of t.final) zc.put(rec);
    }
    const serial = created ? fromSerial : zc.nextSerial();
    zc.setSoa(zc.soaWithSerial(serial));
    const tmp = join(dirname(opts.file), `.${basename(opts.file)}.${process.pid}.tmp`);
    const written = await writeZoneFile(tmp, zc);
    await rename(tmp, opts.file);
    const stamp = await fileStamp(opts.file);
    const final = { from: fromSoa, deletes, to: zc.soa, adds };
    if (opts.journal && !created) {
      await opts.journal.append({ zone, ...final, fromDigest, toDigest: zc.digest, actor: opts.actor, at: (opts.clock ?? systemClock).now() });
    }
    // The state file last, as in place: once it names the file, the journal has the step.
    await writeEditState(opts.file, { stamp, serial, digest: zc.digest, soa: formatRecord(zc.soa), soaOffset: written.soaOffset, soaLength: written.soaLength, churn: 0, size: written.size });
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
  const r = readZoneContent(text, { origin: name, file });
  if (!r.content) throw new SakimoriError('RPZ_ZONE_FILE', `zone file ${file} has errors:\n${r.errors.map(formatProblem).join('\n')}`);
  const c = r.content;
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
