/**
 * Names abused for DNS amplification (R4, issue 5 item 2): an FQDN whose answers are large
 * (>= minBytes) and asked for at a high rate (>= minQps) from a spread of sources (>=
 * minSources distinct clients in the window, HyperLogLog), mostly with ANY / TXT / DNSSEC
 * types — spoofed queries reflected through customers' open resolvers (CPEs) reach the ISP
 * resolver from many CPE addresses.
 *
 * Only large answers reach the tracked table (count-min admission, at most maxNames names),
 * so ordinary traffic costs one comparison. A detected name becomes a proposed (or, with
 * mode 'apply', applied) QNAME trigger for the dns-abuse policy zone, default action
 * tcp-only: a spoofed UDP query then gets a small TC=1 reply (nothing to amplify) and a real
 * client retries over TCP and gets its answer, so the entry has no collateral.
 */
import type { DnsObservedQuery } from './event.ts';
import { hashBackward, mix32, type NameParts } from './names.ts';
import type { AmplificationOptions } from './options.ts';
import type { DetectorOutput } from './outputs.ts';
import { EpochCountMin, grown, hllAdd, hllEstimate, hllMerge, nextSize, SlotIndex } from './sketch.ts';

const P = 6;
const M = 1 << P;
const INITIAL_NAMES = 16; // the tables grow with the names tracked, doubling, up to maxNames

/** QTYPEs of the reflection pattern: ANY, TXT, DNSKEY, RRSIG, DS, NSEC, NSEC3, NSEC3PARAM. */
const AMPLIFYING = new Uint8Array(256);
for (const t of [255, 16, 48, 46, 43, 47, 50, 51]) AMPLIFYING[t] = 1;

interface Active {
  name: string;
  startSec: number;
  lastSec: number;
  peakQps: number;
  disposition: 'apply' | 'propose' | 'never-block';
}

export interface AmplificationDeps {
  neverBlock?: (fqdn: string) => boolean;
}

export class AmplificationDetector {
  private readonly o: AmplificationOptions;
  private readonly K: number;
  private readonly B: number;
  private readonly index: SlotIndex;
  private readonly cms = new EpochCountMin(12, 3);
  /** Slots allocated so far (<= K): the per-slot arrays grow with the names tracked. */
  private allocated = 0;
  private key = new Int32Array(0);
  private used = new Uint8Array(0);
  private lastSec = new Int32Array(0);
  private readonly names: string[] = [];
  private bSec = new Int32Array(0);
  private bQ = new Int32Array(0);
  private bBytes = new Float64Array(0);
  private bAmp = new Int32Array(0);
  private bPolicy = new Int32Array(0);
  private hll = new Uint8Array(0);
  private readonly scratch = new Uint8Array(M);
  private readonly active = new Map<number, Active>();
  private free: number[] = [];

  constructor(options: AmplificationOptions, private readonly deps: AmplificationDeps = {}) {
    this.o = options;
    const K = (this.K = Math.max(1, options.maxNames));
    this.B = Math.max(1, options.windowSeconds) + 1;
    this.index = new SlotIndex(K, Math.min(K, INITIAL_NAMES));
  }

  /** Room for more names: the per-slot arrays doubled (rare: the first admission, then until maxNames). */
  private grow(): void {
    const from = this.allocated;
    const K = (this.allocated = from === 0 ? Math.min(this.K, INITIAL_NAMES) : nextSize(from, this.K));
    const KB = K * this.B;
    this.key = grown(this.key, K);
    this.used = grown(this.used, K);
    this.lastSec = grown(this.lastSec, K);
    for (let i = from; i < K; i++) this.names.push('');
    this.bSec = grown(this.bSec, KB).fill(-1, from * this.B);
    this.bQ = grown(this.bQ, KB);
    this.bBytes = grown(this.bBytes, KB);
    this.bAmp = grown(this.bAmp, KB);
    this.bPolicy = grown(this.bPolicy, KB);
    this.hll = grown(this.hll, KB * M);
    for (let s = K - 1; s >= from; s--) this.free.push(s);
  }

  get trackedNames(): number {
    return this.index.size;
  }

  /** Bytes of typed arrays held now (they grow with the names tracked, up to maxNames). */
  get bytes(): number {
    const KB = this.allocated * this.B;
    return this.index.bytes + this.cms.bytes + this.allocated * 17 + KB * 24 + KB * M;
  }

  observe(e: DnsObservedQuery, n: NameParts): void {
    const size = e.responseSize;
    const policy = e.matched === 'dns-abuse';
    const large = size !== undefined && size >= this.o.minBytes && !policy;
    if (!large && !(policy && this.index.size > 0)) return;
    const sec = Math.floor(e.at / 1000);
    const h = n.full;
    let slot = this.index.get(h);
    if (slot < 0) {
      if (!large || this.cms.add(h, sec) < this.o.admitPerSecond) return;
      slot = this.admit(h, e.qname, sec);
      if (slot < 0) return;
    }
    const B = this.B;
    const b = slot * B + (sec % B);
    if (this.bSec[b] !== sec) {
      this.bSec[b] = sec;
      this.bQ[b] = 0;
      this.bBytes[b] = 0;
      this.bAmp[b] = 0;
      this.bPolicy[b] = 0;
      this.hll.fill(0, b * M, b * M + M);
    }
    this.lastSec[slot] = sec;
    if (policy) {
      this.bPolicy[b]!++;
      return;
    }
    this.bQ[b]!++;
    this.bBytes[b]! += size!;
    if (e.qtype < 256 && AMPLIFYING[e.qtype] === 1) this.bAmp[b]!++;
    hllAdd(this.hll, b * M, P, mix32(hashBackward(e.client)));
  }

