/**
 * The portal and the console as `sakimori start` runs them: wired into the
 * node's HTTP server, the console closed until the generated token is used,
 * the attribution look-up reaching the node's own index.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { defaultConfig } from '../src/config/index.ts';
import { startNode, type RunningNode } from '../src/node/index.ts';
import { silentLogger } from '../src/telemetry/index.ts';

describe('portal and console in the node', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sakimori-web-node-'));
  let node: RunningNode;
  before(async () => {
    const config = defaultConfig();
    config.store.url = `sqlite:${join(dir, 'sakimori.db')}`;
    config.http.listen = '127.0.0.1:0';
    config.web.console.tokenFile = join(dir, 'console-tokens');
    config.notify.enabled = false;
    node = await startNode(config, { logger: silentLogger, version: 'test' });
  });
  after(async () => {
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints the console and where its login is; the console is closed without it and open with it', async () => {
    const endpoints = Object.fromEntries(node.endpoints().map((e) => [e.label, e.url]));
    assert.equal(endpoints['operator console'], `${node.http.url}/console/`);
    assert.match(endpoints['console login']!, new RegExp(`user "operator", password: the token in ${join(dir, 'console-tokens')} \\(created now\\)`));
    assert.equal((await fetch(`${node.http.url}/console/cases`)).status, 401);
    const token = readFileSync(join(dir, 'console-tokens'), 'utf8').match(/^operator (\S+)$/m)![1]!;
    const r = await fetch(`${node.http.url}/console/cases`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200);
    const health = await node.health();
    assert.equal(health.parts.console?.status, 'ok');
    assert.equal(health.parts.portal?.status, 'ok');
    // The look-up form reaches the node's attribution index (which knows no session yet).
    const page = await (await fetch(`${node.http.url}/console/attribution`, { headers: { authorization: `Bearer ${token}` } })).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(page)![1]!;
    const answer = await fetch(`${node.http.url}/console/attribution`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ csrf, ip: '192.0.2.1', at: '2025-01-06T12:00:00Z', purpose: 'subscriber-attribution' }).toString() });
    assert.match(await answer.text(), /data-result="unknown"/);
  });

  it('answers an unknown notice link with the portal\'s page', async () => {
    const r = await fetch(`${node.http.url}/n/${'a'.repeat(43)}`);
    assert.equal(r.status, 404);
    assert.equal(r.headers.get('referrer-policy'), 'no-referrer');
    assert.match(await r.text(), /このリンクは無効か/);
  });
});
