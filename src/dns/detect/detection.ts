/**
 * The adapter around the three engines: what the DNS server and the dnstap collector call.
 *
 *   const detection = new DnsDetection({ clock, bus, zone: dynamicAbuseZone, neverBlock }, options);
 *   detection.start();                 // one 1-second timer (unref'd)
 *   detection.observe(event);          // per answered query, synchronous, hot path
 *   detection.stop();                  // timer off, mitigations withdrawn from the zone
 *
 * observe() parses the name once and hands it to each enabled engine; it never allocates
 * on the common path and never does I/O. tick() (the timer) collects the engines' outputs
 * and acts on them: zone changes (PRSD mitigations; amplification entries in 'apply'
 * mode) through `zone.apply`, Observations on the bus topic `observations`, records in the
 * DetectionBook.
 */
import { makeObservation, type Clock, type Observation } from '../../core/index.ts';
import { NO_MATCH, PolicyEngine, type ApplyResult, type RpzZone, type ZoneChange } from '../policy/index.ts';
import { AmplificationDetector } from './amplification.ts';
import { DetectionBook, type Detection, type DetectionAction } from './book.ts';
import type { DnsObservedQuery } from './event.ts';
import { InfectionDetector } from './infection.ts';
import { hashBackward, NameParts } from './names.ts';
import { resolveOptions, type DetectOptions, type DetectOptionsInput } from './options.ts';
import type { DetectorOutput } from './outputs.ts';
import { PrsdDetector } from './prsd.ts';

export const OBSERVATIONS_TOPIC = 'observations';

/** The bus, publish only. */
export interface ObservationPublisher {
  publish(topic: string, data: unknown): Promise<unknown>;
}

/** Where mitigations go: the dynamic dns-abuse policy zone (RpzZone or a ZoneTarget). */
export interface PolicyZoneTarget {
  apply(change: ZoneChange): ApplyResult;
}

export type DetectLog = (level: 'info' | 'warn' | 'error', msg: string, detail?: Record<string, unknown>) => void;

export interface DnsDetectionDeps {
  clock: Clock;
  bus?: ObservationPublisher;
  zone?: PolicyZoneTarget;
  /** The never-block list (see neverBlockFrom). */
  neverBlock?: (fqdn: string) => boolean;
  log?: DetectLog;
  /** Names the Observations' source: dns-detect@NODE. */
  nodeName?: string;
  /** Called with each Observation (besides the bus), e.g. for tests. */
  onObservation?: (o: Observation) => void;
  onDetection?: (d: Detection) => void;
}

/** A never-block check over the allow zone, with the policy engine's own matching (exact + wildcard). */
export function neverBlockFrom(allow: RpzZone): (fqdn: string) => boolean {
  const engine = new PolicyEngine({ allow });
  return (fqdn) => engine.decide(fqdn, undefined, 1) !== NO_MATCH;
}

export interface DetectionStats {
  events: number;
  /** Events skipped by overload sampling (see DetectOptions.maxEventsPerSecond). */
  sampledOut: number;
  trackedZones: number;
  activeMitigations: number;
  knownGoodNames: number;
  trackedAmplificationNames: number;
  trackedClients: number;
  detections: number;
  /** Typed-array memory of all engines now, bytes (the tables grow with traffic up to their bounds). */
  stateBytes: number;
}

export class DnsDetection {
  readonly options: DetectOptions;
  readonly book: DetectionBook;
  readonly prsd: PrsdDetector | undefined;
  readonly amplification: AmplificationDetector | undefined;
  readonly infection: InfectionDetector | undefined;
  private readonly parts = new NameParts();
  private timer: NodeJS.Timeout | undefined;
  private events = 0;
  private thisSecond = 0;
  private skipped = 0;
  private stride = 1;
  private sampledOut = 0;
  /** Detections started, by `kind\0action` (for /metrics). */
  readonly counts = new Map<string, number>();
  /** Changes in force in the zone, by detection id (to withdraw and to re-apply). */
  private readonly applied = new Map<string, { change: ZoneChange; undo: ZoneChange }>();

