/**
 * The warning page's redirect (issue 3: local data "used to send malware-site lookups to
 * the warning page"): a local-data CNAME's target is a new query name, checked against the
 * policy again — the never-block list first, then every zone — and answered accordingly,
 * with real dig and `sakimori dns serve`, Unbound as the upstream (loopback only):
 * a target no policy covers is resolved upstream; a target with local data is answered
 * from it (also through a second CNAME); a target listed for NXDOMAIN, NODATA or DROP is
 * answered so; a never-block target is resolved upstream even when a zone lists it; a loop
 * in the zones ends with the CNAMEs so far, never a query upstream.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startUnbound, type UnboundPeer } from './peers/unbound.ts';
import { dig } from './peers/rpz-feed.ts';
import { dnsServe, type Served } from './peers/dns-serve.ts';

const run = promisify(execFile);

const MALWARE = [
  '$ORIGIN malware.rpz.test.',
  '$TTL 60',
  '@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 60',
  '@ NS localhost.',
  'plain.example CNAME warning.isp.example.', //  target in no zone: resolved upstream
  'local.example CNAME page.isp.example.', //     target with local data in this zone
  'page.isp.example A 192.0.2.81',
  'hop.example CNAME hop1.isp.example.', //       two CNAMEs of local data, then upstream
  'hop1.isp.example CNAME warning.isp.example.',
  'listed.example CNAME blocked.isp.example.', // target listed in the cc zone (a later zone)
  'empty.example CNAME nodata.isp.example.', //   target NODATA in the cc zone
  'gone.example CNAME dropme.isp.example.', //    target DROP in the cc zone
  'kept.example CNAME allowed.isp.example.', //   target listed in cc but never-block
  'loop1.example CNAME loop2.example.', //        a loop in the zone
  'loop2.example CNAME loop1.example.',
  '',
].join('\n');

const CC = [
  '$ORIGIN cc.rpz.test.',
  '$TTL 60',
  '@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 60',
  '@ NS localhost.',
  'blocked.isp.example CNAME .',
  'nodata.isp.example CNAME *.',
  'dropme.isp.example CNAME rpz-drop.',
  'allowed.isp.example CNAME .',
  '',
].join('\n');

for (const threads of ['0', '2']) describe(`a local-data CNAME target is checked against the policy again (${threads === '0' ? 'main thread' : `${threads} worker threads`})`, { timeout: 180_000 }, () => {
  let dir: string;
  let upstream: UnboundPeer;
  let fw: Served;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sakimori-cname-target-'));
    // Every name exists upstream with its own address, so a policy answer is told apart.
    const names = { 'warning.isp': 80, 'page.isp': 99, 'hop1.isp': 98, 'blocked.isp': 66, 'nodata.isp': 67, 'dropme.isp': 68, 'allowed.isp': 69, loop1: 71, loop2: 72 };
    upstream = await startUnbound({ localZones: ['"example." static'], localData: Object.entries(names).map(([n, i]) => `"${n}.example. 60 IN A 192.0.2.${i}"`) });
    writeFileSync(join(dir, 'malware.rpz'), MALWARE);
    writeFileSync(join(dir, 'cc.rpz'), CC);
    writeFileSync(join(dir, 'allow.txt'), 'allowed.isp.example\n');
    fw = await dnsServe(['--threads', threads, '--detect', 'off', '--upstream', `127.0.0.1:${upstream.port}`, '--rpz', join(dir, 'malware.rpz'), '--rpz', join(dir, 'cc.rpz'), '--allow', join(dir, 'allow.txt')], dir);
  });
  after(async () => {
    await fw?.close();
    await upstream?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a target no policy covers is resolved upstream and chained after the CNAME', async () => {
    assert.deepEqual(await dig(fw.port, 'plain.example'), { status: 'NOERROR', answers: ['CNAME warning.isp.example.', 'A 192.0.2.80'] });
  });

  it('a target with local data is answered from it, also through a second CNAME, over UDP and TCP', async () => {
    assert.deepEqual(await dig(fw.port, 'local.example'), { status: 'NOERROR', answers: ['CNAME page.isp.example.', 'A 192.0.2.81'] });
    assert.deepEqual(await dig(fw.port, 'hop.example'), { status: 'NOERROR', answers: ['CNAME hop1.isp.example.', 'CNAME warning.isp.example.', 'A 192.0.2.80'] });
    const tcp = await run('dig', ['+tcp', '+time=2', '+tries=1', '+noall', '+answer', '@127.0.0.1', '-p', String(fw.port), 'local.example', 'A']);
    assert.deepEqual(tcp.stdout.trim().split('\n').map((l) => l.split(/\s+/).slice(3).join(' ')), ['CNAME page.isp.example.', 'A 192.0.2.81']);
  });

  it('a target listed in another zone is answered by that zone: NXDOMAIN, NODATA, DROP', async () => {
    assert.deepEqual(await dig(fw.port, 'listed.example'), { status: 'NXDOMAIN', answers: ['CNAME blocked.isp.example.'] });
    assert.deepEqual(await dig(fw.port, 'empty.example'), { status: 'NOERROR', answers: ['CNAME nodata.isp.example.'] });
    assert.deepEqual(await dig(fw.port, 'gone.example'), { status: 'TIMEOUT', answers: [] });
  });

  it('a never-block target is resolved upstream although a zone lists it', async () => {
    assert.deepEqual(await dig(fw.port, 'kept.example'), { status: 'NOERROR', answers: ['CNAME allowed.isp.example.', 'A 192.0.2.69'] });
    assert.deepEqual(await dig(fw.port, 'allowed.isp.example'), { status: 'NOERROR', answers: ['A 192.0.2.69'] });
  });

  it('a CNAME loop in the zones ends with the CNAMEs so far, logged once (per thread), and the server keeps answering', async () => {
    assert.deepEqual(await dig(fw.port, 'loop1.example'), { status: 'NOERROR', answers: ['CNAME loop2.example.', 'CNAME loop1.example.'] });
    assert.deepEqual(await dig(fw.port, 'loop1.example'), { status: 'NOERROR', answers: ['CNAME loop2.example.', 'CNAME loop1.example.'] });
    // Once per thread that saw it: with worker threads the two digs (two source ports) may land on two workers.
    const warned = fw.logs().filter((l) => /round a CNAME chain/.test(l.msg));
    assert.ok(warned.length >= 1 && warned.length <= Math.max(1, Number(threads)), fw.logs().map((l) => l.msg).join('\n'));
    assert.match(warned[0]!.msg, /loop1\.example -> loop2\.example -> loop1\.example: a loop/);
    assert.deepEqual(await dig(fw.port, 'plain.example'), { status: 'NOERROR', answers: ['CNAME warning.isp.example.', 'A 192.0.2.80'] });
  });
});
