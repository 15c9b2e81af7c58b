/**
 * Replays a World's labelled traffic through the detectors with a ManualClock (an hour in
 * seconds, same result every run) and measures them (issue 5 item 6).
 *
 * The policy side is the real one: a PolicyEngine with the never-block list (allow), a C&C
 * zone and the dynamic zone the detector writes its mitigations into — so what counts as
 * blocked is what the firewall would have blocked.
 *
 * The hook for the real server: implement ReplayTarget by sending each query over UDP to
 * a DataPlane whose query events feed a DnsDetection, with a stub upstream answering each
 * name as the World says (`rcode`, `size`), and pass it as `target`. InProcessTarget below
 * is what runs until the server integration exists.
 */
import { ManualClock, type Observation } from '../../../core/index.ts';
import { NO_MATCH, PolicyEngine, RpzZone } from '../../policy/index.ts';
import { DnsDetection, neverBlockFrom } from '../detection.ts';
import type { DnsObservedQuery, PolicyKind } from '../event.ts';
import type { DetectOptionsInput } from '../options.ts';
import type { LabelledQuery, World } from './traffic.ts';

export interface ReplayTarget {
  /** Answers one query as the firewall would and feeds the detectors; returns what the client got. */
  query(q: LabelledQuery): DnsObservedQuery;
  /** Called at every whole second of traffic time. */
  tick(now: number): void;
  readonly detection: DnsDetection;
}

export const DYNAMIC_ZONE = 'detect.dns-abuse.sakimori.invalid';

export class InProcessTarget implements ReplayTarget {
  readonly clock = new ManualClock(0);
  readonly detection: DnsDetection;
  readonly engine: PolicyEngine;
  readonly observations: Observation[] = [];
  private readonly kinds = new Map<string, PolicyKind>();

  constructor(world: World, detect: DetectOptionsInput = {}) {
    const allow = new RpzZone('allow.sakimori.invalid');
    allow.apply({ setTriggers: world.neverBlock.map((n) => ({ trigger: n, action: 'passthru' as const })) });
    const cc = new RpzZone('cc.sakimori.invalid');
    cc.apply({ setTriggers: world.ccNames.map((n) => ({ trigger: n, action: 'nxdomain' as const })) });
    const dyn = new RpzZone(DYNAMIC_ZONE);
    // The dynamic zone goes last: its PASSTHRU exceptions must not hide a C&C listing.
    this.engine = new PolicyEngine({ allow, zones: [cc, dyn] });
    this.kinds.set(allow.name, 'allow').set(cc.name, 'cc').set(dyn.name, 'dns-abuse');
    this.detection = new DnsDetection({ clock: this.clock, zone: dyn, neverBlock: neverBlockFrom(allow), onObservation: (o) => this.observations.push(o) }, detect);
  }

  query(q: LabelledQuery): DnsObservedQuery {
    const d = this.engine.decide(q.qname, undefined, q.qtype);
    const matched = d === NO_MATCH ? undefined : this.kinds.get(d.zone);
    let e: DnsObservedQuery;
    if (matched === 'cc' || (matched === 'dns-abuse' && d.action !== 'passthru')) {
      const size = d.action === 'tcp-only' ? 40 : 100;
      e = { at: q.at, client: q.client, qname: q.qname, qtype: q.qtype, rcode: d.action === 'tcp-only' ? 0 : 3, responseSize: size, matched };
    } else {
      e = { at: q.at, client: q.client, qname: q.qname, qtype: q.qtype, responseSize: q.size, ...(q.rcode === undefined ? { upstreamTimeout: true } : { rcode: q.rcode }), ...(matched === 'allow' ? { matched } : {}) };
    }
    this.detection.observe(e);
    return e;
  }

  tick(now: number): void {
    this.clock.set(now);
    this.detection.tick(now);
  }
}

export interface AttackResult {
  zone: string;
  subject?: string;
  qps: number;
  style: string;
  response: string;
  startSec: number;
  detectedAfterSec?: number;
  attackQueries: number;
  attackBlocked: number;
  /** Attack queries blocked once the mitigation was in force. */
  blockedAfterDetection: number;
  attackAfterDetection: number;
  /** Benign queries of this zone during the attack, and how many were blocked. */
  benignInZone: number;
  collateralKnown: number;
  collateralOther: number;
  collateralNeverBlock: number;
}

export interface ReplayReport {
  seconds: number;
  queries: number;
  byLabel: Record<string, number>;
  prsd: {
    attacks: AttackResult[];
    falseAlarmSubjects: string[];
    zonesSeen: number;
    falseAlarmRate: number;
    benignBlocked: number;
    /** Blocked queries that were attack traffic / all blocked queries (query-level precision). */
    precision: number;
    /** Attack queries blocked after detection / attack queries after detection (query-level recall). */
    recallAfterDetection: number;
  };
  amplification: { names: { name: string; detectedAfterSec?: number; action?: string }[]; falseAlarms: string[] };
  infection: {
    perFamily: Record<string, { clients: number; flagged: number; recall: number; medianSecondsToFlag: number | undefined }>;
    recall: number;
    cleanClients: number;
    falsePositives: number;
    falsePositiveRate: number;
    otherFlagged: number;
  };
  stats: ReturnType<DnsDetection['stats']>;
  wallMs: number;
  eventsPerSecond: number;
}

