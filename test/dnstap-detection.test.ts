/**
 * The dnstap collector feeding DNS detection (issue 5 item 4): Debian's Unbound sends
 * real dnstap over a Unix socket; one client (127.0.0.9) looks up DGA-like names that
 * Unbound answers NXDOMAIN from a local zone; the collector's DnsDetection emits one
 * suspected-infection Observation on the bus and writes the detection to the store. No
 * data plane here: nothing is mitigated.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { defaultConfig } from '../src/config/index.ts';
import { Rng, systemClock, type Observation } from '../src/core/index.ts';
import { MemoryBus } from '../src/bus/index.ts';
import { dgaLabel } from '../src/dns/detect/eval/labels.ts';
import { DnstapDetectionPart, dnstapPart } from '../src/dns/dnstap/index.ts';
import { dnsMigrations, listDetections } from '../src/dns/index.ts';
import { AuditLog, privacyMigrations } from '../src/privacy/index.ts';
import { openStore, type Store } from '../src/store/index.ts';
import { silentLogger } from '../src/telemetry/index.ts';
import { requireTool, requireUnboundDnstap } from './peers/dnstap-harness.ts';
import { queryPacket } from './peers/dns-udp.ts';
import { startUnbound, type UnboundPeer } from './peers/unbound.ts';

describe('dnstap from Unbound feeds DNS detection', { timeout: 120_000 }, () => {
  let dir: string;
  let store: Store;
  let audit: AuditLog;
  let peer: UnboundPeer | undefined;
  let part: DnstapDetectionPart;
  const bus = new MemoryBus();
  const seen: Observation[] = [];

  before(async () => {
    requireUnboundDnstap(requireTool('unbound', 'unbound', 'the dnstap tests take dnstap from a real Unbound'));
    dir = mkdtempSync(join(tmpdir(), 'sakimori-dnstap-detect-'));
    store = await openStore('sqlite::memory:');
    await store.migrate([...privacyMigrations, ...dnsMigrations]);
    audit = new AuditLog(store, { flushIntervalMs: 0 });
    await bus.subscribe<Observation>('observations', { durable: 'test', from: 'all' }, async (m) => void seen.push(m.data));
    const sock = join(dir, 'dnstap.sock');
    const cfg = { ...defaultConfig().dnstap, listen: [`unix:${sock}`] };
    const p = dnstapPart({ config: { dnstap: cfg, node: { name: 'test' } }, logger: silentLogger, clock: systemClock, bus, store, audit }, cfg);
    assert.ok(p instanceof DnstapDetectionPart, 'dnstap.detect is on by default');
    part = p;
    await part.start();
    peer = await startUnbound({
      localZones: ['"com." static', '"net." static', '"example.test." static'],
      localData: ['"warmup.example.test. 60 IN A 192.0.2.9"'],
      clauses: ['dnstap:', '  dnstap-enable: yes', `  dnstap-socket-path: "${sock}"`, '  dnstap-bidirectional: yes', '  dnstap-log-client-query-messages: yes', '  dnstap-log-client-response-messages: yes'],
    });
  });

  after(async () => {
    await peer?.close();
    await part?.stop();
    await bus.close();
    await audit?.close();
    await store?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function ask(from: string, names: string[]): Promise<void> {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, from, () => r()));
    try {
      for (const [i, name] of names.entries()) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, 2000);
          s.once('message', () => {
            clearTimeout(t);
            resolve();
          });
          s.send(queryPacket(name, i + 1), peer!.port, '127.0.0.1');
        });
      }
    } finally {
      s.close();
    }
  }

  it('DGA-like NXDOMAIN lookups seen through dnstap make one suspected-infection Observation and a stored detection', async () => {
    // Unbound connects to the socket in its own time: wait until responses arrive.
    for (let i = 0; i < 100 && part.detection.stats().events === 0; i++) {
      await ask('127.0.0.1', ['warmup.example.test']);
      await sleep(200);
    }
    assert.ok(part.detection.stats().events > 0, `no dnstap response reached detection:\n${peer!.log().slice(-2000)}`);
    const rng = new Rng(11);
    await ask('127.0.0.9', Array.from({ length: 40 }, (_, i) => `${dgaLabel(rng, i % 2 ? 'pronounceable' : 'letters', [])}.${i % 3 ? 'com' : 'net'}`));
    let obs: Observation | undefined;
    for (let i = 0; i < 50 && !obs; i++) {
      await sleep(200);
      obs = seen.find((o) => o.kind === 'suspected-infection');
    }
    assert.ok(obs, `no suspected-infection observation; detection: ${JSON.stringify(part.detection.stats())}`);
    assert.equal(obs.network.ip, '127.0.0.9');
    assert.equal(obs.source.name, 'dns-detect@test');
    assert.ok(!seen.some((o) => o.kind === 'suspected-infection' && o.network.ip === '127.0.0.1'));
    await part.detections!.flush();
    const rows = await listDetections(store, audit, { actor: 'test', kind: 'suspected-infection' });
    assert.deepEqual(rows.map((r) => [r.subject, r.action, r.source]), [['127.0.0.9', 'observation-emitted', 'dnstap@test']]);
  });
});
