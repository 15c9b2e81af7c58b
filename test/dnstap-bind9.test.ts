/**
 * Debian's BIND 9 (`named`, libfstrm's writer: READY/ACCEPT/START, and it reopens the
 * socket every few seconds until it is there) sends real dnstap to the collector over a
 * Unix socket. named answers from a local primary zone on 127.0.0.1 (its root hints name
 * 127.0.0.1 only, so nothing recurses out). BIND logs CLIENT_QUERY/CLIENT_RESPONSE for
 * queries with RD set, which dig sends. A missing named or dig fails (never skips).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBind9, type Bind9Peer } from './peers/bind9.ts';
import { CollectedEvents, dig, requireTool } from './peers/dnstap-harness.ts';
import type { DnstapEvent } from '../src/dns/dnstap/index.ts';

const ZONE = ['$TTL 60', '@ SOA ns hostmaster 1 60 60 600 60', '@ NS ns', 'ns A 127.0.0.1', 'www A 192.0.2.1', 'mail MX 10 www', 'warmup A 192.0.2.9', ''].join('\n');

describe('dnstap from BIND 9 (Debian bind9, real Frame Streams)', () => {
  let dir: string;
  before(() => {
    requireTool('named', 'bind9', 'the dnstap tests take dnstap from a real BIND 9');
    requireTool('dig', 'dnsutils', 'the dnstap tests query the resolvers with dig');
    dir = mkdtempSync(join(tmpdir(), 'sakimori-dnstap-named-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('dnstap { client; } to a Unix socket: each client query and response becomes an event', async () => {
    const sock = join(dir, 'dnstap.sock');
    const events = await CollectedEvents.start([{ kind: 'unix', path: sock }]);
    let named: Bind9Peer | undefined;
    try {
      named = await startBind9({
        options: ['dnstap { client; };', `dnstap-output unix "${sock}";`, 'dnstap-identity "sakimori-test-bind";', 'dnstap-version "test";'],
        statements: ['zone "example.test" { type primary; file "example.db"; };'],
        files: { 'example.db': ZONE },
      });
      const ctx = () => `named log:\n${named!.log().slice(-3000)}`;
      await events.waitUntilFlowing(named.port, 'warmup.example.test', 40_000, ctx);
      const before = Date.now();
      const a = await dig(named.port, 'WWW.example.test', 'A');
      assert.equal(a.status, 'NOERROR');
      const mx = await dig(named.port, 'mail.example.test', 'MX', { tcp: true });
      assert.equal(mx.status, 'NOERROR');
      const nx = await dig(named.port, 'nope.example.test', 'AAAA');
      assert.equal(nx.status, 'NXDOMAIN');

      const find = (name: string, qtype: number, response: boolean, transport = 'udp') =>
        events.waitFor(`${response ? 'CLIENT_RESPONSE' : 'CLIENT_QUERY'} ${name} ${qtype} ${transport}`, (e) => e.qname === name && e.qtype === qtype && e.transport === transport && (e.rcode !== undefined) === response, 20_000, ctx);
      const got = [await find('www.example.test', 1, false), await find('www.example.test', 1, true), await find('mail.example.test', 15, false, 'tcp'), await find('mail.example.test', 15, true, 'tcp'), await find('nope.example.test', 28, false), await find('nope.example.test', 28, true)];
      const strip = ({ at: _at, ...rest }: DnstapEvent) => rest;
      assert.deepEqual(got.map(strip), [
        { client: '127.0.0.1', qname: 'www.example.test', qtype: 1, transport: 'udp' },
        { client: '127.0.0.1', qname: 'www.example.test', qtype: 1, rcode: 0, responseSize: a.size, transport: 'udp' },
        { client: '127.0.0.1', qname: 'mail.example.test', qtype: 15, transport: 'tcp' },
        { client: '127.0.0.1', qname: 'mail.example.test', qtype: 15, rcode: 0, responseSize: mx.size, transport: 'tcp' },
        { client: '127.0.0.1', qname: 'nope.example.test', qtype: 28, transport: 'udp' },
        { client: '127.0.0.1', qname: 'nope.example.test', qtype: 28, rcode: 3, responseSize: nx.size, transport: 'udp' },
      ]);
      for (const e of got) assert.ok(e.at >= before - 2000 && e.at <= Date.now() + 2000, `event time ${new Date(e.at).toISOString()} is not now`);
      const s = events.collector.stats();
      assert.deepEqual(s.closedBad, {});
      assert.equal(s.skipped['bad-dns'], 0);
    } finally {
      await named?.close();
      await events.stop();
    }
  });
});
