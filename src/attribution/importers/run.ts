/**
 * Runs an import: lines in, sessions out to the index in batches, bad lines
 * reported as they are met, a report at the end. Reading waits for each
 * batch to be written, so memory stays flat whatever the file size.
 */
import { basename } from 'node:path';
import { SakimoriError } from '../../core/index.ts';
import { SessionAssembler, type SessionEvent } from '../events.ts';
import type { SessionIndex } from '../session-index.ts';
import type { SessionRecord } from '../session.ts';
import { cgnatCsvFormat, cgnatSyslogFormat } from './cgnat.ts';
import { detailFormat } from './detail.ts';
import { dhcpdFormat } from './dhcpd.ts';
import type { ImportFormat, ImportOptions, ImportSink } from './format.ts';
import { keaFormat } from './kea.ts';
import { fileSize, forEachLine } from './lines.ts';
import { radacctCsvFormat } from './radacct.ts';

export const IMPORT_FORMATS: readonly ImportFormat[] = [detailFormat, radacctCsvFormat, dhcpdFormat, keaFormat, cgnatCsvFormat, cgnatSyslogFormat];

export function importFormat(name: string): ImportFormat {
  const f = IMPORT_FORMATS.find((x) => x.name === name);
  if (!f) {
    throw new SakimoriError('IMPORT_FORMAT', `unknown import format "${name}"`, { hint: `use one of: ${IMPORT_FORMATS.map((x) => x.name).join(', ')}` });
  }
  return f;
}

export interface ImportReport {
  file: string;
  format: string;
  lines: number;
  /** Session rows written (one per held network). */
  sessions: number;
  /** Stops, Interims and Accounting-Ons resolved against sessions already in the store. */
  resolved: number;
  badLines: number;
  skipped: Record<string, number>;
  seconds: number;
  sessionsPerSecond: number;
}

export interface ImportHooks {
  /** A bad line, as "file:line: message" would print it. */
  onBad?(file: string, line: number, message: string): void;
  /** Progress: work done and total, in the unit of the source (bytes of a file, rows of a table). */
  onProgress?(done: number, total: number, sessions: number, bad: number): void;
}

export interface ImportRunOptions {
  /** Session rows per write transaction. Larger batches write faster and hold the write lock longer. */
  batchSize?: number;
  /** Sessions waiting for their Stop, kept in memory before the oldest are written open. */
  maxOpen?: number;
  /** Into an empty index, load everything in one transaction and build the indexes at the end (default true). */
  bulkLoad?: boolean;
}

/** The write side of one import: collects what parsers emit and writes it in batches. */
export class ImportRun {
  readonly assembler: SessionAssembler;
  readonly sink: ImportSink;
  private readonly batchSize: number;
  private written = 0;
  private resolved = 0;
  private bad = 0;
  private readonly skipped: Record<string, number> = {};
  private readonly started = performance.now();
  private writing: Promise<void> = Promise.resolve();
  private readonly bulkLoad: boolean;
  private loadTried = false;
  private loading = false;

  constructor(
    private readonly index: SessionIndex,
    private readonly file: string,
    private readonly format: string,
    private readonly hooks: ImportHooks = {},
    opts: ImportRunOptions = {},
  ) {
    this.batchSize = opts.batchSize ?? 20_000;
    this.bulkLoad = opts.bulkLoad ?? true;
    this.assembler = new SessionAssembler(opts.maxOpen);
    const a = this.assembler;
    this.sink = {
      record: (r: SessionRecord) => void a.records.push(r),
      event: (e: SessionEvent) => a.push(e),
      bad: (line, message) => {
        this.bad++;
        this.hooks.onBad?.(this.file, line, message);
      },
      skip: (reason) => {
        this.skipped[reason] = (this.skipped[reason] ?? 0) + 1;
      },
    };
  }

  /** The import failed: a bulk load in progress is rolled back (nothing of it stays). */
  async abort(): Promise<void> {
    await this.writing.catch(() => undefined);
    if (this.loading) {
      this.loading = false;
      await this.index.abortBulkLoad();
    }
  }

  get badLines(): number {
    return this.bad;
  }

  get sessions(): number {
    return this.written;
  }

  /** Writes a batch if one is full. */
  async maybeFlush(): Promise<void> {
    if (this.assembler.records.length >= this.batchSize || this.assembler.ops.length >= 2000) await this.flush();
  }

  /**
   * Hands the batch to the index and returns once the previous one is
   * written: parsing the next batch overlaps writing this one (on
   * PostgreSQL the server works while we parse; SQLite writes in-thread
   * anyway). Batches are written in order.
   */
  async flush(): Promise<void> {
    const { records, ops } = this.assembler.drain();
    const previous = this.writing;
    this.writing = (async () => {
      await previous;
      if (!this.loadTried && (records.length || ops.length)) {
        // Into an empty index the whole import is one bulk load (SessionIndex.beginBulkLoad).
        this.loadTried = true;
        if (this.bulkLoad) this.loading = await this.index.beginBulkLoad();
      }
      if (records.length) this.written += await this.index.write(records);
      if (ops.length) {
        await this.index.resolve(ops);
        this.resolved += ops.length;
      }
    })();
    await previous;
  }

  async finish(lines: number): Promise<ImportReport> {
    this.assembler.finish();
    await this.flush();
    await this.writing;
    if (this.loading) {
      this.loading = false;
      await this.index.finishBulkLoad();
    }
    const seconds = (performance.now() - this.started) / 1000;
    return {
      file: this.file,
      format: this.format,
      lines,
      sessions: this.written,
      resolved: this.resolved,
      badLines: this.bad,
      skipped: this.skipped,
      seconds: Math.round(seconds * 1000) / 1000,
      sessionsPerSecond: Math.round(this.written / Math.max(seconds, 1e-6)),
    };
  }
}

/** Imports one file in the given format. */
export async function importFile(index: SessionIndex, path: string, formatName: string, options: ImportOptions = {}, hooks: ImportHooks = {}, runOpts: ImportRunOptions = {}): Promise<ImportReport> {
  const format = importFormat(formatName);
  const run = new ImportRun(index, path, format.name, hooks, runOpts);
  const parser = format.open({ file: basename(path), options, sink: run.sink });
  const total = path.endsWith('.gz') ? 0 : fileSize(path);
  let bytes = 0;
  let report: ImportReport;
  try {
    const lines = await forEachLine(
      path,
      async ({ lines: batch, firstLine }) => {
        for (let i = 0; i < batch.length; i++) parser.line(batch[i]!, firstLine + i);
        await run.maybeFlush();
        hooks.onProgress?.(bytes, total, run.sessions, run.badLines);
      },
      (b) => (bytes = b),
    );
    parser.end();
    report = await run.finish(lines);
  } catch (err) {
    await run.abort();
    throw err;
  }
  hooks.onProgress?.(total || bytes, total || bytes, report.sessions, report.badLines);
  return report;
}
