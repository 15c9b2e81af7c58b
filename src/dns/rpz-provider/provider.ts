/**
 * The RPZ provider: serves policy zones from their files to the ISP's resolvers (BIND,
 * Unbound, PowerDNS) by AXFR and IXFR, and sends them NOTIFY when a zone changes.
 *
 * The zone file is the source of truth for a zone's content; the store keeps the journal
 * of differences between versions. A zone changes when its file does (`rpz add`, an
 * operator's editor, a feed): the provider checks the file every `watchIntervalMs` and
 * at once when `dns.policy-changed` names the zone on the bus, reads it, and when the
 * serial went up, diffs the versions, journals the difference, swaps the new version in
 * (transfers in progress finish on the version they started with) and notifies. A file
 * that does not read, or changed without a serial increase, is refused with the reason;
 * the version in force stays.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { Counter, Gauge, type Registry } from '../../telemetry/index.ts';
import { SakimoriError, formatHostPort, systemClock, type Clock, type Endpoint, type HostPort, type Part, type PartHealth } from '../../core/index.ts';
import type { Bus, Subscription } from '../../bus/index.ts';
import { normalizeName } from '../wire/index.ts';
import { sendNotify, serialCompare, type NotifyResult, type TsigKey, type XfrLogger } from '../zone-transfer/index.ts';
import { formatProblem, watchZoneFile } from '../policy/index.ts';
import { entrySerials, Journal, JournalStore, MAX_JOURNALED_RECORDS, type JournalEntry } from './journal.ts';
import { fileStamp, lockHeld, lockPath, readEditState, statePath } from './edit.ts';
import { RpzServer, type TransferAllow, type TransferEvent } from './server.ts';
import type { ServedZone } from './responder.ts';
import { diffSize, readZoneContent, type ZoneContent } from './zone-content.ts';

/** The bus topic a zone change is announced on; data: { zone, serial? }. */
export const POLICY_CHANGED_TOPIC = 'dns.policy-changed';

const MISMATCH = 'a journaled step did not lead to the digest it names';

export interface ProvidedZone {
  name: string;
  file: string;
}

export interface RpzProviderOptions {
  listen: HostPort;
  zones: readonly ProvidedZone[];
  /** Secondaries told of every change (RFC 1996); with `key`, the NOTIFY is TSIG-signed. */
  notify?: readonly (HostPort & { key?: TsigKey | undefined })[];
  /** Prefixes that may transfer, each optionally with the TSIG key it must sign with. Default loopback only. */
  allowTransfer?: readonly TransferAllow[];
  /** TSIG keys by name (RFC 8945): signed requests are verified and answered signed. */
  keys?: ReadonlyMap<string, TsigKey>;
  /** Where differences are kept across restarts (and shared with `rpz add`). Without it, the journal lives in memory only. */
  journalStore?: JournalStore;
  bus?: Pick<Bus, 'subscribe'>;
  /** Durable consumer name on the bus (one per provider). Default "rpz-provider". */
  busConsumer?: string;
  logger: XfrLogger;
  clock?: Clock;
  /** How often zone files are checked for changes. Default 1 s. */
  watchIntervalMs?: number;
  /** NOTIFY tries after the first, and the first retry interval (doubling). Defaults 5 and 1 s. */
  notifyRetries?: number;
  notifyFirstIntervalMs?: number;
  /** Versions kept in the in-memory journal per zone. Default 200. */
  journalVersions?: number;
  registry?: Registry;
  maxMessageSize?: number;
  /** TCP connections open at once. Default 256. */
  maxConnections?: number;
}

interface ZoneState {
  readonly name: string;
  readonly file: string;
  served: ServedZone;
  fileStamp: string;
  /** Why the current file is not served (undefined when it is). */
  problem: string | undefined;
  /** Reloads of one zone run one after the other. */
  reloading: Promise<ReloadResult>;
  notifying: AbortController | undefined;
}

export type ReloadResult =
  | { result: 'unchanged' }
  | { result: 'updated'; fromSerial: number; serial: number; adds: number; deletes: number; journaled: boolean }
  | { result: 'refused'; reason: string };

export interface ProviderCounters {
  axfr: number;
  ixfrIncremental: number;
  ixfrFull: number;
  ixfrUpToDate: number;
  refused: number;
  notifiesAnswered: number;
  notifiesUnanswered: number;
  /** Zone files read whole after the start (a change not followed from the journal). */
  fileReads: number;
}

