/**
 * Where a query name's zone is: the registrable domain (public suffix + one label), found
 * from a small suffix list written here (not the full Public Suffix List: ~190 rules for
 * the suffixes Japanese ISPs' clients actually query, global gTLD hosting suffixes, and
 * the reverse trees). Unknown TLDs count as one-label suffixes, so `x.example.zz`'s zone
 * is `example.zz`.
 *
 * One backward pass over the name (FNV-1a over characters from the end, as the policy
 * engine's name table does) gives the hash of every suffix at its label boundaries; the
 * suffix rules are looked up by those hashes, so nothing is sliced or allocated per query.
 */

const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;

/** FNV-1a of s[start, end) taken from the end backwards (same order as NameParts). */
export function hashBackward(s: string, start = 0, end = s.length): number {
  let h = FNV_OFFSET;
  for (let i = end - 1; i >= start; i--) h = Math.imul(h ^ s.charCodeAt(i), FNV_PRIME);
  return h | 0;
}

/** murmur3's finaliser: spreads FNV's weak low bits (for sketches, HLL and table slots). */
export function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h | 0;
}

/**
 * Suffixes under which each label is its own zone (owner: registrant), one per line group.
 * `in-addr.arpa` zones are /16s (2 more labels), `ip6.arpa` zones /32s (8 nibbles): the
 * usual delegation points, so a flood of random PTR names lands on the network's zone.
 */
const SUFFIXES = `
co.jp ne.jp or.jp ac.jp ad.jp ed.jp go.jp gr.jp lg.jp
hokkaido.jp aomori.jp iwate.jp miyagi.jp akita.jp yamagata.jp fukushima.jp ibaraki.jp tochigi.jp gunma.jp
saitama.jp chiba.jp tokyo.jp kanagawa.jp niigata.jp toyama.jp ishikawa.jp fukui.jp yamanashi.jp nagano.jp
gifu.jp shizuoka.jp aichi.jp mie.jp shiga.jp kyoto.jp osaka.jp hyogo.jp nara.jp wakayama.jp tottori.jp
shimane.jp okayama.jp hiroshima.jp yamaguchi.jp tokushima.jp kagawa.jp ehime.jp kochi.jp fukuoka.jp saga.jp
nagasaki.jp kumamoto.jp oita.jp miyazaki.jp kagoshima.jp okinawa.jp
co.uk org.uk ac.uk gov.uk net.uk ltd.uk plc.uk me.uk nhs.uk police.uk
com.au net.au org.au edu.au gov.au id.au asn.au co.nz net.nz org.nz govt.nz ac.nz
com.cn net.cn org.cn gov.cn edu.cn ac.cn com.tw net.tw org.tw edu.tw gov.tw idv.tw
com.hk net.hk org.hk edu.hk gov.hk co.kr or.kr ne.kr go.kr ac.kr re.kr
com.sg net.sg org.sg edu.sg gov.sg co.th in.th ac.th go.th or.th
co.in net.in org.in firm.in gen.in ac.in gov.in co.id or.id ac.id go.id web.id
com.my net.my org.my com.ph net.ph org.ph com.vn net.vn com.tr net.tr org.tr
com.br net.br org.br gov.br com.mx org.mx com.ar co.za org.za com.ua com.ru
blogspot.com github.io githubusercontent.com herokuapp.com appspot.com cloudfront.net
azurewebsites.net cloudapp.net firebaseapp.com web.app netlify.app vercel.app pages.dev workers.dev
s3.amazonaws.com elb.amazonaws.com execute-api.amazonaws.com
sakura.ne.jp xsrv.jp lolipop.jp hatenablog.com hateblo.jp fc2.com wixsite.com jimdofree.com
dyndns.org ddns.net duckdns.org no-ip.org mydns.jp
`;

/** Special zone depths: the zone has this many labels in total. */
const DEEP: Record<string, number> = { 'in-addr.arpa': 4, 'ip6.arpa': 10 };

/**
 * Names that are not on the public Internet (RFC 6761, RFC 6762, RFC 8375, home-router
 * habits): an NXDOMAIN there is a local search-list mistake, never DGA evidence.
 */
const PSEUDO_TLDS = ['local', 'lan', 'home', 'corp', 'internal', 'localdomain', 'intranet', 'private', 'invalid', 'test', 'example', 'localhost', 'arpa', 'home.arpa', 'domain', 'workgroup', 'onion'];

// rule value: bits 0-7 zone labels (0 = not a rule itself), bit 8 = longer rules exist below,
// bit 9 = pseudo-TLD. A static open-addressing table of int32 hashes: one or two probes per
// lookup, no Map hashing on the hot path.
const HAS_LONGER = 0x100;
const IS_PSEUDO = 0x200;
const TABLE_BITS = 11;
const TMASK = (1 << TABLE_BITS) - 1;
const TKEYS = new Int32Array(1 << TABLE_BITS);
const TVALS = new Int32Array(1 << TABLE_BITS); // 0 = empty

function tslot(h: number): number {
  let i = (h ^ (h >>> 15)) & TMASK;
  while (TVALS[i] !== 0 && TKEYS[i] !== h) i = (i + 1) & TMASK;
  return i;
}

