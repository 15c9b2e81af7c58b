/**
 * Random-subdomain ("water torture", PRSD) detection per zone (R4, issue 5 item 1).
 *
 * Per query (observe): the query's zone (names.ts) is looked up among the tracked zones; an
 * untracked zone is counted in a count-min sketch for the current second and enters the
 * tracked set (at most maxZones; the idlest unmitigated zone leaves) when it reaches
 * admitPerSecond. A tracked zone keeps, per second of the window, counters (queries, failed
 * answers by kind, cache hits), two HyperLogLogs (all names, failed names), the mean
 * randomness (DGA score; all-digit labels by length) of up to 32 leftmost labels of failed
 * names and of every 16th name, and references to its 8 most recent sampled failed names. NOERROR names go to the
 * known-good table (known-good.ts) unless their zone looks like a flood right now.
 *
 * Per second (tick): for each tracked zone, over the last windowSeconds complete seconds:
 *   attack when  qps >= minQps and failQps >= minFailQps and distinctFail/s >= minDistinctQps
 *                and distinctFail / fail >= minDistinctRatio and failShape >= minShape,
 *   or (wildcard zones answering NOERROR) distinct/s >= noErrorDistinctQps and
 *                distinct / all >= noErrorDistinctRatio and shape >= noErrorShape.
 * Failed = NXDOMAIN, SERVFAIL, no answer, or answered by a dns-abuse policy (so an attack
 * already mitigated keeps being seen and the mitigation is extended).
 *
 * A mitigation covers `*.subject`, where subject is the zone or, when the recent failed
 * names all sit under one child (rnd.www.victim.example), that child; names of the
 * subject that resolved before the attack get PASSTHRU exceptions (exact beats wildcard in
 * RPZ). It ends holdSeconds after the attack was last seen, or after maxSeconds.
 */
import type { TriggerRule, ZoneChange } from '../policy/index.ts';
import { scoreLabel } from './dga.ts';
import { RCODE_NOERROR, RCODE_NXDOMAIN, RCODE_SERVFAIL, type DnsObservedQuery } from './event.ts';
import { KnownGoodNames } from './known-good.ts';
import { hashBackward, mix32, type NameParts } from './names.ts';
import type { PrsdOptions } from './options.ts';
import type { DetectorOutput } from './outputs.ts';
import { EpochCountMin, grown, hllAdd, hllEstimate, hllMerge, nextSize, SlotIndex } from './sketch.ts';

const P = 7; // HyperLogLog precision per bucket: 128 registers, ~9% standard error
const M = 1 << P;
const SHAPE_SAMPLES = 32;
const EXAMPLES = 8; // recent failed names per zone: evidence, and where the random label sits
const INITIAL_ZONES = 32; // the tables grow with the zones tracked, doubling, up to maxZones

interface Mitigation {
  slot: number;
  subject: string;
  subjectHash: number;
  subjectLabels: number;
  startSec: number;
  lastAttackSec: number;
  exceptions: Set<number>;
  triggers: string[];
  blocked: number;
  wouldBlock: number;
  peakQps: number;
  dryRun: boolean;
  /** On the never-block list: reported, nothing counted as (would-be) blocked. */
  neverBlock?: boolean;
}

export interface PrsdDeps {
  /** True when the never-block list covers the name (checked before acting). */
  neverBlock?: (fqdn: string) => boolean;
}

