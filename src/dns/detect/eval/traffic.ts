/**
 * Labelled DNS traffic for the evaluation harness (issue 5 item 6) and the tests: a world of
 * benign zones with Zipf popularity, clean clients (with the awkward parts of real traffic:
 * typos, browsers' random single-label probes, search-list suffixes, DNSBL lookups,
 * hash-named telemetry and CDN names, dead-link bursts), DGA-infected clients of five
 * generator families, random-subdomain floods and amplification abuse starting at known
 * times. Deterministic for a seed; generated one second at a time, so memory stays flat.
 */
import { benignLabel, DGA_FAMILIES, DGA_TLDS, dgaLabel, BENIGN_TLDS, TOKENS, type DgaFamily } from './labels.ts';
import { Rng, Zipf } from '../../../core/index.ts';
import { TEST_WORDS } from './words.ts';

export type TrafficLabel = 'benign' | 'prsd' | 'dga' | 'amplification';

export interface LabelledQuery {
  at: number;
  client: string;
  qname: string;
  qtype: number;
  /** What the upstream would answer (undefined: it times out). */
  rcode: number | undefined;
  size: number;
  label: TrafficLabel;
  /** Index into attacks / amplifications for attack traffic. */
  attack?: number;
}

export interface PrsdAttack {
  zone: string;
  /** Where the random labels go: the zone itself, or a child of it ("www"). */
  under: string;
  startSec: number;
  endSec: number;
  qps: number;
  style: 'alnum' | 'hex' | 'letters' | 'numeric';
  /** 'nxdomain': the authority answers; 'overload': it slows down to timeouts/SERVFAIL; 'wildcard': NOERROR for anything. */
  response: 'nxdomain' | 'overload' | 'wildcard';
  bots: number;
}

export interface AmplificationAbuse {
  name: string;
  qtype: number;
  size: number;
  startSec: number;
  endSec: number;
  qps: number;
  sources: number;
}

export interface WorldOptions {
  seed: number;
  zones: number;
  cleanClients: number;
  infectedPerFamily: number;
  benignQps: number;
  durationSec: number;
  /** Attack start times are scaled to the duration. */
  attacks: boolean;
}

export const DEFAULT_WORLD: WorldOptions = { seed: 1, zones: 3000, cleanClients: 20_000, infectedPerFamily: 80, benignQps: 2000, durationSec: 1800, attacks: true };

interface Zone {
  name: string;
  children: string[];
  wildcard: boolean;
}

export interface InfectedClient {
  client: string;
  family: DgaFamily;
  /** Seconds at which it queries a DGA name. */
  schedule: number[];
  ccLookups: boolean;
}

export class World {
  readonly o: WorldOptions;
  readonly zones: Zone[] = [];
  readonly cleanClients: string[] = [];
  readonly infected: InfectedClient[] = [];
  readonly attacks: PrsdAttack[] = [];
  readonly amplifications: AmplificationAbuse[] = [];
  /** Names on the harness's never-block list (exact names, and zones given as "*.zone"). */
  readonly neverBlock: string[] = [];
  /** C&C names (the harness's cc zone). */
  readonly ccNames: string[] = [];
  readonly special: { dnsbl: string; telemetry: string; cdn: string };
  private readonly rng: Rng;
  private readonly zoneZipf: Zipf;
  private readonly childZipf = new Zipf(40, 1.2);
  private readonly deadLink = new Map<number, string[]>(); // second -> clients bursting
  private readonly probeAt = new Map<number, string[]>();
  private readonly heavy: string[] = [];