const stampOf = fileStamp;

async function loadContent(name: string, file: string): Promise<ZoneContent | { error: string }> {
  let text: string;
  try {
    text = await readFile(file, 'latin1');
  } catch (err) {
    return { error: `${file}: cannot read the zone file (${(err as Error).message})` };
  }
  const r = readZoneContent(text, { origin: normalizeName(name), file });
  return r.content ?? { error: r.errors.map(formatProblem).join('\n') };
}

export class RpzProvider implements Part {
  readonly name = 'rpz-provider';
  private readonly zones = new Map<string, ZoneState>();
  private server: RpzServer | undefined;
  private watchTimer: NodeJS.Timeout | undefined;
  private unwatch: (() => void)[] = [];
  private sub: Subscription | undefined;
  private readonly log: XfrLogger;
  private readonly clock: Clock;
  readonly counters: ProviderCounters = { axfr: 0, ixfrIncremental: 0, ixfrFull: 0, ixfrUpToDate: 0, refused: 0, notifiesAnswered: 0, notifiesUnanswered: 0, fileReads: 0 };
  private readonly pendingNotifies = new Set<Promise<unknown>>();
  private metrics: { transfers: Counter; notifies: Counter; refused: Counter; serial: Gauge } | undefined;
  /** Every NOTIFY round's results, newest last (tests and `rpz serve` logs). */
  readonly notifyLog: (NotifyResult & { zone: string; serial: number })[] = [];

  constructor(private readonly opts: RpzProviderOptions) {
    this.log = opts.logger;
    this.clock = opts.clock ?? systemClock;
    const names = new Set<string>();
    for (const z of opts.zones) {
      const n = normalizeName(z.name);
      if (names.has(n)) throw new SakimoriError('RPZ_ZONE_TWICE', `zone ${n} is listed twice`, { hint: 'give each zone once, NAME=FILE' });
      names.add(n);
    }
  }

  get address(): HostPort {
    if (!this.server) throw new Error('the RPZ provider is not started');
    return this.server.address;
  }

  /** The version served now (tests, `rpz serve` status). */
  zone(name: string): ServedZone | undefined {
    return this.zones.get(normalizeName(name))?.served;
  }

  async start(): Promise<void> {
    const problems: string[] = [];
    for (const z of this.opts.zones) {
      const name = normalizeName(z.name);
      // The stamp before the read: a change made while it reads is seen afterwards.
      const stamp = await stampOf(z.file).catch(() => '');
      const c = await loadContent(name, z.file);
      if ('error' in c) {
        problems.push(c.error);
        continue;
      }
      const journal = new Journal(this.opts.journalVersions ?? 200);
      if (this.opts.journalStore) {
        try {
          journal.load(await this.opts.journalStore.chainTo(name, c.serial, c.digest, this.opts.journalVersions ?? 200));
        } catch (err) {
          this.log.warn({ zone: name, err: (err as Error).message }, 'the saved journal could not be read; IXFR starts from this version');
        }
      }
      this.zones.set(name, { name, file: z.file, served: { content: c, journal }, fileStamp: stamp, problem: undefined, reloading: Promise.resolve({ result: 'unchanged' }), notifying: undefined });
      this.log.info({ zone: name, file: z.file, serial: c.serial, records: c.size, journal: journal.length }, `serving policy zone ${name}`);
    }
    if (problems.length > 0) {
      throw new SakimoriError('RPZ_ZONE_FILE', `the RPZ provider cannot serve these zone files:\n${problems.join('\n')}`, { hint: 'fix the lines named above (file:line), then start again' });
    }
    if (this.opts.registry) this.registerMetrics(this.opts.registry);
    const server = new RpzServer({
      listen: this.opts.listen,
      zone: (n) => this.zones.get(n)?.served,
      ...(this.opts.allowTransfer ? { allowTransfer: this.opts.allowTransfer } : {}),
      ...(this.opts.keys ? { keys: this.opts.keys } : {}),
      logger: this.log,
      onTransfer: (e) => this.countTransfer(e),
      onRefused: (reason) => {
        this.counters.refused++;
        this.metrics?.refused.inc({ reason });
      },
      ...(this.opts.maxMessageSize ? { maxMessageSize: this.opts.maxMessageSize } : {}),
      ...(this.opts.maxConnections ? { maxConnections: this.opts.maxConnections } : {}),
    });
    await server.start();
    this.server = server;
    for (const z of this.zones.values()) this.metrics?.serial.set({ zone: z.name }, z.served.content.serial);
    const every = this.opts.watchIntervalMs ?? 1000;
    this.watchTimer = setInterval(() => void this.checkFiles(), every);
    this.watchTimer.unref();
    // And at once when a file changes (the poll above stays for file systems without
    // notifications). `rpz add|remove` writes the zone, the journal and its state file
    // under a lock file: a file whose lock is held is left alone until the lock's removal
    // (checkFiles), so the in-place edit is taken from the journal, never read half-way.
    for (const z of this.zones.values()) {
      const check = () => void this.checkFiles();
      this.unwatch.push(watchZoneFile(z.file, 20, check, (m) => this.log.warn({ zone: z.name }, m), [basename(statePath(z.file)), basename(lockPath(z.file))]));
    }
    if (this.opts.bus) {
      this.sub = await this.opts.bus.subscribe<{ zone?: string }>(POLICY_CHANGED_TOPIC, { durable: this.opts.busConsumer ?? 'rpz-provider', from: 'new' }, async (m) => {
        const zone = typeof m.data?.zone === 'string' ? normalizeName(m.data.zone) : undefined;
        if (zone && this.zones.has(zone)) await this.reload(zone);
      });
    }
    // Secondaries that missed changes while we were down hear of them now (as BIND does at start).
    for (const z of this.zones.values()) this.notifyZone(z);
  }

