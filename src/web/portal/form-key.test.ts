import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger, createRegistry } from '../../telemetry/index.ts';
import { HttpServer } from '../http-server.ts';
import { startWebFixture, SUBSCRIBER, type WebFixture } from '../test-support.ts';
import { loadFormKey } from './form-key.ts';
import { SubscriberPortal } from './portal.ts';

const dir = mkdtempSync(join(tmpdir(), 'sakimori-form-key-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('the portal form key file', () => {
  it('is created once with mode 0600 in a new directory, and read back the same', async () => {
    const file = join(dir, 'data', 'portal-form-key');
    const a = await loadFormKey(file, silentLogger);
    assert.equal(a.length, 32);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.deepEqual(await loadFormKey(file, silentLogger), a);
  });

  it('processes starting together agree on one key (another process races this one for the file)', async () => {
    const file = join(dir, 'race', 'portal-form-key');
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', `import('${new URL('./form-key.ts', import.meta.url).pathname}').then(async (m) => process.stdout.write((await m.loadFormKey(${JSON.stringify(file)}, { warn() {} })).toString('hex')))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const done = new Promise((r) => child.on('close', r));
    const mine = await Promise.all([loadFormKey(file, silentLogger), loadFormKey(file, silentLogger)]);
    await done;
    assert.deepEqual(mine[0], mine[1]);
    assert.equal(out, mine[0]!.toString('hex'));
  });

  it('a damaged file is refused with the file, what is wrong and what to do; a readable-by-all file is warned about', async () => {
    const bad = join(dir, 'bad-key');
    writeFileSync(bad, 'not a key\n', { mode: 0o600 });
    await assert.rejects(loadFormKey(bad, silentLogger), (err: Error & { hint?: string }) => err.message.includes(bad) && /43 base64url/.test(err.message) && /delete the file/.test(err.hint ?? ''));
    const open = join(dir, 'open-key');
    writeFileSync(open, `${Buffer.alloc(32, 7).toString('base64url')}\n`, { mode: 0o644 });
    const warned: object[] = [];
    await loadFormKey(open, { warn: (o) => warned.push(o) });
    assert.equal(warned.length, 1);
  });
});

describe('a portal form survives a restart of the portal (same key file)', () => {
  let f: WebFixture;
  before(async () => {
    f = await startWebFixture();
  });
  after(() => f?.close());

  async function portalServer(formKeyFile: string): Promise<HttpServer> {
    const http = new HttpServer({ listen: { host: '127.0.0.1', port: 0 }, logger: silentLogger, registry: createRegistry({ processMetrics: false }), version: 't', health: async () => ({ status: 'ok', node: 't', version: 't', startedAt: '', parts: {} }) });
    await http.prepare();
    const portal = new SubscriberPortal({ notices: f.cases.notices, cases: f.cases.book, subscribers: f.cases.subscribers, consent: f.consent, logger: silentLogger, clock: f.clock, organization: 'ISP', portalUrl: 'http://x', support: '', formKeyFile });
    await portal.routes(http.app);
    await portal.start();
    await http.start();
    return http;
  }

  const post = (url: string, csrf: string) =>
    fetch(url, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ csrf, choice: 'opt-out' }).toString() });

  it('a form shown before the restart posts after it; a portal with another key refuses it', async () => {
    const file = join(dir, 'restart', 'portal-form-key');
    const first = await portalServer(file);
    const page = await (await fetch(`${first.url}/n/${f.noticeToken}`)).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(page)![1]!;
    await first.stop();
    const keyBefore = readFileSync(file, 'utf8');

    const other = await portalServer(join(dir, 'other', 'portal-form-key'));
    try {
      const r = await post(`${other.url}/n/${f.noticeToken}/dns-protection`, csrf);
      assert.match(r.headers.get('location') ?? '', /done=form-expired/);
    } finally {
      await other.stop();
    }

    const second = await portalServer(file);
    try {
      assert.equal(readFileSync(file, 'utf8'), keyBefore, 'the key is kept');
      const r = await post(`${second.url}/n/${f.noticeToken}/dns-protection`, csrf);
      assert.equal(r.status, 303);
      assert.match(r.headers.get('location') ?? '', /done=dns-off/);
      assert.equal(await f.consent.choiceOf('subscriber', SUBSCRIBER.id), 'opt-out');
    } finally {
      await second.stop();
    }
  });
});
