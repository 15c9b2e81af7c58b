/**
 * R1 end to end with the real things: the opt-out follows the subscriber onto a
 * new address. A node runs RADIUS accounting and the DNS firewall (Unbound
 * upstream); radclient (freeradius-utils) sends the subscriber's sessions;
 * `sakimori consent optout --subscriber` (another process) opts them out;
 * dig, bound to the subscriber's address, sees the C&C name resolved
 * unfiltered while another client is still blocked — on the address held at
 * the opt-out and on the one the next session takes — and filtered again
 * once the session has stopped.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { defaultConfig } from '../src/config/index.ts';
import { startNode, type RunningNode } from '../src/node/index.ts';
import { silentLogger } from '../src/telemetry/index.ts';
import { radclient as sendAccounting, run as runIn } from './peers/radclient.ts';
import type { AttributionPart } from '../src/attribution/index.ts';
import { startUnbound, type UnboundPeer } from './peers/unbound.ts';

const SECRET = 'follower-e2e-secret';
const BIN = new URL('../bin/sakimori.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'sakimori-follow-e2e-'));
const storeUrl = `sqlite:${join(dir, 'node.db')}`;
const run = (cmd: string, args: string[]) => runIn(cmd, args, dir);
const NAS = 'NAS-IP-Address = 192.0.2.1\nNAS-Identifier = "bras-follow"';


const sakimori = (args: string[]) => run(process.execPath, [BIN, '--store', storeUrl, '--log-level', 'warn', ...args]);
const status = (out: string) => /status: (\w+)/.exec(out)?.[1];

describe('the DNS-protection opt-out follows the subscriber onto new addresses (radclient, dig, Unbound)', { timeout: 180_000 }, () => {
  let node: RunningNode;
  let up: UnboundPeer;
  let radius: { host: string; port: number };
  let dnsPort: string;

  const radclient = (packets: string[]) => sendAccounting(dir, radius, SECRET, packets);

  const packet = (type: string, session: string, ip: string, more = '') =>
    `Acct-Status-Type = ${type}\nAcct-Session-Id = "${session}"\nUser-Name = "hanako@isp.example"\n${NAS}\nFramed-IP-Address = ${ip}${more ? `\n${more}` : ''}`;

  const dig = (from: string) => run('dig', ['+time=2', '+tries=1', '-p', dnsPort, '@127.0.0.1', '-b', from, 'cc.example', 'A']);

  /** dig from an address until it gets the wanted status (the firewall applies consent within a second; the wait is long for a loaded machine). */
  async function until(from: string, want: 'NOERROR' | 'NXDOMAIN'): Promise<string> {
    const t0 = Date.now();
    let r = await dig(from);
    while (status(r.out) !== want && Date.now() - t0 < 10_000) {
      await new Promise((res) => setTimeout(res, 100));
      r = await dig(from);
    }
    if (status(r.out) !== want) {
      const follower = (await node.health()).parts['consent-follower'];
      const optedOut = await node.platform.consent.optedOut();
      assert.fail(`dig -b ${from}: wanted ${want}, got ${status(r.out)}\nfollower: ${JSON.stringify(follower)}\nopted out: ${JSON.stringify(optedOut)}\n${r.out}${r.err}`);
    }
    return r.out;
  }

  before(async () => {
    for (const tool of ['radclient', 'dig']) {
      const probe = spawnSync(tool, tool === 'dig' ? ['-v'] : ['-v'], { encoding: 'utf8' });
      if (probe.error) assert.fail(`${tool} is not installed (${probe.error.message}): apt-get install -y freeradius-utils dnsutils`);
    }
    up = await startUnbound({ localZones: ['"example." static'], localData: ['"cc.example. 60 IN A 192.0.2.66"'] });
    writeFileSync(join(dir, 'cc.rpz'), '$TTL 60\n$ORIGIN cc.rpz.follow.\n@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 60\ncc.example CNAME .\n');
    writeFileSync(join(dir, 'subscribers.csv'), 'id,login,name,email,language,prefecture\nS1,hanako@isp.example,Hanako,hanako@example.net,ja,Tokyo\n');
    const config = defaultConfig();
    config.store.url = storeUrl;
    config.http.listen = '127.0.0.1:0';
    config.dns.listen = ['127.0.0.1:0'];
    config.dns.upstreams = [up.address];
    config.dns.zones = [{ name: 'cc.rpz.follow', file: join(dir, 'cc.rpz'), kind: 'cc' }] as typeof config.dns.zones;
    config.attribution.radius = { listen: '127.0.0.1:0', clients: [{ address: '127.0.0.1', secret: SECRET }] };
    node = await startNode(config, { logger: silentLogger, version: 'test' });
    const part = node.parts.find((p) => p.name === 'attribution') as AttributionPart;
    radius = part.radiusAddress()!;
    dnsPort = /:(\d+)$/.exec(node.endpoints().find((e) => e.label.startsWith('DNS firewall'))!.url)![1]!;
    const imp = await sakimori(['subscribers', 'import', join(dir, 'subscribers.csv')]);
    assert.equal(imp.code, 0, imp.err);
  });

  after(async () => {
    await node?.stop();
    await up?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('Start on .21, opt-out from the CLI, Stop + Start on .22: .22 unfiltered while another client is blocked; after the Stop, filtered again', async () => {
    await radclient([packet('Start', 'F-1', '127.0.0.21')]);
    await until('127.0.0.21', 'NXDOMAIN');

    const opt = await sakimori(['consent', 'optout', '--subscriber', 'S1', '--reason', 'asked by phone']);
    assert.equal(opt.code, 0, opt.err);
    assert.match(await until('127.0.0.21', 'NOERROR'), /cc\.example\.\s+60\s+IN\s+A\s+192\.0\.2\.66/, 'the address held at the opt-out');

    await radclient([packet('Stop', 'F-1', '127.0.0.21', 'Acct-Session-Time = 60'), packet('Start', 'F-2', '127.0.0.22')]);
    assert.match(await until('127.0.0.22', 'NOERROR'), /cc\.example\.\s+60\s+IN\s+A\s+192\.0\.2\.66/, 'the new address is unfiltered');
    await until('127.0.0.21', 'NXDOMAIN');
    assert.equal(status((await dig('127.0.0.23')).out), 'NXDOMAIN', 'another client is still blocked');

    await radclient([packet('Stop', 'F-2', '127.0.0.22', 'Acct-Session-Time = 60')]);
    await until('127.0.0.22', 'NXDOMAIN');

    // A session imported by another process (a FreeRADIUS detail file) is followed as soon as the import is done.
    const t = Math.floor(Date.now() / 1000);
    const detail = (status: string, at: number) =>
      `${new Date(at * 1000).toUTCString()}\n\tAcct-Session-Id = "I-1"\n\tAcct-Status-Type = ${status}\n\tUser-Name = "hanako@isp.example"\n\tNAS-IP-Address = 192.0.2.9\n\tFramed-IP-Address = 127.0.0.24\n${status === 'Stop' ? '\tAcct-Session-Time = 5\n' : ''}\tTimestamp = ${at}\n\n`;
    writeFileSync(join(dir, 'detail-start'), detail('Start', t));
    const imp1 = await sakimori(['sessions', 'import', join(dir, 'detail-start'), '--format', 'detail']);
    assert.equal(imp1.code, 0, imp1.err);
    assert.match(await until('127.0.0.24', 'NOERROR'), /192\.0\.2\.66/, 'an imported session of the opted-out subscriber');
    writeFileSync(join(dir, 'detail-stop'), detail('Stop', t + 5));
    const imp2 = await sakimori(['sessions', 'import', join(dir, 'detail-stop'), '--format', 'detail']);
    assert.equal(imp2.code, 0, imp2.err);
    await until('127.0.0.24', 'NXDOMAIN');

    // The history says what happened, by whom and why.
    const h = await sakimori(['consent', 'history', '--json']);
    assert.equal(h.code, 0, h.err);
    const events = JSON.parse(h.out) as { scope: string; subject: string; choice: string; actor: string; via: string; reason: string | null }[];
    // Per subject (events of one millisecond have no order among themselves).
    const bySubject = (subject: string) => events.filter((e) => e.subject === subject).map((e) => [e.choice, e.actor]);
    assert.deepEqual(bySubject('S1').map((x) => x[0]), ['opt-out']);
    for (const a of ['127.0.0.21/32', '127.0.0.22/32', '127.0.0.24/32']) assert.deepEqual(bySubject(a), [['opt-out', 'consent-follower'], ['opt-in', 'consent-follower']], a);
    assert.equal(events.length, 7);
    assert.ok(events.slice(1).every((e) => e.via === 'session' && e.reason));
    const audit = await sakimori(['audit', 'list', '--json']);
    assert.equal(audit.code, 0, audit.err);
    assert.match(audit.out, /consent-follower/);
  });
});