  constructor(opts: Partial<WorldOptions> = {}) {
    const o = (this.o = { ...DEFAULT_WORLD, ...opts });
    const rng = (this.rng = new Rng(o.seed));
    const seen = new Set<string>();
    while (this.zones.length < o.zones) {
      const name = `${benignLabel(rng, TEST_WORDS)}.${rng.pick(BENIGN_TLDS)}`;
      if (seen.has(name)) continue;
      seen.add(name);
      const k = Math.min(39, Math.floor(rng.exp(5)));
      const children = ['', 'www'];
      for (let i = 0; i < k; i++) children.push(rng.chance(0.6) ? rng.pick(TOKENS) + (rng.chance(0.3) ? String(rng.range(1, 9)) : '') : rng.pick(TEST_WORDS));
      this.zones.push({ name, children: [...new Set(children)], wildcard: false });
    }
    this.zoneZipf = new Zipf(this.zones.length, 1.0);
    this.special = { dnsbl: 'zen.dnsbl-example.org', telemetry: 'avqs.telemetry-example.com', cdn: 'cdn.hashcdn-example.net' };
    for (let i = 0; i < o.cleanClients; i++) this.cleanClients.push(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    for (let i = 0; i < Math.floor(o.cleanClients / 100); i++) this.heavy.push(this.cleanClients[rng.int(this.cleanClients.length)]!);
    // 1% of clean clients open a page of dead links once (5-12 NXDOMAIN domains in a few seconds).
    for (let i = 0; i < Math.floor(o.cleanClients / 100); i++) {
      const sec = rng.int(o.durationSec);
      const list = this.deadLink.get(sec) ?? [];
      list.push(this.cleanClients[rng.int(this.cleanClients.length)]!);
      this.deadLink.set(sec, list);
    }
    // Every client starts a browser at some point: 3 random single-label probes.
    for (const c of this.cleanClients) {
      if (!rng.chance(0.3)) continue;
      const sec = rng.int(o.durationSec);
      const list = this.probeAt.get(sec) ?? [];
      list.push(c);
      this.probeAt.set(sec, list);
    }
    let n = 0;
    for (const family of DGA_FAMILIES) {
      for (let i = 0; i < o.infectedPerFamily; i++, n++) {
        const client = `10.100.${(n >> 8) & 255}.${n & 255}`;
        // 20-100 DGA names in the run, in 1-4 bursts (a bot retries until one resolves).
        const total = rng.range(20, 100);
        const bursts = rng.range(1, 4);
        const schedule: number[] = [];
        for (let b = 0; b < bursts; b++) {
          const start = rng.int(Math.max(1, o.durationSec - 120));
          const per = Math.ceil(total / bursts);
          const spread = rng.range(5, 120);
          for (let j = 0; j < per; j++) schedule.push(start + rng.int(spread));
        }
        schedule.sort((a, b) => a - b);
        this.infected.push({ client, family, schedule, ccLookups: rng.chance(0.1) });
      }
    }
    for (let i = 0; i < 20; i++) this.ccNames.push(`${dgaLabel(rng, 'letters', TEST_WORDS)}.${rng.pick(DGA_TLDS)}`);
    if (o.attacks) this.plan();
  }

  private plan(): void {
    const D = this.o.durationSec;
    const at = (f: number) => Math.floor(D * f);
    const victim = (rank: number) => this.zones[Math.min(rank, this.zones.length - 1)]!;
    const a1 = victim(40);
    const a2 = victim(Math.floor(this.zones.length * 0.7));
    const a3 = victim(2);
    const a4 = victim(Math.floor(this.zones.length * 0.1));
    const a5 = victim(Math.floor(this.zones.length * 0.3));
    a4.wildcard = true;
    const len = (f0: number, f1: number) => Math.max(60, at(f1) - at(f0));
    this.attacks.push(
      { zone: a1.name, under: a1.name, startSec: at(0.15), endSec: at(0.15) + len(0.15, 0.25), qps: 2000, style: 'alnum', response: 'nxdomain', bots: 300 },
      { zone: a2.name, under: a2.name, startSec: at(0.33), endSec: at(0.33) + len(0.33, 0.43), qps: 1000, style: 'hex', response: 'overload', bots: 200 },
      { zone: a3.name, under: `www.${a3.name}`, startSec: at(0.5), endSec: at(0.5) + len(0.5, 0.57), qps: 5000, style: 'letters', response: 'nxdomain', bots: 500 },
      { zone: a4.name, under: a4.name, startSec: at(0.66), endSec: at(0.66) + len(0.66, 0.73), qps: 1500, style: 'letters', response: 'wildcard', bots: 300 },
      { zone: a5.name, under: a5.name, startSec: at(0.82), endSec: at(0.82) + len(0.82, 0.89), qps: 1000, style: 'numeric', response: 'nxdomain', bots: 200 },
    );
    // Never-block names under two victims, and one whole benign zone.
    this.neverBlock.push(`sso.${a1.name}`, `api.${a3.name}`, `*.${this.zones[7]!.name}`);
    a1.children.push('sso');
    a3.children.push('api');
    const big = this.zones[Math.floor(this.zones.length * 0.5)]!;
    this.amplifications.push(
      { name: `txt.${big.name}`, qtype: 255, size: 3600, startSec: at(0.22), endSec: at(0.22) + len(0.22, 0.39), qps: 200, sources: 400 },
      { name: this.zones[Math.floor(this.zones.length * 0.05)]!.name, qtype: 48, size: 1600, startSec: at(0.55), endSec: at(0.55) + len(0.55, 0.72), qps: 60, sources: 120 },
    );
  }

  /** Every benign name of a zone (for collateral checks). */
  zoneOfAttack(i: number): Zone {
    return this.zones.find((z) => z.name === this.attacks[i]!.zone)!;
  }

  /** The queries of second `sec`, in time order. */
  second(sec: number): LabelledQuery[] {
    const rng = this.rng;
    const out: LabelledQuery[] = [];
    const t0 = sec * 1000;
    const n = poisson(rng, this.o.benignQps);
    for (let i = 0; i < n; i++) out.push(this.benign(t0 + rng.next() * 1000));
    for (const c of this.deadLink.get(sec) ?? []) {
      const k = rng.range(5, 12);
      for (let j = 0; j < k; j++) out.push({ at: t0 + rng.next() * 3000, client: c, qname: `${benignLabel(rng, TEST_WORDS)}.${rng.pick(BENIGN_TLDS)}`, qtype: 1, rcode: 3, size: 100, label: 'benign' });
    }
    for (const c of this.probeAt.get(sec) ?? []) {
      for (let j = 0; j < 3; j++) {
        let l = '';
        const len = rng.range(7, 15);
        for (let k = 0; k < len; k++) l += String.fromCharCode(97 + rng.int(26));
        out.push({ at: t0 + rng.next() * 1000, client: c, qname: l, qtype: 1, rcode: 3, size: 100, label: 'benign' });
      }
    }
    for (const inf of this.infected) {
      for (const s of inf.schedule) {
        if (s !== sec) continue;
        const fqdn = `${dgaLabel(rng, inf.family, TEST_WORDS)}.${rng.pick(DGA_TLDS)}`;
        out.push({ at: t0 + rng.next() * 1000, client: inf.client, qname: fqdn, qtype: 1, rcode: rng.chance(0.02) ? 0 : 3, size: 120, label: 'dga' });
      }
      if (inf.ccLookups && inf.schedule[0] === sec) out.push({ at: t0 + rng.next() * 1000, client: inf.client, qname: rng.pick(this.ccNames), qtype: 1, rcode: 0, size: 80, label: 'dga' });
      // Infected clients browse too (their share of benign traffic).
      if (rng.chance(this.o.benignQps / (this.o.cleanClients + this.infected.length))) out.push({ ...this.benign(t0 + rng.next() * 1000), client: inf.client });
    }
    this.attacks.forEach((a, i) => {
      if (sec < a.startSec || sec >= a.endSec) return;
      const k = poisson(rng, a.qps);
      const overloaded = a.response === 'overload' && sec >= a.startSec + 10;
      for (let j = 0; j < k; j++) {
        const qname = `${randomLabel(rng, a.style)}.${a.under}`;
        let rcode: number | undefined = a.response === 'wildcard' ? 0 : 3;
        if (overloaded) rcode = rng.chance(0.5) ? undefined : rng.chance(0.6) ? 2 : 3;
        const bot = rng.int(a.bots);
        out.push({ at: t0 + rng.next() * 1000, client: `10.200.${(bot >> 8) & 255}.${bot & 255}`, qname, qtype: 1, rcode, size: rcode === 0 ? 90 : 120, label: 'prsd', attack: i });
      }
    });
    this.amplifications.forEach((a, i) => {
      if (sec < a.startSec || sec >= a.endSec) return;
      const k = poisson(rng, a.qps);
      for (let j = 0; j < k; j++) {
        const s = rng.int(a.sources);
        out.push({ at: t0 + rng.next() * 1000, client: `10.150.${(s >> 8) & 255}.${s & 255}`, qname: a.name, qtype: a.qtype, rcode: 0, size: a.size, label: 'amplification', attack: i });
      }
    });
    out.sort((x, y) => x.at - y.at);
    return out;
  }

  private benign(at: number): LabelledQuery {
    const rng = this.rng;
    const client = rng.chance(0.2) ? rng.pick(this.heavy) : this.cleanClients[rng.int(this.cleanClients.length)]!;
    const r = rng.next();
    if (r < 0.004) {
      // DNSBL lookups by mail servers: reversed octets, mostly "not listed" (NXDOMAIN).
      const q = `${rng.int(256)}.${rng.int(256)}.${rng.int(256)}.${rng.int(224)}.${this.special.dnsbl}`;
      return { at, client: this.heavy[rng.int(Math.min(5, this.heavy.length))]!, qname: q, qtype: 1, rcode: rng.chance(0.8) ? 3 : 0, size: 100, label: 'benign' };
    }
    if (r < 0.014) return { at, client, qname: `${hex(rng, 32)}.${this.special.telemetry}`, qtype: 1, rcode: 0, size: 110, label: 'benign' };
    if (r < 0.02) return { at, client, qname: `${hex(rng, 12)}.${this.special.cdn}`, qtype: 1, rcode: 0, size: 130, label: 'benign' };
    if (r < 0.025) return { at, client, qname: `${rng.pick(['wpad', 'printer', 'nas', 'router', rng.pick(TEST_WORDS)])}.${rng.pick(['lan', 'home', 'local', 'localdomain'])}`, qtype: 1, rcode: 3, size: 90, label: 'benign' };
    const z = this.zones[this.zoneZipf.sample(rng)]!;
    if (r < 0.045) {
      // Typo or stale child: NXDOMAIN (a wildcard zone answers it).
      return { at, client, qname: `${rng.pick(TEST_WORDS)}.${z.name}`, qtype: 1, rcode: z.wildcard ? 0 : 3, size: 100, label: 'benign' };
    }
    if (r < 0.046) {
      // Typo of the registrable name itself (1 query in 1,000: people type few names, apps none):
      // one deletion, doubling, swap or substitution.
      const parts = z.name.split('.');
      const typo = typoOf(rng, parts[0]!);
      const q = `${typo}.${parts.slice(1).join('.')}`;
      return { at, client, qname: rng.chance(0.5) ? `www.${q}` : q, qtype: 1, rcode: 3, size: 100, label: 'benign' };
    }
    if (r < 0.048) {
      // Validating stubs fetch DNSKEY of popular zones: large, but few sources.
      return { at, client: this.heavy[rng.int(Math.min(3, this.heavy.length))]!, qname: z.name, qtype: 48, rcode: 0, size: 1400, label: 'benign' };
    }
    const child = z.children[Math.min(this.childZipf.sample(rng), z.children.length - 1)]!;
    const qname = child === '' ? z.name : `${child}.${z.name}`;
    const qtype = rng.chance(0.7) ? 1 : rng.chance(0.8) ? 28 : rng.chance(0.5) ? 16 : 65;
    return { at, client, qname, qtype, rcode: 0, size: qtype === 16 ? 400 : 120, label: 'benign' };
  }
}

const NEIGHBOUR: Record<string, string> = { a: 'qs', b: 'vn', c: 'xv', d: 'sf', e: 'wr', f: 'dg', g: 'fh', h: 'gj', i: 'uo', j: 'hk', k: 'jl', l: 'k', m: 'n', n: 'bm', o: 'ip', p: 'o', q: 'w', r: 'et', s: 'ad', t: 'ry', u: 'yi', v: 'cb', w: 'qe', x: 'zc', y: 'tu', z: 'x' };

function typoOf(rng: Rng, l: string): string {
  if (l.length < 3) return l + l[l.length - 1];
  const i = rng.int(l.length - 1);
  switch (rng.int(4)) {
    case 0:
      return l.slice(0, i) + l.slice(i + 1);
    case 1:
      return l.slice(0, i) + l[i] + l.slice(i);
    case 2:
      return l.slice(0, i) + l[i + 1] + l[i] + l.slice(i + 2);
    default: {
      const nb = NEIGHBOUR[l[i]!] ?? 'e';
      return l.slice(0, i) + nb[rng.int(nb.length)] + l.slice(i + 1);
    }
  }
}

function poisson(rng: Rng, mean: number): number {
  // Normal approximation for large means (this is traffic volume, not a statistics test).
  if (mean > 50) return Math.max(0, Math.round(mean + Math.sqrt(mean) * gauss(rng)));
  let k = 0;
  let p = Math.exp(-mean);
  let s = p;
  const u = rng.next();
  while (u > s && k < 1000) {
    k++;
    p *= mean / k;
    s += p;
  }
  return k;
}

function gauss(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
}

function hex(rng: Rng, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += '0123456789abcdef'[rng.int(16)];
  return s;
}

function randomLabel(rng: Rng, style: PrsdAttack['style']): string {
  switch (style) {
    case 'hex':
      return hex(rng, 16);
    case 'numeric': {
      let s = '';
      const n = rng.range(6, 10);
      for (let i = 0; i < n; i++) s += String(rng.int(10));
      return s;
    }
    case 'letters': {
      let s = '';
      const n = rng.range(8, 12);
      for (let i = 0; i < n; i++) s += String.fromCharCode(97 + rng.int(26));
      return s;
    }
    default: {
      let s = '';
      const n = rng.range(10, 14);
      for (let i = 0; i < n; i++) s += 'abcdefghijklmnopqrstuvwxyz0123456789'[rng.int(36)];
      return s;
    }
  }
}
