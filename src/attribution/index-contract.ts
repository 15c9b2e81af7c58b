/**
 * What the attribution index must do on every Store adapter. Run by
 * session-index.test.ts against SQLite and a real PostgreSQL.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock, PurposeMismatchError } from '../core/index.ts';
import type { Store } from '../store/index.ts';
import { AuditLog, privacyMigrations, RetentionPurger } from '../privacy/index.ts';
import { DEFAULT_RETENTION } from '../config/index.ts';
import { parseDuration, PURPOSE_NAMES, type Purpose } from '../core/index.ts';
import { keyOf, parseNetwork } from './address.ts';
import { Attribution } from './attribution.ts';
import { opOf, type SessionEvent } from './events.ts';
import { attributionMigrations } from './migrations.ts';
import { attributionRetention } from './retention.ts';
import { SessionIndex } from './session-index.ts';
import type { SessionRecord } from './session.ts';

export const T0 = Date.UTC(2025, 0, 6, 10, 0, 0);
export const MIN = 60_000;

type Kind = 'start' | 'interim' | 'stop';
export function radius(kind: Kind, o: { at: number; sid: string; user?: string; ip?: string; v6?: string; pd?: string; nas?: string; time?: number }): SessionEvent {
  const held = [
    ...(o.ip ? [{ addrKey: keyOf(o.ip)!, role: 'ipv4' as const }] : []),
    ...(o.v6 ? [{ addrKey: keyOf(o.v6)!, role: 'ipv6-framed' as const }] : []),
    ...(o.pd ? [{ addrKey: keyOf(o.pd)!, role: 'ipv6-delegated' as const }] : []),
  ];
  return { kind, nas: o.nas ?? '192.0.2.254', sessionId: o.sid, subscriber: o.user ?? '', held, at: o.at, sessionTime: o.time, source: 'radius' };
}

export function nasReset(at: number, nas = '192.0.2.254'): SessionEvent {
  return { kind: 'nas-reset', nas, at, source: 'radius' };
}

export function record(p: Partial<SessionRecord> & { addrKey: string; subscriber: string; start: number; end: number | null }): SessionRecord {
  return { nas: 'cgnat-1', sessionId: `${p.addrKey}:${p.portStart ?? 0}@${p.start}`, portStart: 0, portEnd: 65535, role: 'ipv4', startInferred: false, endInferred: false, lastSeen: p.end ?? p.start, source: 'cgnat', ...p };
}

export async function openIndex(store: Store, clock = new ManualClock(T0)): Promise<{ index: SessionIndex; attribution: Attribution; audit: AuditLog }> {
  await store.migrate([...privacyMigrations, ...attributionMigrations]);
  const index = new SessionIndex(store, { clock, prefixLengthsTtlMs: 0 });
  const audit = new AuditLog(store, { clock, flushIntervalMs: 0 });
  return { index, audit, attribution: new Attribution(index, audit, { clockSkewMs: 0 }) };
}

/** Two write batches with what a load must merge: a session written open then closed, exact repeats, a derived end then the reported one. */
function loadBatches(): SessionRecord[][] {
  const k = (ip: string) => keyOf(ip)!;
  const a = record({ addrKey: k('198.51.100.70'), subscriber: 'ann', start: T0, end: null, nas: 'n', sessionId: 'a1', source: 'radius' });
  const b = record({ addrKey: k('198.51.100.71'), subscriber: 'bob', start: T0, end: T0 + MIN, nas: 'n', sessionId: 'b1' });
  const c = record({ addrKey: k('198.51.100.72'), subscriber: 'cid', start: T0, end: T0 + 5 * MIN, endInferred: true, nas: 'n', sessionId: 'c1' });
  const d = record({ addrKey: k('2001:db8:70::/56'), role: 'ipv6-delegated', subscriber: 'ann', start: T0, end: T0 + 9 * MIN, nas: 'n', sessionId: 'a1' });
  return [
    [a, b, b, c, d],
    [{ ...a, end: T0 + 3 * MIN, lastSeen: T0 + 3 * MIN }, { ...c, end: T0 + 4 * MIN, endInferred: false, lastSeen: T0 + 4 * MIN }, b],
  ];
}

