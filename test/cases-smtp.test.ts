/**
 * Issue 4 "done when": a Shadowserver sample import produces cases for the
 * right subscribers and Japanese e-mails arrive at a real SMTP server
 * (aiosmtpd, Debian's python3-aiosmtpd); re-detection reopens a case.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Store } from '../src/store/index.ts';
import { AuditLog, privacyMigrations, verifyAuditChain } from '../src/privacy/index.ts';
import { makeObservation, ManualClock } from '../src/core/index.ts';
import { createCases, casesMigrations, importReport, InMemoryLocator, openReport, SmtpMailer, type Cases } from '../src/cases/index.ts';
import { startSmtp, type SmtpPeer } from './peers/smtp.ts';

const SAMPLES = join(import.meta.dirname, '../../shared/data/shadowserver-samples/intelmq-testdata');
const H = 3_600_000;
const SCAN = Date.parse('2018-04-14T00:00:00Z');

describe('cases end to end with a real SMTP server', () => {
  let smtp: SmtpPeer;
  let store: Store;
  let audit: AuditLog;
  let clock: ManualClock;
  let cases: Cases;
  let dir: string;

  before(async () => {
    smtp = await startSmtp();
    dir = mkdtempSync(join(tmpdir(), 'sakimori-cases-e2e-'));
    store = await openStore(`sqlite:${join(dir, 'sakimori.db')}`);
    await store.migrate([...privacyMigrations, ...casesMigrations]);
    clock = new ManualClock(Date.parse('2018-04-15T00:00:00Z'));
    audit = new AuditLog(store, { clock, flushIntervalMs: 0 });
    const locator = new InMemoryLocator([
      { ip: '198.51.100.179', login: 'hanako@isp', start: SCAN - 24 * H }, // open-ended: still hers later
      { ip: '198.51.100.8', login: 'taro@isp', start: SCAN - H, end: SCAN + H },
      { ip: '198.51.100.7', login: 'jiro@isp', start: SCAN - H, end: SCAN + H },
      { ip: '198.51.100.10', login: 'jiro@isp', start: SCAN + 2 * H }, // later: a gap at the scan time
      { ip: '103.196.1.2', login: 'hanako@isp', start: Date.parse('2021-03-03T00:00:00Z') },
    ]);
    const config = {
      notify: {
        enabled: true,
        smtp: { host: smtp.host, port: smtp.port, from: 'Example ISP セキュリティ窓口 <security@isp.example>', secure: false, user: '', passwordFile: '' },
        portalUrl: 'https://portal.isp.example',
        organization: 'Example ISP',
        cooldown: 24 * H,
        batchWindow: 10 * 60_000,
        interval: 60_000,
        retryInterval: H,
      },
      cases: { addressSpace: ['198.51.100.0/24', '103.196.0.0/16'] },
    };
    cases = createCases({ store, audit, locator, config, clock, mailer: new SmtpMailer(config.notify.smtp) });
    const subs = join(dir, 'subscribers.csv');
    writeFileSync(subs, 'id,login,name,email,language,prefecture\nK001,hanako@isp,山田 花子,hanako@example.jp,ja,北海道\nK002,taro@isp,佐藤 太郎,taro@example.jp,ja,鹿児島県\nK003,jiro@isp,Jiro Suzuki,jiro@example.com,en,東京都\n');
    assert.deepEqual(await cases.subscribers.importFile(subs, { actor: 'test' }), { imported: 3, badLines: [] });
  });

  after(async () => {
    cases?.mailer.close?.();
    await audit?.close();
    await store?.close();
    await smtp?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a Shadowserver scan_dns and a sinkhole report open cases for the right subscribers, and Japanese notices arrive', async () => {
    const dns = await importReport(openReport('shadowserver', join(SAMPLES, 'scan_dns.csv')), cases.book, { actor: 'test' });
    assert.match(dns.description, /scan_dns/);
    assert.equal(dns.observations, 100);
    assert.equal(dns.result.duplicates, 2); // the sample repeats two rows
    assert.equal(dns.result.attributed, 5); // hanako (twice), taro, jiro (twice): three cases
    assert.equal(dns.result.opened, 3);
    assert.equal(dns.result.unattributed.gap, 1); // 198.51.100.10 had no session at scan time
    assert.equal(dns.result.unattributed.unknown, 98 - 5 - 1);
    const sink = await importReport(openReport('shadowserver', join(SAMPLES, 'event4_sinkhole_http.csv')), cases.book, { actor: 'test' });
    assert.equal(sink.result.attributed, 1);
    assert.equal(sink.result.unattributed['not-our-address-space'], 4);

    const open = await cases.book.cases({ actor: 'test' });
    assert.deepEqual(open.map((c) => `${c.subscriberId}:${c.class}:${c.findings}`).sort(), ['K001:cc-infection:1', 'K001:open-resolver:2', 'K002:open-resolver:1', 'K003:open-resolver:2']);

    clock.advance(10 * 60_000);
    const sent = await cases.sender.runOnce({ actor: 'test' });
    assert.deepEqual(sent.failed, []);
    assert.deepEqual(sent.sent.map((s) => s.subscriberId).sort(), ['K001', 'K002', 'K003']);

    const mails = await smtp.waitForMessages(3);
    const to = (addr: string) => mails.find((m) => m.headers.to?.includes(addr))!;
    const hanako = to('hanako@example.jp');
    assert.ok(hanako, 'hanako got a mail');
    assert.match(hanako.subject, /【Example ISP】セキュリティに関する大切なお知らせ/);
    assert.match(hanako.headers.from ?? '', /security@isp\.example/);
    assert.match(hanako.headers['content-type'] ?? '', /text\/plain; charset=utf-8/i);
    assert.match(hanako.text, /^山田 花子 様/);
    // Both of hanako's classes in one mail; Japanese first, English second.
    assert.ok(hanako.text.indexOf('マルウェア感染の疑い') < hanako.text.indexOf('オープンリゾルバー'));
    assert.ok(hanako.text.indexOf('オープンリゾルバー') < hanako.text.indexOf('A device that looks infected'));
    assert.match(hanako.text, /198\.51\.100\.179/);
    assert.match(hanako.text, /2018年4月14日 09:16（日本時間）/); // the newest finding (00:16:50 UTC)
    assert.match(hanako.text, /マルウェアの種類: andromeda/);
    assert.match(hanako.text, /C&C サーバーへの通信の DNS による遮断について/);
    assert.match(hanako.text, /https:\/\/portal\.isp\.example\/n\/[A-Za-z0-9_-]{43}/);
    assert.match(to('taro@example.jp').text, /佐藤 太郎 様[\s\S]*オープンリゾルバー[\s\S]*open resolver/);
    assert.match(to('jiro@example.com').text, /Jiro Suzuki 様/, 'Japanese first even for an English-speaking subscriber');
    assert.match(hanako.headers['x-sakimori-notice'] ?? '', /^ntc_/);

    for (const c of await cases.book.cases({ actor: 'test' })) assert.equal(c.status, 'notified');
    const audited = (await audit.list({ limit: 500 })).filter((e) => e.action === 'notice');
    assert.equal(audited.length, 4, 'one audit entry per case notified');
    assert.ok((await verifyAuditChain(store)).ok);
  });

  it('re-detection after resolution reopens the case, escalates it, and the next notice says so', async () => {
    const [c] = await cases.book.cases({ subscriberId: 'K001', class: 'open-resolver', actor: 'test' });
    await cases.book.resolve(c!.id, { actor: 'portal', via: 'portal', note: 'I fixed it' });
    clock.advance(24 * H);
    const later = join(dir, '2018-04-16-scan_dns-as64500.csv');
    writeFileSync(later, '"timestamp","ip","protocol","port","hostname","tag","dns_version","asn","geo","region","city","min_amplification","p0f_genre","p0f_detail","naics","sic","sector"\n"2018-04-16 00:10:00","198.51.100.179","udp",53,,"openresolver","dnsmasq-2.66",64500,"JP",,,"4.6",,,0,0,\n');
    const r = await importReport(openReport('shadowserver', later), cases.book, { actor: 'test' });
    assert.equal(r.result.reopened, 1);
    const shown = await cases.book.caseById(c!.id, { actor: 'test' });
    assert.deepEqual([shown!.case.status, shown!.case.escalation], ['new', 1]);

    clock.advance(10 * 60_000);
    const before = smtp.messages().length;
    const sent = await cases.sender.runOnce({ actor: 'test' });
    assert.deepEqual(sent.sent.map((s) => s.subscriberId), ['K001']);
    const mails = await smtp.waitForMessages(before + 1);
    const again = mails.find((m) => m.headers['x-sakimori-notice'] === sent.sent[0]!.noticeId)!;
    assert.ok(again, 'the new notice arrived');
    assert.match(again.headers.to ?? '', /hanako@example\.jp/);
    assert.match(again.subject, /再発 \/ Recurring/);
    assert.match(again.text, /再発 1 回目/);
    assert.match(again.text, /2018年4月16日 09:10（日本時間）/);
  });

  it('an SMTP server that refuses the connection leaves the case due and the failure recorded', async () => {
    const down = createCases({
      store,
      audit,
      locator: new InMemoryLocator([{ ip: '198.51.100.8', login: 'taro@isp', start: 0 }]),
      clock,
      config: {
        notify: { enabled: true, smtp: { host: '127.0.0.1', port: 1, from: 'x@isp.example', secure: false, user: '', passwordFile: '' }, portalUrl: 'https://p.example', organization: 'X', cooldown: 24 * H, batchWindow: 0, interval: 60_000, retryInterval: H },
        cases: { addressSpace: [] },
      },
    });
    const [taro] = await down.book.cases({ subscriberId: 'K002', actor: 'test' });
    await down.book.resolve(taro!.id, { actor: 'test', via: 'cli' });
    clock.advance(25 * H);
    const seenAgain = makeObservation({ kind: 'open-resolver', source: { name: 't', type: 'survey' }, observedAt: new Date(clock.now()).toISOString(), network: { ip: '198.51.100.8' }, purpose: 'router-survey-notice' });
    await down.book.ingest([seenAgain], { actor: 'test' });
    const r = await down.sender.runOnce({ actor: 'test' });
    assert.equal(r.failed.length, 1);
    assert.match(r.failed[0]!.error, /SMTP 127\.0\.0\.1:1 did not take the notice/);
    const [still] = await down.book.cases({ subscriberId: 'K002', actor: 'test' });
    assert.equal(still!.status, 'new');
    down.mailer.close?.();
  });
});
