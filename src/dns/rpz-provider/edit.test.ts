import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Store } from '../../store/index.ts';
import { RRType } from '../wire/index.ts';
import { actionRecords, describeAction, editZoneFile, JournalStore, listZoneFile, readZoneRecords, rpzProviderMigrations, triggerOwner, ZoneContent } from './index.ts';

const ZONE = 'cc.rpz.test';
let dir: string;
let store: Store;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sakimori-rpz-edit-'));
  store = await openStore('sqlite::memory:');
  await store.migrate(rpzProviderMigrations);
});
after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('rpz add/remove on a zone file', () => {
  it('creates the file, sets and removes names, bumps the serial and journals each step', async () => {
    const file = join(dir, 'a.zone');
    const journal = new JournalStore(store);
    const r0 = await editZoneFile({ zone: ZONE, file, edits: [{ op: 'add', name: 'c2.bad.example', action: 'nxdomain', subdomains: true }], actor: 'cli:test', journal });
    assert.equal(r0.created, true);
    assert.equal(r0.serial, 1);
    const r1 = await editZoneFile({ zone: ZONE, file, edits: [{ op: 'add', name: 'dl.bad.example.', action: 'redirect:192.0.2.80,2001:db8::80', ttl: 60 }], actor: 'cli:test', journal });
    assert.deepEqual([r1.fromSerial, r1.serial], [1, 2]);
    assert.deepEqual(r1.added, ['dl.bad.example 60 IN A 192.0.2.80', 'dl.bad.example 60 IN AAAA 2001:db8::80']);
    const r2 = await editZoneFile({ zone: ZONE, file, edits: [{ op: 'add', name: 'C2.Bad.Example', action: 'drop' }], actor: 'cli:test', journal });
    assert.deepEqual(r2.removed, ['c2.bad.example 300 IN CNAME .']);
    assert.deepEqual(r2.added, ['c2.bad.example 300 IN CNAME rpz-drop.']);
    const same = await editZoneFile({ zone: ZONE, file, edits: [{ op: 'add', name: 'c2.bad.example', action: 'drop' }], actor: 'cli:test', journal });
    assert.equal(same.changed, false);
    assert.equal(same.serial, 3);
    const r3 = await editZoneFile({ zone: ZONE, file, edits: [{ op: 'remove', name: 'c2.bad.example', subdomains: true }], actor: 'cli:test', journal });
    assert.equal(r3.serial, 4);
    assert.equal(r3.removed.length, 2);

    const text = readFileSync(file, 'latin1');
    const back = readZoneRecords(text, { origin: ZONE, file });
    assert.ok(back.ok, back.errors.map((e) => e.message).join('\n'));
    assert.equal(back.soa?.data.kind === 'SOA' && back.soa.data.serial, 4);
    assert.ok(back.records.some((r) => r.type === RRType.NS), 'apex NS kept for BIND secondaries');
    const list = await listZoneFile(ZONE, file);
    assert.deepEqual(list.rows.map((r) => `${r.name} ${r.action}`), ['dl.bad.example redirect:192.0.2.80,2001:db8::80']);
    const hist = await journal.recent(ZONE);
    assert.deepEqual(hist.map((h) => `${h.fromSerial}->${h.toSerial} ${h.actor}`), ['3->4 cli:test', '2->3 cli:test', '1->2 cli:test']);
    assert.deepEqual([...hist[0]!.deletes].sort(), ['*.c2.bad.example.cc.rpz.test. 300 IN CNAME .', 'c2.bad.example.cc.rpz.test. 300 IN CNAME rpz-drop.']);
  });

  it('increases the serial across the RFC 1982 wrap', async () => {
    const file = join(dir, 'wrap.zone');
    writeFileSync(file, `$ORIGIN ${ZONE}.\n@ 300 IN SOA a. b. 4294967295 1 1 1 1\n@ 300 IN NS a.\n`);
    const r = await editZoneFile({ zone: ZONE, file, edits: [{ op: 'add', name: 'x.example', action: 'nodata' }], actor: 't' });
    assert.equal(r.serial, 0);
  });

  it('serialises concurrent edits: every change lands, each with its own serial', async () => {
    const file = join(dir, 'race.zone');
    await editZoneFile({ zone: ZONE, file, edits: [{ op: 'add', name: 'seed.example', action: 'nxdomain' }], actor: 't' });
    const rs = await Promise.all(Array.from({ length: 8 }, (_, i) => editZoneFile({ zone: ZONE, file, edits: [{ op: 'add', name: `r${i}.example`, action: 'drop' }], actor: 't' })));
    assert.deepEqual(rs.map((r) => r.serial).sort((a, b) => a - b), [2, 3, 4, 5, 6, 7, 8, 9]);
    assert.equal((await listZoneFile(ZONE, file)).rows.length, 9);
  });

  it('never breaks the lock of a live edit, however old (a whole write of 10 M names takes minutes); breaks one whose holder is gone', async () => {
    const file = join(dir, 'locked.zone');
    const lock = `${file}.lock`;
    writeFileSync(lock, `${process.pid}\n`);
    const old = new Date(Date.now() - 5 * 60_000);
    utimesSync(lock, old, old);
    const edit = () => editZoneFile({ zone: ZONE, file, edits: [{ op: 'add', name: 'a.example', action: 'drop' }], actor: 'test', lockWaitMs: 200 });
    await assert.rejects(edit(), /locked by process \d+/);
    const gone = spawnSync('true').pid; // exited: its pid names no process
    writeFileSync(lock, `${gone}\n`);
    assert.equal((await edit()).serial, 1);
    assert.throws(() => readFileSync(lock), /ENOENT/, 'and removes its own lock when done');
    // A holder on another host (a shared directory) cannot be checked: ten minutes.
    writeFileSync(lock, `${gone} elsewhere.example\n`);
    await assert.rejects(edit(), /locked by process \d+ elsewhere\.example/);
    const older = new Date(Date.now() - 11 * 60_000);
    utimesSync(lock, older, older);
    assert.equal((await editZoneFile({ zone: ZONE, file, edits: [{ op: 'add', name: 'b.example', action: 'drop' }], actor: 'test', lockWaitMs: 200 })).serial, 2);
  });

  it('refuses bad input without touching the file', async () => {
    const file = join(dir, 'bad.zone');
    const bad = `$ORIGIN ${ZONE}.\n@ 300 IN SOA a. b. 1 1 1 1 1\nx.example 300 IN CNAME\n`;
    writeFileSync(file, bad);
    await assert.rejects(editZoneFile({ zone: ZONE, file, edits: [{ op: 'add', name: 'y.example', action: 'nxdomain' }], actor: 't' }), /bad\.zone:3: error/);
    assert.equal(readFileSync(file, 'latin1'), bad);
    const good = join(dir, 'good.zone');
    await editZoneFile({ zone: ZONE, file: good, edits: [{ op: 'add', name: 'y.example', action: 'nxdomain' }], actor: 't' });
    await assert.rejects(editZoneFile({ zone: ZONE, file: good, edits: [{ op: 'add', name: 'z.example', action: 'block' }], actor: 't' }), /"block" is not an action/);
    await assert.rejects(editZoneFile({ zone: ZONE, file: good, edits: [{ op: 'add', name: 'z.example', action: 'redirect:999.1.1.1,1.2.3.4' }], actor: 't' }), /not an IP address/);
    await assert.rejects(editZoneFile({ zone: ZONE, file: good, edits: [{ op: 'add', name: `${'a'.repeat(64)}.example`, action: 'drop' }], actor: 't' }), /valid name/);
  });
});

