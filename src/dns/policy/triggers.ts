/**
 * RPZ triggers as encoded in owner names (draft-vixie-dnsop-dns-rpz §4): the part of the
 * owner name below the policy zone's origin says what to match.
 *
 *   example.com                     QNAME, exact (§4.2)
 *   *.example.com                   QNAME, any name below example.com, not example.com itself
 *   32.2.0.0.127.rpz-client-ip      client address 127.0.0.2/32 (§4.1)
 *   48.zz.db8.2001.rpz-client-ip    client prefix 2001:db8::/48; zz is the "::" (RFC 5952 form)
 *   24.0.2.0.192.rpz-ip             an address in the answer (§4.3)
 *   ns.example.rpz-nsdname          a name server name (§4.4), wildcards allowed
 *   32.1.2.0.192.rpz-nsip           a name server address (§4.5)
 */
import { longestZeroRun, parseCidr, type IpPrefix } from '../../core/index.ts';

export type TriggerKind = 'qname' | 'wildcard' | 'client-ip' | 'response-ip' | 'nsdname' | 'nsdname-wildcard' | 'nsip';

export interface NameTrigger {
  kind: 'qname' | 'wildcard' | 'nsdname' | 'nsdname-wildcard';
  /** The name matched (exact) or the suffix below which names match (wildcard; '' = every name). */
  key: string;
}

export interface IpTrigger {
  kind: 'client-ip' | 'response-ip' | 'nsip';
  prefix: IpPrefix;
  /** Canonical trigger text without the zone, e.g. "32.2.0.0.127.rpz-client-ip": identity of the rule. */
  key: string;
}

export type Trigger = NameTrigger | IpTrigger;

const IP_LABELS: ReadonlyArray<[string, IpTrigger['kind']]> = [
  ['rpz-client-ip', 'client-ip'],
  ['rpz-ip', 'response-ip'],
  ['rpz-nsip', 'nsip'],
];

/** Position of the last label separator (an unescaped dot) in name text, or -1. */
export function lastSeparator(s: string): number {
  for (let i = s.lastIndexOf('.'); i > 0; i = s.lastIndexOf('.', i - 1)) {
    if (s.charCodeAt(i - 1) !== 92) return i;
    let bs = 0;
    for (let j = i - 1; j >= 0 && s.charCodeAt(j) === 92; j--) bs++;
    if (bs % 2 === 0) return i;
  }
  return -1;
}

/**
 * Owner name relative to the zone origin (both canonical): "bad.example" for
 * "bad.example.rpz.local" in "rpz.local"; '' for the apex; undefined when outside.
 */
export function relativeName(owner: string, origin: string): string | undefined {
  if (owner === origin) return '';
  if (origin === '.') return owner === '.' ? '' : owner;
  const cut = owner.length - origin.length - 1;
  if (cut <= 0 || !owner.endsWith(origin) || owner.charCodeAt(cut) !== 46) return undefined;
  let bs = 0;
  for (let j = cut - 1; j >= 0 && owner.charCodeAt(j) === 92; j--) bs++;
  return bs % 2 === 0 ? owner.slice(0, cut) : undefined;
}

/** Classifies a relative owner name (canonical text, not the apex). */
export function parseTrigger(rel: string): Trigger | { error: string } {
  const sep = lastSeparator(rel);
  const last = sep === -1 ? rel : rel.slice(sep + 1);
  for (const [label, kind] of IP_LABELS) {
    if (last !== label) continue;
    if (sep === -1) return { error: `"${rel}" has no prefix before ${label}: write e.g. 32.1.2.0.192.${label}` };
    const p = parseRpzPrefix(rel.slice(0, sep));
    if ('error' in p) return { error: `${label} trigger "${rel}": ${p.error}` };
    return { kind, prefix: p, key: rel };
  }
  if (last === 'rpz-nsdname') {
    if (sep === -1) return { error: '"rpz-nsdname" needs a name server name before it, e.g. ns.example.rpz-nsdname' };
    const name = rel.slice(0, sep);
    if (name === '*') return { kind: 'nsdname-wildcard', key: '' };
    if (name.startsWith('*.')) return { kind: 'nsdname-wildcard', key: name.slice(2) };
    return { kind: 'nsdname', key: name };
  }
  if (rel === '*') return { kind: 'wildcard', key: '' };
  if (rel.startsWith('*.')) return { kind: 'wildcard', key: rel.slice(2) };
  return { kind: 'qname', key: rel };
}

