/**
 * Infected-client evidence end to end (issue 5 items 3 and 5): one client (127.0.0.9)
 * looks up DGA-like names through the real DNS firewall over loopback UDP; a real Unbound
 * answers NXDOMAIN; DNS detection emits one `suspected-infection` Observation on the bus;
 * the cases pipeline (ObservationIntake -> CaseBook) turns it into a cc-infection finding,
 * attributed through the attribution index to the subscriber whose session held
 * 127.0.0.9 — and `sakimori dns detections --json` (another process) lists it from the store.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Rng, systemClock, type Observation } from '../src/core/index.ts';
import { MemoryBus } from '../src/bus/index.ts';
import { Attribution, attributionMigrations, keyOf, SessionIndex } from '../src/attribution/index.ts';
import { CaseBook, casesMigrations, ObservationIntake, SubscriberDirectory } from '../src/cases/index.ts';
import { DnsFirewall, dnsMigrations } from '../src/dns/index.ts';
import { dgaLabel } from '../src/dns/detect/eval/labels.ts';
import { attributionLocator } from '../src/node/parts.ts';
import { AuditLog, privacyMigrations } from '../src/privacy/index.ts';
import { openStore, type Store } from '../src/store/index.ts';
import { silentLogger } from '../src/telemetry/index.ts';
import { startUnbound, type UnboundPeer } from './peers/unbound.ts';
import { queryPacket } from './peers/dns-udp.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const INFECTED = '127.0.0.9';
const CLEAN = '127.0.0.10';

/** Sends `names` from a socket bound to `from`, one at a time, waiting for each answer. */
async function lookups(from: string, port: number, names: string[]): Promise<number[]> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, from, () => r()));
  const rcodes: number[] = [];
  try {
    for (const [i, name] of names.entries()) {
      const answer = await new Promise<Buffer | undefined>((resolve) => {
        const t = setTimeout(() => resolve(undefined), 2000);
        s.once('message', (m) => {
          clearTimeout(t);
          resolve(m);
        });
        s.send(queryPacket(name, i + 1), port, '127.0.0.1');
      });
      rcodes.push(answer ? answer[3]! & 0x0f : -1);
    }
  } finally {
    s.close();
  }
  return rcodes;
}

describe('DNS detection -> suspected-infection Observation -> cases (real firewall, Unbound, attribution)', { timeout: 120_000 }, () => {
  let unbound: UnboundPeer;
  let dir: string;
  let store: Store;
  let audit: AuditLog;
  let fw: DnsFirewall;
  let intake: ObservationIntake;
  let book: CaseBook;
  const bus = new MemoryBus();
  const seen: Observation[] = [];

  before(async () => {
    // Unbound answers the DGA TLDs from local zones: NXDOMAIN, as the Internet would, without it.
    unbound = await startUnbound({ localZones: ['"com." static', '"net." static', '"example." static'], localData: ['"www.example. 60 IN A 192.0.2.1"'] });
    dir = mkdtempSync(join(tmpdir(), 'sakimori-detect-cases-'));
    store = await openStore(`sqlite:${join(dir, 'sakimori.db')}`);
    await store.migrate([...privacyMigrations, ...attributionMigrations, ...casesMigrations, ...dnsMigrations]);
    audit = new AuditLog(store, { flushIntervalMs: 0 });
    // A RADIUS session held 127.0.0.9 for hanako@isp from an hour ago, still open.
    const index = new SessionIndex(store, { clock: systemClock });
    const now = Date.now();
    await index.write([
      { nas: '192.0.2.254', sessionId: 's1', subscriber: 'hanako@isp', addrKey: keyOf(INFECTED)!, portStart: 0, portEnd: 65535, role: 'ipv4', start: now - 3_600_000, startInferred: false, end: null, endInferred: false, lastSeen: now, source: 'radius' },
    ]);
    await new SubscriberDirectory(store, audit).importLines(['id,login,name,email,language,prefecture', 'K1,hanako@isp,Hanako,h@example.jp,ja,'], { actor: 'test' });
    book = new CaseBook(store, audit, attributionLocator(new Attribution(index, audit, { clockSkewMs: 0 })), { clock: systemClock });
    intake = new ObservationIntake(bus, book, silentLogger);
    await intake.start();
    await bus.subscribe<Observation>('observations', { durable: 'test', from: 'all' }, async (m) => void seen.push(m.data));
    fw = new DnsFirewall(
      { listen: [{ host: '127.0.0.1', port: 0 }], upstreams: [{ host: unbound.host, port: unbound.port }], nodeName: 'test' },
      { store, audit, bus, logger: silentLogger, clock: systemClock },
    );
    await fw.start();
  });

  after(async () => {
    await fw?.stop();
    await intake?.stop();
    await bus.close();
    await unbound?.close();
    await audit?.close();
    await store?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('DGA-like NXDOMAIN lookups from one client become an attributed cc-infection finding; a clean client stays clean', async () => {
    const port = fw.addresses[0]!.address.port;
    const rng = new Rng(7);
    const dga = Array.from({ length: 40 }, (_, i) => `${dgaLabel(rng, i % 2 ? 'letters' : 'hex', [])}.${i % 3 ? 'com' : 'net'}`);
    const rcodes = await lookups(INFECTED, port, dga);
    assert.ok(rcodes.every((r) => r === 3), `the upstream did not answer NXDOMAIN: ${rcodes.join(',')}`);
    await lookups(CLEAN, port, ['www.example', 'www.example', 'nosuch.example']);
    let finding;
    for (let i = 0; i < 50 && !finding; i++) {
      await sleep(200);
      finding = (await book.findings({ actor: 'test' })).find((f) => f.ip === INFECTED);
    }
    const obs = seen.find((o) => o.kind === 'suspected-infection');
    assert.ok(obs, `no suspected-infection observation: ${JSON.stringify(seen.map((o) => o.kind))}`);
    assert.equal(obs.network.ip, INFECTED);
    assert.equal(obs.purpose, 'infection-notice');
    // A summary, not the query log (R16): a few example names at most.
    assert.ok(JSON.stringify(obs.evidence).length < 2000, JSON.stringify(obs.evidence));
    assert.ok(finding, 'the cases pipeline made no finding');
    assert.equal(finding.class, 'cc-infection');
    const cases = await book.cases({ actor: 'test' });
    assert.deepEqual(cases.map((c) => [c.subscriberId, c.class]), [['K1', 'cc-infection']]);
    assert.ok(!seen.some((o) => o.kind === 'suspected-infection' && o.network.ip === CLEAN));

    // The operator's view, from another process reading the same store.
    await fw.detections!.flush();
    const cfg = join(dir, 'sakimori.yaml');
    writeFileSync(cfg, `store:\n  url: sqlite:${join(dir, 'sakimori.db')}\n`);
    const r = spawnSync(process.execPath, ['bin/sakimori.js', 'dns', 'detections', '--json', '--kind', 'suspected-infection', '--config', cfg], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const listed = JSON.parse(r.stdout) as { kind: string; subject: string; action: string; source: string }[];
    assert.deepEqual(listed.map((d) => [d.kind, d.subject, d.action, d.source]), [['suspected-infection', INFECTED, 'observation-emitted', 'dns@test']]);
  });
});
