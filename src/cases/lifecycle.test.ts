import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { SakimoriError } from '../core/index.ts';
import { transition, withEvidence, type CaseState } from './lifecycle.ts';
import { planNotices } from './notice-plan.ts';
import { classOfKind, refusalOf } from './model.ts';
import { makeObservation } from '../core/index.ts';

const H = 3_600_000;

describe('case lifecycle', () => {
  it('opens new, attaches evidence, and walks new -> notified -> acknowledged -> resolved', () => {
    const { state: opened, outcome } = withEvidence(undefined, { observedAt: 1000, now: 2000 });
    assert.equal(outcome, 'opened');
    assert.deepEqual([opened.status, opened.escalation, opened.findings, opened.pendingSince], ['new', 0, 1, 2000]);
    const more = withEvidence(opened, { observedAt: 500, now: 3000 });
    assert.equal(more.outcome, 'attached');
    assert.deepEqual([more.state.status, more.state.findings, more.state.firstSeen, more.state.lastSeen], ['new', 2, 500, 1000]);
    const notified = transition('c1', more.state, 'notified', 4000);
    assert.deepEqual([notified.status, notified.notifiedAt, notified.pendingSince], ['notified', 4000, null]);
    // Evidence while notified attaches; it does not make the case due again.
    const still = withEvidence(notified, { observedAt: 3500, now: 4500 });
    assert.deepEqual([still.outcome, still.state.status, still.state.pendingSince], ['attached', 'notified', null]);
    const acked = transition('c1', still.state, 'acknowledged', 5000);
    assert.equal(acked.status, 'acknowledged');
    const resolved = transition('c1', acked, 'resolved', 6000);
    assert.deepEqual([resolved.status, resolved.resolvedAt], ['resolved', 6000]);
  });

  it('re-detection after resolution reopens the case and raises its escalation; a late report of older evidence does not', () => {
    let s: CaseState = withEvidence(undefined, { observedAt: 0, now: 0 }).state;
    s = transition('c', s, 'notified', 10);
    s = transition('c', s, 'resolved', 100);
    const late = withEvidence(s, { observedAt: 50, now: 200 });
    assert.deepEqual([late.outcome, late.state.status, late.state.escalation], ['attached-late', 'resolved', 0]);
    const again = withEvidence(late.state, { observedAt: 150, now: 300 });
    assert.deepEqual([again.outcome, again.state.status, again.state.escalation, again.state.pendingSince, again.state.resolvedAt], ['reopened', 'new', 1, 300, null]);
    s = transition('c', again.state, 'notified', 400);
    s = transition('c', s, 'resolved', 500);
    assert.equal(withEvidence(s, { observedAt: 600, now: 700 }).state.escalation, 2);
  });

  it('refuses transitions the lifecycle does not allow, saying what is allowed', () => {
    const s = withEvidence(undefined, { observedAt: 0, now: 0 }).state;
    const resolved = transition('c9', s, 'resolved', 1);
    assert.throws(() => transition('c9', resolved, 'acknowledged', 2), (e: unknown) => e instanceof SakimoriError && e.code === 'CASE_TRANSITION' && /c9 is resolved/.test(e.message) && /reopens/.test(e.hint ?? ''));
    const notified = transition('c9', s, 'notified', 1);
    assert.throws(() => transition('c9', notified, 'notified', 2), /cannot become notified/);
  });

  it('property: escalation counts the reopenings, and status is always one of the four', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('evidence', 'notified', 'acknowledged', 'resolved'), { maxLength: 60 }), (steps) => {
        let s: CaseState | undefined;
        let t = 0;
        let reopenings = 0;
        for (const step of steps) {
          t += 10;
          if (step === 'evidence') {
            const r = withEvidence(s, { observedAt: t, now: t });
            if (r.outcome === 'reopened') reopenings++;
            s = r.state;
          } else if (s) {
            try {
              s = transition('p', s, step as 'notified', t);
            } catch (e) {
              assert.ok(e instanceof SakimoriError);
            }
          }
          if (s) {
            assert.ok(['new', 'notified', 'acknowledged', 'resolved'].includes(s.status));
            assert.equal(s.escalation, reopenings);
            assert.equal(s.status === 'new', s.pendingSince !== null, 'a case is due a notice exactly while it is new');
          }
        }
      }),
    );
  });
});

