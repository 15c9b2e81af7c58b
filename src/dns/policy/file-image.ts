/**
 * What a zone file held when it was last read, so that the next change to it is read as a
 * difference (issue 3: a policy update takes effect "within one second"; a full load of
 * 1 M names takes seconds, and the changes a feed makes are a few names).
 *
 * The file is cut into content-defined chunks of whole lines: a gear hash over the bytes
 * (as in FastCDC) asks for a cut at the end of the line where its top 12 bits are zero,
 * so the cuts depend on the nearby bytes only and an edit moves the cuts next to it, not
 * those after (chunks of 1 KiB + ~4 KiB, ~200 lines of a typical RPZ file; the image of a
 * 1 M-name file is ~1 MiB of the JS heap: larger chunks halve that, but 1,000 scattered
 * changes then touch over half of them, and a whole load is made). Each chunk is kept as its
 * SHA-1 digest and the master-file reader's state at its start (ReaderMark: $ORIGIN, $TTL,
 * the last TTL and owner), and a copy of the bytes read goes to disk (the snapshot).
 *
 * Next time the new file is cut the same way. A chunk whose digest and start state match
 * an old chunk gives the same records, so it is not parsed; the other chunks are parsed
 * (records to add) and the old chunks not found again are read back from the snapshot
 * (records to delete), plain chunks only in the lines that differ (see Pending). The two lists, less what they share, are one ZoneChange that the
 * zone applies atomically (RpzZone.apply). A whole load is still made when a diff cannot
 * be exact or would not be cheaper: a file with $INCLUDE, a record written twice (deleting
 * one copy would delete the record), a parenthesis open across a cut, an SOA removed, or
 * more than half of the bytes changed.
 */
import { createHash } from 'node:crypto';
import { writeSync } from 'node:fs';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { RRType } from '../wire/index.ts';
import { rdataKey } from './actions.ts';
import { MAX_PROBLEMS } from './build.ts';
import { MasterFileReader, type ReaderMark, type ZoneProblem, type ZoneRecord } from './master-file.ts';
import type { ZoneChange } from './zone.ts';

/** A cut is asked for where the hash's top 12 bits are zero: they depend on the last 32 bytes (the low bits, on the last few only). */
const CUT_SHIFT = 20;
const MIN_CHUNK = 1024;
const MAX_CHUNK = 64 * 1024;

/** 256 fixed pseudo-random words (xorshift32): the gear hash's table. */
const GEAR = (() => {
  const g = new Int32Array(256);
  let x = 0x2545f491;
  for (let i = 0; i < 256; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    g[i] = x;
  }
  return g;
})();

/** One piece of a file: bytes [start, end) of `data`, whole lines (`lines` of them). */
export type ChunkVisitor = (data: Buffer, start: number, end: number, lines: number) => void | Promise<void>;

/**
 * Finds the cuts, block by block. Synchronous and its state in locals while it runs: in
 * the async reader below the same loop ran 2-3x slower (variables kept across awaits live
 * in the generator's context, not in registers).
 */
class Cutter {
  private h = 0;
  private armed = false;
  /** Newlines in the chunk under way (its bytes scanned so far). */
  private lines = 0;

  /** Scans data[from..] (the chunk under way starts at 0): pushes each cut's end and line count. */
  scan(data: Buffer, from: number, cuts: number[]): void {
    let h = this.h;
    let armed = this.armed;
    let lines = this.lines;
    let start = 0;
    for (let i = from, n = data.length; i < n; i++) {
      const b = data[i]!;
      h = ((h << 1) + GEAR[b]!) | 0;
      if (b === 10) {
        lines++;
        if (armed || i + 1 - start >= MAX_CHUNK) {
          cuts.push(i + 1, lines);
          start = i + 1;
          lines = 0;
          armed = false;
        }
      } else if (!armed && (h >>> CUT_SHIFT) === 0 && i - start >= MIN_CHUNK) armed = true;
    }
    this.h = h;
    this.armed = armed;
    this.lines = lines;
  }
}

/**
 * Reads a file in blocks of `blockBytes` and hands it on in content-defined chunks of whole
 * lines (the last one may lack its newline). `block` sees every block as read (the snapshot).
 * `cut: false`: the whole lines of each block as one piece, their count not taken (0), for
 * a plain read (a whole load). Throws on I/O errors.
 */
