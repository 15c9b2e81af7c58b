/**
 * TSIG (RFC 8945) on zone transfers and NOTIFY, with real peers on loopback:
 *  (a) `sakimori rpz serve` requiring key xfr-key from 127.0.0.1: Debian's BIND 9 as its
 *      secondary (`key` clause, `primaries { ... key xfr-key; }`) loads the zone and
 *      enforces it, and a name added with `sakimori rpz add` arrives by signed NOTIFY and
 *      signed IXFR; `dig -y` with the key transfers the zone, without a key or with a wrong
 *      one it is refused (NOTAUTH with the TSIG error), logged once per peer and key, and
 *      the secret is never in the log;
 *  (b) BIND 9 as a TSIG-requiring primary (`allow-transfer { key xfr-key; }`, signed
 *      NOTIFY to us): the firewall's PrimaryZoneSource with the key loads the zone and
 *      follows an nsupdate through signed NOTIFY and IXFR; with the wrong key it gets a
 *      clear error and nothing loads.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, type UnboundPeer } from './peers/unbound.ts';
import { startBind9, type Bind9Peer } from './peers/bind9.ts';
import { dig, digUntil, RPZ_ZONE, startSakimoriRpz, startUpstream, type SakimoriRpz } from './peers/rpz-feed.ts';
import { PrimaryZoneSource, ZoneSet, type ZoneSpec } from '../src/dns/index.ts';
import { connect } from 'node:net';
import { encodeMessage, RCode, RRType } from '../src/dns/wire/index.ts';
import { findTsig, frameMessage, makeTsigKey, queryMessage, requestTransfer, signMessage, TcpMessageReader, TsigErr, verifyMessage } from '../src/dns/zone-transfer/index.ts';

const run = promisify(execFile);
// Fixed test secrets (32 random bytes each), never used outside this test.
const SECRET = 'q9n0d8bUaXl0xS6cQ4Jm0m7ZgS1kOe2pQ4tV8x0y3Fg=';
const WRONG = 'Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE=';
const KEY_CLAUSE = `key "xfr-key" { algorithm hmac-sha256; secret "${SECRET}"; };`;

let dir: string;
let upstream: UnboundPeer;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sakimori-rpz-tsig-'));
  upstream = await startUpstream();
});
after(async () => {
  await upstream?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function digAxfr(port: number, key?: string): Promise<string> {
  const r = await run('dig', [...(key ? ['-y', key] : []), '+time=2', '+tries=1', '@127.0.0.1', '-p', String(port), RPZ_ZONE, 'AXFR']).catch((e: { stdout?: string; stderr?: string }) => ({ stdout: `${e.stdout ?? ''}${e.stderr ?? ''}` }));
  return r.stdout;
}

describe('TSIG with real peers', { timeout: 240_000 }, () => {
  describe('(a) sakimori rpz serve requiring a key; BIND 9 secondary and dig', () => {
    let feed: SakimoriRpz;
    let resolver: Bind9Peer;
    before(async () => {
      const port = await freePort();
      feed = await startSakimoriRpz(dir, [`127.0.0.1:${port}=xfr-key`], ['--key', `hmac-sha256:xfr-key:${SECRET}`, '--allow-transfer', '127.0.0.1/32=xfr-key']);
      resolver = await startBind9({
        port,
        options: [
          'recursion yes;',
          'allow-recursion { 127.0.0.0/8; };',
          `forwarders { 127.0.0.1 port ${upstream.port}; };`,
          'forward only;',
          `response-policy { zone "${RPZ_ZONE}" min-update-interval 0; } qname-wait-recurse no;`,
        ],
        statements: [KEY_CLAUSE, `zone "${RPZ_ZONE}" { type secondary; primaries { 127.0.0.1 port ${feed.port} key xfr-key; }; file "cc.rpz.db"; };`],
      });
    });
    after(async () => {
      await resolver?.close();
      await feed?.close();
    });

    it('BIND transfers the zone with the key and enforces it; a new name arrives by signed NOTIFY and IXFR', async (ctx) => {
      const first = await digUntil(resolver.port, 'bad.example', (r) => r.status === 'NXDOMAIN', 30_000);
      assert.notEqual(first.ms, -1, `the zone never took effect\n${resolver.log().slice(-3000)}\n${feed.logs().map((l) => l.msg).join('\n')}`);
      assert.deepEqual(await dig(resolver.port, 'warn.example'), { status: 'NOERROR', answers: ['A 192.0.2.80'] });
      assert.ok(feed.logs().some((l) => /AXFR \(full zone\)/.test(l.msg) && l.key === 'xfr-key'), 'the provider logged a transfer signed with xfr-key');

      const t0 = Date.now();
      // With 2000 more names, the IXFR to BIND and dig's AXFR below span several messages, each signed.
      const bulk = Array.from({ length: 2000 }, (_, i) => `n${i}.bulk.example`);
      const add = await feed.cli(['add', '--zone', RPZ_ZONE, '--file', feed.file, '--name', 'new.example', ...bulk, '--action', 'nxdomain']);
      assert.equal(add.code, 0, add.stderr);
      const t = await digUntil(resolver.port, 'new.example', (r) => r.status === 'NXDOMAIN', 15_000);
      assert.notEqual(t.ms, -1, `not enforced within 15 s\n${resolver.log().slice(-3000)}\n${feed.logs().map((l) => JSON.stringify(l)).join('\n')}`);
      ctx.diagnostic(`enforced by BIND ${Date.now() - t0} ms after rpz add started`);
      assert.ok(feed.logs().some((l) => l.msg === 'NOTIFY answered' && l.rcode === 0), 'BIND accepted the signed NOTIFY');
      assert.ok(!feed.logs().some((l) => /NOTIFY answered, but not as it should be/.test(l.msg)), 'BIND answered the NOTIFY signed');
      assert.ok(feed.logs().some((l) => /IXFR \(incremental\)/.test(l.msg) && l.key === 'xfr-key'), 'the IXFR was signed');
      assert.deepEqual(await dig(resolver.port, 'n1999.bulk.example'), { status: 'NXDOMAIN', answers: [] });
      assert.doesNotMatch(resolver.log(), /tsig verify failure|BADSIG|BADTIME/i);
    });

    it('dig -y with the key transfers; without it or with a wrong one it is refused with NOTAUTH and the TSIG error, logged once, no secret logged', async () => {
      const ok = await digAxfr(feed.port, `hmac-sha256:xfr-key:${SECRET}`);
      assert.match(ok, /bad\.example\.cc\.rpz\.sakimori\.\s+60\s+IN\s+CNAME\s+\./);
      assert.match(ok, /xfr-key\.\s+0\s+ANY\s+TSIG\s+hmac-sha256\..*NOERROR/);
      assert.doesNotMatch(ok, /Couldn't verify|failed/i);
      const messages = Number(/XFR size: \d+ records \(messages (\d+)/.exec(ok)?.[1] ?? 0);
      assert.ok(messages > 1, `a multi-message transfer, each message verified by dig (messages ${messages})`);

      const wrong = await digAxfr(feed.port, `hmac-sha256:xfr-key:${WRONG}`);
      assert.match(wrong, /BADSIG/);
      assert.doesNotMatch(wrong, /CNAME/);
      await digAxfr(feed.port, `hmac-sha256:xfr-key:${WRONG}`);
      const unknown = await digAxfr(feed.port, `hmac-sha256:someone-else:${SECRET}`);
      assert.match(unknown, /BADKEY/);
      const none = await digAxfr(feed.port);
      assert.match(none, /Transfer failed/);
      assert.doesNotMatch(none, /CNAME/);
      const status = await run('dig', ['+tcp', '+time=2', '+tries=1', '@127.0.0.1', '-p', String(feed.port), `bad.example.${RPZ_ZONE}`, 'CNAME']);
      assert.match(status.stdout, /status: NOTAUTH/, 'an unsigned record query from a client that must sign is NOTAUTH');

      const refusals = feed.logs().filter((l) => /RPZ request refused \(NOTAUTH\)/.test(l.msg));
      const badsig = refusals.filter((l) => l.tsigError === 'BADSIG');
      assert.equal(badsig.length, 1, `a wrong key twice is logged once: ${JSON.stringify(refusals)}`);
      assert.equal(badsig[0]!.client, '127.0.0.1');
      assert.equal(badsig[0]!.key, 'xfr-key');
      assert.ok(refusals.some((l) => l.tsigError === 'BADKEY' && l.key === 'someone-else'));
      assert.ok(refusals.some((l) => /AXFR without TSIG, but this client must sign with key xfr-key/.test(l.msg)));
      const all = feed.logs().map((l) => JSON.stringify(l)).join('\n');
      assert.ok(!all.includes(SECRET) && !all.includes(WRONG), 'no secret in the log');
    });

    it('a request signed with a clock 20 minutes off gets NOTAUTH with BADTIME, signed, carrying the server time; our own client transfers with the key', async () => {
      const key = makeTsigKey({ name: 'xfr-key', secret: SECRET });
      const stale = Math.floor(Date.now() / 1000) - 1200;
      const req = signMessage(encodeMessage(queryMessage(RPZ_ZONE, RRType.AXFR)), key, { time: stale });
      const answer = await new Promise<Uint8Array>((resolve, reject) => {
        const sock = connect({ host: '127.0.0.1', port: feed.port });
        const frames = new TcpMessageReader();
        sock.on('error', reject);
        sock.on('connect', () => sock.write(frameMessage(req.bytes)));
        sock.on('data', (c: Buffer) => {
          const [m] = frames.push(c);
          if (m) {
            sock.destroy();
            resolve(m);
          }
        });
      });
      assert.equal(answer[3]! & 0x0f, RCode.NOTAUTH);
      const f = findTsig(answer);
      assert.ok(f && 'record' in f, JSON.stringify(f));
      assert.equal(f.record.error, TsigErr.BADTIME);
      assert.equal(f.record.timeSigned, stale, 'signed with the time of the request, so the client can check it');
      const serverTime = Buffer.from(f.record.other).readUIntBE(0, 6);
      assert.ok(Math.abs(serverTime - Date.now() / 1000) < 60, `other data holds the server's time: ${serverTime}`);
      assert.ok(verifyMessage(answer, f, key, { requestMac: req.mac, now: stale }).ok, 'the BADTIME answer is signed over the request MAC');
      // The log comes from the child's stderr: give it a moment.
      for (let i = 0; i < 50 && !feed.logs().some((l) => l.tsigError === 'BADTIME'); i++) await new Promise((r) => setTimeout(r, 100));
      assert.ok(feed.logs().some((l) => l.tsigError === 'BADTIME' && /beyond the fudge of 300 s: check both clocks/.test(l.msg)), feed.logs().map((l) => l.msg).join('\n'));

      const r = await requestTransfer({ host: '127.0.0.1', port: feed.port }, { zone: RPZ_ZONE, type: 'AXFR', key });
      assert.equal(r.outcome.kind, 'full');
      await assert.rejects(requestTransfer({ host: '127.0.0.1', port: feed.port }, { zone: RPZ_ZONE, type: 'AXFR', key: makeTsigKey({ name: 'xfr-key', secret: WRONG }) }), /TSIG BADSIG/);
      await assert.rejects(requestTransfer({ host: '127.0.0.1', port: feed.port }, { zone: RPZ_ZONE, type: 'AXFR' }), /NOTAUTH.*set the zone's key/);
    });
  });

  describe('(b) BIND 9 as a primary that requires the key', () => {
    const zone = 'malware.rpz.tsig';
    let named: Bind9Peer;
    let notifyPort: number;
    before(async () => {
      notifyPort = await freePort();
      named = await startBind9({
        // 3000 names more: the AXFR spans several messages, so BIND's per-message signatures (RFC 8945 §5.3.1) are checked.
        files: { 'malware.db': `$ORIGIN ${zone}.\n$TTL 60\n@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 60\n@ NS localhost.\nwarn.example A 192.0.2.80\n${Array.from({ length: 3000 }, (_, i) => `n${i}.bulk.example CNAME .\n`).join('')}` },
        statements: [
          KEY_CLAUSE,
          `zone "${zone}" { type primary; file "malware.db"; max-ixfr-ratio unlimited; allow-update { 127.0.0.1; }; allow-transfer { key xfr-key; }; notify explicit; also-notify { 127.0.0.1 port ${notifyPort} key xfr-key; }; };`,
        ],
      });
    });
    after(async () => {
      await named?.close();
    });

    const spec = (secret: string, notifyListen?: string): ZoneSpec => ({
      name: zone,
      file: '',
      primary: `127.0.0.1:${named.port}`,
      kind: 'malware-sites',
      format: 'rpz',
      key: 'xfr-key',
      tsigKey: makeTsigKey({ name: 'xfr-key', algorithm: 'hmac-sha256', secret }),
      ...(notifyListen ? { notifyListen } : {}),
    });

    it('the firewall pulls the zone with the key and follows nsupdate by signed NOTIFY and IXFR', async () => {
      const logs: string[] = [];
      const source = new PrimaryZoneSource(spec(SECRET, `127.0.0.1:${notifyPort}`), { log: (level, msg, d) => logs.push(`${level} ${msg} ${JSON.stringify(d ?? {})}`) });
      const set = new ZoneSet([{ spec: { name: zone, kind: 'malware-sites' }, source }]);
      try {
        await set.start();
        assert.equal(set.engine.decide('warn.example', undefined, RRType.A).action, 'local-data');
        assert.equal(set.engine.decide('n2999.bulk.example', undefined, RRType.A).action, 'nxdomain', 'the last name of a multi-message AXFR');
        assert.ok((source.status().names ?? 0) >= 3001, JSON.stringify(source.status()));
        const u = spawn('nsupdate', ['-v'], { stdio: ['pipe', 'pipe', 'pipe'] });
        let uerr = '';
        u.stderr.setEncoding('utf8').on('data', (s: string) => (uerr += s));
        u.stdin.end(`server 127.0.0.1 ${named.port}\nzone ${zone}\nupdate add new.example.${zone}. 60 CNAME .\nsend\n`);
        assert.equal(await new Promise<number | null>((r) => u.on('exit', r)), 0, uerr);
        const end = Date.now() + 15_000;
        while (set.engine.decide('new.example', undefined, RRType.A).action !== 'nxdomain') {
          assert.ok(Date.now() < end, `not enforced within 15 s\n${logs.join('\n')}\n${named.log().slice(-3000)}`);
          await new Promise((r) => setTimeout(r, 100));
        }
        const st = source.secondary.status();
        assert.equal(st.serial, 2);
        assert.equal(st.transfers.ixfr, 1, logs.join('\n'));
        assert.ok(logs.some((l) => /NOTIFY received/.test(l)), logs.join('\n'));
        assert.ok(!logs.some((l) => /NOTIFY refused/.test(l)), logs.join('\n'));
        assert.equal(source.status().expired, false);
      } finally {
        await set.stop();
      }
    });

    it('with the wrong secret: a clear TSIG error and nothing loaded', async () => {
      const logs: string[] = [];
      const source = new PrimaryZoneSource(spec(WRONG), { log: (level, msg) => logs.push(`${level} ${msg}`) });
      const set = new ZoneSet([{ spec: { name: zone, kind: 'malware-sites' }, source }]);
      const started = set.start();
      try {
        const end = Date.now() + 15_000;
        while (!source.secondary.status().lastError) {
          assert.ok(Date.now() < end, logs.join('\n'));
          await new Promise((r) => setTimeout(r, 100));
        }
        const err = source.secondary.status().lastError!.join(' ');
        assert.match(err, /TSIG BADSIG/, err);
        assert.equal(source.secondary.status().serial, undefined);
        assert.match(named.log(), /tsig verify failure|bad signature|BADSIG|signature failed to verify/i);
      } finally {
        await set.stop();
        await started.catch(() => undefined);
      }
    });
  });
});