export class PrsdDetector {
  private readonly o: PrsdOptions;
  private readonly K: number;
  private readonly B: number;
  private readonly index: SlotIndex;
  private readonly cms = new EpochCountMin(14, 3);
  readonly knownGood: KnownGoodNames;
  /** Slots allocated so far (<= K): the per-slot arrays grow with the zones tracked. */
  private allocated = 0;
  // per slot
  private key = new Int32Array(0);
  private used = new Uint8Array(0);
  private lastSec = new Int32Array(0);
  private labels = new Uint8Array(0);
  private suspect = new Uint8Array(0);
  private mitigated = new Uint8Array(0);
  private readonly names: string[] = [];
  private readonly examples: string[] = [];
  private exampleN = new Uint8Array(0);
  private free: number[] = [];
  private sampleTick = 0;
  /** The zone hash and slot of the last tracked event: a zone's queries come in runs, and this skips the index probe. */
  private lastZone = 0;
  private lastSlot = -1;
  // per slot x bucket
  /** Per slot x bucket, 8 int32 side by side (one cache line): second, queries, failed, nx, servfail, timeout, policy, cache hits. */
  private bk = new Int32Array(0);
  /** Per slot x bucket: shape samples (failed), their score sum, samples (all), sum. */
  private bs = new Float32Array(0);
  private hllAll = new Uint8Array(0);
  private hllFail = new Uint8Array(0);
  private readonly scratch = new Uint8Array(M);
  private readonly mitigations = new Map<number, Mitigation>();

  constructor(options: PrsdOptions, private readonly deps: PrsdDeps = {}) {
    this.o = options;
    const K = (this.K = Math.max(1, options.maxZones));
    this.B = Math.max(1, options.windowSeconds) + 1;
    this.index = new SlotIndex(K, Math.min(K, INITIAL_ZONES));
    this.knownGood = new KnownGoodNames(Math.max(16, options.knownGoodNames));
    this.grow();
  }

  /** Room for more zones: the per-slot arrays doubled (rare: until maxZones is reached). */
  private grow(): void {
    const from = this.allocated;
    const K = (this.allocated = from === 0 ? Math.min(this.K, INITIAL_ZONES) : nextSize(from, this.K));
    const B = this.B;
    this.key = grown(this.key, K);
    this.used = grown(this.used, K);
    this.lastSec = grown(this.lastSec, K);
    this.labels = grown(this.labels, K);
    this.suspect = grown(this.suspect, K);
    this.mitigated = grown(this.mitigated, K);
    this.exampleN = grown(this.exampleN, K);
    for (let i = from * EXAMPLES; i < K * EXAMPLES; i++) this.examples.push('');
    for (let i = from; i < K; i++) this.names.push('');
    this.bk = grown(this.bk, K * B * 8);
    for (let i = from * B; i < K * B; i++) this.bk[i * 8] = -1;
    this.bs = grown(this.bs, K * B * 4);
    this.hllAll = grown(this.hllAll, K * B * M);
    this.hllFail = grown(this.hllFail, K * B * M);
    for (let s = K - 1; s >= from; s--) this.free.push(s);
  }

  /** Zones tracked now. */
  get trackedZones(): number {
    return this.index.size;
  }

  get activeMitigations(): number {
    return this.mitigations.size;
  }

  /** Bytes of typed arrays held now (they grow with traffic up to the bounds; strings are the server's own). */
  get bytes(): number {
    const KB = this.allocated * this.B;
    return this.index.bytes + this.cms.bytes + this.knownGood.bytes + this.allocated * 40 + KB * (8 * 4 + 4 * 4) + KB * M * 2;
  }

