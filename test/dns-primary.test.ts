/**
 * Zones pulled from a primary (issue 3, part A: "from files or pulled from a primary by
 * AXFR/IXFR"), with real peers on loopback:
 *  (a) `sakimori rpz serve` as the primary: `sakimori rpz add` -> NOTIFY -> IXFR, and the
 *      data plane (`sakimori dns serve --rpz-primary`) enforces the new name within seconds;
 *  (b) BIND 9 as the primary, its zone changed with `nsupdate` -> NOTIFY -> IXFR -> enforced;
 *  (c) a primary that is unreachable, refuses, or sends garbage: a clear error, the policy
 *      in force stays; and a first start waits for the first transfer before answering.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { freePort, type UnboundPeer } from './peers/unbound.ts';
import { startBind9, type Bind9Peer } from './peers/bind9.ts';
import { dig, digUntil, initialZone, RPZ_ZONE, startSakimoriRpz, startUpstream, type LogLine, type SakimoriRpz } from './peers/rpz-feed.ts';
import { dnsServe, type Served } from './peers/dns-serve.ts';

const BIN = resolve(import.meta.dirname, '../bin/sakimori.js');
import { PrimaryZoneSource, ZoneSet } from '../src/dns/index.ts';
import { decodeMessage, encodeMessage, RCode } from '../src/dns/wire/index.ts';
import { frameMessage, headerOnlyReply, TcpMessageReader } from '../src/dns/zone-transfer/index.ts';
import { checkConfigText, formatConfigProblem } from '../src/config/index.ts';

const msgs = (s: Served) => s.logs().map((l) => l.msg).join('\n');

async function until(ok: () => boolean, ms: number): Promise<boolean> {
  const t0 = Date.now();
  while (!ok()) {
    if (Date.now() - t0 > ms) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
  return true;
}

describe('dns.zones from a primary: config', () => {
  it('takes exactly one of file and primary, with a clear error otherwise', () => {
    const problems = (zones: string, extra = '') => checkConfigText(`dns:\n${extra}  zones:\n${zones}`, 'sakimori.yaml').problems.map(formatConfigProblem).join('\n');
    assert.match(problems('    - { name: cc.rpz.example, file: /tmp/x, primary: "127.0.0.1:53" }\n'), /sakimori\.yaml:3.*dns\.zones\[0\]\.primary.*has both file and primary/);
    assert.match(problems('    - { name: cc.rpz.example }\n'), /dns\.zones\[0\].*has neither file nor primary/);
    assert.match(problems('    - { name: cc.rpz.example, primary: "127.0.0.1" }\n'), /dns\.zones\[0\]\.primary.*has no port/);
    assert.match(problems('    - { name: cc.rpz.example, file: /tmp/x, notifyListen: "127.0.0.1:5399" }\n'), /dns\.zones\[0\]\.notifyListen.*only with primary/);
    assert.match(problems('    - { name: cc.rpz.example, primary: "127.0.0.1:53", format: list }\n'), /dns\.zones\[0\]\.format/);
    const ok = checkConfigText('dns:\n  notifyListen: "127.0.0.1:5399"\n  zones:\n    - { name: cc.rpz.example, primary: "127.0.0.1:5300" }\n', 'sakimori.yaml');
    assert.deepEqual(ok.problems, []);
    assert.deepEqual(ok.config!.dns.zones[0], { name: 'cc.rpz.example', primary: '127.0.0.1:5300', kind: 'cc', format: 'rpz', file: '' });
  });
});

describe('zones from a primary, with real peers', { timeout: 300_000 }, () => {
  let dir: string;
  let upstream: UnboundPeer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sakimori-dns-primary-'));
    upstream = await startUpstream();
  });
  after(async () => {
    await upstream?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('(a) sakimori rpz serve as the primary', () => {
    let feed: SakimoriRpz;
    let fw: Served;
    before(async () => {
      const notifyPort = await freePort();
      feed = await startSakimoriRpz(mkdtempSync(join(dir, 'feed-')), [`127.0.0.1:${notifyPort}`]);
      fw = await dnsServe(['--upstream', `127.0.0.1:${upstream.port}`, '--rpz-primary', `${RPZ_ZONE}=127.0.0.1:${feed.port}`, '--notify-listen', `127.0.0.1:${notifyPort}`], mkdtempSync(join(dir, 'fw-')));
    });
    after(async () => {
      await fw?.close();
      await feed?.close();
    });

    it('answers only once the zone is loaded by AXFR, and enforces it', async () => {
      assert.match(fw.out(), new RegExp(`zone ${RPZ_ZONE.replace(/\./g, '\\.')}: 5 names \\(primary 127\\.0\\.0\\.1:${feed.port}\\)`));
      assert.deepEqual(await dig(fw.port, 'bad.example'), { status: 'NXDOMAIN', answers: [] });
      assert.deepEqual(await dig(fw.port, 'a.wild.example'), { status: 'NXDOMAIN', answers: [] });
      assert.deepEqual(await dig(fw.port, 'warn.example'), { status: 'NOERROR', answers: ['A 192.0.2.80'] });
      assert.deepEqual(await dig(fw.port, 'www.example'), { status: 'NOERROR', answers: ['A 192.0.2.1'] });
      assert.match(msgs(fw), /loaded from primary .* by AXFR: serial 1/);
    });

    it('enforces a name added with `sakimori rpz add` within seconds (NOTIFY -> IXFR), and drops a removed one', async (ctx) => {
      assert.deepEqual(await dig(fw.port, 'new.example'), { status: 'NOERROR', answers: ['A 192.0.2.70'] });
      const add = await feed.cli(['add', '--zone', RPZ_ZONE, '--file', feed.file, '--name', 'new.example', '--action', 'nxdomain']);
      assert.equal(add.code, 0, add.stderr);
      const t = await digUntil(fw.port, 'new.example', (r) => r.status === 'NXDOMAIN', 10_000);
      assert.notEqual(t.ms, -1, `not enforced within 10 s: ${JSON.stringify(t.last)}\n${msgs(fw)}`);
      ctx.diagnostic(`the data plane enforced the new name ${t.ms} ms after \`sakimori rpz add\` returned`);
      assert.ok(fw.logs().some((l) => l.msg === 'NOTIFY received' && l.rcode === RCode.NOERROR), msgs(fw));
      assert.ok(fw.logs().some((l) => /updated by IXFR/.test(l.msg) && l.serial === 2 && l.fromSerial === 1), msgs(fw));
      const rm = await feed.cli(['remove', '--zone', RPZ_ZONE, '--file', feed.file, '--name', 'bad.example']);
      assert.equal(rm.code, 0, rm.stderr);
      const t2 = await digUntil(fw.port, 'bad.example', (r) => r.status === 'NOERROR', 10_000);
      assert.notEqual(t2.ms, -1, `removal not enforced within 10 s\n${msgs(fw)}`);
      assert.equal(fw.logs().filter((l) => /updated by AXFR/.test(l.msg)).length, 1, 'only the first load was a full transfer');
    });
  });

  describe('(b) BIND 9 as the primary, changed with nsupdate', () => {
    let named: Bind9Peer;
    let fw: Served;
    const zone = 'malware.rpz.bind';
    before(async () => {
      const notifyPort = await freePort();
      named = await startBind9({
        files: { 'malware.db': `$ORIGIN ${zone}.\n$TTL 60\n@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 60\n@ NS localhost.\nwarn.example A 192.0.2.80\n` },
        // max-ixfr-ratio: BIND answers IXFR with the whole zone when the difference is larger
        // than this share of the zone (100% by default), which it is for a zone this small.
        statements: [`zone "${zone}" { type primary; file "malware.db"; max-ixfr-ratio unlimited; allow-update { 127.0.0.1; }; allow-transfer { 127.0.0.1; }; notify explicit; also-notify { 127.0.0.1 port ${notifyPort}; }; };`],
      });
      fw = await dnsServe(['--upstream', `127.0.0.1:${upstream.port}`, '--rpz-primary', `${zone}=127.0.0.1:${named.port}`, '--notify-listen', `127.0.0.1:${notifyPort}`], mkdtempSync(join(dir, 'fw-bind-')));
    });
    after(async () => {
      await fw?.close();
      await named?.close();
    });

    it('loads the zone from BIND by AXFR and enforces a name added by nsupdate through NOTIFY and IXFR', async (ctx) => {
      assert.deepEqual(await dig(fw.port, 'warn.example'), { status: 'NOERROR', answers: ['A 192.0.2.80'] });
      assert.deepEqual(await dig(fw.port, 'new.example'), { status: 'NOERROR', answers: ['A 192.0.2.70'] });
      const t0 = Date.now();
      const cmds = `server 127.0.0.1 ${named.port}\nzone ${zone}\nupdate add new.example.${zone}. 60 CNAME .\nupdate add *.wild.example.${zone}. 60 CNAME .\nsend\n`;
      const u = spawn('nsupdate', ['-v'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let uerr = '';
      u.stderr.setEncoding('utf8').on('data', (s: string) => (uerr += s));
      u.stdin.end(cmds);
      const code = await new Promise<number | null>((r) => u.on('exit', r));
      assert.equal(code, 0, `nsupdate failed: ${uerr}\n${named.log().slice(-2000)}`);
      const t = await digUntil(fw.port, 'new.example', (r) => r.status === 'NXDOMAIN', 10_000);
      assert.notEqual(t.ms, -1, `not enforced within 10 s\n${msgs(fw)}\n${named.log().slice(-3000)}`);
      ctx.diagnostic(`enforced ${Date.now() - t0} ms after nsupdate started`);
      assert.deepEqual(await dig(fw.port, 'a.wild.example'), { status: 'NXDOMAIN', answers: [] });
      assert.ok(fw.logs().some((l) => /updated by IXFR/.test(l.msg) && l.fromSerial === 1), fw.logs().map((l) => JSON.stringify(l)).join('\n'));
      assert.match(named.log(), /zone malware\.rpz\.bind\/IN: sending notifies \(serial 2\)/, named.log().slice(-1500));
    });
  });

  describe('(c) a primary that fails', () => {
    it('a first start waits for the first transfer, logging why, and answers once the primary is up', async () => {
      const port = await freePort();
      const fw = await dnsServe(['--upstream', `127.0.0.1:${upstream.port}`, '--rpz-primary', `${RPZ_ZONE}=127.0.0.1:${port}`], mkdtempSync(join(dir, 'fw-wait-')), false);
      try {
        assert.ok(await until(() => /not answering DNS yet — waiting for the first transfer from 127\.0\.0\.1:\d+: .*ECONNREFUSED/.test(msgs(fw)), 20_000), msgs(fw));
        assert.equal(fw.port, 0, 'no listener before the zone is loaded');
        // The primary comes up on that port: the retry timer (5 s) loads the zone.
        const zf = join(mkdtempSync(join(dir, 'late-')), 'cc.zone');
        writeFileSync(zf, initialZone());
        const late = spawn(process.execPath, [BIN, 'rpz', 'serve', '--listen', `127.0.0.1:${port}`, '--zone', `${RPZ_ZONE}=${zf}`], { cwd: dirname(zf), stdio: ['ignore', 'pipe', 'pipe'] });
        let lateOut = '';
        late.stdout.setEncoding('utf8').on('data', (s: string) => (lateOut += s));
        late.stderr.setEncoding('utf8').on('data', (s: string) => (lateOut += s));
        try {
          assert.ok(await until(() => fw.port > 0, 60_000), `${msgs(fw)}\n--- rpz serve:\n${lateOut}`);
          assert.deepEqual(await dig(fw.port, 'bad.example'), { status: 'NXDOMAIN', answers: [] });
        } finally {
          late.kill('SIGTERM');
        }
      } finally {
        await fw.close();
      }
    });

    it('unreachable, REFUSED, garbage, a truncated stream: a clear error each time and the policy in force stays', async (ctx) => {
      const feed = await startSakimoriRpz(mkdtempSync(join(dir, 'feed-c-')), []);
      // A real TCP relay in front of the feed, which can be told to misbehave.
      let mode: 'pass' | 'refuse' | 'garbage' | 'cut' | 'down' = 'pass';
      const socks = new Set<Socket>();
      const relay: Server = createServer((c) => {
        socks.add(c);
        c.on('close', () => socks.delete(c));
        c.on('error', () => undefined);
        if (mode === 'down') return void c.destroy();
        if (mode === 'garbage') return void c.end(Buffer.from([0, 40, ...Array.from({ length: 40 }, (_, i) => (i * 37) & 0xff)]));
        if (mode === 'refuse' || mode === 'cut') {
          const r = new TcpMessageReader();
          c.on('data', (d) => {
            for (const m of r.push(d)) {
              const q = decodeMessage(m);
              if (!q.ok) return void c.destroy();
              if (mode === 'refuse') c.end(frameMessage(encodeMessage(headerOnlyReply(q.value, RCode.REFUSED))));
              else c.end(frameMessage(encodeMessage(headerOnlyReply(q.value, RCode.NOERROR))).subarray(0, 7));
            }
          });
          return;
        }
        const up = connect(feed.port, '127.0.0.1');
        up.on('error', () => c.destroy());
        c.pipe(up).pipe(c);
      });
      await new Promise<void>((r) => relay.listen(0, '127.0.0.1', () => r()));
      const relayPort = (relay.address() as { port: number }).port;
      const logs: string[] = [];
      const source = new PrimaryZoneSource({ name: RPZ_ZONE, file: '', primary: `127.0.0.1:${relayPort}`, kind: 'cc', format: 'rpz' }, { log: (level, msg, d) => logs.push(`${level} ${msg} ${JSON.stringify(d ?? {})}`) });
      const set = new ZoneSet([{ spec: { name: RPZ_ZONE, kind: 'cc' }, source }]);
      try {
        await set.start();
        const blocked = () => set.engine.decide('bad.example', undefined, 1).action;
        const before = blocked();
        assert.notEqual(before, 'none', 'the zone is in force');
        assert.equal(source.status().serial, 1);
        assert.match(source.status().source, /^primary 127\.0\.0\.1:/);
        for (const [m, why] of [['down', /closed the connection after 0 message/], ['refuse', /answered REFUSED/], ['garbage', /message 1 does not decode/], ['cut', /closed the connection .* before the transfer was complete/]] as const) {
          mode = m;
          await source.secondary.refresh();
          const st = source.status();
          assert.ok(st.lastError && st.lastError.length > 0, `${m}: an error is reported`);
          assert.match(st.lastError!.join(' '), why, `${m}: ${st.lastError}`);
          ctx.diagnostic(`${m}: ${st.lastError!.join(' ')}`);
          assert.equal(blocked(), before, `${m}: the policy in force stays`);
          assert.equal(st.serial, 1);
        }
        assert.ok(logs.some((l) => /zone refresh failed; the policy in force is kept/.test(l)), logs.join('\n'));
        mode = 'pass';
        const add = await feed.cli(['add', '--zone', RPZ_ZONE, '--file', feed.file, '--name', 'later.example', '--action', 'nxdomain']);
        assert.equal(add.code, 0, add.stderr);
        await new Promise((r) => setTimeout(r, 1500));
        await source.secondary.refresh();
        assert.equal(source.status().serial, 2, `recovered: ${JSON.stringify(source.status())}`);
        assert.equal(source.status().lastError, undefined);
      } finally {
        await set.stop();
        for (const s of socks) s.destroy();
        relay.close();
        await feed.close();
      }
    });
  });
});

