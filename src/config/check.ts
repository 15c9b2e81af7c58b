/**
 * Text in, problems out: YAML syntax, then the schema. Pure (no I/O), so the
 * CLI, the loader and the tests share it. Every problem names the key path,
 * the value, what is expected, and the line it is on.
 */
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { kindOf } from './fields.ts';
import { listConfigKeys, mappingAt } from './keys.ts';
import { configSchema, type Config } from './schema.ts';
import { closest } from './suggest.ts';

export interface ConfigProblem {
  /** The file name as given to the checker, for the message prefix. */
  file: string;
  /** Dotted key path ("store.url"); "" for a problem with the file itself (YAML syntax, top level). */
  path: string;
  /** 1-based, when the problem can be placed in the text. */
  line?: number;
  column?: number;
  /** What follows the path: `"mysql://x" is not a supported store URL — expected ...`. */
  message: string;
}

export interface CheckResult {
  /** Present only when there are no problems. */
  config?: Config;
  problems: ConfigProblem[];
}

/** `sakimori.yaml:12: store.url: "mysql://x" is not ...`; YAML syntax problems also give the column. */
export function formatConfigProblem(p: ConfigProblem): string {
  let where = p.file;
  if (p.line !== undefined) where += `:${p.line}`;
  if (p.line !== undefined && p.column !== undefined && p.path === '') where += `:${p.column}`;
  return `${where}: ${p.path === '' ? '' : `${p.path}: `}${p.message}`;
}

const MAX_SYNTAX_PROBLEMS = 10;

/** `file` of a problem in a value given on the command line rather than in the file. */
export const OVERRIDE_SOURCE = 'command line';

/**
 * Checks a config text. `overrides` ("store.url" -> value, e.g. from --store)
 * are applied over the file before validation, so a bad value given on the
 * command line is caught the same way; its problems name OVERRIDE_SOURCE.
 */
export function checkConfigText(text: string, fileName: string, overrides: Readonly<Record<string, string | undefined>> = {}): CheckResult {
  const lineCounter = new LineCounter();
  const at = (offset: number | undefined): { line?: number; column?: number } => {
    if (offset === undefined) return {};
    const pos = lineCounter.linePos(offset);
    return { line: pos.line, column: pos.col };
  };
  const problem = (path: string, offset: number | undefined, message: string): ConfigProblem => ({
    file: fileName,
    path,
    ...at(offset),
    message,
  });

  let doc: Document.Parsed;
  try {
    doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  } catch (err) {
    return { problems: [problem('', undefined, `cannot be read as YAML: ${(err as Error).message}`)] };
  }
  const yamlProblems = sortProblems([
    ...doc.errors.map((e) => problem('', e.pos[0], `YAML syntax error: ${syntaxMessage(e.code, e.message, text, e.pos[0])}`)),
    ...doc.warnings.map((e) => problem('', e.pos[0], `YAML: ${e.message}`)),
  ]);
  if (yamlProblems.length > MAX_SYNTAX_PROBLEMS) {
    // One slip (an unclosed bracket) can make every later line an error; the first ones say enough.
    const rest = yamlProblems.length - MAX_SYNTAX_PROBLEMS;
    const shown = yamlProblems.slice(0, MAX_SYNTAX_PROBLEMS);
    return { problems: [...shown, problem('', undefined, `${rest} more YAML errors not shown; fix the first ones and check again`)] };
  }
  if (yamlProblems.length > 0) return { problems: yamlProblems };

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    return { problems: [problem('', doc.contents?.range[0], `cannot be read as YAML: ${(err as Error).message}`)] };
  }

  raw ??= {};
  const problems: ConfigProblem[] = [];
  const overridden = new Set<string>();
  const knownKeys = new Set(listConfigKeys());
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    if (!knownKeys.has(key)) {
      const guess = closest(key, knownKeys);
      problems.push({ file: OVERRIDE_SOURCE, path: key, message: `unknown key${guess ? ` — did you mean ${guess}?` : ''}` });
    } else if (setIn(raw, key.split('.'), value)) {
      overridden.add(key);
    }
  }

  const parsed = configSchema.safeParse(raw);
  if (parsed.success) {
    for (const r of danglingReferences(parsed.data)) problems.push(problem(dotted(r.path), locate(doc, r.path).offset, r.message));
  }
  if (parsed.success && problems.length === 0) return { config: parsed.data, problems: [] };

  for (const issue of parsed.error?.issues ?? []) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const found = locate(doc, [...issue.path, key]);
        problems.push(problem(dotted([...issue.path, key]), found.keyOffset ?? found.offset, unknownKeyMessage(issue.path, key)));
      }
    } else if (overridden.has(issue.path.join('.'))) {
      problems.push({ file: OVERRIDE_SOURCE, path: dotted(issue.path), message: valueMessage(issue, raw) });
    } else {
      problems.push(problem(dotted(issue.path), locate(doc, issue.path).offset, valueMessage(issue, raw)));
    }
  }
  return { problems: sortProblems(problems) };
}