  private admit(h: number, name: string, sec: number): number {
    if (this.free.length === 0 && this.allocated < this.K) this.grow();
    let slot = this.free.pop();
    if (slot === undefined) {
      let best = -1;
      let bestSec = 0x7fffffff;
      for (let s = 0; s < this.allocated; s++) {
        if (this.active.has(s)) continue;
        if (this.lastSec[s]! < bestSec && this.lastSec[s]! < sec) {
          bestSec = this.lastSec[s]!;
          best = s;
        }
      }
      if (best < 0) return -1;
      this.release(best);
      slot = this.free.pop()!;
    }
    this.used[slot] = 1;
    this.key[slot] = h;
    this.names[slot] = name;
    this.lastSec[slot] = sec;
    for (let k = 0; k < this.B; k++) this.bSec[slot * this.B + k] = -1;
    this.index.set(h, slot);
    return slot;
  }

  private release(slot: number): void {
    this.index.delete(this.key[slot]!);
    this.used[slot] = 0;
    this.names[slot] = '';
    this.free.push(slot);
  }

  tick(now: number): DetectorOutput[] {
    const out: DetectorOutput[] = [];
    const nowSec = Math.floor(now / 1000);
    const W = this.B - 1;
    const lo = nowSec - W;
    for (let s = 0; s < this.allocated; s++) {
      if (this.used[s] === 0) continue;
      const a = this.active.get(s);
      if (!a && this.lastSec[s]! < nowSec - 2 * W) {
        this.release(s);
        continue;
      }
      let q = 0;
      let bytes = 0;
      let amp = 0;
      let policy = 0;
      const t = this.scratch;
      t.fill(0);
      for (let k = 0; k < this.B; k++) {
        const b = s * this.B + k;
        const sec = this.bSec[b]!;
        if (sec < lo || sec >= nowSec) continue;
        q += this.bQ[b]!;
        bytes += this.bBytes[b]!;
        amp += this.bAmp[b]!;
        policy += this.bPolicy[b]!;
        hllMerge(t, 0, this.hll, b * M, P);
      }
      const o = this.o;
      const qps = q / W;
      if (a) {
        if (qps >= o.minQps / 2 || policy / W >= o.minQps / 2) {
          a.lastSec = nowSec;
          a.peakQps = Math.max(a.peakQps, Math.round(qps + policy / W));
        } else if (nowSec - a.lastSec >= o.holdSeconds) {
          this.active.delete(s);
          out.push({ type: 'end', kind: 'amplification', subject: a.name, at: now, reason: `not seen for ${o.holdSeconds} s`, evidence: { durationSeconds: nowSec - a.startSec, peakQps: a.peakQps } });
        }
        continue;
      }
      if (qps < o.minQps || q === 0) continue;
      const sources = Math.min(q, hllEstimate(t, 0, P));
      const meanBytes = bytes / q;
      if (sources < o.minSources || meanBytes < o.minBytes || amp / q < o.minAmplifyingTypes) continue;
      const name = this.names[s]!;
      const evidence = {
        windowSeconds: W,
        qps: Math.round(qps),
        sources: Math.round(sources),
        meanResponseBytes: Math.round(meanBytes),
        amplifyingTypeRatio: Math.round((amp / q) * 100) / 100,
        // A query for the name is ~17 bytes of header and question plus an 11-byte OPT.
        amplificationFactor: Math.round(meanBytes / (name.length + 2 + 17 + 11)),
      };
      if (this.deps.neverBlock?.(name)) {
        this.active.set(s, { name, startSec: nowSec, lastSec: nowSec, peakQps: Math.round(qps), disposition: 'never-block' });
        out.push({ type: 'start', kind: 'amplification', subject: name, at: now, evidence, disposition: 'never-block', confidence: 0.5 });
        continue;
      }
      const disposition = o.mode === 'apply' ? 'apply' : 'propose';
      this.active.set(s, { name, startSec: nowSec, lastSec: nowSec, peakQps: Math.round(qps), disposition });
      out.push({
        type: 'start',
        kind: 'amplification',
        subject: name,
        at: now,
        evidence,
        disposition,
        change: { setTriggers: [{ trigger: name, action: o.action }] },
        undo: { removeTriggers: [name] },
        confidence: Math.min(0.95, Math.round((0.5 + 0.45 * Math.min(1, sources / (5 * o.minSources))) * 100) / 100),
      });
    }
    return out;
  }

  endAll(now: number): DetectorOutput[] {
    const out: DetectorOutput[] = [];
    for (const [s, a] of this.active) {
      out.push({ type: 'end', kind: 'amplification', subject: a.name, at: now, reason: 'detection stopped', evidence: { durationSeconds: Math.floor(now / 1000) - a.startSec, peakQps: a.peakQps } });
      this.active.delete(s);
    }
    return out;
  }
}
