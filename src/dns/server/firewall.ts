/**
 * The DNS firewall as a node part (R1, R4): the data plane, its policy zones (kept
 * current by their sources), opt-out by consent, the block-event log, observations for
 * the cases pipeline, metrics and the events API.
 *
 * Opt-out (R1) takes effect at once: in this process through ConsentRegistry.onChange,
 * and from other processes (`sakimori consent optout` in another shell, a portal on
 * another node) by polling consent_state twice a second — one cheap aggregate query on a
 * table of one row per subject, which works on SQLite with the in-process bus as well as
 * on PostgreSQL + NATS.
 */
import type { FastifyInstance } from 'fastify';
import { DnsDetection, type DetectOptionsInput } from '../detect/index.ts';
import { NO_MATCH, RpzZone, type ZoneChange } from '../policy/index.ts';
import { ObservedReplay } from './observed.ts';
import { DetectionLog, detectionRoutes, registerDetectionMetrics } from './detections.ts';
import { formatHostPort, isPurpose, makeObservation, SakimoriError, type Clock, type Endpoint, type HostPort, type IpPrefix, type Part, type PartHealth, type Purpose } from '../../core/index.ts';
import type { AuditLog } from '../../privacy/index.ts';
import type { Store } from '../../store/index.ts';
import type { Logger, Registry } from '../../telemetry/index.ts';
import { DataPlane, type BlockEvent, type ListenSpec } from './data-plane.ts';
import { eventsOf } from './event-buffer.ts';
import { BlockEventLog, type BlockEventRecord } from './events.ts';
import { registerDnsMetrics } from './metrics.ts';
import { FileZoneSource, watchZoneFile, zoneSource, ZoneSet, type ZoneKind, type ZoneSource, type ZoneSourceStatus, type ZoneSpec } from './zones.ts';
import { WorkerPlane } from './worker-plane.ts';
import type { StatsSnapshot } from './stats.ts';

export const OBSERVATIONS_TOPIC = 'observations';

/**
 * The dynamic dns-abuse zone DNS detection writes its mitigations into: no file reloads
 * it, it comes after every configured zone and behind the never-block (allow) list.
 */
export const DETECTION_ZONE = 'dns-abuse.detect.invalid';

export interface DnsFirewallOptions {
  listen: readonly HostPort[];
  /** Listeners answered without any policy: the "use another resolver" opt-out (R1). */
  unfilteredListen?: readonly HostPort[];
  upstreams: readonly HostPort[];
  upstreamTimeoutMs?: number;
  upstreamDownAfter?: number;
  probeIntervalMs?: number;
  tcpIdleMs?: number;
  /** Policy zones from files, in order. */
  zones?: readonly ZoneSpec[];
  /** Zones from other sources (the RPZ client's AXFR/IXFR), after the file zones. */
  sources?: readonly { spec: { name: string; kind: ZoneKind }; source: ZoneSource }[];
  eventFlushIntervalMs?: number;
  maxBufferedEvents?: number;
  /** At most one observation per (client, list) in this time. Default 5 min. */
  observationIntervalMs?: number;
  /** This node's name, in the observations' source. */
  nodeName?: string;
  /** Debounce of file reloads. */
  reloadDebounceMs?: number;
  /**
   * 0: the data plane runs on this thread. N > 0: N worker threads answer DNS, reading
   * the zones this thread loads once (shared memory) — from files, from primaries (this
   * thread is the secondary) and from `sources` — while this thread keeps the store and
   * the API.
   */
  threads?: number;
  /**
   * DNS detection (dns/detect, issue 5): defaults (PRSD mitigation on, amplification
   * proposed, infected-client Observations on) when left out; false: off.
   */
  detect?: DetectOptionsInput | false;
}

/** The small ports the firewall needs from the platform. */
export interface DnsFirewallDeps {
  store: Store;
  audit: AuditLog;
  consent?: { clientOptOuts(): Promise<IpPrefix[]>; onChange(listener: () => void): () => void };
  bus?: { publish(topic: string, data: unknown): Promise<unknown> };
  registry?: Registry;
  logger: Logger;
  clock: Clock;
}

