import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { openStore, type Store } from '../store/index.ts';
import { AuditLog, privacyMigrations } from '../privacy/index.ts';
import { MemoryBus } from '../bus/index.ts';
import { makeObservation, ManualClock } from '../core/index.ts';
import { silentLogger } from '../telemetry/index.ts';
import { CaseBook, casesMigrations, InMemoryLocator, ObservationIntake, OBSERVATIONS_TOPIC, SubscriberDirectory } from './index.ts';

const T0 = Date.parse('2024-06-01T00:00:00Z');

describe('bus intake of detector observations', () => {
  let store: Store;
  let audit: AuditLog;
  let bus: MemoryBus;
  let intake: ObservationIntake;
  let book: CaseBook;

  before(async () => {
    store = await openStore('sqlite::memory:');
    await store.migrate([...privacyMigrations, ...casesMigrations]);
    const clock = new ManualClock(T0);
    audit = new AuditLog(store, { clock, flushIntervalMs: 0 });
    await new SubscriberDirectory(store, audit).importLines(['id,login,name,email,language,prefecture', 'K1,hanako@isp,Hanako,h@example.jp,ja,'], { actor: 'test' });
    book = new CaseBook(store, audit, new InMemoryLocator([{ ip: '192.0.2.10', login: 'hanako@isp', start: 0 }]), { clock });
    bus = new MemoryBus({ clock });
    intake = new ObservationIntake(bus, book, silentLogger);
    await intake.start();
  });
  after(async () => {
    await intake.stop();
    await bus.close();
    await audit.close();
    await store.close();
  });

  it('turns suspected-infection observations into cases; ignores other purposes and invalid messages; a redelivery changes nothing', async () => {
    const infected = makeObservation({ kind: 'suspected-infection', source: { name: 'dns-detector@node1', type: 'detector' }, observedAt: new Date(T0).toISOString(), network: { ip: '192.0.2.10' }, evidence: { family: 'mirai' }, purpose: 'infection-notice' });
    const blocking = makeObservation({ kind: 'cc-query', source: { name: 'dns-firewall@node1', type: 'sensor' }, observedAt: new Date(T0).toISOString(), network: { ip: '192.0.2.10', fqdn: 'cc.example' }, purpose: 'cc-blocking' });
    await bus.publish(OBSERVATIONS_TOPIC, infected);
    await bus.publish(OBSERVATIONS_TOPIC, blocking);
    await bus.publish(OBSERVATIONS_TOPIC, { kind: 'nonsense' });
    await bus.publish(OBSERVATIONS_TOPIC, infected); // at-least-once: the same observation again
    for (let i = 0; i < 100; i++) {
      const h = await intake.health();
      if ((h.detail!.taken as number) + (h.detail!.ignored as number) + (h.detail!.invalid as number) >= 4) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const h = await intake.health();
    assert.deepEqual([h.status, h.detail!.taken, h.detail!.ignored, h.detail!.invalid], ['ok', 2, 1, 1]);
    const cases = await book.cases({ actor: 'test' });
    assert.deepEqual(cases.map((c) => [c.subscriberId, c.class, c.findings, c.purpose]), [['K1', 'cc-infection', 1, 'infection-notice']]);
    // The C&C query logged for blocking was not kept for notices (R16).
    assert.equal((await book.findings({ actor: 'test' })).length, 1);
  });
});
