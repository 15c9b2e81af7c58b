import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { insertShape, multiRowInsert, numberPlaceholders } from './sql-text.ts';

describe('numberPlaceholders', () => {
  it('numbers code placeholders and skips every kind of quoted text', () => {
    const sql = `SELECT '?', "a?b", E'\\'?', $$ ? $$, $tag$ ?$tag$, x -- ?
      FROM t /* ? /* nested ? */ ? */ WHERE a = ? AND b = 'it''s?' AND c IN (?, ?) AND d = $1x`;
    const { text, count } = numberPlaceholders(sql);
    assert.equal(count, 3);
    assert.ok(text.includes('WHERE a = $1 AND'));
    assert.ok(text.includes('IN ($2, $3)'));
    assert.ok(text.startsWith(`SELECT '?', "a?b", E'\\'?', $$ ? $$, $tag$ ?$tag$`));
  });

  it('leaves SQL without placeholders unchanged', () => {
    fc.assert(
      fc.property(fc.string().filter((s) => !s.includes('?')), (s) => numberPlaceholders(s).text === s),
    );
  });

  it('counts every ? of SQL without quotes or comments', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('a', ' ', '?', ',', '(', ')', '=', '1')), (parts) => {
        const sql = parts.join('');
        return numberPlaceholders(sql).count === parts.filter((p) => p === '?').length;
      }),
    );
  });
});

describe('insertShape', () => {
  it('splits a single-row INSERT and rebuilds it for many rows', () => {
    const shape = insertShape("INSERT INTO t (a, b, c) VALUES (?, lower(?), 'x?') ON CONFLICT (a) DO UPDATE SET b = excluded.b");
    assert.ok(shape);
    assert.equal(shape.paramsPerRow, 2);
    assert.equal(shape.upsert, true);
    assert.equal(
      multiRowInsert(shape, 2),
      "INSERT INTO t (a, b, c) VALUES ($1, lower($2), 'x?'),($3, lower($4), 'x?') ON CONFLICT (a) DO UPDATE SET b = excluded.b",
    );
    assert.equal(insertShape('insert into t values (?) on conflict do nothing')?.upsert, false);
  });

  it('declines what it cannot batch safely', () => {
    assert.equal(insertShape('UPDATE t SET a = ?'), undefined);
    assert.equal(insertShape('INSERT INTO t (a) VALUES (?), (?)'), undefined);
    assert.equal(insertShape('INSERT INTO t (a) SELECT ? '), undefined);
    assert.equal(insertShape('INSERT INTO t (a) VALUES (?) ON CONFLICT (a) DO UPDATE SET b = ?'), undefined);
    assert.equal(insertShape('WITH x AS (SELECT 1) INSERT INTO t (a) VALUES (?)'), undefined);
    assert.equal(insertShape('INSERT INTO t (a) VALUES (1)'), undefined);
  });
});