export function purposeOfKind(kind: ZoneKind | undefined): Purpose {
  return kind === 'dns-abuse' ? 'dns-abuse-mitigation' : 'cc-blocking';
}

export class DnsFirewall implements Part {
  readonly name = 'dns';
  /** The data plane on this thread (threads: 0). */
  readonly plane: DataPlane | undefined;
  /** The policy zones on this thread (threads: 0). */
  readonly zones: ZoneSet | undefined;
  /** The data-plane worker threads (threads > 0). */
  readonly pool: WorkerPlane | undefined;
  private readonly kinds = new Map<string, ZoneKind>();
  private readonly unwatch: (() => void)[] = [];
  readonly events: BlockEventLog;
  private readonly reloads = new Map<string, { ok: number; failed: number }>();
  /** list -> client -> when the last observation was published. */
  private readonly lastObserved = new Map<string, Map<string, number>>();
  private observedClients = 0;
  private stopConsent: (() => void) | undefined;
  private consentTimer: NodeJS.Timeout | undefined;
  private consentMark = '';
  private consentError: string | undefined;
  private running = false;
  /** DNS detection (one, on this thread, fed by every data-plane thread). */
  readonly detection: DnsDetection | undefined;
  /** The dynamic dns-abuse zone (threads: 0), or this thread's copy of the workers' ones. */
  private readonly abuse: RpzZone | undefined;
  /** The detections, written through to the store for the CLI, the API and the console. */
  readonly detections: DetectionLog | undefined;
  /** threads > 0: drains the worker threads' detection events into `detection`. */
  private readonly replay: ObservedReplay | undefined;
  private readonly log: (level: 'info' | 'warn' | 'error', msg: string, detail?: Record<string, unknown>) => void;

