import { SakimoriError } from '../core/index.ts';
import type { Case, CaseEvent, CaseStatus } from './model.ts';

/**
 * The case lifecycle, pure (no store, no clock of its own):
 *
 *   new -> notified -> acknowledged -> resolved
 *     \________________\______________/
 *                  (resolve from any open state)
 *
 * One case per (subscriber, class). New evidence attaches to it. Evidence
 * observed after the case was resolved means the problem is back: the case
 * reopens as `new` with escalation + 1, and the next notice says so. Evidence
 * observed before the resolution (a late report) is attached without
 * reopening: it is not a re-detection.
 */
export type EvidenceOutcome = 'opened' | 'attached' | 'reopened' | 'attached-late';

export interface EvidenceInput {
  observedAt: number;
  /** When Sakimori learned of it: starts the batching window of a new or reopened case. */
  now: number;
}

export type CaseState = Pick<Case, 'status' | 'escalation' | 'pendingSince' | 'firstSeen' | 'lastSeen' | 'findings' | 'resolvedAt' | 'notifiedAt' | 'acknowledgedAt' | 'updatedAt'>;

/** The state of a case after one more finding (or of the case it opens). */
export function withEvidence(current: CaseState | undefined, ev: EvidenceInput): { state: CaseState; outcome: EvidenceOutcome } {
  if (!current) {
    return {
      outcome: 'opened',
      state: {
        status: 'new',
        escalation: 0,
        pendingSince: ev.now,
        firstSeen: ev.observedAt,
        lastSeen: ev.observedAt,
        findings: 1,
        resolvedAt: null,
        notifiedAt: null,
        acknowledgedAt: null,
        updatedAt: ev.now,
      },
    };
  }
  const seen = {
    firstSeen: Math.min(current.firstSeen, ev.observedAt),
    lastSeen: Math.max(current.lastSeen, ev.observedAt),
    findings: current.findings + 1,
    updatedAt: ev.now,
  };
  if (current.status !== 'resolved') return { outcome: 'attached', state: { ...current, ...seen } };
  if (current.resolvedAt !== null && ev.observedAt <= current.resolvedAt) return { outcome: 'attached-late', state: { ...current, ...seen } };
  return {
    outcome: 'reopened',
    state: {
      ...current,
      ...seen,
      status: 'new',
      escalation: current.escalation + 1,
      pendingSince: ev.now,
      resolvedAt: null,
      notifiedAt: null,
      acknowledgedAt: null,
    },
  };
}

export type Transition = 'notified' | 'acknowledged' | 'resolved';

const ALLOWED: Readonly<Record<Transition, readonly CaseStatus[]>> = {
  notified: ['new'],
  // A subscriber may say "I fixed it" before the mail reached them (an operator called them).
  acknowledged: ['new', 'notified'],
  resolved: ['new', 'notified', 'acknowledged'],
};

/** The state after a transition; throws CASE_TRANSITION (with what is allowed) when the case is not in a state that allows it. */
export function transition(id: string, current: CaseState, to: Transition, now: number): CaseState {
  if (!ALLOWED[to].includes(current.status)) {
    const hint =
      current.status === 'resolved'
        ? 'it is resolved; it reopens by itself when the problem is found again'
        : `"${to}" is allowed only from: ${ALLOWED[to].join(', ')}`;
    throw new SakimoriError('CASE_TRANSITION', `case ${id} is ${current.status}; it cannot become ${to}`, { hint });
  }
  const next: CaseState = { ...current, status: to, updatedAt: now };
  if (to === 'notified') {
    next.notifiedAt = now;
    next.pendingSince = null;
  } else if (to === 'acknowledged') {
    next.acknowledgedAt = now;
    next.pendingSince = null;
  } else {
    next.resolvedAt = now;
    next.pendingSince = null;
  }
  return next;
}

export function eventAction(outcome: EvidenceOutcome | Transition): CaseEvent['action'] | undefined {
  if (outcome === 'opened' || outcome === 'reopened' || outcome === 'notified' || outcome === 'acknowledged' || outcome === 'resolved') return outcome;
  return undefined;
}
