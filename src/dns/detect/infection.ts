/**
 * Evidence that a client is infected (R5, R6; issue 5 item 3), per client in bounded memory.
 *
 * Only two kinds of query touch a client's state: a lookup the firewall answered from a
 * `cc` zone (the C&C list), and an NXDOMAIN from upstream for a public name (not a
 * single label, not under a pseudo-TLD such as .local/.lan/.home, which are search-list
 * mistakes and browsers' random probes). Of the NXDOMAINs only those for a registrable
 * domain itself or its www. count as domains (a DGA bot asks for the domain it generated;
 * a missing child of an existing domain is a stale link). Everything else costs nothing.
 *
 * Per client, over two half windows (the evidence window is windowSeconds; older halves are
 * dropped, R16): distinct C&C names, distinct NXDOMAIN registrable domains (a 512-bit
 * bitmap per half: linear counting), the sum of their DGA scores (dga.ts) above dgaFloor,
 * and a few example names (highest scores). Evidence score:
 *   E = ccWeight * ccNames + nxWeight * nxDomains + dgaWeight * sum max(0, s - dgaFloor) / (1 - dgaFloor)
 * When E reaches threshold, ONE suspected-infection output with the summary (counts,
 * scores, at most `examples` names), then nothing for that client for cooldownSeconds.
 *
 * Clients live in a table of maxClients slots replaced by CLOCK: a client with recent
 * evidence survives a sweep, one that went quiet is replaced.
 */
import { scoreLabel } from './dga.ts';
import { plainClient, RCODE_NXDOMAIN, type DnsObservedQuery } from './event.ts';
import { hashBackward, mix32, type NameParts } from './names.ts';
import type { InfectionOptions } from './options.ts';
import type { DetectorOutput } from './outputs.ts';
import { grown, INITIAL_ENTRIES, nextSize, SlotIndex } from './sketch.ts';

const WORDS = 16;

function isWww(name: string): boolean {
  return name.length > 4 && name.charCodeAt(0) === 119 && name.charCodeAt(1) === 119 && name.charCodeAt(2) === 119 && name.charCodeAt(3) === 46;
}
 // 512 bits per half window
const CC_SEED = 0x5bd1e995 | 0;

export class InfectionDetector {
  private readonly o: InfectionOptions;
  private readonly C: number;
  private readonly index: SlotIndex;
  /** Slots allocated so far (<= C): the arrays grow with the clients seen, doubling. */
  private allocated = 0;
  private readonly clients: string[] = [];
  private key = new Int32Array(0);
  private ref = new Uint8Array(0);
  private epoch = new Int32Array(0);
  private reportedUntil = new Int32Array(0);
  // [slot * 2 + half], half 0 = current, 1 = previous
  private cc = new Int32Array(0);
  private nx = new Int32Array(0);
  private nxQueries = new Int32Array(0);
  private dga = new Float32Array(0);
  private dgaLike = new Int32Array(0);
  private bits = new Int32Array(0);
  private readonly examples: string[] = [];
  private exampleScore = new Float32Array(0);
  private readonly halfSeconds: number;
  private hand = 0;
  private filled = 0;
  /** The slot slotOf returned last (-1: none). */
  private lastSlot = -1;
  private pending: DetectorOutput[] = [];
  /** Clients reported recently, for clients whose slot was replaced meanwhile (bounded). */
  private readonly reported = new Map<string, number>();
  private readonly maxReported: number;

  constructor(options: InfectionOptions) {
    this.o = options;
    const C = (this.C = Math.max(16, options.maxClients));
    this.index = new SlotIndex(C, Math.min(C, INITIAL_ENTRIES));
    this.halfSeconds = Math.max(1, Math.round(options.windowSeconds / 2));
    this.maxReported = Math.max(1024, C);
  }

  /** Room for more clients (rare: the first client, then each doubling until maxClients). */
  private grow(): void {
    const from = this.allocated;
    const C = (this.allocated = from === 0 ? Math.min(this.C, INITIAL_ENTRIES) : nextSize(from, this.C));
    const E = this.o.examples;
    this.key = grown(this.key, C);
    this.ref = grown(this.ref, C);
    this.epoch = grown(this.epoch, C);
    this.reportedUntil = grown(this.reportedUntil, C);
    this.cc = grown(this.cc, C * 2);
    this.nx = grown(this.nx, C * 2);
    this.nxQueries = grown(this.nxQueries, C * 2);
    this.dga = grown(this.dga, C * 2);
    this.dgaLike = grown(this.dgaLike, C * 2);
    this.bits = grown(this.bits, C * 2 * WORDS);
    this.exampleScore = grown(this.exampleScore, C * E);
    for (let i = from; i < C; i++) this.clients.push('');
    for (let i = from * E; i < C * E; i++) this.examples.push('');
  }

