/**
 * Cases over the real attribution index (src/attribution): the adapter in
 * src/node/parts.ts turns its look-up results into the cases port, every
 * look-up states the finding's purpose and is audited (R16).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openStore, type Store } from '../src/store/index.ts';
import { AuditLog, privacyMigrations } from '../src/privacy/index.ts';
import { makeObservation, ManualClock } from '../src/core/index.ts';
import { Attribution, attributionMigrations, keyOf, SessionIndex } from '../src/attribution/index.ts';
import { CaseBook, casesMigrations, SubscriberDirectory } from '../src/cases/index.ts';
import { attributionLocator } from '../src/node/parts.ts';

const T0 = Date.parse('2025-01-06T10:00:00Z');
const H = 3_600_000;

describe('cases with the attribution index', () => {
  let store: Store;
  let audit: AuditLog;
  let book: CaseBook;

  before(async () => {
    store = await openStore('sqlite::memory:');
    await store.migrate([...privacyMigrations, ...attributionMigrations, ...casesMigrations]);
    const clock = new ManualClock(T0 + 48 * H);
    audit = new AuditLog(store, { clock, flushIntervalMs: 0 });
    const index = new SessionIndex(store, { clock });
    const rec = (ip: string, subscriber: string, sessionId: string, start: number, end: number | null) => ({
      nas: '192.0.2.254', sessionId, subscriber, addrKey: keyOf(ip)!, portStart: 0, portEnd: 65535, role: 'ipv4' as const,
      start, startInferred: false, end, endInferred: false, lastSeen: end ?? start, source: 'radius' as const,
    });
    await index.write([
      rec('198.51.100.7', 'hanako@isp', 's1', T0 - 2 * H, T0 + 2 * H),
      rec('198.51.100.7', 'taro@isp', 's2', T0 + 3 * H, T0 + 5 * H),
      rec('198.51.100.8', 'taro@isp', 's3', T0 - H, T0 + H),
      rec('198.51.100.8', 'jiro@isp', 's4', T0 - H, T0 + H),
    ]);
    const locator = attributionLocator(new Attribution(index, audit, { clockSkewMs: 0 }));
    await new SubscriberDirectory(store, audit, { clock }).importLines(['id,login,name,email,language,prefecture', 'K1,hanako@isp,Hanako,h@example.jp,ja,', 'K2,taro@isp,Taro,t@example.jp,ja,'], { actor: 'test' });
    book = new CaseBook(store, audit, locator, { clock });
  });
  after(async () => {
    await audit.close();
    await store.close();
  });

  it('found, gap (between sessions), ambiguous (overlap) and unknown, each look-up audited with the finding\'s purpose', async () => {
    const o = (id: string, ip: string, at: number) =>
      makeObservation({ id, kind: 'open-resolver', source: { name: 'shadowserver:scan_dns', type: 'report' }, observedAt: new Date(at).toISOString(), network: { ip }, purpose: 'router-survey-notice' });
    const r = await book.ingest([o('a', '198.51.100.7', T0), o('b', '198.51.100.7', T0 + 4 * H), o('c', '198.51.100.7', T0 + 2.5 * H), o('d', '198.51.100.8', T0), o('e', '203.0.113.1', T0)], { actor: 'test' });
    assert.equal(r.attributed, 2);
    assert.deepEqual(r.unattributed, { gap: 1, ambiguous: 1, unknown: 1 });
    const cases = await book.cases({ actor: 'test' });
    assert.deepEqual(cases.map((c) => c.subscriberId).sort(), ['K1', 'K2']);
    const found = (await book.findings({ actor: 'test' })).find((f) => f.id === 'a')!;
    assert.deepEqual(found.detail.session, { nas: '192.0.2.254', sessionId: 's1', start: new Date(T0 - 2 * H).toISOString(), end: new Date(T0 + 2 * H).toISOString() });
    const lookups = (await audit.list({ limit: 100 })).filter((e) => e.actor === 'cases' && e.action === 'read');
    assert.equal(lookups.length, 5);
    assert.ok(lookups.every((e) => e.purpose === 'router-survey-notice'));
  });
});
