/**
 * Where policy zones come from, and the engine they feed.
 *
 * A ZoneSource keeps one zone current in a ZoneTarget: a whole new version (a file
 * reloaded, an AXFR) with `replace`, or a change (an IXFR, the API) with `apply`. The file
 * source is here; the RPZ client (src/dns/rpz-provider) implements the same interface to
 * pull a zone from a primary by AXFR/IXFR (PrimaryZoneSource below; `zoneSource(spec)`
 * picks one or the other).
 *
 * Files are watched (their directory, so editors that write a new file and rename it over
 * the old one are seen) and read again after a short quiet time (debounce). An RPZ file
 * is read as a difference from what it held (policy/file-image.ts: only the changed parts
 * are parsed, the zone takes them as one change, apply(): at 1 M names well within a
 * second, no second table); the first load, and a change that cannot be read as a
 * difference, build the new zone beside the old one and swap it in with one assignment
 * (PolicyEngine.replaceZone). Either way queries see the old zone or the new one, never a
 * mix. A file with any error is refused whole: the problems are logged as file:line and
 * the previous version stays in force.
 */
import type { Stats } from 'node:fs';
import { mkdtemp, open, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { formatHostPort, parseListenAddress, processAlive, SakimoriError, type HostPort } from '../../core/index.ts';
import { NotifyListener, SecondaryZone, type TsigKey, type XfrLogger } from '../zone-transfer/index.ts';
import { collectGarbage } from './gc.ts';
import {
  describeLoad,
  diffZoneFile,
  formatProblem,
  recordZoneFile,
  loadNameListFile,
  loadRpzFile,
  PolicyEngine,
  RpzZone,
  watchZoneFile,
  type ApplyResult,
  type SharedRpzZone,
  type ZoneChange,
  type ZoneFileImage,
  type ZoneLoadResult,
} from '../policy/index.ts';

// Here since session 3 (firewall.ts imports it from here); it lives with the file loaders now.
export { watchZoneFile };

/** What a zone is for; decides the purpose of its block events and the observations it raises. */
export const ZONE_KINDS = ['cc', 'malware-sites', 'dns-abuse', 'allow'] as const;
export type ZoneKind = (typeof ZONE_KINDS)[number];

export interface ZoneSpec {
  /** The zone's name (its origin), e.g. "cc.rpz.example"; block events name it as the list. */
  name: string;
  /** The master file; '' for a zone pulled from a primary. */
  file: string;
  /** "ADDR:PORT": the zone is pulled from this primary by AXFR/IXFR instead of read from a file. */
  primary?: string;
  /** Where the primary's NOTIFY is taken (UDP "ADDR:PORT"); zones sharing an address share the socket. */
  notifyListen?: string;
  /** The TSIG key's name (tsig.keys) for the primary; `tsigKey` is that key, resolved. */
  key?: string | undefined;
  tsigKey?: TsigKey | undefined;
  /** Where the local copy of a zone from a primary is kept (written after each transfer, served when a restart finds the primary down). */
  copyFile?: string | undefined;
  kind: ZoneKind;
  /** 'rpz': a master file (RPZ); 'list': one domain a line, each covering its subdomains. */
  format: 'rpz' | 'list';
}

export interface ZoneTarget {
  /** Swaps in a whole new version of the zone. */
  replace(zone: RpzZone): void;
  /** Applies a change in place, atomically (RpzZone.apply). */
  apply(change: ZoneChange): ApplyResult;
  /** The version in force (a changed file is read as a difference against it). */
  readonly current?: RpzZone | undefined;
}

export interface ZoneSourceStatus {
  zone: string;
  source: string;
  /** ISO time the version in force was loaded. */
  loadedAt?: string;
  names?: number;
  serial?: number;
  reloads: number;
  /** The last refused version's problems (file:line), when the last attempt failed. */
  lastError?: string[];
  /** A zone from a primary: past its SOA expire time without reaching the primary (its policy stays in force). */
  expired?: boolean;
  /** A zone from a primary: served from the local copy; the primary has not answered since the start. */
  fromCopy?: boolean;
}

export interface ZoneSource {
  readonly zone: string;
  /** Loads the first version into `target`; rejects (SakimoriError) when it cannot. */
  start(target: ZoneTarget): Promise<void>;
  stop(): Promise<void>;
  status(): ZoneSourceStatus;
}

type Log = (level: 'info' | 'warn' | 'error', msg: string, detail?: Record<string, unknown>) => void;

const IMAGE_DIR_PREFIX = 'sakimori-zone-';
let orphansRemoved: Promise<void> | undefined;

/**
 * Removes the zone-file copies (FileZoneSource's image directories) of processes that are
 * gone (killed before their stop()), once per process. A directory whose pid is alive, or
 * whose name has none (a copy from before names had one), is left alone.
 */
export async function removeOrphanImages(log: Log, dir = tmpdir()): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  let removed = 0;
  for (const name of names) {
    if (!name.startsWith(IMAGE_DIR_PREFIX)) continue;
    const m = /^(\d+)-/.exec(name.slice(IMAGE_DIR_PREFIX.length));
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || processAlive(pid)) continue;
    await rm(join(dir, name), { recursive: true, force: true }).then(
      () => removed++,
      () => undefined,
    );
  }
  if (removed > 0) log('info', `removed ${removed} zone file cop${removed === 1 ? 'y' : 'ies'} left in ${dir} by stopped processes`);
}

