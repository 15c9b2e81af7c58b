import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { lockPath, lockZoneFile } from './edit.ts';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'sakimori-rpz-lock-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** A stale lock: its pid, on this host, names no process (the child has exited). */
function plantStaleLock(file: string): void {
  writeFileSync(lockPath(file), `${spawnSync('true').pid} ${hostname()}\n`);
}

describe('the zone file lock of rpz add/remove', () => {
  it('a waiter that judged a stale lock never removes the lock another waiter took after breaking it', async () => {
    const file = join(dir, 'race.zone');
    plantStaleLock(file);
    const log: string[] = [];
    // B judges the planted lock stale, then is held back until A has broken it and taken
    // the lock: the order in which the race loses, made certain.
    const bJudged = deferred();
    const gate = deferred();
    const bWaits = deferred();
    const b = lockZoneFile(file, 10_000, {
      judgedStale: async () => {
        bJudged.resolve();
        await gate.promise;
      },
      waiting: () => bWaits.resolve(),
    }).then((release) => {
      log.push('enter B');
      return release;
    });
    await bJudged.promise;
    const releaseA = await lockZoneFile(file, 10_000);
    log.push('enter A');
    gate.resolve();
    // A holds until B either takes the lock too (the bug) or waits for A's lock.
    await Promise.race([bWaits.promise, b]);
    log.push('leave A');
    await releaseA();
    const releaseB = await b;
    log.push('leave B');
    await releaseB();
    assert.deepEqual(log, ['enter A', 'leave A', 'enter B', 'leave B'], 'one holder at a time');
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('race.zone')), [], 'no lock and nothing set aside left behind');
  });

  it('a lock taken between the last look and the rename is put back, not removed', async () => {
    const file = join(dir, 'putback.zone');
    const lock = lockPath(file);
    plantStaleLock(file);
    const log: string[] = [];
    const bWaits = deferred();
    let aLock = 0;
    // B has read the stale lock again and is about to rename it when A (another process,
    // here its file operations) breaks it and takes the lock: B's rename then moves A's
    // lock, which B must put back.
    const b = lockZoneFile(file, 10_000, {
      beforeRename: () => {
        if (aLock) return;
        unlinkSync(lock);
        writeFileSync(lock, `${process.pid} ${hostname()}\n`, { flag: 'wx' });
        aLock = statSync(lock).ino;
        log.push('enter A');
      },
      waiting: () => bWaits.resolve(),
    }).then((release) => {
      log.push('enter B');
      return release;
    });
    await Promise.race([bWaits.promise, b]);
    assert.equal(statSync(lock).ino, aLock, "A's lock is back in place");
    log.push('leave A');
    unlinkSync(lock);
    const releaseB = await b;
    log.push('leave B');
    await releaseB();
    assert.deepEqual(log, ['enter A', 'leave A', 'enter B', 'leave B'], 'one holder at a time');
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('putback.zone')), [], 'nothing set aside left behind');
  });

  it('releasing removes only our own lock, not one taken after ours was broken as stale', async () => {
    const file = join(dir, 'release.zone');
    const release = await lockZoneFile(file, 1_000);
    const lock = lockPath(file);
    // Ours judged stale and broken, and another edit (elsewhere) holds the lock now.
    unlinkSync(lock);
    writeFileSync(lock, `4242 elsewhere.example\n`);
    await release();
    assert.equal(readFileSync(lock, 'utf8'), '4242 elsewhere.example\n');
    unlinkSync(lock);
    const again = await lockZoneFile(file, 1_000);
    await again();
    assert.throws(() => readFileSync(lock), /ENOENT/, 'our own lock is removed');
  });

  it('taking the lock removes what a remover that crashed set aside, and leaves a live one', async () => {
    const file = join(dir, 'aside.zone');
    const dead = `${lockPath(file)}.${spawnSync('true').pid}.0123456789ab.removing`;
    const live = `${lockPath(file)}.${process.pid}.ba9876543210.removing`;
    writeFileSync(dead, `1 ${hostname()}\n`);
    writeFileSync(live, `${process.pid} ${hostname()}\n`);
    const release = await lockZoneFile(file, 1_000);
    await release();
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('aside.zone')), [live.slice(dir.length + 1)]);
    unlinkSync(live);
  });
});