  constructor(private readonly deps: DnsDetectionDeps, options: DetectOptionsInput = {}) {
    const o = (this.options = resolveOptions(options));
    this.book = new DetectionBook({ max: o.maxDetections, retentionMs: o.retentionSeconds * 1000, onChange: deps.onDetection });
    const nb = deps.neverBlock ? { neverBlock: deps.neverBlock } : {};
    this.prsd = o.prsd.mode === 'off' ? undefined : new PrsdDetector(o.prsd, nb);
    this.amplification = o.amplification.mode === 'off' ? undefined : new AmplificationDetector(o.amplification, nb);
    this.infection = o.infection.mode === 'off' ? undefined : new InfectionDetector(o.infection);
  }

  /** Hot path: one answered query. Synchronous, no I/O. */
  observe(e: DnsObservedQuery): void {
    const m = e.matched;
    if (m === 'cc' || m === 'malware-sites') {
      this.observePolicy(e.at, e.client, m, m === 'cc' ? hashBackward(e.qname) : 0);
      return;
    }
    if (this.sampled()) return;
    const n = this.parts;
    if (!n.parse(e.qname)) return;
    this.prsd?.observe(e, n);
    this.amplification?.observe(e, n);
    this.infection?.observe(e, n);
  }

  /**
   * A query the firewall answered from a `cc` or `malware-sites` zone. It put no load on
   * the upstream resolvers, so random-subdomain and amplification detection (which are
   * about that load) skip it; only a C&C lookup counts, as infection evidence, and for that
   * the name's hash is enough (hashBackward(qname); worker threads send no name for these).
   */
  observePolicy(at: number, client: string, kind: 'cc' | 'malware-sites', nameHash: number): void {
    if (this.sampled()) return;
    if (kind === 'cc') this.infection?.observeCc(client, nameHash, at);
  }

  /** Events that never reached detection (a worker thread's full event ring): counted as sampled out. */
  lost(n: number): void {
    this.events += n;
    this.sampledOut += n;
  }

  /**
   * Counts one event; true when overload sampling skips it: past the budget for this
   * second only every stride-th event is looked at (stride from the last second's volume),
   * so a flood cannot make detection the bottleneck of the server. Rates then read low by
   * that factor; a flood big enough to trigger this is far above every threshold anyway.
   */
  private sampled(): boolean {
    this.events++;
    if (++this.thisSecond > this.options.maxEventsPerSecond && ++this.skipped % this.stride !== 0) {
      this.sampledOut++;
      return true;
    }
    return false;
  }

  /** Starts the 1-second timer. Idempotent. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), 1000);
    this.timer.unref();
  }

  /** Stops the timer and withdraws every change this detector put into the zone. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    const now = this.deps.clock.now();
    this.act([...(this.prsd?.endAll(now) ?? []), ...(this.amplification?.endAll(now) ?? [])], now);
  }

  /** Runs the engines' periodic decisions and acts on them (the timer calls this; tests and replays call it directly). */
  tick(now = this.deps.clock.now()): DetectorOutput[] {
    this.stride = Math.max(1, Math.ceil(this.thisSecond / this.options.maxEventsPerSecond));
    this.thisSecond = 0;
    const outs: DetectorOutput[] = [];
    if (this.prsd) outs.push(...this.prsd.tick(now));
    if (this.amplification) outs.push(...this.amplification.tick(now));
    if (this.infection) outs.push(...this.infection.tick(now));
    this.act(outs, now);
    if (now % 60_000 < 1000) this.book.purge(now);
    return outs;
  }

  /** Every trigger this detector has in force, as one change (re-apply after the zone was replaced by a reload). */
  activeChange(): ZoneChange {
    const setTriggers = [...this.applied.values()].flatMap((a) => a.change.setTriggers ?? []);
    return { setTriggers };
  }

  stats(): DetectionStats {
    return {
      events: this.events,
      sampledOut: this.sampledOut,
      trackedZones: this.prsd?.trackedZones ?? 0,
      activeMitigations: this.prsd?.activeMitigations ?? 0,
      knownGoodNames: this.prsd?.knownGood.size ?? 0,
      trackedAmplificationNames: this.amplification?.trackedNames ?? 0,
      trackedClients: this.infection?.trackedClients ?? 0,
      detections: this.book.size,
      stateBytes: (this.prsd?.bytes ?? 0) + (this.amplification?.bytes ?? 0) + (this.infection?.bytes ?? 0),
    };
  }

