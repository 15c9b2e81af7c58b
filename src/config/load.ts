/**
 * Finding and reading the config file. The only part of src/config with I/O.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import { ConfigError, SakimoriError } from '../core/errors.ts';
import { checkConfigText, formatConfigProblem, type CheckResult } from './check.ts';
import type { Config } from './schema.ts';

export const DEFAULT_CONFIG_FILE = 'sakimori.yaml';
export const EMBEDDED_DEFAULTS = 'embedded defaults';

export interface LoadOptions {
  /** --config FILE; relative to cwd. When given, it must exist. */
  file?: string;
  /** Where ./sakimori.yaml is looked for; default process.cwd(). */
  cwd?: string;
  /** Values from command-line flags, by key path ({ 'store.url': '...' }); validated like the file. */
  overrides?: Readonly<Record<string, string | undefined>>;
}

/** The path as an operator would type it: relative to the working directory when inside it. */
function display(abs: string): string {
  const rel = relative(process.cwd(), abs);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : abs;
}

async function read(abs: string): Promise<{ text: string } | { missing: true } | { error: string }> {
  try {
    return { text: await readFile(abs, 'utf8') };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { missing: true };
    if (code === 'EISDIR') return { error: 'is a directory, not a file' };
    if (code === 'EACCES' || code === 'EPERM') return { error: 'cannot be read (permission denied)' };
    return { error: `cannot be read: ${(err as Error).message}` };
  }
}

const NOT_FOUND_HINT = 'check the --config path; `sakimori config example > sakimori.yaml` writes a commented file to start from';

/**
 * Loads the configuration: --config FILE (must exist), else ./sakimori.yaml if
 * present, else the embedded defaults. Throws ConfigError listing every
 * problem, each as "file:line: key.path: message".
 */
export async function loadConfig(opts: LoadOptions = {}): Promise<{ config: Config; source: string }> {
  const cwd = opts.cwd ?? process.cwd();
  const abs = resolve(cwd, opts.file ?? DEFAULT_CONFIG_FILE);
  const got = await read(abs);
  let text: string;
  let source: string;
  if ('text' in got) {
    text = got.text;
    source = display(abs);
  } else if ('error' in got) {
    throw new SakimoriError('CONFIG_UNREADABLE', `config file ${display(abs)} ${got.error}`);
  } else if (opts.file !== undefined) {
    throw new SakimoriError('CONFIG_NOT_FOUND', `config file ${display(abs)} does not exist (looked for ${abs})`, { hint: NOT_FOUND_HINT });
  } else {
    text = '';
    source = EMBEDDED_DEFAULTS;
  }
  const result = checkConfigText(text, source, opts.overrides);
  if (!result.config) throw new ConfigError(source, result.problems.map(formatConfigProblem));
  return { config: result.config, source };
}

/**
 * For `sakimori config check FILE`: never throws for a bad or missing file,
 * reports it as a problem instead, so the CLI prints one list and exits 1.
 */
export async function checkConfigFile(file: string, cwd = process.cwd()): Promise<CheckResult & { source: string }> {
  const abs = resolve(cwd, file);
  const source = display(abs);
  const got = await read(abs);
  if ('missing' in got) return { source, problems: [{ file: source, path: '', message: `does not exist (looked for ${abs})` }] };
  if ('error' in got) return { source, problems: [{ file: source, path: '', message: got.error }] };
  return { source, ...checkConfigText(got.text, source) };
}

/** The configuration with nothing set: what an empty file or no file gives. */
export function defaultConfig(): Config {
  const result = checkConfigText('', EMBEDDED_DEFAULTS);
  if (!result.config) throw new Error(`embedded defaults do not validate: ${result.problems.map(formatConfigProblem).join('; ')}`);
  return result.config;
}
