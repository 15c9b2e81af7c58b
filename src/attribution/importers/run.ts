/**
 * Runs an import: lines in, sessions out to the index in batches, bad lines
 * reported as they are met, a report at the end. Reading waits for each
 * batch to be written, so memory stays flat whatever the file size.
 */
import { basename } from 'node:path';
import { Worker } from 'node:worker_threads';
import { SakimoriError } from '../../core/index.ts';
import { workerBoot } from '../../core/runtime.ts';
import { SessionAssembler, type PendingOp, type SessionEvent } from '../events.ts';
import { pushRows, type SessionIndex } from '../session-index.ts';
import type { SqlValue } from '../../store/index.ts';
import type { SessionRecord } from '../session.ts';
import { cgnatCsvFormat, cgnatSyslogFormat } from './cgnat.ts';
import { detailFormat } from './detail.ts';
import { dhcpdFormat } from './dhcpd.ts';
import type { ImportFormat, ImportOptions, ImportSink } from './format.ts';
import { keaFormat } from './kea.ts';
import { fileSize, forEachLine } from './lines.ts';
import { radacctCsvFormat } from './radacct.ts';
import type { FromParser, ParserInit, ToParser } from './parse-thread.ts';

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
  /**
   * Read and parse the file in a worker thread while this thread writes
   * (parse-thread.ts). Default: for files of PARSE_THREAD_MIN_BYTES and more.
   */
  parseThread?: boolean;
}

/** Below this a file parses faster than a thread starts. */
export const PARSE_THREAD_MIN_BYTES = 4 << 20;

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

  /** Skips counted elsewhere (the parse thread). */
  addSkipped(counts: Record<string, number>): void {
    for (const [reason, n] of Object.entries(counts)) this.skipped[reason] = (this.skipped[reason] ?? 0) + n;
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
    await this.enqueue(records.length ? pushRows([], records) : [], ops);
  }

  /** flush() for a batch parsed elsewhere: rows flat (pushRows), then the ops, in order after earlier batches. */
  async enqueue(rows: readonly SqlValue[], ops: readonly PendingOp[]): Promise<void> {
    const previous = this.writing;
    this.writing = (async () => {
      await previous;
      if (!this.loadTried && (rows.length || ops.length)) {
        // Into an empty index the whole import is one bulk load (SessionIndex.beginBulkLoad).
        this.loadTried = true;
        if (this.bulkLoad) this.loading = await this.index.beginBulkLoad();
      }
      if (rows.length) this.written += await this.index.writeRows(rows);
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
    return this.report(lines);
  }

  /** Waits for the last batch, ends a bulk load, and reports. */
  async report(lines: number): Promise<ImportReport> {
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
  const total = path.endsWith('.gz') ? 0 : fileSize(path);
  if (runOpts.parseThread ?? (path.endsWith('.gz') ? fileSize(path) * 4 : total) >= PARSE_THREAD_MIN_BYTES) {
    return importInThread(run, { path, format: format.name, options, batchSize: runOpts.batchSize ?? 20_000, maxOpen: runOpts.maxOpen }, total, hooks);
  }
  const parser = format.open({ file: basename(path), options, sink: run.sink });
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

// Compiled parse-thread.js when this process runs dist/, else the .ts through tsx.
const PARSER_BOOT = workerBoot(new URL('./parse-thread.ts', import.meta.url));

/**
 * importFile with reading and parsing in a worker thread: it sends batches of
 * flat rows, pending ops and bad lines in file order; this thread writes
 * each while the worker parses the next (two cores: the parse and the
 * store's work overlap). Reports, bad lines and results are what the
 * single-thread path gives.
 */
async function importInThread(run: ImportRun, init: ParserInit, total: number, hooks: ImportHooks): Promise<ImportReport> {
  // A young generation that holds a batch's short-lived strings without promoting them.
  const worker = new Worker(PARSER_BOOT, { eval: true, workerData: init, resourceLimits: { maxYoungGenerationSizeMb: 48 } });
  const queue: FromParser[] = [];
  let wake: (() => void) | undefined;
  let failure: Error | undefined;
  worker.on('message', (m: FromParser) => {
    queue.push(m);
    wake?.();
  });
  worker.on('error', (err) => {
    failure ??= err;
    wake?.();
  });
  worker.on('exit', (code) => {
    failure ??= new Error(`the import's parse thread stopped (exit code ${code}) before the end of the file`);
    wake?.();
  });
  const next = async (): Promise<FromParser> => {
    while (queue.length === 0) {
      if (failure) throw failure;
      await new Promise<void>((r) => (wake = r));
      wake = undefined;
    }
    return queue.shift()!;
  };
  try {
    for (;;) {
      const m = await next();
      if (m.type === 'fatal') throw m.code ? new SakimoriError(m.code, m.message, m.hint ? { hint: m.hint } : {}) : new Error(m.message);
      // Taken: the worker may parse the next batch while this one is written.
      worker.postMessage({ type: 'ack' } satisfies ToParser);
      for (const [line, message] of m.bad) run.sink.bad(line, message);
      run.addSkipped(m.skipped);
      await run.enqueue(m.rows, m.ops);
      hooks.onProgress?.(m.bytes, total, run.sessions, run.badLines);
      if (m.lines !== undefined) {
        const report = await run.report(m.lines);
        hooks.onProgress?.(total || m.bytes, total || m.bytes, report.sessions, report.badLines);
        return report;
      }
    }
  } catch (err) {
    await run.abort();
    throw err;
  } finally {
    worker.removeAllListeners('exit');
    await worker.terminate();
  }
}