  constructor(private readonly opts: DnsFirewallOptions, private readonly deps: DnsFirewallDeps) {
    if (opts.upstreams.length === 0) {
      throw new SakimoriError('DNS_NO_UPSTREAM', 'the DNS firewall has no upstream resolver to forward queries to', {
        hint: 'give one with --upstream ADDR:PORT (or dns.upstreams in the config), e.g. the ISP\'s recursive resolver',
      });
    }
    const logger = deps.logger.child({ part: 'dns' });
    this.log = (level, msg, detail) => logger[level](detail ?? {}, msg);
    const threads = opts.threads ?? 0;
    // threads > 0: the WorkerPlane runs the sources, on this thread, for its workers.
    const sources = threads > 0 ? [] : [
      ...(opts.zones ?? []).map((spec) => ({
        spec,
        source: zoneSource(spec, { log: this.log, debounceMs: opts.reloadDebounceMs ?? 150, onReload: (zone, ok) => this.countReload(zone, ok) }),
      })),
      ...(opts.sources ?? []),
    ];
    for (const spec of [...(opts.zones ?? []), ...(opts.sources ?? []).map((s) => s.spec)]) this.kinds.set(spec.name.toLowerCase().replace(/\.$/, ''), spec.kind);
    this.events = new BlockEventLog(deps.store, deps.audit, {
      purposeOf: (list) => purposeOfKind(this.kinds.get(list)),
      clock: deps.clock,
      log: this.log,
      ...(opts.eventFlushIntervalMs !== undefined ? { flushIntervalMs: opts.eventFlushIntervalMs } : {}),
      ...(opts.maxBufferedEvents !== undefined ? { maxBuffered: opts.maxBufferedEvents } : {}),
    });
    const plane = {
      upstreams: [...opts.upstreams],
      timeoutMs: opts.upstreamTimeoutMs ?? 1500,
      downAfter: opts.upstreamDownAfter ?? 3,
      probeIntervalMs: opts.probeIntervalMs ?? 1000,
      tcpIdleMs: opts.tcpIdleMs ?? 10_000,
    };
    const detect = opts.detect === false ? undefined : (opts.detect ?? {});
    const detecting = detect !== undefined && ((detect.prsd?.mode ?? 'on') !== 'off' || (detect.amplification?.mode ?? 'propose') !== 'off' || (detect.infection?.mode ?? 'on') !== 'off');
    this.abuse = detect !== undefined && detecting ? new RpzZone(DETECTION_ZONE) : undefined;
    if (this.abuse) this.kinds.set(this.abuse.name, 'dns-abuse');
    this.detection = this.abuse
      ? new DnsDetection(
          {
            clock: deps.clock,
            ...(deps.bus ? { bus: deps.bus } : {}),
            zone: threads > 0 ? { apply: (c) => this.applyAbuse(c) } : this.abuse,
            neverBlock: (fqdn) => this.neverBlock(fqdn),
            log: this.log,
            nodeName: opts.nodeName ?? 'node',
            onDetection: (d) => this.detections?.changed(d),
          },
          detect,
        )
      : undefined;
    this.detections = this.detection ? new DetectionLog(deps.store, deps.audit, { source: `dns@${opts.nodeName ?? 'node'}`, log: this.log }) : undefined;
    if (this.detection && deps.registry) registerDetectionMetrics(deps.registry, 'dns', this.detection);
    if (threads > 0) {
      this.plane = undefined;
      this.zones = undefined;
      const replay = (this.replay = this.detection ? new ObservedReplay(this.detection) : undefined);
      this.pool = new WorkerPlane(threads, { ...plane, zones: [...(opts.zones ?? [])], maxEventsPerSecond: Math.ceil(((opts.maxBufferedEvents ?? 2000) * 1000) / (opts.eventFlushIntervalMs ?? 1000) / threads), ...(this.abuse ? { detect: { zone: this.abuse.name, active: {} } } : {}) }, {
        ...(replay ? { observed: (b) => replay.replay(b) } : {}),
        events: (image, notKept) => {
          // Objects made here, not on the worker (the thread that answers queries).
          for (const e of eventsOf(image)) this.blocked(e, e.count);
          if (notKept > 0) this.events.lost(notKept);
        },
        log: this.log,
        reloaded: (zone, ok) => this.countReload(zone, ok),
      }, opts.sources ?? []);
    } else {
      this.pool = undefined;
      this.replay = undefined;
      this.zones = new ZoneSet(sources, this.abuse ? [{ zone: this.abuse, kind: 'dns-abuse' }] : []);
      this.plane = new DataPlane({ ...plane, onBlock: (e) => this.blocked(e, 1), log: this.log, now: () => deps.clock.now(), ...(this.detection ? { observer: this.detection, zoneKinds: this.zones.zoneKinds } : {}) });
    }
    if (deps.registry) {
      registerDnsMetrics(deps.registry, {
        snapshot: () => this.snapshot(),
        events: () => this.events.counts,
        reloads: () => [...this.reloads].map(([zone, r]) => ({ zone, ...r })),
        zoneNames: () => this.zoneStatus().map((s) => ({ zone: s.zone, names: s.names ?? 0 })),
      });
    }
  }