export class FileZoneSource implements ZoneSource {
  readonly zone: string;
  private unwatch: (() => void) | undefined;
  private loading: Promise<void> | undefined;
  private again = false;
  private target: ZoneTarget | undefined;
  private st: ZoneSourceStatus;
  /** What the file held when last read (an RPZ file), and the directory of its copy. */
  private image: ZoneFileImage | undefined;
  private imageDir: string | undefined;
  /** The image being taken after a whole load (takeImage); a later load or stop() makes it stale. */
  private imaging: Promise<void> | undefined;
  /** Stops the image being taken (stop() does not wait for a whole read of the file). */
  private imageAbort: AbortController | undefined;
  private imageGen = 0;

  constructor(
    private readonly spec: ZoneSpec,
    private readonly opts: { debounceMs?: number; log: Log; onReload?: (zone: string, ok: boolean) => void; watch?: boolean },
  ) {
    this.zone = spec.name;
    this.st = { zone: spec.name, source: `file:${spec.file}`, reloads: 0 };
  }

  load(): Promise<ZoneLoadResult> {
    return this.spec.format === 'list'
      ? loadNameListFile(this.spec.file, { zone: this.spec.name, file: this.spec.file })
      : loadRpzFile(this.spec.file, { origin: this.spec.name });
  }

  async start(target: ZoneTarget): Promise<void> {
    this.target = target;
    // The copy of the file as read, for reading its next change as a difference: in the
    // system's temporary directory (about the file's size), removed by stop(); named with
    // our pid, so the copies of a process killed before its stop() are removed later.
    if (this.spec.format === 'rpz') {
      await (orphansRemoved ??= removeOrphanImages(this.opts.log));
      this.imageDir = await mkdtemp(join(tmpdir(), `${IMAGE_DIR_PREFIX}${process.pid}-`)).catch(() => undefined);
    }
    const before = await this.stamp();
    const r = await this.load();
    if (!r.ok) {
      throw new SakimoriError('DNS_ZONE', `policy zone ${this.spec.name} from ${this.spec.file} has ${r.errorCount} error(s):\n${describeLoad(r).map((l) => `  ${l}`).join('\n')}`, {
        hint: 'fix the lines named above (file:line); a zone with any error is refused whole',
      });
    }
    this.swapIn(r, before);
    for (const w of describeLoad(r)) this.opts.log('warn', w, { zone: this.spec.name });
    if (this.opts.watch !== false) this.watch();
  }

  private watch(): void {
    this.unwatch = watchZoneFile(this.spec.file, this.opts.debounceMs ?? 150, () => void this.reload(), (m) => this.opts.log('warn', m, { zone: this.spec.name }));
  }

