import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { openStore } from '../src/store/index.ts';
import { AuditLog } from '../src/privacy/index.ts';
import { ALL_MIGRATIONS } from '../src/node/index.ts';

const BIN = resolve(import.meta.dirname, '../bin/sakimori.js');
let dir: string;

function sakimori(args: string[], opts: { cwd?: string } = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? dir, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'sakimori-cli-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('a reader that closes the pipe (sakimori --help | head) stops it quietly, status 141 as SIGPIPE would', async () => {
  const child = spawn(process.execPath, [BIN, '--help'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy(); // closed before the help is written: the write fails with EPIPE
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  assert.equal(code, 141, stderr);
  assert.doesNotMatch(stderr, /EPIPE|Error/);
});

test('--help teaches: groups, commands, examples', () => {
  const r = sakimori(['--help']);
  assert.equal(r.code, 0);
  for (const s of ['ISP node:', 'Configuration:', 'Privacy and audit (R16):', 'start', 'config', 'audit', 'Getting started:']) assert.ok(r.stdout.includes(s), `--help lacks ${s}`);
  const v = sakimori(['--version']);
  assert.equal(v.code, 0);
  assert.match(v.stdout, /^\d+\.\d+\.\d+/);
  const sub = sakimori(['audit', 'verify', '--help']);
  assert.equal(sub.code, 0);
  assert.match(sub.stdout, /first altered or\s+missing entry/);
});

test('an unknown command is an error with a suggestion', () => {
  const r = sakimori(['strat']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /Did you mean start\?/i);
});

test('config check names an unknown key with file:line and the closest valid key', () => {
  writeFileSync(join(dir, 'bad.yaml'), 'node:\n  name: test\nhttp:\n  lissten: "127.0.0.1:8080"\nstore:\n  url: "mysql://x"\n');
  const r = sakimori(['config', 'check', 'bad.yaml']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /bad\.yaml:4: http\.lissten: .*unknown.*http\.listen/);
  assert.match(r.stderr, /bad\.yaml:6: store\.url: .*mysql:\/\/x/);
});

test('config example passes config check, and a missing file is a clear error', () => {
  const ex = sakimori(['config', 'example']);
  assert.equal(ex.code, 0);
  writeFileSync(join(dir, 'example.yaml'), ex.stdout);
  const r = sakimori(['config', 'check', 'example.yaml']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /OK/);
  const missing = sakimori(['config', 'check', 'nope.yaml']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /nope\.yaml.*does not exist/);
});

test('audit verify exits 0 on an intact chain and 1 naming an altered or deleted row', async () => {
  const db = join(dir, 'audit.db');
  const store = await openStore(`sqlite:${db}`);
  await store.migrate(ALL_MIGRATIONS);
  const audit = new AuditLog(store, { flushIntervalMs: 0 });
  for (let i = 0; i < 30; i++) await audit.append({ actor: 'test', action: 'read', purpose: 'cc-blocking', subject: `q${i}` });
  await audit.close();
  await store.close();

  let r = sakimori(['audit', 'verify', '--store', `sqlite:${db}`]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /intact: 30 entries/);

  const raw = new Database(db);
  raw.prepare(`UPDATE audit_log SET detail = '{"forged":true}' WHERE seq = 12`).run();
  raw.close();
  r = sakimori(['audit', 'verify', '--store', `sqlite:${db}`]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /BROKEN at entry 12: .*altered/);

  const raw2 = new Database(db);
  raw2.prepare('DELETE FROM audit_log WHERE seq >= 12 AND seq <= 13').run();
  raw2.close();
  r = sakimori(['audit', 'verify', '--store', `sqlite:${db}`, '--json']);
  assert.equal(r.code, 1);
  const json = JSON.parse(r.stdout) as { ok: boolean; firstBadSeq: number; reason: string };
  assert.equal(json.ok, false);
  assert.equal(json.firstBadSeq, 12);
  assert.match(json.reason, /deleted/);
});

test('a bad store URL is a clear error, not a stack trace', () => {
  const r = sakimori(['store', 'status', '--store', 'mysql://db/x']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^sakimori: [^\n]*\n.*store\.url: "mysql:\/\/db\/x" is not a supported store URL/);
  assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/);
});

