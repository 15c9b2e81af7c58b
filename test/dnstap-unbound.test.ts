/**
 * Debian's Unbound sends real dnstap (its own Frame Streams writer, bidirectional) to the
 * collector, over a Unix socket and over TCP (dnstap-ip), and to `sakimori dnstap listen`
 * run as a process. Unbound answers only from local data on 127.0.0.1: nothing recurses
 * and nothing leaves loopback. A missing unbound or dig fails (never skips).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startUnbound, freePort, type UnboundPeer } from './peers/unbound.ts';
import { CollectedEvents, dig, requireTool, requireUnboundDnstap } from './peers/dnstap-harness.ts';
import type { DnstapEvent } from '../src/dns/dnstap/index.ts';

const LOCAL = {
  localZones: ['"example.test." static'],
  localData: ['"www.example.test. 60 IN A 192.0.2.1"', '"www.example.test. 60 IN A 192.0.2.2"', '"txt.example.test. 60 IN TXT \\"v=sakimori\\""', '"warmup.example.test. 60 IN A 192.0.2.9"'],
};

function dnstapClauses(target: string[]): string[] {
  return [
    'dnstap:',
    '  dnstap-enable: yes',
    ...target.map((l) => `  ${l}`),
    '  dnstap-bidirectional: yes',
    '  dnstap-send-identity: yes',
    '  dnstap-identity: "sakimori-test-unbound"',
    '  dnstap-send-version: yes',
    '  dnstap-log-client-query-messages: yes',
    '  dnstap-log-client-response-messages: yes',
  ];
}

const strip = ({ at: _at, ...rest }: DnstapEvent) => rest;

/** The queries every variant sends, and the events each must give. */
async function exercise(events: CollectedEvents, port: number, peer: UnboundPeer): Promise<void> {
  const ctx = () => `unbound log:\n${peer.log().slice(-3000)}`;
  const before = Date.now();
  const a = await dig(port, 'www.example.test', 'A');
  assert.equal(a.status, 'NOERROR');
  assert.equal(a.answer.length, 2);
  const nx = await dig(port, 'nope.example.test', 'AAAA', { tcp: true });
  assert.equal(nx.status, 'NXDOMAIN');
  const txt = await dig(port, 'TXT.Example.TEST', 'TXT');
  assert.equal(txt.status, 'NOERROR');

  const q = (name: string, qtype: number, transport: string) => (e: DnstapEvent) => e.qname === name && e.qtype === qtype && e.transport === transport;
  const aq = await events.waitFor('CLIENT_QUERY www.example.test A', (e) => q('www.example.test', 1, 'udp')(e) && e.rcode === undefined, 20_000, ctx);
  const ar = await events.waitFor('CLIENT_RESPONSE www.example.test A', (e) => q('www.example.test', 1, 'udp')(e) && e.rcode !== undefined, 20_000, ctx);
  const nq = await events.waitFor('CLIENT_QUERY nope.example.test AAAA over TCP', (e) => q('nope.example.test', 28, 'tcp')(e) && e.rcode === undefined, 20_000, ctx);
  const nr = await events.waitFor('CLIENT_RESPONSE nope.example.test AAAA over TCP', (e) => q('nope.example.test', 28, 'tcp')(e) && e.rcode !== undefined, 20_000, ctx);
  const tr = await events.waitFor('CLIENT_RESPONSE txt.example.test TXT (lower-cased)', (e) => q('txt.example.test', 16, 'udp')(e) && e.rcode !== undefined, 20_000, ctx);

  assert.deepEqual(strip(aq), { client: '127.0.0.1', qname: 'www.example.test', qtype: 1, transport: 'udp' });
  assert.deepEqual(strip(ar), { client: '127.0.0.1', qname: 'www.example.test', qtype: 1, rcode: 0, responseSize: a.size, transport: 'udp' });
  assert.deepEqual(strip(nq), { client: '127.0.0.1', qname: 'nope.example.test', qtype: 28, transport: 'tcp' });
  assert.deepEqual(strip(nr), { client: '127.0.0.1', qname: 'nope.example.test', qtype: 28, rcode: 3, responseSize: nx.size, transport: 'tcp' });
  assert.equal(tr.rcode, 0);
  assert.equal(tr.responseSize, txt.size);
  for (const e of [aq, ar, nq, nr, tr]) assert.ok(e.at >= before - 2000 && e.at <= Date.now() + 2000, `event time ${new Date(e.at).toISOString()} is not now`);
}