  async stop(): Promise<void> {
    this.unwatch?.();
    this.unwatch = undefined;
    await this.loading;
    this.imageGen++;
    this.imageAbort?.abort();
    await this.imaging;
    this.image = undefined;
    if (this.imageDir) await rm(this.imageDir, { recursive: true, force: true });
    this.imageDir = undefined;
  }

  status(): ZoneSourceStatus {
    return { ...this.st };
  }

  /** Reloads now (the watcher calls this after the debounce). Resolves when done. */
  reload(): Promise<void> {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = (async () => {
      do {
        this.again = false;
        if (await this.readDifference()) continue;
        const before = await this.stamp();
        const r = await this.load();
        if (r.ok) {
          this.swapIn(r, before);
          this.opts.log('info', `policy zone ${this.spec.name} reloaded from ${this.spec.file}: ${r.zone.stats().qname + r.zone.stats().wildcard} names`, { zone: this.spec.name });
          this.opts.onReload?.(this.spec.name, true);
        } else this.refused(r);
      } while (this.again);
    })().finally(() => (this.loading = undefined));
    return this.loading;
  }

  /** Resolves once the image after the last whole load is taken, or given up (for tests: nothing else waits for it). */
  async imaged(): Promise<void> {
    await this.imaging;
  }

  private stamp(): Promise<Stats | undefined> {
    return stat(this.spec.file).catch(() => undefined);
  }

  /**
   * After a whole load, the file's image for reading its next change as a difference
   * (policy/file-image.ts), taken in the background so the zone is in force without waiting
   * for it (+0.2-0.3 s of CPU at 1 M names). Kept only if the file is still the one loaded
   * (the same inode, size and times as before the load) and nothing was loaded since.
   */
  private takeImage(zone: RpzZone, before: Stats | undefined): void {
    const old = this.image;
    this.image = undefined;
    if (old) void rm(old.snapshot, { force: true });
    const gen = ++this.imageGen;
    // An image of the previous load still being taken is stale now: stop its read.
    this.imageAbort?.abort();
    this.imageAbort = undefined;
    if (!this.imageDir || !before || zone.duplicates > 0) return;
    const snapshot = join(this.imageDir, `zone-${gen}`);
    const abort = (this.imageAbort = new AbortController());
    const taking = (async () => {
      const image = await recordZoneFile(this.spec.file, snapshot, { origin: this.spec.name, signal: abort.signal });
      const after = await this.stamp();
      const same = after !== undefined && after.ino === before.ino && after.size === before.size && after.mtimeMs === before.mtimeMs && after.ctimeMs === before.ctimeMs;
      if (image && same && gen === this.imageGen && this.target?.current === zone) this.image = image;
      else await rm(snapshot, { force: true });
    })()
      .catch(() => undefined)
      .finally(() => {
        if (this.imaging === taking) this.imaging = undefined;
        // What reading the file left (its text, a chunk at a time) is garbage: give it back, as after a load (gc.ts).
        setImmediate(collectGarbage);
      });
    this.imaging = taking;
  }

  private refused(r: ZoneLoadResult & { ok: false }): void {
    const lines = describeLoad(r);
    this.st = { ...this.st, lastError: lines.slice(0, 20) };
    this.opts.log('error', `policy zone ${this.spec.name}: ${this.spec.file} has ${r.errorCount} error(s); the previous version stays in force\n${lines.slice(0, 20).map((l) => `  ${l}`).join('\n')}`, { zone: this.spec.name });
    this.opts.onReload?.(this.spec.name, false);
  }

