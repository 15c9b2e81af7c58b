import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startPostgres, type PostgresPeer } from '../../test/peers/postgres.ts';
import { openStore, type Store } from '../store/index.ts';
import { AuditLog, privacyMigrations, RetentionPurger, verifyAuditChain } from '../privacy/index.ts';
import { makeObservation, ManualClock, SakimoriError, type Observation, type Purpose } from '../core/index.ts';
import { DEFAULT_RETENTION } from '../config/index.ts';
import { parseDuration, PURPOSE_NAMES } from '../core/index.ts';
import { createCases, casesMigrations, casesRetentionRules, InMemoryLocator, type Cases, type Mailer } from './index.ts';

const H = 3_600_000;
const T0 = Date.parse('2024-05-01T00:00:00Z');

const SUBSCRIBERS = `id,login,name,email,language,prefecture,plan
S1,alice@isp,山田 花子,alice@example.jp,ja,北海道,gold
S2,bob@isp,Bob,bob@example.jp,en,鹿児島県,
S3,carol@isp,Carol,,ja,東京都,
`;

function obs(kind: 'open-resolver' | 'sinkhole-hit' | 'exposed-admin' | 'credential-abuse' | 'cc-query', ip: string | undefined, at: number, extra: { id?: string; port?: number; purpose?: Purpose; evidence?: Record<string, unknown> } = {}): Observation {
  const purpose = extra.purpose ?? (kind === 'sinkhole-hit' ? 'infection-notice' : kind === 'credential-abuse' ? 'credential-abuse' : kind === 'cc-query' ? 'cc-blocking' : 'router-survey-notice');
  return makeObservation({
    ...(extra.id ? { id: extra.id } : {}),
    kind,
    source: { name: 'test', type: 'report' },
    observedAt: new Date(at).toISOString(),
    network: { ...(ip ? { ip } : {}), ...(extra.port !== undefined ? { port: extra.port } : {}) },
    evidence: extra.evidence ?? {},
    purpose,
  });
}

class RecordingMailer implements Mailer {
  sent: { to: string; subject: string; text: string }[] = [];
  fail = false;
  async send(m: { to: string; subject: string; text: string }) {
    if (this.fail) throw new Error('421 try later');
    this.sent.push(m);
    return { messageId: `<m${this.sent.length}@test>` };
  }
}