  get trackedClients(): number {
    return this.index.size;
  }

  get bytes(): number {
    return this.index.bytes + this.allocated * (4 + 1 + 4 + 4 + 2 * (4 * 5) + 2 * WORDS * 4 + 8 + this.o.examples * 12);
  }

  observe(e: DnsObservedQuery, n: NameParts): void {
    if (e.matched === 'cc') {
      this.observeCc(e.client, n.full, e.at);
      return;
    }
    if (e.rcode !== RCODE_NXDOMAIN || e.matched !== undefined) return;
    // A DGA bot looks up the generated domain itself (or www. of it). A missing child of
    // some other domain (a stale link, a typo below the domain, a random-subdomain flood)
    // says nothing about the client: rejected before any table is touched.
    if (n.labels < 2 || n.pseudo || n.zoneLabels === 0 || n.labels > n.zoneLabels + 1 || (n.labels === n.zoneLabels + 1 && !isWww(n.name))) return;
    const sec = Math.floor(e.at / 1000);
    const slot = this.slotOf(e.client, sec);
    if (slot < 0) return;
    const cur = slot * 2;
    this.nxQueries[cur]!++;
    const zl = n.zoneLabels;
    if (!this.firstTime(slot, mix32(n.hash(zl)))) return;
    this.nx[cur]!++;
    const from = n.start(zl);
    const to = zl === 1 ? n.name.length : n.start(zl - 1) - 1;
    const s = scoreLabel(n.name, from, to);
    const o = this.o;
    if (s > o.dgaFloor) this.dga[cur]! += (s - o.dgaFloor) / (1 - o.dgaFloor);
    if (s >= o.dgaLike) this.dgaLike[cur]!++;
    this.keepExample(slot, e.qname, s);
    this.check(slot, sec, e.client);
  }

  /**
   * A lookup the firewall answered from a `cc` zone, reduced to its name's hash
   * (hashBackward of the qname, NameParts.full): all the engine needs of it, so a worker
   * thread sends no name for these.
   */
  observeCc(client: string, nameHash: number, at: number): void {
    const sec = Math.floor(at / 1000);
    const slot = this.slotOf(client, sec);
    if (slot < 0) return;
    if (this.firstTime(slot, mix32(nameHash ^ CC_SEED))) this.cc[slot * 2]!++;
    this.check(slot, sec, client);
  }

  /** True when the key was not in either half's bitmap (and sets it in the current one). */
  private firstTime(slot: number, h: number): boolean {
    const bit = h & (WORDS * 32 - 1);
    const w = bit >>> 5;
    const m = 1 << (bit & 31);
    const curBase = slot * 2 * WORDS;
    const prevBase = curBase + WORDS;
    if ((this.bits[curBase + w]! & m) !== 0 || (this.bits[prevBase + w]! & m) !== 0) return false;
    this.bits[curBase + w]! |= m;
    return true;
  }

  private keepExample(slot: number, name: string, s: number): void {
    const E = this.o.examples;
    if (E === 0) return;
    let low = 0;
    for (let k = 1; k < E; k++) if (this.exampleScore[slot * E + k]! < this.exampleScore[slot * E + low]!) low = k;
    const i = slot * E + low;
    if (this.examples[i] === '' || s > this.exampleScore[i]!) {
      this.examples[i] = name;
      this.exampleScore[i] = s;
    }
  }

  private slotOf(client: string, sec: number): number {
    const ep = Math.floor(sec / this.halfSeconds);
    // The same client as the last event (a client's queries come in runs): no hashing.
    const last = this.lastSlot;
    if (last >= 0 && this.clients[last] === client) {
      this.ref[last] = 1;
      this.rotate(last, ep);
      return last;
    }
    const key = hashBackward(client);
    let slot = this.index.get(key);
    if (slot >= 0 && this.clients[slot] === client) {
      this.ref[slot] = 1;
      this.rotate(slot, ep);
      return (this.lastSlot = slot);
    }
    if (slot < 0) {
      if (this.filled < this.C) {
        if (this.filled === this.allocated) this.grow();
        slot = this.filled++;
      } else {
        while (this.ref[this.hand] === 1) {
          this.ref[this.hand] = 0;
          this.hand = (this.hand + 1) % this.C;
        }
        slot = this.hand;
        this.hand = (this.hand + 1) % this.C;
        this.index.delete(this.key[slot]!);
      }
      this.index.set(key, slot);
    }
    // New client (or a 32-bit hash collision: the newcomer takes the slot over).
    this.clients[slot] = client;
    this.key[slot] = key;
    this.ref[slot] = 0;
    this.epoch[slot] = ep;
    this.reportedUntil[slot] = this.reported.get(client) ?? 0;
    this.clearHalf(slot * 2);
    this.clearHalf(slot * 2 + 1);
    for (let k = 0; k < this.o.examples; k++) {
      this.examples[slot * this.o.examples + k] = '';
      this.exampleScore[slot * this.o.examples + k] = 0;
    }
    return (this.lastSlot = slot);
  }