/** The owner text of a trigger, relative to the zone: inverse of parseTrigger. */
export function triggerText(t: Trigger): string {
  switch (t.kind) {
    case 'qname':
      return t.key;
    case 'wildcard':
      return t.key === '' ? '*' : `*.${t.key}`;
    case 'nsdname':
      return `${t.key}.rpz-nsdname`;
    case 'nsdname-wildcard':
      return t.key === '' ? '*.rpz-nsdname' : `*.${t.key}.rpz-nsdname`;
    default:
      return t.key;
  }
}

/**
 * "32.2.0.0.127" -> 127.0.0.2/32; "48.zz.db8.2001" -> 2001:db8::/48. The address must be
 * written as the draft says (§4.1): IPv4 as four decimal octets, IPv6 in the RFC 5952
 * form with "zz" for the longest run of zero groups, no leading zeros, lower case; the
 * prefix length 1-32 or 1-128; no bits set past the prefix. A non-canonical spelling is an
 * error (BIND's named-checkzone refuses it too), so one prefix has one owner name and
 * IXFR deletions find what they delete.
 */
export function parseRpzPrefix(text: string): IpPrefix | { error: string } {
  const labels = text.split('.');
  const lenText = labels[0]!;
  if (!/^\d+$/.test(lenText)) return { error: `"${lenText}" is not a prefix length: the first label is the length, e.g. 32` };
  const bits = lenText.length > 3 ? Infinity : Number(lenText);
  const parts = labels.slice(1).reverse();
  let addr: string;
  let max: number;
  if (parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p))) {
    addr = parts.join('.');
    max = 32;
  } else {
    if (parts.length < 1 || parts.length > 8) return { error: `"${text}" is not an IPv4 (4 octets) or IPv6 (up to 8 groups with zz) prefix` };
    let zz = 0;
    const groups = parts.map((p) => {
      if (p === 'zz') {
        zz++;
        return '';
      }
      return p;
    });
    if (zz > 1) return { error: '"zz" may appear only once (it stands for the one "::")' };
    if (zz === 0 && parts.length !== 8) return { error: `IPv6 prefix "${text}" has ${parts.length} groups: write 8, or use zz for a run of zeros` };
    if (groups.some((g) => g !== '' && !/^[0-9a-f]{1,4}$/.test(g))) return { error: `"${text}" has a group that is not 1-4 hex digits` };
    addr = groups.join(':');
    if (addr === '') addr = '::';
    else {
      if (addr.startsWith(':')) addr = ':' + addr;
      if (addr.endsWith(':')) addr += ':';
    }
    max = 128;
  }
  if (bits < 1 || bits > max) return { error: `prefix length ${lenText} is out of range: expected 1 to ${max}` };
  const p = parseCidr(`${addr}/${bits}`);
  if ('error' in p) return { error: p.error };
  const canonical = formatRpzPrefix(p);
  if (canonical !== text) return { error: `"${text}" is not written in canonical form: write "${canonical}"` };
  return p;
}

/** The canonical RPZ spelling of a prefix (length, then the address reversed). */
export function formatRpzPrefix(p: IpPrefix): string {
  const b = p.bytes;
  if (p.family === 4) return `${p.bits}.${b[3]}.${b[2]}.${b[1]}.${b[0]}`;
  const g: number[] = [];
  for (let k = 0; k < 8; k++) g.push((b[2 * k]! << 8) | b[2 * k + 1]!);
  const { start: bestStart, len: bestLen } = longestZeroRun(g);
  const out: string[] = [];
  for (let k = 0; k < 8; k++) {
    if (k === bestStart) {
      out.push('zz');
      k += bestLen - 1;
    } else out.push(g[k]!.toString(16));
  }
  return `${p.bits}.${out.reverse().join('.')}`;
}
