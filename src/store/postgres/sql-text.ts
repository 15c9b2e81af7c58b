/**
 * Just enough of PostgreSQL's lexical rules to find the `?` placeholders and
 * parentheses that are code, not text inside a literal, a quoted identifier,
 * a dollar-quoted body or a comment.
 */
export interface CodeToken {
  kind: '?' | '(' | ')' | ',' | 'word';
  start: number;
  end: number;
  /** Lower-cased, for words. */
  word?: string;
}

const WORD_START = /[A-Za-z_\u0080-\uffff]/;
const WORD_CHAR = /[A-Za-z0-9_$\u0080-\uffff]/;

export function codeTokens(sql: string): CodeToken[] {
  const tokens: CodeToken[] = [];
  const n = sql.length;
  let i = 0;
  while (i < n) {
    const c = sql[i]!;
    if (c === "'") {
      // E'...' strings allow backslash escapes; standard strings only ''.
      const prev = i > 0 ? sql[i - 1]! : '';
      const escapes = (prev === 'E' || prev === 'e') && (i < 2 || !WORD_CHAR.test(sql[i - 2]!));
      i = skipQuoted(sql, i, "'", escapes);
    } else if (c === '"') {
      i = skipQuoted(sql, i, '"', false);
    } else if (c === '-' && sql[i + 1] === '-') {
      const nl = sql.indexOf('\n', i);
      i = nl < 0 ? n : nl + 1;
    } else if (c === '/' && sql[i + 1] === '*') {
      i = skipBlockComment(sql, i);
    } else if (c === '$' && (i === 0 || !WORD_CHAR.test(sql[i - 1]!))) {
      const tag = /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(sql.slice(i, i + 64));
      if (tag) {
        const close = sql.indexOf(tag[0], i + tag[0].length);
        i = close < 0 ? n : close + tag[0].length;
      } else {
        i++;
      }
    } else if (c === '?' || c === '(' || c === ')' || c === ',') {
      tokens.push({ kind: c, start: i, end: i + 1 });
      i++;
    } else if (WORD_START.test(c)) {
      let j = i + 1;
      while (j < n && WORD_CHAR.test(sql[j]!)) j++;
      // A word directly followed by ' is a prefix (E'', B'', X'', U&'') handled by the string branch.
      tokens.push({ kind: 'word', start: i, end: j, word: sql.slice(i, j).toLowerCase() });
      i = j;
    } else {
      i++;
    }
  }
  return tokens;
}

function skipQuoted(sql: string, open: number, quote: string, backslashEscapes: boolean): number {
  let i = open + 1;
  while (i < sql.length) {
    const c = sql[i]!;
    if (backslashEscapes && c === '\\') {
      i += 2;
    } else if (c === quote) {
      if (sql[i + 1] === quote) i += 2; // doubled quote is an escaped quote
      else return i + 1;
    } else {
      i++;
    }
  }
  return sql.length;
}

function skipBlockComment(sql: string, open: number): number {
  let depth = 0; // PostgreSQL block comments nest
  let i = open;
  while (i < sql.length) {
    if (sql[i] === '/' && sql[i + 1] === '*') {
      depth++;
      i += 2;
    } else if (sql[i] === '*' && sql[i + 1] === '/') {
      depth--;
      i += 2;
      if (depth === 0) return i;
    } else {
      i++;
    }
  }
  return sql.length;
}

/** Rewrites `?` placeholders as PostgreSQL's `$1..$n`. */
export function numberPlaceholders(sql: string): { text: string; count: number } {
  let text = '';
  let last = 0;
  let count = 0;
  for (const t of codeTokens(sql)) {
    if (t.kind !== '?') continue;
    text += sql.slice(last, t.start) + '$' + ++count;
    last = t.end;
  }
  return { text: count === 0 ? sql : text + sql.slice(last), count };
}

/**
 * An `INSERT ... VALUES (?, ?, ...) [ON CONFLICT ...]` statement split so that
 * many rows can be sent as one multi-row INSERT: `head VALUES (..),(..) tail`.
 */
export interface InsertShape {
  /** Up to and including the VALUES keyword. */
  head: string;
  /** The row tuple cut at its placeholders: pieces.length = params + 1. */
  pieces: string[];
  tail: string;
  paramsPerRow: number;
  /** ON CONFLICT ... DO UPDATE: a batch that names one key twice fails and is retried row by row. */
  upsert: boolean;
}

/** Returns the shape if sql is a single-row INSERT whose placeholders all sit in its VALUES tuple. */
export function insertShape(sql: string): InsertShape | undefined {
  const tokens = codeTokens(sql);
  if (tokens[0]?.word !== 'insert') return undefined;
  let depth = 0;
  let valuesAt = -1;
  for (let k = 0; k < tokens.length; k++) {
    const t = tokens[k]!;
    if (t.kind === '(') depth++;
    else if (t.kind === ')') depth--;
    else if (t.kind === 'word' && t.word === 'values' && depth === 0) {
      valuesAt = k;
      break;
    }
  }
  if (valuesAt < 0 || tokens[valuesAt + 1]?.kind !== '(') return undefined;
  const open = valuesAt + 1;
  let close = -1;
  depth = 0;
  for (let k = open; k < tokens.length; k++) {
    const t = tokens[k]!;
    if (t.kind === '(') depth++;
    else if (t.kind === ')' && --depth === 0) {
      close = k;
      break;
    }
  }
  if (close < 0 || tokens[close + 1]?.kind === ',') return undefined;
  const marks = tokens.filter((t) => t.kind === '?');
  if (marks.length === 0) return undefined;
  const tupleStart = tokens[open]!.start;
  const tupleEnd = tokens[close]!.end;
  if (marks.some((m) => m.start < tupleStart || m.start > tupleEnd)) return undefined;

  const pieces: string[] = [];
  let last = tupleStart;
  for (const m of marks) {
    pieces.push(sql.slice(last, m.start));
    last = m.end;
  }
  pieces.push(sql.slice(last, tupleEnd));
  const tailTokens = tokens.slice(close + 1);
  const upsert = tailTokens.some((t, k) => t.word === 'do' && tailTokens[k + 1]?.word === 'update');
  return { head: sql.slice(0, tupleStart), pieces, tail: sql.slice(tupleEnd), paramsPerRow: marks.length, upsert };
}

/** The multi-row text for `rows` rows of shape, numbered $1..$(rows*paramsPerRow). */
export function multiRowInsert(shape: InsertShape, rows: number): string {
  const parts: string[] = [shape.head];
  let n = 0;
  for (let r = 0; r < rows; r++) {
    if (r > 0) parts.push(',');
    parts.push(shape.pieces[0]!);
    for (let j = 1; j < shape.pieces.length; j++) parts.push('$' + ++n, shape.pieces[j]!);
  }
  parts.push(shape.tail);
  return parts.join('');
}
