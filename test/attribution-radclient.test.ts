/**
 * The "done when": FreeRADIUS's radclient (Debian freeradius-utils)
 * sends real Accounting-Requests to the node's RADIUS listener on loopback,
 * and `sakimori sessions lookup` — a separate process on the same store —
 * answers correctly inside, between and after the sessions. The HTTP API
 * answers the same, and documents itself in /openapi.json.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { defaultConfig } from '../src/config/index.ts';
import { startNode, type RunningNode } from '../src/node/index.ts';
import { silentLogger } from '../src/telemetry/index.ts';
import { radclient as sendAccounting, run as runIn } from './peers/radclient.ts';
import type { AttributionPart, LookupResult } from '../src/attribution/index.ts';

const SECRET = 'attribution-e2e-secret';
const BIN = new URL('../bin/sakimori.js', import.meta.url).pathname;
const T0 = Date.UTC(2025, 0, 6, 10, 0, 0) / 1000; // epoch seconds, as Event-Timestamp carries them
const iso = (s: number) => new Date(s * 1000).toISOString();

const dir = mkdtempSync(join(tmpdir(), 'sakimori-attr-e2e-'));
const storeUrl = `sqlite:${join(dir, 'node.db')}`;
const run = (cmd: string, args: string[]) => runIn(cmd, args, dir);
let node: RunningNode;
let radius: { host: string; port: number };

const radclient = (packets: string[]) => sendAccounting(dir, radius, SECRET, packets);

async function lookup(ip: string, at: number, extra: string[] = []): Promise<LookupResult> {
  const r = await run(process.execPath, [BIN, '--store', storeUrl, '--log-level', 'warn', 'sessions', 'lookup', ip, '--at', iso(at), '--json', ...extra]);
  assert.equal(r.code, 0, r.err);
  return JSON.parse(r.out) as LookupResult;
}

before(() => {
  const probe = spawnSync('radclient', ['-v'], { encoding: 'utf8' });
  if (probe.error) assert.fail(`radclient is not installed (${probe.error.message}): apt-get install -y freeradius-utils`);
});

describe('radclient -> RADIUS accounting -> sessions lookup (end to end)', () => {
  before(async () => {
    const config = defaultConfig();
    config.store.url = storeUrl;
    config.http.listen = '127.0.0.1:0';
    config.attribution.radius = { listen: '127.0.0.1:0', clients: [{ address: '127.0.0.1', secret: SECRET }] };
    node = await startNode(config, { logger: silentLogger, version: 'test' });
    const part = node.parts.find((p) => p.name === 'attribution') as AttributionPart | undefined;
    assert.ok(part, 'the node runs the attribution part');
    radius = part.radiusAddress()!;
    assert.ok(radius, 'the RADIUS listener is started when clients are configured');
    assert.ok(node.endpoints().some((e) => e.label === 'RADIUS accounting (UDP)'));

    const nas = 'NAS-IP-Address = 192.0.2.1\nNAS-Identifier = "bras-e2e"';
    await radclient([
      `Acct-Status-Type = Start\nAcct-Session-Id = "A-0001"\nUser-Name = "alice@isp.example"\n${nas}\nFramed-IP-Address = 198.51.100.23\nDelegated-IPv6-Prefix = 2001:db8:ab00::/56\nEvent-Timestamp = ${T0}`,
      `Acct-Status-Type = Stop\nAcct-Session-Id = "A-0001"\nUser-Name = "alice@isp.example"\n${nas}\nFramed-IP-Address = 198.51.100.23\nDelegated-IPv6-Prefix = 2001:db8:ab00::/56\nAcct-Session-Time = 3600\nAcct-Terminate-Cause = User-Request\nEvent-Timestamp = ${T0 + 3600}`,
      `Acct-Status-Type = Start\nAcct-Session-Id = "B-0002"\nUser-Name = "bob@isp.example"\n${nas}\nFramed-IP-Address = 198.51.100.23\nEvent-Timestamp = ${T0 + 5400}`,
      `Acct-Status-Type = Interim-Update\nAcct-Session-Id = "B-0002"\nUser-Name = "bob@isp.example"\n${nas}\nFramed-IP-Address = 198.51.100.23\nAcct-Session-Time = 900\nEvent-Timestamp = ${T0 + 6300}`,
      `Acct-Status-Type = Stop\nAcct-Session-Id = "B-0002"\nUser-Name = "bob@isp.example"\n${nas}\nFramed-IP-Address = 198.51.100.23\nAcct-Session-Time = 1800\nEvent-Timestamp = ${T0 + 7200}`,
      // Carol's session is open when the NAS reboots: its Accounting-On ends it.
      `Acct-Status-Type = Start\nAcct-Session-Id = "C-0003"\nUser-Name = "carol@isp.example"\n${nas}\nFramed-IP-Address = 198.51.100.24\nEvent-Timestamp = ${T0 + 600}`,
      `Acct-Status-Type = Accounting-On\n${nas}\nEvent-Timestamp = ${T0 + 9000}`,
    ]);
  });
  after(async () => {
    await node?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('inside the first session: alice, with NAS, session id, start and end', async () => {
    const r = await lookup('198.51.100.23', T0 + 1800, ['--purpose', 'infection-notice']);
    assert.equal(r.result, 'found');
    assert.ok(r.result === 'found');
    assert.equal(r.subscriber, 'alice@isp.example');
    assert.equal(r.session.sessionId, 'A-0001');
    assert.equal(r.session.nas, '192.0.2.1');
    assert.equal(r.session.start, iso(T0));
    assert.equal(r.session.end, iso(T0 + 3600));
    assert.equal(r.query.purpose, 'infection-notice');
  });

  it('between the sessions: a gap, naming alice before and bob after', async () => {
    const r = await lookup('198.51.100.23', T0 + 4500);
    assert.ok(r.result === 'gap', JSON.stringify(r));
    assert.equal(r.before?.subscriber, 'alice@isp.example');
    assert.equal(r.after?.subscriber, 'bob@isp.example');
  });

  it('inside the second session: bob', async () => {
    const r = await lookup('198.51.100.23', T0 + 6000);
    assert.ok(r.result === 'found' && r.subscriber === 'bob@isp.example' && r.session.end === iso(T0 + 7200), JSON.stringify(r));
  });

  it('after the last session: a gap with bob before it; and an address never seen is unknown', async () => {
    const r = await lookup('198.51.100.23', T0 + 10_000);
    assert.ok(r.result === 'gap' && r.before?.subscriber === 'bob@isp.example' && r.after === undefined, JSON.stringify(r));
    assert.equal((await lookup('198.51.100.99', T0 + 1800)).result, 'unknown');
  });

  it('the delegated IPv6 prefix: any address inside the /56 is alice during her session', async () => {
    const r = await lookup('2001:db8:ab00:17::1', T0 + 60);
    assert.ok(r.result === 'found' && r.subscriber === 'alice@isp.example' && r.session.role === 'ipv6-delegated', JSON.stringify(r));
  });

  it('Accounting-On closed the session the NAS had open', async () => {
    const inside = await lookup('198.51.100.24', T0 + 8000);
    assert.ok(inside.result === 'found' && inside.subscriber === 'carol@isp.example' && inside.session.endInferred === 'nas-restart', JSON.stringify(inside));
    assert.equal((await lookup('198.51.100.24', T0 + 9100)).result, 'gap');
  });

  it('the HTTP API answers the same, states its purpose, and is in /openapi.json', async () => {
    const res = await fetch(`${node.http.url}/api/v1/attribution/lookup?ip=198.51.100.23&at=${T0 + 1800}&purpose=router-survey-notice`);
    assert.equal(res.status, 200);
    const r = (await res.json()) as LookupResult;
    assert.ok(r.result === 'found' && r.subscriber === 'alice@isp.example' && r.query.purpose === 'router-survey-notice', JSON.stringify(r));
    const bad = await fetch(`${node.http.url}/api/v1/attribution/lookup?ip=198.51.100.23&at=2025-01-06T10:00:00`);
    assert.equal(bad.status, 400);
    assert.match(((await bad.json()) as { message: string }).message, /no UTC offset/);
    const refused = await fetch(`${node.http.url}/api/v1/attribution/lookup?ip=198.51.100.23&at=${T0}&purpose=hub-sharing`);
    assert.equal(refused.status, 400);
    const spec = (await (await fetch(`${node.http.url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    assert.ok(spec.paths['/api/v1/attribution/lookup'], 'the look-up API is documented');
  });

  it('every look-up is in the audit log with its purpose', async () => {
    await node.platform.audit.flush();
    const entries = await node.platform.audit.list({ limit: 200 });
    const reads = entries.filter((e) => e.action === 'read' && e.subject === '198.51.100.23');
    assert.ok(reads.some((e) => e.purpose === 'infection-notice' && e.actor.startsWith('cli:')));
    assert.ok(reads.some((e) => e.purpose === 'router-survey-notice' && e.actor.startsWith('api:')));
  });
});
