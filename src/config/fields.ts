/**
 * Builders for config values. Each one carries its own wording, so a problem
 * reads `"mysql://x" is not a supported store URL — expected ...`: the message
 * of an issue is the text that follows the offending value (check.ts puts the
 * value in front), and always says what is expected.
 */
import { z } from 'zod';
import { parseDuration } from '../core/clock.ts';
import { LISTEN_EXPECTED, parseListenAddress } from '../core/net.ts';

export { parseListenAddress };
import { closest } from './suggest.ts';

/** How a value is called in a sentence: "is a number", "is a list". */
export function kindOf(v: unknown): string {
  if (v === null || v === undefined) return 'empty';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'boolean') return 'true/false';
  if (typeof v === 'object') return v instanceof Uint8Array ? 'binary data' : 'a mapping';
  return `a ${typeof v}`;
}

/** Error function for "wrong kind of value" issues, keeping the schema's own wording otherwise. */
function wrongKind(expected: string) {
  return (iss: z.core.$ZodRawIssue): string | undefined => {
    if (iss.code !== 'invalid_type') return undefined;
    if (iss.input === null || iss.input === undefined) return `has no value — expected ${expected}`;
    return `is ${kindOf(iss.input)} — expected ${expected}`;
  };
}

/** Runs `why` on a string; a returned text becomes the issue message. */
function checked(expected: string, why: (s: string) => string | undefined) {
  return z.string({ error: wrongKind(expected) }).superRefine((s, ctx) => {
    const reason = why(s);
    if (reason !== undefined) ctx.addIssue({ code: 'custom', message: reason, input: s });
  });
}

// ---------------------------------------------------------------- sections

export interface SectionInfo {
  /** What a key of this mapping is called in messages: "key" (default) or e.g. "purpose". */
  keyNoun?: string;
  /** A sentence on where the closed list of keys comes from, added to "unknown ..." messages. */
  keyList?: string;
}

const sectionInfos = new WeakMap<object, SectionInfo>();

/** Metadata of a mapping built with `section()`, found on its inner object schema. */
export function sectionInfo(schema: object): SectionInfo | undefined {
  return sectionInfos.get(schema);
}

/**
 * A mapping of keys, each with its own default. Unknown keys are errors (a typo
 * must not silently fall back to a default). A section left out, or written with
 * nothing under it (`node:` with only comments, which YAML reads as null), takes
 * the defaults of all its keys.
 */
export function section<S extends z.core.$ZodLooseShape>(shape: S, info: SectionInfo = {}) {
  const expected = `a mapping with the keys ${Object.keys(shape).join(', ')}`;
  const object = z.strictObject(shape, { error: wrongKind(expected) });
  sectionInfos.set(object, info);
  return z.preprocess((v) => (v === null ? {} : v), object).prefault({});
}

// ---------------------------------------------------------------- leaves

/** A name used in logs and observations: no spaces, no control characters. */
export function name() {
  const expected = 'a name without spaces, such as tokyo-resolver-1';
  return checked(expected, (s) => {
    if (s.trim() === '') return `is empty — expected ${expected}`;
    if (/[\s\p{Cc}]/u.test(s)) return `contains spaces or control characters — expected ${expected}`;
    if (s.length > 253) return `is longer than 253 characters — expected ${expected}`;
    return undefined;
  });
}

/** "ADDR:PORT" for a listening socket. Kept as the string written; see parseListenAddress. */
export function listenAddress() {
  return checked(LISTEN_EXPECTED, (s) => {
    const r = parseListenAddress(s);
    return 'error' in r ? r.error : undefined;
  });
}

/**
 * A URL whose scheme picks an adapter. `check` returns a reason for a URL of a
 * known scheme that is still wrong (no host, no path); any other scheme is
 * "not a supported <what> URL".
 */
export function adapterUrl(what: string, expected: string, check: (s: string) => string | undefined | false) {
  return checked(expected, (s) => {
    const r = check(s);
    if (r === false) return `is not a supported ${what} URL — expected ${expected}`;
    return r === undefined ? undefined : `${r} — expected ${expected}`;
  });
}

/** Parses with WHATWG URL, or returns undefined when it is not a URL at all. */
export function tryUrl(s: string): URL | undefined {
  try {
    return new URL(s);
  } catch {
    return undefined;
  }
}

/** One of a fixed list of words, with a guess when the value is a near miss. */
export function oneOf<const T extends readonly [string, ...string[]]>(values: T, noun: string) {
  const expected = `one of ${values.join(', ')}`;
  return z.enum(values, {
    error: (iss) => {
      if (iss.input === null || iss.input === undefined) return `has no value — expected ${expected}`;
      const guess = typeof iss.input === 'string' ? closest(iss.input, values) : undefined;
      return `is not a ${noun} — expected ${expected}${guess ? ` (did you mean ${guess}?)` : ''}`;
    },
  });
}

export const DURATION_EXPECTED = 'a duration: a number and a unit (ms, s, m, h, d, w), such as "90s", "36h" or "30d"';

/**
 * A duration written with its unit; parsed to milliseconds. A bare number is
 * refused because "30" could mean seconds to one reader and days to another.
 * Zero is refused unless it means something ("flush at once"), since a zero
 * retention or timer period is almost always a slip.
 */
export function duration(opts: { allowZero?: boolean } = {}) {
  return z.string({ error: wrongKind(DURATION_EXPECTED) }).transform((s, ctx) => {
    const fail = (why: string) => {
      ctx.addIssue({ code: 'custom', message: `${why} — expected ${DURATION_EXPECTED}`, input: s });
      return z.NEVER;
    };
    if (/^\s*\d+(?:\.\d+)?\s*$/.test(s)) return fail('has no unit');
    const years = /^\s*(\d+)\s*y\s*$/.exec(s);
    if (years) return fail(`uses years, which are not a unit here (write ${Number(years[1]) * 365}d)`);
    const ms = /^\s*\d+(?:\.\d+)?\s*(?:ms|s|m|h|d|w)\s*$/.test(s) ? parseDuration(s) : undefined;
    if (ms === undefined) return fail('is not a duration');
    if (ms === 0 && !opts.allowZero) return fail('is zero');
    if (!Number.isSafeInteger(ms)) return fail('is too long');
    return ms;
  });
}
