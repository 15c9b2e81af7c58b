/**
 * The firewall's local copy of a zone pulled from a primary, end to end with the real
 * commands: `sakimori dns serve --rpz-primary` pulls from `sakimori rpz serve` and writes
 * data/zones/ZONE.zone; restarted while the primary is down it answers from the copy at
 * once (warned), and when the primary is back a NOTIFY brings an IXFR from the copy's
 * serial, not a full transfer.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, type UnboundPeer } from './peers/unbound.ts';
import { dig, digUntil, RPZ_ZONE, startSakimoriRpz, startUpstream, type SakimoriRpz } from './peers/rpz-feed.ts';
import { dnsServe, type Served } from './peers/dns-serve.ts';

let dir: string;
let upstream: UnboundPeer;
const open: { close(): Promise<void> }[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sakimori-primary-copy-'));
  upstream = await startUpstream();
});
after(async () => {
  for (const p of open.reverse()) await p.close().catch(() => undefined);
  await upstream?.close();
  rmSync(dir, { recursive: true, force: true });
});

const msgs = (s: Served) => s.logs().map((l) => `${l.level} ${l.msg}`).join('\n');

describe('dns serve: local copy of a zone from a primary', { timeout: 240_000 }, () => {
  it('serves the copy when restarted with the primary down, then takes IXFR from its serial when the primary is back', async () => {
    const rpzPort = await freePort();
    const notifyPort = await freePort();
    const feedDir = mkdtempSync(join(dir, 'feed-'));
    const fwDir = mkdtempSync(join(dir, 'fw-'));
    const fwArgs = ['--upstream', `127.0.0.1:${upstream.port}`, '--rpz-primary', `${RPZ_ZONE}=127.0.0.1:${rpzPort}`, '--notify-listen', `127.0.0.1:${notifyPort}`];
    const copy = join(fwDir, 'data', 'zones', `${RPZ_ZONE}.zone`);

    let feed: SakimoriRpz = await startSakimoriRpz(feedDir, [`127.0.0.1:${notifyPort}`], ['--listen', `127.0.0.1:${rpzPort}`]);
    open.push(feed);
    let fw = await dnsServe(fwArgs, fwDir);
    open.push(fw);
    assert.deepEqual(await dig(fw.port, 'bad.example'), { status: 'NXDOMAIN', answers: [] });
    const deadline = Date.now() + 10_000;
    while (!existsSync(copy)) {
      assert.ok(Date.now() < deadline, `no copy at ${copy}\n${msgs(fw)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await fw.close();
    await feed.close();

    // Restarted with the primary down: answers from the copy.
    fw = await dnsServe(fwArgs, fwDir);
    open.push(fw);
    assert.deepEqual(await dig(fw.port, 'bad.example'), { status: 'NXDOMAIN', answers: [] }, msgs(fw));
    assert.deepEqual(await dig(fw.port, 'www.example'), { status: 'NOERROR', answers: ['A 192.0.2.1'] });
    assert.ok(fw.logs().some((l) => l.level === 'warn' && /the primary is unreachable; serving the local copy of cc\.rpz\.sakimori at serial 1/.test(l.msg)), msgs(fw));
    assert.ok(!fw.logs().some((l) => /not answering DNS yet/.test(l.msg)), 'no wait for the primary');

    // The primary is back, with a change: NOTIFY -> IXFR from serial 1.
    feed = await startSakimoriRpz(feedDir, [`127.0.0.1:${notifyPort}`], ['--listen', `127.0.0.1:${rpzPort}`]);
    open.push(feed);
    const add = await feed.cli(['add', '--zone', RPZ_ZONE, '--file', feed.file, '--name', 'new.example', '--action', 'nxdomain']);
    assert.equal(add.code, 0, add.stderr);
    const t = await digUntil(fw.port, 'new.example', (r) => r.status === 'NXDOMAIN', 15_000);
    assert.notEqual(t.ms, -1, `not enforced within 15 s\n${msgs(fw)}`);
    assert.ok(fw.logs().some((l) => /updated by IXFR/.test(l.msg) && l.fromSerial === 1 && l.serial === 2), msgs(fw));
    assert.ok(!fw.logs().some((l) => /updated by AXFR/.test(l.msg)), 'no full transfer after the restart');
  });
});
