/**
 * DNS detection in the real DNS firewall (issue 5): a random-subdomain flood sent over
 * loopback UDP through DnsFirewall to a real Unbound is mitigated in the dynamic
 * dns-abuse zone — on the main thread and with worker threads (every thread answers the
 * random children locally) — while a name resolved before the attack and a name on the
 * never-block list keep resolving; dry-run reports without mitigating; stop withdraws
 * the mitigation.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { systemClock } from '../src/core/index.ts';
import { MemoryBus } from '../src/bus/index.ts';
import { DETECTION_ZONE, DnsFirewall, dnsMigrations, listDetections } from '../src/dns/index.ts';
import type { DetectOptionsInput } from '../src/dns/detect/index.ts';
import { AuditLog, privacyMigrations } from '../src/privacy/index.ts';
import { openStore, type Store } from '../src/store/index.ts';
import { createRegistry, silentLogger } from '../src/telemetry/index.ts';
import { HttpServer } from '../src/web/index.ts';
import { startUnbound, type UnboundPeer } from './peers/unbound.ts';
import { blocked, rcodeOf, udpClient } from './peers/dns-udp.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rnd(n = 12): string {
  let s = '';
  for (let i = 0; i < n; i++) s += 'abcdefghijklmnopqrstuvwxyz0123456789'[Math.floor(Math.random() * 36)];
  return s;
}

const ALLOW_ZONE = `$TTL 60
$ORIGIN allow.rpz.test.
@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 60
keep.victim.example CNAME rpz-passthru.
`;

describe('DNS detection in the firewall (dig-free raw UDP client, real Unbound)', { timeout: 240_000 }, () => {
  let unbound: UnboundPeer;
  let dir: string;
  let store: Store;
  let audit: AuditLog;
  const bus = new MemoryBus();

  before(async () => {
    unbound = await startUnbound({
      localZones: ['"victim.example." static', '"other.example." static'],
      localData: ['"www.victim.example. 60 IN A 192.0.2.1"', '"keep.victim.example. 60 IN A 192.0.2.2"', '"www.other.example. 60 IN A 192.0.2.3"'],
    });
    dir = mkdtempSync(join(tmpdir(), 'sakimori-detect-test-'));
    writeFileSync(join(dir, 'allow.rpz'), ALLOW_ZONE);
    store = await openStore('sqlite::memory:');
    await store.migrate([...privacyMigrations, ...dnsMigrations]);
    audit = new AuditLog(store, { flushIntervalMs: 0 });
  });

  after(async () => {
    await unbound?.close();
    await audit?.close();
    await store?.close();
    await bus.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function firewall(threads: number, detect: DetectOptionsInput | false, registry?: ReturnType<typeof createRegistry>): DnsFirewall {
    return new DnsFirewall(
      {
        listen: [{ host: '127.0.0.1', port: 0 }],
        upstreams: [{ host: unbound.host, port: unbound.port }],
        zones: [{ name: 'allow.rpz.test', file: join(dir, 'allow.rpz'), kind: 'allow', format: 'rpz' }],
        eventFlushIntervalMs: 100,
        nodeName: 'test',
        threads,
        detect,
      },
      { store, audit, bus, logger: silentLogger, clock: systemClock, ...(registry ? { registry } : {}) },
    );
  }

  /** Resolves www.victim.example first (known good), then floods random children at ~500 q/s until `done` or 20 s. */
  async function flood(port: number, done: () => boolean): Promise<number> {
    const c = await udpClient(port);
    try {
      for (let i = 0; i < 5; i++) assert.equal(rcodeOf(await c.ask('www.victim.example')), 0);
      const t0 = Date.now();
      while (!done() && Date.now() - t0 < 20_000) {
        for (let i = 0; i < 50; i++) c.send(`${rnd()}.victim.example`);
        await sleep(100);
      }
      return Date.now() - t0;
    } finally {
      c.close();
    }
  }

  for (const threads of [0, 2]) {
    it(`mitigates a random-subdomain flood${threads ? ` in every one of ${threads} worker threads` : ''}; resolved and never-block names keep resolving; stop withdraws it`, async () => {
      const registry = createRegistry({ processMetrics: false });
      const fw = firewall(threads, {}, registry);
      await fw.start();
      const port = fw.addresses[0]!.address.port;
      try {
        const mitigated = () => fw.detection!.book.list({ kind: 'prsd' }).some((d) => d.action === 'mitigated');
        const took = await flood(port, mitigated);
        assert.ok(mitigated(), `no mitigation after ${took} ms: ${JSON.stringify(fw.detection!.book.list())}`);
        const d = fw.detection!.book.list({ kind: 'prsd' })[0]!;
        assert.equal(d.subject, 'victim.example');
        // Random children are answered locally, by every thread: many sockets, so both workers get some.
        const answers = await Promise.all(
          Array.from({ length: 40 }, async () => {
            const c = await udpClient(port);
            try {
              return await c.ask(`${rnd()}.victim.example`);
            } finally {
              c.close();
            }
          }),
        );
        for (const a of answers) {
          assert.equal(rcodeOf(a), 3);
          assert.ok(blocked(a), 'a random child was not answered by the dns-abuse zone');
        }
        const c = await udpClient(port);
        try {
          for (const name of ['www.victim.example', 'keep.victim.example', 'www.other.example']) {
            const a = await c.ask(name);
            assert.equal(rcodeOf(a), 0, `${name} no longer resolves`);
            assert.ok(!blocked(a), name);
          }
        } finally {
          c.close();
        }
        // Worker threads post their counters twice a second.
        const byAbuse = () => Object.entries(fw.snapshot().policy).filter(([k]) => k.startsWith(`${DETECTION_ZONE}\0`)).reduce((n, [, v]) => n + v, 0);
        for (let i = 0; i < 30 && byAbuse() === 0; i++) await sleep(100);
        assert.ok(byAbuse() > 0, JSON.stringify(fw.snapshot().policy));
        assert.ok(fw.detectionTriggers() > 0);
      } finally {
        await fw.stop();
      }
      assert.equal(fw.detectionTriggers(), 0, 'stop left triggers in the dns-abuse zone');
      assert.equal(fw.detection!.book.list({ active: true }).filter((x) => x.kind === 'prsd').length, 0);
      // Written through to the store (stop flushes): what `sakimori dns detections` reads, audited.
      const rows = await listDetections(store, audit, { actor: 'test', kind: 'prsd' });
      const row = rows.find((r) => r.subject === 'victim.example' && r.source === 'dns@test');
      assert.ok(row, JSON.stringify(rows));
      assert.equal(row.purpose, 'dns-abuse-mitigation');
      assert.ok(row.endedAt, 'the stored detection does not show its end');
      await audit.flush();
      const reads = await store.all<{ n: number }>("SELECT count(*) AS n FROM audit_log WHERE subject = 'dns_detections' AND purpose = 'dns-abuse-mitigation'");
      assert.ok(Number(reads[0]!.n) > 0, 'the read was not audited');
      // The HTTP API (with its OpenAPI schema) and the counters on /metrics.
      const http = new HttpServer({ listen: { host: '127.0.0.1', port: 0 }, logger: silentLogger, registry, version: 'test', health: async () => ({ status: 'ok', node: 'test', version: 'test', startedAt: new Date().toISOString(), parts: {} }) });
      await http.prepare();
      fw.routes(http.app);
      await http.start();
      try {
        const api = (await (await fetch(`${http.url}/api/v1/dns/detections?kind=prsd&limit=10`)).json()) as { detections: { kind: string; subject: string; action: string; source: string }[] };
        assert.ok(api.detections.some((d) => d.kind === 'prsd' && d.subject === 'victim.example' && d.action === 'mitigated'), JSON.stringify(api));
        assert.equal((await fetch(`${http.url}/api/v1/dns/detections?kind=nonsense`)).status, 400);
        const spec = (await (await fetch(`${http.url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
        assert.ok(spec.paths['/api/v1/dns/detections'], 'no OpenAPI entry');
        const metrics = await (await fetch(`${http.url}/metrics`)).text();
        assert.match(metrics, /sakimori_dns_detections_total\{[^}]*kind="prsd"[^}]*action="mitigated"[^}]*\} [1-9]/);
        assert.match(metrics, /sakimori_dns_detect_events_total\{[^}]*outcome="observed"[^}]*\} [1-9]/);
      } finally {
        await http.stop();
      }
    });
  }

  it('dry-run reports what it would block and blocks nothing', async () => {
    const fw = firewall(0, { prsd: { mode: 'dry-run' } });
    await fw.start();
    const port = fw.addresses[0]!.address.port;
    try {
      const reported = () => fw.detection!.book.list({ kind: 'prsd' }).length > 0;
      await flood(port, reported);
      const d = fw.detection!.book.list({ kind: 'prsd' })[0];
      assert.equal(d?.action, 'dry-run', JSON.stringify(d));
      assert.equal(fw.detectionTriggers(), 0);
      const c = await udpClient(port);
      try {
        const a = await c.ask(`${rnd()}.victim.example`);
        assert.equal(rcodeOf(a), 3);
        assert.ok(!blocked(a), 'dry-run answered a random child locally');
      } finally {
        c.close();
      }
    } finally {
      await fw.stop();
    }
  });

  it('a zone on the never-block list is not mitigated', async () => {
    writeFileSync(join(dir, 'allow.rpz'), ALLOW_ZONE + '*.victim.example CNAME rpz-passthru.\nvictim.example CNAME rpz-passthru.\n');
    const fw = firewall(2, {});
    await fw.start();
    const port = fw.addresses[0]!.address.port;
    try {
      const seen = () => fw.detection!.book.list({ kind: 'prsd' }).length > 0;
      await flood(port, seen);
      const d = fw.detection!.book.list({ kind: 'prsd' })[0];
      assert.equal(d?.action, 'never-block', JSON.stringify(d));
      assert.equal(fw.detectionTriggers(), 0);
    } finally {
      await fw.stop();
      writeFileSync(join(dir, 'allow.rpz'), ALLOW_ZONE);
    }
  });

  it('detection off: no detector, no dynamic zone', async () => {
    const fw = firewall(0, false);
    assert.equal(fw.detection, undefined);
    assert.equal(fw.detectionTriggers(), 0);
  });
});