export async function eachChunk(path: string, blockBytes: number, chunk: ChunkVisitor, opts: { block?: (bytes: Buffer) => void; cut?: boolean } = {}): Promise<void> {
  const fh = await open(path, 'r');
  try {
    const readBuf = Buffer.allocUnsafe(blockBytes);
    const cutter = new Cutter();
    const cuts: number[] = [];
    let carry = Buffer.alloc(0);
    for (;;) {
      const { bytesRead } = await fh.read(readBuf, 0, blockBytes, null);
      if (bytesRead === 0) break;
      const fresh = readBuf.subarray(0, bytesRead);
      opts.block?.(fresh);
      // The chunk under way starts at 0 of `data`; its first carry.length bytes were scanned.
      const data = carry.length > 0 ? Buffer.concat([carry, fresh]) : fresh;
      cuts.length = 0;
      if (opts.cut !== false) cutter.scan(data, carry.length, cuts);
      else {
        const nl = data.lastIndexOf(10);
        if (nl !== -1) cuts.push(nl + 1, 0);
      }
      let from = 0;
      for (let k = 0; k < cuts.length; k += 2) {
        const r = chunk(data, from, cuts[k]!, cuts[k + 1]!);
        if (r) await r;
        from = cuts[k]!;
      }
      // `data` may be the read buffer, reused for the next block: the rest is copied.
      carry = Buffer.from(data.subarray(from));
    }
    if (carry.length > 0) {
      // The last chunk: its lines, the last one perhaps without its newline.
      let lines = carry[carry.length - 1] === 10 ? 0 : 1;
      if (opts.cut !== false) for (let i = 0; i < carry.length; i++) if (carry[i] === 10) lines++;
      const r = chunk(carry, 0, carry.length, lines);
      if (r) await r;
    }
  } finally {
    await fh.close();
  }
}

/** Feeds the lines of a chunk to a reader (latin1: one character per byte, as the reader wants). */
export function feedLines(data: Buffer, start: number, end: number, line: (text: string) => void): void {
  const text = data.toString('latin1', start, end);
  let from = 0;
  for (;;) {
    const nl = text.indexOf('\n', from);
    if (nl === -1) break;
    line(text.slice(from, nl));
    from = nl + 1;
  }
  if (from < text.length) line(text.slice(from));
}

/**
 * A chunk's identity: its digest and the reader's state it is read from. The last owner
 * counts only when the chunk's first line may lack an owner (starts with a blank, a
 * directive or a comment): a line that starts with a name sets the owner itself.
 */
function chunkKey(data: Buffer, start: number, end: number, m: ReaderMark): string {
  const digest = createHash('sha1').update(data.subarray(start, end)).digest('base64');
  const c = data[start]!;
  const ownsLine = (c >= 48 && c <= 57) || (c >= 64 && c <= 90) || (c >= 97 && c <= 122) || c === 42 || c === 45 || c === 46 || c === 92 || c === 95;
  // The last TTL is a record's default only without $TTL.
  const ttl = m.dollarTtl !== undefined ? `$${m.dollarTtl}` : `${m.lastTtl ?? ''}`;
  return `${digest}\0${m.origin}\0${ttl}${ownsLine ? '' : `\0${m.lastOwner ?? ''}`}`;
}

/**
 * A string of its own: V8 keeps a slice (or a concatenation) of a string by a pointer into
 * the whole, so a chunk's last owner, cut from its text, kept all 4 KiB of it alive (+17 MiB
 * of heap for a 1 M-name file's image). Names are latin1 here, so the copy is exact.
 */
function own(s: string): string {
  return Buffer.from(s, 'latin1').toString('latin1');
}

interface ImageChunk {
  readonly key: string;
  readonly offset: number;
  readonly length: number;
  /** Its first line's number. */
  readonly line: number;
  /** The reader's state at its start. */
  readonly mark: ReaderMark;
}

/** A file as last read (see the file comment): its chunks, and where the copy of its bytes is. */
export class ZoneFileImage {
  constructor(
    readonly snapshot: string,
    readonly size: number,
    readonly chunks: readonly ImageChunk[],
    /** The reader's state after the last line. */
    readonly end: ReaderMark,
  ) {}