  /**
   * Reads the changed file as a difference from its image and applies it as one change.
   * False when it must be read whole instead (no image, or a change a diff cannot give
   * exactly; policy/file-image.ts), or when the zone refuses the change (the whole load
   * then names the lines at fault).
   */
  private async readDifference(): Promise<boolean> {
    const image = this.image;
    const zone = this.target?.current;
    if (!image || !zone) return false;
    const t0 = performance.now();
    let d: Awaited<ReturnType<typeof diffZoneFile>>;
    try {
      d = await diffZoneFile(this.spec.file, image, { origin: this.spec.name }, (rec) => zone.holds(rec));
    } catch (err) {
      this.opts.log('warn', `policy zone ${this.spec.name}: cannot read ${this.spec.file} as a difference (${(err as Error).message}); reading it whole`, { zone: this.spec.name });
      return false;
    }
    if (d.kind === 'whole') {
      this.opts.log('info', `policy zone ${this.spec.name}: ${d.why}; reading ${this.spec.file} whole`, { zone: this.spec.name });
      return false;
    }
    if (d.kind === 'refused') {
      this.refused({ ok: false, ...d });
      return true;
    }
    const a = this.target!.apply(d.change);
    if (!a.ok) {
      await d.discard();
      return false;
    }
    this.image = await d.commit();
    const file = this.spec.file;
    const warnings = d.warnings.map(formatProblem);
    // The zone's warnings name the record by its place in the change: give its file:line instead.
    for (const w of a.warnings) {
      const m = /^addRecords\[(\d+)\] (.*)$/s.exec(w);
      if (m) warnings.push(`${file}:${d.addedAt[Number(m[1])] ?? 0}: warning: ${m[2]}`);
    }
    for (const w of warnings.slice(0, 100)) this.opts.log('warn', w, { zone: this.spec.name });
    const s = zone.stats();
    const { lastError: _dropped, ...rest } = this.st;
    this.st = { ...rest, loadedAt: new Date().toISOString(), names: s.qname + s.wildcard + s.clientIp, reloads: this.st.reloads + 1, ...(zone.serial !== undefined ? { serial: zone.serial } : {}) };
    const ms = Math.round(performance.now() - t0);
    this.opts.log(
      'info',
      `policy zone ${this.spec.name} updated from ${file}: ${d.change.addRecords.length} record(s) added, ${d.change.deleteRecords.length} deleted, ${s.qname + s.wildcard} names (read ${Math.ceil(d.parsedBytes / 1024)} of ${Math.ceil(d.size / 1024)} KiB as a difference, ${ms} ms)`,
      { zone: this.spec.name },
    );
    this.opts.onReload?.(this.spec.name, true);
    return true;
  }

  private swapIn(r: ZoneLoadResult & { ok: true }, before: Stats | undefined): void {
    this.target!.replace(r.zone);
    this.takeImage(r.zone, before);
    // The replaced version and the loader's scraps are garbage now: give the memory back (gc.ts).
    setImmediate(collectGarbage);
    const s = r.zone.stats();
    const { lastError: _dropped, ...rest } = this.st;
    this.st = { ...rest, loadedAt: new Date().toISOString(), names: s.qname + s.wildcard + s.clientIp, reloads: this.st.reloads + 1, ...(r.zone.serial !== undefined ? { serial: r.zone.serial } : {}) };
  }
}

/**
 * A file zone another thread loads (dns.threads > 0: the main thread) and shares with
 * RpzZone.toShared(): this thread reads the same SharedArrayBuffers, so N worker threads
 * hold the names once. Each new version arrives whole and is swapped in with one
 * assignment (`swap`), as a reload is on the main thread.
 */
export class SharedZoneSource implements ZoneSource {
  private target: ZoneTarget | undefined;
  private first: SharedRpzZone | undefined;
  private swaps = 0;
  /** The name table of the version in force (held by that version anyway). */
  private table: SharedArrayBuffer | undefined;

  constructor(
    readonly zone: string,
    first: SharedRpzZone,
  ) {
    this.first = first;
  }

  async start(target: ZoneTarget): Promise<void> {
    this.target = target;
    target.replace(RpzZone.fromShared(this.first!));
    this.table = this.first!.names.arena;
    this.first = undefined;
  }

