/**
 * The accounting server over real loopback UDP, driven by hand-built packets (the
 * radclient interop tests are in accounting-server.radclient.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { ManualClock } from '../core/clock.ts';
import { SakimoriError } from '../core/errors.ts';
import { createRegistry } from '../telemetry/metrics.ts';
import { silentLogger } from '../telemetry/log.ts';
import { AccountingServer, parseAccountingListen } from './accounting-server.ts';
import type { AccountingEvent } from './accounting-event.ts';
import { AcctStatusType, Attr, makeAttribute } from './wire/attributes.ts';
import { encodeRequest } from './wire/authenticator.ts';
import { Code, type RadiusAttribute } from './wire/types.ts';
import { TestNas, sleep, startServer } from './test-support.ts';

const SECRET = 'loopback-secret';
const CLIENTS = [{ address: '127.0.0.0/8', secret: SECRET }];

function start(sessionId: string, extra: RadiusAttribute[] = []): RadiusAttribute[] {
  return [
    makeAttribute(Attr.AcctStatusType, AcctStatusType.Start),
    makeAttribute(Attr.AcctSessionId, sessionId),
    makeAttribute(Attr.UserName, 'alice'),
    makeAttribute(Attr.FramedIpAddress, '198.51.100.7'),
    ...extra,
  ];
}

/** A promise the test settles by hand. */
function gate(): { promise: Promise<void>; open: () => void; fail: (e: Error) => void } {
  let open!: () => void;
  let fail!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    open = res;
    fail = rej;
  });
  return { promise, open, fail };
}

test('an Accounting-Request is delivered and answered with a valid Accounting-Response', async () => {
  const h = await startServer({ clients: CLIENTS });
  const nas = await TestNas.open();
  try {
    const req = nas.request(start('S1', [makeAttribute(Attr.NasIdentifier, 'bras-1')]), SECRET);
    nas.send(req, h.address);
    const res = await nas.reply(req, SECRET);
    assert.ok(res, 'no Accounting-Response');
    assert.equal(res.code, Code.AccountingResponse);
    assert.equal(res.attributes.length, 0);
    assert.equal(h.events.length, 1);
    const e = h.events[0]!;
    assert.equal(e.status, 'start');
    assert.equal(e.sessionId, 'S1');
    assert.equal(e.framedIp, '198.51.100.7');
    assert.deepEqual(e.nas, { address: '127.0.0.1', identifier: 'bras-1' });
    assert.equal(await h.metric('sakimori_radius_acct_requests_total', { status: 'start' }), 1);
    assert.equal(await h.metric('sakimori_radius_acct_responses_total'), 1);
  } finally {
    await nas.close();
    await h.server.stop();
  }
});

test('the answer waits for onEvent to resolve; a Message-Authenticator in the request gets one in the answer', async () => {
  const g = gate();
  const seen: AccountingEvent[] = [];
  const h = await startServer({
    clients: CLIENTS,
    onEvent: async (e) => {
      seen.push(e);
      await g.promise;
    },
  });
  const nas = await TestNas.open();
  try {
    const req = nas.request(start('S2', [{ type: Attr.MessageAuthenticator.type, value: new Uint8Array(16) }]), SECRET);
    nas.send(req, h.address);
    assert.equal(await nas.reply(req, SECRET, 300), undefined, 'answered before the event was recorded');
    assert.equal(seen.length, 1);
    g.open();
    const res = await nas.reply(req, SECRET);
    assert.ok(res);
    assert.ok(res.messageAuthenticatorAt > 0, 'Message-Authenticator mirrored');
  } finally {
    await nas.close();
    await h.server.stop();
  }
});

test('when onEvent fails there is no answer, and the retransmission is delivered again and answered', async () => {
  let calls = 0;
  const h = await startServer({
    clients: CLIENTS,
    onEvent: async (e) => {
      calls++;
      if (calls === 1) throw new Error('database is down');
      h.events.push(e);
    },
  });
  const nas = await TestNas.open();
  try {
    const req = nas.request(start('S3'), SECRET);
    nas.send(req, h.address);
    assert.equal(await nas.reply(req, SECRET, 300), undefined);
    nas.send(req, h.address);
    assert.ok(await nas.reply(req, SECRET));
    assert.equal(calls, 2);
    assert.equal(h.events.length, 1);
    assert.equal(await h.metric('sakimori_radius_acct_dropped_total', { reason: 'consumer-failed' }), 1);
    const logged = h.log.lines().filter((l) => l.reason === 'consumer-failed');
    assert.equal(logged.length, 1);
    assert.match(String(logged[0]!.msg), /recording the start event failed, not answering so the NAS retries: database is down/);
    assert.equal((await h.server.health()).status, 'degraded');
  } finally {
    await nas.close();
    await h.server.stop();
  }
});