  /** The reader's state after chunk i. */
  markAfter(i: number): ReaderMark {
    return this.chunks[i + 1]?.mark ?? this.end;
  }
}

/**
 * Records a file's image while it is read (recordZoneFile, diffZoneFile): `block` for every
 * block read (written to the snapshot), `chunk`/`add` for every chunk with the reader's
 * state at its start. Whatever makes a later diff inexact (`refuse`: an $INCLUDE; a chunk
 * that starts inside parentheses) leaves it without an image.
 */
export class ImageRecorder {
  private readonly chunks: ImageChunk[] = [];
  private offset = 0;
  private line = 1;
  private usable = true;

  private constructor(
    private fh: FileHandle | undefined,
    private readonly temp: string,
    private readonly snapshot: string,
  ) {}

  /** Writes to `snapshot` + ".new" until commit; undefined when it cannot be written (loads go on without an image). */
  static async open(snapshot: string): Promise<ImageRecorder | undefined> {
    const temp = `${snapshot}.new`;
    try {
      return new ImageRecorder(await open(temp, 'w'), temp, snapshot);
    } catch {
      return undefined;
    }
  }

  /**
   * Copies a block to the snapshot, synchronously (a write to the page cache, ~20 µs for
   * 64 KiB): an awaited write per block doubled a 1 M-name diff's time, and writes behind
   * the reading needed a copy of each block, whose freed memory glibc kept (+8 MiB RSS).
   */
  block(bytes: Buffer): void {
    const fh = this.fh;
    if (!this.usable || !fh) return;
    try {
      for (let at = 0; at < bytes.length; ) at += writeSync(fh.fd, bytes, at);
    } catch {
      this.usable = false;
    }
  }

  /** The next chunk, read from `mark` (undefined: inside parentheses, which leaves no image). */
  chunk(data: Buffer, start: number, end: number, lines: number, mark: ReaderMark | undefined): void {
    if (mark === undefined) this.usable = false;
    this.add(this.usable ? chunkKey(data, start, end, mark!) : '', end - start, lines, mark!);
  }

  /** The next chunk by its key (chunkKey). */
  add(key: string, length: number, lines: number, mark: ReaderMark): void {
    if (this.usable) this.chunks.push({ key: own(key), offset: this.offset, length, line: this.line, mark: { ...mark, lastOwner: mark.lastOwner === undefined ? undefined : own(mark.lastOwner) } });
    this.offset += length;
    this.line += lines;
  }

  /** The line the next chunk starts on. */
  get nextLine(): number {
    return this.line;
  }

  /** Bytes recorded so far. */
  get bytes(): number {
    return this.offset;
  }

  refuse(): void {
    this.usable = false;
  }

  /** The image, its snapshot in place (renamed over the previous one); undefined when unusable. */
  async commit(end: ReaderMark | undefined): Promise<ZoneFileImage | undefined> {
    await this.close();
    if (!this.usable || end === undefined) {
      await rm(this.temp, { force: true });
      return undefined;
    }
    try {
      await rename(this.temp, this.snapshot);
    } catch {
      await rm(this.temp, { force: true });
      return undefined;
    }
    return new ZoneFileImage(this.snapshot, this.offset, this.chunks, end);
  }

  async discard(): Promise<void> {
    await this.close();
    await rm(this.temp, { force: true });
  }

  private async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close().catch(() => undefined);
  }
}

/**
 * Takes the image of a zone file the zone in force was just loaded from (a whole load):
 * cuts it, hashes the chunks and copies the bytes to `snapshot`, reading only as much as
 * the states at the cuts need (a plain chunk's last line; other chunks whole). Undefined
 * when a later diff could not be exact ($INCLUDE, a parenthesis open at a cut) or the copy
 * cannot be written. Done after the load, not during it, so that a zone is served as soon
 * as it is loaded; the caller makes sure the file did not change in between (its stat),
 * and that the zone has no record twice (RpzZone.duplicates).
 */
