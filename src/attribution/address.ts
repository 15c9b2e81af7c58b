/**
 * Addresses and prefixes as index keys.
 *
 * A session holds an IPv4 address, an IPv4 or IPv6 prefix, or (CGNAT) a
 * public IPv4 address with a port range. The index finds it by one text key
 * per held network, fixed-width hex so that equal networks give equal keys
 * whatever way they were written ("2001:DB8:0:0::/56", "2001:db8::/56"):
 *
 *   IPv4 /32      "4" + 8 hex digits                   "4c0000201"          (192.0.2.1)
 *   IPv4 /L<32    "4" + 8 hex digits (masked) + "/L"   "4c0000200/29"
 *   IPv6 /L       "6" + ceil(L/4) hex digits + "/L"    "620010db8000100/56" (2001:db8:1::/56)
 *
 * A looked-up address is turned into one key per prefix length the index
 * holds (a handful: /32; /64, /56, /48 ...), so a /128 query finds the
 * delegated /56 that contains it with a few index probes instead of a range
 * scan. Pure: no I/O.
 */
export type Family = 4 | 6;

export interface Network {
  family: Family;
  /** 4 or 16 bytes, host bits zero. */
  bytes: Uint8Array;
  /** Prefix length: 32 or 128 for a single address. */
  len: number;
}

const HEX = '0123456789abcdef';

function parseIPv4Bytes(text: string, out: Uint8Array, at: number): boolean {
  let octet = 0;
  let digits = 0;
  let part = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 46; /* '.' ends the last octet */
    if (c === 46) {
      if (digits === 0 || part > 3) return false;
      out[at + part++] = octet;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      // No leading zeros: "010" is octal to some tools and decimal to others.
      if (digits > 0 && octet === 0) return false;
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return false;
    } else {
      return false;
    }
  }
  return part === 4;
}

function parseIPv6Bytes(text: string): Uint8Array | undefined {
  if (text.length < 2 || text.length > 45) return undefined;
  const out = new Uint8Array(16);
  const dbl = text.indexOf('::');
  if (dbl >= 0 && text.indexOf('::', dbl + 1) >= 0) return undefined;
  const head = dbl >= 0 ? text.slice(0, dbl) : text;
  const tail = dbl >= 0 ? text.slice(dbl + 2) : '';
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === '' ? [] : tail.split(':');
  // An embedded IPv4 address ("::ffff:192.0.2.1") takes the last two groups.
  const last = (dbl >= 0 ? tailGroups : headGroups).at(-1);
  let v4: Uint8Array | undefined;
  if (last !== undefined && last.includes('.')) {
    v4 = new Uint8Array(4);
    if (!parseIPv4Bytes(last, v4, 0)) return undefined;
    (dbl >= 0 ? tailGroups : headGroups).pop();
  }
  const groupsNeeded = v4 ? 6 : 8;
  const have = headGroups.length + tailGroups.length;
  if (dbl >= 0 ? have > groupsNeeded - 1 : have !== groupsNeeded) return undefined;
  const put = (groups: string[], start: number): boolean => {
    for (let g = 0; g < groups.length; g++) {
      const s = groups[g]!;
      if (s.length === 0 || s.length > 4) return false;
      let v = 0;
      for (let i = 0; i < s.length; i++) {
        const h = HEX.indexOf(s[i]!.toLowerCase());
        if (h < 0) return false;
        v = v * 16 + h;
      }
      out[(start + g) * 2] = v >> 8;
      out[(start + g) * 2 + 1] = v & 255;
    }
    return true;
  };
  if (!put(headGroups, 0)) return undefined;
  if (!put(tailGroups, groupsNeeded - tailGroups.length)) return undefined;
  if (v4) out.set(v4, 12);
  return out;
}

