/**
 * Policy updates reach every worker thread whole, and no query is lost on the way (issue 3:
 * "take effect atomically ... without dropping queries"), through the real commands on
 * loopback: `sakimori dns serve --threads 2` with a zone file rewritten under it, and with a
 * zone pulled from `sakimori rpz serve` changed by `rpz add|remove` (NOTIFY -> IXFR, each
 * step kept as changes over the shared table). Throughout each update 16 UDP sockets (16
 * source ports: the kernel spreads them over both threads, each always to the same one)
 * ask for the changed name every 10 ms: every socket must see the new policy, none may go
 * back to the old one after seeing the new (a thread reading a half-made or older version),
 * and every query must be answered. Correctness only: the times are benchmarks
 * (bench/policy-update.ts).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PolicyProbe, type PolicyAnswer } from './peers/policy-probe.ts';
import { freePort } from './peers/ports.ts';
import { startSakimoriRpz, RPZ_ZONE, type SakimoriRpz } from './peers/rpz-feed.ts';
import { dnsServe, type Served } from './peers/dns-serve.ts';
import { systemClock } from '../src/core/index.ts';
import { DnsFirewall, dnsMigrations } from '../src/dns/index.ts';
import { NO_MATCH } from '../src/dns/policy/index.ts';
import { AuditLog, privacyMigrations } from '../src/privacy/index.ts';
import { openStore } from '../src/store/index.ts';
import { silentLogger } from '../src/telemetry/index.ts';

const FILLER = 5000;
const msgs = (s: Served) => s.logs().map((l) => JSON.stringify(l)).join('\n');

/** A zone with FILLER names, `*.t.example` NXDOMAIN, and `lines` added. */
function zoneText(origin: string, lines: readonly string[], serial = 1): string {
  const out = [`$ORIGIN ${origin}.`, '$TTL 60', `@ SOA localhost. hostmaster.localhost. ${serial} 3600 600 86400 60`, '@ NS localhost.', '*.t.example CNAME .', ...lines];
  for (let i = 0; i < FILLER; i++) out.push(`n${i}.filler.example CNAME .`);
  return `${out.join('\n')}\n`;
}

/** Runs `update` with the probe asking for `name`; asserts every socket moved from `from` to `to`, never back, and nothing was lost. */
async function step(probe: PolicyProbe, name: string, from: PolicyAnswer, to: PolicyAnswer, update: () => Promise<void>, why: () => string): Promise<void> {
  probe.run(name, from, to);
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(probe.firstNew.filter((x) => x !== undefined).length, 0, `${name} is ${to} before the update`);
  assert.ok(probe.olds > 0, `${name} answered ${from} before the update`);
  await update();
  probe.mark();
  const all = await probe.untilAllNew(15_000);
  // Keep asking a while: a thread that swapped back to an older version would show here.
  await new Promise((r) => setTimeout(r, 300));
  const { sent, flips, others, firstNew } = probe;
  const lost = await probe.stop();
  assert.ok(all, `only ${firstNew.filter((x) => x !== undefined).length} of 16 source ports saw ${name} as ${to} within 15 s\n${why()}`);
  assert.equal(flips, 0, `${flips} answers went back to ${from} after the new policy was seen`);
  assert.equal(others, 0, `${others} answers were neither ${from} nor ${to}`);
  assert.ok(sent > 100, `the stream ran (${sent} queries)`);
  assert.equal(lost, 0, `${lost} of ${sent} queries were never answered during the update`);
}

