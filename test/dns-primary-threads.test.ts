/**
 * Zones from a primary with the data plane in worker threads (`dns serve --threads 2`),
 * and TSIG on `--rpz-primary` (issue 3, part A), with real peers on loopback:
 * `sakimori rpz serve` as a keyed primary (transfers and NOTIFY signed), the main thread
 * as the secondary, `sakimori rpz add` -> signed NOTIFY -> IXFR -> every worker thread
 * enforces the new name, seen by dig from many source ports (the kernel spreads UDP
 * clients over the threads by address and port), while a stream of queries is answered
 * throughout the update; and a zone handed in as a ZoneSource (DnsFirewallOptions.sources)
 * with worker threads.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { freePort, type UnboundPeer } from './peers/unbound.ts';
import { PolicyProbe } from './peers/policy-probe.ts';
import { dig, digResult, digUntil, RPZ_ZONE, startSakimoriRpz, startUpstream, type DigResult, type SakimoriRpz } from './peers/rpz-feed.ts';
import { dnsServe, type Served } from './peers/dns-serve.ts';
import { systemClock } from '../src/core/index.ts';
import { DnsFirewall, dnsMigrations } from '../src/dns/index.ts';
import { makeTsigKey, SecondaryZone } from '../src/dns/zone-transfer/index.ts';
import { AuditLog, privacyMigrations } from '../src/privacy/index.ts';
import { openStore } from '../src/store/index.ts';
import { silentLogger } from '../src/telemetry/index.ts';

const run = promisify(execFile);
const BIN = resolve(import.meta.dirname, '../bin/sakimori.js');
const SECRET = 'Zm9yLXRlc3RzLW9ubHktbm90LWEtcmVhbC1rZXktMzI=';
const KEY = `hmac-sha256:xfr-key:${SECRET}`;
const msgs = (s: Served) => s.logs().map((l) => l.msg).join('\n');

/**
 * dig A from a fixed source port (so the same kernel-chosen thread answers every time).
 * The port was free when chosen, but another socket on this machine may hold it for a
 * moment (UDP ports are picked at random): then dig cannot bind it, and it tries again.
 */
async function digFrom(port: number, srcPort: number, name: string): Promise<DigResult> {
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await run('dig', ['+time=2', '+tries=1', '+noall', '+comments', '+answer', '-b', `127.0.0.1#${srcPort}`, '@127.0.0.1', '-p', String(port), name, 'A']);
      return digResult(r.stdout);
    } catch (err) {
      const out = String((err as { stdout?: string }).stdout ?? '') + String((err as { stderr?: string }).stderr ?? '');
      if (/address in use/.test(out) && attempt < 20) {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      return { status: /timed out/.test(out) ? 'TIMEOUT' : `DIG FAILED: ${out.trim()}`, answers: [] };
    }
  }
}

