import type { Store } from '../store/index.ts';
import type { AuditLog } from '../privacy/index.ts';
import { formatPrefix, newId, parseCidr, SakimoriError, systemClock, type Clock, type IpPrefix } from '../core/index.ts';

/**
 * Consent and opt-out (R1). Blocking at the resolver rests on the contract's
 * comprehensive consent, which holds only if the subscriber can opt out at any
 * time and is told so. Each choice is kept with its history (who, when, how,
 * why) and takes effect at once: listeners in the same process are called
 * before set() returns, and the change is published on the bus
 * (topic `consent.changed`) for other processes.
 *
 * A choice is about a subscriber (the portal, the contract) or about client
 * addresses (an operator opting a prefix out: `sakimori consent optout
 * --client 192.0.2.0/24`). The DNS firewall maps subscriber choices to the
 * addresses the subscriber holds through attribution.
 */
export const CONSENT_SERVICES = ['dns-protection'] as const;
export type ConsentService = (typeof CONSENT_SERVICES)[number];
export type ConsentChoice = 'opt-out' | 'opt-in';
export type ConsentScope = 'subscriber' | 'client';
/** `session`: applied by the consent follower as a subscriber's session took or gave up an address. */
export type ConsentVia = 'cli' | 'portal' | 'api' | 'contract' | 'session';

export interface ConsentEvent {
  id: string;
  at: number;
  scope: ConsentScope;
  /** A subscriber id, or a client prefix in canonical form ("192.0.2.0/24"). */
  subject: string;
  service: ConsentService;
  choice: ConsentChoice;
  actor: string;
  via: ConsentVia;
  reason: string | null;
}

export interface ConsentChange {
  scope: ConsentScope;
  subject: string;
  service?: ConsentService;
  choice: ConsentChoice;
  actor: string;
  via: ConsentVia;
  reason?: string;
}

/** The bus port this module needs: publishing only. */
export interface ConsentPublisher {
  publish(topic: string, data: unknown): Promise<unknown>;
}

export const CONSENT_TOPIC = 'consent.changed';

interface EventRow {
  id: string;
  at: number;
  scope: string;
  subject: string;
  service: string;
  choice: string;
  actor: string;
  via: string;
  reason: string | null;
}

export class ConsentRegistry {
  private readonly listeners = new Set<(e: ConsentEvent) => void>();
  private readonly clock: Clock;

  constructor(
    private readonly store: Store,
    private readonly audit: AuditLog,
    private readonly opts: { clock?: Clock; publisher?: ConsentPublisher } = {},
  ) {
    this.clock = opts.clock ?? systemClock;
  }

  /** Called synchronously with every change made through this registry. Returns an unsubscribe function. */
  onChange(listener: (e: ConsentEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async set(change: ConsentChange): Promise<ConsentEvent> {
    const subject = canonicalSubject(change.scope, change.subject);
    const service = change.service ?? 'dns-protection';
    if (!CONSENT_SERVICES.includes(service)) throw new SakimoriError('CONSENT_SERVICE', `unknown service "${service}"`, { hint: `one of: ${CONSENT_SERVICES.join(', ')}` });
    const at = this.clock.now();
    const event: ConsentEvent = { id: newId('cns', at), at, scope: change.scope, subject, service, choice: change.choice, actor: change.actor, via: change.via, reason: change.reason ?? null };
    await this.store.transaction(async (tx) => {
      await tx.run('INSERT INTO consent_events (id, at, scope, subject, service, choice, actor, via, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)', [
        event.id, event.at, event.scope, event.subject, event.service, event.choice, event.actor, event.via, event.reason,
      ]);
      await tx.run(
        `INSERT INTO consent_state (scope, subject, service, choice, since, event_id) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (scope, subject, service) DO UPDATE SET choice = excluded.choice, since = excluded.since, event_id = excluded.event_id`,
        [event.scope, event.subject, event.service, event.choice, event.at, event.id],
      );
    });
    await this.audit.append({ actor: change.actor, action: 'consent', purpose: 'consent', subject: `${event.scope}:${event.subject}`, detail: { service, choice: event.choice, via: event.via } });
    for (const l of this.listeners) l(event);
    await this.opts.publisher?.publish(CONSENT_TOPIC, event);
    return event;
  }

  optOut(change: Omit<ConsentChange, 'choice'>): Promise<ConsentEvent> {
    return this.set({ ...change, choice: 'opt-out' });
  }

  optIn(change: Omit<ConsentChange, 'choice'>): Promise<ConsentEvent> {
    return this.set({ ...change, choice: 'opt-in' });
  }

  /** Every choice ever made for a subject (or all subjects), oldest first. */
  async history(q: { scope?: ConsentScope; subject?: string; service?: ConsentService; limit?: number } = {}): Promise<ConsentEvent[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (q.scope) {
      where.push('scope = ?');
      params.push(q.scope);
    }
    if (q.subject !== undefined) {
      where.push('subject = ?');
      params.push(q.scope ? canonicalSubject(q.scope, q.subject) : q.subject);
    }
    if (q.service) {
      where.push('service = ?');
      params.push(q.service);
    }
    params.push(q.limit ?? 10_000);
    const rows = await this.store.all<EventRow>(`SELECT * FROM consent_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY at, id LIMIT ?`, params);
    return rows.map(toEvent);
  }

  /** Who is opted out of a service now. */
  async optedOut(service: ConsentService = 'dns-protection'): Promise<{ scope: ConsentScope; subject: string; since: number }[]> {
    const rows = await this.store.all<{ scope: string; subject: string; since: number }>(
      `SELECT scope, subject, since FROM consent_state WHERE service = ? AND choice = 'opt-out' ORDER BY scope, subject`,
      [service],
    );
    return rows.map((r) => ({ scope: r.scope as ConsentScope, subject: r.subject, since: r.since }));
  }

  /** The current choice for one subject; undefined when none was ever made (the contract's default applies). */
  async choiceOf(scope: ConsentScope, subject: string, service: ConsentService = 'dns-protection'): Promise<ConsentChoice | undefined> {
    const row = await this.store.get<{ choice: string }>('SELECT choice FROM consent_state WHERE scope = ? AND subject = ? AND service = ?', [scope, canonicalSubject(scope, subject), service]);
    return row?.choice as ConsentChoice | undefined;
  }

  /** Client prefixes opted out of a service now (for the DNS firewall's PrefixMap). */
  async clientOptOuts(service: ConsentService = 'dns-protection'): Promise<IpPrefix[]> {
    const out: IpPrefix[] = [];
    for (const r of await this.optedOut(service)) {
      if (r.scope !== 'client') continue;
      const p = parseCidr(r.subject);
      if (!('error' in p)) out.push(p);
    }
    return out;
  }
}

/** Client prefixes are stored canonically, so "192.0.2.7" and "192.0.2.7/32" are one subject. */
export function canonicalSubject(scope: ConsentScope, subject: string): string {
  if (scope === 'subscriber') {
    if (!subject.trim()) throw new SakimoriError('CONSENT_SUBJECT', 'a subscriber id is required');
    return subject.trim();
  }
  const p = parseCidr(subject.trim());
  if ('error' in p) throw new SakimoriError('CONSENT_SUBJECT', `--client ${p.error}`);
  return formatPrefix(p);
}

function toEvent(r: EventRow): ConsentEvent {
  return { id: r.id, at: r.at, scope: r.scope as ConsentScope, subject: r.subject, service: r.service as ConsentService, choice: r.choice as ConsentChoice, actor: r.actor, via: r.via as ConsentVia, reason: r.reason };
}