async function allRows(store: Store): Promise<unknown[]> {
  const rows = await store.all('SELECT addr_key, port_start, port_end, start_at, end_at, last_seen, sid_hash, subscriber, nas, session_id, flags FROM attribution_sessions ORDER BY addr_key, port_start, start_at');
  return rows.map((r) => Object.fromEntries(Object.entries(r).map(([key, v]) => [key, typeof v === 'string' && /^\d+$/.test(v) && key !== 'addr_key' && key !== 'subscriber' && key !== 'session_id' ? Number(v) : v])));
}

/**
 * A bulk load into an empty index ends with exactly the rows that upserts
 * leave, with its indexes back (a repeat write merges); into an index that
 * holds sessions it does nothing; a rolled-back load leaves it empty.
 */
export async function bulkLoadContract(load: { store: Store; index: SessionIndex }, reference: { store: Store; index: SessionIndex }): Promise<void> {
  const batches = loadBatches();
  assert.equal(await load.index.beginBulkLoad(), true);
  for (const b of batches) await load.index.write(b);
  await load.index.finishBulkLoad();
  for (const b of batches) await reference.index.write(b);
  assert.deepEqual(await allRows(load.store), await allRows(reference.store));
  assert.deepEqual(await load.index.count(), { sessions: 4, open: 0 });
  await load.index.write(batches[0]!);
  assert.deepEqual(await load.index.count(), { sessions: 4, open: 0 }, 'the unique lookup index is back');
  const r = await load.index.holderAt(parseNetwork('198.51.100.72')!, { at: T0 + 2 * MIN, skewMs: 0 });
  assert.ok(r.result === 'found' && r.subscriber === 'cid' && r.session.end === new Date(T0 + 4 * MIN).toISOString(), JSON.stringify(r));
  assert.equal(await load.index.beginBulkLoad(), false, 'not into an index that holds sessions');
  await load.index.write(batches[1]!);

  await reference.store.run('DELETE FROM attribution_sessions');
  assert.equal(await reference.index.beginBulkLoad(), true);
  await reference.index.write(batches[0]!);
  await reference.index.abortBulkLoad();
  assert.deepEqual(await reference.index.count(), { sessions: 0, open: 0 });
  await reference.index.write([...batches[0]!, ...batches[0]!]);
  assert.deepEqual(await reference.index.count(), { sessions: 4, open: 1 }, 'the rolled-back load left the indexes in place');
}

