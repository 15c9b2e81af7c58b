import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openStore, type Store } from '../../store/index.ts';
import { AuditLog, privacyMigrations } from '../../privacy/index.ts';
import { ConsentFollower, ConsentRegistry, consentMigrations, FOLLOWER_ACTOR, type ConsentEvent } from '../../consent/index.ts';
import { formatPrefix, ManualClock } from '../../core/index.ts';
import { silentLogger } from '../../telemetry/index.ts';
import { DnsProtectionSwitch } from './dns-protection.ts';

describe('DnsProtectionSwitch (R1: opt out at any time, applied at once to the addresses held now)', () => {
  let store: Store;
  let audit: AuditLog;
  let consent: ConsentRegistry;
  const clock = new ManualClock(Date.parse('2025-01-06T00:00:00Z'));
  const held = new Map<string, string[]>([['hanako@isp', ['192.0.2.10', '2001:db8:12::/56']]]);
  const addresses = { currentAddresses: async (login: string) => held.get(login) ?? [] };
  const seen: ConsentEvent[] = [];
  const sub = { id: 'S1', login: 'hanako@isp' };

  before(async () => {
    store = await openStore('sqlite::memory:');
    await store.migrate([...privacyMigrations, ...consentMigrations]);
    audit = new AuditLog(store, { clock, flushIntervalMs: 0 });
    consent = new ConsentRegistry(store, audit, { clock });
    consent.onChange((e) => seen.push(e));
  });
  after(async () => {
    await audit.close();
    await store.close();
  });

  it('is on by default (the contract), with no history', async () => {
    const sw = new DnsProtectionSwitch(consent, addresses, silentLogger);
    assert.deepEqual(await sw.state('S1'), { status: 'on', since: null, history: [] });
  });

  it('opting out records the subscriber and every address held now, via portal, as the subscriber; listeners hear each before set() returns', async () => {
    const sw = new DnsProtectionSwitch(consent, addresses, silentLogger);
    const r = await sw.set(sub, 'opt-out');
    assert.equal(r.unchanged, false);
    assert.deepEqual(r.applied, ['192.0.2.10/32', '2001:db8:12::/56']);
    assert.deepEqual(seen.map((e) => [e.scope, e.subject, e.choice, e.via, e.actor]), [
      ['subscriber', 'S1', 'opt-out', 'portal', 'subscriber:S1'],
      ['client', '192.0.2.10/32', 'opt-out', 'portal', 'subscriber:S1'],
      ['client', '2001:db8:12::/56', 'opt-out', 'portal', 'subscriber:S1'],
    ]);
    assert.deepEqual((await consent.clientOptOuts()).map(formatPrefix).sort(), ['192.0.2.10/32', '2001:db8:12::/56']);
    const state = await sw.state('S1');
    assert.equal(state.status, 'off');
    assert.equal(state.history.length, 1);
    const entries = await audit.list({ limit: 10 });
    assert.equal(entries.filter((e) => e.action === 'consent').length, 3);
  });

  it('pressing again records nothing new, but covers an address taken since', async () => {
    const sw = new DnsProtectionSwitch(consent, addresses, silentLogger);
    held.set('hanako@isp', ['192.0.2.10', '198.51.100.7']);
    seen.length = 0;
    const r = await sw.set(sub, 'opt-out');
    assert.equal(r.unchanged, true);
    assert.deepEqual(r.applied, ['198.51.100.7/32']);
    assert.deepEqual(seen.map((e) => e.subject), ['198.51.100.7/32']);
    assert.equal((await sw.state('S1')).history.length, 1);
  });

  it('opting back in releases every address the opt-out covered, held now or not, but not an operator\'s later opt-out of one of them', async () => {
    clock.advance(60_000);
    // An operator opts one of those prefixes out on their own account (a ticket): that one stays.
    await consent.optOut({ scope: 'client', subject: '2001:db8:12::/56', actor: 'cli:alice', via: 'cli', reason: 'ticket 4711' });
    clock.advance(60_000);
    seen.length = 0;
    const sw = new DnsProtectionSwitch(consent, addresses, silentLogger);
    const r = await sw.set(sub, 'opt-in');
    assert.equal(r.unchanged, false);
    assert.deepEqual(r.applied.sort(), ['192.0.2.10/32', '198.51.100.7/32']);
    assert.deepEqual((await consent.clientOptOuts()).map(formatPrefix), ['2001:db8:12::/56']);
    assert.deepEqual((await sw.state('S1')).history.map((e) => e.choice), ['opt-out', 'opt-in']);
  });

  it('without an address source the choice is still recorded for the subscriber', async () => {
    const sw = new DnsProtectionSwitch(consent, undefined, silentLogger);
    const r = await sw.set({ id: 'S2', login: 'taro@isp' }, 'opt-out');
    assert.deepEqual([r.unchanged, r.applied], [false, []]);
    assert.equal(await consent.choiceOf('subscriber', 'S2'), 'opt-out');
  });

  it('skips an address attribution got wrong, and says so in the log', async () => {
    const warnings: unknown[] = [];
    const sw = new DnsProtectionSwitch(consent, { currentAddresses: async () => ['not-an-address', '203.0.113.5'] }, { warn: (o: unknown) => warnings.push(o) } as never);
    const r = await sw.set({ id: 'S3', login: 'x' }, 'opt-out');
    assert.deepEqual(r.applied, ['203.0.113.5/32']);
    assert.equal(warnings.length, 1);
  });
});

describe('DnsProtectionSwitch with the consent follower (R1: the choice follows the subscriber)', () => {
  it('the switch records the subscriber\'s choice; the follower covers the addresses held now, and releases them at opt-in', async () => {
    const store = await openStore('sqlite::memory:');
    await store.migrate([...privacyMigrations, ...consentMigrations]);
    const clock = new ManualClock(Date.parse('2025-01-06T00:00:00Z'));
    const audit = new AuditLog(store, { clock, flushIntervalMs: 0 });
    const consent = new ConsentRegistry(store, audit, { clock });
    const follower = new ConsentFollower({
      consent,
      store,
      audit,
      loginOf: async (id) => (id === 'S1' ? 'hanako@isp' : undefined),
      holdingsOf: async (login) => (login === 'hanako@isp' ? [{ address: '192.0.2.10', nas: 'bras1', sessionId: 'A' }] : []),
      logger: silentLogger,
    });
    try {
      const sw = new DnsProtectionSwitch(consent, undefined, silentLogger, follower);
      const off = await sw.set({ id: 'S1', login: 'hanako@isp' }, 'opt-out');
      assert.deepEqual([off.unchanged, off.applied], [false, ['192.0.2.10/32']]);
      const e = (await consent.history({ scope: 'client', subject: '192.0.2.10/32' })).at(-1)!;
      assert.deepEqual([e.choice, e.actor, e.via], ['opt-out', FOLLOWER_ACTOR, 'session']);
      assert.deepEqual((await sw.set({ id: 'S1', login: 'hanako@isp' }, 'opt-out')).unchanged, true);
      clock.advance(1000);
      const on = await sw.set({ id: 'S1', login: 'hanako@isp' }, 'opt-in');
      assert.deepEqual(on.applied, ['192.0.2.10/32']);
      assert.deepEqual(await consent.clientOptOuts(), []);
      assert.deepEqual((await sw.state('S1')).history.map((x) => [x.choice, x.actor]), [['opt-out', 'subscriber:S1'], ['opt-in', 'subscriber:S1']]);
    } finally {
      await follower.stop();
      await audit.close();
      await store.close();
    }
  });
});
