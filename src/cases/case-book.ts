import type { Queryable, Store } from '../store/index.ts';
import type { AuditLog } from '../privacy/index.ts';
import { newId, parseCidr, parseIp, PrefixMap, SakimoriError, systemClock, type Clock, type Observation, type Purpose } from '../core/index.ts';
import { classOfKind, refusalOf, ATTRIBUTION_MEANING, CLASS_PURPOSE, type Attribution, type Case, type CaseEvent, type CaseStatus, type Finding, type FindingClass } from './model.ts';
import { eventAction, transition, withEvidence, type CaseState, type EvidenceOutcome, type Transition } from './lifecycle.ts';
import type { SubscriberLocator } from './locator.ts';

/**
 * Findings and cases. Every observation that reaches cases becomes a finding,
 * attributed or not (with the reason); an attributed finding joins the one
 * case of its subscriber and class (R3, R5, R9). Intake is idempotent: an
 * observation id becomes at most one finding, so a redelivered bus message or
 * a report imported twice changes nothing.
 */
export interface IngestResult {
  received: number;
  /** Seen before (same observation id): nothing changed. */
  duplicates: number;
  /** Observations that cannot become findings (wrong kind, or collected for another purpose). */
  refused: { id: string; reason: string }[];
  findings: number;
  attributed: number;
  unattributed: Partial<Record<Exclude<Attribution, 'found'>, number>>;
  opened: number;
  attached: number;
  reopened: number;
  /** Case ids that were opened or reopened (due a notice). */
  due: string[];
}

export interface ActorContext {
  /** Who, for the audit log: "cli:alice", "node:cases", "portal". */
  actor: string;
}

interface Attributed {
  obs: Observation;
  cls: FindingClass;
  attribution: Attribution;
  detail: Record<string, unknown>;
  subscriberId: string | null;
}

interface FindingRow {
  id: string;
  kind: string;
  class: string;
  purpose: string;
  source: string;
  ip: string | null;
  port: number | null;
  observed_at: number;
  received_at: number;
  attribution: string;
  detail: string;
  subscriber_id: string | null;
  case_id: string | null;
  evidence: string;
}

interface CaseRow {
  id: string;
  subscriber_id: string;
  class: string;
  purpose: string;
  status: string;
  escalation: number;
  opened_at: number;
  pending_since: number | null;
  updated_at: number;
  first_seen: number;
  last_seen: number;
  findings: number;
  notified_at: number | null;
  acknowledged_at: number | null;
  resolved_at: number | null;
  last_notice_id: string | null;
}

interface EventRow {
  id: string;
  case_id: string;
  at: number;
  action: string;
  from_status: string | null;
  to_status: string;
  escalation: number;
  actor: string;
  via: string;
  note: string | null;
}

export interface CaseBookOptions {
  clock?: Clock;
  /** cases.addressSpace: findings outside it are kept as not-our-address-space and never looked up. */
  addressSpace?: readonly string[];
}

const CHUNK = 500;

export class CaseBook {
  private readonly clock: Clock;
  private readonly ours: PrefixMap<true> | undefined;

  constructor(
    private readonly store: Store,
    private readonly audit: AuditLog,
    private readonly locator: SubscriberLocator,
    opts: CaseBookOptions = {},
  ) {
    this.clock = opts.clock ?? systemClock;
    if (opts.addressSpace && opts.addressSpace.length > 0) {
      this.ours = new PrefixMap<true>();
      for (const p of opts.addressSpace) {
        const prefix = parseCidr(p);
        if ('error' in prefix) throw new SakimoriError('CONFIG_INVALID', `cases.addressSpace: ${prefix.error}`);
        this.ours.set(prefix, true);
      }
    }
  }

  /** Turns observations into findings and cases. Safe to call again with the same observations. */
  async ingest(observations: readonly Observation[], ctx: ActorContext): Promise<IngestResult> {
    const result: IngestResult = { received: observations.length, duplicates: 0, refused: [], findings: 0, attributed: 0, unattributed: {}, opened: 0, attached: 0, reopened: 0, due: [] };
    for (let i = 0; i < observations.length; i += CHUNK) await this.ingestChunk(observations.slice(i, i + CHUNK), ctx, result);
    return result;
  }