describe('notice pacing: batching and cool-down', () => {
  const pacing = { cooldownMs: 24 * H, batchWindowMs: 10 * 60_000, retryIntervalMs: H };

  it('waits out the batch window, then sends every due case of a subscriber in one notice', () => {
    const pending = [{ subscriberId: 's1', cases: [{ id: 'b', pendingSince: 0 }, { id: 'a', pendingSince: 5 * 60_000 }] }];
    const early = planNotices(pending, 9 * 60_000, pacing);
    assert.deepEqual(early.send, []);
    assert.deepEqual(early.held, [{ subscriberId: 's1', reason: 'batching', until: 10 * 60_000 }]);
    const due = planNotices(pending, 10 * 60_000, pacing);
    assert.deepEqual(due.send, [{ subscriberId: 's1', caseIds: ['a', 'b'] }]);
  });

  it('sends at most one notice per subscriber per cool-down', () => {
    const sentAt = 100 * H;
    const pending = [{ subscriberId: 's1', cases: [{ id: 'x', pendingSince: sentAt + H }], lastSentAt: sentAt }];
    assert.deepEqual(planNotices(pending, sentAt + 2 * H, pacing).held, [{ subscriberId: 's1', reason: 'cooldown', until: sentAt + 24 * H }]);
    assert.deepEqual(planNotices(pending, sentAt + 24 * H, pacing).send, [{ subscriberId: 's1', caseIds: ['x'] }]);
  });

  it('retries a failed notice only after the retry interval', () => {
    const pending = [{ subscriberId: 's1', cases: [{ id: 'x', pendingSince: 0 }], lastFailedAt: 20 * 60_000 }];
    assert.equal(planNotices(pending, 30 * 60_000, pacing).held[0]!.reason, 'retry-wait');
    assert.equal(planNotices(pending, 80 * 60_000, pacing).send.length, 1);
  });

  it('property: over a simulated day of detections nobody gets more than one notice per cool-down', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ sub: fc.integer({ min: 0, max: 4 }), at: fc.integer({ min: 0, max: 72 * 60 }) }), { maxLength: 80 }), (detections) => {
        const dueBy = new Map<string, { id: string; pendingSince: number }[]>();
        const lastSent = new Map<string, number>();
        const sends: { sub: string; at: number }[] = [];
        const byMinute = [...detections].sort((a, b) => a.at - b.at);
        let k = 0;
        for (let minute = 0; minute <= 72 * 60 + 24 * 60; minute++) {
          const now = minute * 60_000;
          while (k < byMinute.length && byMinute[k]!.at <= minute) {
            const d = byMinute[k++]!;
            const list = dueBy.get(`s${d.sub}`) ?? [];
            list.push({ id: `c${k}`, pendingSince: now });
            dueBy.set(`s${d.sub}`, list);
          }
          const plan = planNotices([...dueBy].map(([subscriberId, cases]) => ({ subscriberId, cases, lastSentAt: lastSent.get(subscriberId) })), now, pacing);
          for (const p of plan.send) {
            sends.push({ sub: p.subscriberId, at: now });
            lastSent.set(p.subscriberId, now);
            dueBy.delete(p.subscriberId);
          }
        }
        assert.equal(dueBy.size, 0, 'every detection was eventually notified');
        const last = new Map<string, number>();
        for (const s of sends) {
          const prev = last.get(s.sub);
          if (prev !== undefined) assert.ok(s.at - prev >= pacing.cooldownMs);
          last.set(s.sub, s.at);
        }
      }),
      { numRuns: 30 },
    );
  });
});

describe('classes and purposes (R16)', () => {
  const obs = (kind: 'suspected-infection' | 'cc-query' | 'ddos-source', purpose: 'infection-notice' | 'cc-blocking' | 'ddos-response') =>
    makeObservation({ kind, source: { name: 't', type: 'detector' }, observedAt: '2024-01-01T00:00:00Z', network: { ip: '192.0.2.1' }, purpose });

  it('maps kinds to notice classes and refuses data collected for another purpose', () => {
    assert.equal(classOfKind('open-resolver'), 'open-resolver');
    assert.equal(classOfKind('exposed-admin'), 'exposed-router-admin');
    assert.equal(classOfKind('weak-credential'), 'weak-iot-password');
    assert.equal(refusalOf(obs('suspected-infection', 'infection-notice')), undefined);
    assert.match(refusalOf(obs('cc-query', 'cc-blocking'))!, /collected for "cc-blocking".*need "infection-notice"/);
    assert.match(refusalOf(obs('ddos-source', 'ddos-response'))!, /not something subscribers are notified about/);
  });
});