test('retransmissions while recording and after answering: delivered once, every copy answered', async () => {
  const g = gate();
  let calls = 0;
  const h = await startServer({
    clients: CLIENTS,
    onEvent: async () => {
      calls++;
      await g.promise;
    },
  });
  const nas = await TestNas.open();
  try {
    const req = nas.request(start('S4'), SECRET);
    nas.send(req, h.address);
    nas.send(req, h.address);
    await sleep(100);
    g.open();
    assert.ok(await nas.reply(req, SECRET));
    nas.send(req, h.address);
    assert.ok(await nas.reply(req, SECRET), 'a retransmission after the answer gets the answer again');
    assert.equal(calls, 1);
    assert.equal(await h.metric('sakimori_radius_acct_duplicates_total', { kind: 'retransmission' }), 2);
    assert.equal(await h.metric('sakimori_radius_acct_requests_total', { status: 'start' }), 1);
  } finally {
    await nas.close();
    await h.server.stop();
  }
});

test('a retry with a new Identifier and a larger Acct-Delay-Time (RFC 2866 §5.2) is the same event: answered, not delivered again', async () => {
  const h = await startServer({ clients: CLIENTS });
  const nas = await TestNas.open();
  try {
    const first = nas.request(start('S5', [makeAttribute(Attr.AcctDelayTime, 0)]), SECRET, 10);
    const retry = nas.request(start('S5', [makeAttribute(Attr.AcctDelayTime, 5)]), SECRET, 11);
    nas.send(first, h.address);
    assert.ok(await nas.reply(first, SECRET));
    nas.send(retry, h.address);
    assert.ok(await nas.reply(retry, SECRET));
    assert.equal(h.events.length, 1);
    assert.equal(await h.metric('sakimori_radius_acct_duplicates_total', { kind: 'same-event' }), 1);
    // A genuinely different event for the same session is delivered.
    const stop = nas.request([makeAttribute(Attr.AcctStatusType, 2), makeAttribute(Attr.AcctSessionId, 'S5')], SECRET, 12);
    nas.send(stop, h.address);
    assert.ok(await nas.reply(stop, SECRET));
    assert.deepEqual(h.events.map((e) => e.status), ['start', 'stop']);
  } finally {
    await nas.close();
    await h.server.stop();
  }
});

test('the duplicate window follows the injected clock', async () => {
  const clock = new ManualClock(Date.UTC(2026, 10, 22));
  const h = await startServer({ clients: CLIENTS, clock, duplicateWindowMs: 10_000 });
  const nas = await TestNas.open();
  try {
    const req = nas.request(start('S6'), SECRET);
    nas.send(req, h.address);
    assert.ok(await nas.reply(req, SECRET));
    clock.advance(9_000);
    nas.send(req, h.address);
    assert.ok(await nas.reply(req, SECRET));
    assert.equal(h.events.length, 1);
    clock.advance(11_000);
    nas.send(req, h.address);
    assert.ok(await nas.reply(req, SECRET));
    assert.equal(h.events.length, 2, 'outside the window it is a new request');
    assert.equal(h.events[1]!.at, clock.now(), 'receive time from the injected clock');
  } finally {
    await nas.close();
    await h.server.stop();
  }
});