  async stop(): Promise<void> {
    clearInterval(this.watchTimer);
    this.watchTimer = undefined;
    for (const u of this.unwatch.splice(0)) u();
    await this.sub?.close();
    this.sub = undefined;
    for (const z of this.zones.values()) z.notifying?.abort();
    await Promise.allSettled([...this.pendingNotifies]);
    await Promise.allSettled([...this.zones.values()].map((z) => z.reloading));
    await this.server?.stop();
    this.server = undefined;
  }

  async health(): Promise<PartHealth> {
    const zones = [...this.zones.values()].map((z) => ({ zone: z.name, serial: z.served.content.serial, records: z.served.content.size, journal: z.served.journal.length, ...(z.problem ? { problem: z.problem } : {}) }));
    const status = !this.server ? 'down' : zones.some((z) => z.problem) ? 'degraded' : 'ok';
    return { status, detail: { listen: this.server ? formatHostPort(this.server.address) : undefined, zones, counters: { ...this.counters } } };
  }

  endpoints(): Endpoint[] {
    if (!this.server) return [];
    return [{ label: 'RPZ provider (AXFR/IXFR, UDP+TCP)', url: `dns://${formatHostPort(this.server.address)} (${[...this.zones.keys()].join(', ')})` }];
  }

  private async checkFiles(): Promise<void> {
    for (const z of this.zones.values()) {
      // `rpz add|remove` is writing it: taken when its lock goes (the watch), from the
      // journal; read now, half-edited, the file would not match the edit's state and be
      // read whole (minutes at 10 M names).
      if (await lockHeld(z.file)) continue;
      let stamp: string;
      try {
        stamp = await stampOf(z.file);
      } catch {
        continue; // renamed away for a moment, or removed: the version in force stays
      }
      if (stamp !== z.fileStamp) await this.reload(z.name);
    }
  }

  /** Re-reads a zone's file now; serialised per zone. */
  reload(zone: string): Promise<ReloadResult> {
    const z = this.zones.get(normalizeName(zone));
    if (!z) return Promise.resolve({ result: 'refused', reason: `zone ${zone} is not served here` });
    z.reloading = z.reloading.then(() => this.reloadNow(z)).catch((err: unknown) => {
      const reason = (err as Error).message;
      this.log.error({ zone: z.name, err: reason }, 'zone reload failed');
      return { result: 'refused', reason } as ReloadResult;
    });
    return z.reloading;
  }

