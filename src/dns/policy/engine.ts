/**
 * The policy engine: which rule, if any, decides a query (draft-vixie-dnsop-dns-rpz §5.x,
 * BIND ARM "Response Policy Zone (RPZ) Rewriting", precedence rules):
 *
 *   0. The never-block list (allow) first: any match there is PASSTHRU, whatever any
 *      other zone, static or dynamic, says (R4: legitimate names are never blocked).
 *   1. Zones in configured order: the first zone with a matching trigger decides; a
 *      PASSTHRU there also ends the search.
 *   2. Within a zone: rpz-client-ip before QNAME (before rpz-ip, NSDNAME, NSIP).
 *   3. Among client-ip triggers the longest prefix; among QNAME triggers the exact name,
 *      then the wildcard with the longest suffix (`*.b.example` before `*.example`).
 *
 * decide() is the hot path: no allocation on a miss, and a hit returns a Decision object
 * shared by every query that hits the same rule.
 */
import type { IpAddress } from '../../core/index.ts';
import { Decision, NO_MATCH, T_RESPONSE, type MatchedTrigger, type PolicyAction } from './actions.ts';
import { prepareQname, type RpzZone } from './zone.ts';

/** BIND's per-zone `policy` override: every hit in the zone gets this action instead of its own. */
export type ZoneOverride = 'passthru' | 'nxdomain' | 'nodata' | 'drop' | 'tcp-only';

export interface PolicySlot {
  zone: RpzZone;
  override?: ZoneOverride;
}

export interface PolicyEngineOptions {
  /** The never-block list: consulted before every zone; every match is PASSTHRU. */
  allow?: RpzZone;
  /** Policy zones in order of precedence (first matching zone wins). */
  zones?: readonly (RpzZone | PolicySlot)[];
}

interface Slot {
  readonly zone: RpzZone;
  readonly override: Readonly<Record<MatchedTrigger, Decision>> | undefined;
}

function slot(z: RpzZone | PolicySlot, forced?: ZoneOverride): Slot {
  const zone = 'zone' in z ? z.zone : z;
  const action: PolicyAction | undefined = forced ?? ('zone' in z ? z.override : undefined);
  if (action === undefined) return { zone, override: undefined };
  const d = (t: MatchedTrigger) => new Decision(action, zone.name, t, 0, undefined, undefined, undefined);
  return { zone, override: { none: NO_MATCH, 'client-ip': d('client-ip'), qname: d('qname'), wildcard: d('wildcard'), 'response-ip': d('response-ip') } };
}

export class PolicyEngine {
  // Replaced as a whole on every configuration change, so a decide() in progress sees
  // one consistent set (JS runs it to the end before any change can start anyway).
  private slots: readonly Slot[] = [];
  private allow: Slot | undefined;

  constructor(opts: PolicyEngineOptions = {}) {
    this.configure(opts);
  }

  /** Sets the zones and the allow list in one step. Throws on two zones with one name. */
  configure(opts: PolicyEngineOptions): void {
    const slots = (opts.zones ?? []).map((z) => slot(z));
    const names = new Set<string>();
    for (const s of [...slots, ...(opts.allow ? [slot(opts.allow)] : [])]) {
      if (names.has(s.zone.name)) throw new RangeError(`policy zone ${s.zone.name} is configured twice`);
      names.add(s.zone.name);
    }
    this.slots = slots;
    this.allow = opts.allow ? slot(opts.allow, 'passthru') : undefined;
  }

  /**
   * Swaps in a new version of a configured zone (same name), e.g. after a reload from file
   * or an AXFR: one reference assignment, so the next query sees the new zone and the old
   * one is garbage as soon as queries in flight are done (there are none: decide() is
   * synchronous). Returns false when no zone of that name is configured.
   */
  replaceZone(zone: RpzZone): boolean {
    if (this.allow?.zone.name === zone.name) {
      this.allow = slot(zone, 'passthru');
      return true;
    }
    const i = this.slots.findIndex((s) => s.zone.name === zone.name);
    if (i === -1) return false;
    const next = [...this.slots];
    const old = next[i]!;
    next[i] = slot(old.override ? { zone, override: old.override.qname.action as ZoneOverride } : zone);
    this.slots = next;
    return true;
  }

