/**
 * Walks the zod schema to find which keys exist where. Everything that needs
 * the key tree (unknown-key suggestions, listConfigKeys, the example test)
 * reads it from here, so a new section needs no list kept by hand.
 */
import { z } from 'zod';
import { sectionInfo, type SectionInfo } from './fields.ts';
import { configSchema } from './schema.ts';

/** The object schema under defaults, optionals and preprocess/transform pipes, if any. */
function objectOf(schema: unknown): z.ZodObject | undefined {
  let s = schema;
  for (let depth = 0; depth < 16; depth++) {
    if (s instanceof z.ZodObject) return s;
    if (s instanceof z.ZodPipe) {
      s = s.in instanceof z.ZodTransform ? s.out : s.in;
      continue;
    }
    const inner = s instanceof z.ZodType ? (s.def as { innerType?: unknown }).innerType : undefined;
    if (inner === undefined) return undefined;
    s = inner;
  }
  return undefined;
}

/** The element schema of a list (under defaults, optionals and pipes), if `schema` is one. */
function elementOf(schema: unknown): unknown {
  let s = schema;
  for (let depth = 0; depth < 16; depth++) {
    if (s instanceof z.ZodArray) return s.element;
    if (s instanceof z.ZodPipe) {
      s = s.in instanceof z.ZodTransform ? s.out : s.in;
      continue;
    }
    const inner = s instanceof z.ZodType ? (s.def as { innerType?: unknown }).innerType : undefined;
    if (inner === undefined) return undefined;
    s = inner;
  }
  return undefined;
}

export interface MappingAt {
  keys: string[];
  info: SectionInfo;
}

/**
 * The keys allowed in the mapping at `path` ([] = top level), or undefined if
 * that is not a mapping. A number in the path is an index into a list
 * (["attribution", "radius", "clients", 0] is one NAS entry).
 */
export function mappingAt(path: readonly PropertyKey[]): MappingAt | undefined {
  let s: unknown = configSchema;
  for (const seg of path) {
    if (typeof seg === 'number') {
      s = elementOf(s);
      continue;
    }
    const obj = objectOf(s);
    const key = String(seg);
    if (!obj || !Object.hasOwn(obj.shape, key)) return undefined;
    s = obj.shape[key];
  }
  const obj = objectOf(s);
  return obj ? { keys: Object.keys(obj.shape), info: sectionInfo(obj) ?? {} } : undefined;
}

/** Every leaf key as a dotted path, in schema order: "http.listen", "privacy.retention.cc-blocking", ... */
export function listConfigKeys(): string[] {
  const out: string[] = [];
  const walk = (obj: z.ZodObject, prefix: string) => {
    for (const [key, child] of Object.entries(obj.shape)) {
      const inner = objectOf(child);
      if (inner) walk(inner, `${prefix}${key}.`);
      else out.push(`${prefix}${key}`);
    }
  };
  const root = objectOf(configSchema);
  if (root) walk(root, '');
  return out;
}
