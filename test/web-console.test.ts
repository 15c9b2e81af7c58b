/**
 * The operator console in real headless Chromium: refused without a login,
 * then (HTTP Basic from the browser) the case queue, a case with its
 * evidence, a transition, and the attribution look-up form — all without
 * JavaScript.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { launchChromium, type ChromiumPeer } from './peers/chromium.ts';
import { startWebFixture, SUBSCRIBER, type WebFixture } from '../src/web/test-support.ts';

describe('operator console in Chromium', () => {
  let f: WebFixture;
  let anonymous: ChromiumPeer;
  let operator: ChromiumPeer;

  before(async () => {
    f = await startWebFixture();
    anonymous = await launchChromium({ javaScriptEnabled: false });
    operator = await launchChromium({ javaScriptEnabled: false, httpCredentials: { username: f.operator.name, password: f.operator.token } });
  });
  after(async () => {
    await anonymous?.close();
    await operator?.close();
    await f?.close();
  });

  it('requires a login: 401 and a page saying how to get in', async () => {
    const page = await anonymous.context.newPage();
    const url = `${f.url}/console/cases`;
    const answered = page.waitForResponse(url);
    // Chromium asks for a user name and password on the Basic challenge; headless, nobody answers and the navigation fails.
    const nav = await page.goto(url).then(() => undefined, (err: Error) => err);
    assert.match(String(nav?.message), /ERR_INVALID_AUTH_CREDENTIALS/);
    const res = await answered;
    assert.equal(res.status(), 401);
    assert.match(res.headers()['www-authenticate']!, /^Basic /);
    // The page behind the challenge (what a browser shows when the login is cancelled), fetched without the browser's prompt.
    const body = await (await anonymous.context.request.get(url)).text();
    assert.match(body, /ログインが必要です/);
    assert.doesNotMatch(body, /id="cases"/);
    await page.close();
  });

  it('shows the case queue with the real case, filters it, and opens the case with its evidence and notice', async () => {
    const page = await operator.context.newPage();
    const res = await page.goto(`${f.url}/console/`);
    assert.equal(res?.status(), 200);
    assert.equal(new URL(page.url()).pathname, '/console/cases');
    assert.equal(await page.locator('#operator').innerText(), 'operator');
    const row = page.locator(`tr[data-case="${f.caseId}"]`);
    assert.equal(await row.count(), 1);
    assert.match(await row.innerText(), /マルウェア感染の疑い[\s\S]*通知済み/);
    await page.selectOption('#status', 'resolved');
    await page.locator('form.filters button').click();
    await page.waitForURL(/status=resolved/);
    assert.equal(await page.locator(`tr[data-case="${f.caseId}"]`).count(), 0);
    await page.selectOption('#status', 'notified');
    await page.locator('form.filters button').click();
    await page.waitForURL(/status=notified/);
    await page.locator(`tr[data-case="${f.caseId}"] a`).first().click();
    await page.waitForURL(new RegExp(`/console/cases/${f.caseId}$`));
    assert.match(await page.locator('#findings').innerText(), /mirai/);
    assert.match(await page.locator('#notices').innerText(), /sent/);
    assert.match(await page.locator('#case-facts').innerText(), new RegExp(SUBSCRIBER.login.replace('.', '\\.')));

    await page.fill('#note', 'called the subscriber');
    await page.locator('#ack-button').click();
    await page.waitForURL(/done=acknowledged/);
    assert.match(await page.locator('#case-status').innerText(), /対処連絡あり/);
    const c = (await f.cases.book.caseById(f.caseId, { actor: 'test' }))!;
    assert.deepEqual([c.case.status, c.events.at(-1)!.actor, c.events.at(-1)!.note], ['acknowledged', 'operator:operator', 'called the subscriber']);
    await page.close();
  });

  it('the attribution look-up form answers who held the address at that time', async () => {
    const page = await operator.context.newPage();
    await page.goto(`${f.url}/console/attribution`);
    await page.fill('#ip', SUBSCRIBER.ip);
    await page.fill('#at', '2025-01-06T11:30:00+09:00');
    await page.selectOption('#purpose', 'infection-notice');
    await page.locator('#lookup-button').click();
    await page.waitForSelector('#lookup-result');
    assert.equal(await page.getAttribute('#lookup-result', 'data-result'), 'found');
    assert.equal(await page.locator('#lookup-login').innerText(), SUBSCRIBER.login);
    assert.match(await page.locator('#lookup-sessions').innerText(), /bras-1/);
    assert.equal(new URL(page.url()).search, '', 'the address and time stay out of the URL');
    await page.close();
  });

  it('lists DNS detections from the store, filters them by kind, and audits the read', async () => {
    const page = await operator.context.newPage();
    await page.goto(`${f.url}/console/cases`);
    await page.getByRole('link', { name: /DNS detections/ }).click();
    assert.equal(new URL(page.url()).pathname, '/console/dns');
    const row = page.locator('#detections tr[data-kind="prsd"]');
    assert.match(await row.innerText(), /victim\.example[\s\S]*mitigated/);
    assert.match(await row.innerText(), /in force/);
    await page.selectOption('#kind', 'suspected-infection');
    await page.locator('button[type="submit"]').click();
    await page.waitForSelector('#no-detections');
    assert.equal(await page.locator('#detections').count(), 0);
    const audit = await f.audit.list({ limit: 20 });
    assert.ok(audit.some((e) => e.actor === 'operator:operator' && e.subject === 'dns_detections' && e.purpose === 'dns-abuse-mitigation'));
    await page.close();
  });
});
