import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { SakimoriError } from '../../core/index.ts';
import { OperatorTokens, parseTokenFile } from './operators.ts';

const dir = mkdtempSync(join(tmpdir(), 'sakimori-operators-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const basic = (u: string, p: string) => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

describe('OperatorTokens', () => {
  it('creates a missing file (mode 600, in a new directory) with one operator and a random token, and lets that operator in', () => {
    const path = join(dir, 'new', 'console-tokens');
    const t = new OperatorTokens(path);
    t.load();
    assert.equal(t.created, true);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const line = readFileSync(path, 'utf8').split('\n').find((l) => l.startsWith('operator '))!;
    const token = line.split(' ')[1]!;
    assert.ok(token.length >= 40);
    assert.deepEqual(t.authenticate(basic('operator', token)), { name: 'operator' });
    assert.deepEqual(t.authenticate(`Bearer ${token}`), { name: 'operator' });
    const again = new OperatorTokens(path);
    again.load();
    assert.equal(again.created, false, 'an existing file is kept');
  });

  it('refuses no header, a wrong token, the right token under another name, and malformed headers', () => {
    const path = join(dir, 'two');
    writeFileSync(path, '# operators\nalice aaaaaaaaaaaaaaaaaaaaaaaa\nbob bbbbbbbbbbbbbbbbbbbbbbbb\n', { mode: 0o600 });
    const t = new OperatorTokens(path);
    t.load();
    assert.equal(t.count, 2);
    assert.deepEqual(t.authenticate(basic('bob', 'b'.repeat(24))), { name: 'bob' });
    for (const h of [undefined, '', 'Bearer', `Bearer ${'c'.repeat(24)}`, basic('alice', 'b'.repeat(24)), basic('alice', ''), 'Basic !!!', `Digest ${'a'.repeat(24)}`, `Basic ${Buffer.from('alice').toString('base64')}`]) {
      assert.equal(t.authenticate(h), undefined, String(h));
    }
  });

  it('reads the file again when it changes (operators added or removed without a restart); a broken edit keeps the previous list', () => {
    let now = 0;
    const path = join(dir, 'reload');
    writeFileSync(path, 'alice aaaaaaaaaaaaaaaaaaaaaaaa\n');
    const t = new OperatorTokens(path, () => now);
    t.load();
    writeFileSync(path, 'carol cccccccccccccccccccccccccccc\n');
    now += 5000;
    assert.deepEqual(t.authenticate(`Bearer ${'c'.repeat(28)}`), { name: 'carol' });
    assert.equal(t.authenticate(`Bearer ${'a'.repeat(24)}`), undefined, 'removed operators are out');
    const errors: Error[] = [];
    t.onReloadError = (e) => errors.push(e);
    writeFileSync(path, 'carol short\n');
    now += 5000;
    assert.deepEqual(t.authenticate(`Bearer ${'c'.repeat(28)}`), { name: 'carol' });
    assert.equal(errors.length, 1);
  });

  it('warns about a file others can read', () => {
    const path = join(dir, 'loose');
    writeFileSync(path, 'alice aaaaaaaaaaaaaaaaaaaaaaaa\n', { mode: 0o644 });
    const t = new OperatorTokens(path);
    t.load();
    assert.equal(t.looseMode, true);
  });
});

describe('parseTokenFile', () => {
  it('names the file and line of each mistake, and what to do', () => {
    const cases: [string, RegExp][] = [
      ['alice', /f:1: expected "NAME TOKEN"/],
      ['\n\nalice short', /f:3: the token of "alice" is too short/],
      ['al:ice aaaaaaaaaaaaaaaaaaaaaaaa', /f:1: operator name "al:ice"/],
      ['a aaaaaaaaaaaaaaaaaaaaaaaa\na bbbbbbbbbbbbbbbbbbbbbbbbbb', /f:2: operator "a" is listed twice/],
      ['a aaaaaaaaaaaaaaaaaaaaaaaa extra', /f:1: expected "NAME TOKEN"/],
    ];
    for (const [text, re] of cases) {
      assert.throws(() => parseTokenFile(text, 'f'), (e: unknown) => e instanceof SakimoriError && re.test(e.message), text);
    }
    assert.deepEqual(parseTokenFile('# only comments\n\n', 'f'), []);
  });
});