describe('actions and names', () => {
  it('writes each action as the draft does, and reads it back in the same words', () => {
    for (const a of ['nxdomain', 'nodata', 'drop', 'passthru', 'tcp-only', 'redirect:192.0.2.1', 'redirect:warning.example.net']) {
      const recs = actionRecords('x.cc.rpz.test', a, 300);
      assert.ok(Array.isArray(recs), a);
      assert.equal(describeAction(recs), a);
    }
  });
  it('puts the trigger under the zone, and accepts a name already written under it', () => {
    assert.equal(triggerOwner('Bad.Example.', ZONE), `bad.example.${ZONE}`);
    assert.equal(triggerOwner(`bad.example.${ZONE}`, ZONE), `bad.example.${ZONE}`);
    assert.ok(typeof triggerOwner('', ZONE) !== 'string');
  });
});

describe('rpz add/remove in place (a large zone is not rewritten per edit)', () => {
  const state = (file: string) => JSON.parse(readFileSync(join(dir, `.${file.split('/').pop()}.sakimori-state`), 'utf8')) as { churn: number; serial: number; digest: string; size: number };
  const reread = (file: string) => {
    const r = readZoneRecords(readFileSync(file, 'latin1'), { origin: ZONE, file });
    assert.ok(r.ok && r.soa, JSON.stringify(r.errors));
    return ZoneContent.from(ZONE, r.soa!, r.records);
  };

  it('edits the written file in place, journals digests that match the file, and writes it whole again after a change behind its back', async () => {
    const file = join(dir, 'inplace.zone');
    const names = Array.from({ length: 200 }, (_, i) => `n${i}.example CNAME .`).join('\n');
    writeFileSync(file, `$ORIGIN ${ZONE}.\n$TTL 300\n@ SOA localhost. hostmaster.localhost. 99999999 3600 600 86400 300\n@ NS localhost.\n${names}\n`);
    const journal = new JournalStore(store);
    const edit = (edits: Parameters<typeof editZoneFile>[0]['edits']) => editZoneFile({ zone: ZONE, file, edits, actor: 'cli:test', journal });
    const r0 = await edit([{ op: 'add', name: 'first.example', action: 'nxdomain' }]);
    assert.equal(r0.serial, 100000000);
    assert.equal(state(file).churn, 0, 'the first edit of a hand-written file writes it whole');
    const whole = readFileSync(file, 'latin1');
    // In place from here: the serial grows by a digit without moving anything.
    const r1 = await edit([{ op: 'add', name: 'n5.example', action: 'redirect:192.0.2.80' }, { op: 'add', name: 'new.example', action: 'drop', subdomains: true }]);
    assert.deepEqual([r1.fromSerial, r1.serial], [100000000, 100000001]);
    assert.deepEqual(r1.removed, ['n5.example 300 IN CNAME .']);
    assert.deepEqual(r1.added.sort(), ['*.new.example 300 IN CNAME rpz-drop.', 'n5.example 300 IN A 192.0.2.80', 'new.example 300 IN CNAME rpz-drop.']);
    const r2 = await edit([{ op: 'remove', name: 'n7.example' }, { op: 'remove', name: 'new.example', subdomains: true }]);
    assert.equal(r2.serial, 100000002);
    const text = readFileSync(file, 'latin1');
    assert.equal(text.length >= whole.length, true, 'nothing is rewritten: lines are blanked and appended');
    assert.ok(state(file).churn > 0, 'edited in place');
    assert.match(text, /^; +$/m, 'removed lines are blanked into comments');
    const c = reread(file);
    assert.equal(c.serial, 100000002);
    assert.equal(state(file).digest, c.digest, 'the digest journaled without reading the file is the file\'s');
    assert.deepEqual(c.at(`n5.example.${ZONE}`).map((x) => x.type), [RRType.A]);
    assert.equal(c.at(`n7.example.${ZONE}`).length, 0);
    assert.equal(c.at(`new.example.${ZONE}`).length, 0);
    assert.equal(c.at(`*.new.example.${ZONE}`).length, 0);
    const chain = await journal.chainTo(ZONE, c.serial, c.digest);
    assert.deepEqual(chain.map((e) => e.toDigest).at(-1), c.digest);
    assert.equal(chain.length, 3, 'every step chains to the file as it is');
    // Behind its back: the next edit reads and writes the whole file (no stale offsets).
    writeFileSync(file, text.replace('n9.example 300 IN CNAME .', 'n9.example 300 IN CNAME rpz-passthru.').replace(/100000002/, '100000010'));
    const r3 = await edit([{ op: 'add', name: 'n10.example', action: 'nodata' }]);
    assert.equal(r3.serial, 100000011);
    assert.equal(state(file).churn, 0);
    const c3 = reread(file);
    const n9 = c3.at(`n9.example.${ZONE}`)[0]!.data;
    assert.equal(n9.kind === 'CNAME' ? n9.cname : n9.kind, 'rpz-passthru', 'the change made behind its back is kept');
    assert.equal(state(file).digest, c3.digest);
  });
});
