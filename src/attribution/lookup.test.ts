import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decide, isoTime, type StoredSession } from './lookup.ts';
import { FLAG_END_INFERRED, FLAG_START_INFERRED, packFlags } from './session.ts';

const T0 = Date.UTC(2025, 0, 6, 0, 0, 0);
const MIN = 60_000;
const KEY = '4c0000201'; // 192.0.2.1

function row(p: Partial<StoredSession> & { start: number; end: number | null; subscriber: string }): StoredSession {
  return {
    addrKey: KEY,
    portStart: 0,
    portEnd: 65535,
    lastSeen: p.end ?? p.start,
    nas: 'bras-1',
    sessionId: `s-${p.subscriber}-${p.start}`,
    flags: packFlags({ role: 'ipv4', startInferred: false, endInferred: false, source: 'radius' }),
    ...p,
  };
}

const alice = row({ start: T0, end: T0 + 60 * MIN, subscriber: 'alice' });
const bob = row({ start: T0 + 90 * MIN, end: T0 + 120 * MIN, subscriber: 'bob' });
const q = (at: number, extra: { port?: number; skewMs?: number } = {}) => ({ at, skewMs: extra.skewMs ?? 0, port: extra.port });

describe('who held the address at that time (decide)', () => {
  it('finds the session covering the time, edges included', () => {
    for (const at of [T0, T0 + 30 * MIN, T0 + 60 * MIN]) {
      const r = decide([alice, bob], q(at));
      assert.equal(r.result, 'found', new Date(at).toISOString());
      assert.equal(r.result === 'found' && r.subscriber, 'alice');
    }
    const r = decide([alice, bob], q(T0 + 100 * MIN));
    assert.ok(r.result === 'found' && r.subscriber === 'bob' && r.session.nas === 'bras-1' && r.session.start === new Date(T0 + 90 * MIN).toISOString());
  });

  it('says gap between sessions and after the last one, naming the nearest before and after', () => {
    const between = decide([alice, bob], q(T0 + 75 * MIN));
    assert.equal(between.result, 'gap');
    assert.ok(between.result === 'gap' && between.before?.subscriber === 'alice' && between.after?.subscriber === 'bob');
    const after = decide([alice, bob], q(T0 + 200 * MIN));
    assert.ok(after.result === 'gap' && after.before?.subscriber === 'bob' && after.after === undefined);
    const before = decide([alice, bob], q(T0 - MIN));
    assert.ok(before.result === 'gap' && before.before === undefined && before.after?.subscriber === 'alice');
  });

  it('says unknown for an address never seen', () => {
    assert.deepEqual(decide([], q(T0)), { result: 'unknown' });
  });

  it('applies the clock-skew tolerance at session edges', () => {
    // 1 s after alice's Stop: a gap without tolerance, alice with 2 s of it.
    assert.equal(decide([alice], q(T0 + 60 * MIN + 1000)).result, 'gap');
    const r = decide([alice], q(T0 + 60 * MIN + 1000, { skewMs: 2000 }));
    assert.ok(r.result === 'found' && r.subscriber === 'alice');
    // 1 s before bob's start, with carol's session ending 1 s after: both within tolerance, different people.
    const carol = row({ start: T0 + 70 * MIN, end: T0 + 90 * MIN + 1000, subscriber: 'carol' });
    const amb = decide([carol, bob], q(T0 + 90 * MIN, { skewMs: 2000 }));
    assert.ok(amb.result === 'ambiguous' && amb.sessions.length === 2);
    assert.equal(amb.result === 'ambiguous' && amb.reason, 'overlap');
    const skewOnly = decide([carol, bob], q(T0 + 90 * MIN + 1500, { skewMs: 2000 }));
    assert.ok(skewOnly.result === 'ambiguous' && skewOnly.reason === 'clock-skew');
  });

  it('lists every session when sessions of different subscribers overlap', () => {
    const dave = row({ start: T0 + 30 * MIN, end: T0 + 45 * MIN, subscriber: 'dave', nas: 'bras-2' });
    const r = decide([alice, dave], q(T0 + 40 * MIN));
    assert.equal(r.result, 'ambiguous');
    assert.deepEqual(r.result === 'ambiguous' && r.sessions.map((s) => s.subscriber).sort(), ['alice', 'dave']);
  });

  it('is found, not ambiguous, when overlapping sessions are one subscriber (a reconnect)', () => {
    const again = row({ start: T0 + 59 * MIN, end: T0 + 80 * MIN, subscriber: 'alice', sessionId: 'second' });
    const r = decide([alice, again], q(T0 + 59.5 * MIN));
    assert.ok(r.result === 'found' && r.subscriber === 'alice' && r.sessions?.length === 2);
  });

  it('merges duplicate rows of one session: a reported start beats one derived from Acct-Session-Time', () => {
    const fromInterim = { ...alice, start: alice.start + 1000, flags: alice.flags | FLAG_START_INFERRED, end: null };
    const r = decide([fromInterim, alice], q(T0 + 10 * MIN));
    assert.ok(r.result === 'found' && r.sessions === undefined);
    assert.ok(r.result === 'found' && r.session.start === new Date(T0).toISOString() && r.session.end === new Date(T0 + 60 * MIN).toISOString());
  });

  it('ends an open session (lost Stop) where the next session on the address starts', () => {
    const open = { ...alice, end: null };
    const r = decide([open, bob], q(T0 + 100 * MIN));
    assert.ok(r.result === 'found' && r.subscriber === 'bob');
    const gap = decide([open, bob], q(T0 + 89 * MIN));
    assert.ok(gap.result === 'found' && gap.subscriber === 'alice', 'still alice until bob starts');
    const inGap = decide([open, bob], q(T0 + 95 * MIN));
    assert.ok(inGap.result === 'found' && inGap.subscriber === 'bob');
    const view = decide([open, bob], q(T0 + 30 * MIN));
    assert.ok(view.result === 'found' && view.session.endInferred === 'next-session' && view.session.end === new Date(T0 + 90 * MIN).toISOString());
    const stillOpen = decide([open], q(T0 + 1000 * MIN));
    assert.ok(stillOpen.result === 'found' && stillOpen.session.end === null);
  });

  it('shows ends derived from Accounting-On', () => {
    const closedByNas = { ...alice, flags: alice.flags | FLAG_END_INFERRED };
    const r = decide([closedByNas], q(T0 + 10 * MIN));
    assert.ok(r.result === 'found' && r.session.endInferred === 'nas-restart');
  });

  it('CGNAT: the port picks the block; without a port a shared address is ambiguous', () => {
    const block = (subscriber: string, ps: number) => row({ start: T0, end: T0 + 60 * MIN, subscriber, portStart: ps, portEnd: ps + 1023, flags: packFlags({ role: 'port-block', startInferred: false, endInferred: false, source: 'cgnat' }) });
    const rows = [block('alice', 1024), block('bob', 2048)];
    const r = decide(rows, q(T0 + MIN, { port: 2100 }));
    assert.ok(r.result === 'found' && r.subscriber === 'bob' && r.session.ports?.start === 2048);
    const none = decide(rows, q(T0 + MIN));
    assert.ok(none.result === 'ambiguous' && none.reason === 'port-needed' && none.sessions.length === 2);
    const outside = decide(rows, q(T0 + MIN, { port: 40000 }));
    assert.deepEqual(outside, { result: 'gap' });
  });

  it('an IPv6 address inside two nested prefixes of different holders is ambiguous; of one holder, found', () => {
    const delegated = row({ addrKey: '620010db8000100/56', start: T0, end: null, subscriber: 'alice' });
    const framed = row({ addrKey: '620010db800010002/64', start: T0, end: null, subscriber: 'alice', sessionId: 'x' });
    const r = decide([delegated, framed], q(T0 + MIN));
    assert.ok(r.result === 'found' && r.session.address === '2001:db8:1:2::/64', 'the longer prefix is the primary session');
    const other = { ...framed, subscriber: 'mallory' };
    assert.equal(decide([delegated, other], q(T0 + MIN)).result, 'ambiguous');
  });

  it('writes times exactly as Date#toISOString does (its own formatter reuses the date part)', () => {
    const times = [0, -1, T0 - 1, T0, T0 + 1, T0 + 86_399_999, T0 + 86_400_000, 253_402_300_799_999, 253_402_300_800_000, Date.UTC(1969, 11, 31, 23, 59, 59, 999)];
    for (let i = 0, x = 7; i < 5000; i++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      times.push(T0 + (x % 400) * 3_600_000 + (x % 1000), x * 1000 + (x % 997));
    }
    for (const t of times) assert.equal(isoTime(t), new Date(t).toISOString(), String(t));
  });
});
