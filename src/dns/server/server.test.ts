import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ManualClock } from '../../core/index.ts';
import { AuditLog, privacyMigrations } from '../../privacy/index.ts';
import { openStore } from '../../store/index.ts';
import { BlockEventLog, dnsMigrations } from './events.ts';
import { parseSince, purposeOfKind } from './firewall.ts';
import { loopbackResolver, resolveUpstreams } from './node-parts.ts';
import { mergeSnapshots, type StatsSnapshot } from './stats.ts';
import { ZoneSet, zoneSpecFromFile, FileZoneSource, removeOrphanImages } from './zones.ts';

const dir = mkdtempSync(join(tmpdir(), 'sakimori-dns-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('zone specs from --rpz FILE', () => {
  it('takes the name from $ORIGIN, else the SOA owner, else the file name; the kind from the first label', async () => {
    const f1 = join(dir, 'a.rpz');
    writeFileSync(f1, '$TTL 60\n$ORIGIN malware.rpz.example.\n@ SOA x. y. 1 1 1 1 1\n');
    assert.deepEqual(await zoneSpecFromFile(f1), { name: 'malware.rpz.example', file: f1, kind: 'malware-sites', format: 'rpz' });
    const f2 = join(dir, 'b.rpz');
    writeFileSync(f2, 'dns-abuse.example. 60 IN SOA x. y. 1 1 1 1 1\n');
    assert.equal((await zoneSpecFromFile(f2)).name, 'dns-abuse.example');
    assert.equal((await zoneSpecFromFile(f2)).kind, 'dns-abuse');
    const f3 = join(dir, 'allow.zone');
    writeFileSync(f3, 'x CNAME rpz-passthru.\n');
    assert.deepEqual(await zoneSpecFromFile(f3), { name: 'allow', file: f3, kind: 'allow', format: 'rpz' });
    const f4 = join(dir, 'botnet.rpz');
    writeFileSync(f4, '');
    assert.equal((await zoneSpecFromFile(f4)).kind, 'cc');
    await assert.rejects(zoneSpecFromFile(join(dir, 'missing.rpz')), /cannot read policy zone file .*missing\.rpz: ENOENT/);
  });

  it('refuses a zone file with a bad line at start, naming file:line', async () => {
    const f = join(dir, 'bad.rpz');
    writeFileSync(f, '$ORIGIN cc.test.\n@ SOA x. y. 1 1 1 1 1\nok.example CNAME .\nbad.example IN NOPE x\n');
    const set = new ZoneSet([{ spec: { name: 'cc.test', kind: 'cc' }, source: new FileZoneSource({ name: 'cc.test', file: f, kind: 'cc', format: 'rpz' }, { log: () => undefined, watch: false }) }]);
    await assert.rejects(set.start(), /bad\.rpz:4: error: /);
  });

  it("removes the zone-file copies of processes that are gone, and only those", async () => {
    const tmp = join(dir, 'tmp');
    // A pid that was just used and is gone; ours and our parent's are alive.
    const gone = spawnSync(process.execPath, ['-e', '0']).pid!;
    const names = [`sakimori-zone-${gone}-aB3dE9`, `sakimori-zone-${process.pid}-x1`, `sakimori-zone-${process.ppid}-x2`, 'sakimori-zone-Qw3rTy', 'other-dir'];
    for (const n of names) {
      mkdirSync(join(tmp, n), { recursive: true });
      writeFileSync(join(tmp, n, 'zone-1'), 'x');
    }
    const logs: string[] = [];
    await removeOrphanImages((level, msg) => void logs.push(`${level} ${msg}`), tmp);
    assert.deepEqual(readdirSync(tmp).sort(), names.slice(1).sort());
    assert.deepEqual(logs, [`info removed 1 zone file copy left in ${tmp} by stopped processes`]);
  });

  it('reads a changed file as a difference: the change in force at once, a bad line refused with file:line and the policy kept, then the fix', async () => {
    const f = join(dir, 'diff.rpz');
    const names = Array.from({ length: 3000 }, (_, i) => `n${i}.example CNAME .`);
    const text = (extra: string[]) => ['$ORIGIN cc.test.', '$TTL 60', '@ SOA x. y. 1 1 1 1 1', ...names, ...extra].join('\n') + '\n';
    writeFileSync(f, text([]));
    const logs: string[] = [];
    const source = new FileZoneSource({ name: 'cc.test', file: f, kind: 'cc', format: 'rpz' }, { log: (level, msg) => void logs.push(`${level} ${msg}`), watch: false });
    const set = new ZoneSet([{ spec: { name: 'cc.test', kind: 'cc' }, source }]);
    await set.start();
    try {
      const action = (q: string) => set.engine.decide(q, undefined, 1).action;
      assert.equal(action('n1500.example'), 'nxdomain');
      // The image is taken after the load, in the background.
      await source.imaged();
      names[1500] = 'n1500.example CNAME *.';
      writeFileSync(f, text(['new.example CNAME rpz-drop.']));
      await source.reload();
      assert.equal(action('n1500.example'), 'nodata');
      assert.equal(action('new.example'), 'drop');
      assert.match(logs.at(-1)!, /^info policy zone cc\.test updated from .*diff\.rpz: 2 record\(s\) added, 1 deleted, 3001 names \(read \d+ of \d+ KiB as a difference/);
      assert.equal(source.status().names, 3001);
      // A bad line: refused as a whole load would refuse it, the policy in force stays.
      names[2000] = 'n2000.example CNAME rpz-drop.';
      writeFileSync(f, text(['new.example CNAME rpz-drop.', 'bad.example IN NOPE x']));
      await source.reload();
      assert.match(logs.at(-1)!, /^error policy zone cc\.test: .*diff\.rpz has 1 error\(s\); the previous version stays in force\n {2}.*diff\.rpz:3005: error: "NOPE" is not a record type/);
      assert.equal(action('n2000.example'), 'nxdomain');
      assert.match(source.status().lastError?.[0] ?? '', /diff\.rpz:3005/);
      writeFileSync(f, text(['new.example CNAME rpz-drop.']));
      await source.reload();
      assert.equal(action('n2000.example'), 'drop');
      assert.equal(source.status().lastError, undefined);
      assert.match(logs.at(-1)!, /as a difference/);
      // A change the zone refuses (a CNAME beside other data) is read whole, which names the line.
      writeFileSync(f, text(['new.example CNAME rpz-drop.', 'new.example A 192.0.2.1']));
      await source.reload();
      assert.match(logs.at(-1)!, /diff\.rpz:3005: error: new\.example\.cc\.test already has CNAME/);
      // A whole load (a new $TTL changes every chunk's state), then the file changed again while
      // its image is being taken: that image is not kept, the next change is read whole.
      const ttl120 = (extra: string[]) => text(extra).replace('$TTL 60', '$TTL 120');
      writeFileSync(f, ttl120(['new.example CNAME rpz-drop.']));
      await source.reload();
      assert.match(logs.at(-1)!, /reloaded from/);
      writeFileSync(f, ttl120(['new.example CNAME rpz-drop.', 'other.example CNAME .']));
      await source.imaged();
      await source.reload();
      assert.match(logs.at(-1)!, /reloaded from/);
      assert.equal(action('other.example'), 'nxdomain');
      await source.imaged();
      writeFileSync(f, ttl120(['new.example CNAME rpz-drop.', 'other.example CNAME *.']));
      await source.reload();
      assert.equal(action('other.example'), 'nodata');
      assert.match(logs.at(-1)!, /as a difference/);
      assert.equal(action('n2000.example'), 'drop');
    } finally {
      await set.stop();
    }
  });

  it('refuses two zones of one name, and two allow lists', () => {
    const src = (name: string) => new FileZoneSource({ name, file: '/dev/null', kind: 'cc', format: 'rpz' }, { log: () => undefined });
    assert.throws(() => new ZoneSet([{ spec: { name: 'a', kind: 'cc' }, source: src('a') }, { spec: { name: 'a', kind: 'cc' }, source: src('a') }]), /configured twice/);
    assert.throws(() => new ZoneSet([{ spec: { name: 'x', kind: 'allow' }, source: src('x') }, { spec: { name: 'y', kind: 'allow' }, source: src('y') }]), /two never-block/);
  });
});

describe('upstream defaults', () => {
  it('uses the first resolv.conf nameserver only when it is a loopback address', () => {
    assert.deepEqual(loopbackResolver('# x\nsearch example\nnameserver 127.0.0.53\nnameserver 192.0.2.1\n'), { host: '127.0.0.53', port: 53 });
    assert.deepEqual(loopbackResolver('nameserver ::1\n'), { host: '::1', port: 53 });
    assert.equal(loopbackResolver('nameserver 10.255.255.53\nnameserver 127.0.0.1\n'), undefined);
    assert.equal(loopbackResolver(''), undefined);
    const file = join(dir, 'resolv.conf');
    writeFileSync(file, 'nameserver 192.0.2.53\n');
    const r = resolveUpstreams({ upstreams: [] }, file);
    assert.ok('off' in r && /not a loopback resolver: set dns\.upstreams/.test(r.off));
    assert.deepEqual(resolveUpstreams({ upstreams: ['[::1]:5300', '127.0.0.1:53'] }), { upstreams: [{ host: '::1', port: 5300 }, { host: '127.0.0.1', port: 53 }] });
    assert.throws(() => resolveUpstreams({ upstreams: ['nope'] }), /dns\.upstreams\[0\] "nope" has no port/);
  });
});

describe('block-event log', () => {
  it('merges repeats, keeps at most maxBuffered distinct events per flush, writes them in one batch, reads them audited', async () => {
    const store = await openStore('sqlite::memory:');
    await store.migrate([...privacyMigrations, ...dnsMigrations]);
    const audit = new AuditLog(store, { flushIntervalMs: 0 });
    const clock = new ManualClock(1_700_000_000_000);
    const log = new BlockEventLog(store, audit, { purposeOf: (l) => purposeOfKind(l === 'abuse' ? 'dns-abuse' : 'cc'), maxBuffered: 3, clock, log: () => undefined });
    const e = (fqdn: string, list = 'cc', client = '192.0.2.1') => ({ at: clock.now(), client, fqdn, list, action: 'nxdomain' });
    log.add(e('a.example'));
    log.add(e('a.example'));
    log.add(e('b.example'), 5);
    log.add(e('x.example', 'abuse'));
    log.add(e('c.example')); // over the cap: counted, not kept
    log.lost(7);
    assert.deepEqual(log.counts, { taken: 16, merged: 5, notKept: 8, written: 0, writeErrors: 0 });
    await log.flush();
    assert.equal(log.counts.written, 3);
    const cc = await log.list({ purpose: 'cc-blocking', actor: 'test' });
    assert.deepEqual(cc.map((r) => [r.fqdn, r.count, r.purpose]).sort(), [['a.example', 2, 'cc-blocking'], ['b.example', 5, 'cc-blocking']]);
    const abuse = await log.list({ purpose: 'dns-abuse-mitigation', actor: 'test', client: '192.0.2.1' });
    assert.deepEqual(abuse.map((r) => r.fqdn), ['x.example']);
    assert.deepEqual(await log.list({ purpose: 'cc-blocking', actor: 'test', since: clock.now() + 1 }), []);
    await audit.flush();
    const reads = await store.all<{ purpose: string; actor: string }>("SELECT purpose, actor FROM audit_log WHERE action = 'read' AND subject = 'dns_block_events' ORDER BY seq");
    assert.deepEqual(reads.map((r) => r.purpose), ['cc-blocking', 'dns-abuse-mitigation', 'cc-blocking']);
    await audit.close();
    await store.close();
  });

  it('on a SQLite file, an interval of writerThreadRows events starts a thread that writes them (not the DNS thread); stop() writes what is left and ends it', async () => {
    const file = join(dir, 'events.db');
    const store = await openStore(`sqlite:${file}`);
    await store.migrate([...privacyMigrations, ...dnsMigrations]);
    const audit = new AuditLog(store, { flushIntervalMs: 0 });
    const clock = new ManualClock(1_700_000_000_000);
    const log = new BlockEventLog(store, audit, { purposeOf: () => 'cc-blocking', flushIntervalMs: 60_000, writerThreadRows: 2, clock, log: () => undefined });
    log.start();
    log.add({ at: clock.now(), client: '192.0.2.1', fqdn: 'a.example', list: 'cc', action: 'nxdomain' });
    await log.flush(); // 1 row: under the threshold, written here, no thread
    assert.equal(await log.writerReady(), false);
    log.add({ at: clock.now(), client: '192.0.2.1', fqdn: 'b.example', list: 'cc', action: 'nxdomain' });
    log.add({ at: clock.now(), client: '192.0.2.2', fqdn: 'b.example', list: 'cc', action: 'nxdomain' });
    assert.equal(await log.writerReady(), true); // the second distinct event started it
    await log.flush();
    assert.equal(log.threadBatches, 1);
    log.add({ at: clock.now(), client: '192.0.2.2', fqdn: 'a.example', list: 'cc', action: 'nxdomain' });
    await log.flush();
    assert.equal(log.threadBatches, 2);
    assert.equal(log.counts.written, 4);
    log.add({ at: clock.now(), client: '192.0.2.3', fqdn: 'c.example', list: 'cc', action: 'drop' });
    await log.stop();
    assert.equal(await log.writerReady(), false);
    const rows = await store.all<{ fqdn: string }>('SELECT fqdn FROM dns_block_events ORDER BY fqdn');
    assert.deepEqual(rows.map((r) => r.fqdn), ['a.example', 'a.example', 'b.example', 'b.example', 'c.example']);
    await audit.close();
    await store.close();
  });

  it('a store that fails loses the batch (counted), never blocks or throws', async () => {
    const store = await openStore('sqlite::memory:'); // no migration: the table is missing
    const audit = new AuditLog(store, { flushIntervalMs: 0 });
    const errors: string[] = [];
    const log = new BlockEventLog(store, audit, { purposeOf: () => 'cc-blocking', clock: new ManualClock(1), log: (_l, m) => errors.push(m) });
    log.add({ at: 1, client: '192.0.2.1', fqdn: 'a.example', list: 'cc', action: 'drop' });
    await log.flush();
    assert.equal(log.counts.notKept, 1);
    assert.match(log.error ?? '', /dns_block_events/);
    assert.match(errors[0]!, /could not write 1 DNS block event/);
    await store.close();
  });
});

describe('small parts', () => {
  it('parses --since as a time with an offset or a duration back from now', () => {
    assert.equal(parseSince('15m', 1_000_000_000), 1_000_000_000 - 900_000);
    assert.equal(parseSince('2026-01-06T12:00:00Z', 0), Date.parse('2026-01-06T12:00:00Z'));
    assert.throws(() => parseSince('2026-01-06 12:00', 0), /not a time with an offset/);
  });

  it('adds up worker snapshots', () => {
    const one = (q: number, up: boolean): StatsSnapshot => ({
      queries: { udp: q, tcp: 1 },
      responses: { udp: Array(17).fill(1), tcp: Array(17).fill(0) },
      malformed: { udp: 0, tcp: 0 },
      policy: { 'cc\0nxdomain': q },
      unfiltered: 0,
      servfail: 0,
      tcpConnections: 0,
      tcpClosedForGarbage: 0,
      upstreams: [{ address: '127.0.0.1:53', up, sent: q, answered: q, timeouts: 0, errors: 0, buckets: [1, 2], latencySum: 0.5 }],
      udpSockets: { sockets: 1, native: up ? 1 : 0, received: q, truncated: 0, sent: q, queued: 0, dropped: 0, sendErrors: 0, waitBins: up ? [q, 1] : [q], waitSum: q / 1000 },
    });
    const m = mergeSnapshots([one(3, true), one(4, false)]);
    assert.deepEqual([m.queries.udp, m.policy['cc\0nxdomain'], m.upstreams[0]!.sent, m.upstreams[0]!.up, m.upstreams[0]!.buckets, m.responses.udp[0]], [7, 7, 7, false, [2, 4], 2]);
    assert.deepEqual(m.udpSockets, { sockets: 2, native: 1, received: 7, truncated: 0, sent: 7, queued: 0, dropped: 0, sendErrors: 0, waitBins: [7, 1], waitSum: 0.007 });
  });
});