describe('policy updates with worker threads: every thread, whole, nothing lost', { timeout: 300_000 }, () => {
  let dir: string;
  const probe = new PolicyProbe(16, 10);

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sakimori-policy-update-'));
  });
  after(() => {
    probe.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a zone file rewritten under `dns serve --threads 2` (renamed over, then written in place)', async () => {
    const file = join(dir, 'cc.zone');
    writeFileSync(file, zoneText('cc.rpz.test', []));
    // Nothing listens on the upstream port: every probed name is answered from policy.
    const fw = await dnsServe(['--threads', '2', '--detect', 'off', '--upstream', `127.0.0.1:${await freePort()}`, '--rpz', file], mkdtempSync(join(dir, 'fw-')));
    try {
      await probe.open(fw.port);
      await step(probe, 'p.t.example', 'nxdomain', 'nodata', async () => {
        writeFileSync(`${file}.new`, zoneText('cc.rpz.test', ['p.t.example CNAME *.']));
        renameSync(`${file}.new`, file);
      }, () => msgs(fw));
      await step(probe, 'n77.filler.example', 'nxdomain', 'nodata', async () => {
        writeFileSync(file, zoneText('cc.rpz.test', ['p.t.example CNAME *.']).replace('n77.filler.example CNAME .', 'n77.filler.example CNAME *.'));
      }, () => msgs(fw));
      // Both read as a difference (policy/file-image.ts), not whole.
      assert.equal(fw.logs().filter((l) => /updated from .* as a difference/.test(l.msg)).length, 2, msgs(fw));
    } finally {
      probe.close();
      await fw.close();
    }
  });

  it('a zone from `rpz serve` changed by `rpz add|remove` (IXFR steps kept over the shared table) under `dns serve --threads 2`', async () => {
    const notifyPort = await freePort();
    const feed: SakimoriRpz = await startSakimoriRpz(mkdtempSync(join(dir, 'feed-')), [`127.0.0.1:${notifyPort}`]);
    let fw: Served | undefined;
    try {
      writeFileSync(feed.file, zoneText(RPZ_ZONE, [], 2));
      // rpz serve checks its file every second; wait until it serves the filler names.
      const t0 = Date.now();
      while (!feed.logs().some((l) => /now at serial 2/.test(l.msg)) && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 100));
      assert.ok(feed.logs().some((l) => /now at serial 2/.test(l.msg)), feed.logs().map((l) => l.msg).join('\n'));
      fw = await dnsServe(['--threads', '2', '--detect', 'off', '--upstream', `127.0.0.1:${await freePort()}`, '--rpz-primary', `${RPZ_ZONE}=127.0.0.1:${feed.port}`, '--notify-listen', `127.0.0.1:${notifyPort}`], mkdtempSync(join(dir, 'fw-')));
      const served = fw;
      const cli = async (args: string[]) => {
        const r = await feed.cli([...args, '--zone', RPZ_ZONE, '--file', feed.file]);
        assert.equal(r.code, 0, r.stderr);
      };
      await probe.open(served.port);
      // The filler names must be in force (the first load is the whole zone).
      await step(probe, 'n5.filler.example', 'nxdomain', 'nodata', () => cli(['add', '--name', 'n5.filler.example', '--action', 'nodata']), () => msgs(served));
      // A new exact name over the wildcard, then its removal: the wildcard answers again.
      await step(probe, 'p.t.example', 'nxdomain', 'nodata', () => cli(['add', '--name', 'p.t.example', '--action', 'nodata']), () => msgs(served));
      await step(probe, 'p.t.example', 'nodata', 'nxdomain', () => cli(['remove', '--name', 'p.t.example']), () => msgs(served));
      assert.ok(served.logs().filter((l) => /updated by IXFR/.test(l.msg)).length >= 3, msgs(served));
      assert.equal(served.logs().filter((l) => /updated by AXFR/.test(l.msg)).length, 1, 'only the first load was a full transfer');
    } finally {
      probe.close();
      await fw?.close();
      await feed.close();
    }
  });

  it('the main thread reads the versions the workers get (WorkerPlane.mainZones: the same shared tables, no second load)', async () => {
    const allow = join(dir, 'allow.zone');
    writeFileSync(allow, ['$ORIGIN allow.rpz.test.', '@ SOA localhost. h.localhost. 1 3600 600 86400 60', 'ok.example CNAME rpz-passthru.', ''].join('\n'));
    const store = await openStore('sqlite::memory:');
    await store.migrate([...privacyMigrations, ...dnsMigrations]);
    const audit = new AuditLog(store, { flushIntervalMs: 0 });
    const fw = new DnsFirewall(
      { listen: [{ host: '127.0.0.1', port: 0 }], upstreams: [{ host: '127.0.0.1', port: await freePort() }], zones: [{ name: 'allow.rpz.test', file: allow, kind: 'allow', format: 'rpz' }], threads: 2, detect: false },
      { store, audit, logger: silentLogger, clock: systemClock },
    );
    try {
      await fw.start();
      const local = fw.pool!.mainZones;
      const zoneOf = (q: string) => {
        const d = local.engine.decide(q, undefined, 1);
        return d === NO_MATCH ? 'none' : `${local.kindOf(d.zone)} ${d.action}`;
      };
      assert.equal(zoneOf('ok.example'), 'allow passthru');
      assert.equal(zoneOf('new.example'), 'none');
      writeFileSync(allow, ['$ORIGIN allow.rpz.test.', '@ SOA localhost. h.localhost. 2 3600 600 86400 60', 'new.example CNAME rpz-passthru.', ''].join('\n'));
      await fw.pool!.reload('allow.rpz.test');
      assert.equal(zoneOf('new.example'), 'allow passthru');
      assert.equal(zoneOf('ok.example'), 'none');
    } finally {
      await fw.stop();
      await audit.close();
      await store.close();
    }
  });
});
