/**
 * Interop (issue 3, part B): Debian's BIND 9 (`named`), with a secondary zone whose
 * primary is `sakimori rpz serve` and that zone in `response-policy`, enforces the
 * policy, and enforces a name added with `sakimori rpz add` within seconds, by NOTIFY and
 * an incremental IXFR (checked in Sakimori's log and in named's), and a name removed the
 * same way. Everything stays on loopback: named forwards only, to a throwaway upstream
 * Unbound, and its root hints name 127.0.0.1.
 *
 * `min-update-interval 0`: BIND applies a new RPZ version at most once per
 * min-update-interval (default 60 s); an ISP that wants changes within seconds sets it
 * low, as here.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, type UnboundPeer } from './peers/unbound.ts';
import { startBind9, type Bind9Peer } from './peers/bind9.ts';
import { dig, digUntil, RPZ_ZONE, startSakimoriRpz, startUpstream, transfers, type SakimoriRpz } from './peers/rpz-feed.ts';

let dir: string;
let upstream: UnboundPeer;
let feed: SakimoriRpz;
let resolver: Bind9Peer;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sakimori-rpz-bind9-'));
  upstream = await startUpstream();
  const port = await freePort();
  feed = await startSakimoriRpz(dir, [`127.0.0.1:${port}`]);
  resolver = await startBind9({
    port,
    options: [
      'recursion yes;',
      'allow-recursion { 127.0.0.0/8; };',
      `forwarders { 127.0.0.1 port ${upstream.port}; };`,
      'forward only;',
      `response-policy { zone "${RPZ_ZONE}" min-update-interval 0; } qname-wait-recurse no;`,
    ],
    statements: [`zone "${RPZ_ZONE}" { type secondary; primaries { 127.0.0.1 port ${feed.port}; }; file "cc.rpz.db"; };`],
  });
});

after(async () => {
  await resolver?.close();
  await feed?.close();
  await upstream?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('BIND 9 with Sakimori as its RPZ primary', () => {
  it('loads the zone by AXFR and enforces every action', async () => {
    const first = await digUntil(resolver.port, 'bad.example', (r) => r.status === 'NXDOMAIN', 20_000);
    assert.notEqual(first.ms, -1, `the zone never took effect: ${JSON.stringify(first.last)}\n${resolver.log().slice(-3000)}`);
    assert.deepEqual(await dig(resolver.port, 'www.example'), { status: 'NOERROR', answers: ['A 192.0.2.1'] }, 'names not in the policy resolve through the upstream');
    assert.deepEqual(await dig(resolver.port, 'bad.example'), { status: 'NXDOMAIN', answers: [] });
    assert.deepEqual(await dig(resolver.port, 'a.wild.example'), { status: 'NXDOMAIN', answers: [] });
    assert.deepEqual(await dig(resolver.port, 'nodata.example'), { status: 'NOERROR', answers: [] });
    assert.deepEqual(await dig(resolver.port, 'warn.example'), { status: 'NOERROR', answers: ['A 192.0.2.80'] });
    assert.deepEqual(await dig(resolver.port, 'ok.example'), { status: 'NOERROR', answers: ['A 192.0.2.69'] });
    assert.match(resolver.log(), new RegExp(`transfer of '${RPZ_ZONE}/IN' from 127\\.0\\.0\\.1#${feed.port}: Transfer status: success`));
    assert.ok(transfers(feed.logs()).some((x) => x.type === 'AXFR' && x.style === 'full' && x.serial === 1), JSON.stringify(transfers(feed.logs())));
  });

  it('enforces a name added with `sakimori rpz add` within seconds, by NOTIFY and an incremental IXFR', async (ctx) => {
    assert.deepEqual(await dig(resolver.port, 'new.example'), { status: 'NOERROR', answers: ['A 192.0.2.70'] }, 'resolved (and cached) before the change');
    const add = await feed.cli(['add', '--zone', RPZ_ZONE, '--file', feed.file, '--name', 'new.example', '--action', 'nxdomain']);
    assert.equal(add.code, 0, add.stderr);
    assert.match(add.stdout, /serial 1 -> 2/);
    const t = await digUntil(resolver.port, 'new.example', (r) => r.status === 'NXDOMAIN', 10_000);
    assert.notEqual(t.ms, -1, `not enforced within 10 s: ${JSON.stringify(t.last)}\n${resolver.log().slice(-3000)}`);
    assert.ok(t.ms < 5000, `enforced ${t.ms} ms after rpz add returned`);
    ctx.diagnostic(`BIND enforced the new name ${t.ms} ms after \`sakimori rpz add\` returned`);
    const ixfr = transfers(feed.logs()).filter((x) => x.type === 'IXFR' && x.serial === 2);
    assert.ok(ixfr.length >= 1, JSON.stringify(transfers(feed.logs())));
    assert.ok(ixfr.every((x) => x.style === 'incremental' && x.clientSerial === 1), `an incremental IXFR from serial 1, not a full transfer: ${JSON.stringify(ixfr)}`);
    assert.equal(transfers(feed.logs()).filter((x) => x.style === 'full').length, 1, 'only the first load was a full transfer');
    assert.match(resolver.log(), new RegExp(`zone ${RPZ_ZONE.replace(/\./g, '\\.')}/IN: notify from 127\\.0\\.0\\.1#\\d+: serial 2`));
    assert.match(resolver.log(), /rpz QNAME NXDOMAIN rewrite new\.example/);
  });

  it('stops enforcing a name removed with `sakimori rpz remove`', async () => {
    const rm = await feed.cli(['remove', '--zone', RPZ_ZONE, '--file', feed.file, '--name', 'bad.example']);
    assert.equal(rm.code, 0, rm.stderr);
    const t = await digUntil(resolver.port, 'bad.example', (r) => r.status === 'NOERROR', 10_000);
    assert.notEqual(t.ms, -1, JSON.stringify(t.last));
    assert.deepEqual(t.last.answers, ['A 192.0.2.66']);
    assert.ok(transfers(feed.logs()).some((x) => x.type === 'IXFR' && x.style === 'incremental' && x.clientSerial === 2 && x.serial === 3));
    assert.deepEqual(await dig(resolver.port, 'new.example'), { status: 'NXDOMAIN', answers: [] }, 'the rest of the policy stays');
  });
});