describe('dnstap from Unbound (Debian unbound, real Frame Streams)', () => {
  let dir: string;
  before(() => {
    requireUnboundDnstap(requireTool('unbound', 'unbound', 'the dnstap tests take dnstap from a real Unbound'));
    requireTool('dig', 'dnsutils', 'the dnstap tests query the resolvers with dig');
    dir = mkdtempSync(join(tmpdir(), 'sakimori-dnstap-unbound-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('over a Unix socket (dnstap-socket-path): client queries and responses become events with name, type, client, rcode and size', async () => {
    const sock = join(dir, 'unix.sock');
    const events = await CollectedEvents.start([{ kind: 'unix', path: sock }]);
    let peer: UnboundPeer | undefined;
    try {
      peer = await startUnbound({ ...LOCAL, clauses: dnstapClauses([`dnstap-socket-path: "${sock}"`]), verbosity: 1 });
      await events.waitUntilFlowing(peer.port, 'warmup.example.test', 30_000, () => peer!.log());
      await exercise(events, peer.port, peer);
      const s = events.collector.stats();
      assert.equal(s.connections, 1);
      assert.deepEqual(s.closedBad, {});
      assert.equal(s.skipped['bad-dns'], 0);
    } finally {
      await peer?.close();
      await events.stop();
    }
  });

  it('over TCP (dnstap-ip, no TLS)', async () => {
    const port = await freePort();
    const events = await CollectedEvents.start([{ kind: 'tcp', host: '127.0.0.1', port }]);
    let peer: UnboundPeer | undefined;
    try {
      peer = await startUnbound({ ...LOCAL, clauses: dnstapClauses([`dnstap-ip: "127.0.0.1@${port}"`, 'dnstap-tls: no']), verbosity: 1 });
      await events.waitUntilFlowing(peer.port, 'warmup.example.test', 30_000, () => peer!.log());
      await exercise(events, peer.port, peer);
    } finally {
      await peer?.close();
      await events.stop();
    }
  });

  it('sakimori dnstap listen (the CLI, as a process) logs the summary of what Unbound sent', async () => {
    const sock = join(dir, 'cli.sock');
    const cli = spawn(process.execPath, ['bin/sakimori.js', 'dnstap', 'listen', '--unix', sock, '--summary-interval', '1s', '--socket-mode', '0666'], { cwd: new URL('..', import.meta.url).pathname, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    cli.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    cli.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    const exited = new Promise<number | null>((resolve) => cli.on('exit', (code) => resolve(code)));
    let peer: UnboundPeer | undefined;
    try {
      for (let i = 0; i < 300 && !out.includes('Stop with Ctrl-C'); i++) {
        if (cli.exitCode !== null) break;
        await sleep(50);
      }
      assert.match(out, /dnstap \(Frame Streams\): unix:.*cli\.sock/, `${out}\n${err}`);
      peer = await startUnbound({ ...LOCAL, clauses: dnstapClauses([`dnstap-socket-path: "${sock}"`]) });
      // The summary counts what came in: wait for a line with client queries in it.
      const until = Date.now() + 30_000;
      let line: { queries: number; responses: number; msg: string } | undefined;
      while (Date.now() < until && !line) {
        await dig(peer.port, 'www.example.test', 'A');
        await sleep(300);
        line = err
          .split('\n')
          .filter((l) => l.includes('"msg":"dnstap: last 1s'))
          .map((l) => JSON.parse(l) as { queries: number; responses: number; msg: string })
          .find((l) => l.queries > 0 && l.responses > 0);
      }
      assert.ok(line, `no summary with queries in the CLI log:\n${err}`);
      assert.match(line.msg, /\d+ frames, \d+ client queries, \d+ responses, 0 other messages; 1 writer\(s\) connected/);
      assert.match(err, /\\"sakimori-test-unbound\\" \(unbound [\d.]+\) is sending on unix:/);
      // R16: no name or client address of the stream in the CLI's output.
      assert.doesNotMatch(out + err, /www\.example\.test|192\.0\.2\.1/);
    } finally {
      await peer?.close();
      cli.kill('SIGTERM');
      assert.equal(await exited, 0, err);
    }
  });

  it('sakimori start with dnstap.listen runs the collector as a node part: banner, /healthz, /metrics', async () => {
    const home = mkdtempSync(join(dir, 'node-'));
    const sock = join(home, 'node.sock');
    writeFileSync(join(home, 'sakimori.yaml'), ['http:', '  listen: "127.0.0.1:0"', 'dns:', '  enabled: false', 'dnstap:', `  listen: ["unix:${sock}"]`, '  socketMode: "0666"', ''].join('\n'));
    const bin = new URL('../bin/sakimori.js', import.meta.url).pathname;
    const node = spawn(process.execPath, [bin, 'start'], { cwd: home, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    node.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    node.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    const exited = new Promise<number | null>((resolve) => node.on('exit', (code) => resolve(code)));
    let peer: UnboundPeer | undefined;
    try {
      let url: string | undefined;
      for (let i = 0; i < 600 && !url; i++) {
        if (node.exitCode !== null) break;
        url = /health\s+(http:\/\/\S+)\/healthz/.exec(out)?.[1];
        if (!url) await sleep(50);
      }
      assert.ok(url, `the node printed no endpoints:\n${out}\n${err}`);
      assert.match(out, /dnstap \(Frame Streams\)\s+unix:\S*node\.sock/);
      const health = (await (await fetch(`${url}/healthz`)).json()) as { parts: Record<string, { status: string }> };
      assert.equal(health.parts.dnstap?.status, 'ok', JSON.stringify(health));
      peer = await startUnbound({ ...LOCAL, clauses: dnstapClauses([`dnstap-socket-path: "${sock}"`]) });
      const until = Date.now() + 30_000;
      let metrics = '';
      while (Date.now() < until && !/sakimori_dnstap_events_total\{[^}]*kind="response"[^}]*\} [1-9]/.test(metrics)) {
        await dig(peer.port, 'www.example.test', 'A');
        await sleep(200);
        metrics = await (await fetch(`${url}/metrics`)).text();
      }
      assert.match(metrics, /sakimori_dnstap_events_total\{[^}]*kind="query"[^}]*\} [1-9]/, metrics.split('\n').filter((l) => l.includes('dnstap')).join('\n'));
      assert.match(metrics, /sakimori_dnstap_connections\{[^}]*\} 1/);
    } finally {
      await peer?.close();
      node.kill('SIGTERM');
      assert.equal(await exited, 0, err.slice(-3000));
    }
  });
});