  async start(): Promise<void> {
    const specs: ListenSpec[] = [
      ...this.opts.listen.map((address) => ({ address, filtered: true })),
      ...(this.opts.unfilteredListen ?? []).map((address) => ({ address, filtered: false })),
    ];
    for (const s of specs) {
      for (const u of this.opts.upstreams) {
        if (s.address.port === u.port && s.address.host === u.host) {
          throw new SakimoriError('DNS_LOOP', `upstream ${formatHostPort(u)} is this firewall's own listener: queries would loop`, { hint: 'point dns.upstreams at the recursive resolver, not at Sakimori' });
        }
      }
    }
    let optOuts: IpPrefix[] = [];
    if (this.deps.consent) {
      optOuts = await this.deps.consent.clientOptOuts();
      this.consentMark = await this.consentVersion();
    }
    if (this.pool) {
      await this.pool.start(specs, optOuts);
      for (const z of this.opts.zones ?? []) {
        if (z.primary) continue;
        this.unwatch.push(watchZoneFile(z.file, this.opts.reloadDebounceMs ?? 150, () => void this.pool!.reload(z.name), (m) => this.log('warn', m, { zone: z.name })));
      }
    } else {
      await this.zones!.start();
      const plane = this.plane!;
      plane.setEngine(this.zones!.engine);
      plane.setOptOuts(optOuts);
      plane.start();
      try {
        await plane.listen(specs);
      } catch (err) {
        await plane.stop();
        await this.zones!.stop();
        throw err;
      }
    }
    if (this.deps.consent) {
      this.stopConsent = this.deps.consent.onChange(() => void this.refreshOptOuts());
      this.consentTimer = setInterval(() => void this.pollConsent(), 500);
      this.consentTimer.unref();
    }
    this.events.start();
    this.detections?.start();
    this.detection?.start();
    this.running = true;
    if (process.platform === 'linux' && process.env['MALLOC_MMAP_THRESHOLD_'] === undefined && (this.opts.zones?.length ?? 0) > 0) {
      // Measured (bench/dns.ts): without it glibc keeps a replaced zone's tables (tens of MB
      // per million names) in its heap after each reload, and RSS grows reload by reload.
      this.log('info', 'MALLOC_MMAP_THRESHOLD_ is not set: each zone reload may leave the replaced tables\' memory with the process; run the service with MALLOC_MMAP_THRESHOLD_=131072 (systemd: Environment=) to give it back to the system at once');
    }
    const zones = this.zoneStatus().map((z) => `${z.zone} (${z.names ?? 0} names)`).join(', ') || 'none';
    this.log('info', `DNS firewall listening on ${this.addresses.map((a) => `${formatHostPort(a.address)}${a.filtered ? '' : ' (unfiltered)'}`).join(', ')}; upstreams ${this.opts.upstreams.map(formatHostPort).join(', ')}; zones ${zones}${this.pool ? `; ${this.opts.threads} worker threads` : ''}`);
  }

  async stop(): Promise<void> {
    this.running = false;
    // First, while the threads still run: withdraw every mitigation detection put in force.
    this.replay?.stop();
    this.detection?.stop();
    await this.detections?.stop();
    this.stopConsent?.();
    if (this.consentTimer) clearInterval(this.consentTimer);
    for (const u of this.unwatch.splice(0)) u();
    await this.plane?.stop();
    await this.pool?.stop();
    await this.zones?.stop();
    await this.events.stop();
  }

  /** Where the firewall listens (real ports once started). */
  get addresses(): ListenSpec[] {
    return this.plane ? this.plane.addresses : (this.pool?.addresses ?? []);
  }

  /** Counters of the data plane (every worker thread's, added up). */
  snapshot(): StatsSnapshot {
    return this.plane ? this.plane.snapshot() : this.pool!.snapshot();
  }

  zoneStatus(): ZoneSourceStatus[] {
    return this.zones ? this.zones.status() : (this.pool?.zones() ?? []);
  }

  async health(): Promise<PartHealth> {
    const snap = this.snapshot();
    const zones = this.zoneStatus();
    const upstreamsUp = snap.upstreams.filter((u) => u.up).length;
    const problems = [
      ...(upstreamsUp === 0 ? ['no upstream is answering'] : upstreamsUp < snap.upstreams.length ? ['an upstream is down'] : []),
      ...zones.filter((z) => z.lastError).map((z) => `zone ${z.zone}: last reload refused`),
      ...zones.filter((z) => z.expired).map((z) => `zone ${z.zone}: expired (its primary unreachable past the SOA expire time; the last policy stays in force)`),
      ...(this.events.error ? [`block events: ${this.events.error}`] : []),
      ...(this.consentError ? [`consent: ${this.consentError}`] : []),
      ...(this.pool?.crashed ? [`data plane: ${this.pool.crashed}`] : []),
      ...(this.detections?.error ? [`detections: ${this.detections.error}`] : []),
    ];
    return {
      status: !this.running ? 'down' : problems.length ? 'degraded' : 'ok',
      detail: {
        listen: this.addresses.map((a) => ({ address: formatHostPort(a.address), filtered: a.filtered })),
        upstreams: snap.upstreams.map((u) => ({ address: u.address, up: u.up, sent: u.sent, answered: u.answered, timeouts: u.timeouts })),
        zones,
        queries: snap.queries,
        events: { ...this.events.counts, buffered: this.events.buffered },
        ...(this.detection ? { detection: this.detection.stats() } : {}),
        ...(problems.length ? { problems } : {}),
      },
    };
  }

