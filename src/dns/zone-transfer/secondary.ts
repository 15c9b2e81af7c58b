/**
 * A policy zone pulled from a primary (the firewall's "zones from a primary"): AXFR at
 * first, then IXFR when a NOTIFY comes and when the SOA refresh timer runs out (retry
 * timer after a failure, RFC 1034 §4.3.5), each change handed to the policy engine:
 * a full transfer as a new zone (`target.replace`), differences through `target.apply`
 * (RpzZone.apply) one version at a time. A transfer that cannot be applied leaves the
 * policy as it was and is followed by a full transfer.
 *
 * It has the shape of the DNS server's ZoneSource (start(target), stop(), status()), so the
 * firewall's ZoneSet runs it like a file source; `engineTarget(engine, zone)` adapts a bare
 * PolicyEngine.
 *
 * When the primary stays unreachable past the SOA expire time the zone is marked expired
 * and logged, but its policy stays in force: for a firewall, silently dropping every
 * block because the feed is down is the worse failure (BIND would stop serving it).
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { formatHostPort, systemClock, type Clock, type HostPort } from '../../core/index.ts';
import { RCode, normalizeName } from '../wire/index.ts';
import { RpzZone, type ApplyResult, type PolicyEngine, type ZoneChange, type ZoneRecord } from '../policy/index.ts';
import { requestTransfer, TransferError, type TransferRequest, type TransferResult } from './client.ts';
import { serialCompare } from './serial.ts';
import { soaSerial, type XfrDiff } from './xfr.ts';
import type { NotifyReceiver } from './notify.ts';
import type { TsigKey } from './tsig.ts';
import { readZoneCopy, touchZoneCopy, writeZoneCopy } from './zone-copy.ts';

/** Where pulled zones go (the DNS server's ZoneTarget has this shape). */
export interface PolicyZoneTarget {
  /** Swaps in a whole new version of the zone. */
  replace(zone: RpzZone): void;
  /** Applies a change in place, atomically (RpzZone.apply). */
  apply(change: ZoneChange): ApplyResult;
}

/** A target over a PolicyEngine in which `zone` is configured. */
export function engineTarget(engine: Pick<PolicyEngine, 'replaceZone' | 'zone'>, zone: string): PolicyZoneTarget {
  return {
    replace: (z) => {
      if (!engine.replaceZone(z)) throw new TransferError(`zone ${z.name} is not configured in the policy engine, so the transferred zone has nowhere to go`);
    },
    apply: (change) => {
      const z = engine.zone(normalizeName(zone));
      return z ? z.apply(change) : { ok: false, errors: [`zone ${zone} is not configured in the policy engine`], warnings: [] };
    },
  };
}

/** pino's call shape, so the node's logger fits; tests pass a silent one. */
export interface XfrLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const quiet: XfrLogger = { debug() {}, info() {}, warn() {}, error() {} };

export interface ZoneUpdate {
  zone: string;
  primary: string;
  /** How the zone changed: a whole new zone, differences, or nothing new. */
  kind: 'AXFR' | 'IXFR' | 'up-to-date';
  fromSerial: number | undefined;
  serial: number;
  /** Records added plus deleted (IXFR), or records in the zone (AXFR). */
  records: number;
  ms: number;
}

export interface SecondaryZoneOptions {
  /** The policy zone's name, e.g. "cc.rpz.example". */
  zone: string;
  /** An address or a host name (resolved at start and before each refresh, for NOTIFY). */
  primary: HostPort;
  /** TSIG key (RFC 8945): requests are signed, answers must be, and so must its NOTIFY. */
  key?: TsigKey | undefined;
  logger?: XfrLogger;
  /**
   * When the first transfer fails, start() rejects (true) or resolves and keeps retrying
   * on the retry timer, the zone empty until the primary answers (false, the default: a
   * feed that is down for a moment should not keep the firewall from starting).
   */
  requireFirstTransfer?: boolean;
  clock?: Clock;
  /** Refresh and retry timers from the SOA are kept within these bounds. Defaults 5 s and 1 h. */
  minRefreshMs?: number;
  maxRefreshMs?: number;
  /** Per transfer: idle time allowed on the connection. Default 10 s. */
  timeoutMs?: number;
  /**
   * The local copy (like a BIND secondary's zone file): written atomically after each
   * transfer that changed the zone; at start, when there is no zone yet, loaded first, so a
   * restart with the primary down serves it (logged at warn) and asks for IXFR from its serial.
   */
  copyFile?: string | undefined;
  /**
   * Least time between two writes of the copy (changes in between are coalesced into the
   * next write; stop() writes at once). Writing a large zone costs CPU on the thread that
   * may answer DNS, so a burst of IXFRs is written once. Default 30 s.
   */
  copyIntervalMs?: number;
  /** Told after every successful refresh (metrics, logs, the bus). */
  onUpdate?: (u: ZoneUpdate) => void;
  /** The transfer function (tests replace it). Default requestTransfer. */
  transfer?: (primary: HostPort, req: TransferRequest) => Promise<TransferResult>;
}