test('sakimori start on embedded defaults serves /healthz, while CLI commands use the same store', async () => {
  const home = mkdtempSync(join(tmpdir(), 'sakimori-start-'));
  // A port of our own, so the test never fights another node on 8080.
  writeFileSync(join(home, 'sakimori.yaml'), 'http:\n  listen: "127.0.0.1:0"\n');
  const child = spawn(process.execPath, [BIN, 'start'], { cwd: home, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  try {
    let out = '';
    const url = await new Promise<string>((res, rej) => {
      const t = setTimeout(() => rej(new Error(`node did not print its endpoints in time:\n${out}`)), 30_000);
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /health\s+(http:\/\/\S+)\/healthz/.exec(out);
        if (m) {
          clearTimeout(t);
          res(m[1]!);
        }
      });
      child.on('exit', (code) => rej(new Error(`node exited with ${code}:\n${out}`)));
    });
    assert.match(out, /store\s+sqlite:\S*\/data\/sakimori\.db/);
    assert.match(out, /config\s+.*sakimori\.yaml/);
    const health = (await (await fetch(`${url}/healthz`)).json()) as { status: string; parts: Record<string, { status: string }> };
    assert.equal(health.status, 'ok');
    for (const p of ['store', 'bus', 'http', 'retention']) assert.equal(health.parts[p]?.status, 'ok', `part ${p}`);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    assert.match(metrics, /sakimori_process_cpu_seconds_total/);
    assert.match(metrics, /sakimori_http_requests_total\{[^}]*route="\/healthz"/);
    // The same store, concurrently, from another process.
    const r = sakimori(['audit', 'verify'], { cwd: home });
    assert.equal(r.code, 0, r.stderr);
    const s = sakimori(['store', 'status', '--json'], { cwd: home });
    assert.equal(s.code, 0, s.stderr);
    assert.ok((JSON.parse(s.stdout) as { migrations: unknown[] }).migrations.length >= 2);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    rmSync(home, { recursive: true, force: true });
  }
  assert.equal(child.exitCode ?? 0, 0);
  // Node's own warnings (a library's deprecation, say) are noise in an operator's log.
  assert.doesNotMatch(err, /\(node:\d+\) /);
});

test('consent optout/optin from the CLI keeps the history and is audited', () => {
  const store = `sqlite:${join(dir, 'consent.db')}`;
  let r = sakimori(['consent', 'optout', '--client', '127.0.0.2', '--reason', 'ticket 7', '--store', store]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /opt-out client:127\.0\.0\.2\/32 {2}via cli/);
  r = sakimori(['consent', 'list', '--store', store]);
  assert.match(r.stdout, /client:127\.0\.0\.2\/32 {2}opted out since/);
  r = sakimori(['consent', 'optin', '--client', '127.0.0.2/32', '--store', store]);
  assert.equal(r.code, 0, r.stderr);
  r = sakimori(['consent', 'history', '--client', '127.0.0.2', '--json', '--store', store]);
  const events = JSON.parse(r.stdout) as { choice: string; reason: string | null }[];
  assert.deepEqual(events.map((e) => [e.choice, e.reason]), [['opt-out', 'ticket 7'], ['opt-in', null]]);
  r = sakimori(['consent', 'optout', '--client', '192.0.2.1/24', '--store', store]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /host bits set past \/24/);
  r = sakimori(['audit', 'list', '--json', '--store', store]);
  assert.deepEqual((JSON.parse(r.stdout) as { action: string }[]).map((e) => e.action), ['consent', 'consent']);
});
