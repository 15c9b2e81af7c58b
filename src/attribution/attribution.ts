/**
 * Look-ups as the rest of Sakimori makes them: purpose-bound and audited
 * (R16). The index answers; this states why it was asked, refuses purposes
 * that may not attribute, writes the audit entry, and follows a CGNAT port
 * block to the inside address's own session.
 */
import { PurposeMismatchError, SakimoriError, isPurpose, type Purpose } from '../core/index.ts';
import type { AuditEntryInput } from '../privacy/index.ts';
import { keyToText, parseNetwork } from './address.ts';
import { isoTime, type LookupOutcome, type SessionView } from './lookup.ts';
import type { SessionIndex } from './session-index.ts';

/**
 * The data's own purpose, and the purposes a look-up may serve: each ends in
 * telling or protecting one subscriber (R1, R2, R3, R5, R9, R12, R14).
 * Sharing, research and operations never see who held an address.
 */
export const ATTRIBUTION_PURPOSE: Purpose = 'subscriber-attribution';
export const LOOKUP_PURPOSES = [
  'subscriber-attribution',
  'infection-notice',
  'router-survey-notice',
  'credential-abuse',
  'cc-blocking',
  'ddos-response',
] as const satisfies readonly Purpose[];
export type LookupPurpose = (typeof LOOKUP_PURPOSES)[number];

export function isLookupPurpose(p: unknown): p is LookupPurpose {
  return typeof p === 'string' && (LOOKUP_PURPOSES as readonly string[]).includes(p);
}

export interface LookupRequest {
  /** An IPv4 or IPv6 address (a prefix is accepted too). */
  ip: string;
  /** Epoch ms. */
  at: number;
  port?: number | undefined;
  purpose: Purpose;
  /** Who asks, for the audit log: "cli", "api:127.0.0.1", "cases". */
  actor: string;
  /** Overrides the configured clock-skew tolerance (e.g. a report with a poor clock). */
  skewMs?: number | undefined;
}

export type LookupResult = LookupOutcome & {
  query: { ip: string; port?: number; at: string; skewMs: number; purpose: Purpose };
  /**
   * The CGNAT port block that held the address and port when its holder is
   * an inside (private) address; `session`/`subscriber` are then that inside
   * address's own session, and `result` here is how its look-up went.
   */
  via?: { insideAddress: string; portBlock: SessionView; result: LookupOutcome['result'] };
};

/** The audit log's write side (AuditLog fits). */
export interface AuditSink {
  record(entry: AuditEntryInput): void;
}

export interface AttributionOptions {
  /** Clock-skew tolerance at session edges (attribution.clockSkew). */
  clockSkewMs: number;
}

export class Attribution {
  constructor(
    readonly index: SessionIndex,
    private readonly audit: AuditSink,
    private readonly opts: AttributionOptions,
  ) {}

  async lookup(req: LookupRequest): Promise<LookupResult> {
    if (!isLookupPurpose(req.purpose)) {
      const purpose = isPurpose(req.purpose) ? req.purpose : 'operations';
      this.audit.record({ actor: req.actor, action: 'read', purpose, subject: 'attribution_sessions', detail: { refused: 'purpose', stated: String(req.purpose) } });
      throw new PurposeMismatchError('subscriber attribution', `${ATTRIBUTION_PURPOSE} (for ${LOOKUP_PURPOSES.slice(1).join(', ')})`, String(req.purpose));
    }
    const addr = parseNetwork(req.ip);
    if (!addr) throw new SakimoriError('ATTRIBUTION_BAD_ADDRESS', `"${req.ip}" is not an IPv4 or IPv6 address`, { hint: 'give an address such as 192.0.2.1 or 2001:db8::1' });
    if (req.port !== undefined && (!Number.isInteger(req.port) || req.port < 0 || req.port > 65535)) {
      throw new SakimoriError('ATTRIBUTION_BAD_PORT', `port ${req.port} is not a port number`, { hint: 'give a port from 0 to 65535' });
    }
    if (!Number.isFinite(req.at)) throw new SakimoriError('ATTRIBUTION_BAD_TIME', 'the look-up time is not a valid time', { hint: 'give an ISO 8601 time with its offset, or epoch seconds' });
    const skewMs = req.skewMs ?? this.opts.clockSkewMs;
    const q = { at: req.at, port: req.port, skewMs };
    let outcome: LookupOutcome = await this.index.holderAt(addr, q);
    let via: LookupResult['via'];
    if (outcome.result === 'found' && outcome.session.role === 'port-block') {
      const inside = parseNetwork(outcome.subscriber);
      if (inside) {
        const inner = await this.index.holderAt(inside, { at: req.at, skewMs });
        via = { insideAddress: outcome.subscriber, portBlock: outcome.session, result: inner.result };
        if (inner.result === 'found' || inner.result === 'ambiguous') outcome = inner;
      }
    }
    const at = isoTime(req.at);
    // Built key by key, not spread: this runs for every look-up (the keys keep their order in the JSON).
    const detail: Record<string, unknown> = { at };
    if (req.port !== undefined) detail.port = req.port;
    detail.result = outcome.result;
    if (via) detail.via = 'cgnat';
    this.audit.record({ actor: req.actor, action: 'read', purpose: req.purpose, subject: req.ip, detail });
    const query: LookupResult['query'] = { ip: req.ip } as LookupResult['query'];
    if (req.port !== undefined) query.port = req.port;
    query.at = at;
    query.skewMs = skewMs;
    query.purpose = req.purpose;
    const result = { ...outcome, query } as LookupResult;
    if (via) result.via = via;
    return result;
  }

