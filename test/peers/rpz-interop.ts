/**
 * The one RPZ interop suite (issue 3, part B), run against each real resolver
 * (test/rpz-bind9.test.ts, test/rpz-unbound.test.ts): the resolver, a secondary of
 * `sakimori rpz serve`, enforces every action after the first AXFR, a name added with
 * `sakimori rpz add` within seconds (NOTIFY + an incremental IXFR), and a removal the same
 * way. What differs per resolver is how it is started and what its own log says.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, type UnboundPeer } from './unbound.ts';
import { dig, digUntil, RPZ_ZONE, startSakimoriRpz, startUpstream, transfers, type SakimoriRpz } from './rpz-feed.ts';

/** The resolver under test: it answers on `port` and exposes its own log. */
export interface RpzSecondary {
  readonly port: number;
  log(): string;
  close(): Promise<void>;
}

export interface RpzSecondaryCase {
  /** "BIND" or "Unbound", for the test names and diagnostics. */
  who: string;
  /** Starts the resolver on `port`, a secondary of the feed at `feedPort`, forwarding to `upstreamPort`. */
  start(port: number, feedPort: number, upstreamPort: number, dir: string): Promise<RpzSecondary>;
  /** What the resolver's log must show after the first load, and after the added name took effect. */
  loadedLog?(feedPort: number): RegExp[];
  addedLog: RegExp[];
}

export function describeRpzSecondary(c: RpzSecondaryCase): void {
  let dir: string;
  let upstream: UnboundPeer;
  let feed: SakimoriRpz;
  let resolver: RpzSecondary;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), `sakimori-rpz-${c.who.toLowerCase()}-`));
    upstream = await startUpstream();
    const port = await freePort();
    feed = await startSakimoriRpz(dir, [`127.0.0.1:${port}`]);
    resolver = await c.start(port, feed.port, upstream.port, dir);
  });

  after(async () => {
    await resolver?.close();
    await feed?.close();
    await upstream?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe(`${c.who} with Sakimori as its RPZ primary`, () => {
    it('loads the zone by AXFR and enforces every action', async () => {
      const first = await digUntil(resolver.port, 'bad.example', (r) => r.status === 'NXDOMAIN', 20_000);
      assert.notEqual(first.ms, -1, `the zone never took effect: ${JSON.stringify(first.last)}\n${resolver.log().slice(-3000)}`);
      assert.deepEqual(await dig(resolver.port, 'www.example'), { status: 'NOERROR', answers: ['A 192.0.2.1'] }, 'names not in the policy resolve through the upstream');
      assert.deepEqual(await dig(resolver.port, 'bad.example'), { status: 'NXDOMAIN', answers: [] });
      assert.deepEqual(await dig(resolver.port, 'a.wild.example'), { status: 'NXDOMAIN', answers: [] });
      assert.deepEqual(await dig(resolver.port, 'nodata.example'), { status: 'NOERROR', answers: [] });
      assert.deepEqual(await dig(resolver.port, 'warn.example'), { status: 'NOERROR', answers: ['A 192.0.2.80'] });
      assert.deepEqual(await dig(resolver.port, 'ok.example'), { status: 'NOERROR', answers: ['A 192.0.2.69'] });
      for (const re of c.loadedLog?.(feed.port) ?? []) assert.match(resolver.log(), re);
      const xfrs = transfers(feed.logs());
      assert.ok(xfrs.some((x) => x.type === 'AXFR' && x.style === 'full' && x.serial === 1), JSON.stringify(xfrs));
    });

    it('enforces a name added with `sakimori rpz add` within seconds, by NOTIFY and an incremental IXFR', async (ctx) => {
      assert.deepEqual(await dig(resolver.port, 'new.example'), { status: 'NOERROR', answers: ['A 192.0.2.70'] }, 'resolved (and cached) before the change');
      const add = await feed.cli(['add', '--zone', RPZ_ZONE, '--file', feed.file, '--name', 'new.example', '--action', 'nxdomain']);
      assert.equal(add.code, 0, add.stderr);
      assert.match(add.stdout, /serial 1 -> 2/);
      const t = await digUntil(resolver.port, 'new.example', (r) => r.status === 'NXDOMAIN', 10_000);
      assert.notEqual(t.ms, -1, `not enforced within 10 s: ${JSON.stringify(t.last)}\n${resolver.log().slice(-3000)}`);
      assert.ok(t.ms < 5000, `enforced ${t.ms} ms after rpz add returned`);
      ctx.diagnostic(`${c.who} enforced the new name ${t.ms} ms after \`sakimori rpz add\` returned`);
      const ixfr = transfers(feed.logs()).filter((x) => x.type === 'IXFR' && x.serial === 2);
      assert.ok(ixfr.length >= 1, JSON.stringify(transfers(feed.logs())));
      assert.ok(ixfr.every((x) => x.style === 'incremental' && x.clientSerial === 1), `an incremental IXFR from serial 1, not a full transfer: ${JSON.stringify(ixfr)}`);
      assert.equal(transfers(feed.logs()).filter((x) => x.style === 'full').length, 1, 'only the first load was a full transfer');
      assert.ok(feed.logs().some((l) => l.msg === 'NOTIFY answered' && l.serial === 2), 'NOTIFY for serial 2 was answered');
      for (const re of c.addedLog) assert.match(resolver.log(), re);
    });

    it('stops enforcing a name removed with `sakimori rpz remove`', async () => {
      const rm = await feed.cli(['remove', '--zone', RPZ_ZONE, '--file', feed.file, '--name', 'bad.example']);
      assert.equal(rm.code, 0, rm.stderr);
      const t = await digUntil(resolver.port, 'bad.example', (r) => r.status === 'NOERROR', 10_000);
      assert.notEqual(t.ms, -1, JSON.stringify(t.last));
      assert.deepEqual(t.last.answers, ['A 192.0.2.66']);
      assert.ok(transfers(feed.logs()).some((x) => x.type === 'IXFR' && x.style === 'incremental' && x.clientSerial === 2 && x.serial === 3));
      assert.deepEqual(await dig(resolver.port, 'new.example'), { status: 'NXDOMAIN', answers: [] }, 'the rest of the policy stays');
    });
  });
}
