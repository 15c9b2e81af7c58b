import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { csvRecords, parseCsvRecord, type CsvItem } from './csv.ts';

async function all(text: string): Promise<CsvItem[]> {
  const out: CsvItem[] = [];
  for await (const r of csvRecords(text.split(/\r?\n/))) out.push(r);
  return out;
}

function encode(fields: string[]): string {
  return fields.map((f) => (/[",\n]/.test(f) || f === '' ? `"${f.replaceAll('"', '""')}"` : f)).join(',');
}

describe('csv', () => {
  it('reads quoted, empty and multi-line fields with the line each record starts on', async () => {
    const r = await all('a,b,c\n1,"x, ""y""",\n"multi\nline",2,3\n\n4,5,6');
    assert.deepEqual(r, [
      { line: 1, fields: ['a', 'b', 'c'] },
      { line: 2, fields: ['1', 'x, "y"', ''] },
      { line: 3, fields: ['multi\nline', '2', '3'] },
      { line: 6, fields: ['4', '5', '6'] },
    ]);
  });

  it('reports a malformed line by number and goes on with the next line', async () => {
    const r = await all('h1,h2\n1,"bad"x\n2,ok\n"never closed,3\n4,fine');
    assert.deepEqual(r.map((x) => ('error' in x ? `${x.line}:error` : `${x.line}:${x.fields.join('|')}`)), ['1:h1|h2', '2:error', '3:2|ok', '4:error', '5:4|fine']);
    assert.match((r[1] as { error: string }).error, /after the closing quote/);
    assert.match((r[3] as { error: string }).error, /not closed/);
  });

  it('strips a byte-order mark', async () => {
    assert.deepEqual(await all('\uFEFFid,login'), [{ line: 1, fields: ['id', 'login'] }]);
  });

  it('property: what is encoded is read back, line numbers count physical lines', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(fc.string({ unit: fc.constantFrom('a', 'b', ',', '"', '\n', ' ', 'é') }), { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 8 }), async (rows) => {
        const text = rows.map(encode).join('\n');
        const got = await all(text);
        const expectRows = rows.filter((r) => encode(r).trim() !== '');
        assert.deepEqual(got.map((g) => ('fields' in g ? g.fields : g.error)), expectRows);
        let line = 1;
        const lines: number[] = [];
        for (const r of rows) {
          if (encode(r).trim() !== '') lines.push(line);
          line += encode(r).split('\n').length;
        }
        assert.deepEqual(got.map((g) => g.line), lines);
      }),
    );
  });

  it('property: any text parses without throwing, each line at most once', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: fc.constantFrom('a', ',', '"', '\n', '\r') , maxLength: 80 }), async (text) => {
        const got = await all(text);
        const lines = got.map((g) => g.line);
        assert.deepEqual(lines, [...new Set(lines)].sort((a, b) => a - b));
      }),
    );
    assert.deepEqual(parseCsvRecord('"a'), { ok: 'open' });
  });
});
