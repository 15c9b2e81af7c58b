import type { Purpose } from '../core/index.ts';

/**
 * The one question cases ask attribution: who held this address (and source
 * port, behind CGNAT) at that time? Every look-up states its purpose, which
 * the attribution index audits (R16). The node wires the real index
 * (src/attribution) behind this port; tests use InMemoryLocator.
 */
export type LocateResult =
  | { result: 'found'; login: string; session?: Record<string, unknown> }
  | { result: 'ambiguous'; logins: string[] }
  | { result: 'gap' }
  | { result: 'unknown' };

export interface SubscriberLocator {
  holderAt(ip: string, at: number, opts: { port?: number; purpose: Purpose }): Promise<LocateResult>;
}

export interface InMemorySession {
  ip: string;
  login: string;
  start: number;
  /** Exclusive; undefined while the session is open. */
  end?: number;
  /** CGNAT: the source-port block this subscriber had on the shared address. */
  ports?: [number, number];
}

/**
 * Sessions in a list, answered the way the attribution index answers:
 * `unknown` for an address never seen, `gap` for a known address at a time no
 * session covers, `ambiguous` when several do. For tests and small setups.
 */
export class InMemoryLocator implements SubscriberLocator {
  readonly lookups: { ip: string; at: number; port?: number; purpose: Purpose }[] = [];
  constructor(private readonly sessions: InMemorySession[] = []) {}

  add(s: InMemorySession): void {
    this.sessions.push(s);
  }

  async holderAt(ip: string, at: number, opts: { port?: number; purpose: Purpose }): Promise<LocateResult> {
    this.lookups.push({ ip, at, ...(opts.port !== undefined ? { port: opts.port } : {}), purpose: opts.purpose });
    const onIp = this.sessions.filter((s) => s.ip === ip);
    if (onIp.length === 0) return { result: 'unknown' };
    const covering = onIp.filter(
      (s) => s.start <= at && (s.end === undefined || at < s.end) && (!s.ports || opts.port === undefined || (opts.port >= s.ports[0] && opts.port <= s.ports[1])),
    );
    const logins = [...new Set(covering.map((s) => s.login))];
    if (logins.length === 0) return { result: 'gap' };
    if (logins.length > 1) return { result: 'ambiguous', logins };
    return { result: 'found', login: logins[0]! };
  }
}