  private async reloadNow(z: ZoneState): Promise<ReloadResult> {
    let stamp: string;
    try {
      stamp = await stampOf(z.file);
    } catch (err) {
      return { result: 'refused', reason: (err as Error).message };
    }
    // Taken already: the poll, the watch and the bus each queue a reload for one change.
    if (stamp === z.fileStamp) return z.problem ? { result: 'refused', reason: z.problem } : { result: 'unchanged' };
    // An edit holds the lock (a reload the bus asked for, or one queued before the edit
    // began): what it writes is taken from the journal when the lock goes (the watch).
    if (await lockHeld(z.file)) return { result: 'unchanged' };
    const followed = await this.followJournal(z, stamp);
    if (typeof followed !== 'string') return followed;
    this.counters.fileReads++;
    this.log.info({ zone: z.name, file: z.file, why: followed }, `reading zone file ${z.file} whole`);
    const next = await loadContent(z.name, z.file);
    // Written to while we read it (an editor or a script writing in place, which the
    // directory watch can catch half-way): not taken; the write's own change event, or the
    // poll, reads it again once it is whole. Renamed into place, a file never shows this.
    const after = await stampOf(z.file).catch(() => undefined);
    if (after !== stamp) return { result: 'unchanged' };
    const refuse = (reason: string): ReloadResult => {
      z.fileStamp = stamp;
      if (z.problem !== reason) this.log.error({ zone: z.name, file: z.file, serial: z.served.content.serial }, `zone file not taken, serial ${z.served.content.serial} stays in force:\n${reason}`);
      z.problem = reason;
      return { result: 'refused', reason };
    };
    if ('error' in next) return refuse(next.error);
    const cur = z.served.content;
    z.fileStamp = stamp;
    if (next.sameAs(cur)) {
      z.problem = undefined;
      return { result: 'unchanged' };
    }
    if (serialCompare(next.serial, cur.serial) !== 1) {
      return refuse(`${z.file}: the zone changed but its SOA serial ${next.serial} is not greater than ${cur.serial} (RFC 1982), so secondaries would never fetch it: increase the serial (\`sakimori rpz add\` does)`);
    }
    z.problem = undefined;
    const diff = cur.diffTo(next);
    const entry: JournalEntry = { zone: z.name, ...diff, fromDigest: cur.digest, toDigest: next.digest, actor: 'file', at: this.clock.now() };
    // After a journal mismatch the version in memory is not one any secondary holds.
    const journaled = followed !== MISMATCH && diffSize(diff) <= MAX_JOURNALED_RECORDS;
    const journal = z.served.journal;
    if (journaled) journal.push(entry);
    else journal.reset();
    if (journaled && this.opts.journalStore) {
      try {
        await this.opts.journalStore.append(entry);
      } catch (err) {
        this.log.warn({ zone: z.name, err: (err as Error).message }, 'the journal entry could not be saved; IXFR works until restart');
      }
    }
    z.served = { content: next, journal };
    this.metrics?.serial.set({ zone: z.name }, next.serial);
    const r: ReloadResult = { result: 'updated', fromSerial: cur.serial, serial: next.serial, adds: diff.adds.length, deletes: diff.deletes.length, journaled };
    this.log.info({ zone: z.name, ...r }, `policy zone ${z.name} now at serial ${next.serial}`);
    this.notifyZone(z);
    return r;
  }

  /**
   * A file changed by `rpz add|remove` (edit.ts): when the file is the one its state file
   * describes and the store's journal leads from the version served to it, the
   * differences are applied to the served version in place — no re-read of a million-name
   * file, and IXFR serves them at once. When the state says the file is the version
   * served, nothing is read either. Otherwise, why the file must be read whole. Each step
   * is checked against the digest journaled for it; a mismatch (MISMATCH) drops the
   * in-memory journal and the file is read whole.
   */
  private async followJournal(z: ZoneState, stamp: string): Promise<ReloadResult | string> {
    const store = this.opts.journalStore;
    if (!store) return 'no journal store';
    const st = await readEditState(z.file);
    if (!st) return 'no state file from rpz add|remove';
    if (st.stamp !== stamp) return 'changed since the last rpz add|remove (its state file names another inode/size/mtime)';
    const cur = z.served.content;
    if (st.serial === cur.serial && st.digest === cur.digest) {
      z.fileStamp = stamp;
      z.problem = undefined;
      return { result: 'unchanged' };
    }
    const chain = await store.chainTo(z.name, st.serial, st.digest, this.opts.journalVersions ?? 200);
    const first = chain.findIndex((e) => e.fromDigest === cur.digest && entrySerials(e).from === cur.serial);
    if (first < 0) return `no journaled steps lead from serial ${cur.serial} to the file's ${st.serial}`;
    const steps = chain.slice(first);
    const fromSerial = cur.serial;
    let adds = 0;
    let deletes = 0;
    for (const e of steps) {
      cur.apply(e);
      if (cur.digest !== e.toDigest) {
        this.log.warn({ zone: z.name, serial: cur.serial }, 'a journaled change did not lead to the version it names; reading the zone file whole');
        z.served.journal.reset();
        return MISMATCH;
      }
      z.served.journal.push(e);
      adds += e.adds.length;
      deletes += e.deletes.length;
    }
    z.fileStamp = stamp;
    z.problem = undefined;
    this.metrics?.serial.set({ zone: z.name }, cur.serial);
    const r: ReloadResult = { result: 'updated', fromSerial, serial: cur.serial, adds, deletes, journaled: true };
    this.log.info({ zone: z.name, ...r, steps: steps.length }, `policy zone ${z.name} now at serial ${cur.serial} (from the journal)`);
    this.notifyZone(z);
    return r;
  }

