/**
 * CSV fields of one line (RFC 4180 quoting: "a, b" and "say ""hi"""). A
 * quoted field that runs past the end of the line is reported, not joined
 * with the next line: session exports have no multi-line values, and a
 * stray quote must not swallow the rest of a file.
 */
export function splitCsv(line: string, sep = ','): string[] | { error: string } {
  if (line.indexOf('"') < 0) return line.split(sep);
  const out: string[] = [];
  let i = 0;
  const n = line.length;
  for (;;) {
    if (line[i] === '"') {
      let v = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) return { error: `a quoted field opened at column ${out.length + 1} is not closed on this line` };
        v += line.slice(i, q);
        if (line[q + 1] === '"') {
          v += '"';
          i = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      out.push(v);
      if (i >= n) return out;
      if (line[i] !== sep) return { error: `unexpected text after the quoted field in column ${out.length}` };
      i++;
    } else {
      const c = line.indexOf(sep, i);
      if (c < 0) {
        out.push(line.slice(i));
        return out;
      }
      out.push(line.slice(i, c));
      i = c + 1;
    }
  }
}

/**
 * The fields at `columns` (ascending positions) of one line into `out`
 * (out[i] = field columns[i], '' past the end of the line): what splitCsv
 * gives at those positions, without making a string of every other field
 * (a radacct export has ~30 columns, attribution reads 11). Lines with a
 * quote take splitCsv.
 */
export function pickCsv(line: string, columns: readonly number[], out: string[], sep = ','): true | { error: string } {
  if (line.indexOf('"') >= 0) {
    const all = splitCsv(line, sep);
    if (!Array.isArray(all)) return all;
    for (let i = 0; i < columns.length; i++) out[i] = all[columns[i]!] ?? '';
    return true;
  }
  let col = 0;
  let from = 0;
  for (let i = 0; i < columns.length; i++) {
    const want = columns[i]!;
    while (col < want && from >= 0) {
      const c = line.indexOf(sep, from);
      from = c < 0 ? -1 : c + 1;
      col++;
    }
    if (from < 0) {
      for (; i < columns.length; i++) out[i] = '';
      return true;
    }
    const c = line.indexOf(sep, from);
    out[i] = c < 0 ? line.slice(from) : line.slice(from, c);
    from = c < 0 ? -1 : c + 1;
    col++;
  }
  return true;
}

/** Column positions by lower-cased header name. */
export function headerIndex(fields: string[]): Map<string, number> {
  const m = new Map<string, number>();
  fields.forEach((f, i) => m.set(f.trim().toLowerCase().replace(/^\ufeff/, ''), i));
  return m;
}