  private rotate(slot: number, ep: number): void {
    const was = this.epoch[slot]!;
    if (ep <= was) return;
    const cur = slot * 2;
    if (ep === was + 1) {
      this.cc[cur + 1] = this.cc[cur]!;
      this.nx[cur + 1] = this.nx[cur]!;
      this.nxQueries[cur + 1] = this.nxQueries[cur]!;
      this.dga[cur + 1] = this.dga[cur]!;
      this.dgaLike[cur + 1] = this.dgaLike[cur]!;
      this.bits.copyWithin((cur + 1) * WORDS, cur * WORDS, cur * WORDS + WORDS);
      this.clearHalf(cur);
    } else {
      this.clearHalf(cur);
      this.clearHalf(cur + 1);
      for (let k = 0; k < this.o.examples; k++) {
        this.examples[slot * this.o.examples + k] = '';
        this.exampleScore[slot * this.o.examples + k] = 0;
      }
    }
    this.epoch[slot] = ep;
  }

  private clearHalf(h: number): void {
    this.cc[h] = 0;
    this.nx[h] = 0;
    this.nxQueries[h] = 0;
    this.dga[h] = 0;
    this.dgaLike[h] = 0;
    this.bits.fill(0, h * WORDS, h * WORDS + WORDS);
  }

  /** The evidence score of a slot now. */
  private score(slot: number): number {
    const o = this.o;
    const a = slot * 2;
    return o.ccWeight * (this.cc[a]! + this.cc[a + 1]!) + o.nxWeight * (this.nx[a]! + this.nx[a + 1]!) + o.dgaWeight * (this.dga[a]! + this.dga[a + 1]!);
  }

  private check(slot: number, sec: number, client: string): void {
    if (this.reportedUntil[slot]! > sec) return;
    const e = this.score(slot);
    if (e < this.o.threshold) return;
    const until = sec + this.o.cooldownSeconds;
    this.reportedUntil[slot] = until;
    // Insertion order is expiry order (same cooldown for all): drop the oldest when full.
    this.reported.delete(client);
    if (this.reported.size >= this.maxReported) this.reported.delete(this.reported.keys().next().value!);
    this.reported.set(client, until);
    const a = slot * 2;
    const nx = this.nx[a]! + this.nx[a + 1]!;
    const ex: { name: string; score: number }[] = [];
    for (let k = 0; k < this.o.examples; k++) {
      const name = this.examples[slot * this.o.examples + k]!;
      if (name !== '') ex.push({ name, score: this.exampleScore[slot * this.o.examples + k]! });
    }
    ex.sort((x, y) => y.score - x.score);
    const t = this.o.threshold;
    this.pending.push({
      type: 'start',
      kind: 'suspected-infection',
      subject: plainClient(client),
      at: sec * 1000,
      disposition: 'observe',
      confidence: Math.round(Math.min(0.95, 0.6 + 0.35 * Math.min(1, (e - t) / t)) * 100) / 100,
      evidence: {
        windowSeconds: this.o.windowSeconds,
        score: Math.round(e * 100) / 100,
        threshold: t,
        ccNames: this.cc[a]! + this.cc[a + 1]!,
        nxdomainDomains: nx,
        nxdomainQueriesForDomains: this.nxQueries[a]! + this.nxQueries[a + 1]!,
        dgaLikeDomains: this.dgaLike[a]! + this.dgaLike[a + 1]!,
        dgaScoreSum: Math.round((this.dga[a]! + this.dga[a + 1]!) * 100) / 100,
        examples: ex.map((x) => x.name),
        exampleScores: ex.map((x) => Math.round(x.score * 100) / 100),
      },
    });
    if (this.pending.length > 10_000) this.pending.shift();
  }

  /** Outputs that crossed the threshold since the last tick. */
  tick(_now: number): DetectorOutput[] {
    const out = this.pending;
    this.pending = [];
    return out;
  }

  /** Whether the client holds a slot (tests). */
  holds(client: string): boolean {
    const s = this.index.get(hashBackward(client));
    return s >= 0 && this.clients[s] === client;
  }
}
