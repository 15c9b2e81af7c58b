import type { Store } from '../store/index.ts';
import type { AuditLog } from '../privacy/index.ts';
import type { Part, PartHealth } from '../core/index.ts';
import { canonicalSubject, type ConsentEvent, type ConsentRegistry } from './consent-registry.ts';

/**
 * Follows an opted-out subscriber onto the addresses they get (R1).
 *
 * The DNS firewall filters by client address; a subscriber's opt-out must
 * therefore be on whatever address or delegated prefix the subscriber holds,
 * and an ISP subscriber gets a new one at every reconnection. The follower
 * puts a client-scope opt-out on an address when a session of an opted-out
 * subscriber takes it (RADIUS Start, or an Interim with a new address), takes
 * it off when that session stops, and takes them all off when the subscriber
 * opts back in. Every change goes through the ConsentRegistry (history,
 * audit, `consent.changed`), with actor `consent-follower` and via `session`.
 *
 * It removes only what it put there: each opt-out it makes is remembered in
 * `consent_follow` with the consent event that made it, and is undone only if
 * that event is still the address's current choice (an operator's later
 * choice on the same address stands).
 *
 * Subscriber choices made elsewhere (`sakimori consent optout --subscriber`
 * in another process, another node's portal) are picked up by reading
 * consent_state twice a second; sessions written by an import in another
 * process are picked up as soon as the import's audit entry appears (the
 * same poll), and a reconciliation every `reconcileMs` catches anything else
 * (a Stop missed while the node was down).
 */
export const FOLLOWER_ACTOR = 'consent-follower';

/** A claim on a follow row older than this was left by a node that stopped half-way. */
const CLAIM_TIMEOUT_MS = 60_000;

/** A session change as attribution reports it, once recorded. */
export interface FollowedSessionChange {
  kind: 'start' | 'interim' | 'stop' | 'nas-reset';
  nas: string;
  sessionId?: string | undefined;
  /** The login (RADIUS User-Name). */
  login?: string | undefined;
  /** Whole addresses and prefixes held, as text. */
  addresses: readonly string[];
}

export interface ConsentFollowerDeps {
  consent: Pick<ConsentRegistry, 'set' | 'choiceOf'>;
  store: Store;
  audit: Pick<AuditLog, 'record'>;
  /** The login of a subscriber id (the subscriber directory); a subscriber id the directory does not know is taken as the login itself. */
  loginOf(subscriberId: string): Promise<string | undefined>;
  /** What a login holds now, in its open sessions (attribution). */
  holdingsOf(login: string): Promise<{ address: string; nas: string; sessionId: string }[]>;
  logger: { warn(obj: object, msg: string): void };
  /** How often subscriber choices made elsewhere are looked for (default 500 ms). */
  pollMs?: number;
  /** How often every opted-out subscriber's holdings are reconciled (default 60 s). */
  reconcileMs?: number;
}

interface FollowRow {
  subject: string;
  subscriber: string;
  nas: string;
  session_id: string;
  event_id: string;
}

export class ConsentFollower implements Part {
  readonly name = 'consent-follower';
  private chain: Promise<unknown> = Promise.resolve();
  private pollTimer: NodeJS.Timeout | undefined;
  private reconcileTimer: NodeJS.Timeout | undefined;
  private mark = { since: -1, ids: new Set<string>() };
  /** The audit log's head when last looked at: an import of sessions (another process) is audited as a write to attribution_sessions. */
  private auditMark: number | undefined;
  private readonly stats = { applied: 0, released: 0, failed: 0, lastError: undefined as string | undefined };

  /**
   * Logins of opted-out subscribers (from consent_state, which every node
   * reads): an Interim of anyone else costs nothing. A Start or Stop of
   * anyone costs one indexed read of the small consent_follow table, since
   * another node may have made the opt-out on the address.
   */
  private optedOutLogins = new Map<string, string>();

  constructor(private readonly deps: ConsentFollowerDeps) {}

  async start(): Promise<void> {
    await this.poll();
    this.pollTimer = setInterval(() => void this.poll(), this.deps.pollMs ?? 500);
    this.pollTimer.unref();
    this.reconcileTimer = setInterval(() => void this.reconcile(), this.deps.reconcileMs ?? 60_000);
    this.reconcileTimer.unref();
  }

