/**
 * The DNS firewall from the command line, as an operator runs it: `sakimori dns serve`
 * with --rpz/--allow and an Unbound upstream, an opt-out made by `sakimori consent optout`
 * in another process (in force within a second), `sakimori dns events --json`; and
 * `sakimori start` running the firewall and the warning page from the config, with the
 * events API in /openapi.json and the counters on /metrics.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort, startUnbound, type UnboundPeer } from './peers/unbound.ts';

const BIN = fileURLToPath(new URL('../bin/sakimori.js', import.meta.url));

function run(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    c.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function dig(args: string[]): Promise<string> {
  return new Promise((resolve) => {
    const c = spawn('dig', ['+time=2', '+tries=1', ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    c.stdout.on('data', (d: Buffer) => (out += d.toString()));
    c.on('close', () => resolve(out));
  });
}

/** Starts a long-running command and resolves with its stdout once `ready` matches. */
function serve(args: string[], cwd: string, ready: RegExp): Promise<{ child: ChildProcess; out: () => string; match: RegExpExecArray }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const t = setTimeout(() => reject(new Error(`not ready in time:\n${out}\n${err}`)), 60_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = ready.exec(out);
      if (m) {
        clearTimeout(t);
        resolve({ child, out: () => out, match: m });
      }
    });
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => reject(new Error(`exited with ${code}:\n${out}\n${err}`)));
  });
}

async function stop(c: ChildProcess): Promise<number | null> {
  if (c.exitCode !== null) return c.exitCode;
  const done = new Promise<number | null>((r) => c.once('exit', (code) => r(code)));
  c.kill('SIGTERM');
  return done;
}

const status = (out: string) => /status: (\w+)/.exec(out)?.[1];

