import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { makeObservation } from '../../core/index.ts';
import { createRegistry } from '../../telemetry/index.ts';
import { HttpServer } from '../http-server.ts';
import { startWebFixture, SUBSCRIBER, T0, type WebFixture } from '../test-support.ts';
import { fixable, SubscriberPortal } from './portal.ts';

function csrfOf(page: string): string {
  const m = /name="csrf" value="([^"]+)"/.exec(page);
  assert.ok(m, 'the page has a form token');
  return m[1]!;
}

async function post(url: string, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(fields).toString() });
}

describe('subscriber portal (HTTP)', () => {
  let f: WebFixture;
  let link: string;
  before(async () => {
    f = await startWebFixture({ invalidLinkLimit: { limit: 3, windowMs: 60_000 } });
    link = `${f.url}/n/${f.noticeToken}`;
  });
  after(() => f?.close());

  it('every page carries the strict headers: CSP without scripts, no referrer, no store, no framing', async () => {
    for (const url of [link, `${f.url}/n/${'y'.repeat(30)}`]) {
      const r = await fetch(url);
      assert.match(r.headers.get('content-type')!, /^text\/html; charset=utf-8/);
      assert.equal(r.headers.get('referrer-policy'), 'no-referrer');
      assert.equal(r.headers.get('cache-control'), 'no-store');
      assert.equal(r.headers.get('x-frame-options'), 'DENY');
      const csp = r.headers.get('content-security-policy')!;
      assert.match(csp, /default-src 'none'/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.doesNotMatch(csp, /script-src|unsafe-inline/);
      const body = await r.text();
      assert.doesNotMatch(body, /<script|(?:src|href|action)="(?:https?:)?\/\//, 'nothing is loaded or linked from elsewhere');
    }
  });

  it('says no more than the notice: evidence that arrived later is not shown', async () => {
    const later = makeObservation({ kind: 'suspected-infection', source: { name: 'dns-detector@node1', type: 'detector' }, observedAt: new Date(T0 + 1000).toISOString(), network: { ip: SUBSCRIBER.ip }, evidence: { family: 'gafgyt-later' }, purpose: 'infection-notice' });
    const r = await f.cases.book.ingest([later], { actor: 'test' });
    assert.equal(r.attached, 1);
    const page = await (await fetch(link)).text();
    assert.match(page, /mirai/);
    assert.doesNotMatch(page, /gafgyt-later/);
    assert.doesNotMatch(page, new RegExp(SUBSCRIBER.email.replace('.', '\\.')), 'the e-mail address is not on the page');
  });

  it('refuses forms without the page\'s token, with another notice\'s token, or from another site — and changes nothing', async () => {
    const page = await (await fetch(link)).text();
    const csrf = csrfOf(page);
    const attempts: [Record<string, string>, Record<string, string>][] = [
      [{}, {}],
      [{ csrf: 'forged' }, {}],
      [{ csrf }, { 'sec-fetch-site': 'cross-site' }],
    ];
    for (const [fields, headers] of attempts) {
      const r = await post(`${link}/fixed`, fields, headers);
      assert.equal(r.status, 303);
      assert.equal(r.headers.get('location'), `/n/${f.noticeToken}?done=form-expired`);
      const r2 = await post(`${link}/dns-protection`, { ...fields, choice: 'opt-out' }, headers);
      assert.equal(r2.headers.get('location'), `/n/${f.noticeToken}?done=form-expired`);
    }
    const bad = await post(`${link}/dns-protection`, { csrf, choice: 'maybe' });
    assert.equal(bad.headers.get('location'), `/n/${f.noticeToken}?done=form-expired`);
    assert.equal((await f.cases.book.caseById(f.caseId, { actor: 'test' }))!.case.status, 'notified');
    assert.equal(await f.consent.choiceOf('subscriber', SUBSCRIBER.id), undefined);
    const expired = await (await fetch(`${link}?done=form-expired`)).text();
    assert.match(expired, /画面の有効期限が切れていた/);
  });

  it('a link with text glued to its end (a mail client) leads to the notice', async () => {
    const r = await fetch(`${link}${encodeURIComponent('）ご確認ください')}`, { redirect: 'manual' });
    assert.equal(r.status, 303);
    assert.equal(r.headers.get('location'), `/n/${f.noticeToken}`);
  });

  it('"I fixed it" with the page\'s token acknowledges, once; a second press says there is nothing left', async () => {
    const csrf = csrfOf(await (await fetch(link)).text());
    const r = await post(`${link}/fixed`, { csrf }, { 'sec-fetch-site': 'same-origin' });
    assert.equal(r.headers.get('location'), `/n/${f.noticeToken}?done=fixed#fixed`);
    assert.equal((await f.cases.book.caseById(f.caseId, { actor: 'test' }))!.case.status, 'acknowledged');
    const again = await post(`${link}/fixed`, { csrf });
    assert.equal(again.headers.get('location'), `/n/${f.noticeToken}?done=nothing-to-fix#fixed`);
  });

  it('invalid links: one clear page (404) for malformed, unknown and over-long tokens; after the limit, 429 with Retry-After, even for a good link, until the window passes', async () => {
    f.clock.advance(60_000); // a fresh window: the first test opened an unknown link too
    for (const bad of ['short', 'z'.repeat(43), 'q'.repeat(90)]) {
      const r = await fetch(`${f.url}/n/${bad}`);
      assert.equal(r.status, 404, bad);
      const body = await r.text();
      assert.match(body, /このリンクは無効か、有効期限が切れています/);
      assert.match(body, /0120-000-000/, 'the support desk is named');
    }
    const limited = await fetch(link);
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get('retry-after'), '60');
    assert.match(await limited.text(), /しばらくしてからお試しください/);
    f.clock.advance(60_000);
    assert.equal((await fetch(link)).status, 200);
  });
});

describe('fixable', () => {
  const base = { subscriberId: 'S', class: 'cc-infection', purpose: 'infection-notice', escalation: 0, openedAt: 0, pendingSince: null, updatedAt: 0, firstSeen: 0, lastSeen: 0, findings: 1, notifiedAt: 1, acknowledgedAt: null, resolvedAt: null } as const;
  it('only cases this notice told about that still wait for the subscriber (not a reopened case an old link points to)', () => {
    const cases = [
      { ...base, id: 'a', status: 'notified', lastNoticeId: 'n1' },
      { ...base, id: 'b', status: 'notified', lastNoticeId: 'n2' },
      { ...base, id: 'c', status: 'new', lastNoticeId: 'n1' },
      { ...base, id: 'd', status: 'acknowledged', lastNoticeId: 'n1' },
    ] as const;
    assert.deepEqual(fixable('n1', cases.map((c) => ({ ...c }))).map((c) => c.id), ['a']);
  });
});

describe('portal failures', () => {
  it('a failing store gives a plain error page: no stack trace, and the log never holds the link\'s token', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _e, cb) => (lines.push(String(chunk)), cb()) }));
    const http = new HttpServer({ listen: { host: '127.0.0.1', port: 0 }, logger, registry: createRegistry({ processMetrics: false }), version: 't', health: async () => ({ status: 'ok', node: 't', version: 't', startedAt: '', parts: {} }) });
    await http.prepare();
    const boom = async () => {
      throw new Error('database is locked');
    };
    const portal = new SubscriberPortal({ notices: { byToken: boom }, cases: { acknowledge: boom }, subscribers: { byId: boom }, consent: { set: boom, choiceOf: boom, history: boom, optedOut: boom }, logger, organization: 'ISP', portalUrl: 'http://x', support: '' });
    await portal.routes(http.app);
    await http.start();
    try {
      const token = 'A'.repeat(43);
      const r = await fetch(`${http.url}/n/${token}`);
      assert.equal(r.status, 500);
      const body = await r.text();
      assert.match(body, /ただいま表示できません/);
      assert.doesNotMatch(body, /database is locked|at .*\.ts/);
      assert.ok(lines.some((l) => l.includes('portal request failed')));
      assert.ok(lines.every((l) => !l.includes(token)), 'the token is not logged');
    } finally {
      await http.stop();
    }
  });
});
