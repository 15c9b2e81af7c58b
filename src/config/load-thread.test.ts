import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError, SakimoriError } from '../core/errors.ts';
import { loadConfig } from './index.ts';
import { loadConfigInThread } from './load-thread.ts';

describe('loadConfigInThread', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sakimori-config-thread-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('gives what loadConfig gives, overrides applied', async () => {
    await writeFile(join(dir, 'node.yaml'), 'dns:\n  threads: 3\n');
    const opts = { file: 'node.yaml', cwd: dir, overrides: { 'store.url': 'sqlite:/tmp/x.db', 'log.level': 'warn' } };
    const got = await loadConfigInThread(opts);
    assert.deepEqual(got, await loadConfig(opts));
    assert.equal(got.config.dns.threads, 3);
    assert.equal(got.config.store.url, 'sqlite:/tmp/x.db');
  });

  it('throws the same ConfigError, every problem with file:line and key', async () => {
    await writeFile(join(dir, 'bad.yaml'), 'dns:\n  threads: many\nlog:\n  level: loud\n');
    const err = await loadConfigInThread({ file: 'bad.yaml', cwd: dir }).catch((e: unknown) => e);
    const want = await loadConfig({ file: 'bad.yaml', cwd: dir }).catch((e: unknown) => e);
    assert.ok(err instanceof ConfigError && want instanceof ConfigError);
    assert.equal(err.message, want.message);
    assert.deepEqual(err.issues, want.issues);
    assert.equal(err.issues.length, 2);
    assert.match(err.issues[0]!, /bad\.yaml:2.*dns\.threads/);
  });

  it('throws the same SakimoriError (code, hint) for a missing file', async () => {
    const err = await loadConfigInThread({ file: 'nope.yaml', cwd: dir }).catch((e: unknown) => e);
    assert.ok(err instanceof SakimoriError);
    assert.equal(err.code, 'CONFIG_NOT_FOUND');
    assert.match(err.hint ?? '', /config example/);
  });
});