/** The rule bits for a suffix hash, 0 when none. */
function rule(h: number): number {
  let i = (h ^ (h >>> 15)) & TMASK;
  for (;;) {
    const v = TVALS[i]!;
    if (v === 0 || TKEYS[i] === h) return v;
    i = (i + 1) & TMASK;
  }
}

function orRule(h: number, bits: number, clearLabels = false): void {
  const i = tslot(h);
  TKEYS[i] = h;
  TVALS[i] = ((clearLabels ? TVALS[i]! & ~0xff : TVALS[i]!) | bits) | 0x8000; // 0x8000: occupied
}

function addRule(suffix: string, zoneLabels: number): void {
  const labels = suffix.split('.');
  for (let k = labels.length - 1; k >= 1; k--) orRule(hashBackward(labels.slice(k).join('.')), HAS_LONGER);
  orRule(hashBackward(suffix), zoneLabels, true);
}

for (const s of SUFFIXES.split(/\s+/).filter(Boolean)) addRule(s, s.split('.').length + 1);
for (const [s, n] of Object.entries(DEEP)) addRule(s, n);
for (const t of PSEUDO_TLDS) orRule(hashBackward(t), IS_PSEUDO);

/** How many suffix rules the list holds (for the README and tests). */
export const SUFFIX_RULES = SUFFIXES.split(/\s+/).filter(Boolean).length + Object.keys(DEEP).length;

const MAX_BOUNDARIES = 12;

/**
 * One query name taken apart, in place (no allocation): reuse one instance per thread.
 * After parse(): `labels`, `zoneLabels` (labels of its zone, 0 if the name is itself a
 * public suffix or not usable), `hash(m)` = hash of the last m labels (m <= 12 and m =
 * labels), `start(m)` = where that suffix starts in the string.
 */
export class NameParts {
  name = '';
  labels = 0;
  zoneLabels = 0;
  /** Hash of the whole name. */
  full = 0;
  /** The top-level label is a pseudo-TLD (local, lan, home...). */
  pseudo = false;
  private readonly h = new Int32Array(MAX_BOUNDARIES + 1);
  private readonly s = new Int32Array(MAX_BOUNDARIES + 1);

  /** False for the root, the empty name and text longer than any name. */
  parse(name: string): boolean {
    const len = name.length;
    this.name = name;
    this.labels = 0;
    this.zoneLabels = 0;
    this.pseudo = false;
    if (len === 0 || len > 1100 || (len === 1 && name.charCodeAt(0) === 46)) return false;
    let h = FNV_OFFSET;
    let m = 0;
    const H = this.h;
    const S = this.s;
    H[0] = h;
    S[0] = len;
    for (let i = len - 1; i >= 0; i--) {
      const c = name.charCodeAt(i);
      if (c === 46 && (i === 0 || name.charCodeAt(i - 1) !== 92 || dotAfterBackslashes(name, i))) {
        m++;
        if (m <= MAX_BOUNDARIES) {
          H[m] = h;
          S[m] = i + 1;
        }
      }
      h = Math.imul(h ^ c, FNV_PRIME);
    }
    m++;
    this.full = h | 0;
    if (m <= MAX_BOUNDARIES) {
      H[m] = h | 0;
      S[m] = 0;
    }
    this.labels = m;
    // Longest matching suffix rule, walking down while the table says longer rules exist.
    let r = rule(H[1]!);
    this.pseudo = (r & IS_PSEUDO) !== 0 || (m >= 2 && (rule(H[2]!) & IS_PSEUDO) !== 0);
    let zl = 2;
    let k = 1;
    while (r !== 0) {
      if ((r & 0xff) !== 0) zl = r & 0xff;
      if ((r & HAS_LONGER) === 0 || k + 1 > m || k + 1 > MAX_BOUNDARIES) break;
      k++;
      r = rule(H[k]!);
    }
    this.zoneLabels = m >= zl && zl <= MAX_BOUNDARIES ? zl : 0;
    return true;
  }

  /** Hash of the last m labels (0 <= m <= min(labels, 12)). */
  hash(m: number): number {
    return m >= this.labels ? this.full : this.h[m]!;
  }

  /** Offset where the suffix of the last m labels starts. */
  start(m: number): number {
    return m >= this.labels ? 0 : this.s[m]!;
  }

  /** The zone's text (allocates: call off the hot path). */
  zone(): string {
    return this.zoneLabels === 0 ? '' : this.name.slice(this.start(this.zoneLabels));
  }

  /** End (exclusive) of the leftmost label. */
  firstLabelEnd(): number {
    return this.labels <= 1 ? this.name.length : this.start(this.labels - 1) - 1;
  }
}

function dotAfterBackslashes(s: string, dot: number): boolean {
  let bs = 0;
  for (let j = dot - 1; j >= 0 && s.charCodeAt(j) === 92; j--) bs++;
  return bs % 2 === 0;
}

/** Convenience for tests, tools and cold paths: the zone of a name ('' when none). */
export function zoneOf(name: string): string {
  const p = new NameParts();
  return p.parse(name) ? p.zone() : '';
}