  /** The next version, from the loading thread. */
  swap(next: SharedRpzZone): void {
    this.target!.replace(RpzZone.fromShared(next));
    this.swaps++;
    // A new table (a reload, an AXFR, changes folded): this thread's handles on the replaced
    // buffers go with the next collection, and the memory is freed when every thread has
    // let go. A version that kept the table (an IXFR step: only its small changes table is
    // new) leaves nothing worth a full collection.
    if (next.names.arena !== this.table) setImmediate(collectGarbage);
    this.table = next.names.arena;
  }

  async stop(): Promise<void> {}

  status(): ZoneSourceStatus {
    return { zone: this.zone, source: 'shared', reloads: this.swaps };
  }
}

function address(s: string, key: string): HostPort {
  const r = parseListenAddress(s);
  if ('error' in r) throw new SakimoriError('DNS_ZONE', `${key} "${s}" ${r.error}`, { hint: 'write ADDR:PORT, e.g. 192.0.2.53:53' });
  return r;
}

/**
 * The main thread's end of a zone that worker threads read (dns.threads > 0): whatever the
 * source gives — a file reloaded, an AXFR, an IXFR — becomes one shared version
 * (RpzZone.toShared) handed to `publish`, which swaps it into every thread (WorkerPlane).
 * So the main thread is the secondary and the threads only ever swap whole versions.
 *
 * A change (IXFR) is applied to this thread's version, which keeps it in a small table of
 * changes over the shared name table (RpzZone): the next toShared() hands out the same
 * shared table plus the changes, so a step costs work and memory in proportion to the
 * changes, not a copy of the table. When the changes grow past an eighth of the table they
 * are folded into one new copy of it (amortised: O(1) per change). Every apply() of one
 * synchronous run — all the steps of one IXFR answer — is shared once, at the end of the
 * run (a microtask): the threads see the zone before the transfer or after it, never in
 * between. A replaced table is freed when the last thread has swapped and collected, so
 * memory stays at one version plus, for a moment after a reload or a fold, the new one.
 */
export class SharedZoneTarget implements ZoneTarget {
  private zone: RpzZone | undefined;
  private dirty = false;
  /** The name table last published. */
  private table: SharedArrayBuffer | undefined;

  constructor(
    readonly name: string,
    private readonly publish: (shared: SharedRpzZone) => void,
    /** Told each new version as this thread holds it (later changes are applied to it in place). */
    private readonly local?: (zone: RpzZone) => void,
  ) {}

  replace(zone: RpzZone): void {
    this.zone = zone;
    this.dirty = false;
    this.local?.(zone);
    const shared = zone.toShared();
    this.table = shared.names.arena;
    this.publish(shared);
  }

  apply(change: ZoneChange): ApplyResult {
    const z = this.zone;
    if (!z) return { ok: false, errors: [`zone ${this.name} has no version loaded yet to change`], warnings: [] };
    const r = z.apply(change);
    if (r.ok && !this.dirty) {
      this.dirty = true;
      queueMicrotask(() => {
        if (!this.dirty || this.zone !== z) return;
        this.dirty = false;
        const table = this.table;
        const shared = z.toShared();
        this.table = shared.names.arena;
        this.publish(shared);
        // Changes folded into a new table: the old one goes once the threads have swapped (see SharedZoneSource.swap).
        if (table !== undefined && table !== this.table) setImmediate(collectGarbage);
      });
    }
    return r;
  }

  /** The version in force here (the one the threads have, or are being sent). */
  get current(): RpzZone | undefined {
    return this.zone;
  }
}

/** The source a zone spec names: its file, or its primary (AXFR/IXFR). `watch: false`: a file zone's owner watches the file itself. */
export function zoneSource(spec: ZoneSpec, opts: { debounceMs?: number; log: Log; onReload?: (zone: string, ok: boolean) => void; watch?: boolean }): ZoneSource {
  if (spec.primary !== undefined && spec.primary !== '') return new PrimaryZoneSource(spec, opts);
  return new FileZoneSource(spec, opts);
}

