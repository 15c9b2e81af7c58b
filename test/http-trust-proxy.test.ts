/**
 * http.trustProxy: behind a reverse proxy the node sees the client's address
 * from X-Forwarded-For — the portal's invalid-link limit counts per client,
 * and the audit log names the client — but only from the proxies it trusts.
 * Real requests over loopback to a node started from a config.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { defaultConfig } from '../src/config/index.ts';
import { startNode, type RunningNode } from '../src/node/index.ts';
import { silentLogger } from '../src/telemetry/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'sakimori-trust-proxy-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function nodeWith(trustProxy: boolean | number | string[], name: string): Promise<RunningNode> {
  const config = defaultConfig();
  config.store.url = `sqlite:${join(dir, `${name}.db`)}`;
  config.http.listen = '127.0.0.1:0';
  config.http.trustProxy = trustProxy;
  config.dns.enabled = false;
  return startNode(config, { logger: silentLogger, version: 'test' });
}

const BAD_LINK = `/n/${'z'.repeat(43)}`;
const from = (client: string) => ({ headers: { 'x-forwarded-for': client } });

async function lookupActor(node: RunningNode, client: string): Promise<string | undefined> {
  const r = await fetch(`${node.http.url}/api/v1/attribution/lookup?ip=192.0.2.1&at=2025-01-06T00:00:00Z`, from(client));
  assert.equal(r.status, 200, await r.text());
  await node.platform.audit.flush();
  const entries = await node.platform.audit.list({ limit: 1000 });
  return entries.find((e) => e.subject === '192.0.2.1')?.actor; // newest first
}

describe('http.trustProxy', { timeout: 120_000 }, () => {
  it('trusting the loopback proxy: the invalid-link limit counts each forwarded client on its own; the audit names the client', async () => {
    const node = await nodeWith(['127.0.0.1'], 'trusted');
    try {
      for (let i = 0; i < 20; i++) assert.equal((await fetch(`${node.http.url}${BAD_LINK}`, from('203.0.113.5'))).status, 404);
      assert.equal((await fetch(`${node.http.url}${BAD_LINK}`, from('203.0.113.5'))).status, 429, 'the 21st bad link from one client waits');
      assert.equal((await fetch(`${node.http.url}${BAD_LINK}`, from('203.0.113.6'))).status, 404, 'another client behind the same proxy does not');
      assert.equal(await lookupActor(node, '203.0.113.7'), 'api:203.0.113.7');
    } finally {
      await node.stop();
    }
  });

  it('by default (false) the header is not believed: everyone behind the proxy is the proxy', async () => {
    const node = await nodeWith(false, 'untrusted');
    try {
      for (let i = 0; i < 20; i++) await fetch(`${node.http.url}${BAD_LINK}`, from(`203.0.113.${i + 10}`));
      assert.equal((await fetch(`${node.http.url}${BAD_LINK}`, from('203.0.113.99'))).status, 429);
      assert.equal(await lookupActor(node, '203.0.113.7'), 'api:127.0.0.1');
    } finally {
      await node.stop();
    }
  });

  it('a hop count takes that many hops from the right; a proxy not on the list is not believed', async () => {
    const hops = await nodeWith(1, 'hops');
    try {
      assert.equal(await lookupActor(hops, '198.51.100.1, 203.0.113.8'), 'api:203.0.113.8');
    } finally {
      await hops.stop();
    }
    const other = await nodeWith(['10.0.0.0/8'], 'other');
    try {
      assert.equal(await lookupActor(other, '203.0.113.9'), 'api:127.0.0.1');
    } finally {
      await other.stop();
    }
  });
});