  /** Hot path. `n` is `e.qname` already parsed. */
  observe(e: DnsObservedQuery, n: NameParts): void {
    const zl = n.zoneLabels;
    if (zl === 0) return;
    const zh = n.hash(zl);
    const sec = Math.floor(e.at / 1000);
    let slot = this.lastSlot;
    if (zh !== this.lastZone || slot < 0 || this.used[slot] === 0 || this.key[slot] !== zh) {
      slot = this.index.get(zh);
      if (slot < 0) {
        if (this.cms.add(zh, sec) < this.o.admitPerSecond) {
          if (e.rcode === RCODE_NOERROR && e.matched === undefined) this.knownGood.note(e.qname, n.full, zh, sec);
          return;
        }
        slot = this.admit(zh, n, sec);
        if (slot < 0) return;
      }
      this.lastZone = zh;
      this.lastSlot = slot;
    }
    const b = slot * this.B + (sec % this.B);
    const bk = this.bk;
    const i8 = b * 8;
    if (bk[i8] !== sec) this.clearBucket(b, sec);
    this.lastSec[slot] = sec;
    bk[i8 + 1]!++;
    const rcode = e.rcode;
    const policy = e.matched === 'dns-abuse';
    let failed = true;
    if (policy) bk[i8 + 6]!++;
    else if (e.upstreamTimeout === true || rcode === undefined) bk[i8 + 5]!++;
    else if (rcode === RCODE_NXDOMAIN) bk[i8 + 3]!++;
    else if (rcode === RCODE_SERVFAIL) bk[i8 + 4]!++;
    else {
      failed = false;
      if (rcode === RCODE_NOERROR && e.matched === undefined && this.suspect[slot] === 0) this.knownGood.note(e.qname, n.full, zh, sec);
    }
    if (e.fromCache === true) bk[i8 + 7]!++;
    const hm = mix32(n.full);
    hllAdd(this.hllAll, b * M, P, hm);
    const bs = this.bs;
    const i4 = b * 4;
    // Shape of all names only matters for the NOERROR (wildcard) path, which needs >= 1,000
    // distinct names a second: every 16th query of the zone is plenty.
    if ((++this.sampleTick & 15) === 0 && bs[i4 + 2]! < SHAPE_SAMPLES) {
      bs[i4 + 2]!++;
      bs[i4 + 3]! += randomness(e.qname, n.firstLabelEnd());
    }
    if (failed) {
      bk[i8 + 2]!++;
      hllAdd(this.hllFail, b * M, P, hm);
      if (bs[i4]! < SHAPE_SAMPLES) {
        bs[i4]!++;
        bs[i4 + 1]! += randomness(e.qname, n.firstLabelEnd());
        const k = this.exampleN[slot]! % EXAMPLES;
        this.examples[slot * EXAMPLES + k] = e.qname;
        this.exampleN[slot] = (k + 1) | 0;
      }
    }
    if (this.mitigated[slot] === 1) this.countMitigated(slot, e, n, policy);
  }

  private countMitigated(slot: number, e: DnsObservedQuery, n: NameParts, policy: boolean): void {
    const m = this.mitigations.get(slot);
    if (!m || n.labels <= m.subjectLabels || n.hash(m.subjectLabels) !== m.subjectHash) return;
    if (policy) m.blocked++;
    else if (m.dryRun && !m.exceptions.has(n.full)) m.wouldBlock++;
  }

  private admit(zh: number, n: NameParts, sec: number): number {
    if (this.free.length === 0 && this.allocated < this.K) this.grow();
    let slot = this.free.pop();
    if (slot === undefined) {
      // Evict the idlest unmitigated zone (rare: only when a new zone crosses admitPerSecond).
      let best = -1;
      let bestSec = 0x7fffffff;
      for (let s = 0; s < this.allocated; s++) {
        if (this.mitigated[s] === 1) continue;
        const ls = this.lastSec[s]!;
        if (ls < bestSec && ls < sec) {
          bestSec = ls;
          best = s;
        }
      }
      if (best < 0) return -1;
      this.release(best);
      slot = this.free.pop()!;
    }
    this.used[slot] = 1;
    this.key[slot] = zh;
    this.labels[slot] = n.zoneLabels;
    this.names[slot] = n.zone();
    this.lastSec[slot] = sec;
    this.suspect[slot] = 0;
    this.mitigated[slot] = 0;
    this.exampleN[slot] = 0;
    for (let k = 0; k < EXAMPLES; k++) this.examples[slot * EXAMPLES + k] = '';
    for (let k = 0; k < this.B; k++) this.bk[(slot * this.B + k) * 8] = -1;
    this.index.set(zh, slot);
    return slot;
  }

  private release(slot: number): void {
    this.index.delete(this.key[slot]!);
    this.used[slot] = 0;
    this.names[slot] = '';
    for (let k = 0; k < EXAMPLES; k++) this.examples[slot * EXAMPLES + k] = '';
    this.free.push(slot);
  }