  /** NOTIFY every configured secondary of the zone's current serial; a newer round cancels the older one. */
  private notifyZone(z: ZoneState): void {
    const targets = this.opts.notify ?? [];
    if (targets.length === 0 || !this.server) return;
    z.notifying?.abort();
    const ac = new AbortController();
    z.notifying = ac;
    const soa = z.served.content.soa;
    const serial = z.served.content.serial;
    for (const t of targets) {
      const p = sendNotify(t, z.name, soa, { retries: this.opts.notifyRetries ?? 5, firstIntervalMs: this.opts.notifyFirstIntervalMs ?? 1000, signal: ac.signal, ...(t.key ? { key: t.key } : {}) }).then((r) => {
        this.notifyLog.push({ ...r, zone: z.name, serial });
        if (this.notifyLog.length > 1000) this.notifyLog.splice(0, 500);
        if (r.answered && r.error) {
          this.counters.notifiesAnswered++;
          this.metrics?.notifies.inc({ result: 'answered' });
          this.log.warn({ zone: z.name, serial, target: r.target, attempts: r.attempts, rcode: r.rcode, err: r.error }, 'NOTIFY answered, but not as it should be');
        } else if (r.answered) {
          this.counters.notifiesAnswered++;
          this.metrics?.notifies.inc({ result: 'answered' });
          this.log.info({ zone: z.name, serial, target: r.target, attempts: r.attempts, rcode: r.rcode }, 'NOTIFY answered');
        } else if (!ac.signal.aborted) {
          this.counters.notifiesUnanswered++;
          this.metrics?.notifies.inc({ result: 'unanswered' });
          this.log.warn({ zone: z.name, serial, target: r.target, attempts: r.attempts, err: r.error }, 'NOTIFY not answered; the secondary will find the change at its next SOA refresh');
        }
      });
      this.pendingNotifies.add(p);
      void p.finally(() => this.pendingNotifies.delete(p));
    }
  }

  private countTransfer(e: TransferEvent): void {
    if (e.type === 'AXFR') this.counters.axfr++;
    else if (e.style === 'incremental') this.counters.ixfrIncremental++;
    else if (e.style === 'full') this.counters.ixfrFull++;
    else this.counters.ixfrUpToDate++;
    this.metrics?.transfers.inc({ zone: e.zone, type: e.type, style: e.style });
  }

  private registerMetrics(registry: Registry): void {
    const m = {
      transfers: new Counter({ name: 'sakimori_rpz_transfers_total', help: 'Zone transfers served, by zone, request type and answer style (full, incremental, up-to-date, use-tcp)', labelNames: ['zone', 'type', 'style'], registers: [registry] }),
      notifies: new Counter({ name: 'sakimori_rpz_notifies_total', help: 'NOTIFY messages to secondaries, by outcome', labelNames: ['result'], registers: [registry] }),
      refused: new Counter({ name: 'sakimori_rpz_requests_refused_total', help: 'Requests refused or malformed, by reason', labelNames: ['reason'], registers: [registry] }),
      serial: new Gauge({ name: 'sakimori_rpz_zone_serial', help: 'SOA serial served, by zone', labelNames: ['zone'], registers: [registry] }),
    };
    this.metrics = m;
  }
}