function mask(bytes: Uint8Array, len: number): Uint8Array {
  const out = bytes.slice();
  for (let i = 0; i < out.length; i++) {
    const keep = len - i * 8; // bits of this byte inside the prefix
    if (keep >= 8) continue;
    out[i] = keep <= 0 ? 0 : out[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  return out;
}

/** True when an IPv6 address is IPv4-mapped (::ffff:a.b.c.d): it is that IPv4 address. */
function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/**
 * Parses "192.0.2.1", "2001:db8::1", "2001:db8:1::/56", "192.0.2.0/29".
 * Host bits of a prefix are cleared (a NAS that writes "2001:db8:1::1/64"
 * means the /64). IPv4-mapped IPv6 addresses are IPv4. Undefined if malformed.
 */
export function parseNetwork(text: string): Network | undefined {
  let s = text.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  let len: number | undefined;
  const slash = s.indexOf('/');
  if (slash >= 0) {
    const lenText = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(lenText)) return undefined;
    len = Number(lenText);
    s = s.slice(0, slash);
  }
  if (s.includes(':')) {
    if (s.includes('%')) return undefined; // zone ids are link-local, never a subscriber's address
    const b = parseIPv6Bytes(s);
    if (!b) return undefined;
    if (isV4Mapped(b) && (len === undefined || len >= 96)) {
      return { family: 4, bytes: mask(b.slice(12), (len ?? 128) - 96), len: (len ?? 128) - 96 };
    }
    const l = len ?? 128;
    if (l > 128) return undefined;
    return { family: 6, bytes: mask(b, l), len: l };
  }
  const b = new Uint8Array(4);
  if (!parseIPv4Bytes(s, b, 0)) return undefined;
  const l = len ?? 32;
  if (l > 32) return undefined;
  return { family: 4, bytes: mask(b, l), len: l };
}

/** The index key of a network (see the table at the top of this file). */
export function networkKey(n: Network): string {
  if (n.family === 4) {
    let k = '4';
    for (let i = 0; i < 4; i++) k += HEX[n.bytes[i]! >> 4]! + HEX[n.bytes[i]! & 15]!;
    return n.len === 32 ? k : `${k}/${n.len}`;
  }
  const nibbles = Math.ceil(n.len / 4);
  let k = '6';
  for (let i = 0; i < nibbles; i++) {
    const byte = n.bytes[i >> 1]!;
    k += HEX[(i & 1) === 0 ? byte >> 4 : byte & 15]!;
  }
  return `${k}/${n.len}`;
}

/**
 * The key of a plain dotted IPv4 address, on the import hot path (no
 * allocation beyond the result). Undefined if the text is not one.
 */
export function ipv4Key(text: string): string | undefined {
  let k = '4';
  let octet = 0;
  let digits = 0;
  let parts = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 46;
    if (c === 46) {
      if (digits === 0 || parts > 3) return undefined;
      k += HEX[octet >> 4]! + HEX[octet & 15]!;
      parts++;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return undefined;
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return undefined;
    } else {
      return undefined;
    }
  }
  return parts === 4 ? k : undefined;
}

/** The key of any address or prefix text, or undefined if malformed. */
export function keyOf(text: string): string | undefined {
  const fast = ipv4Key(text);
  if (fast !== undefined) return fast;
  const n = parseNetwork(text);
  return n ? networkKey(n) : undefined;
}

/** Family and prefix length of a key, cheaply (for the prefix-length registry). */
export function keyShape(key: string): { family: Family; len: number } {
  const family: Family = key.charCodeAt(0) === 52 /* '4' */ ? 4 : 6;
  const slash = key.indexOf('/');
  return { family, len: slash < 0 ? 32 : Number(key.slice(slash + 1)) };
}

/** Back from a key to the usual text: "192.0.2.1", "192.0.2.0/29", "2001:db8:1::/56". */
export function keyToText(key: string): string {
  const { family, len } = keyShape(key);
  const slash = key.indexOf('/');
  const hex = key.slice(1, slash < 0 ? undefined : slash);
  if (family === 4) {
    const parts: number[] = [];
    for (let i = 0; i < 8; i += 2) parts.push(parseInt(hex.slice(i, i + 2), 16));
    const ip = parts.join('.');
    return len === 32 ? ip : `${ip}/${len}`;
  }
  const full = hex.padEnd(32, '0');
  const bytes = new Uint8Array(16);
  for (let i = 0; i < 16; i++) bytes[i] = parseInt(full.slice(i * 2, i * 2 + 2), 16);
  const ip = formatIPv6(bytes);
  return len === 128 ? ip : `${ip}/${len}`;
}

/** RFC 5952 text: lower case, no leading zeros, the longest run of two or more zero groups as "::". */
export function formatIPv6(b: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number[]) => g.map((x) => x.toString(16)).join(':');
  if (bestAt < 0) return hex(groups);
  return `${hex(groups.slice(0, bestAt))}::${hex(groups.slice(bestAt + bestLen))}`;
}

/** Prefix lengths the index holds, per family; the lookup probes each. */
export interface PrefixLengths {
  4: readonly number[];
  6: readonly number[];
}

/**
 * The keys under which a session holding `addr` may be filed: the address
 * itself (an IPv4 /32 session or a /128) and each shorter prefix length the
 * index holds, masked. Only lengths not longer than the query's own.
 */
export function candidateKeys(addr: Network, lengths: PrefixLengths): string[] {
  const keys: string[] = [];
  const seen = new Set<number>();
  const own = addr.len;
  // IPv4 sessions are nearly all /32, so that key is always probed; IPv6
  // sessions hold prefixes, so only the lengths the index has are.
  const list = addr.family === 4 ? [32, ...lengths[4]] : [...lengths[6], ...(own < 128 ? [own] : [])];
  for (const len of list) {
    if (len > own || seen.has(len)) continue;
    seen.add(len);
    keys.push(networkKey({ family: addr.family, bytes: mask(addr.bytes, len), len }));
  }
  return keys;
}