  private clearBucket(b: number, sec: number): void {
    this.bk[(b) * 8] = sec;
    this.bk[(b) * 8 + 1] = 0;
    this.bk[(b) * 8 + 2] = 0;
    this.bk[(b) * 8 + 3] = 0;
    this.bk[(b) * 8 + 4] = 0;
    this.bk[(b) * 8 + 5] = 0;
    this.bk[(b) * 8 + 6] = 0;
    this.bk[(b) * 8 + 7] = 0;
    this.bs[(b) * 4] = 0;
    this.bs[(b) * 4 + 1] = 0;
    this.bs[(b) * 4 + 2] = 0;
    this.bs[(b) * 4 + 3] = 0;
    this.hllAll.fill(0, b * M, b * M + M);
    this.hllFail.fill(0, b * M, b * M + M);
  }

  /** Once a second (or more often): decisions over the last windowSeconds complete seconds. */
  tick(now: number): DetectorOutput[] {
    const out: DetectorOutput[] = [];
    const nowSec = Math.floor(now / 1000);
    const W = this.B - 1;
    const lo = nowSec - W;
    this.knownGood.newPeriod();
    for (let s = 0; s < this.allocated; s++) {
      if (this.used[s] === 0) continue;
      if (this.mitigated[s] === 0 && this.lastSec[s]! < nowSec - this.o.idleSeconds) {
        this.release(s);
        continue;
      }
      const w = this.window(s, lo, nowSec);
      if (w === undefined) {
        this.suspect[s] = 0;
        if (this.mitigated[s] === 1) this.maybeEnd(s, nowSec, now, out, undefined);
        continue;
      }
      this.suspect[s] = w.distinctAll / W >= this.o.minDistinctQps && w.distinctAll / w.q >= this.o.minDistinctRatio ? 1 : 0;
      const attack = this.isAttack(w, W);
      if (this.mitigated[s] === 1) {
        const m = this.mitigations.get(s)!;
        if (attack) {
          m.lastAttackSec = nowSec;
          m.peakQps = Math.max(m.peakQps, Math.round(w.q / W));
        }
        this.maybeEnd(s, nowSec, now, out, w);
        // Operators watching the list see the counts move (every 10 s).
        if (this.mitigated[s] === 1 && (nowSec - m.startSec) % 10 === 0 && nowSec > m.startSec && !m.neverBlock) {
          out.push({ type: 'update', kind: 'prsd', subject: m.subject, at: now, evidence: { peakQps: m.peakQps, lastAttackAt: new Date(m.lastAttackSec * 1000).toISOString(), ...(m.dryRun ? { wouldHaveBlocked: m.wouldBlock } : { blocked: m.blocked }) } });
        }
      } else if (attack) this.start(s, w, nowSec, now, out);
    }
    return out;
  }

  private isAttack(w: WindowStats, W: number): boolean {
    const o = this.o;
    if (w.q / W < o.minQps) return false;
    if (
      w.fail / W >= o.minFailQps &&
      w.distinctFail / W >= o.minDistinctQps &&
      w.distinctFail / w.fail >= o.minDistinctRatio &&
      w.shapeFail >= o.minShape
    )
      return true;
    return w.distinctAll / W >= o.noErrorDistinctQps && w.distinctAll / w.q >= o.noErrorDistinctRatio && w.shapeAll >= o.noErrorShape;
  }

  private window(s: number, lo: number, nowSec: number): WindowStats | undefined {
    const B = this.B;
    let q = 0;
    let fail = 0;
    let nx = 0;
    let servfail = 0;
    let timeout = 0;
    let policy = 0;
    let cache = 0;
    let shapeN = 0;
    let shape = 0;
    let shapeAllN = 0;
    let shapeAll = 0;
    const bs: number[] = [];
    for (let k = 0; k < B; k++) {
      const b = s * B + k;
      const sec = this.bk[(b) * 8]!;
      if (sec < lo || sec >= nowSec) continue;
      bs.push(b);
      q += this.bk[(b) * 8 + 1]!;
      fail += this.bk[(b) * 8 + 2]!;
      nx += this.bk[(b) * 8 + 3]!;
      servfail += this.bk[(b) * 8 + 4]!;
      timeout += this.bk[(b) * 8 + 5]!;
      policy += this.bk[(b) * 8 + 6]!;
      cache += this.bk[(b) * 8 + 7]!;
      shapeN += this.bs[(b) * 4]!;
      shape += this.bs[(b) * 4 + 1]!;
      shapeAllN += this.bs[(b) * 4 + 2]!;
      shapeAll += this.bs[(b) * 4 + 3]!;
    }
    if (q === 0) return undefined;
    // Cheap gate first: HyperLogLog merges only for zones busy enough to matter.
    let distinctAll = 0;
    let distinctFail = 0;
    if (q / (B - 1) >= this.o.minQps) {
      distinctAll = this.merged(this.hllAll, bs);
      distinctFail = fail > 0 ? this.merged(this.hllFail, bs) : 0;
    }
    return {
      q,
      fail,
      nx,
      servfail,
      timeout,
      policy,
      cache,
      distinctAll: Math.min(distinctAll, q),
      distinctFail: Math.min(distinctFail, fail),
      shapeFail: shapeN === 0 ? 0 : shape / shapeN,
      shapeAll: shapeAllN === 0 ? 0 : shapeAll / shapeAllN,
    };
  }