  async stop(): Promise<void> {
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.reconcileTimer) clearInterval(this.reconcileTimer);
    await this.idle();
  }

  async health(): Promise<PartHealth> {
    const { lastError, ...counts } = this.stats;
    return { status: lastError && this.stats.failed > 0 ? 'degraded' : 'ok', detail: { ...counts, ...(lastError ? { lastError } : {}) } };
  }

  endpoints(): [] {
    return [];
  }

  /** Waits until everything handed over so far is done (tests, shutdown). */
  async idle(): Promise<void> {
    let c: Promise<unknown>;
    do {
      c = this.chain;
      await c;
    } while (c !== this.chain);
  }

  /** A recorded session change (attribution's live stream). Does not block the caller; changes are applied in order. */
  sessionChanged(c: FollowedSessionChange): void {
    const optedOut = c.login !== undefined && this.optedOutLogins.has(c.login);
    if (c.kind === 'interim' && !optedOut) return;
    if (c.kind === 'start' && !optedOut) {
      if (c.addresses.length > 0) void this.enqueue(() => this.onTakenOver(c)).catch(() => undefined);
      return;
    }
    void this.enqueue(() => this.onSession(c)).catch(() => undefined);
  }

  /** Applies a subscriber's opt-out to what the subscriber holds now; returns every address the follower covers for them. */
  follow(subscriberId: string): Promise<string[]> {
    return this.enqueue(() => this.followNow(subscriberId));
  }

  /** Takes off every opt-out the follower made for a subscriber (they opted back in); returns the addresses released. */
  release(subscriberId: string): Promise<string[]> {
    return this.enqueue(() => this.releaseNow(subscriberId));
  }

  /** Reconciles every opted-out subscriber with what they hold now (sessions imported by another process, Stops missed while down). */
  reconcile(): Promise<void> {
    return this.enqueue(async () => {
      const rows = await this.deps.store.all<{ subject: string }>("SELECT subject FROM consent_state WHERE scope = 'subscriber' AND service = 'dns-protection' AND choice = 'opt-out'");
      const logins = new Map<string, string>();
      for (const r of rows) logins.set((await this.deps.loginOf(r.subject)) ?? r.subject, r.subject);
      this.optedOutLogins = logins;
      for (const r of rows) await this.followNow(r.subject, { quiet: true });
      // Rows whose subscriber opted in while nobody was listening.
      const stale = await this.deps.store.all<{ subscriber: string }>(
        `SELECT DISTINCT f.subscriber FROM consent_follow f WHERE NOT EXISTS
           (SELECT 1 FROM consent_state s WHERE s.scope = 'subscriber' AND s.subject = f.subscriber AND s.service = f.service AND s.choice = 'opt-out')`,
      );
      for (const r of stale) await this.releaseNow(r.subscriber);
    });
  }

  private enqueue<T>(work: () => Promise<T>): Promise<T> {
    const run = this.chain.then(work);
    this.chain = run.catch((err: unknown) => {
      this.stats.failed++;
      this.stats.lastError = (err as Error).message;
      this.deps.logger.warn({ err: (err as Error).message }, 'consent follower: a change could not be applied; the next reconciliation retries it');
    });
    return run;
  }

  private async onSession(c: FollowedSessionChange): Promise<void> {
    if (c.kind === 'nas-reset') {
      const rows = await this.deps.store.all<FollowRow>("SELECT subject, subscriber, nas, session_id, event_id FROM consent_follow WHERE nas = ? AND service = 'dns-protection'", [c.nas]);
      for (const r of rows) await this.undo(r, `the NAS ${c.nas} restarted, ending the session that held it`);
      return;
    }
    if (c.kind === 'stop') {
      const rows = await this.deps.store.all<FollowRow>(
        "SELECT subject, subscriber, nas, session_id, event_id FROM consent_follow WHERE nas = ? AND session_id = ? AND service = 'dns-protection'",
        [c.nas, c.sessionId ?? ''],
      );
      for (const r of rows) await this.undo(r, `session ${c.sessionId} ended`);
      return;
    }
    const subscriber = c.login ? this.optedOutLogins.get(c.login) : undefined;
    if (!subscriber || c.addresses.length === 0) return;
    if ((await this.deps.consent.choiceOf('subscriber', subscriber)) !== 'opt-out') return;
    for (const a of c.addresses) await this.cover(subscriber, a, c.nas, c.sessionId ?? '', `subscriber ${subscriber} is opted out and session ${c.sessionId} took this address`);
  }

  /** Another subscriber's Start on an address the follower had opted out (the Stop of the session that held it was lost): it is theirs now, filtered as their choice says. */
  private async onTakenOver(c: FollowedSessionChange): Promise<void> {
    for (const a of c.addresses) {
      const subject = this.subjectOf(a);
      if (!subject) continue;
      const row = await this.deps.store.get<FollowRow>("SELECT subject, subscriber, nas, session_id, event_id FROM consent_follow WHERE subject = ? AND service = 'dns-protection'", [subject]);
      if (row) await this.undo(row, `session ${c.sessionId} of another subscriber took the address`);
    }
  }

  private async followNow(subscriberId: string, opts: { quiet?: boolean } = {}): Promise<string[]> {
    if ((await this.deps.consent.choiceOf('subscriber', subscriberId)) !== 'opt-out') return [];
    const login = (await this.deps.loginOf(subscriberId)) ?? subscriberId;
    this.optedOutLogins.set(login, subscriberId);
    const held = await this.deps.holdingsOf(login);
    let changed = 0;
    const heldSubjects = new Set<string>();
    for (const h of held) {
      const subject = this.subjectOf(h.address);
      if (!subject) continue;
      heldSubjects.add(subject);
      if (await this.cover(subscriberId, subject, h.nas, h.sessionId, `subscriber ${subscriberId} is opted out and holds this address`)) changed++;
    }
    // Addresses followed before and no longer held (their Stop was missed, or came from an import).
    for (const r of await this.rowsOf(subscriberId)) {
      if (heldSubjects.has(r.subject)) continue;
      await this.undo(r, `subscriber ${subscriberId} no longer holds it`);
      changed++;
    }
    // R16: reading who holds what is audited; a reconciliation that found nothing to change leaves no entry.
    if (!opts.quiet || changed > 0) {
      this.deps.audit.record({ actor: FOLLOWER_ACTOR, action: 'read', purpose: 'consent', subject: `subscriber:${subscriberId}`, detail: { currentAddresses: held.length, changed } });
    }
    return (await this.rowsOf(subscriberId)).map((r) => r.subject);
  }

  private async releaseNow(subscriberId: string): Promise<string[]> {
    for (const [login, id] of this.optedOutLogins) if (id === subscriberId) this.optedOutLogins.delete(login);
    const released: string[] = [];
    for (const r of await this.rowsOf(subscriberId)) if (await this.undo(r, `subscriber ${subscriberId} opted back in`)) released.push(r.subject);
    return released;
  }

  private rowsOf(subscriberId: string): Promise<FollowRow[]> {
    return this.deps.store.all<FollowRow>("SELECT subject, subscriber, nas, session_id, event_id FROM consent_follow WHERE subscriber = ? AND service = 'dns-protection' ORDER BY subject", [subscriberId]);
  }

  /**
   * Opts an address out for a subscriber unless it is already (by anyone);
   * true when it did. Several nodes may follow at once (they share the
   * store): the follow row is claimed first (a row with no event yet), and
   * only the node whose claim went in records the opt-out.
   */
  private async cover(subscriberId: string, address: string, nas: string, sessionId: string, reason: string): Promise<boolean> {
    const subject = this.subjectOf(address);
    if (!subject) return false;
    const { store } = this.deps;
    const mine = await store.get<FollowRow & { at: number }>("SELECT subject, subscriber, nas, session_id, event_id, at FROM consent_follow WHERE subject = ? AND service = 'dns-protection'", [subject]);
    const current = await store.get<{ event_id: string; choice: string }>("SELECT event_id, choice FROM consent_state WHERE scope = 'client' AND subject = ? AND service = 'dns-protection'", [subject]);
    if (current?.choice === 'opt-out') {
      // Already off. If it is ours from an earlier session of the same address, the new session owns it now.
      if (mine && mine.event_id === current.event_id && (mine.nas !== nas || mine.session_id !== sessionId || mine.subscriber !== subscriberId)) {
        await store.run("UPDATE consent_follow SET subscriber = ?, nas = ?, session_id = ? WHERE subject = ? AND service = 'dns-protection' AND event_id = ?", [subscriberId, nas, sessionId, subject, mine.event_id]);
      }
      return false;
    }
    if (mine) {
      // A row whose opt-out someone has since replaced (an operator's opt-in), or a claim left by a node that stopped half-way: it no longer holds.
      const abandoned = mine.event_id === '' && Number(mine.at) < Date.now() - CLAIM_TIMEOUT_MS;
      if (mine.event_id === '' && !abandoned) return false; // another node is covering it right now
      await store.run("DELETE FROM consent_follow WHERE subject = ? AND service = 'dns-protection' AND event_id = ?", [subject, mine.event_id]);
    }
    const claim = await store.run(
      "INSERT INTO consent_follow (subject, service, subscriber, nas, session_id, event_id, at) VALUES (?, 'dns-protection', ?, ?, ?, '', ?) ON CONFLICT (subject, service) DO NOTHING",
      [subject, subscriberId, nas, sessionId, Date.now()],
    );
    if (claim.changes !== 1) return false;
    let e: ConsentEvent;
    try {
      e = await this.deps.consent.set({ scope: 'client', subject, choice: 'opt-out', actor: FOLLOWER_ACTOR, via: 'session', reason });
    } catch (err) {
      await store.run("DELETE FROM consent_follow WHERE subject = ? AND service = 'dns-protection' AND event_id = ''", [subject]);
      throw err;
    }
    await store.run("UPDATE consent_follow SET event_id = ?, at = ? WHERE subject = ? AND service = 'dns-protection' AND event_id = ''", [e.id, e.at, subject]);
    this.stats.applied++;
    return true;
  }

  /**
   * Takes off an opt-out the follower made, if it is still the address's
   * current choice; forgets it either way. Deleting the row is the claim: of
   * several nodes, only the one whose delete went in records the opt-in.
   */
  private async undo(r: FollowRow, why: string): Promise<boolean> {
    if (r.event_id === '') return false; // being covered by another node right now
    const gone = await this.deps.store.run("DELETE FROM consent_follow WHERE subject = ? AND service = 'dns-protection' AND event_id = ?", [r.subject, r.event_id]);
    if (gone.changes !== 1) return false;
    const current = await this.deps.store.get<{ event_id: string; choice: string }>(
      "SELECT event_id, choice FROM consent_state WHERE scope = 'client' AND subject = ? AND service = 'dns-protection'",
      [r.subject],
    );
    if (current?.event_id !== r.event_id || current.choice !== 'opt-out') return false;
    await this.deps.consent.set({ scope: 'client', subject: r.subject, choice: 'opt-in', actor: FOLLOWER_ACTOR, via: 'session', reason: `${why} (the opt-out followed subscriber ${r.subscriber})` });
    this.stats.released++;
    return true;
  }

  private subjectOf(address: string): string | undefined {
    try {
      return canonicalSubject('client', address);
    } catch {
      this.deps.logger.warn({ address }, 'consent follower: attribution gave an address that is not an IP address or prefix; skipped');
      return undefined;
    }
  }

  /**
   * Sessions imported by another process (`sakimori sessions import`, which
   * audits each import as a write to attribution_sessions): reconcile the
   * opted-out subscribers at once rather than at the next round.
   */
  private async importedSinceLastLook(): Promise<boolean> {
    const head = Number((await this.deps.store.get<{ seq: number }>('SELECT seq FROM audit_head WHERE id = 1'))?.seq ?? 0);
    const from = this.auditMark;
    this.auditMark = head;
    if (from === undefined || head <= from || this.optedOutLogins.size === 0) return false;
    const hit = await this.deps.store.get<{ seq: number }>(
      "SELECT seq FROM audit_log WHERE seq > ? AND seq <= ? AND action = 'write' AND subject = 'attribution_sessions' LIMIT 1",
      [from, head],
    );
    return hit !== undefined;
  }

  /** Subscriber choices recorded since the last look (by any process): follow an opt-out, release on an opt-in. */
  private async poll(): Promise<void> {
    try {
      if (await this.importedSinceLastLook()) await this.reconcile();
      const rows = await this.deps.store.all<{ subject: string; choice: string; since: number; event_id: string }>(
        "SELECT subject, choice, since, event_id FROM consent_state WHERE scope = 'subscriber' AND service = 'dns-protection' AND since >= ? ORDER BY since",
        [this.mark.since],
      );
      const fresh = rows.filter((r) => !(r.since === this.mark.since && this.mark.ids.has(r.event_id)));
      if (fresh.length === 0) return;
      const top = Math.max(this.mark.since, ...fresh.map((r) => Number(r.since)));
      const ids = top === this.mark.since ? this.mark.ids : new Set<string>();
      for (const r of rows) if (Number(r.since) === top) ids.add(r.event_id);
      this.mark = { since: top, ids };
      // At start, one reconciliation covers every choice made so far.
      if (this.pollTimer === undefined) return await this.reconcile();
      for (const r of fresh) {
        if (r.choice === 'opt-out') await this.follow(r.subject);
        else await this.release(r.subject);
      }
    } catch (err) {
      this.stats.failed++;
      this.stats.lastError = (err as Error).message;
      this.deps.logger.warn({ err: (err as Error).message }, 'consent follower: could not read subscriber choices; retrying');
    }
  }

  /** For tests and health: the addresses the follower covers now, by subscriber. */
  async followed(): Promise<{ subject: string; subscriber: string; nas: string; sessionId: string; at: number }[]> {
    const rows = await this.deps.store.all<FollowRow & { at: number }>("SELECT subject, subscriber, nas, session_id, event_id, at FROM consent_follow ORDER BY subscriber, subject");
    return rows.map((r) => ({ subject: r.subject, subscriber: r.subscriber, nas: r.nas, sessionId: r.session_id, at: Number(r.at) }));
  }

}
