import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startPostgres } from './peers/postgres.ts';
import { startNats } from './peers/nats.ts';
import { defaultConfig } from '../src/config/index.ts';
import { startNode } from '../src/node/index.ts';
import { silentLogger } from '../src/telemetry/index.ts';
import { verifyAuditChain } from '../src/privacy/index.ts';

// The node on its scale-out adapters: PostgreSQL store and NATS JetStream bus,
// both real servers. /healthz must tell the truth about each.
test('the node runs on PostgreSQL + NATS and /healthz reports each part, including a bus that went away', async () => {
  const pg = await startPostgres();
  const nats = await startNats();
  const config = defaultConfig();
  config.store.url = await pg.createDatabase();
  config.bus.url = nats.url;
  config.http.listen = '127.0.0.1:0';
  const node = await startNode(config, { logger: silentLogger, version: 'test' });
  try {
    let res = await fetch(`${node.http.url}/healthz`);
    assert.equal(res.status, 200);
    let health = (await res.json()) as { status: string; parts: Record<string, { status: string; detail?: Record<string, unknown> }> };
    assert.equal(health.status, 'ok');
    assert.equal(health.parts.store?.detail?.dialect, 'postgres');
    assert.equal(health.parts.bus?.status, 'ok');

    // A consent change goes through the store, the audit chain and the bus.
    await node.platform.consent.optOut({ scope: 'client', subject: '192.0.2.7', actor: 'test', via: 'api' });
    const [msg] = await node.platform.bus!.read<{ subject: string }>('consent.changed', 1);
    assert.equal(msg?.data.subject, '192.0.2.7/32');
    await node.platform.audit.flush();
    assert.ok((await verifyAuditChain(node.platform.store)).ok);

    await nats.stop();
    res = await fetch(`${node.http.url}/healthz`);
    assert.equal(res.status, 503);
    health = (await res.json()) as typeof health;
    assert.equal(health.status, 'down');
    assert.equal(health.parts.bus?.status, 'down');
    assert.equal(health.parts.store?.status, 'ok');
  } finally {
    await node.stop();
    await nats.stop();
    await pg.stop();
  }
});