  private merged(regs: Uint8Array, bs: number[]): number {
    const t = this.scratch;
    t.fill(0);
    for (const b of bs) hllMerge(t, 0, regs, b * M, P);
    return hllEstimate(t, 0, P);
  }

  private start(s: number, w: WindowStats, nowSec: number, now: number, out: DetectorOutput[]): void {
    const zone = this.names[s]!;
    const W = this.B - 1;
    // When the recent failed names all sit under one child (rnd.www.victim.example), that
    // child is the subject: the zone's other names are not touched at all.
    let subject = zone;
    const ex = this.recentFailed(s);
    const zl = this.labels[s]!;
    if (ex.length >= 4) {
      const childOf = (name: string) => {
        const p = name.split('.');
        return p.length > zl + 1 ? p.slice(p.length - zl - 1).join('.') : '';
      };
      const c = childOf(ex[0]!);
      if (c !== '' && ex.every((x) => childOf(x) === c)) subject = c;
    }
    const subjectLabels = subject.split('.').length;
    const evidence: Record<string, unknown> = {
      zone,
      windowSeconds: W,
      qps: Math.round(w.q / W),
      failedQps: Math.round(w.fail / W),
      distinctFailedPerSecond: Math.round(w.distinctFail / W),
      distinctRatio: round2(w.fail > 0 ? w.distinctFail / w.fail : w.distinctAll / w.q),
      nxdomainRatio: round2(w.nx / w.q),
      servfailRatio: round2(w.servfail / w.q),
      timeoutRatio: round2(w.timeout / w.q),
      alreadyBlockedRatio: round2(w.policy / w.q),
      labelScore: round2(w.fail / W >= this.o.minFailQps ? w.shapeFail : w.shapeAll),
      examples: this.recentFailed(s).slice(0, 3),
    };
    if (w.cache > 0) evidence.cacheHitRatio = round2(w.cache / w.q);
    const never = this.deps.neverBlock;
    if (never && (never(subject) || never(`sakimori-probe-${nowSec.toString(36)}.${subject}`))) {
      out.push({ type: 'start', kind: 'prsd', subject, at: now, evidence, disposition: 'never-block', confidence: 0.6 });
      // Tracked as mitigated (nothing applied) so it is reported once, not every second.
      const m = this.newMitigation(s, subject, subjectLabels, nowSec, [], new Set(), true);
      m.neverBlock = true;
      this.mitigations.set(s, m);
      this.mitigated[s] = 1;
      return;
    }
    // Names that resolved before the attack keep resolving. With failures the random names
    // never got NOERROR, so every remembered name is good; a NOERROR flood (wildcard zone)
    // may have put random names in during the window, so only older ones count there.
    const failPath = w.fail / W >= this.o.minFailQps;
    const before = failPath ? nowSec + 1 : nowSec - W;
    const keep = this.knownGood.namesOf(this.key[s]!, subject, before, this.o.maxExceptions);
    const exceptions = new Set<number>();
    const rules: TriggerRule[] = [{ trigger: `*.${subject}`, action: this.o.action }];
    for (const name of keep) {
      if (name === subject) continue; // the wildcard does not cover the apex anyway
      rules.push({ trigger: name, action: 'passthru' });
      exceptions.add(hashBackward(name));
    }
    const triggers = rules.map((r) => r.trigger);
    const dryRun = this.o.mode !== 'on';
    const m = this.newMitigation(s, subject, subjectLabels, nowSec, triggers, exceptions, dryRun);
    m.peakQps = Math.round(w.q / W);
    this.mitigations.set(s, m);
    this.mitigated[s] = 1;
    evidence.keptNames = keep.length;
    const change: ZoneChange = { setTriggers: rules };
    const undo: ZoneChange = { removeTriggers: triggers };
    out.push({ type: 'start', kind: 'prsd', subject, at: now, evidence, disposition: dryRun ? 'dry-run' : 'apply', change, undo, confidence: confidence(w, W, this.o.minQps) });
  }

