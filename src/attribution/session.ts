/**
 * The session model: who (subscriber login) held what (an address, a prefix,
 * or a public address with a port range) from when to when, and how sure we
 * are of each edge. Pure: no I/O.
 *
 * One row of the index is one held network of one session, so a dual-stack
 * PPPoE session (Framed-IP-Address + Framed-IPv6-Prefix +
 * Delegated-IPv6-Prefix) is three rows with the same NAS and session id.
 */
import { keyOf } from './address.ts';

/** What kind of network a row holds, shown in results. */
export const ROLES = ['ipv4', 'ipv4-prefix', 'ipv6-framed', 'ipv6-delegated', 'port-block'] as const;
export type HoldingRole = (typeof ROLES)[number];

/** Where a session came from. */
export const SOURCES = ['radius', 'detail', 'radacct', 'dhcpd', 'kea', 'cgnat'] as const;
export type SessionSource = (typeof SOURCES)[number];

/** The whole port space: a row that holds a whole address. */
export const ALL_PORTS = { start: 0, end: 65535 } as const;

export interface SessionRecord {
  /** The NAS (or DHCP server, CGNAT box) that reported it; session ids are unique per NAS. */
  nas: string;
  sessionId: string;
  /** The login (User-Name); for DHCP the circuit/remote id or MAC; for CGNAT a login or the inside address. */
  subscriber: string;
  /** Index key of the held network (address.ts). */
  addrKey: string;
  portStart: number;
  portEnd: number;
  role: HoldingRole;
  start: number;
  /** The start was not reported but derived (Stop or Interim without Start: event time minus Acct-Session-Time). */
  startInferred: boolean;
  /** Null while open. */
  end: number | null;
  /** The end was not reported but derived (Accounting-On/Off from the NAS). */
  endInferred: boolean;
  /** The latest event seen for the session (start, interim, stop); retention counts from here. */
  lastSeen: number;
  source: SessionSource;
}

// flags column: bits 0-2 role, bit 3 start inferred, bit 4 end inferred, bits 5-8 source.
export const FLAG_START_INFERRED = 8;
export const FLAG_END_INFERRED = 16;

export function packFlags(r: Pick<SessionRecord, 'role' | 'startInferred' | 'endInferred' | 'source'>): number {
  return ROLES.indexOf(r.role) | (r.startInferred ? FLAG_START_INFERRED : 0) | (r.endInferred ? FLAG_END_INFERRED : 0) | (SOURCES.indexOf(r.source) << 5);
}

export function unpackFlags(flags: number): Pick<SessionRecord, 'role' | 'startInferred' | 'endInferred' | 'source'> {
  return {
    role: ROLES[flags & 7] ?? 'ipv4',
    startInferred: (flags & FLAG_START_INFERRED) !== 0,
    endInferred: (flags & FLAG_END_INFERRED) !== 0,
    source: SOURCES[(flags >> 5) & 15] ?? 'radius',
  };
}

/**
 * 32-bit FNV-1a of NAS and session id. It is part of the row's unique key
 * (address, ports, start, this hash): the same session written twice lands
 * on the same row, while the index entry stays small (a number, not two
 * strings). Two different sessions would have to share the address, the
 * start millisecond and the hash to collide.
 */
export function sessionHash(nas: string, sessionId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < nas.length; i++) h = Math.imul(h ^ nas.charCodeAt(i), 0x01000193);
  h = Math.imul(h ^ 0x0a, 0x01000193);
  for (let i = 0; i < sessionId.length; i++) h = Math.imul(h ^ sessionId.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The networks a RADIUS-style record holds, each as (key, role); malformed ones are reported. */
export interface HeldNetworks {
  held: Array<{ addrKey: string; role: HoldingRole }>;
  /** "Framed-IP-Address "1.2.3" is not an IPv4 address" — for the import report. */
  problems: string[];
}

function addHeld(out: HeldNetworks, name: string, text: string | undefined, want: 4 | 6, role: HoldingRole): void {
  if (text === undefined || text === '') return;
  const key = keyOf(text);
  if (key === undefined || (want === 4) !== (key.charCodeAt(0) === 52)) {
    out.problems.push(`${name} "${text}" is not an IPv${want} ${want === 4 ? 'address' : 'prefix'}`);
    return;
  }
  // 0.0.0.0 and 255.255.255.254 ask the NAS to pick or the user to choose (RFC 2865 §5.8): no address was held yet.
  if (key === '400000000' || key === '4fffffffe' || key === '4ffffffff') return;
  out.held.push({ addrKey: key, role: want === 4 && key.indexOf('/') >= 0 ? 'ipv4-prefix' : role });
}

export function heldNetworks(attrs: { framedIp?: string | undefined; framedIpv6Prefix?: string | undefined; delegatedIpv6Prefix?: string | undefined; framedIpv6Address?: string | undefined }): HeldNetworks {
  const out: HeldNetworks = { held: [], problems: [] };
  addHeld(out, 'Framed-IP-Address', attrs.framedIp, 4, 'ipv4');
  addHeld(out, 'Framed-IPv6-Prefix', attrs.framedIpv6Prefix, 6, 'ipv6-framed');
  addHeld(out, 'Delegated-IPv6-Prefix', attrs.delegatedIpv6Prefix, 6, 'ipv6-delegated');
  addHeld(out, 'Framed-IPv6-Address', attrs.framedIpv6Address, 6, 'ipv6-framed');
  return out;
}