/**
 * Names that point from one section into another: dns.zones[].key, rpz.allowTransfer[].key
 * and rpz.notify[].key name TSIG keys that only tsig.keys defines in a config, so an
 * undefined one is a problem at check time, not only when the service starts. (A key given
 * with `--key` on the command line is for entries given on the command line.)
 */
function danglingReferences(config: Config): { path: PropertyKey[]; message: string }[] {
  const norm = (n: string) => n.trim().toLowerCase().replace(/\.$/, '');
  const names = config.tsig.keys.map((k) => k.name);
  const defined = new Set(names.map(norm));
  const out: { path: PropertyKey[]; message: string }[] = [];
  const check = (name: string | undefined, path: PropertyKey[]) => {
    if (name === undefined || defined.has(norm(name))) return;
    const guess = closest(name, names);
    out.push({ path, message: `names TSIG key ${JSON.stringify(name)}, which is not defined — ${guess ? `did you mean ${guess}? ` : ''}expected the name of a key under tsig.keys${names.length ? ` (${names.join(', ')})` : ' (none is defined)'}` });
  };
  config.dns.zones.forEach((z, i) => check(z.key, ['dns', 'zones', i, 'key']));
  config.rpz.allowTransfer.forEach((e, i) => typeof e !== 'string' && check(e.key, ['rpz', 'allowTransfer', i, 'key']));
  config.rpz.notify.forEach((e, i) => typeof e !== 'string' && check(e.key, ['rpz', 'notify', i, 'key']));
  return out;
}

function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  return problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
}

/** "privacy.retention.cc-blocking", "attribution.radius.clients[0].secret"; a segment that itself holds a dot or space is quoted. */
function dotted(path: readonly PropertyKey[]): string {
  let out = '';
  for (const s of path) {
    if (typeof s === 'number') out += `[${s}]`;
    else out += `${out === '' ? '' : '.'}${/^[\w-]+$/.test(String(s)) ? String(s) : JSON.stringify(String(s))}`;
  }
  return out;
}

