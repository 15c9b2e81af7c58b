/**
 * The dnstap collector feeding DNS detection (issue 5 item 4): one DnsDetection, one event
 * per CLIENT_RESPONSE (the answer's rcode and size; a CLIENT_QUERY carries neither, and
 * the response follows it). There is no data plane here to mitigate in, so PRSD and
 * amplification report (dry-run, proposals) and infected-client evidence becomes
 * Observations on the bus, exactly as in the firewall. Detections are written through to
 * the store when there is one (`sakimori dns detections` lists them with the firewall's).
 */
import type { FastifyInstance } from 'fastify';
import { systemClock, type Clock, type Endpoint, type Part, type PartHealth } from '../../core/index.ts';
import type { AuditLog } from '../../privacy/index.ts';
import type { Store } from '../../store/index.ts';
import type { Registry } from '../../telemetry/index.ts';
import { DnsDetection, type DetectOptionsInput, type DnsObservedQuery, type ObservationPublisher } from '../detect/index.ts';
import { DetectionLog, detectionRoutes, registerDetectionMetrics } from '../server/detections.ts';
import { parseSince } from '../server/firewall.ts';
import type { DnstapCollector, DnstapLogger } from './collector.ts';
import type { DnstapEvent } from './event.ts';

export interface DnstapDetectionDeps {
  logger: DnstapLogger;
  clock?: Clock;
  bus?: ObservationPublisher | undefined;
  store?: Store;
  audit?: AuditLog;
  registry?: Registry | undefined;
  nodeName: string;
}

/** The collector with its detector, as one part (name "dnstap"). */
export class DnstapDetectionPart implements Part {
  readonly name = 'dnstap';
  readonly detection: DnsDetection;
  readonly detections: DetectionLog | undefined;
  private unsubscribe: (() => void) | undefined;
  private readonly e: DnsObservedQuery = { at: 0, client: '', qname: '', qtype: 0, rcode: 0, responseSize: 0, upstreamTimeout: false };

  constructor(readonly collector: DnstapCollector, options: DetectOptionsInput, private readonly deps: DnstapDetectionDeps) {
    const log = (level: 'info' | 'warn' | 'error', msg: string, detail?: Record<string, unknown>) => deps.logger[level](detail ?? {}, msg);
    this.detection = new DnsDetection(
      {
        clock: deps.clock ?? systemClock,
        ...(deps.bus ? { bus: deps.bus } : {}),
        log,
        nodeName: deps.nodeName,
        onDetection: (d) => this.detections?.changed(d),
      },
      options,
    );
    this.detections = deps.store && deps.audit ? new DetectionLog(deps.store, deps.audit, { source: `dnstap@${deps.nodeName}`, log }) : undefined;
    if (deps.registry) registerDetectionMetrics(deps.registry, 'dnstap', this.detection);
  }

  /** One dnstap event: responses only, through one reused object. */
  feed(ev: DnstapEvent): void {
    if (ev.rcode === undefined) return;
    const e = this.e;
    e.at = ev.at;
    e.client = ev.client;
    e.qname = ev.qname;
    e.qtype = ev.qtype;
    e.rcode = ev.rcode & 0x0f;
    e.responseSize = ev.responseSize;
    this.detection.observe(e);
  }

  async start(): Promise<void> {
    this.unsubscribe = this.collector.onEvent((ev) => this.feed(ev));
    await this.collector.start();
    this.detections?.start();
    this.detection.start();
  }

  async stop(): Promise<void> {
    this.detection.stop();
    this.unsubscribe?.();
    await this.collector.stop();
    await this.detections?.stop();
  }

  async health(): Promise<PartHealth> {
    const h = await this.collector.health();
    const problems = this.detections?.error ? [`detections: ${this.detections.error}`] : [];
    return { status: h.status === 'ok' && problems.length ? 'degraded' : h.status, detail: { ...h.detail, detection: this.detection.stats(), ...(problems.length ? { detectionProblems: problems } : {}) } };
  }

  endpoints(): Endpoint[] {
    return this.collector.endpoints();
  }

  routes(app: FastifyInstance): void {
    if (this.deps.store && this.deps.audit) detectionRoutes(app, { store: this.deps.store, audit: this.deps.audit, clock: this.deps.clock ?? systemClock, parseSince });
  }
}