  private async ingestChunk(observations: readonly Observation[], ctx: ActorContext, result: IngestResult): Promise<void> {
    const accepted: Observation[] = [];
    const seen = new Set<string>();
    for (const obs of observations) {
      const why = refusalOf(obs);
      if (why) result.refused.push({ id: obs.id, reason: why });
      else if (seen.has(obs.id)) result.duplicates++;
      else {
        seen.add(obs.id);
        accepted.push(obs);
      }
    }
    if (accepted.length === 0) return;
    const known = new Set(
      (await this.store.all<{ id: string }>(`SELECT id FROM case_findings WHERE id IN (${accepted.map(() => '?').join(',')})`, accepted.map((o) => o.id))).map((r) => r.id),
    );
    const fresh = accepted.filter((o) => !known.has(o.id));
    result.duplicates += accepted.length - fresh.length;
    if (fresh.length === 0) return;

    // Look-ups happen outside the transaction: it must stay short (the store's rule).
    const attributed: Attributed[] = [];
    for (const obs of fresh) attributed.push(await this.attribute(obs));

    const now = this.clock.now();
    const perPurpose = new Map<Purpose, { findings: number; attributed: number }>();
    await this.store.transaction(async (tx) => {
      for (const a of attributed) {
        const { changes } = await tx.run(
          `INSERT INTO case_findings (id, kind, class, purpose, source, ip, port, observed_at, received_at, attribution, detail, subscriber_id, case_id, evidence)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?) ON CONFLICT (id) DO NOTHING`,
          [
            a.obs.id, a.obs.kind, a.cls, a.obs.purpose, a.obs.source.name, a.obs.network.ip ?? null, a.obs.network.port ?? null,
            Date.parse(a.obs.observedAt), now, a.attribution, JSON.stringify(a.detail), a.subscriberId, JSON.stringify(a.obs.evidence),
          ],
        );
        if (changes === 0) {
          result.duplicates++;
          continue;
        }
        result.findings++;
        const p = perPurpose.get(a.obs.purpose) ?? { findings: 0, attributed: 0 };
        p.findings++;
        perPurpose.set(a.obs.purpose, p);
        if (a.attribution !== 'found' || !a.subscriberId) {
          const reason = a.attribution as Exclude<Attribution, 'found'>;
          result.unattributed[reason] = (result.unattributed[reason] ?? 0) + 1;
          continue;
        }
        result.attributed++;
        p.attributed++;
        const { caseId, outcome } = await this.attach(tx, a.subscriberId, a.cls, Date.parse(a.obs.observedAt), now, ctx);
        await tx.run('UPDATE case_findings SET case_id = ? WHERE id = ?', [caseId, a.obs.id]);
        if (outcome === 'opened') result.opened++;
        else if (outcome === 'reopened') result.reopened++;
        else result.attached++;
        if (outcome === 'opened' || outcome === 'reopened') result.due.push(caseId);
      }
    });
    // Not awaited: the audit log batches entries (privacy.auditFlushInterval), and an import of
    // a million rows must not wait out the flush interval once per chunk. close() writes them.
    for (const [purpose, p] of perPurpose) {
      this.audit.record({ actor: ctx.actor, action: 'write', purpose, subject: 'case_findings', detail: { findings: p.findings, attributed: p.attributed, lookups: p.findings } });
    }
  }

  private async attribute(obs: Observation): Promise<Attributed> {
    const cls = classOfKind(obs.kind)!;
    const base = { obs, cls };
    const unattributed = (attribution: Exclude<Attribution, 'found'>, extra: Record<string, unknown> = {}): Attributed => ({
      ...base,
      attribution,
      detail: { reason: ATTRIBUTION_MEANING[attribution], ...extra },
      subscriberId: null,
    });
    // Credential abuse names the login itself (R2): no address look-up needed.
    const login = cls === 'credential-abuse' && typeof obs.evidence.login === 'string' ? obs.evidence.login : undefined;
    if (login) {
      const s = await this.store.get<{ id: string }>('SELECT id FROM subscribers WHERE login = ?', [login]);
      return s ? { ...base, attribution: 'found', detail: { by: 'login' }, subscriberId: s.id } : unattributed('unknown-login');
    }
    const ipText = obs.network.ip;
    if (!ipText) return unattributed('no-address');
    const ip = parseIp(ipText);
    if (this.ours && ip && !this.ours.match(ip)) return unattributed('not-our-address-space');
    const at = Date.parse(obs.observedAt);
    const r = await this.locator.holderAt(ipText, at, { ...(obs.network.port !== undefined ? { port: obs.network.port } : {}), purpose: obs.purpose });
    if (r.result === 'found') {
      const s = await this.store.get<{ id: string }>('SELECT id FROM subscribers WHERE login = ?', [r.login]);
      if (!s) return unattributed('unknown-login');
      return { ...base, attribution: 'found', detail: r.session ? { session: r.session } : {}, subscriberId: s.id };
    }
    if (r.result === 'ambiguous') return unattributed('ambiguous', { candidates: r.logins.length });
    return unattributed(r.result);
  }

