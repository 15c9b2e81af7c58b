import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isMap, isScalar, LineCounter, parseDocument, type YAMLMap } from 'yaml';
import { checkConfigText, defaultConfig, exampleConfigYaml, formatConfigProblem, listConfigKeys } from './index.ts';

/** The example with its "#key: value" lines (keys shown but left at a computed default) switched on. */
function withShownKeys(text: string): string {
  return text.replace(/^(\s*)#(?=[\w-]+:)/gm, '$1');
}

/** Leaf key paths of a YAML document, each with the 1-based line of its key. */
function leafKeys(text: string): Map<string, number> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter });
  assert.deepEqual(doc.errors, []);
  const out = new Map<string, number>();
  const walk = (map: YAMLMap, prefix: string) => {
    for (const pair of map.items) {
      assert.ok(isScalar(pair.key));
      const path = `${prefix}${String(pair.key.value)}`;
      if (isMap(pair.value)) walk(pair.value, `${path}.`);
      else out.set(path, lineCounter.linePos(pair.key.range![0]).line);
    }
  };
  assert.ok(isMap(doc.contents));
  walk(doc.contents, '');
  return out;
}

describe('config example', () => {
  const example = exampleConfigYaml();

  it('parses clean and equals the defaults', () => {
    const r = checkConfigText(example, 'example.yaml');
    assert.deepEqual(r.problems.map(formatConfigProblem), []);
    assert.deepEqual(r.config, defaultConfig());
  });

  it('shows every key of the schema, and no other', () => {
    const shown = [...leafKeys(withShownKeys(example)).keys()].sort();
    assert.deepEqual(shown, [...listConfigKeys()].sort());
  });

  it('keys switched on are valid too', () => {
    const r = checkConfigText(withShownKeys(example), 'example.yaml');
    assert.deepEqual(r.problems.map(formatConfigProblem), []);
  });

  it('has a comment directly above every key', () => {
    const lines = withShownKeys(example).split('\n');
    for (const [path, line] of leafKeys(withShownKeys(example))) {
      assert.match(lines[line - 2] ?? '', /^\s*# \S/, `${path} (line ${line}) has no comment above it`);
    }
  });

  it('states the default of every key outside the retention table (whose values are the defaults)', () => {
    const lines = withShownKeys(example).split('\n');
    for (const [path, line] of leafKeys(withShownKeys(example))) {
      if (path.startsWith('privacy.retention.')) continue;
      let i = line - 2;
      const comment: string[] = [];
      while (i >= 0 && /^\s*#/.test(lines[i]!)) comment.push(lines[i--]!);
      assert.match(comment.join('\n'), /Default: /, `${path} has no "Default:" in its comment`);
    }
  });

  it('lists every key path', () => {
    const keys = listConfigKeys();
    for (const k of ['node.name', 'http.listen', 'store.url', 'bus.url', 'log.level', 'privacy.retention.cc-blocking', 'privacy.purgeInterval', 'privacy.auditFlushInterval']) {
      assert.ok(keys.includes(k), k);
    }
    assert.equal(new Set(keys).size, keys.length);
  });
});
