/**
 * Interop with a real NAS-side peer: FreeRADIUS's radclient (Debian freeradius-utils)
 * sends Accounting-Requests over loopback to the server, and checks our answers with
 * its own authenticator code. radclient must be installed: without it these tests fail
 * (they are the proof that real NASes can talk to us).
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AccountingEvent } from './accounting-event.ts';
import { sleep, startServer } from './test-support.ts';

const SECRET = 'radclient-secret';
const CLIENTS = [
  { address: '127.0.0.1', secret: SECRET },
  { address: '::1', secret: SECRET },
];

before(() => {
  const probe = spawnSync('radclient', ['-v'], { encoding: 'utf8' });
  if (probe.error) {
    assert.fail(
      `radclient is not installed (${probe.error.message}). These interop tests need FreeRADIUS's radclient: ` +
        'install the Debian package freeradius-utils (apt-get install -y freeradius-utils; scripts/install-peers.sh does it).',
    );
  }
});

interface RadclientRun {
  code: number;
  output: string;
  /** "Received Accounting-Response" lines: answers radclient accepted (it drops ones whose authenticator is wrong). */
  accepted: number;
  sent: number;
}

/** Runs radclient with the packets (attribute lists, one per packet) and waits for it to finish. */
async function radclient(
  server: { host: string; port: number },
  packets: string[],
  opts: { secret?: string; timeout?: number; retries?: number } = {},
): Promise<RadclientRun> {
  const dir = mkdtempSync(join(tmpdir(), 'sakimori-radclient-'));
  try {
    const file = join(dir, 'packets.txt');
    writeFileSync(file, packets.map((p) => p.trim()).join('\n\n') + '\n');
    const target = server.host.includes(':') ? `[${server.host}]:${server.port}` : `${server.host}:${server.port}`;
    const args = ['-x', '-t', String(opts.timeout ?? 1), '-r', String(opts.retries ?? 3), '-f', file, target, 'acct', opts.secret ?? SECRET];
    const child = spawn('radclient', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? -1)));
    return {
      code,
      output,
      accepted: (output.match(/Received Accounting-Response/g) ?? []).length,
      sent: (output.match(/Sent Accounting-Request/g) ?? []).length,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('radclient: a session\'s Start, Interim-Update and Stop, then Accounting-On, with and without Event-Timestamp', async () => {
  const h = await startServer({ clients: CLIENTS });
  try {
    const startRun = await radclient(h.address, [
      `Acct-Status-Type = Start
       Acct-Session-Id = "0000A1B2"
       User-Name = "user01@isp.example"
       NAS-IP-Address = 192.0.2.1
       NAS-Identifier = "bras-tokyo-1"
       Framed-IP-Address = 198.51.100.23
       Delegated-IPv6-Prefix = 2001:db8:ab00::/56
       Event-Timestamp = 1795348800
       Message-Authenticator = 0x00`,
    ]);
    assert.equal(startRun.code, 0, startRun.output);
    assert.equal(startRun.accepted, 1, 'radclient accepted our Accounting-Response (authenticator and Message-Authenticator)');

    const interim = await radclient(h.address, [
      `Acct-Status-Type = Interim-Update
       Acct-Session-Id = "0000A1B2"
       User-Name = "user01@isp.example"
       NAS-IP-Address = 192.0.2.1
       Framed-IP-Address = 198.51.100.23
       Acct-Session-Time = 900
       Event-Timestamp = 1795349700`,
    ]);
    assert.equal(interim.code, 0, interim.output);

    const before = Date.now();
    const stop = await radclient(h.address, [
      `Acct-Status-Type = Stop
       Acct-Session-Id = "0000A1B2"
       User-Name = "user01@isp.example"
       NAS-IP-Address = 192.0.2.1
       Framed-IP-Address = 198.51.100.23
       Acct-Session-Time = 1800
       Acct-Terminate-Cause = User-Request
       Acct-Delay-Time = 5`,
    ]);
    const after = Date.now();
    assert.equal(stop.code, 0, stop.output);

    const on = await radclient(h.address, [
      `Acct-Status-Type = Accounting-On
       NAS-IP-Address = 192.0.2.1
       Acct-Delay-Time = 0`,
    ]);
    assert.equal(on.code, 0, on.output);

    const e = h.events;
    assert.deepEqual(
      e.map((x) => x.status),
      ['start', 'interim-update', 'stop', 'accounting-on'],
    );
    assert.deepEqual(e[0], {
      status: 'start',
      at: 1795348800_000,
      clock: 'event-timestamp',
      nas: { address: '127.0.0.1', ip: '192.0.2.1', identifier: 'bras-tokyo-1' },
      sessionId: '0000A1B2',
      userName: 'user01@isp.example',
      framedIp: '198.51.100.23',
      delegatedIpv6Prefix: '2001:db8:ab00::/56',
    } satisfies AccountingEvent);
    assert.equal(e[1]!.at, 1795349700_000);
    assert.equal(e[1]!.sessionTime, 900);
    const s = e[2]!;
    assert.equal(s.clock, 'receive-time');
    assert.ok(s.at >= before - 5000 && s.at <= after - 5000, `Stop at ${s.at} should be receive time minus 5 s (${before - 5000}..${after - 5000})`);
    assert.equal(s.terminateCause, 'User-Request');
    assert.equal(s.sessionTime, 1800);
    assert.equal(e[3]!.sessionId, undefined);
    assert.equal(e[3]!.nas.ip, '192.0.2.1');
    assert.equal(await h.metric('sakimori_radius_acct_responses_total'), 4);
  } finally {
    await h.server.stop();
  }
});

test('radclient over IPv6 loopback: a Start with Framed-IPv6-Prefix and Delegated-IPv6-Prefix', async () => {
  const h = await startServer({ listen: '[::1]:0', clients: CLIENTS });
  try {
    const run = await radclient(h.address, [
      `Acct-Status-Type = Start
       Acct-Session-Id = "v6-1"
       User-Name = "user02"
       NAS-IPv6-Address = 2001:db8::10
       Framed-IPv6-Prefix = 2001:db8:0:1::/64
       Delegated-IPv6-Prefix = 2001:db8:cd00::/56`,
    ]);
    assert.equal(run.code, 0, run.output);
    assert.equal(h.events.length, 1);
    const ev = h.events[0]!;
    assert.deepEqual(ev.nas, { address: '::1', ip: '2001:db8::10' });
    assert.equal(ev.framedIpv6Prefix, '2001:db8:0:1::/64');
    assert.equal(ev.delegatedIpv6Prefix, '2001:db8:cd00::/56');
  } finally {
    await h.server.stop();
  }
});

test('radclient with the wrong secret gets no answer; the packets are dropped and counted', async () => {
  const h = await startServer({ clients: CLIENTS });
  try {
    const run = await radclient(h.address, ['Acct-Status-Type = Start\nAcct-Session-Id = "bad"'], { secret: 'wrong-secret', timeout: 0.3, retries: 2 });
    assert.notEqual(run.code, 0, 'radclient should have had no reply');
    assert.equal(run.accepted, 0);
    assert.equal(run.sent, 2);
    assert.equal(h.events.length, 0);
    assert.equal(await h.metric('sakimori_radius_acct_dropped_total', { reason: 'bad-authenticator' }), 2);
    assert.equal(await h.metric('sakimori_radius_acct_responses_total'), 0);
  } finally {
    await h.server.stop();
  }
});

test('radclient retransmits while the event is still being recorded: delivered exactly once, answered', async () => {
  const delivered: AccountingEvent[] = [];
  const h = await startServer({
    clients: CLIENTS,
    onEvent: async (e) => {
      delivered.push(e);
      await sleep(1200);
    },
  });
  try {
    const run = await radclient(h.address, ['Acct-Status-Type = Start\nAcct-Session-Id = "slow-1"\nFramed-IP-Address = 198.51.100.9'], { timeout: 0.4, retries: 6 });
    assert.equal(run.code, 0, run.output);
    assert.ok(run.sent >= 2, `radclient should have retransmitted (sent ${run.sent})`);
    assert.equal(delivered.length, 1);
    assert.equal(await h.metric('sakimori_radius_acct_duplicates_total', { kind: 'retransmission' }), run.sent - 1);
  } finally {
    await h.server.stop();
  }
});

test('recording fails once: no answer, radclient retransmits, the event is recorded exactly once and answered', async () => {
  let calls = 0;
  const recorded: AccountingEvent[] = [];
  const h = await startServer({
    clients: CLIENTS,
    onEvent: async (e) => {
      calls++;
      if (calls === 1) throw new Error('session index unavailable');
      recorded.push(e);
    },
  });
  try {
    const run = await radclient(h.address, ['Acct-Status-Type = Interim-Update\nAcct-Session-Id = "fail-once"\nAcct-Session-Time = 60'], { timeout: 0.4, retries: 4 });
    assert.equal(run.code, 0, run.output);
    assert.equal(run.sent, 2);
    assert.equal(calls, 2);
    assert.equal(recorded.length, 1);
    assert.equal(recorded[0]!.sessionId, 'fail-once');
    assert.equal(await h.metric('sakimori_radius_acct_dropped_total', { reason: 'consumer-failed' }), 1);
  } finally {
    await h.server.stop();
  }
});

test('radclient sending 200 packets from one file: every one answered and delivered once', async () => {
  const h = await startServer({ clients: CLIENTS });
  try {
    const packets = Array.from({ length: 200 }, (_, i) => `Acct-Status-Type = Interim-Update\nAcct-Session-Id = "bulk-${i}"\nFramed-IP-Address = 10.${i >> 8}.${i & 255}.1\nAcct-Session-Time = ${i}`);
    const run = await radclient(h.address, packets, { timeout: 1, retries: 3 });
    assert.equal(run.code, 0, run.output.slice(-2000));
    assert.equal(run.accepted, 200);
    assert.equal(new Set(h.events.map((e) => e.sessionId)).size, 200);
    assert.equal(h.events.length, 200);
  } finally {
    await h.server.stop();
  }
});