  endpoints(): Endpoint[] {
    return this.addresses.map((a) => ({
      label: a.filtered ? 'DNS firewall (UDP+TCP)' : 'DNS without filtering (opt-out, UDP+TCP)',
      url: `dns://${formatHostPort(a.address)}`,
    }));
  }

  routes(app: FastifyInstance): void {
    detectionRoutes(app, { store: this.deps.store, audit: this.deps.audit, clock: this.deps.clock, parseSince });
    app.get(
      '/api/v1/dns/events',
      {
        schema: {
          summary: 'DNS block events (R1): time, client address, FQDN, list and action',
          description:
            'Blocked lookups, newest first, for one purpose: cc-blocking (C&C and malware-site lists) or dns-abuse-mitigation (the dns-abuse list). ' +
            '`count` is the number of identical lookups merged into the row within one flush interval. Every read is written to the audit log with its purpose (R16); rows go when the purpose\'s retention ends.',
          tags: ['dns'],
          querystring: {
            type: 'object',
            properties: {
              purpose: { type: 'string', enum: ['cc-blocking', 'dns-abuse-mitigation'], default: 'cc-blocking', description: 'why the events are read (audited)' },
              since: { type: 'string', description: 'ISO 8601 time with offset, or a duration back from now such as 15m or 24h' },
              client: { type: 'string', description: 'only this client address' },
              list: { type: 'string', description: 'only this list (policy zone name)' },
              limit: { type: 'integer', minimum: 1, maximum: 10000, default: 100 },
            },
          },
          response: {
            200: {
              type: 'object',
              required: ['purpose', 'events'],
              properties: {
                purpose: { type: 'string' },
                events: {
                  type: 'array',
                  items: {
                    type: 'object',
                    required: ['id', 'at', 'client', 'fqdn', 'list', 'action', 'purpose', 'count'],
                    properties: {
                      id: { type: 'string' },
                      at: { type: 'string', format: 'date-time' },
                      client: { type: 'string' },
                      fqdn: { type: 'string' },
                      list: { type: 'string' },
                      action: { type: 'string', enum: ['nxdomain', 'nodata', 'drop', 'local-data'] },
                      purpose: { type: 'string' },
                      count: { type: 'integer' },
                    },
                  },
                },
              },
            },
          },
        },
      },
      async (req) => {
        const q = req.query as { purpose?: string; since?: string; client?: string; list?: string; limit?: number };
        const purpose = q.purpose ?? 'cc-blocking';
        if (!isPurpose(purpose)) throw new SakimoriError('DNS_BAD_PURPOSE', `purpose "${purpose}" is not a purpose`);
        const since = q.since === undefined ? undefined : parseSince(q.since, this.deps.clock.now());
        const rows = await this.events.list({ purpose, actor: `api:${req.ip}`, ...(since !== undefined ? { since } : {}), ...(q.client ? { client: q.client } : {}), ...(q.list ? { list: q.list } : {}), ...(q.limit ? { limit: q.limit } : {}) });
        return { purpose, events: rows.map(toJson) };
      },
    );
  }

  // ---- internals ---------------------------------------------------------------------

  /** threads > 0: a detection change, checked on this thread's copy, then sent to every thread. */
  private applyAbuse(change: ZoneChange) {
    const r = this.abuse!.apply(change);
    if (r.ok) this.pool?.applyAbuse(change);
    return r;
  }

  /** Triggers DNS detection has in the dns-abuse zone now (every thread holds the same). */
  detectionTriggers(): number {
    const s = this.abuse?.stats();
    return s ? s.qname + s.wildcard : 0;
  }

  /** The never-block (allow) list decides, as the data plane's engine would. */
  private neverBlock(fqdn: string): boolean {
    // With worker threads, the versions the workers hold (no second load or transfer of the list).
    const set = this.pool?.mainZones ?? this.zones;
    if (!set) return false;
    const d = set.engine.decide(fqdn, undefined, 1);
    return d !== NO_MATCH && set.kindOf(d.zone) === 'allow';
  }

