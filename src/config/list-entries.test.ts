import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError } from '../core/errors.ts';
import { checkConfigText, formatConfigProblem, loadConfig } from './index.ts';

const problems = (text: string) => checkConfigText(text, 'sakimori.yaml').problems.map(formatConfigProblem);

describe('config: unknown keys inside list entries', () => {
  it('names the file, the line, the key path with its index, and the allowed keys (did-you-mean)', () => {
    const text = [
      'attribution:',
      '  radius:',
      '    clients:',
      '      - { address: 192.0.2.1, secret: one }',
      '      - address: 192.0.2.2',
      '        secrett: two',
      '',
    ].join('\n');
    assert.deepEqual(problems(text), [
      'sakimori.yaml:5: attribution.radius.clients[1].secret: is not text — expected the shared secret configured on the NAS',
      'sakimori.yaml:6: attribution.radius.clients[1].secrett: unknown key — did you mean attribution.radius.clients[1].secret?',
    ]);
  });

  it('a key like no other lists the keys an entry takes', () => {
    const text = 'attribution:\n  radius:\n    clients:\n      - { address: 192.0.2.1, secret: s, nas: bras1 }\n';
    assert.deepEqual(problems(text), ['sakimori.yaml:4: attribution.radius.clients[0].nas: unknown key — expected one of address, secret']);
  });

  it('dns.zones entries behave the same, and a bad value in an entry is placed with its index', () => {
    const text = ['dns:', '  zones:', '    - name: cc.rpz.example', '      file: cc.rpz', '      knd: cc', '    - name: ""', '      file: x.rpz', ''].join('\n');
    const got = problems(text);
    assert.equal(got.length, 2, got.join('\n'));
    assert.match(got[0]!, /^sakimori\.yaml:5: dns\.zones\[0\]\.knd: unknown key — did you mean dns\.zones\[0\]\.kind\?$/);
    assert.match(got[1]!, /^sakimori\.yaml:6: dns\.zones\[1\]\.name: "" is empty/);
    for (const p of got) assert.doesNotMatch(p, /expected one of\s*$|expected one of ,/);
  });

  it('loadConfig throws the same lines for a file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sakimori-config-list-'));
    try {
      await writeFile(join(dir, 'node.yaml'), 'attribution:\n  radius:\n    clients:\n      - address: 192.0.2.1\n        secrett: x\n');
      await assert.rejects(loadConfig({ file: 'node.yaml', cwd: dir }), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.match(String((err as Error).message), /node\.yaml:5: attribution\.radius\.clients\[0\]\.secrett: unknown key — did you mean attribution\.radius\.clients\[0\]\.secret\?/);
        return true;
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