  /** Joins evidence to the (subscriber, class) case, opening or reopening it. Runs inside the caller's transaction. */
  private async attach(tx: Queryable, subscriberId: string, cls: FindingClass, observedAt: number, now: number, ctx: ActorContext): Promise<{ caseId: string; outcome: EvidenceOutcome }> {
    const row = await tx.get<CaseRow>('SELECT * FROM cases WHERE subscriber_id = ? AND class = ?', [subscriberId, cls]);
    const current = row ? toCase(row) : undefined;
    const { state, outcome } = withEvidence(current, { observedAt, now });
    const purpose = CLASS_PURPOSE[cls];
    let id: string;
    if (!current) {
      id = newId('case', now);
      await tx.run(
        `INSERT INTO cases (id, subscriber_id, class, purpose, status, escalation, opened_at, pending_since, updated_at, first_seen, last_seen, findings, notified_at, acknowledged_at, resolved_at, last_notice_id)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`,
        [id, subscriberId, cls, purpose, state.status, state.escalation, now, state.pendingSince, state.updatedAt, state.firstSeen, state.lastSeen, state.findings, state.notifiedAt, state.acknowledgedAt, state.resolvedAt],
      );
    } else {
      id = current.id;
      await this.writeState(tx, id, state);
    }
    const action = eventAction(outcome);
    if (action) await this.event(tx, { caseId: id, purpose, at: now, action, from: current?.status ?? null, to: state.status, escalation: state.escalation, actor: ctx.actor, via: 'intake', note: null });
    return { caseId: id, outcome };
  }

  private async writeState(tx: Queryable, id: string, s: CaseState): Promise<void> {
    await tx.run(
      `UPDATE cases SET status = ?, escalation = ?, pending_since = ?, updated_at = ?, first_seen = ?, last_seen = ?, findings = ?, notified_at = ?, acknowledged_at = ?, resolved_at = ? WHERE id = ?`,
      [s.status, s.escalation, s.pendingSince, s.updatedAt, s.firstSeen, s.lastSeen, s.findings, s.notifiedAt, s.acknowledgedAt, s.resolvedAt, id],
    );
  }