test('wrong secret, unknown client, non-accounting codes and malformed packets are dropped silently, counted, logged once a minute', async () => {
  const clock = new ManualClock(Date.UTC(2026, 10, 22));
  // Only 127.0.0.2 is a client: the test NAS on 127.0.0.1 is unknown.
  const h = await startServer({ clients: [{ address: '127.0.0.2', secret: SECRET }], clock });
  const stranger = await TestNas.open(4, '127.0.0.1');
  const nas = await TestNas.open(4, '127.0.0.2');
  try {
    for (let i = 0; i < 3; i++) stranger.send(stranger.request(start('X'), SECRET), h.address);
    const wrong = nas.request(start('W'), 'not-the-secret');
    nas.send(wrong, h.address);
    nas.send(wrong, h.address);
    nas.send(encodeRequest({ code: Code.AccessRequest, identifier: 1, attributes: [] }, SECRET), h.address);
    nas.send(Uint8Array.from([4, 1, 0, 30, ...new Array(16).fill(0), 44, 200]), h.address);
    nas.send(nas.request([makeAttribute(Attr.AcctSessionId, 'no status type')], SECRET), h.address);
    const good = nas.request(start('G'), SECRET);
    nas.send(good, h.address);
    assert.ok(await nas.reply(good, SECRET), 'a good request still works');
    await sleep(50);
    assert.equal(stranger.unclaimed.length, 0);
    assert.equal(nas.unclaimed.length, 0, 'nothing but the good request was answered');
    assert.deepEqual(h.events.map((e) => e.sessionId), ['G']);
    assert.equal(await h.metric('sakimori_radius_acct_dropped_total', { reason: 'unknown-client' }), 3);
    assert.equal(await h.metric('sakimori_radius_acct_dropped_total', { reason: 'bad-authenticator' }), 2);
    assert.equal(await h.metric('sakimori_radius_acct_dropped_total', { reason: 'not-accounting-request' }), 1);
    assert.equal(await h.metric('sakimori_radius_acct_dropped_total', { reason: 'malformed' }), 2);
    const lines = h.log.lines();
    assert.equal(lines.filter((l) => l.reason === 'unknown-client').length, 1, 'logged once per address per minute');
    assert.equal(lines.filter((l) => l.reason === 'bad-authenticator').length, 1);
    assert.match(String(lines.find((l) => l.reason === 'bad-authenticator')!.msg), /wrong shared secret/);
    assert.equal(lines.find((l) => l.reason === 'unknown-client')!.peer, '127.0.0.1');
    assert.ok(!JSON.stringify(lines).includes(SECRET), 'secrets never logged');
    // A minute later the next one is logged again, with the count suppressed meanwhile.
    clock.advance(60_000);
    stranger.send(stranger.request(start('X'), SECRET), h.address);
    await sleep(100);
    const again = h.log.lines().filter((l) => l.reason === 'unknown-client');
    assert.equal(again.length, 2);
    assert.equal(again[1]!.suppressedLastMinute, 2);
  } finally {
    await stranger.close();
    await nas.close();
    await h.server.stop();
  }
});

test('IPv6: listening on [::1] with an IPv6 client', async () => {
  const h = await startServer({ listen: '[::1]:0', clients: [{ address: '::1', secret: SECRET }] });
  const nas = await TestNas.open(6);
  try {
    assert.equal(h.server.endpoints()[0]!.url, `udp://[::1]:${h.address.port}`);
    const req = nas.request(start('V6', [makeAttribute(Attr.DelegatedIpv6Prefix, '2001:db8:ab00::/56')]), SECRET);
    nas.send(req, h.address);
    assert.ok(await nas.reply(req, SECRET));
    assert.equal(h.events[0]!.nas.address, '::1');
    assert.equal(h.events[0]!.delegatedIpv6Prefix, '2001:db8:ab00::/56');
  } finally {
    await nas.close();
    await h.server.stop();
  }
});

test('more events in flight than maxPending: the excess is dropped unanswered, so the NAS retries', async () => {
  const g = gate();
  const h = await startServer({ clients: CLIENTS, maxPending: 2, onEvent: () => g.promise });
  const nas = await TestNas.open();
  try {
    const reqs = ['A', 'B', 'C'].map((s) => nas.request(start(s), SECRET));
    for (const r of reqs) nas.send(r, h.address);
    await sleep(100);
    assert.equal(await h.metric('sakimori_radius_acct_dropped_total', { reason: 'overload' }), 1);
    assert.equal((await h.server.health()).status, 'degraded');
    g.open();
    assert.ok(await nas.reply(reqs[0]!, SECRET));
    assert.ok(await nas.reply(reqs[1]!, SECRET));
    nas.send(reqs[2]!, h.address);
    assert.ok(await nas.reply(reqs[2]!, SECRET), 'the retry goes through once there is room');
  } finally {
    await nas.close();
    await h.server.stop();
  }
});

