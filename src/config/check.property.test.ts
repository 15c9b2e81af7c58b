import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { checkConfigText, exampleConfigYaml, listConfigKeys } from './index.ts';

/** The checker's contract under garbage: it returns problems or a config, never throws. */
function holds(text: string): void {
  const r = checkConfigText(text, 'fuzz.yaml');
  assert.ok(Array.isArray(r.problems));
  assert.equal(r.config === undefined, r.problems.length > 0);
  for (const p of r.problems) {
    assert.equal(typeof p.message, 'string');
    assert.ok(p.message.length > 0);
    if (p.line !== undefined) assert.ok(p.line >= 1);
  }
}

const yamlish = fc.array(
  fc.oneof(
    fc.constantFrom(':', ' ', '  ', '\n', '- ', '#', '"', "'", '[', ']', '{', '}', ',', '&a ', '*a', '!!', '---', '|', '>', '\t', '? ', '%YAML 1.2\n'),
    fc.constantFrom(...listConfigKeys().flatMap((k) => k.split('.'))),
    fc.string({ maxLength: 8 }),
  ),
  { maxLength: 40 },
);

describe('checkConfigText on garbage', () => {
  it('never throws on arbitrary text', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), holds), { numRuns: 500 });
  });

  it('never throws on YAML-shaped token soup', () => {
    fc.assert(fc.property(yamlish, (parts) => holds(parts.join(''))), { numRuns: 1000 });
  });

  it('never throws on any well-formed YAML value', () => {
    fc.assert(fc.property(fc.anything(), (v) => holds(stringify(v) ?? '')), { numRuns: 300 });
  });

  it('never throws on the example with one line mangled', () => {
    const lines = exampleConfigYaml().split('\n');
    fc.assert(
      fc.property(fc.nat(lines.length - 1), fc.string({ maxLength: 20 }), (i, junk) => {
        const copy = [...lines];
        copy[i] = junk;
        holds(copy.join('\n'));
      }),
      { numRuns: 300 },
    );
  });
});
