/**
 * CSV records with the line each starts on, for imports that must report a
 * bad line by number and go on with the rest (RFC 4180: comma-separated,
 * fields optionally in double quotes, "" for a quote, quoted fields may span
 * lines).
 *
 * Why not a general CSV library: after one malformed quote they read the rest
 * of the file as one field. Here a record that cannot be parsed is reported at
 * the line it starts on and parsing resumes at the next line, so one bad line
 * costs one line. A quoted field may span at most `maxLinesPerRecord` lines.
 */
export type CsvItem = { line: number; fields: string[] } | { line: number; error: string };

type Parsed = { ok: true; fields: string[] } | { ok: false; error: string } | { ok: 'open' };

/** Parses one record from text that holds one or more physical lines joined by "\n". */
export function parseCsvRecord(text: string): Parsed {
  const fields: string[] = [];
  let i = 0;
  const n = text.length;
  for (;;) {
    if (text.charCodeAt(i) === 0x22) {
      // Quoted field.
      let value = '';
      let j = i + 1;
      for (;;) {
        const q = text.indexOf('"', j);
        if (q === -1) return { ok: 'open' };
        value += text.slice(j, q);
        if (text.charCodeAt(q + 1) === 0x22) {
          value += '"';
          j = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      fields.push(value);
      if (i === n) return { ok: true, fields };
      if (text.charCodeAt(i) !== 0x2c) {
        return { ok: false, error: `unexpected ${JSON.stringify(text[i])} after the closing quote of field ${fields.length} (a quote inside a quoted field is written "")` };
      }
      i++;
    } else {
      const c = text.indexOf(',', i);
      const end = c === -1 ? n : c;
      const value = text.slice(i, end);
      if (value.includes('\n')) return { ok: false, error: 'a line break outside quotes' };
      fields.push(value);
      if (c === -1) return { ok: true, fields };
      i = c + 1;
    }
  }
}

export interface CsvOptions {
  /** Default 50: a quoted field longer than this is taken as an unclosed quote. */
  maxLinesPerRecord?: number;
}

/** Records from physical lines (without their line breaks). Blank lines are skipped. */
export async function* csvRecords(lines: AsyncIterable<string> | Iterable<string>, opts: CsvOptions = {}): AsyncGenerator<CsvItem> {
  const maxLines = opts.maxLinesPerRecord ?? 50;
  const it = (Symbol.asyncIterator in lines ? (lines as AsyncIterable<string>)[Symbol.asyncIterator]() : (lines as Iterable<string>)[Symbol.iterator]()) as
    | AsyncIterator<string>
    | Iterator<string>;
  const buf: { text: string; no: number }[] = [];
  let lineNo = 0;
  let done = false;
  const fill = async (k: number): Promise<boolean> => {
    while (buf.length < k && !done) {
      const r = await it.next();
      if (r.done) done = true;
      else {
        lineNo++;
        buf.push({ text: lineNo === 1 ? r.value.replace(/^\uFEFF/, '') : r.value, no: lineNo });
      }
    }
    return buf.length >= k;
  };
  while (await fill(1)) {
    const first = buf[0]!;
    if (first.text.trim() === '') {
      buf.shift();
      continue;
    }
    let k = 1;
    for (;;) {
      const text = k === 1 ? first.text : buf.slice(0, k).map((l) => l.text).join('\n');
      const r = parseCsvRecord(text);
      if (r.ok === true) {
        yield { line: first.no, fields: r.fields };
        buf.splice(0, k);
        break;
      }
      if (r.ok === false) {
        yield { line: first.no, error: r.error };
        buf.shift();
        break;
      }
      if (k >= maxLines || !(await fill(k + 1))) {
        yield { line: first.no, error: 'a quoted field is not closed' };
        buf.shift();
        break;
      }
      k++;
    }
  }
}