  private async event(
    tx: Queryable,
    e: { caseId: string; purpose: Purpose; at: number; action: CaseEvent['action']; from: CaseStatus | null; to: CaseStatus; escalation: number; actor: string; via: string; note: string | null },
  ): Promise<void> {
    // seq orders the history even when two steps share a millisecond (transactions never interleave).
    await tx.run(
      `INSERT INTO case_events (id, case_id, seq, purpose, at, action, from_status, to_status, escalation, actor, via, note)
       VALUES (?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM case_events WHERE case_id = ?), ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [newId('cev', e.at), e.caseId, e.caseId, e.purpose, e.at, e.action, e.from, e.to, e.escalation, e.actor, e.via, e.note],
    );
  }

  /** The subscriber (or an operator for them) says the problem is being dealt with. */
  acknowledge(id: string, ctx: ActorContext & { via: string; note?: string }): Promise<Case> {
    return this.move(id, 'acknowledged', ctx);
  }

  /** The problem is fixed; finding it again later reopens the case with a higher escalation. */
  resolve(id: string, ctx: ActorContext & { via: string; note?: string }): Promise<Case> {
    return this.move(id, 'resolved', ctx);
  }

  private async move(id: string, to: Transition, ctx: ActorContext & { via: string; note?: string }): Promise<Case> {
    const now = this.clock.now();
    const updated = await this.store.transaction(async (tx) => {
      const row = await tx.get<CaseRow>('SELECT * FROM cases WHERE id = ?', [id]);
      if (!row) throw new SakimoriError('CASE_NOT_FOUND', `there is no case ${id}`, { hint: 'list cases with `sakimori cases list`' });
      const current = toCase(row);
      const next = transition(id, current, to, now);
      await this.writeState(tx, id, next);
      await this.event(tx, { caseId: id, purpose: current.purpose, at: now, action: to, from: current.status, to: next.status, escalation: next.escalation, actor: ctx.actor, via: ctx.via, note: ctx.note ?? null });
      return { ...current, ...next };
    });
    await this.audit.append({ actor: ctx.actor, action: 'write', purpose: updated.purpose, subject: `case/${id}`, detail: { to, via: ctx.via } });
    return updated;
  }

  /** Marks cases notified by a notice; inside the notice sender's transaction. */
  async markNotified(tx: Queryable, caseIds: readonly string[], noticeId: string, ctx: ActorContext): Promise<void> {
    const now = this.clock.now();
    for (const id of caseIds) {
      const row = await tx.get<CaseRow>('SELECT * FROM cases WHERE id = ?', [id]);
      if (!row || row.status !== 'new') continue; // acknowledged or resolved while the mail was on its way
      const current = toCase(row);
      const next = transition(id, current, 'notified', now);
      await this.writeState(tx, id, next);
      await tx.run('UPDATE cases SET last_notice_id = ? WHERE id = ?', [noticeId, id]);
      await this.event(tx, { caseId: id, purpose: current.purpose, at: now, action: 'notified', from: current.status, to: next.status, escalation: next.escalation, actor: ctx.actor, via: 'e-mail', note: noticeId });
    }
  }

  /** Cases, newest first, audited as a read for each purpose they were collected for. */
  async cases(q: { status?: CaseStatus; subscriberId?: string; class?: FindingClass; limit?: number } & ActorContext): Promise<Case[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (q.status) {
      where.push('status = ?');
      params.push(q.status);
    }
    if (q.subscriberId) {
      where.push('subscriber_id = ?');
      params.push(q.subscriberId);
    }
    if (q.class) {
      where.push('class = ?');
      params.push(q.class);
    }
    params.push(q.limit ?? 1000);
    const rows = await this.store.all<CaseRow>(`SELECT * FROM cases ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY updated_at DESC, id DESC LIMIT ?`, params);
    const cases = rows.map(toCase);
    await this.auditRead(q.actor, 'cases', cases.map((c) => c.purpose), q);
    return cases;
  }

  /** One case with its history and evidence; undefined when there is none. */
  async caseById(id: string, ctx: ActorContext & { findingsLimit?: number }): Promise<{ case: Case; events: CaseEvent[]; findings: Finding[] } | undefined> {
    const row = await this.store.get<CaseRow>('SELECT * FROM cases WHERE id = ?', [id]);
    if (!row) return undefined;
    const c = toCase(row);
    const events = (await this.store.all<EventRow>('SELECT * FROM case_events WHERE case_id = ? ORDER BY seq', [id])).map(toEvent);
    const findings = (await this.store.all<FindingRow>('SELECT * FROM case_findings WHERE case_id = ? ORDER BY observed_at DESC, id LIMIT ?', [id, ctx.findingsLimit ?? 100])).map(toFinding);
    await this.audit.append({ actor: ctx.actor, action: 'read', purpose: c.purpose, subject: `case/${id}`, detail: { findings: findings.length } });
    return { case: c, events, findings };
  }

  /** Findings, newest first, attributed or not; audited per purpose. */
  async findings(q: { attributed?: boolean; subscriberId?: string; class?: FindingClass; purpose?: Purpose; caseId?: string; limit?: number } & ActorContext): Promise<Finding[]> {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (q.attributed !== undefined) where.push(q.attributed ? "attribution = 'found'" : "attribution <> 'found'");
    for (const [col, v] of [['subscriber_id', q.subscriberId], ['class', q.class], ['purpose', q.purpose], ['case_id', q.caseId]] as const) {
      if (v !== undefined) {
        where.push(`${col} = ?`);
        params.push(v);
      }
    }
    params.push(q.limit ?? 1000);
    const rows = await this.store.all<FindingRow>(`SELECT * FROM case_findings ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY received_at DESC, observed_at DESC, id LIMIT ?`, params);
    const findings = rows.map(toFinding);
    await this.auditRead(q.actor, 'case_findings', findings.map((f) => f.purpose), q);
    return findings;
  }

  /** Subscribers with cases due a notice, for the notice sender. */
  async pending(): Promise<{ subscriberId: string; cases: { id: string; pendingSince: number }[]; lastSentAt?: number; lastFailedAt?: number }[]> {
    const rows = await this.store.all<{ id: string; subscriber_id: string; pending_since: number }>(
      "SELECT id, subscriber_id, pending_since FROM cases WHERE status = 'new' AND pending_since IS NOT NULL ORDER BY subscriber_id, id",
    );
    const bySub = new Map<string, { id: string; pendingSince: number }[]>();
    for (const r of rows) {
      const list = bySub.get(r.subscriber_id) ?? [];
      list.push({ id: r.id, pendingSince: Number(r.pending_since) });
      bySub.set(r.subscriber_id, list);
    }
    const out = [];
    for (const [subscriberId, cases] of bySub) {
      const sent = await this.store.get<{ at: number | null }>("SELECT MAX(sent_at) AS at FROM notices WHERE subscriber_id = ? AND status = 'sent'", [subscriberId]);
      const lastSentAt = sent?.at == null ? undefined : Number(sent.at);
      const failed = await this.store.get<{ at: number | null }>("SELECT MAX(created_at) AS at FROM notices WHERE subscriber_id = ? AND status = 'failed' AND created_at > ?", [subscriberId, lastSentAt ?? -1]);
      const lastFailedAt = failed?.at == null ? undefined : Number(failed.at);
      out.push({ subscriberId, cases, ...(lastSentAt !== undefined ? { lastSentAt } : {}), ...(lastFailedAt !== undefined ? { lastFailedAt } : {}) });
    }
    return out;
  }

  /** Reads cases without auditing, for the notice sender, which audits the notice itself. */
  async casesByIds(ids: readonly string[], q: Queryable = this.store): Promise<Case[]> {
    if (ids.length === 0) return [];
    const rows = await q.all<CaseRow>(`SELECT * FROM cases WHERE id IN (${ids.map(() => '?').join(',')}) ORDER BY id`, ids);
    return rows.map(toCase);
  }

  /** The newest findings of a case, for the notice text. */
  async latestFindings(caseId: string, limit = 5): Promise<Finding[]> {
    return (await this.store.all<FindingRow>('SELECT * FROM case_findings WHERE case_id = ? ORDER BY observed_at DESC, id LIMIT ?', [caseId, limit])).map(toFinding);
  }

  private async auditRead(actor: string, subject: string, purposes: Purpose[], filter: object): Promise<void> {
    const counts = new Map<Purpose, number>();
    for (const p of purposes) counts.set(p, (counts.get(p) ?? 0) + 1);
    const f = Object.fromEntries(Object.entries(filter).filter(([k, v]) => k !== 'actor' && v !== undefined));
    if (counts.size === 0) {
      await this.audit.append({ actor, action: 'read', purpose: 'operations', subject, detail: { count: 0, ...f } });
      return;
    }
    for (const [purpose, count] of counts) await this.audit.append({ actor, action: 'read', purpose, subject, detail: { count, ...f } });
  }
}

function num(v: number | null): number | null {
  return v === null || v === undefined ? null : Number(v);
}

export function toCase(r: CaseRow): Case {
  return {
    id: r.id,
    subscriberId: r.subscriber_id,
    class: r.class as FindingClass,
    purpose: r.purpose as Purpose,
    status: r.status as CaseStatus,
    escalation: Number(r.escalation),
    openedAt: Number(r.opened_at),
    pendingSince: num(r.pending_since),
    updatedAt: Number(r.updated_at),
    firstSeen: Number(r.first_seen),
    lastSeen: Number(r.last_seen),
    findings: Number(r.findings),
    notifiedAt: num(r.notified_at),
    acknowledgedAt: num(r.acknowledged_at),
    resolvedAt: num(r.resolved_at),
    lastNoticeId: r.last_notice_id,
  };
}

function toFinding(r: FindingRow): Finding {
  return {
    id: r.id,
    kind: r.kind as Finding['kind'],
    class: r.class as FindingClass,
    purpose: r.purpose as Purpose,
    source: r.source,
    ip: r.ip,
    port: num(r.port),
    observedAt: Number(r.observed_at),
    receivedAt: Number(r.received_at),
    attribution: r.attribution as Attribution,
    detail: JSON.parse(r.detail) as Record<string, unknown>,
    subscriberId: r.subscriber_id,
    caseId: r.case_id,
    evidence: JSON.parse(r.evidence) as Record<string, unknown>,
  };
}

function toEvent(r: EventRow): CaseEvent {
  return {
    id: r.id,
    caseId: r.case_id,
    at: Number(r.at),
    action: r.action as CaseEvent['action'],
    fromStatus: r.from_status as CaseStatus | null,
    toStatus: r.to_status as CaseStatus,
    escalation: Number(r.escalation),
    actor: r.actor,
    via: r.via,
    note: r.note,
  };
}