test('garbage datagrams never stop the server from answering good requests', async () => {
  const h = await startServer({ clients: CLIENTS });
  const nas = await TestNas.open();
  const junk = dgram.createSocket('udp4');
  try {
    // Bounded: 20,000 datagrams of random bytes and of mutated valid packets, interleaved with good requests.
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const valid = nas.request(start('template', [makeAttribute(Attr.DelegatedIpv6Prefix, '2001:db8::/48')]), SECRET);
    let answered = 0;
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 1000; i++) {
        let b: Uint8Array;
        if (rnd() < 0.5) {
          b = Uint8Array.from({ length: Math.floor(rnd() * 200) }, () => Math.floor(rnd() * 256));
        } else {
          b = Uint8Array.from(valid);
          for (let k = 0; k < 1 + Math.floor(rnd() * 4); k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
          if (rnd() < 0.2) b = b.subarray(0, Math.floor(rnd() * b.length));
        }
        junk.send(b, h.address.port, h.address.host);
      }
      // Loopback drops datagrams when the socket buffer is full, as a network would: retry like a NAS.
      const good = nas.request(start(`good-${round}`), SECRET);
      for (let attempt = 0; attempt < 5; attempt++) {
        nas.send(good, h.address);
        if (await nas.reply(good, SECRET, 1000)) {
          answered++;
          break;
        }
      }
    }
    assert.equal(answered, 20);
    assert.equal((await h.server.health()).status, 'ok');
    assert.ok((await h.metric('sakimori_radius_acct_dropped_total', { reason: 'malformed' })) > 0);
    assert.ok(h.events.filter((e) => e.sessionId?.startsWith('good-')).length === 20);
  } finally {
    junk.close();
    await nas.close();
    await h.server.stop();
  }
});

test('stop() waits for events already handed to onEvent (bounded), and answers nothing after', async () => {
  const g = gate();
  let finished = false;
  const h = await startServer({
    clients: CLIENTS,
    onEvent: async () => {
      await g.promise;
      finished = true;
    },
  });
  const nas = await TestNas.open();
  try {
    const req = nas.request(start('STOP'), SECRET);
    nas.send(req, h.address);
    await sleep(100);
    const stopping = h.server.stop();
    setTimeout(() => g.open(), 100);
    await stopping;
    assert.ok(finished, 'stop() returned before the event was recorded');
    assert.equal(await nas.reply(req, SECRET, 200), undefined, 'no answer from a closed socket');
    assert.equal((await h.server.health()).status, 'down');
  } finally {
    await nas.close();
  }
});

test('configuration errors name the key; start() reports a busy port; nothing runs before start()', async () => {
  const base = { clients: CLIENTS, logger: silentLogger, registry: createRegistry({ processMetrics: false }), onEvent: async () => {} };
  assert.throws(() => new AccountingServer({ ...base, listen: '127.0.0.1:99999' }), (e: unknown) => e instanceof SakimoriError && e.code === 'RADIUS_LISTEN_INVALID');
  assert.throws(() => new AccountingServer({ ...base, listen: '127.0.0.1:0', clients: [{ address: 'x', secret: 's' }] }), /clients\[0\]\.address "x"/);
  assert.deepEqual(parseAccountingListen('192.0.2.1'), { host: '192.0.2.1', port: 1813 });
  assert.deepEqual(parseAccountingListen('::'), { host: '::', port: 1813 });
  assert.deepEqual(parseAccountingListen('[::1]'), { host: '::1', port: 1813 });
  assert.deepEqual(parseAccountingListen('[::1]:1646'), { host: '::1', port: 1646 });

  const a = new AccountingServer({ ...base, listen: '127.0.0.1:0' });
  assert.equal((await a.health()).status, 'down');
  assert.equal(a.address(), undefined);
  await a.start();
  const port = a.address()!.port;
  assert.equal((await a.health()).status, 'ok');
  const b = new AccountingServer({ ...base, registry: createRegistry({ processMetrics: false }), listen: `127.0.0.1:${port}` });
  await assert.rejects(b.start(), (e: unknown) => e instanceof SakimoriError && e.code === 'RADIUS_LISTEN_FAILED' && /EADDRINUSE|address already in use/i.test(e.message) && /another program/.test(e.hint ?? ''));
  await a.stop();
  await a.stop();
  assert.equal((await a.health()).status, 'down');
});