export async function recordZoneFile(path: string, snapshot: string, opts: { origin: string; defaultTtl?: number; blockBytes?: number; signal?: AbortSignal }): Promise<ZoneFileImage | undefined> {
  const rec = await ImageRecorder.open(snapshot);
  if (!rec) return undefined;
  const reader = new MasterFileReader(
    { record: () => undefined, problem: () => undefined, include: () => rec.refuse() },
    { origin: opts.origin, file: path, ...(opts.defaultTtl === undefined ? {} : { defaultTtl: opts.defaultTtl }) },
  );
  let state = reader.mark();
  try {
    await eachChunk(
      path,
      opts.blockBytes ?? 256 * 1024,
      (data, start, end, lines) => {
        // Given up between chunks (the source stops): nothing is kept.
        opts.signal?.throwIfAborted();
        rec.chunk(data, start, end, lines, state);
        if (state === undefined) return;
        const line = rec.nextLine - lines;
        const text = data.toString('latin1', start, end);
        if (plain(text, state)) {
          state = afterPlain(reader, { text, mark: state, line });
          return;
        }
        reader.resume(state, line);
        feedLines(data, start, end, (l) => reader.line(l));
        state = reader.mark();
      },
      { block: (bytes) => rec.block(bytes) },
    );
  } catch {
    await rec.discard();
    return undefined;
  }
  return rec.commit(state);
}

export type FileDiff =
  | { kind: 'whole'; why: string }
  | { kind: 'refused'; errors: ZoneProblem[]; errorCount: number; warnings: ZoneProblem[]; warningCount: number }
  | {
      kind: 'change';
      change: Required<Pick<ZoneChange, 'deleteRecords' | 'addRecords'>>;
      /** file:line of each of change.addRecords, for the zone's warnings about them. */
      addedAt: readonly number[];
      warnings: ZoneProblem[];
      warningCount: number;
      /** Bytes parsed: the new chunks and the old ones gone. */
      parsedBytes: number;
      size: number;
      /** The new image: put it in force once the change is applied (the snapshot is replaced). */
      commit(): Promise<ZoneFileImage | undefined>;
      /** The change was not applied: the old image stays. */
      discard(): Promise<void>;
    };

/** A changed chunk without directives, owner-less lines or parentheses, read with a $TTL: its lines stand alone. */
interface Pending {
  text: string;
  mark: ReaderMark;
  line: number;
}

function plain(text: string, m: ReaderMark): boolean {
  if (m.dollarTtl === undefined) return false;
  const c = text.charCodeAt(0);
  if (c === 32 || c === 9 || c === 36) return false;
  return text.indexOf('\n ') === -1 && text.indexOf('\n\t') === -1 && text.indexOf('\n$') === -1 && text.indexOf('(') === -1 && text.indexOf(')') === -1;
}

/** Calls `each` with every entry line of a chunk and its number (blank and comment lines skipped). */
function entryLines(p: Pending, each: (text: string, line: number) => void): void {
  const t = p.text;
  let line = p.line;
  for (let from = 0; from < t.length; line++) {
    let nl = t.indexOf('\n', from);
    if (nl === -1) nl = t.length;
    const c = t.charCodeAt(from);
    if (nl > from && c !== 59 && c !== 13) each(t.slice(from, nl), line);
    from = nl + 1;
  }
}

/** The reader's state after a plain chunk: its last entry sets the owner (and the last TTL). */
function afterPlain(probe: MasterFileReader, p: Pending): ReaderMark {
  // The last entry line, found from the end (no line before it is cut out).
  const t = p.text;
  let end = t.length > 0 && t.charCodeAt(t.length - 1) === 10 ? t.length - 1 : t.length;
  for (;;) {
    const nl = t.lastIndexOf('\n', end - 1);
    const from = nl + 1;
    const c = t.charCodeAt(from);
    if (from < end && c !== 59 && c !== 13) {
      probe.resume(p.mark, 0);
      probe.line(t.slice(from, end));
      return probe.mark() ?? p.mark;
    }
    if (nl < 0) return p.mark;
    end = nl;
  }
}

/** Stops reading the new file: a diff cannot be exact (see the file comment). */
class Whole extends Error {}

/**
 * The difference between the file as `old` recorded it and as it is now, as one change
 * (see the file comment). `holds(rec)`: the zone in force already has this record (a
 * record the file now writes twice makes the next diff inexact: the image then lapses).
 */