  private blocked(e: BlockEvent, n: number): void {
    this.events.add(e, n);
    const kind = this.kinds.get(e.list);
    if (kind !== 'cc' && kind !== 'malware-sites') return;
    this.observe(e, kind);
  }

  /**
   * Tells the cases pipeline that a client looked up a listed name (R1, R5: infected
   * subscribers are warned), at most once per (client, list) per interval. The FQDN is
   * left out: it was seen for blocking and is used for nothing else (R1).
   */
  private observe(e: BlockEvent, kind: 'cc' | 'malware-sites'): void {
    const bus = this.deps.bus;
    if (!bus) return;
    let byClient = this.lastObserved.get(e.list);
    if (byClient === undefined) this.lastObserved.set(e.list, (byClient = new Map()));
    const last = byClient.get(e.client);
    const every = this.opts.observationIntervalMs ?? 300_000;
    if (last !== undefined && e.at - last < every) return;
    if (last === undefined && ++this.observedClients > 100_000) {
      this.observedClients = 0;
      for (const m of this.lastObserved.values()) {
        for (const [c, t] of m) if (e.at - t >= every) m.delete(c);
        this.observedClients += m.size;
      }
    }
    byClient.set(e.client, e.at);
    let obs;
    try {
      obs = makeObservation({
        kind: kind === 'cc' ? 'cc-query' : 'malware-site-query',
        source: { name: `dns-firewall@${this.opts.nodeName ?? 'node'}`, type: 'sensor' },
        observedAt: new Date(e.at).toISOString(),
        network: { ip: e.client },
        evidence: { list: e.list, action: e.action },
        confidence: kind === 'cc' ? 0.8 : 0.5,
        purpose: 'infection-notice',
      });
    } catch {
      return;
    }
    bus.publish(OBSERVATIONS_TOPIC, obs).catch((err: Error) => this.log('warn', `could not publish an observation: ${err.message}`));
  }

  private countReload(zone: string, ok: boolean): void {
    const r = this.reloads.get(zone) ?? { ok: 0, failed: 0 };
    if (ok) r.ok++;
    else r.failed++;
    this.reloads.set(zone, r);
  }

  private async refreshOptOuts(): Promise<void> {
    try {
      const prefixes = await this.deps.consent!.clientOptOuts();
      this.plane?.setOptOuts(prefixes);
      this.pool?.setOptOuts(prefixes);
      this.consentError = undefined;
    } catch (err) {
      this.consentError = (err as Error).message;
      this.log('error', `could not read opt-outs; the previous ones stay in force: ${(err as Error).message}`);
    }
  }

  private async consentVersion(): Promise<string> {
    const r = await this.deps.store.get<{ n: number; m: number | null }>("SELECT count(*) AS n, max(since) AS m FROM consent_state WHERE service = 'dns-protection'");
    return `${r?.n ?? 0}/${r?.m ?? 0}`;
  }

  private async pollConsent(): Promise<void> {
    try {
      const v = await this.consentVersion();
      if (v === this.consentMark) return;
      this.consentMark = v;
      await this.refreshOptOuts();
    } catch (err) {
      this.consentError = (err as Error).message;
    }
  }
}

function parseSince(s: string, now: number): number {
  const rel = /^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$/.exec(s);
  if (rel) return now - Number(rel[1]) * ({ s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7, w: 6.048e8 } as const)[rel[2] as 's']!;
  const t = Date.parse(s);
  if (Number.isNaN(t) || !/[zZ]|[+-]\d\d:?\d\d$/.test(s)) throw new SakimoriError('DNS_BAD_SINCE', `since "${s}" is not a time with an offset (2026-01-06T12:00:00Z) nor a duration back from now (15m, 24h)`);
  return t;
}

export { parseSince };

function toJson(r: BlockEventRecord): Record<string, unknown> {
  return { ...r, at: new Date(r.at).toISOString() };
}