/** A value as it would be quoted back to the operator, kept short. */
function show(v: unknown): string {
  let s: string;
  if (typeof v === 'string') s = JSON.stringify(v);
  else if (typeof v === 'object' && v !== null) {
    try {
      s = JSON.stringify(v) ?? String(v);
    } catch {
      s = Array.isArray(v) ? '[...]' : '{...}';
    }
  } else s = String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** Sets a leaf in the parsed YAML; false when a section on the way is not a mapping (that error stands). */
function setIn(raw: unknown, path: readonly string[], value: string): boolean {
  let v = raw;
  for (const [i, seg] of path.entries()) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
    const obj = v as Record<string, unknown>;
    if (i === path.length - 1) {
      obj[seg] = value;
      return true;
    }
    if (obj[seg] === undefined || obj[seg] === null) obj[seg] = {};
    v = obj[seg];
  }
  return false;
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let v = raw;
  for (const seg of path) {
    if (typeof v !== 'object' || v === null || !Object.hasOwn(v, seg)) return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

function valueMessage(issue: z.core.$ZodIssue, raw: unknown): string {
  const value = valueAt(raw, issue.path);
  if (issue.path.length === 0) return `the top level is ${kindOf(value)} — expected a mapping of sections: ${mappingAt([])?.keys.join(', ')}`;
  if (value === null || value === undefined) return issue.message;
  // A secret is never quoted back (the terminal, the log, a support ticket).
  if (typeof value === 'string' && /secret|password/i.test(String(issue.path[issue.path.length - 1] ?? ''))) return `the value given ${issue.message}`;
  return `${show(value)} ${issue.message}`;
}

function unknownKeyMessage(parent: readonly PropertyKey[], key: string): string {
  const mapping = mappingAt(parent);
  const siblings = mapping?.keys ?? [];
  const noun = mapping?.info.keyNoun ?? 'key';
  const keyList = mapping?.info.keyList;

  const sibling = closest(key, siblings);
  if (sibling !== undefined) {
    // Keys are suggested as full paths (the operator greps for them); members of a
    // closed list such as purposes by name, as they are written in the file.
    const guess = noun === 'key' ? dotted([...parent, sibling]) : sibling;
    return `unknown ${noun} — did you mean ${guess}?${keyList ? ` (${keyList})` : ''}`;
  }

  if (noun === 'key' && !parent.some((s) => typeof s === 'number')) {
    const here = parent.map(String);
    // "store.url: x" written flat: in YAML a dotted key is one key, not a path.
    if (key.includes('.')) {
      const full = closest([...here, key].join('.'), listConfigKeys());
      if (full !== undefined) {
        const [first, ...rest] = full.split('.').slice(here.length);
        const guess = full === [...here, key].join('.') ? '' : ` (did you mean ${full}?)`;
        return `a key with dots is one key in YAML, not a path${guess} — expected "${first}:" with "${rest.join('.')}:" indented under it`;
      }
    }
    // A right key in the wrong section: "level" at the top level is log.level.
    const elsewhere = listConfigKeys().filter((k) => closest(key, [k.slice(k.lastIndexOf('.') + 1)]) !== undefined);
    if (elsewhere.length > 0 && elsewhere.length <= 3) {
      return `unknown key here — did you mean ${elsewhere.join(' or ')}?`;
    }
  }
  return `unknown ${noun} — expected one of ${siblings.join(', ')}${keyList ? `; ${keyList}` : ''}`;
}

/** Offsets of the value node at `path` and of its key, or of the nearest ancestor that exists. */
function locate(doc: Document.Parsed, path: readonly PropertyKey[]): { offset?: number; keyOffset?: number } {
  let node: unknown = doc.contents;
  let offset = rangeStart(node);
  let keyOffset: number | undefined;
  for (const seg of path) {
    if (isAlias(node)) node = node.resolve(doc);
    let next: unknown;
    keyOffset = undefined;
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
      if (pair) {
        keyOffset = rangeStart(pair.key);
        next = pair.value ?? pair.key;
      }
    } else if (isSeq(node) && typeof seg === 'number') {
      next = node.items[seg];
    }
    if (next === undefined) return { offset };
    node = next;
    offset = rangeStart(node) ?? keyOffset ?? offset;
  }
  return { offset, keyOffset };
}

function rangeStart(node: unknown): number | undefined {
  return node && typeof node === 'object' && 'range' in node ? (node as Node).range?.[0] : undefined;
}

/** yaml's wording, with the fix for the slips operators make most in this file. */
function syntaxMessage(code: string, message: string, text: string, offset: number): string {
  if (code === 'MULTIPLE_DOCS') return 'a second document starts here ("---") — expected one document holding all settings';
  if (code !== 'BLOCK_AS_IMPLICIT_KEY') return message;
  // An unquoted value ending in ":" (memory:, sqlite::memory:) reads as a nested key.
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  const lineEnd = text.indexOf('\n', offset);
  const line = text.slice(lineStart, lineEnd < 0 ? undefined : lineEnd);
  const m = /^\s*[\w.-]+:\s+(\S.*:)\s*$/.exec(line);
  return m ? `${message} — a value ending in ":" must be quoted: "${m[1]}"` : message;
}