export async function diffZoneFile(
  path: string,
  old: ZoneFileImage,
  opts: { origin: string; defaultTtl?: number; blockBytes?: number },
  holds: (rec: ZoneRecord) => boolean,
): Promise<FileDiff> {
  const next = await ImageRecorder.open(old.snapshot);
  if (!next) return { kind: 'whole', why: `cannot write ${old.snapshot}.new` };
  const byKey = new Map<string, number[]>();
  old.chunks.forEach((c, i) => {
    const l = byKey.get(c.key);
    if (l) l.push(i);
    else byKey.set(c.key, [i]);
  });
  const used = new Uint8Array(old.chunks.length);
  const adds: { rec: ZoneRecord; line: number }[] = [];
  const errors: ZoneProblem[] = [];
  const warnings: ZoneProblem[] = [];
  let errorCount = 0;
  let warningCount = 0;
  let included = false;
  const reader = new MasterFileReader(
    {
      record: (rec, _file, line) => void adds.push({ rec, line }),
      problem: (p) => {
        if (p.severity === 'error') {
          if (errorCount++ < MAX_PROBLEMS) errors.push(p);
        } else if (warningCount++ < MAX_PROBLEMS) warnings.push(p);
      },
      include: () => void (included = true),
    },
    { origin: opts.origin, file: path, ...(opts.defaultTtl === undefined ? {} : { defaultTtl: opts.defaultTtl }) },
  );
  const dels: ZoneRecord[] = [];
  const back = new MasterFileReader({ record: (rec) => void dels.push(rec), problem: () => undefined }, { origin: opts.origin, file: old.snapshot, ...(opts.defaultTtl === undefined ? {} : { defaultTtl: opts.defaultTtl }) });
  // Reads the last entry of a plain chunk, for the state after it (its records are not kept).
  const probe = new MasterFileReader({ record: () => undefined, problem: () => undefined }, { origin: opts.origin, file: path });
  // Plain chunks changed, by the old chunk before them (-1: the file's start), compared line by line below.
  const runs = new Map<number, { news: Pending[]; olds: Pending[] }>();
  const run = (at: number) => {
    let r = runs.get(at);
    if (!r) runs.set(at, (r = { news: [], olds: [] }));
    return r;
  };
  let state = reader.mark();
  let parsedBytes = 0;
  let lastHit = -1;
  try {
    await eachChunk(
      path,
      // Blocks of 256 KiB: most are only hashed (~2 ms each, between awaits on a server's thread).
      opts.blockBytes ?? 256 * 1024,
      (data, start, end, lines) => {
        const key = chunkKey(data, start, end, state!);
        const hit = byKey.get(key)?.find((i) => used[i] === 0);
        if (hit !== undefined) {
          used[hit] = 1;
          lastHit = hit;
          next.add(key, end - start, lines, state!);
          state = old.markAfter(hit);
          return;
        }
        next.add(key, end - start, lines, state!);
        parsedBytes += end - start;
        const line = next.nextLine - lines;
        const text = data.toString('latin1', start, end);
        if (plain(text, state!)) {
          const p = { text, mark: state!, line };
          run(lastHit).news.push(p);
          state = afterPlain(probe, p);
          return;
        }
        reader.resume(state!, line);
        feedLines(data, start, end, (l) => reader.line(l));
        state = reader.mark();
        if (state === undefined) throw new Whole('a parenthesis is open where the file is cut');
        if (included) throw new Whole('the file now has $INCLUDE');
      },
      { block: (bytes) => next.block(bytes) },
    );
  } catch (err) {
    await next.discard();
    if (err instanceof Whole) return { kind: 'whole', why: err.message };
    throw err;
  }
  let goneBytes = 0;
  for (let i = 0; i < old.chunks.length; i++) if (used[i] === 0) goneBytes += old.chunks[i]!.length;
  // Reading both halves of the change costs about what a whole load of the new file costs then.
  if (parsedBytes + goneBytes > (old.size + next.bytes) / 2) {
    await next.discard();
    return { kind: 'whole', why: `most of the file changed (${parsedBytes + goneBytes} of ${old.size} bytes)` };
  }
  // The old chunks gone, read back from the snapshot: their records are deleted.
  if (goneBytes > 0) {
    const fh = await open(old.snapshot, 'r');
    try {
      let before = -1;
      for (let i = 0; i < old.chunks.length; i++) {
        if (used[i] === 1) {
          before = i;
          continue;
        }
        const c = old.chunks[i]!;
        const buf = Buffer.allocUnsafe(c.length);
        const { bytesRead } = await fh.read(buf, 0, c.length, c.offset);
        if (bytesRead !== c.length) {
          await next.discard();
          return { kind: 'whole', why: `the snapshot ${old.snapshot} is shorter than recorded` };
        }
        const text = buf.toString('latin1');
        if (plain(text, c.mark)) run(before).olds.push({ text, mark: c.mark, line: c.line });
        else {
          back.resume(c.mark, c.line);
          feedLines(buf, 0, c.length, (l) => back.line(l));
        }
      }
    } finally {
      await fh.close();
    }
  }
  // Plain chunks: a line both sides hold (read in the same $ORIGIN and $TTL) means the same
  // record, so only the other lines are read (a change of one line in a chunk reads one line).
  for (const r of runs.values()) {
    const m = r.news[0]?.mark ?? r.olds[0]!.mark;
    const same = [...r.news, ...r.olds].every((p) => p.mark.origin === m.origin && p.mark.dollarTtl === m.dollarTtl);
    const counts = new Map<string, { n: number; line: number }>();
    const count = (p: Pending, d: 1 | -1) => {
      if (!same) {
        // Another $ORIGIN or $TTL in the run (rare): each chunk read whole.
        const into = d === 1 ? reader : back;
        entryLines(p, (text, line) => {
          into.resume(p.mark, line);
          into.line(text);
        });
        return;
      }
      entryLines(p, (text, line) => {
        const e = counts.get(text);
        if (e) {
          e.n += d;
          if (d === 1 && e.line < 0) e.line = line;
        } else counts.set(text, { n: d, line: d === 1 ? line : -1 });
      });
    };
    for (const p of r.news) count(p, 1);
    for (const p of r.olds) count(p, -1);
    const bare: ReaderMark = { origin: m.origin, dollarTtl: m.dollarTtl, lastTtl: undefined, lastOwner: undefined };
    for (const [text, e] of counts) {
      for (let k = 0; k < e.n; k++) {
        reader.resume(bare, e.line);
        reader.line(text);
      }
      for (let k = 0; k > e.n; k--) {
        back.resume(bare, 0);
        back.line(text);
      }
    }
  }
  reader.end();
  if (errorCount > 0) {
    await next.discard();
    return { kind: 'refused', errors, errorCount, warnings, warningCount };
  }
  // What both sides hold cancels out (a chunk read again only because the one before it changed).
  const recordKey = (r: ZoneRecord) => `${r.name}\0${r.type}\0${r.ttl}\0${rdataKey(r.data)}`;
  const net = new Map<string, { rec: ZoneRecord; n: number; line: number }>();
  for (const { rec, line } of adds) {
    const k = recordKey(rec);
    const e = net.get(k);
    if (e) e.n++;
    else net.set(k, { rec, n: 1, line });
  }
  for (const rec of dels) {
    const k = recordKey(rec);
    const e = net.get(k);
    if (e) e.n--;
    else net.set(k, { rec, n: -1, line: 0 });
  }
  const deleteRecords: ZoneRecord[] = [];
  const addRecords: ZoneRecord[] = [];
  const addedAt: number[] = [];
  let twice = false;
  const deleted = new Set<string>();
  for (const e of net.values()) {
    if (e.n < 0) {
      deleteRecords.push(e.rec);
      deleted.add(`${e.rec.name}\0${e.rec.type}\0${rdataKey(e.rec.data)}`);
    }
  }
  for (const e of net.values()) {
    if (e.n <= 0) continue;
    if (e.n > 1 || (holds(e.rec) && !deleted.has(`${e.rec.name}\0${e.rec.type}\0${rdataKey(e.rec.data)}`))) twice = true;
    addRecords.push(e.rec);
    addedAt.push(e.line);
  }
  if (deleteRecords.some((r) => r.type === RRType.SOA) && !addRecords.some((r) => r.type === RRType.SOA)) {
    await next.discard();
    return { kind: 'whole', why: 'the SOA record was removed' };
  }
  if (twice) next.refuse();
  const end = state;
  return {
    kind: 'change',
    change: { deleteRecords, addRecords },
    addedAt,
    warnings,
    warningCount,
    parsedBytes: parsedBytes + goneBytes,
    size: next.bytes,
    commit: () => next.commit(end),
    discard: () => next.discard(),
  };
}