/**
 * A target that answers a whole second of queries at once (the real server over sockets:
 * sent together, answered in any order); results in the order of `qs`. `matched` is what
 * the client's answer shows: 'dns-abuse' when the dynamic zone answered it.
 */
export interface BatchReplayTarget {
  querySecond(qs: readonly LabelledQuery[]): Promise<{ matched?: PolicyKind | undefined }[]>;
  tick(now: number): void;
  readonly detection: DnsDetection;
  /** The client address the detector saw for a World client (the server may rewrite it). */
  clientOf?(worldClient: string): string;
}

export function replay(world: World, opts: { detect?: DetectOptionsInput; target?: ReplayTarget; progress?: (sec: number) => void } = {}): ReplayReport {
  const target = opts.target ?? new InProcessTarget(world, opts.detect);
  const acc = new Accountant(world, target.detection);
  for (let sec = 0; sec < world.o.durationSec; sec++) {
    for (const q of world.second(sec)) acc.account(q, target.query(q).matched === 'dns-abuse', sec);
    target.tick((sec + 1) * 1000);
    acc.afterTick(sec);
    opts.progress?.(sec);
  }
  return acc.report();
}

/** The same replay through a target that answers second by second (the real server). */
export async function replayBatched(world: World, target: BatchReplayTarget, opts: { progress?: (sec: number) => void } = {}): Promise<ReplayReport> {
  const acc = new Accountant(world, target.detection, target.clientOf ? (c) => target.clientOf!(c) : undefined);
  for (let sec = 0; sec < world.o.durationSec; sec++) {
    const qs = world.second(sec);
    const got = await target.querySecond(qs);
    for (let i = 0; i < qs.length; i++) acc.account(qs[i]!, got[i]?.matched === 'dns-abuse', sec);
    target.tick((sec + 1) * 1000);
    acc.afterTick(sec);
    opts.progress?.(sec);
  }
  return acc.report();
}

/** What the replay counts, query by query and tick by tick, and the report made of it. */
class Accountant {
  private readonly started = performance.now();
  private readonly attacks: AttackResult[];
  private readonly victimZones: Map<string, number>;
  private readonly resolvedBefore = new Set<string>(); // names of victim zones answered NOERROR before their attack
  private readonly neverBlockExact: Set<string>;
  private readonly byLabel: Record<string, number> = {};
  private queries = 0;
  private benignBlocked = 0;
  private blockedTotal = 0;
  private blockedAttack = 0;
  private readonly mitigationAt = new Map<string, number>();
  private readonly ampAt = new Map<string, { sec: number; action: string }>();
  private readonly flaggedAt = new Map<string, number>();
  private readonly seenObs = new Set<string>();

  constructor(private readonly world: World, private readonly det: DnsDetection, private readonly clientOf: (worldClient: string) => string = (c) => c) {
    this.attacks = world.attacks.map((a) => ({
      zone: a.zone,
      qps: a.qps,
      style: a.style,
      response: a.response,
      startSec: a.startSec,
      attackQueries: 0,
      attackBlocked: 0,
      blockedAfterDetection: 0,
      attackAfterDetection: 0,
      benignInZone: 0,
      collateralKnown: 0,
      collateralOther: 0,
      collateralNeverBlock: 0,
    }));
    this.victimZones = new Map(world.attacks.map((a, i) => [a.zone, i]));
    this.neverBlockExact = new Set(world.neverBlock.filter((n) => !n.startsWith('*.')));
  }

  account(q: LabelledQuery, blocked: boolean, sec: number): void {
    const world = this.world;
    const attacks = this.attacks;
    this.queries++;
    this.byLabel[q.label] = (this.byLabel[q.label] ?? 0) + 1;
    if (blocked) this.blockedTotal++;
    const zoneIdx = zoneIndex(q.qname, this.victimZones);
    if (q.label === 'prsd') {
      const r = attacks[q.attack!]!;
      r.attackQueries++;
      if (blocked) {
        r.attackBlocked++;
        this.blockedAttack++;
      }
      if (r.detectedAfterSec !== undefined) {
        r.attackAfterDetection++;
        if (blocked) r.blockedAfterDetection++;
      }
    } else if (q.label === 'amplification') {
      if (blocked) this.blockedAttack++;
    } else {
      if (blocked) this.benignBlocked++;
      if (zoneIdx !== undefined) {
        const a = world.attacks[zoneIdx]!;
        const r = attacks[zoneIdx]!;
        if (sec < a.startSec && q.rcode === 0) this.resolvedBefore.add(q.qname);
        if (sec >= a.startSec && sec < a.endSec + 600) {
          r.benignInZone++;
          // A name that does not exist answered NXDOMAIN locally is no change for the client.
          if (blocked && q.rcode !== 3) {
            if (this.neverBlockExact.has(q.qname)) r.collateralNeverBlock++;
            else if (this.resolvedBefore.has(q.qname)) r.collateralKnown++;
            else r.collateralOther++;
          }
        }
      }
    }
  }