  /**
   * The addresses and prefixes a subscriber (login) holds right now, e.g.
   * for the portal's DNS-protection opt-out to apply at once (R1).
   * Purpose-bound and audited like a look-up.
   */
  async currentAddresses(login: string, ctx: { purpose: Purpose; actor: string }): Promise<string[]> {
    if (!HOLDINGS_PURPOSES.includes(ctx.purpose)) {
      this.audit.record({ actor: ctx.actor, action: 'read', purpose: isPurpose(ctx.purpose) ? ctx.purpose : 'operations', subject: 'attribution_sessions', detail: { refused: 'purpose', stated: String(ctx.purpose) } });
      throw new PurposeMismatchError("a subscriber's current addresses", `${ATTRIBUTION_PURPOSE} (for ${HOLDINGS_PURPOSES.join(', ')})`, String(ctx.purpose));
    }
    const held = await this.index.currentHoldings(login);
    const addresses = [...new Set(held.map((h) => keyToText(h.addrKey)))];
    this.audit.record({ actor: ctx.actor, action: 'read', purpose: ctx.purpose, subject: `subscriber:${login}`, detail: { currentAddresses: addresses.length } });
    return addresses;
  }
}

/** Purposes that may ask which addresses a subscriber holds now: applying their own choice (R1 consent), and the look-up purposes. */
export const HOLDINGS_PURPOSES: readonly Purpose[] = ['consent', ...LOOKUP_PURPOSES];

/**
 * A time as an operator or a report writes it: ISO 8601 with its offset
 * ("2025-01-06T12:00:00Z", "2025-01-06T21:00:00+09:00") or epoch seconds
 * (milliseconds if it has 13 digits or more). A time without an offset is
 * refused: read as UTC or as local time it could name the wrong subscriber.
 */
export function parseTime(text: string): number | { error: string } {
  const s = text.trim();
  if (/^\d+(\.\d+)?$/.test(s)) {
    const n = Number(s);
    return n >= 1e11 ? Math.round(n) : Math.round(n * 1000);
  }
  const m = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?\s*(Z|z|[+-]\d{2}:?\d{2})?$/.exec(s);
  if (!m) return { error: `"${text}" is not a time: give ISO 8601 with an offset (2025-01-06T12:00:00Z, 2025-01-06T21:00:00+09:00) or epoch seconds` };
  if (!m[8]) return { error: `"${text}" has no UTC offset: add Z for UTC or the offset, such as +09:00 (without it the time could be read 9 hours off)` };
  const t = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6] ?? '00'}${m[7] ?? ''}${m[8].toUpperCase() === 'Z' ? 'Z' : m[8].length === 5 ? `${m[8].slice(0, 3)}:${m[8].slice(3)}` : m[8]}`);
  if (!Number.isFinite(t)) return { error: `"${text}" is not a valid date and time` };
  return t;
}