export function sessionIndexContract(name: string, open: () => Promise<Store>): void {
  describe(`attribution index: ${name}`, () => {
    const withIndex = async (fn: (x: Awaited<ReturnType<typeof openIndex>> & { store: Store }) => Promise<void>) => {
      const store = await open();
      try {
        const x = await openIndex(store);
        await fn({ ...x, store });
        await x.audit.close();
      } finally {
        await store.close();
      }
    };
    const who = async (index: SessionIndex, ip: string, at: number, extra: { port?: number; skewMs?: number } = {}) => index.holderAt(parseNetwork(ip)!, { at, skewMs: extra.skewMs ?? 0, port: extra.port });
    const apply = (index: SessionIndex, ...events: SessionEvent[]) => index.resolve(events.map(opOf));

    it('RADIUS Start/Stop: the right subscriber inside sessions, a gap between and after them', () =>
      withIndex(async ({ index }) => {
        await apply(index, radius('start', { at: T0, sid: 'a1', user: 'alice', ip: '198.51.100.7' }));
        let r = await who(index, '198.51.100.7', T0 + 30 * MIN);
        assert.ok(r.result === 'found' && r.subscriber === 'alice' && r.session.end === null, JSON.stringify(r));
        await apply(index, radius('stop', { at: T0 + 60 * MIN, sid: 'a1', user: 'alice', ip: '198.51.100.7', time: 3600 }));
        await apply(index, radius('start', { at: T0 + 90 * MIN, sid: 'b1', user: 'bob', ip: '198.51.100.7' }), radius('stop', { at: T0 + 120 * MIN, sid: 'b1', user: 'bob', ip: '198.51.100.7', time: 1800 }));
        r = await who(index, '198.51.100.7', T0 + 30 * MIN);
        assert.ok(r.result === 'found' && r.subscriber === 'alice' && r.session.end === new Date(T0 + 60 * MIN).toISOString());
        r = await who(index, '198.51.100.7', T0 + 100 * MIN);
        assert.ok(r.result === 'found' && r.subscriber === 'bob' && r.session.sessionId === 'b1' && r.session.nas === '192.0.2.254');
        r = await who(index, '198.51.100.7', T0 + 75 * MIN);
        assert.ok(r.result === 'gap' && r.before?.subscriber === 'alice' && r.after?.subscriber === 'bob');
        r = await who(index, '198.51.100.7', T0 + 300 * MIN);
        assert.ok(r.result === 'gap' && r.before?.subscriber === 'bob' && !r.after);
        assert.deepEqual(await who(index, '198.51.100.8', T0), { result: 'unknown' });
        assert.deepEqual(await index.count(), { sessions: 2, open: 0 });
      }));

    it('look-ups issued together (one batched statement on PostgreSQL) answer as each does alone', () =>
      withIndex(async ({ index }) => {
        const events: SessionEvent[] = [];
        for (let i = 0; i < 40; i++) {
          const ip = `198.51.100.${100 + (i % 20)}`;
          const at = T0 + Math.floor(i / 20) * 120 * MIN;
          events.push(radius('start', { at, sid: `p${i}`, user: `u${i}`, ip, ...(i % 4 === 0 ? { pd: `2001:db8:${i.toString(16)}00::/56` } : {}) }));
          events.push(radius('stop', { at: at + 60 * MIN, sid: `p${i}`, user: `u${i}`, ip, time: 3600, ...(i % 4 === 0 ? { pd: `2001:db8:${i.toString(16)}00::/56` } : {}) }));
        }
        await apply(index, ...events);
        const asks: [string, number][] = [];
        for (let i = 0; i < 40; i++) {
          const at = T0 + Math.floor(i / 20) * 120 * MIN;
          asks.push([`198.51.100.${100 + (i % 20)}`, at + 30 * MIN], [`198.51.100.${100 + (i % 20)}`, at + 90 * MIN]);
          if (i % 4 === 0) asks.push([`2001:db8:${i.toString(16)}00::1`, at + 10 * MIN]);
        }
        asks.push(['198.51.100.250', T0]);
        const alone = [];
        for (const [ip, at] of asks) alone.push(await who(index, ip, at));
        const together = await Promise.all(asks.map(([ip, at]) => who(index, ip, at)));
        assert.deepEqual(together, alone);
        assert.ok(alone.some((r) => r.result === 'found') && alone.some((r) => r.result === 'gap') && alone.some((r) => r.result === 'unknown'));
        assert.equal(alone.filter((r) => r.result === 'found').length, 40 + 10);
      }));

    it('an Interim without Start opens the session from Acct-Session-Time; the late Start corrects it', () =>
      withIndex(async ({ index }) => {
        await apply(index, radius('interim', { at: T0 + 10 * MIN, sid: 'c1', user: 'carol', ip: '198.51.100.9', time: 600 - 3 }));
        let r = await who(index, '198.51.100.9', T0 + 1 * MIN);
        assert.ok(r.result === 'found' && r.subscriber === 'carol' && r.session.startInferred === true, JSON.stringify(r));
        await apply(index, radius('start', { at: T0, sid: 'c1', user: 'carol', ip: '198.51.100.9' }));
        r = await who(index, '198.51.100.9', T0 + 1000);
        assert.ok(r.result === 'found' && r.session.start === new Date(T0).toISOString() && r.session.startInferred === undefined, JSON.stringify(r));
        assert.deepEqual(await index.count(), { sessions: 1, open: 1 });
      }));

    it('a Stop without Start still records the interval from Acct-Session-Time', () =>
      withIndex(async ({ index }) => {
        await apply(index, radius('stop', { at: T0 + 60 * MIN, sid: 'd1', user: 'dave', ip: '198.51.100.10', time: 3600 }));
        const r = await who(index, '198.51.100.10', T0 + 5 * MIN);
        assert.ok(r.result === 'found' && r.subscriber === 'dave' && r.session.startInferred === true && r.session.start === new Date(T0).toISOString());
        assert.equal((await who(index, '198.51.100.10', T0 - MIN)).result, 'gap');
      }));

    it('Accounting-On closes every open session of that NAS at that time, and only of that NAS; a late Stop still wins', () =>
      withIndex(async ({ index }) => {
        await apply(
          index,
          radius('start', { at: T0, sid: 'e1', user: 'erin', ip: '198.51.100.20' }),
          radius('start', { at: T0, sid: 'f1', user: 'frank', ip: '198.51.100.21' }),
          radius('start', { at: T0, sid: 'g1', user: 'grace', ip: '198.51.100.22', nas: 'bras-other' }),
          nasReset(T0 + 30 * MIN),
        );
        let r = await who(index, '198.51.100.20', T0 + 40 * MIN);
        assert.ok(r.result === 'gap' && r.before?.endInferred === 'nas-restart' && r.before.end === new Date(T0 + 30 * MIN).toISOString(), JSON.stringify(r));
        r = await who(index, '198.51.100.22', T0 + 40 * MIN);
        assert.ok(r.result === 'found' && r.subscriber === 'grace' && r.session.end === null);
        // The NAS's real Stop for frank arrives afterwards: its end replaces the derived one.
        await apply(index, radius('stop', { at: T0 + 29 * MIN, sid: 'f1', user: 'frank', ip: '198.51.100.21', time: 29 * 60 }));
        r = await who(index, '198.51.100.21', T0 + 10 * MIN);
        assert.ok(r.result === 'found' && r.session.end === new Date(T0 + 29 * MIN).toISOString() && r.session.endInferred === undefined, JSON.stringify(r));
        assert.deepEqual(await index.count(), { sessions: 3, open: 1 });
      }));

    it('duplicates are harmless: repeated Start, Interim, Stop and re-imported rows leave one session', () =>
      withIndex(async ({ index }) => {
        const start = radius('start', { at: T0, sid: 'h1', user: 'heidi', ip: '198.51.100.30', pd: '2001:db8:30::/56' });
        const interim = radius('interim', { at: T0 + 5 * MIN, sid: 'h1', user: 'heidi', ip: '198.51.100.30', pd: '2001:db8:30::/56', time: 300 });
        const stop = radius('stop', { at: T0 + 10 * MIN, sid: 'h1', user: 'heidi', ip: '198.51.100.30', pd: '2001:db8:30::/56', time: 600 });
        await apply(index, start, start, interim, interim, stop);
        await apply(index, stop, interim, start);
        assert.deepEqual(await index.count(), { sessions: 2, open: 0 }); // two networks: IPv4 + delegated prefix
        const recs = [record({ addrKey: keyOf('203.0.113.1')!, subscriber: 'ivan', start: T0, end: T0 + MIN, nas: 'n', sessionId: 'i1' })];
        await index.write(recs);
        await index.write(recs);
        await index.write([...recs, ...recs]);
        assert.deepEqual(await index.count(), { sessions: 3, open: 0 });
        const r = await who(index, '198.51.100.30', T0 + 7 * MIN);
        assert.ok(r.result === 'found' && r.subscriber === 'heidi' && !r.sessions);
      }));

    it('IPv6: a /128 finds the delegated /56 and the framed /64 that contain it', () =>
      withIndex(async ({ index }) => {
        await apply(index, radius('start', { at: T0, sid: 'j1', user: 'judy', v6: '2001:db8:40:1::/64', pd: '2001:db8:41::/56' }));
        let r = await who(index, '2001:db8:41:ab:1:2:3:4', T0 + MIN);
        assert.ok(r.result === 'found' && r.subscriber === 'judy' && r.session.address === '2001:db8:41::/56' && r.session.role === 'ipv6-delegated', JSON.stringify(r));
        r = await who(index, '2001:db8:40:1::99', T0 + MIN);
        assert.ok(r.result === 'found' && r.session.role === 'ipv6-framed');
        assert.equal((await who(index, '2001:db8:42::1', T0 + MIN)).result, 'unknown');
        assert.equal((await who(index, '2001:db8:41::1', T0 - MIN)).result, 'gap');
      }));

    it('CGNAT: public address + port finds the block; no port is ambiguous; an inside address is followed to its login', () =>
      withIndex(async ({ index, attribution }) => {
        const pub = keyOf('203.0.113.5')!;
        const block = (sub: string, ps: number, pe: number, start = T0, end: number | null = T0 + 60 * MIN) =>
          record({ addrKey: pub, portStart: ps, portEnd: pe, role: 'port-block', subscriber: sub, start, end });
        await index.write([block('100.64.0.10', 1024, 2047), block('bob', 2048, 3071), block('carol', 2048, 3071, T0 + 61 * MIN, null)]);
        await apply(index, radius('start', { at: T0 - MIN, sid: 'k1', user: 'kate', ip: '100.64.0.10' }));
        let r = await who(index, '203.0.113.5', T0 + MIN, { port: 2500 });
        assert.ok(r.result === 'found' && r.subscriber === 'bob' && r.session.ports?.start === 2048, JSON.stringify(r));
        r = await who(index, '203.0.113.5', T0 + 70 * MIN, { port: 3071 });
        assert.ok(r.result === 'found' && r.subscriber === 'carol');
        r = await who(index, '203.0.113.5', T0 + MIN);
        assert.ok(r.result === 'ambiguous' && r.reason === 'port-needed' && r.sessions.length === 2, JSON.stringify(r));
        assert.equal((await who(index, '203.0.113.5', T0 + MIN, { port: 80 })).result, 'gap');
        const via = await attribution.lookup({ ip: '203.0.113.5', port: 1500, at: T0 + MIN, purpose: 'infection-notice', actor: 'test' });
        assert.ok(via.result === 'found' && via.subscriber === 'kate' && via.session.address === '100.64.0.10' && via.via?.insideAddress === '100.64.0.10', JSON.stringify(via));
        assert.ok(via.via?.portBlock.ports?.start === 1024 && via.via.portBlock.address === '203.0.113.5' && via.via.result === 'found');
      }));

    it('every look-up states its purpose and is audited; a purpose that may not attribute is refused and audited', () =>
      withIndex(async ({ index, attribution, audit }) => {
        await apply(index, radius('start', { at: T0, sid: 'l1', user: 'leo', ip: '198.51.100.50' }));
        const r = await attribution.lookup({ ip: '198.51.100.50', at: T0 + MIN, purpose: 'router-survey-notice', actor: 'cli' });
        assert.equal(r.result, 'found');
        assert.equal(r.query.purpose, 'router-survey-notice');
        await assert.rejects(attribution.lookup({ ip: '198.51.100.50', at: T0 + MIN, purpose: 'hub-sharing', actor: 'api:203.0.113.9' }), PurposeMismatchError);
        await audit.flush();
        const entries = await audit.list({ limit: 10 });
        const read = entries.find((e) => e.subject === '198.51.100.50');
        assert.ok(read && read.action === 'read' && read.purpose === 'router-survey-notice' && read.actor === 'cli' && read.detail.result === 'found');
        assert.ok(!JSON.stringify(read.detail).includes('leo'), 'the audit entry does not copy the subscriber');
        const refused = entries.find((e) => e.actor === 'api:203.0.113.9');
        assert.ok(refused && refused.purpose === 'hub-sharing' && refused.detail.refused === 'purpose');
      }));

    it("a subscriber's current addresses: open sessions not superseded, no shared CGNAT blocks; purpose-bound", () =>
      withIndex(async ({ index, attribution }) => {
        await apply(
          index,
          radius('start', { at: T0, sid: 'n1', user: 'nora', ip: '198.51.100.70', pd: '2001:db8:70::/56' }),
          // A session whose Stop was lost: the address went to somebody else since.
          radius('start', { at: T0 - 60 * MIN, sid: 'n0', user: 'nora', ip: '198.51.100.71' }),
          radius('start', { at: T0 - 30 * MIN, sid: 'o1', user: 'otto', ip: '198.51.100.71' }),
          radius('start', { at: T0 - 90 * MIN, sid: 'n2', user: 'nora', ip: '198.51.100.72' }),
          radius('stop', { at: T0 - 80 * MIN, sid: 'n2', user: 'nora', ip: '198.51.100.72', time: 600 }),
        );
        await index.write([record({ addrKey: keyOf('203.0.113.9')!, portStart: 1024, portEnd: 2047, role: 'port-block', subscriber: 'nora', start: T0, end: null })]);
        assert.deepEqual((await attribution.currentAddresses('nora', { purpose: 'consent', actor: 'portal' })).sort(), ['198.51.100.70', '2001:db8:70::/56']);
        assert.deepEqual(await attribution.currentAddresses('otto', { purpose: 'consent', actor: 'portal' }), ['198.51.100.71']);
        assert.deepEqual(await attribution.currentAddresses('nobody', { purpose: 'consent', actor: 'portal' }), []);
        await assert.rejects(attribution.currentAddresses('nora', { purpose: 'hub-sharing', actor: 'portal' }), PurposeMismatchError);
      }));

    it('a bulk load into an empty index leaves what upserts leave, builds its indexes at the end, and rolls back whole', async () => {
      const a = await open();
      const b = await open();
      try {
        const x = await openIndex(a);
        const y = await openIndex(b);
        if (a.dialect === 'postgres') {
          assert.equal(await x.index.beginBulkLoad(), false, 'on PostgreSQL only through the COPY writer (session-index.test.ts)');
          return;
        }
        await bulkLoadContract({ store: a, index: x.index }, { store: b, index: y.index });
      } finally {
        await a.close();
        await b.close();
      }
    });

    it('retention deletes sessions whose last event is older than the subscriber-attribution retention, never open ones', () =>
      withIndex(async ({ store, index, audit }) => {
        const clock = new ManualClock(T0 + 100 * 86_400_000);
        const retentionMs = Object.fromEntries(PURPOSE_NAMES.map((p) => [p, parseDuration(DEFAULT_RETENTION[p])!])) as Record<Purpose, number>;
        const purger = new RetentionPurger(store, audit, retentionMs, { clock, chunk: 2 });
        for (const rule of attributionRetention) purger.register(rule);
        await apply(
          index,
          radius('start', { at: T0, sid: 'm1', user: 'old', ip: '198.51.100.60' }),
          radius('stop', { at: T0 + MIN, sid: 'm1', user: 'old', ip: '198.51.100.60', time: 60 }),
          radius('start', { at: T0, sid: 'm2', user: 'open-for-months', ip: '198.51.100.61' }),
          radius('start', { at: T0 + 99 * 86_400_000, sid: 'm3', user: 'recent', ip: '198.51.100.62' }),
          radius('stop', { at: T0 + 99 * 86_400_000 + MIN, sid: 'm3', user: 'recent', ip: '198.51.100.62', time: 60 }),
        );
        const results = await purger.runOnce();
        assert.equal(results.find((x) => x.purpose === 'subscriber-attribution')?.deleted, 1);
        assert.deepEqual(await index.count(), { sessions: 2, open: 1 });
      }));
  });
}