  zone(name: string): RpzZone | undefined {
    if (this.allow?.zone.name === name) return this.allow.zone;
    return this.slots.find((s) => s.zone.name === name)?.zone;
  }

  /** Zone names in precedence order, the allow list first when configured. */
  get zoneNames(): string[] {
    return [...(this.allow ? [this.allow.zone.name] : []), ...this.slots.map((s) => s.zone.name)];
  }

  /** Whether any zone has rpz-client-ip triggers; when not, callers may pass no client address. */
  get usesClientIp(): boolean {
    return (this.allow?.zone.hasClientIpTriggers ?? false) || this.slots.some((s) => s.zone.hasClientIpTriggers);
  }

  /** Whether any zone has rpz-ip triggers (worth calling decideResponse on answers). */
  get usesResponseIp(): boolean {
    return (this.allow?.zone.hasResponseIpTriggers ?? false) || this.slots.some((s) => s.zone.hasResponseIpTriggers);
  }

  /**
   * The decision for a query.
   * @param qnameLower the query name in canonical text: lower-case, escaped as name.ts
   *   renders it, no trailing dot, "." for the root (readQuery's `qname` is exactly that)
   * @param client the client address for rpz-client-ip triggers (undefined: skip them)
   * @param qtype selects the local data to answer with
   */
  decide(qnameLower: string, client: IpAddress | undefined, qtype: number): Decision {
    const named = prepareQname(qnameLower);
    if (this.allow !== undefined) {
      const d = match(this.allow, qnameLower, named, client, qtype);
      if (d !== undefined) return d;
    }
    const slots = this.slots;
    for (let i = 0; i < slots.length; i++) {
      const d = match(slots[i]!, qnameLower, named, client, qtype);
      if (d !== undefined) return d;
    }
    return NO_MATCH;
  }

  /**
   * rpz-ip triggers (draft §4.3) on the addresses of a forwarded answer. Call it only for
   * queries decide() left alone (NO_MATCH): a forwarder answers QNAME and client-ip hits
   * without asking upstream, like BIND with `qname-wait-recurse no`. Among the addresses
   * the longest prefix wins, then the smallest address; zones in order as for decide().
   */
  decideResponse(addresses: readonly IpAddress[], qtype: number): Decision {
    const all = this.allow ? [this.allow, ...this.slots] : this.slots;
    for (const s of all) {
      if (!s.zone.hasResponseIpTriggers) continue;
      let best: { id: number; bits: number } | undefined;
      let bestAddr: IpAddress | undefined;
      for (const a of addresses) {
        const m = s.zone.matchResponseIp(a);
        if (m && (!best || m.bits > best.bits || (m.bits === best.bits && compareIp(a, bestAddr!) < 0))) {
          best = m;
          bestAddr = a;
        }
      }
      if (best) {
        const d = s.zone.decisionFor(best.id, T_RESPONSE, qtype);
        return s.override ? s.override['response-ip'] : d;
      }
    }
    return NO_MATCH;
  }
}

function match(s: Slot, qname: string, named: boolean, client: IpAddress | undefined, qtype: number): Decision | undefined {
  const z = s.zone;
  let d: Decision | undefined;
  if (client !== undefined && z.hasClientIpTriggers) d = z.matchClient(client, qtype);
  if (d === undefined && named) d = z.matchName(qname, qtype);
  if (d === undefined) return undefined;
  return s.override === undefined ? d : s.override[d.trigger];
}

function compareIp(a: IpAddress, b: IpAddress): number {
  if (a.family !== b.family) return a.family - b.family;
  for (let i = 0; i < a.bytes.length; i++) if (a.bytes[i] !== b.bytes[i]) return a.bytes[i]! - b.bytes[i]!;
  return 0;
}
