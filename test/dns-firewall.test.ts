/**
 * The DNS firewall against real peers (issue 3, "Done when"): dig (dnsutils) as the
 * client, Unbound (test/peers/unbound.ts) as the upstream resolvers. Every RPZ action over
 * UDP and TCP, IPv6, EDNS kept intact, ID and case, truncation and TCP fallback, upstream
 * timeout -> SERVFAIL, fail-over, opt-out per client, the unfiltered listener, hot reload
 * and a bad line keeping the old policy, block events with purpose and retention, and
 * garbage on UDP and TCP while dig keeps getting answers.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ManualClock, systemClock } from '../src/core/index.ts';
import { MemoryBus } from '../src/bus/index.ts';
import { ConsentRegistry, consentMigrations } from '../src/consent/index.ts';
import { DnsFirewall, dnsMigrations, dnsRetentionRules, WarningPage } from '../src/dns/index.ts';
import { AuditLog, privacyMigrations, RetentionPurger } from '../src/privacy/index.ts';
import { openStore, type Store } from '../src/store/index.ts';
import { createRegistry, silentLogger } from '../src/telemetry/index.ts';
import { startUnbound, type UnboundPeer } from './peers/unbound.ts';

interface Dig {
  out: string;
  status: string | undefined;
  flags: string[];
  answers: string[];
  ede: string | undefined;
}

/** Runs dig (asynchronously: the server under test shares this event loop). */
function dig(args: string[], timeoutMs = 10_000): Promise<Dig> {
  return new Promise((resolve, reject) => {
    const c = spawn('dig', ['+time=2', '+tries=1', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout.setEncoding('utf8');
    c.stdout.on('data', (s: string) => (out += s));
    c.stderr.on('data', () => undefined);
    const t = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    c.on('error', reject);
    c.on('close', () => {
      clearTimeout(t);
      const sect = /;; ANSWER SECTION:\n([\s\S]*?)\n\n/.exec(out)?.[1];
      resolve({
        out,
        status: /status: (\w+)/.exec(out)?.[1],
        flags: (/;; flags: ([a-z ]+);/.exec(out)?.[1] ?? '').trim().split(/\s+/).filter(Boolean),
        answers: sect ? sect.split('\n').map((l) => l.replace(/\s+/g, ' ').trim()) : [],
        ede: /; EDE: ([^\n]*)/.exec(out)?.[1],
      });
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 3000): Promise<T> {
  const until = Date.now() + ms;
  let v = await fn();
  while (!ok(v) && Date.now() < until) {
    await sleep(100);
    v = await fn();
  }
  return v;
}

const BIG_TXT = Array.from({ length: 12 }, (_, i) => `"big.example. 60 IN TXT \\"${String(i).padStart(2, '0')} ${'x'.repeat(60)}\\""`);

function upstreamData(tag: string): string[] {
  return [
    '"www.example. 60 IN A 192.0.2.1"',
    '"www.example. 60 IN AAAA 2001:db8::1"',
    '"cc.example. 60 IN A 192.0.2.66"',
    '"sub.cc.example. 60 IN A 192.0.2.67"',
    '"allowed.cc.example. 60 IN A 192.0.2.9"',
    '"tcponly.example. 60 IN A 192.0.2.7"',
    '"new.example. 60 IN A 192.0.2.8"',
    '"other.example. 60 IN A 192.0.2.10"',
    '"warning.isp.test. 60 IN A 127.0.0.80"',
    `"who.example. 60 IN TXT ${tag}"`,
    ...BIG_TXT,
  ];
}

const CC_ZONE = `$TTL 60
$ORIGIN cc.rpz.test.
@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 60
@ NS localhost.
cc.example CNAME .
*.cc.example CNAME .
nodata.example CNAME *.
drop.example CNAME rpz-drop.
tcponly.example CNAME rpz-tcp-only.
`;

const MALWARE_ZONE = `$TTL 60
$ORIGIN malware.rpz.test.
@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 60
mal.example A 127.0.0.80
mal.example AAAA ::1
redirect.example CNAME warning.isp.test.
`;

for (const threads of [0, 2]) describe(`DNS firewall with dig and Unbound (${threads ? `${threads} worker threads` : 'main thread'})`, { timeout: 180_000 }, () => {
  let a: UnboundPeer;
  let b: UnboundPeer;
  let dir: string;
  let store: Store;
  let audit: AuditLog;
  let consent: ConsentRegistry;
  let fw: DnsFirewall;
  let page: WarningPage;
  const bus = new MemoryBus();
  const registry = createRegistry({ processMetrics: false });
  let port = 0; // filtered, 127.0.0.1
  let port6 = 0; // filtered, ::1
  let openPort = 0; // unfiltered

  before(async () => {
    a = await startUnbound({ localZones: ['"example." static', '"isp.test." static'], localData: upstreamData('A'), extra: ['nsid: "ascii_upstream-a"'] });
    b = await startUnbound({ localZones: ['"example." static', '"isp.test." static'], localData: upstreamData('B') });
    dir = mkdtempSync(join(tmpdir(), 'sakimori-dns-test-'));
    writeFileSync(join(dir, 'cc.rpz'), CC_ZONE);
    writeFileSync(join(dir, 'malware.rpz'), MALWARE_ZONE);
    writeFileSync(join(dir, 'allow.txt'), '# never block\nallowed.cc.example\n');
    store = await openStore('sqlite::memory:');
    await store.migrate([...privacyMigrations, ...consentMigrations, ...dnsMigrations]);
    audit = new AuditLog(store, { flushIntervalMs: 0 });
    consent = new ConsentRegistry(store, audit);
    fw = new DnsFirewall(
      {
        listen: [{ host: '127.0.0.1', port: 0 }, { host: '::1', port: 0 }],
        unfilteredListen: [{ host: '127.0.0.1', port: 0 }],
        upstreams: [{ host: a.host, port: a.port }, { host: b.host, port: b.port }],
        upstreamTimeoutMs: 400,
        upstreamDownAfter: 2,
        probeIntervalMs: 200,
        zones: [
          { name: 'cc.rpz.test', file: join(dir, 'cc.rpz'), kind: 'cc', format: 'rpz' },
          { name: 'malware.rpz.test', file: join(dir, 'malware.rpz'), kind: 'malware-sites', format: 'rpz' },
          { name: 'allow', file: join(dir, 'allow.txt'), kind: 'allow', format: 'list' },
        ],
        eventFlushIntervalMs: 100,
        observationIntervalMs: 60_000,
        nodeName: 'test',
        reloadDebounceMs: 50,
        threads,
      },
      { store, audit, consent, bus, registry, logger: silentLogger, clock: systemClock },
    );
    await fw.start();
    const addrs = fw.addresses;
    port = addrs[0]!.address.port;
    port6 = addrs[1]!.address.port;
    openPort = addrs[2]!.address.port;
    page = new WarningPage({ host: '127.0.0.1', port: 0 }, { organization: 'Example ISP', contact: 'support@example.net', optOutUrl: 'https://portal.example.net/optout' }, registry);
    await page.start();
  });

  after(async () => {
    await page?.stop();
    await fw?.stop();
    await a?.close();
    await b?.close();
    await audit?.close();
    await store?.close();
    await bus.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const q = (name: string, type = 'A', more: string[] = [], p = port, server = '127.0.0.1') => dig([`-p`, String(p), `@${server}`, name, type, ...more]);

  for (const tcp of [false, true]) {
    const via = tcp ? ['+tcp'] : [];
    const label = tcp ? 'TCP' : 'UDP';

    it(`${label}: NXDOMAIN for a C&C name and below it, with the zone's SOA and EDE Blocked`, async () => {
      for (const name of ['cc.example', 'deep.sub.cc.example']) {
        const r = await q(name, 'A', via);
        assert.equal(r.status, 'NXDOMAIN', r.out);
        assert.match(r.out, /cc\.rpz\.test\.\s+60\s+IN\s+SOA/);
        assert.match(r.ede ?? '', /^15 \(Blocked\)/);
      }
    });

    it(`${label}: NODATA`, async () => {
      const r = await q('nodata.example', 'A', via);
      assert.equal(r.status, 'NOERROR');
      assert.deepEqual(r.answers, []);
      assert.match(r.ede ?? '', /^15 \(Blocked\)/);
    });

    it(`${label}: DROP gets no answer`, async () => {
      const r = await q('drop.example', 'A', [...via, '+time=1']);
      assert.equal(r.status, undefined, r.out);
      assert.match(r.out, /timed out|no servers could be reached|communications error|end of file/i);
    });

    it(`${label}: local data answers with the warning page's address (A and AAAA)`, async () => {
      assert.deepEqual((await q('mal.example', 'A', via)).answers, ['mal.example. 60 IN A 127.0.0.80']);
      assert.deepEqual((await q('mal.example', 'AAAA', via)).answers, ['mal.example. 60 IN AAAA ::1']);
      const r = await q('mal.example', 'A', via);
      assert.match(r.ede ?? '', /^15 \(Blocked\)/);
    });

    it(`${label}: a local-data CNAME is resolved upstream and chained`, async () => {
      const r = await q('redirect.example', 'A', via);
      assert.equal(r.status, 'NOERROR');
      assert.deepEqual(r.answers, ['redirect.example. 60 IN CNAME warning.isp.test.', 'warning.isp.test. 60 IN A 127.0.0.80']);
    });

    it(`${label}: pass-through, and the allow list wins over a wildcard block`, async () => {
      assert.deepEqual((await q('www.example', 'A', via)).answers, ['www.example. 60 IN A 192.0.2.1']);
      const r = await q('allowed.cc.example', 'A', via);
      assert.deepEqual(r.answers, ['allowed.cc.example. 60 IN A 192.0.2.9']);
      assert.equal(r.ede, undefined);
    });

    it(`${label}: query ID and the question's case are kept`, async () => {
      const r = await q('WwW.ExAmPlE', 'A', via);
      assert.match(r.out, /;WwW\.ExAmPlE\.\s+IN\s+A/);
      assert.deepEqual(r.answers, ['WwW.ExAmPlE. 60 IN A 192.0.2.1']);
      assert.doesNotMatch(r.out, /ID mismatch/i);
    });
  }

  it('TCP-only: TC=1 over UDP; dig retries over TCP and gets the answer', async () => {
    const udp = await q('tcponly.example', 'A', ['+ignore']);
    assert.ok(udp.flags.includes('tc'), udp.out);
    assert.deepEqual(udp.answers, []);
    const r = await q('tcponly.example', 'A');
    assert.match(r.out, /Truncated, retrying in TCP mode/);
    assert.deepEqual(r.answers, ['tcponly.example. 60 IN A 192.0.2.7']);
  });

  it('relays a truncated upstream answer (> 512 bytes without EDNS); dig falls back to TCP', async () => {
    const udp = await q('big.example', 'TXT', ['+noedns', '+ignore']);
    assert.ok(udp.flags.includes('tc'), udp.out);
    const r = await q('big.example', 'TXT', ['+noedns']);
    assert.match(r.out, /Truncated, retrying in TCP mode/);
    assert.equal(r.answers.length, 12);
  });

  it('EDNS kept intact: the client\'s buffer size, DO and NSID go upstream; the upstream\'s OPT comes back', async () => {
    const r = await q('www.example', 'A', ['+bufsize=1400', '+dnssec', '+nsid']);
    assert.match(r.out, /; EDNS: version: 0, flags: do; udp: \d+/);
    assert.match(r.out, /NSID: .*upstream-a/);
    const big = await q('big.example', 'TXT', ['+bufsize=4096', '+ignore']);
    assert.ok(!big.flags.includes('tc'), 'fits in 4096 over UDP');
    assert.equal(big.answers.length, 12);
  });

  it('raw UDP: the answer carries the query ID the client chose', async () => {
    const s = dgram.createSocket('udp4');
    const query = Buffer.from([0xbe, 0xef, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, 0x77, 0x77, 0x77, 7, ...Buffer.from('example'), 0, 0, 1, 0, 1]);
    const answer = await new Promise<Buffer>((resolve) => {
      s.on('message', (m) => resolve(m));
      s.send(query, port, '127.0.0.1');
    });
    s.close();
    assert.equal(answer.readUInt16BE(0), 0xbeef);
  });

  it('answers on the IPv6 listener (::1), UDP and TCP', async () => {
    assert.equal((await q('cc.example', 'A', [], port6, '::1')).status, 'NXDOMAIN');
    assert.deepEqual((await q('www.example', 'AAAA', ['+tcp'], port6, '::1')).answers, ['www.example. 60 IN AAAA 2001:db8::1']);
  });

  it('the unfiltered listener answers without policy (the "use another resolver" opt-out)', async () => {
    assert.deepEqual((await q('cc.example', 'A', [], openPort)).answers, ['cc.example. 60 IN A 192.0.2.66']);
    assert.deepEqual((await q('cc.example', 'A', ['+tcp'], openPort)).answers, ['cc.example. 60 IN A 192.0.2.66']);
  });

  it('opt-out per client takes effect at once: 127.0.0.2 unfiltered, 127.0.0.1 still filtered; opt-in restores it', async () => {
    await consent.optOut({ scope: 'client', subject: '127.0.0.2/32', actor: 'test', via: 'cli' });
    assert.deepEqual((await q('cc.example', 'A', ['-b', '127.0.0.2'])).answers, ['cc.example. 60 IN A 192.0.2.66']);
    assert.deepEqual((await q('cc.example', 'A', ['-b', '127.0.0.2', '+tcp'])).answers, ['cc.example. 60 IN A 192.0.2.66']);
    assert.equal((await q('cc.example', 'A', ['-b', '127.0.0.1'])).status, 'NXDOMAIN');
    await consent.optIn({ scope: 'client', subject: '127.0.0.2/32', actor: 'test', via: 'cli' });
    assert.equal((await q('cc.example', 'A', ['-b', '127.0.0.2'])).status, 'NXDOMAIN');
  });

  it('an opt-out written by another process (straight into the store) is seen within a second', async () => {
    // What `sakimori consent optout` in another shell does: a registry of its own, same store.
    const other = new ConsentRegistry(store, audit);
    await other.optOut({ scope: 'client', subject: '127.0.0.3/32', actor: 'other-process', via: 'cli' });
    const r = await eventually(() => q('cc.example', 'A', ['-b', '127.0.0.3']), (d) => d.answers.length === 1, 1500);
    assert.deepEqual(r.answers, ['cc.example. 60 IN A 192.0.2.66']);
    await other.optIn({ scope: 'client', subject: '127.0.0.3/32', actor: 'other-process', via: 'cli' });
  });

  it('reloads a changed zone file within a second; a bad line is reported with file:line and the old policy stays', async () => {
    assert.deepEqual((await q('new.example')).answers, ['new.example. 60 IN A 192.0.2.8']);
    appendFileSync(join(dir, 'cc.rpz'), 'new.example CNAME .\n');
    const r = await eventually(() => q('new.example'), (d) => d.status === 'NXDOMAIN', 1000);
    assert.equal(r.status, 'NXDOMAIN');
    // A bad line: the whole new version is refused, the one in force stays.
    appendFileSync(join(dir, 'cc.rpz'), 'other.example CNAME .\nbroken.example IN BOGUS stuff\n');
    const st = await eventually(async () => fw.zoneStatus().find((z) => z.zone === 'cc.rpz.test')!, (z) => z.lastError !== undefined, 2000);
    assert.match(st.lastError!.join('\n'), /cc\.rpz:12: error: /);
    assert.equal((await q('new.example')).status, 'NXDOMAIN');
    assert.deepEqual((await q('other.example')).answers, ['other.example. 60 IN A 192.0.2.10']);
    const h = await fw.health();
    assert.equal(h.status, 'degraded');
    // Fixed: the next version goes in.
    writeFileSync(join(dir, 'cc.rpz'), `${CC_ZONE}new.example CNAME .\nother.example CNAME .\n`);
    assert.equal((await eventually(() => q('other.example'), (d) => d.status === 'NXDOMAIN', 1000)).status, 'NXDOMAIN');
  });

  it('garbage on UDP and TCP: answered FORMERR or dropped, the garbage connection closed, dig still answered', async () => {
    const s = dgram.createSocket('udp4');
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) >> 8) & 0xff;
    for (let i = 0; i < 2000; i++) {
      const len = rnd() % 80;
      const buf = Buffer.alloc(len);
      for (let j = 0; j < len; j++) buf[j] = rnd();
      if (len > 2 && i % 2) buf[2]! &= 0x7f; // half of them look like queries
      s.send(buf, port, '127.0.0.1');
      if (i % 200 === 0) await sleep(5);
    }
    const conns: Promise<string>[] = [];
    for (let i = 0; i < 10; i++) {
      conns.push(
        new Promise((resolve) => {
          const c = net.connect(port, '127.0.0.1', () => {
            const buf = Buffer.alloc(100 + i * 13);
            for (let j = 0; j < buf.length; j++) buf[j] = rnd();
            buf.writeUInt16BE(buf.length - 2 - (i % 3), 0);
            c.write(buf);
          });
          c.on('error', () => undefined);
          c.on('data', () => undefined);
          c.setTimeout(5000, () => resolve('open'));
          c.on('close', () => resolve('closed'));
        }),
      );
    }
    assert.equal((await q('cc.example')).status, 'NXDOMAIN');
    assert.deepEqual((await q('www.example', 'A', ['+tcp'])).answers, ['www.example. 60 IN A 192.0.2.1']);
    const states = await Promise.all(conns);
    s.close();
    assert.ok(states.filter((x) => x === 'closed').length >= 6, `most garbage connections closed: ${states.join(',')}`);
    const snap = await eventually(async () => fw.snapshot(), (x) => x.malformed.udp > 100 && x.tcpClosedForGarbage > 0, 2000);
    assert.ok(snap.malformed.udp > 100 && snap.tcpClosedForGarbage > 0, JSON.stringify(snap));
  });

  it('fails over when the first upstream stops, and goes back when it answers again', async () => {
    assert.deepEqual((await q('who.example', 'TXT')).answers, ['who.example. 60 IN TXT "A"']);
    await a.stop();
    const r = await q('who.example', 'TXT', ['+time=3']);
    assert.deepEqual(r.answers, ['who.example. 60 IN TXT "B"']);
    // Marked down after upstreamDownAfter timeouts (per thread with workers: keep asking).
    const ups = await eventually(
      async () => {
        await q('who.example', 'TXT', ['+time=3']);
        return ((await fw.health()).detail!.upstreams as { address: string; up: boolean }[]).map((u) => u.up);
      },
      (u) => u[0] === false,
      8000,
    );
    assert.deepEqual(ups, [false, true]);
    // While A is down, B answers at once: dig's own query time (not process start-up, which a
    // loaded machine stretches) stays under the 400 ms a try of A would cost. Each worker
    // thread learns A is down from its own timeouts, so ask until the TCP thread has too.
    const queryMs = (d: Dig) => Number(/;; Query time: (\d+) msec/.exec(d.out)?.[1] ?? Infinity);
    const fast = await eventually(() => q('who.example', 'TXT', ['+tcp']), (d) => queryMs(d) < 400, 8000);
    assert.deepEqual(fast.answers, ['who.example. 60 IN TXT "B"']);
    assert.ok(queryMs(fast) < 400, fast.out);
    await a.start();
    const back = await eventually(() => q('who.example', 'TXT'), (d) => d.answers[0] === 'who.example. 60 IN TXT "A"', 5000);
    assert.deepEqual(back.answers, ['who.example. 60 IN TXT "A"']);
  });

  it('answers SERVFAIL when no upstream answers in time (never silence)', async () => {
    // An upstream that takes queries and never answers.
    const hole = dgram.createSocket('udp4');
    await new Promise<void>((r) => hole.bind(0, '127.0.0.1', () => r()));
    const holeTcp = net.createServer((c) => c.on('data', () => undefined));
    await new Promise<void>((r) => holeTcp.listen(hole.address().port, '127.0.0.1', () => r()));
    const f2 = new DnsFirewall(
      { listen: [{ host: '127.0.0.1', port: 0 }], upstreams: [{ host: '127.0.0.1', port: hole.address().port }], upstreamTimeoutMs: 300 },
      { store, audit, logger: silentLogger, clock: systemClock },
    );
    await f2.start();
    try {
      const p2 = f2.addresses[0]!.address.port;
      const t0 = Date.now();
      const r = await q('www.example', 'A', ['+time=4'], p2);
      assert.equal(r.status, 'SERVFAIL');
      assert.ok(Date.now() - t0 < 2000);
      assert.equal((await q('www.example', 'A', ['+time=4', '+tcp'], p2)).status, 'SERVFAIL');
      assert.ok((await eventually(async () => f2.snapshot(), (x) => x.servfail >= 2, 2000)).servfail >= 2);
    } finally {
      await f2.stop();
      hole.close();
      holeTcp.close();
    }
  });

  it('keeps block events with only R1\'s fields, under their purpose, read with an audit entry, purged after retention', async () => {
    await fw.events.flush();
    const rows = await fw.events.list({ purpose: 'cc-blocking', actor: 'test', client: '127.0.0.1', limit: 1000 });
    const cc = rows.find((r) => r.fqdn === 'cc.example' && r.action === 'nxdomain')!;
    assert.ok(cc, 'cc.example was blocked for 127.0.0.1');
    assert.deepEqual(Object.keys(cc).sort(), ['action', 'at', 'client', 'count', 'fqdn', 'id', 'list', 'purpose']);
    assert.equal(cc.list, 'cc.rpz.test');
    assert.equal(cc.purpose, 'cc-blocking');
    assert.ok(rows.some((r) => r.list === 'malware.rpz.test' && r.action === 'local-data' && r.fqdn === 'mal.example'));
    assert.ok(rows.some((r) => r.action === 'drop' && r.fqdn === 'drop.example'));
    assert.ok(!rows.some((r) => r.fqdn === 'allowed.cc.example' || r.fqdn === 'www.example'), 'nothing that passed');
    assert.ok(!rows.some((r) => r.client === '127.0.0.2' && r.fqdn === 'cc.example' && r.at > 0 && r.action !== 'nxdomain'));
    assert.deepEqual(await fw.events.list({ purpose: 'dns-abuse-mitigation', actor: 'test' }), []);
    await audit.flush?.();
    const reads = await store.all<{ purpose: string; subject: string }>("SELECT purpose, subject FROM audit_log WHERE action = 'read' AND subject = 'dns_block_events'");
    assert.ok(reads.some((r) => r.purpose === 'cc-blocking'));
    // Retention: rows past cc-blocking's retention go.
    const clock = new ManualClock(Date.now() + 31 * 86_400_000);
    const purger = new RetentionPurger(store, audit, { 'cc-blocking': 30 * 86_400_000, 'dns-abuse-mitigation': 7 * 86_400_000 } as never, { clock });
    for (const rule of dnsRetentionRules) purger.register(rule);
    const res = await purger.runOnce();
    assert.ok(res.some((x) => x.rule === 'dns block events' && x.purpose === 'cc-blocking' && x.deleted >= rows.length));
    assert.deepEqual(await fw.events.list({ purpose: 'cc-blocking', actor: 'test' }), []);
  });

  it('tells the cases pipeline once per client and list, without the FQDN (R1, R5)', async () => {
    const msgs = await bus.read<{ kind: string; network: Record<string, unknown>; purpose: string; evidence: Record<string, unknown> }>('observations', 1, 1000);
    const cc = msgs.filter((m) => m.data.kind === 'cc-query' && m.data.network.ip === '127.0.0.1');
    assert.equal(cc.length, 1);
    assert.equal(cc[0]!.data.purpose, 'infection-notice');
    assert.equal(cc[0]!.data.network.fqdn, undefined);
    assert.equal(cc[0]!.data.evidence.list, 'cc.rpz.test');
    assert.ok(msgs.some((m) => m.data.kind === 'malware-site-query'));
  });

  it('serves the warning page in Japanese and English for any host and path, and counts requests only', async () => {
    for (const path of ['/', '/some/path?x=1']) {
      const res = await fetch(`${page.url.replace(/\/$/, '')}${path}`, { headers: { host: 'mal.example' } });
      assert.equal(res.status, 200);
      const html = await res.text();
      assert.match(html, /このサイトへの接続を止めました/);
      assert.match(html, /マルウェア/);
      assert.match(html, /オプトアウト/);
      assert.match(html, /Access to this site was blocked/);
      assert.match(html, /distribute malware/);
      assert.match(html, /opt out/);
      assert.match(html, /support@example\.net/);
      assert.match(html, /https:\/\/portal\.example\.net\/optout/);
      assert.ok(html.indexOf('このサイト') < html.indexOf('Access to this site'), 'Japanese first');
      assert.equal(res.headers.get('cache-control'), 'no-store');
    }
    const metrics = await registry.metrics();
    assert.match(metrics, /sakimori_warning_page_requests_total\{method="GET"\} 2/);
  });

  it('exposes counters per list and action, by transport and rcode, and upstream latency on /metrics', async () => {
    const m = await registry.metrics();
    assert.match(m, /sakimori_dns_policy_total\{list="cc\.rpz\.test",action="nxdomain"\} \d+/);
    assert.match(m, /sakimori_dns_policy_total\{list="malware\.rpz\.test",action="local-data"\} \d+/);
    assert.match(m, /sakimori_dns_queries_total\{transport="tcp"\} \d+/);
    assert.match(m, /sakimori_dns_responses_total\{transport="udp",rcode="NXDOMAIN"\} \d+/);
    assert.match(m, /sakimori_dns_upstream_latency_seconds_bucket\{upstream="127\.0\.0\.1:\d+",le="0\.005"\} \d+/);
    assert.match(m, /sakimori_dns_upstream_up\{upstream="127\.0\.0\.1:\d+"\} 1/);
    // Every batch of UDP queries read from a native socket is in the read-delay histogram.
    const buckets = [...m.matchAll(/sakimori_dns_udp_read_delay_seconds_bucket\{le="([^"]+)"\} (\d+)/g)].map((x) => ({ le: x[1]!, n: Number(x[2]) }));
    assert.equal(buckets.length, 15, m);
    assert.deepEqual(buckets[0], { le: '0.000016', n: buckets[0]!.n });
    assert.equal(buckets.at(-1)!.le, '+Inf');
    for (let k = 1; k < buckets.length; k++) assert.ok(buckets[k]!.n >= buckets[k - 1]!.n, 'cumulative');
    const count = Number(/sakimori_dns_udp_read_delay_seconds_count (\d+)/.exec(m)?.[1]);
    const received = Number(/sakimori_dns_udp_socket_datagrams_total\{event="received"\} (\d+)/.exec(m)?.[1]);
    assert.ok(count > 0 && count <= received, `${count} reads of ${received} queries`);
    assert.equal(buckets.at(-1)!.n, count);
  });
});