describe('sakimori dns serve / dns events / start', { timeout: 240_000 }, () => {
  let up: UnboundPeer;
  let home: string;

  before(async () => {
    up = await startUnbound({ localZones: ['"example." static'], localData: ['"cc.example. 60 IN A 192.0.2.66"', '"ok.cc.example. 60 IN A 192.0.2.67"', '"www.example. 60 IN A 192.0.2.1"'] });
    home = mkdtempSync(join(tmpdir(), 'sakimori-dns-cli-'));
    writeFileSync(join(home, 'cc.rpz'), '$TTL 60\n$ORIGIN cc.rpz.cli.\n@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 60\ncc.example CNAME .\n*.cc.example CNAME .\n');
    writeFileSync(join(home, 'never-block.txt'), 'ok.cc.example\n');
  });

  after(async () => {
    await up?.close();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it('dns serve enforces --rpz and --allow; an opt-out from another process is in force within a second; dns events lists what was blocked', async () => {
    const s = await serve(['dns', 'serve', '--listen', '127.0.0.1:0', '--upstream', up.address, '--rpz', 'cc.rpz', '--allow', 'never-block.txt', '--threads', '1'], home, /DNS firewall \(UDP\+TCP\): dns:\/\/127\.0\.0\.1:(\d+)/);
    const port = s.match[1]!;
    try {
      assert.match(s.out(), /zone cc\.rpz\.cli: 2 names/);
      assert.equal(status(await dig(['-p', port, '@127.0.0.1', 'cc.example'])), 'NXDOMAIN');
      assert.match(await dig(['-p', port, '@127.0.0.1', 'ok.cc.example', '+tcp']), /ok\.cc\.example\.\s+60\s+IN\s+A\s+192\.0\.2\.67/);
      const r = await run(['consent', 'optout', '--client', '127.0.0.2/32', '--reason', 'test'], home);
      assert.equal(r.code, 0, r.stderr);
      const t0 = Date.now();
      let out = '';
      while (Date.now() - t0 < 1500) {
        out = await dig(['-p', port, '@127.0.0.1', '-b', '127.0.0.2', 'cc.example']);
        if (status(out) === 'NOERROR') break;
      }
      const optedOutAt = Date.now();
      assert.match(out, /cc\.example\.\s+60\s+IN\s+A\s+192\.0\.2\.66/, 'opted-out client resolved without filtering');
      assert.ok(Date.now() - t0 < 1500);
      assert.equal(status(await dig(['-p', port, '@127.0.0.1', '-b', '127.0.0.1', 'cc.example'])), 'NXDOMAIN');
      await new Promise((r) => setTimeout(r, 1500)); // one flush interval
      const ev = await run(['dns', 'events', '--json', '--since', '1h'], home);
      assert.equal(ev.code, 0, ev.stderr);
      const rows = JSON.parse(ev.stdout) as { at: string; client: string; fqdn: string; list: string; action: string; purpose: string }[];
      assert.ok(rows.some((x) => x.client === '127.0.0.1' && x.fqdn === 'cc.example' && x.list === 'cc.rpz.cli' && x.action === 'nxdomain' && x.purpose === 'cc-blocking'), ev.stdout);
      const after = rows.filter((x) => x.client === '127.0.0.2' && Date.parse(x.at) > optedOutAt);
      assert.deepEqual(after, [], 'nothing kept for the client once opted out');
      const text = await run(['dns', 'events', '--client', '127.0.0.1'], home);
      assert.match(text.stdout, /127\.0\.0\.1\s+nxdomain\s+cc\.rpz\.cli\s+cc\.example/);
    } finally {
      assert.equal(await stop(s.child), 0);
    }
  });

  it('dns serve --http --warning-page: the banner names both; /healthz, /metrics and the events API answer, and so does the warning page', async () => {
    const [httpPort, pagePort] = [await freePort(), await freePort()];
    const s = await serve(['dns', 'serve', '--listen', '127.0.0.1:0', '--upstream', up.address, '--rpz', 'cc.rpz', '--http', `127.0.0.1:${httpPort}`, '--warning-page', `127.0.0.1:${pagePort}`, '--threads', '0'], home, /Stop with Ctrl-C/);
    try {
      const port = /DNS firewall \(UDP\+TCP\): dns:\/\/127\.0\.0\.1:(\d+)/.exec(s.out())?.[1];
      assert.ok(port, s.out());
      assert.match(s.out(), new RegExp(`warning page: http://127\\.0\\.0\\.1:${pagePort}/`));
      assert.match(s.out(), new RegExp(`health: http://127\\.0\\.0\\.1:${httpPort}/healthz`));
      assert.equal(status(await dig(['-p', port, '@127.0.0.1', 'cc.example'])), 'NXDOMAIN');
      const health = (await (await fetch(`http://127.0.0.1:${httpPort}/healthz`)).json()) as { status: string; parts: Record<string, { status: string }> };
      assert.equal(health.parts.dns?.status, 'ok', JSON.stringify(health));
      assert.match(await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text(), /sakimori_dns_queries_total/);
      const api = (await (await fetch(`http://127.0.0.1:${httpPort}/openapi.json`)).json()) as { paths: Record<string, unknown> };
      assert.ok(api.paths['/api/v1/dns/events'], Object.keys(api.paths).join(' '));
      const page = await fetch(`http://127.0.0.1:${pagePort}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /ブロック|blocked/i);
    } finally {
      assert.equal(await stop(s.child), 0);
    }
  });

  it('sakimori start runs the firewall and the warning page from the config; events API in /openapi.json, counters on /metrics', async () => {
    writeFileSync(
      join(home, 'sakimori.yaml'),
      [
        'http:',
        '  listen: "127.0.0.1:0"',
        'dns:',
        '  listen: ["127.0.0.1:0"]',
        `  upstreams: ["${up.address}"]`,
        '  zones:',
        '    - { name: cc.rpz.cli, file: cc.rpz, kind: cc }',
        '  warningPage:',
        '    listen: "127.0.0.1:0"',
        '    contact: "support@example.net"',
        '',
      ].join('\n'),
    );
    const s = await serve(['start'], home, /Stop with Ctrl-C/);
    try {
      const out = s.out();
      const port = /DNS firewall \(UDP\+TCP\)\s+dns:\/\/127\.0\.0\.1:(\d+)/.exec(out)?.[1];
      const page = /DNS warning page\s+(http:\/\/\S+)/.exec(out)?.[1];
      const http = /health\s+(http:\/\/\S+)\/healthz/.exec(out)?.[1];
      assert.ok(port && page && http, out);
      assert.equal(status(await dig(['-p', port, '@127.0.0.1', 'x.cc.example', '+tcp'])), 'NXDOMAIN');
      const html = await (await fetch(page)).text();
      assert.match(html, /このサイトへの接続を止めました/);
      assert.match(html, /support@example\.net/);
      const api = (await (await fetch(`${http}/openapi.json`)).json()) as { paths: Record<string, unknown> };
      assert.ok(api.paths['/api/v1/dns/events']);
      await new Promise((r) => setTimeout(r, 1300));
      const ev = (await (await fetch(`${http}/api/v1/dns/events?since=1h`)).json()) as { purpose: string; events: { fqdn: string; at: string }[] };
      assert.equal(ev.purpose, 'cc-blocking');
      assert.ok(ev.events.some((e) => e.fqdn === 'x.cc.example' && /T.*Z$/.test(e.at)));
      const metrics = await (await fetch(`${http}/metrics`)).text();
      assert.match(metrics, /sakimori_dns_policy_total\{list="cc\.rpz\.cli",action="nxdomain",node="[^"]+"\} 1/);
      const health = (await (await fetch(`${http}/healthz`)).json()) as { parts: Record<string, { status: string }> };
      assert.equal(health.parts.dns?.status, 'ok');
      assert.equal(health.parts['warning-page']?.status, 'ok');
    } finally {
      assert.equal(await stop(s.child), 0);
    }
  });
});