function casesSuite(name: string, open: () => Promise<Store>): void {
describe(`cases on ${name}`, () => {
  let store: Store;
  let audit: AuditLog;
  let clock: ManualClock;
  let locator: InMemoryLocator;
  let mailer: RecordingMailer;
  let c: Cases;
  const actor = { actor: 'test' };

  before(async () => {
    store = await open();
    await store.migrate([...privacyMigrations, ...casesMigrations]);
    clock = new ManualClock(T0);
    audit = new AuditLog(store, { clock, flushIntervalMs: 0 });
    locator = new InMemoryLocator([
      { ip: '192.0.2.1', login: 'alice@isp', start: T0 - 10 * H, end: T0 + 10 * H },
      { ip: '192.0.2.1', login: 'bob@isp', start: T0 + 10 * H },
      { ip: '192.0.2.2', login: 'bob@isp', start: T0 - 10 * H, end: T0 - 5 * H },
      { ip: '192.0.2.3', login: 'alice@isp', start: T0 - H, end: T0 + H },
      { ip: '192.0.2.3', login: 'carol@isp', start: T0 - H, end: T0 + H },
      { ip: '192.0.2.4', login: 'dave@isp', start: T0 - H },
      { ip: '192.0.2.5', login: 'carol@isp', start: T0 - H },
    ]);
    mailer = new RecordingMailer();
    const config = {
      notify: { enabled: true, smtp: { host: '127.0.0.1', port: 25, from: 'x@y.z', secure: false, user: '', passwordFile: '' }, portalUrl: 'https://portal.example.net/', organization: 'Example ISP', cooldown: 24 * H, batchWindow: 10 * 60_000, interval: 60_000, retryInterval: H },
      cases: { addressSpace: ['192.0.2.0/24', '2001:db8::/32'] },
    };
    c = createCases({ store, audit, locator, config, clock, mailer });
    const r = await c.subscribers.importLines(SUBSCRIBERS.split('\n'), actor);
    assert.deepEqual(r, { imported: 3, badLines: [] });
  });
  after(async () => {
    await audit.close();
    await store.close();
  });

  it('subscribers import: upserts, reports bad lines by number, keeps only the contract columns', async () => {
    const r = await c.subscribers.importLines(
      ['id,login,name,email,language,prefecture,extra', 'S1,alice@isp,山田 花子,hanako@example.jp,ja,北海道,x', ',nologin,No Id,,ja,', 'S9,,No Login,,ja,', 'S8,eve@isp,Eve,not-an-email,ja,', 'S7,bob@isp,Bob Two,,ja,', 'S6,frank@isp,Frank,,fr,', 'S5,"broken,ja'],
      actor,
    );
    assert.equal(r.imported, 1);
    assert.deepEqual(r.badLines.map((b) => b.line), [3, 4, 5, 6, 7, 8]);
    assert.match(r.badLines[0]!.error, /empty id/);
    assert.match(r.badLines[2]!.error, /not an e-mail address/);
    assert.match(r.badLines[3]!.error, /belongs to subscriber S2/);
    assert.match(r.badLines[4]!.error, /not ja or en/);
    assert.equal((await c.subscribers.byId('S1'))!.email, 'hanako@example.jp');
    assert.equal((await c.subscribers.byLogin('bob@isp'))!.id, 'S2');
    assert.deepEqual(Object.keys((await c.subscribers.byId('S1'))!).sort(), ['email', 'id', 'language', 'login', 'name', 'prefecture']);
    await assert.rejects(c.subscribers.importLines(['login,id', 'a,b'], actor), /header must begin with id,login,name,email,language,prefecture/);
  });

  it('keeps every finding, attributed or not, with the reason; opens one case per subscriber and class', async () => {
    const r = await c.book.ingest(
      [
        obs('open-resolver', '192.0.2.1', T0, { id: 'o1' }), // alice
        obs('open-resolver', '192.0.2.1', T0 + H, { id: 'o2' }), // alice again: same case
        obs('sinkhole-hit', '192.0.2.1', T0 + 2 * H, { id: 'o3', evidence: { family: 'mirai' } }), // alice, other class: second case
        obs('open-resolver', '192.0.2.1', T0 + 11 * H, { id: 'o4' }), // bob holds it then
        obs('open-resolver', '192.0.2.2', T0, { id: 'o5' }), // gap
        obs('open-resolver', '192.0.2.9', T0, { id: 'o6' }), // unknown
        obs('open-resolver', '192.0.2.3', T0, { id: 'o7' }), // ambiguous
        obs('open-resolver', '198.51.100.1', T0, { id: 'o8' }), // not ours
        obs('open-resolver', '192.0.2.4', T0, { id: 'o9' }), // login with no contract
        obs('credential-abuse', undefined, T0, { id: 'o10', evidence: { login: 'carol@isp' } }), // by login
        obs('cc-query', '192.0.2.1', T0, { id: 'o11' }), // cc-blocking data: refused (R16)
        obs('open-resolver', '192.0.2.1', T0, { id: 'o1' }), // duplicate in the batch
      ],
      actor,
    );
    assert.equal(r.findings, 10);
    assert.equal(r.duplicates, 1);
    assert.deepEqual(r.refused.map((x) => x.id), ['o11']);
    assert.equal(r.attributed, 5);
    assert.deepEqual(r.unattributed, { gap: 1, unknown: 1, ambiguous: 1, 'not-our-address-space': 1, 'unknown-login': 1 });
    assert.deepEqual([r.opened, r.attached, r.reopened], [4, 1, 0]);
    // The foreign address was never looked up (R16: no look-up without cause).
    assert.ok(!locator.lookups.some((l) => l.ip === '198.51.100.1'));
    assert.ok(locator.lookups.every((l) => l.purpose === 'router-survey-notice' || l.purpose === 'infection-notice'));

    const unattributed = await c.book.findings({ attributed: false, ...actor });
    assert.deepEqual(unattributed.map((f) => [f.id, f.attribution]).sort(), [['o5', 'gap'], ['o6', 'unknown'], ['o7', 'ambiguous'], ['o8', 'not-our-address-space'], ['o9', 'unknown-login']]);
    for (const f of unattributed) {
      assert.equal(typeof f.detail.reason, 'string');
      assert.equal(f.subscriberId, null);
      assert.equal(f.purpose, 'router-survey-notice');
    }
    assert.equal(unattributed.find((f) => f.id === 'o7')!.detail.candidates, 2);

    const cases = await c.book.cases(actor);
    assert.deepEqual(cases.map((x) => `${x.subscriberId}/${x.class}/${x.findings}/${x.status}`).sort(), ['S1/cc-infection/1/new', 'S1/open-resolver/2/new', 'S2/open-resolver/1/new', 'S3/credential-abuse/1/new']);
    assert.deepEqual(cases.map((x) => x.purpose).sort(), ['credential-abuse', 'infection-notice', 'router-survey-notice', 'router-survey-notice']);

    // Idempotent: a redelivered message or a re-imported report changes nothing.
    const again = await c.book.ingest([obs('open-resolver', '192.0.2.1', T0, { id: 'o1' })], actor);
    assert.deepEqual([again.duplicates, again.findings], [1, 0]);
  });

  it('sends one batched notice per subscriber after the batch window, then holds the cool-down; every notice is audited', async () => {
    const early = await c.sender.runOnce(actor);
    assert.deepEqual([early.sent.length, early.held.every((h) => h.reason === 'batching')], [0, true]);
    clock.advance(10 * 60_000);
    const r = await c.sender.runOnce(actor);
    assert.deepEqual(r.sent.map((s) => [s.subscriberId, s.caseIds.length]).sort(), [['S1', 2], ['S2', 1]]);
    assert.deepEqual(r.failed.map((f) => [f.subscriberId, f.error]), [['S3', 'subscriber S3 has no e-mail address']]);
    assert.equal(mailer.sent.length, 2);
    const alice = mailer.sent.find((m) => m.to === 'hanako@example.jp')!;
    // Japanese first, English second, both classes in one mail, the most urgent first.
    assert.ok(alice.text.indexOf('マルウェア感染の疑い') < alice.text.indexOf('オープンリゾルバー'));
    assert.ok(alice.text.indexOf('オープンリゾルバー') < alice.text.indexOf('English'));
    assert.ok(alice.text.indexOf('English') < alice.text.indexOf('A device that looks infected'));
    assert.match(alice.text, /山田 花子 様/);
    assert.match(alice.text, /マルウェアの種類: mirai/);
    assert.match(alice.text, /2024年5月1日 11:00（日本時間）/);
    // R1: the C&C notice says blocking is in force, what is inspected, why, and how to opt out.
    assert.match(alice.text, /ドメイン名（FQDN）だけ/);
    assert.match(alice.text, /オプトアウト/);
    const link = /https:\/\/portal\.example\.net\/n\/([A-Za-z0-9_-]{43})/.exec(alice.text);
    assert.ok(link, 'a per-notice portal link');
    assert.match(alice.subject, /【Example ISP】セキュリティに関する大切なお知らせ/);

    const cases = await c.book.cases({ subscriberId: 'S1', ...actor });
    assert.deepEqual(cases.map((x) => x.status), ['notified', 'notified']);
    const carol = await c.book.cases({ subscriberId: 'S3', ...actor });
    assert.equal(carol[0]!.status, 'new', 'a notice that could not go keeps its case due');

    // The portal looks a notice up by the token in its link; the stored copy holds no working link.
    const found = await c.notices.byToken(link[1]!, { actor: 'portal' });
    assert.ok(found);
    assert.equal(found.notice.subscriberId, 'S1');
    assert.deepEqual(found.cases.map((x) => x.class).sort(), ['cc-infection', 'open-resolver']);
    assert.ok(!found.notice.body.includes(link[1]!));
    assert.equal(await c.notices.byToken('A'.repeat(43), { actor: 'portal' }), undefined);

    const notices = (await audit.list({ limit: 1000 })).filter((e) => e.action === 'notice');
    assert.deepEqual(notices.map((e) => `${e.purpose}:${e.detail.status}`).sort(), ['credential-abuse:failed', 'infection-notice:sent', 'router-survey-notice:sent', 'router-survey-notice:sent']);
    assert.ok(notices.every((e) => typeof e.detail.notice === 'string' && e.subject.startsWith('case/')));
    const portalReads = (await audit.list({ limit: 1000 })).filter((e) => e.actor === 'portal');
    assert.equal(portalReads.length, 2, 'one read entry per purpose of the notice');

    // New evidence for alice an hour later: a new class opens, but the cool-down holds it.
    clock.advance(H);
    await c.book.ingest([obs('exposed-admin', '192.0.2.1', T0 + 3 * H, { id: 'o20', port: 8080 })], actor);
    clock.advance(20 * 60_000);
    const held = await c.sender.runOnce(actor);
    assert.equal(held.sent.length, 0);
    assert.deepEqual(held.held.find((h) => h.subscriberId === 'S1')!.reason, 'cooldown');
    clock.advance(24 * H);
    mailer.sent = [];
    const later = await c.sender.runOnce(actor);
    assert.deepEqual(later.sent.map((s) => s.subscriberId), ['S1']);
    assert.match(mailer.sent[0]!.text, /192\.0\.2\.1（ポート 8080）/);
    assert.match(mailer.sent[0]!.text, /管理用パスワード/);
    assert.doesNotMatch(mailer.sent[0]!.text, /試み|tried|attempt/i, 'never say that anyone tried a password');
  });

  it('acknowledge and resolve; re-detection after resolution reopens with escalation, stated in the next notice', async () => {
    const [caseOf] = await c.book.cases({ subscriberId: 'S2', class: 'open-resolver', ...actor });
    await c.book.acknowledge(caseOf!.id, { ...actor, via: 'cli' });
    const resolved = await c.book.resolve(caseOf!.id, { ...actor, via: 'portal', note: 'router replaced' });
    assert.equal(resolved.status, 'resolved');
    await assert.rejects(c.book.acknowledge(caseOf!.id, { ...actor, via: 'cli' }), (e: unknown) => e instanceof SakimoriError && e.code === 'CASE_TRANSITION');
    await assert.rejects(c.book.resolve('case_nope', { ...actor, via: 'cli' }), /there is no case case_nope/);

    clock.advance(H);
    const r = await c.book.ingest([obs('open-resolver', '192.0.2.1', clock.now(), { id: 'o30' })], actor);
    assert.equal(r.reopened, 1);
    const shown = await c.book.caseById(caseOf!.id, actor);
    assert.deepEqual([shown!.case.status, shown!.case.escalation, shown!.case.id], ['new', 1, caseOf!.id]);
    assert.deepEqual(shown!.events.map((e) => e.action), ['opened', 'notified', 'acknowledged', 'resolved', 'reopened']);
    assert.equal(shown!.findings.length, 2);

    clock.advance(24 * H);
    mailer.sent = [];
    const sent = await c.sender.runOnce(actor);
    assert.ok(sent.sent.some((s) => s.subscriberId === 'S2'));
    const mail = mailer.sent.find((m) => m.to === 'bob@example.jp')!;
    assert.match(mail.subject, /再発 \/ Recurring/);
    assert.match(mail.text, /再発 1 回目/);
    assert.match(mail.text, /recurrence 1/);
  });

  it('retries a failed send after the retry interval, not before', async () => {
    mailer.fail = true;
    await c.book.ingest([obs('sinkhole-hit', '192.0.2.1', clock.now() + 1, { id: 'o40' })], actor);
    await c.book.ingest([obs('sinkhole-hit', '192.0.2.2', T0 - 6 * H, { id: 'o41' })], actor); // bob, earlier session
    clock.advance(24 * H);
    const failed = await c.sender.runOnce(actor);
    assert.ok(failed.failed.some((f) => f.subscriberId === 'S2' && /421/.test(f.error)));
    mailer.fail = false;
    clock.advance(30 * 60_000);
    assert.ok(!(await c.sender.runOnce(actor)).sent.some((s) => s.subscriberId === 'S2'));
    clock.advance(31 * 60_000);
    assert.ok((await c.sender.runOnce(actor)).sent.some((s) => s.subscriberId === 'S2'));
  });

  it('retention: findings and closed cases purge on their purpose\'s schedule; open cases keep their evidence', async () => {
    const retention = Object.fromEntries(PURPOSE_NAMES.map((p) => [p, parseDuration(DEFAULT_RETENTION[p])!])) as Record<Purpose, number>;
    const purger = new RetentionPurger(store, audit, retention, { clock });
    for (const rule of casesRetentionRules) purger.register(rule);
    const count = async (sql: string) => Number((await store.get<{ n: number }>(sql))!.n);
    const findingsBefore = await count('SELECT COUNT(*) AS n FROM case_findings');
    const [bobCase] = await c.book.cases({ subscriberId: 'S2', class: 'open-resolver', ...actor });
    await c.book.resolve(bobCase!.id, { ...actor, via: 'cli' });
    clock.advance(91 * 24 * H); // past the 90-day default for the notice purposes
    await purger.runOnce();
    // Unattributed findings and those of the resolved case are gone; those of open cases stay.
    const left = await store.all<{ id: string; case_id: string | null }>('SELECT id, case_id FROM case_findings ORDER BY id');
    assert.ok(left.length > 0 && left.length < findingsBefore);
    assert.ok(left.every((f) => f.case_id !== null));
    assert.equal(await count(`SELECT COUNT(*) AS n FROM cases WHERE id = '${bobCase!.id}'`), 0);
    assert.equal(await count(`SELECT COUNT(*) AS n FROM case_events WHERE case_id = '${bobCase!.id}'`), 0);
    assert.equal(await count(`SELECT COUNT(*) AS n FROM notice_cases WHERE case_id = '${bobCase!.id}'`), 0);
    assert.equal(await count("SELECT COUNT(*) AS n FROM cases WHERE status <> 'resolved'"), 5);
    const purges = (await audit.list({ limit: 50 })).filter((e) => e.action === 'purge');
    assert.ok(purges.some((e) => e.subject === 'case_findings'));
    assert.ok(purges.some((e) => e.subject === 'cases'));
    assert.deepEqual((await verifyAuditChain(store)).ok, true);
  });
});
}

casesSuite('SQLite', () => openStore('sqlite::memory:'));

// No skip when PostgreSQL is missing: startPostgres throws and every test fails, saying why.
let pg: PostgresPeer | undefined;
const started = startPostgres().then((p) => (pg = p));
before(() => started);
after(() => pg?.stop());
casesSuite('PostgreSQL', async () => openStore(await (await started).createDatabase()));