/** The DNS server's ZoneSourceStatus fields, and the transfer details. */
export interface SecondaryStatus {
  zone: string;
  /** "primary 192.0.2.53:53" */
  source: string;
  /** ISO time the version in force was loaded (AXFR or IXFR). */
  loadedAt?: string;
  names?: number;
  serial?: number;
  /** Versions taken (AXFR and IXFR). */
  reloads: number;
  /** Why the last refresh failed, when it did. */
  lastError?: string[];
  primary: string;
  lastSuccessAt: number | undefined;
  lastAttemptAt: number | undefined;
  /** Past the SOA expire time without reaching the primary (the policy stays in force). */
  expired: boolean;
  /** The version in force came from the local copy and the primary has not answered since. */
  fromCopy: boolean;
  transfers: { axfr: number; ixfr: number; upToDate: number; failed: number };
}

export class SecondaryZone implements NotifyReceiver {
  readonly zone: string;
  readonly primary: HostPort;
  readonly key: TsigKey | undefined;
  /** The primary's addresses (its host name resolved), NOTIFY is taken from these. */
  primaryAddresses: readonly string[];
  private target: PolicyZoneTarget | undefined;
  /** The SOA of the version in force (undefined until the first transfer). */
  private soa: ZoneRecord | undefined;
  private current: RpzZone | undefined;
  private readonly log: XfrLogger;
  private readonly clock: Clock;
  private readonly minMs: number;
  private readonly maxMs: number;
  private readonly transfer: (primary: HostPort, req: TransferRequest) => Promise<TransferResult>;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private started = false;
  private lastOk = true;
  private expireMs: number | undefined;
  private copyDirty = false;
  private lastCopyAt = 0;
  /** Cuts the wait between two copy writes short (stop). */
  private copyWake: (() => void) | undefined;
  private copyWriting: Promise<void> | undefined;
  private readonly st: SecondaryStatus;

  constructor(private readonly opts: SecondaryZoneOptions) {
    this.zone = normalizeName(opts.zone);
    this.primary = opts.primary;
    this.key = opts.key;
    this.primaryAddresses = isIP(opts.primary.host) ? [opts.primary.host] : [];
    this.log = opts.logger ?? quiet;
    this.clock = opts.clock ?? systemClock;
    this.minMs = opts.minRefreshMs ?? 5000;
    this.maxMs = opts.maxRefreshMs ?? 3_600_000;
    this.transfer = opts.transfer ?? requestTransfer;
    this.st = {
      zone: this.zone,
      source: `primary ${formatHostPort(opts.primary)}`,
      reloads: 0,
      primary: formatHostPort(opts.primary),
      lastSuccessAt: undefined,
      lastAttemptAt: undefined,
      expired: false,
      fromCopy: false,
      transfers: { axfr: 0, ixfr: 0, upToDate: 0, failed: 0 },
    };
  }

  /** Starts pulling into `target`: the first transfer now, then the timers (see requireFirstTransfer). */
  async start(target: PolicyZoneTarget): Promise<void> {
    this.target = target;
    this.started = true;
    if (this.soa === undefined && this.opts.copyFile) this.loadCopy(this.opts.copyFile);
    await this.refresh();
    if (this.st.fromCopy) {
      this.log.warn({ zone: this.zone, primary: this.st.primary, serial: this.st.serial, copy: this.opts.copyFile, err: this.st.lastError?.join('; ') }, `the primary is unreachable; serving the local copy of ${this.zone} at serial ${this.st.serial} and retrying`);
    }
    if (this.soa === undefined && this.opts.requireFirstTransfer) {
      await this.stop();
      throw new TransferError(`policy zone ${this.zone}: the first transfer from ${this.st.primary} failed: ${this.st.lastError?.join('; ') ?? 'no reason given'}`);
    }
  }

