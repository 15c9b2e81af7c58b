import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { basicAuth, startWebFixture, SUBSCRIBER, type WebFixture } from '../test-support.ts';
import { nowWithOffset } from './console.ts';

describe('operator console (HTTP)', () => {
  let f: WebFixture;
  let auth: Record<string, string>;
  before(async () => {
    f = await startWebFixture({ loginFailureLimit: { limit: 3, windowMs: 60_000 } });
    auth = { authorization: basicAuth(f.operator.name, f.operator.token) };
  });
  after(() => f?.close());

  const get = (path: string, headers: Record<string, string> = auth) => fetch(`${f.url}${path}`, { headers, redirect: 'manual' });
  const post = (path: string, fields: Record<string, string>, headers: Record<string, string> = auth) =>
    fetch(`${f.url}${path}`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(fields).toString() });
  const csrfOf = async (path: string) => /name="csrf" value="([^"]+)"/.exec(await (await get(path)).text())![1]!;

  it('is never open: every page and form answers 401 with a Basic challenge and a page saying how to log in', async () => {
    for (const [method, path] of [['GET', '/console'], ['GET', '/console/cases'], ['GET', `/console/cases/${f.caseId}`], ['GET', '/console/attribution'], ['GET', '/console/consent'], ['POST', `/console/cases/${f.caseId}/transition`], ['POST', '/console/attribution']] as const) {
      const r = method === 'GET' ? await get(path, {}) : await post(path, { to: 'resolved' }, {});
      assert.equal(r.status, 401, `${method} ${path}`);
      assert.match(r.headers.get('www-authenticate')!, /^Basic realm="Sakimori console"/);
      assert.match(await r.text(), /ログインが必要です[\s\S]*sakimori start/);
    }
    assert.equal((await f.cases.book.caseById(f.caseId, { actor: 'test' }))!.case.status, 'notified');
  });

  it('lets an operator in with HTTP Basic or a Bearer token; /console goes to the case queue', async () => {
    const r = await get('/console');
    assert.equal(r.status, 303);
    assert.equal(r.headers.get('location'), '/console/cases');
    const page = await (await get('/console/cases', { authorization: `Bearer ${f.operator.token}` })).text();
    assert.match(page, new RegExp(`data-case="${f.caseId}"`));
    assert.match(page, /ケース一覧/);
    assert.match(page, /Case queue/);
  });

  it('filters the queue by status and class, and audits the read under the operator\'s name', async () => {
    assert.match(await (await get('/console/cases?status=notified&class=cc-infection')).text(), new RegExp(f.caseId));
    assert.doesNotMatch(await (await get('/console/cases?status=resolved')).text(), new RegExp(f.caseId));
    assert.doesNotMatch(await (await get('/console/cases?class=open-resolver')).text(), new RegExp(f.caseId));
    assert.match(await (await get(`/console/cases?subscriber=${SUBSCRIBER.id}`)).text(), new RegExp(f.caseId));
    const audit = await f.audit.list({ limit: 20 });
    assert.ok(audit.some((e) => e.actor === 'operator:operator' && e.action === 'read' && e.subject === 'cases'));
  });

  it('shows a case with its evidence, its history and the notices sent; the subscriber\'s details are an audited read', async () => {
    const page = await (await get(`/console/cases/${f.caseId}`)).text();
    assert.match(page, /mirai/);
    assert.match(page, /suspected-infection/);
    assert.match(page, new RegExp(SUBSCRIBER.email.replace('.', '\\.')));
    assert.match(page, /id="notices"[\s\S]*sent/);
    assert.match(page, /通知 <span class="en">notified<\/span>|通知<span class="en">notified<\/span>/);
    const audit = await f.audit.list({ limit: 20 });
    assert.ok(audit.some((e) => e.actor === 'operator:operator' && e.subject === `subscriber/${SUBSCRIBER.id}` && e.purpose === 'infection-notice'));
    assert.equal((await get('/console/cases/case_nope')).status, 404);
  });

  it('acknowledges and resolves with the form token only; a change the lifecycle forbids is refused with a message', async () => {
    const path = `/console/cases/${f.caseId}`;
    let r = await post(`${path}/transition`, { to: 'acknowledged' });
    assert.equal(r.headers.get('location'), `${path}?done=form-expired`);
    r = await post(`${path}/transition`, { to: 'acknowledged', csrf: await csrfOf(path) }, { ...auth, 'sec-fetch-site': 'cross-site' });
    assert.equal(r.headers.get('location'), `${path}?done=form-expired`);
    assert.equal((await f.cases.book.caseById(f.caseId, { actor: 'test' }))!.case.status, 'notified');

    const csrf = await csrfOf(path);
    r = await post(`${path}/transition`, { to: 'resolved', csrf, note: 'router replaced' });
    assert.equal(r.headers.get('location'), `${path}?done=resolved`);
    const c = (await f.cases.book.caseById(f.caseId, { actor: 'test' }))!;
    assert.equal(c.case.status, 'resolved');
    assert.deepEqual([c.events.at(-1)!.actor, c.events.at(-1)!.via, c.events.at(-1)!.note], ['operator:operator', 'console', 'router replaced']);
    r = await post(`${path}/transition`, { to: 'acknowledged', csrf });
    assert.equal(r.headers.get('location'), `${path}?done=refused`);
    assert.match(await (await get(`${path}?done=refused`)).text(), /その操作はできません/);
  });

  it('answers the attribution look-up form; the look-up is audited by attribution with the stated purpose and the operator', async () => {
    const csrf = await csrfOf('/console/attribution');
    let r = await post('/console/attribution', { csrf, ip: SUBSCRIBER.ip, at: '2025-01-06T11:30:00+09:00', port: '', purpose: 'infection-notice' });
    assert.equal(r.status, 200);
    let page = await r.text();
    assert.match(page, /data-result="found"/);
    assert.match(page, new RegExp(`id="lookup-login">${SUBSCRIBER.login.replace('.', '\\.')}`));
    assert.match(page, new RegExp(`subscriber=${SUBSCRIBER.id}`));
    const audit = await f.audit.list({ limit: 10 });
    assert.ok(audit.some((e) => e.actor === 'operator:operator' && e.subject === SUBSCRIBER.ip && e.purpose === 'infection-notice'));

    r = await post('/console/attribution', { csrf, ip: '203.0.113.99', at: '2025-01-06T11:30:00+09:00', purpose: 'subscriber-attribution' });
    assert.match(await r.text(), /data-result="unknown"/);
    r = await post('/console/attribution', { csrf, ip: SUBSCRIBER.ip, at: '2025-01-06 11:30', purpose: 'subscriber-attribution' });
    assert.equal(r.status, 400);
    page = await r.text();
    assert.match(page, /has no UTC offset/);
    assert.match(page, /value="2025-01-06 11:30"/, 'the form keeps what was typed');
    r = await post('/console/attribution', { csrf, ip: SUBSCRIBER.ip, at: '2025-01-06T11:30:00Z', purpose: 'hub-sharing' });
    assert.equal(r.status, 400, 'a purpose that may not attribute is refused');
    r = await post('/console/attribution', { csrf, ip: 'nonsense', at: '2025-01-06T11:30:00Z', purpose: 'subscriber-attribution' });
    assert.match(await r.text(), /is not an IPv4 or IPv6 address/);
  });

  it('searches the consent history and lists who is opted out now; the read is audited', async () => {
    await f.consent.optOut({ scope: 'subscriber', subject: SUBSCRIBER.id, actor: `subscriber:${SUBSCRIBER.id}`, via: 'portal' });
    await f.consent.optOut({ scope: 'client', subject: '198.51.100.0/24', actor: 'cli:alice', via: 'cli', reason: 'ticket 4711' });
    let page = await (await get(`/console/consent?scope=subscriber&subject=${SUBSCRIBER.id}`)).text();
    assert.match(page, /id="consent-history"[\s\S]*opt-out[\s\S]*portal/);
    assert.match(page, /id="opted-out"[\s\S]*client:198\.51\.100\.0\/24[\s\S]*subscriber:S0001/);
    page = await (await get('/console/consent?scope=client&subject=198.51.100.0%2F24')).text();
    assert.match(page, /client:198\.51\.100\.0\/24<\/h2>[\s\S]*ticket 4711/);
    page = await (await get('/console/consent?scope=client&subject=198.51.100.7%2F24')).text();
    assert.match(page, /role="alert">&quot;198\.51\.100\.7\/24&quot; has host bits set[^<]*did you mean 198\.51\.100\.0\/24/);
    const audit = await f.audit.list({ limit: 10 });
    assert.ok(audit.some((e) => e.actor === 'operator:operator' && e.purpose === 'consent' && e.subject === `consent/subscriber:${SUBSCRIBER.id}`));
  });

  it('the API description lists the portal and console routes', async () => {
    const doc = (await (await fetch(`${f.url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    for (const p of ['/n/{token}', '/n/{token}/fixed', '/n/{token}/dns-protection', '/console/cases', '/console/cases/{id}', '/console/cases/{id}/transition', '/console/attribution', '/console/consent']) {
      assert.ok(doc.paths[p], p);
    }
  });

  it('after too many failed logins from one address, answers 429 until the window passes', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await get('/console/cases', { authorization: basicAuth('operator', 'wrong-token-wrong-token') })).status, 401);
    const r = await get('/console/cases');
    assert.equal(r.status, 429, 'even with the right token, for the rest of the window');
    assert.equal(r.headers.get('retry-after'), '60');
    f.clock.advance(60_000);
    assert.equal((await get('/console/cases')).status, 200);
  });
});

describe('nowWithOffset', () => {
  it('writes JST with its offset, which parseTime reads back', () => {
    assert.equal(nowWithOffset(Date.parse('2025-01-06T15:00:00Z')), '2025-01-07T00:00:00+09:00');
  });
});
