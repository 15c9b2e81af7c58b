/**
 * Who gets a notice now, pure. Two rules keep anyone from getting ten mails a
 * day:
 *  - batching: a case waits `batchWindowMs` after it became due, so what one
 *    report, one import or one night of detections finds about a subscriber
 *    goes into one mail, every class in it;
 *  - cool-down: at most one notice per subscriber per `cooldownMs`; whatever is
 *    found meanwhile waits for the next one.
 * A notice that could not be sent is tried again after `retryIntervalMs`.
 */
export interface PendingSubscriber {
  subscriberId: string;
  /** The subscriber's cases that are due a notice (status new). */
  cases: { id: string; pendingSince: number }[];
  /** When the last notice to this subscriber was sent, if ever. */
  lastSentAt?: number | undefined;
  /** When the last attempt failed, if it failed after the last success. */
  lastFailedAt?: number | undefined;
}

export interface NoticePacing {
  cooldownMs: number;
  batchWindowMs: number;
  retryIntervalMs: number;
}

export interface PlannedNotice {
  subscriberId: string;
  caseIds: string[];
}

export type HoldReason = 'batching' | 'cooldown' | 'retry-wait';

export interface NoticePlan {
  send: PlannedNotice[];
  /** Subscribers with due cases that wait, with why and until when. */
  held: { subscriberId: string; reason: HoldReason; until: number }[];
}

export function planNotices(pending: readonly PendingSubscriber[], now: number, pacing: NoticePacing): NoticePlan {
  const plan: NoticePlan = { send: [], held: [] };
  for (const p of pending) {
    if (p.cases.length === 0) continue;
    const oldest = Math.min(...p.cases.map((c) => c.pendingSince));
    const waits: { reason: HoldReason; until: number }[] = [
      { reason: 'batching', until: oldest + pacing.batchWindowMs },
      { reason: 'cooldown', until: p.lastSentAt === undefined ? -Infinity : p.lastSentAt + pacing.cooldownMs },
      { reason: 'retry-wait', until: p.lastFailedAt === undefined ? -Infinity : p.lastFailedAt + pacing.retryIntervalMs },
    ];
    const longest = waits.reduce((a, b) => (b.until > a.until ? b : a));
    if (longest.until > now) plan.held.push({ subscriberId: p.subscriberId, ...longest });
    else plan.send.push({ subscriberId: p.subscriberId, caseIds: p.cases.map((c) => c.id).sort() });
  }
  return plan;
}
