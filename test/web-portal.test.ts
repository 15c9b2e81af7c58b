/**
 * The subscriber portal in real headless Chromium (R1, R5, R16): a real case
 * and notice (CaseBook + NoticeSender), the link from the mail, "I fixed it",
 * and the DNS-protection switch — with JavaScript switched off, since the
 * portal must work without it.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { formatPrefix } from '../src/core/index.ts';
import { launchChromium, type ChromiumPeer } from './peers/chromium.ts';
import { startWebFixture, SUBSCRIBER, type WebFixture } from '../src/web/test-support.ts';

describe('subscriber portal in Chromium', () => {
  let f: WebFixture;
  let browser: ChromiumPeer;
  const requested: string[] = [];

  before(async () => {
    f = await startWebFixture();
    browser = await launchChromium({ javaScriptEnabled: false });
    browser.context.on('request', (r) => requested.push(r.url()));
  });
  after(async () => {
    await browser?.close();
    await f?.close();
  });

  it('opens the notice link from the mail: Japanese first, then English; nothing loaded from elsewhere; the token kept out of referrers', async () => {
    const page = await browser.context.newPage();
    const res = await page.goto(`${f.url}/n/${f.noticeToken}`);
    assert.equal(res?.status(), 200);
    const h = res!.headers();
    assert.equal(h['referrer-policy'], 'no-referrer');
    assert.match(h['content-security-policy']!, /default-src 'none'/);
    assert.equal(await page.getAttribute('html', 'lang'), 'ja');
    assert.match(await page.locator('h1').innerText(), /^お客様の回線で見つかった問題/);
    const text = await page.locator('main').innerText();
    const ja = text.indexOf('マルウェア感染の疑い');
    const en = text.indexOf('A device that looks infected with malware');
    assert.ok(ja >= 0 && en > ja, 'the Japanese label comes before the English one');
    const jaNotice = text.indexOf(`${SUBSCRIBER.name} 様`);
    const enNotice = text.indexOf(`Dear ${SUBSCRIBER.name}`);
    assert.ok(jaNotice > 0 && enNotice > jaNotice, 'the Japanese notice comes before the English one');
    assert.match(text, /対処方法/);
    assert.match(text, /mirai/);
    assert.equal(await page.locator('script').count(), 0);
    assert.ok(requested.every((u) => u.startsWith(f.url)), `only this server was asked: ${requested.join(', ')}`);
    // A look at it as a subscriber sees it (SAKIMORI_SCREENSHOTS=DIR keeps the images for a person to check).
    const dir = process.env.SAKIMORI_SCREENSHOTS ?? join(tmpdir(), 'sakimori-screens');
    mkdirSync(dir, { recursive: true });
    await page.screenshot({ path: join(dir, 'portal-desktop.png') });
    await page.setViewportSize({ width: 400, height: 860 });
    const shot = await page.screenshot({ path: join(dir, 'portal-phone.png'), fullPage: true });
    assert.ok(shot.length > 10_000);
    await page.close();
  });

  it('"I fixed it" moves the case to acknowledged, as the subscriber, via the portal, audited', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${f.url}/n/${f.noticeToken}`);
    assert.equal((await f.cases.book.caseById(f.caseId, { actor: 'test' }))!.case.status, 'notified');
    await page.locator('#fixed-button').click();
    await page.waitForURL(/\?done=fixed/);
    assert.match(await page.locator('.flash').innerText(), /対処済みとして受け付けました/);
    assert.equal(await page.locator('#fixed-button').count(), 0, 'the button is gone once the case is acknowledged');
    const c = (await f.cases.book.caseById(f.caseId, { actor: 'test' }))!;
    assert.equal(c.case.status, 'acknowledged');
    const ev = c.events.at(-1)!;
    assert.deepEqual([ev.action, ev.actor, ev.via], ['acknowledged', `subscriber:${SUBSCRIBER.id}`, 'portal']);
    const audit = await f.audit.list({ limit: 50 });
    assert.ok(audit.some((e) => e.action === 'write' && e.subject === `case/${f.caseId}` && e.actor === `subscriber:${SUBSCRIBER.id}`));
    await page.close();
  });

  it('the DNS-protection switch opts out at once (subscriber and the address held now), shows the history, and opts back in', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${f.url}/n/${f.noticeToken}`);
    assert.match(await page.locator('#dns-status').innerText(), /有効/);
    const section = await page.locator('section[aria-labelledby="dns"]').innerText();
    assert.match(section, /止まること/);
    assert.match(section, /変わらないこと/);
    assert.match(section, /What continues/);
    await page.locator('#dns-button').click();
    await page.waitForURL(/\?done=dns-off/);
    assert.match(await page.locator('#dns-status').innerText(), /停止中/);
    assert.equal(await f.consent.choiceOf('subscriber', SUBSCRIBER.id), 'opt-out');
    const sub = await f.consent.history({ scope: 'subscriber', subject: SUBSCRIBER.id });
    assert.deepEqual(sub.map((e) => [e.choice, e.via, e.actor]), [['opt-out', 'portal', `subscriber:${SUBSCRIBER.id}`]]);
    assert.deepEqual((await f.consent.clientOptOuts()).map(formatPrefix), [`${SUBSCRIBER.ip}/32`]);
    assert.equal(await f.consent.choiceOf('client', `${SUBSCRIBER.ip}/32`), 'opt-out');
    assert.equal(await page.locator('#dns-history tbody tr').count(), 1);

    f.clock.advance(60_000);
    await page.locator('#dns-button').click();
    await page.waitForURL(/\?done=dns-on/);
    assert.match(await page.locator('#dns-status').innerText(), /有効/);
    assert.equal(await f.consent.choiceOf('subscriber', SUBSCRIBER.id), 'opt-in');
    assert.equal(await f.consent.choiceOf('client', `${SUBSCRIBER.ip}/32`), 'opt-in');
    assert.deepEqual(await f.consent.clientOptOuts(), []);
    const rows = await page.locator('#dns-history tbody tr').allInnerTexts();
    assert.equal(rows.length, 2);
    assert.match(rows[0]!, /有効（オプトイン）/, 'newest first');
    assert.match(rows[1]!, /停止（オプトアウト）/);
    await page.close();
  });

  it('an unknown link gets a clear page, not a stack trace', async () => {
    const page = await browser.context.newPage();
    const res = await page.goto(`${f.url}/n/${'x'.repeat(43)}`);
    assert.equal(res?.status(), 404);
    assert.match(await page.locator('h1').innerText(), /このリンクは無効か、有効期限が切れています/);
    assert.doesNotMatch(await page.content(), /at .*\.ts:\d+|Error:/);
    await page.close();
  });
});
