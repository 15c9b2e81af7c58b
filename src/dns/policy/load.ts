/**
 * File adapter: reads policy zones from disk in 64 KiB chunks, and watches them
 * (watchZoneFile). Each chunk is an await,
 * so a DNS server on the same event loop keeps answering while a 1 M-name zone loads
 * (each chunk is ~3000 lines, a few milliseconds of parsing).
 *
 * $INCLUDE: a relative path is resolved against the directory of the file that includes
 * it (not the process's working directory, so a zone reads the same wherever it is
 * loaded from); absolute paths are used as they are. Includes nest at most 8 deep and a
 * file that includes itself, directly or not, is an error at the $INCLUDE line.
 */
import { watch, type FSWatcher } from 'node:fs';
import { open, realpath, stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import { MasterFileReader } from './master-file.ts';
import { NameListReader, ZoneBuilder, type NameListOptions, type ZoneLoadResult } from './build.ts';
import { eachChunk, feedLines } from './file-image.ts';
import type { PolicyEngine } from './engine.ts';

export interface LoadFileOptions {
  /** The zone's name (files often omit $ORIGIN). */
  origin: string;
  /** Allow $INCLUDE. Default true. */
  allowInclude?: boolean;
  defaultTtl?: number;
  /** Bytes read per await. Default 64 KiB. */
  chunkBytes?: number;
}

const MAX_INCLUDE_DEPTH = 8;

function ioMessage(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e && e.code ? `${e.code}: ${e.message}` : String(err);
}

/**
 * The names a zone file of `size` bytes may hold, to size the table before loading: its
 * lines, from the bytes per line of 64 KiB in its middle (past the header), plus 5%. Too
 * low, the slots grow while loading (a rehash of every name); too high (more than ~1.4x),
 * trim() re-slots every name at the end: at 1 M names a fixed guess of 20 bytes a line
 * cost ~0.4 s of a 2.1 s load re-slotting ~30-byte lines. Lines shorter than 12 bytes
 * cannot hold a trigger (`a.b CNAME .`): the guess is at most size / 12.
 */
async function expectedLines(path: string, size: number): Promise<number> {
  const fallback = Math.floor(size / 20);
  if (size < 1 << 20) return fallback;
  try {
    const fh = await open(path, 'r');
    try {
      const buf = Buffer.alloc(65536);
      const { bytesRead } = await fh.read(buf, 0, buf.length, Math.floor(size / 2) - 32768);
      const first = buf.indexOf(10);
      const last = buf.lastIndexOf(10, bytesRead - 1);
      let lines = 0;
      for (let i = first; i !== -1 && i < last; i = buf.indexOf(10, i + 1)) lines++;
      if (lines < 100) return fallback;
      const perLine = Math.max(12, (last - first) / lines);
      return Math.ceil((size / perLine) * 1.05);
    } finally {
      await fh.close();
    }
  } catch {
    return fallback;
  }
}

/** Reads an RPZ zone file. The result is a new zone, or every problem found, with file:line. */
export async function loadRpzFile(path: string, opts: LoadFileOptions): Promise<ZoneLoadResult> {
  const chunk = opts.chunkBytes ?? 65536;
  const size = await stat(path).then((s) => s.size, () => 0);
  const b = new ZoneBuilder(opts.origin, path, await expectedLines(path, size));
  let pending: { path: string; origin: string; file: string; line: number } | undefined;
  const reader = new MasterFileReader(
    {
      record: (rec, file, line) => b.record(rec, file, line),
      problem: (p) => b.problem(p),
      ...(opts.allowInclude === false ? {} : { include: (p: string, origin: string, file: string, line: number) => void (pending = { path: p, origin, file, line }) }),
    },
    { origin: opts.origin, file: path, ...(opts.defaultTtl === undefined ? {} : { defaultTtl: opts.defaultTtl }) },
  );
  const reading = new Set<string>();
  const include = async (depth: number): Promise<void> => {
    const inc = pending!;
    pending = undefined;
    const target = isAbsolute(inc.path) ? inc.path : resolve(dirname(inc.file), inc.path);
    const fail = (message: string) => b.problem({ severity: 'error', file: inc.file, line: inc.line, message });
    if (depth + 1 > MAX_INCLUDE_DEPTH) return fail(`$INCLUDE ${inc.path}: includes nest deeper than ${MAX_INCLUDE_DEPTH}`);
    let real: string;
    try {
      real = await realpath(target);
    } catch (err) {
      return fail(`$INCLUDE ${inc.path}: cannot read ${target} (${ioMessage(err)})`);
    }
    if (reading.has(real)) return fail(`$INCLUDE ${inc.path}: ${target} is already being read (an include loop)`);
    reader.pushFile(target, inc.origin);
    try {
      await feed(target, real, depth + 1);
    } catch (err) {
      fail(`$INCLUDE ${inc.path}: cannot read ${target} (${ioMessage(err)})`);
    }
    reader.popFile();
  };
  const feed = async (file: string, real: string, depth: number): Promise<void> => {
    reading.add(real);
    try {
      // Whole lines of each block (not cut: see file-image.ts for files read as differences).
      await eachChunk(file, chunk, (data, start, end) => feedText(data.toString('latin1', start, end), 0, depth), { cut: false });
    } finally {
      reading.delete(real);
    }
  };
  // Synchronous per line; a promise only for the rare $INCLUDE line (read before the lines after it).
  const feedText = (text: string, from: number, depth: number): Promise<void> | undefined => {
    while (from < text.length) {
      let nl = text.indexOf('\n', from);
      if (nl === -1) nl = text.length;
      reader.line(text.slice(from, nl));
      from = nl + 1;
      if (pending !== undefined) {
        const at = from;
        return include(depth).then(() => feedText(text, at, depth));
      }
    }
    return undefined;
  };
  try {
    await feed(path, await realpath(path), 0);
  } catch (err) {
    b.problem({ severity: 'error', file: path, line: 0, message: `cannot read the zone file (${ioMessage(err)})` });
  }
  reader.end();
  return b.finish(path);
}

/** Reads a plain name list (see readNameList) from a file. */
export async function loadNameListFile(path: string, opts: NameListOptions): Promise<ZoneLoadResult> {
  const b = new ZoneBuilder(opts.zone, path);
  const r = new NameListReader(b, opts, path);
  try {
    await eachChunk(path, 65536, (data, start, end) => feedLines(data, start, end, (line) => r.line(line.endsWith('\r') ? line.slice(0, -1) : line)), { cut: false });
  } catch (err) {
    b.problem({ severity: 'error', file: path, line: 0, message: `cannot read the name list (${ioMessage(err)})` });
  }
  r.end();
  return b.finish(path);
}

/**
 * Reloads one configured zone from its file and swaps it in only if the file is clean:
 * with any error the engine keeps the zone it had (issue 3, "Bad input") and the result
 * says why, file:line. Memory: old and new zone coexist only until the swap.
 */
export async function reloadZoneFile(engine: PolicyEngine, path: string, opts: LoadFileOptions): Promise<ZoneLoadResult> {
  const r = await loadRpzFile(path, opts);
  if (r.ok && !engine.replaceZone(r.zone)) {
    return {
      ok: false,
      errors: [{ severity: 'error', file: path, line: 0, message: `zone ${r.zone.name} is not configured in the policy engine (configured: ${engine.zoneNames.join(', ') || 'none'})` }],
      errorCount: 1,
      warnings: r.warnings,
      warningCount: r.warningCount,
    };
  }
  return r;
}

/**
 * Calls `changed` a short quiet time (debounce) after a file changes. The directory is
 * watched, so an editor that writes a new file and renames it over the old one is seen;
 * `siblings` names other files in that directory whose changes count too (e.g. the state
 * file `sakimori rpz add` writes last). Returns the function that stops watching.
 */
export function watchZoneFile(path: string, debounceMs: number, changed: () => void, warn: (msg: string) => void, siblings: readonly string[] = []): () => void {
  const file = resolve(path);
  const names = new Set([basename(file), ...siblings]);
  let timer: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(file), { persistent: false }, (_event, f) => {
      if (f !== null && !names.has(f)) return;
      if (timer) clearTimeout(timer);
      timer = setTimeout(changed, debounceMs);
      timer.unref();
    });
    watcher.on('error', (err) => warn(`cannot watch ${file} for changes any more: ${err.message}`));
  } catch (err) {
    warn(`cannot watch ${file} for changes (${(err as Error).message}): it is loaded once`);
  }
  return () => {
    watcher?.close();
    if (timer) clearTimeout(timer);
  };
}