  afterTick(sec: number): void {
    const { world, attacks, victimZones } = this;
    for (const d of this.det.book.list({ limit: 50 })) {
      if (d.kind === 'prsd' && !this.mitigationAt.has(d.subject) && (d.action === 'mitigated' || d.action === 'dry-run')) {
        this.mitigationAt.set(d.subject, sec + 1);
        const i = zoneIndex(d.subject, victimZones) ?? (victimZones.has(d.subject) ? victimZones.get(d.subject) : undefined);
        if (i !== undefined && attacks[i]!.detectedAfterSec === undefined) {
          attacks[i]!.detectedAfterSec = sec + 1 - world.attacks[i]!.startSec;
          attacks[i]!.subject = d.subject;
        }
      }
      if (d.kind === 'amplification' && !this.ampAt.has(d.subject)) this.ampAt.set(d.subject, { sec: sec + 1, action: d.action });
      if (d.kind === 'suspected-infection' && !this.seenObs.has(d.id)) {
        this.seenObs.add(d.id);
        if (!this.flaggedAt.has(d.subject)) this.flaggedAt.set(d.subject, sec + 1);
      }
    }
  }

  report(): ReplayReport {
    const { world, attacks, victimZones, mitigationAt, ampAt, flaggedAt } = this;
    const victimSubjects = new Set(attacks.map((a) => a.subject).filter(Boolean));
    const falseAlarmSubjects = [...mitigationAt.keys()].filter((s) => !victimSubjects.has(s) && zoneIndex(s, victimZones) === undefined);
    const zonesSeen = world.zones.length + 3;
    const ampNames = new Set(world.amplifications.map((a) => a.name));
    // Infection: the detector's subjects are the addresses it saw.
    const flagged = (worldClient: string) => flaggedAt.get(this.clientOf(worldClient));
    const perFamily: ReplayReport['infection']['perFamily'] = {};
    let tp = 0;
    for (const inf of world.infected) {
      const f = (perFamily[inf.family] ??= { clients: 0, flagged: 0, recall: 0, medianSecondsToFlag: undefined });
      f.clients++;
      if (flagged(inf.client) !== undefined) {
        f.flagged++;
        tp++;
      }
    }
    for (const [family, f] of Object.entries(perFamily)) {
      f.recall = round4(f.flagged / f.clients);
      const times = world.infected.filter((i) => i.family === family && flagged(i.client) !== undefined).map((i) => flagged(i.client)! - i.schedule[0]!);
      times.sort((a, b) => a - b);
      f.medianSecondsToFlag = times.length ? times[Math.floor(times.length / 2)] : undefined;
    }
    const clean = new Set(world.cleanClients.map((c) => this.clientOf(c)));
    let fpClients = 0;
    let other = 0;
    const infectedSet = new Set(world.infected.map((i) => this.clientOf(i.client)));
    for (const c of flaggedAt.keys()) {
      if (clean.has(c)) fpClients++;
      else if (!infectedSet.has(c)) other++;
    }
    const wallMs = performance.now() - this.started;
    const attackAfter = attacks.reduce((s, a) => s + a.attackAfterDetection, 0);
    const blockedAfter = attacks.reduce((s, a) => s + a.blockedAfterDetection, 0);
    return {
      seconds: world.o.durationSec,
      queries: this.queries,
      byLabel: this.byLabel,
      prsd: {
        attacks,
        falseAlarmSubjects,
        zonesSeen,
        falseAlarmRate: round4(falseAlarmSubjects.length / zonesSeen),
        benignBlocked: this.benignBlocked,
        precision: this.blockedTotal === 0 ? 1 : round4(this.blockedAttack / this.blockedTotal),
        recallAfterDetection: attackAfter === 0 ? 0 : round4(blockedAfter / attackAfter),
      },
      amplification: {
        names: world.amplifications.map((a) => {
          const got = ampAt.get(a.name);
          return { name: a.name, ...(got ? { detectedAfterSec: got.sec - a.startSec, action: got.action } : {}) };
        }),
        falseAlarms: [...ampAt.keys()].filter((n) => !ampNames.has(n)),
      },
      infection: {
        perFamily,
        recall: round4(tp / Math.max(1, world.infected.length)),
        cleanClients: world.cleanClients.length,
        falsePositives: fpClients,
        falsePositiveRate: round4(fpClients / Math.max(1, world.cleanClients.length)),
        otherFlagged: other,
      },
      stats: this.det.stats(),
      wallMs: Math.round(wallMs),
      eventsPerSecond: Math.round(this.queries / (wallMs / 1000)),
    };
  }
}

/** Index of the victim zone a name falls under, if any. */
function zoneIndex(name: string, zones: Map<string, number>): number | undefined {
  let i = name.indexOf('.');
  if (zones.has(name)) return zones.get(name);
  while (i !== -1) {
    const z = zones.get(name.slice(i + 1));
    if (z !== undefined) return z;
    i = name.indexOf('.', i + 1);
  }
  return undefined;
}

function round4(x: number): number {
  return Math.round(x * 10000) / 10000;
}