  private newMitigation(slot: number, subject: string, subjectLabels: number, nowSec: number, triggers: string[], exceptions: Set<number>, dryRun: boolean): Mitigation {
    return { slot, subject, subjectHash: hashBackward(subject), subjectLabels, startSec: nowSec, lastAttackSec: nowSec, exceptions, triggers, blocked: 0, wouldBlock: 0, peakQps: 0, dryRun };
  }

  private maybeEnd(s: number, nowSec: number, now: number, out: DetectorOutput[], _w: WindowStats | undefined): void {
    const m = this.mitigations.get(s)!;
    const quiet = nowSec - m.lastAttackSec >= this.o.holdSeconds;
    const tooLong = nowSec - m.startSec >= this.o.maxSeconds;
    if (!quiet && !tooLong) return;
    this.mitigations.delete(s);
    this.mitigated[s] = 0;
    out.push({
      type: 'end',
      kind: 'prsd',
      subject: m.subject,
      at: now,
      reason: quiet ? `no attack traffic for ${this.o.holdSeconds} s` : `reached maxSeconds (${this.o.maxSeconds} s)`,
      evidence: { durationSeconds: nowSec - m.startSec, peakQps: m.peakQps, ...(m.neverBlock ? {} : m.dryRun ? { wouldHaveBlocked: m.wouldBlock } : { blocked: m.blocked }) },
    });
  }

  private recentFailed(s: number): string[] {
    const out: string[] = [];
    for (let k = 0; k < EXAMPLES; k++) {
      const n = this.examples[s * EXAMPLES + k]!;
      if (n !== '' && !out.includes(n)) out.push(n);
    }
    return out;
  }

  /** Ends every mitigation now (stop, shutdown); returns the end outputs. */
  endAll(now: number): DetectorOutput[] {
    const out: DetectorOutput[] = [];
    for (const s of [...this.mitigations.keys()]) {
      const m = this.mitigations.get(s)!;
      m.lastAttackSec = -1e9;
      this.maybeEnd(s, Math.floor(now / 1000), now, out, undefined);
    }
    return out;
  }

  /** Subjects mitigated now (tests, status). */
  activeSubjects(): string[] {
    return [...this.mitigations.values()].map((m) => m.subject);
  }
}

/**
 * How random a leftmost label looks: the DGA score, except that all-digit labels count as
 * random from 5 digits on (a numeric flood) and not below (reverse octets: DNSBL lookups).
 */
function randomness(name: string, end: number): number {
  let digits = true;
  for (let i = 0; i < end; i++) {
    const c = name.charCodeAt(i);
    if (c < 48 || c > 57) {
      digits = false;
      break;
    }
  }
  if (digits) return end >= 5 ? 0.8 : 0;
  return scoreLabel(name, 0, end);
}

interface WindowStats {
  q: number;
  fail: number;
  nx: number;
  servfail: number;
  timeout: number;
  policy: number;
  cache: number;
  distinctAll: number;
  distinctFail: number;
  shapeFail: number;
  shapeAll: number;
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}


function confidence(w: WindowStats, W: number, minQps: number): number {
  const rate = Math.min(1, w.q / W / (10 * minQps));
  return Math.round((0.6 + 0.35 * rate) * 100) / 100;
}