  /** The zone as last transferred (tests, status pages); the policy engine holds the same object. */
  get zoneInForce(): RpzZone | undefined {
    return this.current;
  }

  async stop(): Promise<void> {
    this.started = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
    this.copyWake?.();
    await this.copyWritten();
  }

  /** A NOTIFY came: refresh now (a refresh in progress runs once more when it ends). */
  notify(serial?: number): void {
    this.log.debug({ zone: this.zone, serial, have: this.st.serial }, 'NOTIFY received; refreshing');
    void this.refresh();
  }

  status(): SecondaryStatus {
    return { ...this.st, transfers: { ...this.st.transfers }, ...(this.st.lastError ? { lastError: [...this.st.lastError] } : {}) };
  }

  /** One refresh now (coalesced with one in progress); resolves when it is done. */
  refresh(): Promise<void> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    clearTimeout(this.timer);
    this.running = (async () => {
      do {
        this.again = false;
        await this.refreshOnce();
      } while (this.again && this.started);
    })().finally(() => {
      this.running = undefined;
      this.schedule();
    });
    return this.running;
  }

  private schedule(): void {
    if (!this.started) return;
    const soa = this.soa;
    const secs = soa?.data.kind === 'SOA' ? (this.lastOk ? soa.data.refresh : soa.data.retry) : undefined;
    const ms = Math.min(this.maxMs, Math.max(this.minMs, secs === undefined ? this.minMs : secs * 1000));
    this.timer = setTimeout(() => void this.refresh(), ms);
    this.timer.unref();
  }

  /** Resolves a primary given by host name; the addresses NOTIFY is accepted from. Keeps the last answer when resolution fails. */
  private async resolvePrimary(): Promise<void> {
    if (isIP(this.primary.host)) return;
    try {
      const found = (await lookup(this.primary.host, { all: true })).map((a) => a.address);
      if (found.join(',') !== this.primaryAddresses.join(',')) this.log.info({ zone: this.zone, primary: this.st.primary, addresses: found }, 'primary host name resolved; NOTIFY is taken from these addresses');
      this.primaryAddresses = found;
    } catch (err) {
      this.log.warn({ zone: this.zone, primary: this.st.primary, err: (err as NodeJS.ErrnoException).code ?? (err as Error).message }, 'cannot resolve the primary\'s host name; NOTIFY is taken from the addresses found before, if any');
    }
  }

  /** Loads the local copy into the target; a missing copy is normal, a bad one is logged and ignored. */
  private loadCopy(file: string): void {
    const c = readZoneCopy(file, this.zone);
    if (c === undefined) return;
    if ('error' in c) {
      this.log.warn({ zone: this.zone, copy: file, err: c.error }, 'the local copy of the zone cannot be used; waiting for the primary');
      return;
    }
    try {
      this.install(c.soa, c.records);
    } catch (err) {
      this.log.warn({ zone: this.zone, copy: file, err: (err as Error).message }, 'the local copy of the zone cannot be used; waiting for the primary');
      return;
    }
    const serial = soaSerial(c.soa);
    this.st.serial = serial;
    this.st.fromCopy = true;
    this.st.loadedAt = new Date(this.clock.now()).toISOString();
    this.st.lastSuccessAt = c.lastContactAt;
    this.expireMs = c.soa.data.kind === 'SOA' ? c.soa.data.expire * 1000 : undefined;
    const zs = this.current?.stats();
    if (zs) this.st.names = zs.qname + zs.wildcard + zs.clientIp;
    if (this.expireMs !== undefined && this.clock.now() - c.lastContactAt > this.expireMs) this.markExpired(c.lastContactAt);
    this.log.info({ zone: this.zone, copy: file, serial, transferredAt: new Date(c.transferredAt).toISOString() }, `local copy of ${this.zone} loaded (serial ${serial})`);
  }

  private markExpired(since: number): void {
    if (this.st.expired) return;
    this.st.expired = true;
    this.log.error({ zone: this.zone, primary: this.st.primary, lastSuccessAt: new Date(since).toISOString() }, 'policy zone expired: the primary has not answered for longer than the SOA expire time; its last policy stays in force');
  }

  /** Writes the local copy after a change; writes are serialized, and a write behind a newer one is skipped. */
  private saveCopy(): void {
    const file = this.opts.copyFile;
    if (!file || !this.soa || !this.current) return;
    this.copyDirty = true;
    if (this.copyWriting) return;
    this.copyWriting = (async () => {
      while (this.copyDirty) {
        const wait = this.lastCopyAt + (this.opts.copyIntervalMs ?? 30_000) - Date.now();
        if (wait > 0 && this.started) {
          await new Promise<void>((resolve) => {
            this.copyWake = resolve;
            setTimeout(resolve, wait).unref();
          });
          this.copyWake = undefined;
        }
        this.copyDirty = false;
        this.lastCopyAt = Date.now();
        const soa = this.soa!;
        const zone = this.current!;
        try {
          // A change during the write abandons it (copyDirty is set again); the loop writes the newer version.
          const done = await writeZoneCopy(file, { zone: this.zone, primary: this.st.primary, soa, records: zone.records(), transferredAt: this.st.lastSuccessAt ?? this.clock.now() }, () => this.copyDirty);
          if (done) this.log.debug({ zone: this.zone, copy: file, serial: soaSerial(soa) }, 'local copy written');
        } catch (err) {
          this.log.warn({ zone: this.zone, copy: file, err: (err as Error).message }, 'cannot write the local copy of the zone; a restart with the primary down will have to wait for it');
        }
      }
    })().finally(() => {
      this.copyWriting = undefined;
    });
  }

  /** Resolves when the local copy on disk is current (tests, stop). */
  async copyWritten(): Promise<void> {
    while (this.copyWriting) await this.copyWriting;
  }

  private async refreshOnce(): Promise<void> {
    await this.resolvePrimary();
    const t0 = this.clock.now();
    this.st.lastAttemptAt = t0;
    const soa = this.soa;
    const fromSerial = soa ? soaSerial(soa) : undefined;
    try {
      let r: TransferResult;
      if (soa) {
        try {
          r = await this.transfer(this.primary, { zone: this.zone, type: 'IXFR', soa, ...(this.opts.timeoutMs ? { timeoutMs: this.opts.timeoutMs } : {}), ...(this.key ? { key: this.key } : {}) });
        } catch (err) {
          // A primary without IXFR says NOTIMP or FORMERR (RFC 1995 §2): fall back to AXFR.
          if (!(err instanceof TransferError && (err.rcode === RCode.NOTIMP || err.rcode === RCode.FORMERR))) throw err;
          this.log.info({ zone: this.zone, primary: this.st.primary }, 'the primary does not do IXFR; asking for AXFR');
          r = await this.axfr();
        }
      } else {
        r = await this.axfr();
      }
      let kind: ZoneUpdate['kind'];
      let records = r.records;
      const o = r.outcome;
      if (o.kind === 'up-to-date') {
        kind = 'up-to-date';
        if (fromSerial !== undefined && serialCompare(soaSerial(o.soa), fromSerial) === -1) {
          this.log.warn({ zone: this.zone, primary: this.st.primary, ours: fromSerial, theirs: soaSerial(o.soa) }, 'the primary has an older serial than ours; keeping ours');
        }
      } else if (o.kind === 'incremental') {
        const applied = this.applyDiffs(o.diffs);
        if (applied === true) {
          kind = 'IXFR';
          records = o.diffs.reduce((n, d) => n + d.adds.length + d.deletes.length, 0);
        } else {
          this.log.warn({ zone: this.zone, primary: this.st.primary, reason: applied }, 'IXFR could not be applied; asking for the whole zone');
          const full = await this.axfr();
          if (full.outcome.kind !== 'full') throw new TransferError(`AXFR of ${this.zone} did not return a zone`);
          this.install(full.outcome.soa, full.outcome.records);
          kind = 'AXFR';
          records = full.outcome.records.length;
        }
      } else {
        this.install(o.soa, o.records);
        kind = 'AXFR';
        records = o.records.length;
      }
      if (kind === 'AXFR') this.st.transfers.axfr++;
      else if (kind === 'IXFR') this.st.transfers.ixfr++;
      else this.st.transfers.upToDate++;
      const now = this.clock.now();
      const cur = this.soa;
      if (cur) this.st.serial = soaSerial(cur);
      this.st.lastSuccessAt = now;
      delete this.st.lastError;
      if (kind !== 'up-to-date') {
        this.st.reloads++;
        this.st.loadedAt = new Date(now).toISOString();
        const zs = this.current?.stats();
        if (zs) this.st.names = zs.qname + zs.wildcard + zs.clientIp;
      }
      this.st.expired = false;
      this.st.fromCopy = false;
      this.expireMs = cur?.data.kind === 'SOA' ? cur.data.expire * 1000 : undefined;
      this.lastOk = true;
      if (kind !== 'up-to-date') this.saveCopy();
      // After a write still in progress (its rename would carry an older time), never instead of it.
      else if (this.opts.copyFile) {
        const file = this.opts.copyFile;
        void this.copyWritten().then(() => touchZoneCopy(file, now));
      }
      const u: ZoneUpdate = { zone: this.zone, primary: this.st.primary, kind, fromSerial, serial: cur ? soaSerial(cur) : 0, records, ms: now - t0 };
      if (kind !== 'up-to-date') this.log.info({ ...u }, `policy zone ${this.zone} updated by ${kind}`);
      this.opts.onUpdate?.(u);
    } catch (err) {
      this.lastOk = false;
      this.st.transfers.failed++;
      const message = err instanceof Error ? err.message : String(err);
      this.st.lastError = [message];
      this.log.warn({ zone: this.zone, primary: this.st.primary, err: message }, 'zone refresh failed; the policy in force is kept');
      const since = this.st.lastSuccessAt;
      if (since !== undefined && this.expireMs !== undefined && this.clock.now() - since > this.expireMs) this.markExpired(since);
    }
  }

  private axfr(): Promise<TransferResult> {
    return this.transfer(this.primary, { zone: this.zone, type: 'AXFR', ...(this.opts.timeoutMs ? { timeoutMs: this.opts.timeoutMs } : {}), ...(this.key ? { key: this.key } : {}) });
  }

  /** Applies the differences version by version; true, or why not (the zone is then left at the last version applied). */
  private applyDiffs(diffs: readonly XfrDiff[]): true | string {
    const target = this.target;
    if (!target) return 'not started';
    for (const d of diffs) {
      if (soaSerial(this.soa!) !== soaSerial(d.from)) return `a difference starts at serial ${soaSerial(d.from)} but the zone is at ${soaSerial(this.soa!)}`;
      const r = target.apply({ deleteRecords: [d.from, ...d.deletes], addRecords: [d.to, ...d.adds] });
      if (!r.ok) return r.errors.slice(0, 5).join('; ');
      this.soa = d.to;
      if (r.warnings.length > 0) this.log.debug({ zone: this.zone, warnings: r.warnings.slice(0, 10), count: r.warnings.length }, 'IXFR warnings');
    }
    return true;
  }

  /** Builds the zone from a full transfer and swaps it in, or throws and leaves the old one. */
  private install(soa: ZoneRecord, records: readonly ZoneRecord[]): void {
    const z = new RpzZone(this.zone, { expectedNames: records.length });
    const errors: string[] = [];
    let warnings = 0;
    for (const r of [soa, ...records]) {
      const issue = z.addRecord(r);
      if (!issue) continue;
      if (issue.severity === 'error') errors.push(issue.message);
      else warnings++;
    }
    if (errors.length > 0) throw new TransferError(`the zone from the primary has ${errors.length} bad record(s), e.g. ${errors.slice(0, 3).join('; ')}; the policy in force is kept`);
    if (warnings > 0) this.log.debug({ zone: this.zone, warnings }, 'records ignored in the transferred zone');
    z.trim();
    if (!this.target) throw new TransferError('not started');
    this.target.replace(z);
    this.current = z;
    this.soa = soa;
  }
}