/** NOTIFY sockets, one per listen address, shared by the zones that take NOTIFY there. */
const notifyHubs = new Map<string, { listener: NotifyListener; zones: Set<SecondaryZone>; ready: Promise<void> }>();

async function joinNotify(listen: HostPort, zone: SecondaryZone, log: XfrLogger): Promise<() => Promise<void>> {
  const key = formatHostPort(listen);
  let hub = notifyHubs.get(key);
  if (!hub) {
    const zones = new Set<SecondaryZone>();
    const listener = new NotifyListener(listen, () => zones, log);
    hub = { listener, zones, ready: listener.start() };
    notifyHubs.set(key, hub);
    hub.ready.catch(() => notifyHubs.delete(key));
  }
  const h = hub;
  await h.ready;
  h.zones.add(zone);
  return async () => {
    h.zones.delete(zone);
    if (h.zones.size === 0 && notifyHubs.get(key) === h) {
      notifyHubs.delete(key);
      await h.listener.stop();
    }
  };
}

/**
 * A zone pulled from a primary (SecondaryZone: AXFR first, then IXFR on NOTIFY and on the
 * SOA refresh/retry timers, each IXFR applied in place with `target.apply`).
 *
 * The first load decides when the firewall starts answering: start() resolves only once
 * the zone has been transferred, retrying on the retry timer and logging every failure at
 * error level, so the firewall never answers with the zone silently empty. With a local
 * copy (spec.copyFile, written after each transfer) a restart while the primary is
 * unreachable serves the copy (logged at warn) and asks for IXFR from its serial.
 *
 * Past the SOA expire time without reaching the primary the zone is logged as expired
 * (error, once) and its last policy stays enforced: dropping every block because the feed
 * is down is the worse failure for a firewall (BIND would stop serving the zone).
 */
export class PrimaryZoneSource implements ZoneSource {
  readonly zone: string;
  readonly secondary: SecondaryZone;
  private leaveNotify: (() => Promise<void>) | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;

  constructor(private readonly spec: ZoneSpec, private readonly opts: { log: Log; onReload?: (zone: string, ok: boolean) => void }) {
    this.zone = spec.name;
    const log = opts.log;
    const logger: XfrLogger = {
      debug: () => undefined,
      info: (o, m) => log('info', m ?? '', { ...o, zone: spec.name }),
      warn: (o, m) => log('warn', m ?? '', { ...o, zone: spec.name }),
      error: (o, m) => log('error', m ?? '', { ...o, zone: spec.name }),
    };
    this.secondary = new SecondaryZone({
      zone: spec.name,
      primary: address(spec.primary ?? '', `primary of policy zone ${spec.name}`),
      key: spec.tsigKey,
      copyFile: spec.copyFile,
      logger,
      onUpdate: (u) => {
        // A full transfer held every record as an object before the zone was built, and the
        // replaced version is garbage too: give the memory back now, as a file reload does (gc.ts).
        if (u.kind === 'AXFR') setImmediate(collectGarbage);
        if (u.kind !== 'up-to-date') opts.onReload?.(spec.name, true);
        this.wake?.();
      },
    });
  }

