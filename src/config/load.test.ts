import assert from 'node:assert/strict';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError, SakimoriError } from '../core/errors.ts';
import { checkConfigFile, defaultConfig, EMBEDDED_DEFAULTS, loadConfig } from './index.ts';

describe('loadConfig', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sakimori-config-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('uses the embedded defaults when there is no file', async () => {
    const empty = join(dir, 'empty');
    await mkdir(empty);
    const { config, source } = await loadConfig({ cwd: empty });
    assert.equal(source, EMBEDDED_DEFAULTS);
    assert.deepEqual(config, defaultConfig());
  });

  it('reads ./sakimori.yaml from cwd when present', async () => {
    const d = join(dir, 'implicit');
    await mkdir(d);
    await writeFile(join(d, 'sakimori.yaml'), 'log:\n  level: debug\n');
    const { config, source } = await loadConfig({ cwd: d });
    assert.equal(config.log.level, 'debug');
    assert.ok(source.endsWith('sakimori.yaml'));
  });

  it('reads an explicit file relative to cwd, applying overrides', async () => {
    await writeFile(join(dir, 'node.yaml'), 'http:\n  listen: 0.0.0.0:9090\n');
    const { config } = await loadConfig({ file: 'node.yaml', cwd: dir, overrides: { 'log.level': 'warn' } });
    assert.equal(config.http.listen, '0.0.0.0:9090');
    assert.equal(config.log.level, 'warn');
  });

  it('refuses an explicit file that does not exist', async () => {
    await assert.rejects(loadConfig({ file: 'missing.yaml', cwd: dir }), (err) => {
      assert.ok(err instanceof SakimoriError);
      assert.equal(err.code, 'CONFIG_NOT_FOUND');
      assert.match(err.message, /missing\.yaml does not exist/);
      return true;
    });
  });

  it('refuses a directory', async () => {
    await assert.rejects(loadConfig({ file: '.', cwd: dir }), (err) => err instanceof SakimoriError && err.code === 'CONFIG_UNREADABLE');
  });

  it('throws ConfigError listing every problem with file and line', async () => {
    await writeFile(join(dir, 'bad.yaml'), 'http:\n  lissten: x\nstore:\n  url: mysql://x\n');
    await assert.rejects(loadConfig({ file: 'bad.yaml', cwd: dir }), (err) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.issues.length, 2);
      assert.match(err.issues[0]!, /bad\.yaml:2: http\.lissten: unknown key — did you mean http\.listen\?$/);
      assert.match(err.issues[1]!, /bad\.yaml:4: store\.url: "mysql:\/\/x" is not a supported store URL/);
      return true;
    });
  });
});

describe('checkConfigFile', () => {
  it('reports a missing file as a problem instead of throwing', async () => {
    const r = await checkConfigFile('/nonexistent/sakimori.yaml');
    assert.equal(r.config, undefined);
    assert.equal(r.problems.length, 1);
    assert.match(r.problems[0]!.message, /does not exist/);
  });
});