  private act(outs: DetectorOutput[], now: number): void {
    const at = new Date(now).toISOString();
    for (const o of outs) {
      try {
        if (o.type === 'start') this.onStart(o, at);
        else if (o.type === 'end') this.onEnd(o, at);
        else {
          const d = this.book.current(o.kind, o.subject);
          if (d) this.book.update(d.id, at, { evidence: o.evidence });
        }
      } catch (err) {
        this.log('error', `detection ${o.kind} ${o.subject}: ${(err as Error).message}`);
      }
    }
  }

  private onStart(o: Extract<DetectorOutput, { type: 'start' }>, at: string): void {
    let action: DetectionAction;
    let error: string | undefined;
    switch (o.disposition) {
      case 'apply':
        action = 'mitigated';
        break;
      case 'propose':
        action = 'proposed';
        break;
      case 'dry-run':
        action = 'dry-run';
        break;
      case 'never-block':
        action = 'never-block';
        break;
      default:
        action = 'observation-emitted';
    }
    if (o.disposition === 'apply' && o.change) {
      if (!this.deps.zone) {
        action = 'dry-run';
        error = 'no policy zone to apply to (detection runs without a dynamic dns-abuse zone)';
      } else {
        const r = this.deps.zone.apply(o.change);
        if (!r.ok) {
          action = 'failed';
          error = r.errors.join('; ');
          this.log('error', `could not apply the ${o.kind} mitigation for ${o.subject}: ${error}`, { subject: o.subject });
        }
      }
    }
    const d = this.book.start({
      kind: o.kind,
      subject: o.subject,
      action,
      startedAt: at,
      ...(o.kind === 'suspected-infection' ? { endedAt: at, endReason: 'reported' } : {}),
      evidence: o.evidence,
      ...(o.change ? { change: o.change } : {}),
      confidence: o.confidence,
      ...(error ? { error } : {}),
    });
    const key = `${o.kind}\0${action}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    if (action === 'mitigated' && o.change && o.undo) this.applied.set(d.id, { change: o.change, undo: o.undo });
    this.log(o.kind === 'suspected-infection' ? 'info' : 'warn', `${o.kind} detected: ${o.subject} (${action})`, { id: d.id, ...o.evidence });
    const obs = this.observation(o, action);
    if (obs) this.book.update(d.id, at, { observationId: obs.id });
  }

  private onEnd(o: Extract<DetectorOutput, { type: 'end' }>, at: string): void {
    const d = this.book.current(o.kind, o.subject);
    if (!d) return;
    const a = this.applied.get(d.id);
    if (a && this.deps.zone) {
      const r = this.deps.zone.apply(a.undo);
      if (!r.ok) this.log('error', `could not withdraw the ${o.kind} mitigation for ${o.subject}: ${r.errors.join('; ')}`);
    }
    this.applied.delete(d.id);
    this.book.end(d.id, at, o.reason, o.evidence);
    this.log('info', `${o.kind} ended: ${o.subject} (${o.reason})`, { id: d.id });
  }

  private observation(o: Extract<DetectorOutput, { type: 'start' }>, action: DetectionAction): Observation | undefined {
    const source = { name: `dns-detect@${this.deps.nodeName ?? 'node'}`, type: 'detector' as const };
    let obs: Observation;
    try {
      if (o.kind === 'suspected-infection') {
        obs = makeObservation({
          kind: 'suspected-infection',
          source,
          observedAt: new Date(o.at).toISOString(),
          network: { ip: o.subject },
          evidence: o.evidence,
          confidence: o.confidence,
          purpose: 'infection-notice',
        });
      } else {
        obs = makeObservation({
          kind: o.kind === 'prsd' ? 'prsd-target' : 'amplification-name',
          source,
          observedAt: new Date(o.at).toISOString(),
          network: { fqdn: o.subject },
          evidence: { ...o.evidence, action },
          confidence: o.confidence,
          purpose: 'dns-abuse-mitigation',
        });
      }
    } catch (err) {
      this.log('warn', `no observation for ${o.kind} ${o.subject}: ${(err as Error).message}`);
      return undefined;
    }
    this.deps.onObservation?.(obs);
    this.deps.bus?.publish(OBSERVATIONS_TOPIC, obs).catch((err: Error) => this.log('warn', `could not publish an observation: ${err.message}`));
    return obs;
  }

  private log(level: 'info' | 'warn' | 'error', msg: string, detail?: Record<string, unknown>): void {
    this.deps.log?.(level, msg, detail);
  }
}