describe('zones from a keyed primary, answered by worker threads', { timeout: 300_000 }, () => {
  let dir: string;
  let upstream: UnboundPeer;
  let feed: SakimoriRpz;
  let fw: Served;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sakimori-dns-primary-threads-'));
    upstream = await startUpstream();
    const notifyPort = await freePort();
    feed = await startSakimoriRpz(mkdtempSync(join(dir, 'feed-')), [`127.0.0.1:${notifyPort}=xfr-key`], ['--key', KEY, '--allow-transfer', '127.0.0.1/32=xfr-key']);
    fw = await dnsServe(['--threads', '2', '--detect', 'off', '--upstream', `127.0.0.1:${upstream.port}`, '--rpz-primary', `${RPZ_ZONE}=127.0.0.1:${feed.port}=xfr-key`, '--key', KEY, '--notify-listen', `127.0.0.1:${notifyPort}`], mkdtempSync(join(dir, 'fw-')));
  });
  after(async () => {
    await fw?.close();
    await feed?.close();
    await upstream?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads the zone by AXFR signed with the --key given for --rpz-primary, and every thread enforces it', async () => {
    assert.match(fw.out(), new RegExp(`zone ${RPZ_ZONE.replace(/\./g, '\\.')}: 5 names \\(primary 127\\.0\\.0\\.1:${feed.port}\\)`));
    assert.match(msgs(fw), /2 worker threads/);
    assert.match(msgs(fw), /loaded from primary .* by AXFR \(TSIG key xfr-key\): serial 1/);
    assert.deepEqual(await dig(fw.port, 'bad.example'), { status: 'NXDOMAIN', answers: [] });
    assert.deepEqual(await dig(fw.port, 'warn.example'), { status: 'NOERROR', answers: ['A 192.0.2.80'] });
    assert.deepEqual(await dig(fw.port, 'www.example'), { status: 'NOERROR', answers: ['A 192.0.2.1'] });
    // The primary answered signed transfers only (its allow-transfer entry requires the key).
    assert.ok(feed.logs().some((l) => /XFR/.test(l.msg) && l.key === 'xfr-key'), feed.logs().map((l) => JSON.stringify(l)).join('\n'));
  });

  it('a name added with `sakimori rpz add` (signed NOTIFY -> IXFR) is enforced by every thread within seconds, no query lost', async (ctx) => {
    // The stream's sockets are bound first, so that no port chosen below is one of theirs.
    const flow = new PolicyProbe(8, 20);
    await flow.open(fw.port);
    const ports: number[] = [];
    try {
      while (ports.length < 12) {
        const p = await freePort();
        if (!ports.includes(p)) ports.push(p);
      }
      for (const p of ports) assert.deepEqual(await digFrom(fw.port, p, 'new.example'), { status: 'NOERROR', answers: ['A 192.0.2.70'] }, `source port ${p}`);
      // A listed name that the update leaves alone: every answer, before and after, is NXDOMAIN.
      flow.run('bad.example', 'nxdomain', 'nxdomain');
      const add = await feed.cli(['add', '--zone', RPZ_ZONE, '--file', feed.file, '--name', 'new.example', '--action', 'nxdomain']);
      assert.equal(add.code, 0, add.stderr);
      const t0 = Date.now();
      const first = await digUntil(fw.port, 'new.example', (r) => r.status === 'NXDOMAIN', 10_000);
      assert.notEqual(first.ms, -1, `not enforced within 10 s: ${JSON.stringify(first.last)}\n${msgs(fw)}`);
      // Every source port, hence both threads: a thread still on the old version would answer NOERROR for its ports.
      for (const p of ports) assert.deepEqual(await digFrom(fw.port, p, 'new.example'), { status: 'NXDOMAIN', answers: [] }, `source port ${p} after the update`);
      ctx.diagnostic(`enforced ${first.ms} ms after \`rpz add\` returned; all ${ports.length} source ports NXDOMAIN ${Date.now() - t0} ms after`);
      const sent = flow.sent;
      const lost = await flow.stop();
      assert.ok(sent > 20, `the query stream ran (${sent} sent)`);
      assert.equal(lost, 0, `${lost} of ${sent} queries were not answered during the update`);
      assert.equal(flow.others, 0, `${flow.others} answers were not NXDOMAIN during the update`);
    } finally {
      // A failed assertion must not leave the stream's timer and sockets holding the test file open.
      flow.close();
    }
    assert.ok(fw.logs().some((l) => l.msg === 'NOTIFY received' && l.rcode === 0), msgs(fw));
    assert.ok(fw.logs().some((l) => /updated by IXFR/.test(l.msg) && l.serial === 2 && l.fromSerial === 1), msgs(fw));
    assert.equal(fw.logs().filter((l) => /updated by AXFR/.test(l.msg)).length, 1, 'only the first load was a full transfer');
    // And a removal, the same way.
    const rm = await feed.cli(['remove', '--zone', RPZ_ZONE, '--file', feed.file, '--name', 'bad.example']);
    assert.equal(rm.code, 0, rm.stderr);
    const gone = await digUntil(fw.port, 'bad.example', (r) => r.status === 'NOERROR', 10_000);
    assert.notEqual(gone.ms, -1, `removal not enforced within 10 s\n${msgs(fw)}`);
    for (const p of ports) assert.deepEqual(await digFrom(fw.port, p, 'bad.example'), { status: 'NOERROR', answers: ['A 192.0.2.66'] }, `source port ${p} after the removal`);
  });

  it('a zone from another source (DnsFirewallOptions.sources: a SecondaryZone) is served by worker threads too, each IXFR reaching every thread', async () => {
    const store = await openStore('sqlite::memory:');
    await store.migrate([...privacyMigrations, ...dnsMigrations]);
    const audit = new AuditLog(store, { flushIntervalMs: 0 });
    const secondary = new SecondaryZone({ zone: RPZ_ZONE, primary: { host: '127.0.0.1', port: feed.port }, key: makeTsigKey({ name: 'xfr-key', secret: SECRET }) });
    const fw2 = new DnsFirewall(
      { listen: [{ host: '127.0.0.1', port: 0 }], upstreams: [{ host: '127.0.0.1', port: upstream.port }], sources: [{ spec: { name: RPZ_ZONE, kind: 'cc' }, source: secondary }], threads: 2, detect: false },
      { store, audit, logger: silentLogger, clock: systemClock },
    );
    try {
      await fw2.start();
      const port = fw2.addresses[0]!.address.port;
      assert.equal(fw2.zoneStatus()[0]?.serial, secondary.status().serial);
      assert.deepEqual(await dig(port, 'a.wild.example'), { status: 'NXDOMAIN', answers: [] });
      assert.deepEqual(await dig(port, 'www.example'), { status: 'NOERROR', answers: ['A 192.0.2.1'] });
      const add = await feed.cli(['add', '--zone', RPZ_ZONE, '--file', feed.file, '--name', 'www.example', '--action', 'nxdomain']);
      assert.equal(add.code, 0, add.stderr);
      // No NOTIFY listener here: ask for the change as the refresh timer would.
      for (let i = 0; i < 50 && secondary.status().transfers.ixfr === 0; i++) {
        await secondary.refresh();
        if (secondary.status().transfers.ixfr === 0) await new Promise((r) => setTimeout(r, 200));
      }
      assert.equal(secondary.status().transfers.ixfr, 1, JSON.stringify(secondary.status()));
      const seen = await digUntil(port, 'www.example', (r) => r.status === 'NXDOMAIN', 5_000);
      assert.notEqual(seen.ms, -1, JSON.stringify(seen.last));
      for (let i = 0; i < 12; i++) assert.deepEqual(await digFrom(port, await freePort(), 'www.example'), { status: 'NXDOMAIN', answers: [] });
    } finally {
      await fw2.stop();
      await audit.close();
      await store.close();
    }
  });

  it('with a wrong secret for the key, the primary refuses the transfer and DNS is not answered', async () => {
    const wrong = `hmac-sha256:xfr-key:${Buffer.from('not-the-secret-the-primary-has!!').toString('base64')}`;
    const bad = await dnsServe(['--upstream', `127.0.0.1:${upstream.port}`, '--rpz-primary', `${RPZ_ZONE}=127.0.0.1:${feed.port}=xfr-key`, '--key', wrong], mkdtempSync(join(dir, 'fw-wrong-')), false);
    try {
      const t0 = Date.now();
      while (!bad.logs().some((l) => /waiting for the first transfer/.test(l.msg)) && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 100));
      const waiting = bad.logs().find((l) => /waiting for the first transfer/.test(l.msg));
      assert.ok(waiting, msgs(bad));
      assert.match(waiting.msg, /NOTAUTH|BADSIG|TSIG/i);
      assert.equal(bad.port, 0, 'no DNS listener before the zone is loaded');
    } finally {
      await bad.close();
    }
  });

  it('a listen address already taken: dns serve --threads 2 exits with the error (the primary\'s NOTIFY socket and timers stop too)', async () => {
    const notifyPort = await freePort();
    const taken = await dnsServe(['--threads', '2', '--listen', `127.0.0.1:${feed.port}`, '--upstream', `127.0.0.1:${upstream.port}`, '--rpz-primary', `${RPZ_ZONE}=127.0.0.1:${feed.port}=xfr-key`, '--key', KEY, '--notify-listen', `127.0.0.1:${notifyPort}`], mkdtempSync(join(dir, 'fw-taken-')), false);
    try {
      const code = await new Promise<number | null>((res) => {
        if (taken.child.exitCode !== null) return res(taken.child.exitCode);
        taken.child.once('exit', (c) => res(c));
        setTimeout(() => res(-1), 60_000).unref();
      });
      assert.notEqual(code, -1, `still running 60 s after the bind failed:\n${msgs(taken)}`);
      assert.notEqual(code, 0);
      assert.match(msgs(taken) + taken.out(), /loaded from primary/, 'the zone was pulled before the listeners were bound');
    } finally {
      await taken.close();
    }
  });

  it('--rpz-primary ...=KEY with a key neither --key nor tsig.keys defines is a clear error', () => {
    const r = spawnSync(process.execPath, [BIN, 'dns', 'serve', '--listen', '127.0.0.1:0', '--upstream', '127.0.0.1:53', '--rpz-primary', `${RPZ_ZONE}=127.0.0.1:53=other-key`, '--key', KEY], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /--rpz-primary cc\.rpz\.sakimori=127\.0\.0\.1:53=other-key names TSIG key other-key, which is not defined \(defined: xfr-key\)/);
    assert.match(r.stderr, /give it with --key/);
    const help = spawnSync(process.execPath, [BIN, 'dns', 'serve', '--help'], { encoding: 'utf8', timeout: 60_000 });
    assert.match(help.stdout, /--rpz-primary <name=addr:port\[=key\]>/);
    assert.match(help.stdout, /--key <\[alg:\]name:secret>/);
  });
});