  async start(target: ZoneTarget): Promise<void> {
    const primary = formatHostPort(this.secondary.primary);
    const log = this.opts.log;
    if (this.spec.notifyListen) {
      const listen = address(this.spec.notifyListen, `NOTIFY listen address of policy zone ${this.spec.name}`);
      const logger: XfrLogger = { debug: () => undefined, info: (o, m) => log('info', m ?? '', { ...o }), warn: (o, m) => log('warn', m ?? '', { ...o }), error: (o, m) => log('error', m ?? '', { ...o }) };
      try {
        this.leaveNotify = await joinNotify(listen, this.secondary, logger);
      } catch (err) {
        throw new SakimoriError('DNS_ZONE', `policy zone ${this.spec.name}: cannot take NOTIFY on ${formatHostPort(listen)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, {
          hint: 'pick a free address for dns.notifyListen (or the zone\'s notifyListen)',
        });
      }
    }
    await this.secondary.start(target);
    let failed = -1;
    while (this.secondary.status().serial === undefined) {
      if (this.stopped) return;
      const st = this.secondary.status();
      if (st.transfers.failed !== failed) {
        failed = st.transfers.failed;
        log('error', `policy zone ${this.spec.name}: not answering DNS yet — waiting for the first transfer from ${primary}: ${st.lastError?.join('; ') ?? 'no answer'}; retrying`, { zone: this.spec.name, primary });
        this.opts.onReload?.(this.spec.name, false);
      }
      // A ref'd timer: while the first load is awaited nothing else may keep the process alive.
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 500);
      });
      this.wake = undefined;
    }
    const st = this.secondary.status();
    if (st.fromCopy) return;
    log('info', `policy zone ${this.spec.name} loaded from primary ${primary} by AXFR${this.spec.tsigKey ? ` (TSIG key ${this.spec.tsigKey.name})` : ''}: serial ${st.serial}, ${st.names ?? 0} names${this.spec.notifyListen ? `; NOTIFY taken on ${this.spec.notifyListen}` : '; no NOTIFY listener: refreshed on the SOA timer only'}`, { zone: this.spec.name, primary });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.secondary.stop();
    await this.leaveNotify?.();
    this.leaveNotify = undefined;
  }

  status(): ZoneSourceStatus {
    const { zone, source, loadedAt, names, serial, reloads, lastError, expired, fromCopy } = this.secondary.status();
    return { zone, source, reloads, ...(loadedAt ? { loadedAt } : {}), ...(names !== undefined ? { names } : {}), ...(serial !== undefined ? { serial } : {}), ...(lastError ? { lastError } : {}), expired, fromCopy };
  }
}

/**
 * The policy engine with its zones in order (the allow list first, whatever its place),
 * each kept current by its source.
 */
export class ZoneSet {
  readonly engine = new PolicyEngine();
  private readonly kinds = new Map<string, ZoneKind>();

  /**
   * `dynamic`: zones no source loads (the dns-abuse zone DNS detection writes into), after
   * the sourced zones, so a C&C listing is never hidden by their PASSTHRU exceptions; the
   * allow list still comes first.
   */
  constructor(
    private readonly entries: readonly { spec: Pick<ZoneSpec, 'name' | 'kind'>; source: ZoneSource }[],
    dynamic: readonly { zone: RpzZone; kind: ZoneKind }[] = [],
  ) {
    const zones: RpzZone[] = [];
    let allow: RpzZone | undefined;
    for (const { spec } of entries) {
      // Empty zones until the sources load them, so the order is fixed from the start.
      const z = new RpzZone(spec.name);
      if (this.kinds.has(z.name)) throw new SakimoriError('DNS_ZONE', `policy zone ${z.name} is configured twice`, { hint: 'give each dns.zones entry its own name' });
      if (spec.kind === 'allow') {
        if (allow) throw new SakimoriError('DNS_ZONE', `two never-block (allow) lists: ${allow.name} and ${z.name}`, { hint: 'merge them into one file' });
        allow = z;
      } else zones.push(z);
      this.kinds.set(z.name, spec.kind);
    }
    for (const d of dynamic) {
      if (this.kinds.has(d.zone.name)) throw new SakimoriError('DNS_ZONE', `policy zone ${d.zone.name} is configured twice`, { hint: `${d.zone.name} is the zone DNS detection writes into: give the configured zone another name` });
      zones.push(d.zone);
      this.kinds.set(d.zone.name, d.kind);
    }
    this.engine.configure({ zones, ...(allow ? { allow } : {}) });
  }

  /** Every zone's kind, by canonical name (the data plane's `zoneKinds`). */
  get zoneKinds(): ReadonlyMap<string, ZoneKind> {
    return this.kinds;
  }

  async start(): Promise<void> {
    for (const { source } of this.entries) {
      const engine = this.engine;
      await source.start({
        replace: (zone) => void engine.replaceZone(zone),
        get current() {
          return engine.zone(source.zone);
        },
        apply: (change) => {
          const z = this.engine.zone(source.zone);
          if (!z) return { ok: false, errors: [`zone ${source.zone} is not configured`], warnings: [] };
          return z.apply(change);
        },
      });
    }
  }

  async stop(): Promise<void> {
    for (const { source } of this.entries) await source.stop();
  }

  source(zone: string): ZoneSource | undefined {
    return this.entries.find((e) => e.source.zone === zone)?.source;
  }

  kindOf(zone: string): ZoneKind | undefined {
    return this.kinds.get(zone);
  }

  status(): ZoneSourceStatus[] {
    return this.entries.map((e) => e.source.status());
  }
}

/**
 * A zone spec for `--rpz FILE`: the name from the file's $ORIGIN (or its SOA owner), else
 * the file name without its extension; the kind from the name's first label (allow...,
 * malware..., dns-abuse... / abuse...; anything else is a C&C list).
 */
export async function zoneSpecFromFile(file: string, format: 'rpz' | 'list' = 'rpz'): Promise<ZoneSpec> {
  let name: string | undefined;
  if (format === 'rpz') {
    let head = '';
    try {
      const fh = await open(file, 'r');
      try {
        const b = Buffer.alloc(16384);
        const { bytesRead } = await fh.read(b, 0, b.length, 0);
        head = b.toString('latin1', 0, bytesRead);
      } finally {
        await fh.close();
      }
    } catch (err) {
      throw new SakimoriError('DNS_ZONE', `cannot read policy zone file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { hint: 'check the path given to --rpz' });
    }
    const origin = /^\$ORIGIN\s+(\S+)/m.exec(head)?.[1] ?? /^(\S+?)\.?\s+(?:\d+\s+)?(?:IN\s+)?SOA\s/im.exec(head)?.[1];
    if (origin && origin !== '@') name = origin.replace(/\.$/, '');
  }
  name ??= basename(file).replace(/\.(rpz|zone|db|txt|list)$/i, '');
  return { name, file, kind: kindOfZoneName(name), format };
}

/** A zone's kind from its name's first label: allow..., malware..., dns-abuse... / abuse...; else C&C. */
export function kindOfZoneName(name: string): ZoneKind {
  const first = name.toLowerCase().split('.')[0] ?? '';
  return first.startsWith('allow') ? 'allow' : first.startsWith('malware') ? 'malware-sites' : first.startsWith('dns-abuse') || first.startsWith('abuse') ? 'dns-abuse' : 'cc';
}

/**
 * A zone spec for `--rpz-primary NAME=ADDR:PORT[=KEY]` (the kind from the name, as for
 * files; KEY names the TSIG key, from tsig.keys or `--key`, as `dns.zones[].key` does).
 */
export function zoneSpecFromPrimary(option: string, notifyListen?: string): ZoneSpec {
  const hint = 'write --rpz-primary NAME=ADDR:PORT[=KEY], e.g. --rpz-primary cc.rpz.example.net=192.0.2.53:53=xfr-key';
  const eq = option.indexOf('=');
  const name = option.slice(0, Math.max(eq, 0)).trim().replace(/\.$/, '');
  if (eq <= 0 || name === '') throw new SakimoriError('BAD_OPTION', `--rpz-primary ${option} has no zone name`, { hint });
  // ADDR:PORT never holds "=" (IPv6 is written [::1]:53), so a second "=" starts the key's name.
  const rest = option.slice(eq + 1);
  const eq2 = rest.indexOf('=');
  const primary = eq2 < 0 ? rest : rest.slice(0, eq2);
  const key = eq2 < 0 ? undefined : rest.slice(eq2 + 1).trim();
  if (key === '') throw new SakimoriError('BAD_OPTION', `--rpz-primary ${option} ends in "=" without a key name`, { hint });
  address(primary, `--rpz-primary ${name}=`);
  return { name, file: '', primary, kind: kindOfZoneName(name), format: 'rpz', ...(key ? { key } : {}), ...(notifyListen ? { notifyListen } : {}) };
}
