/**
 * Block events (R1, R16): what was blocked, kept with only what R1 allows — time, client
 * address, FQDN, list (the policy zone) and action — under the purpose of the list
 * (`cc-blocking`, or `dns-abuse-mitigation` for the dns-abuse list), with retention.
 *
 * Never on the hot path: the data plane hands events to `add()`, which merges repeats of
 * one (client, FQDN, list, action) into a count and keeps at most `maxBuffered` distinct
 * events per flush interval (in typed arrays, event-buffer.ts: nothing for V8 to scan);
 * `flush()` writes them with one `runMany` (a transaction) every interval. Under a flood
 * of distinct names the excess is counted (`notKept`), not kept, and a store that is slow
 * or down never holds a query up. On a SQLite file, once an interval gathers
 * `writerThreadRows` events, they go to a thread of their own (events-writer.ts) as the
 * buffer's image, and the rows are made and written there: 2,000 rows in a transaction on
 * this thread, with the WAL checkpoint a commit may trigger, stopped every query for
 * 28-290 ms (measured at load average 10).
 */
import { newId, SakimoriError, type Clock, type Purpose } from '../../core/index.ts';
import { workerBoot } from '../../core/runtime.ts';
import type { AuditLog, RetentionRule } from '../../privacy/index.ts';
import { WriterThread, type Migration, type Store } from '../../store/index.ts';
import type { BlockEvent } from './data-plane.ts';
import { BlockEventBuffer, type BlockEventImage } from './event-buffer.ts';
import { BLOCK_EVENT_INSERT, blockEventRows } from './event-rows.ts';
import { detectionMigrations, detectionRetentionRules } from './detections.ts';
import type { EventsJob, EventsWriterInit } from './events-writer.ts';

export const dnsMigrations: Migration[] = [
  {
    id: 'dns/0001-block-events',
    sql: `
      CREATE TABLE dns_block_events (
        id TEXT PRIMARY KEY,
        at BIGINT NOT NULL,
        client TEXT NOT NULL,
        fqdn TEXT NOT NULL,
        list TEXT NOT NULL,
        action TEXT NOT NULL,
        purpose TEXT NOT NULL,
        count BIGINT NOT NULL
      );
      CREATE INDEX dns_block_events_by_time ON dns_block_events (purpose, at);
      CREATE INDEX dns_block_events_by_client ON dns_block_events (client, at);
    `,
  },
  ...detectionMigrations,
];

/** Each row is purged when its purpose's retention (privacy.retention) ends. */
export const dnsRetentionRules: RetentionRule[] = [{ name: 'dns block events', table: 'dns_block_events', key: 'id', timeColumn: 'at', purposeColumn: 'purpose' }, ...detectionRetentionRules];

/** A stored block event: `count` identical lookups within one flush interval, from `at` on. */
export interface BlockEventRecord extends BlockEvent {
  id: string;
  purpose: Purpose;
  count: number;
}

export interface BlockEventQuery {
  purpose: Purpose;
  /** Who reads, for the audit log. */
  actor: string;
  since?: number;
  until?: number;
  client?: string;
  list?: string;
  limit?: number;
}

export interface BlockEventLogOptions {
  purposeOf: (list: string) => Purpose;
  flushIntervalMs?: number;
  maxBuffered?: number;
  /**
   * On a SQLite file, the first interval with this many distinct events starts the writer
   * thread (events-writer.ts), which writes that flush and the later ones. Default 200; 0:
   * never. The thread costs ~13 MiB RSS (measured, dist/), so a server that blocks little
   * never starts one.
   */
  writerThreadRows?: number;
  clock: Clock;
  log: (level: 'warn' | 'error', msg: string, detail?: Record<string, unknown>) => void;
}

export class BlockEventLog {
  private readonly buf: BlockEventBuffer;
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  /** Events taken (each lookup), merged into a row, not kept (buffer full), written rows. */
  readonly counts = { taken: 0, merged: 0, notKept: 0, written: 0, writeErrors: 0 };
  private lastError: string | undefined;
  private writer: WriterThread<EventsJob> | undefined;
  private writerFailed = false;
  private running = false;
  /** Distinct events in one interval that start the writer thread (0: never). */
  private readonly writerAt: number;

  constructor(
    private readonly store: Store,
    private readonly audit: AuditLog,
    private readonly opts: BlockEventLogOptions,
  ) {
    this.writerAt = store.sqliteFile === undefined ? 0 : (opts.writerThreadRows ?? 200);
    this.buf = new BlockEventBuffer(opts.maxBuffered ?? 2000);
  }

  start(): void {
    this.running = true;
    this.timer = setInterval(() => void this.flush(), this.opts.flushIntervalMs ?? 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
    const w = this.writer;
    this.writer = undefined;
    await w?.close();
  }

  /** One blocked lookup, or `n` identical ones merged elsewhere (a worker thread's batch). `e` is copied when kept. */
  add(e: BlockEvent, n = 1): void {
    this.counts.taken += n;
    const r = this.buf.add(e, n);
    if (r === 'full') this.counts.notKept += n;
    else if (r === 'merged') this.counts.merged += n;
    else {
      this.counts.merged += n - 1;
      // Started as the batch grows, not at its flush: the thread boots while the interval runs.
      if (this.buf.size === this.writerAt && this.writer === undefined) this.startWriter();
    }
  }

  private startWriter(): void {
    const file = this.store.sqliteFile;
    if (!this.running || this.writerFailed || file === undefined) return;
    this.writer = new WriterThread<EventsJob>(WRITER_BOOT, { file } satisfies EventsWriterInit, {
      name: "the block events' writer thread",
      codes: { start: 'DNS_EVENTS_WRITE', exit: 'DNS_EVENTS_WRITE' },
      jobError: (message) => new SakimoriError('DNS_EVENTS_WRITE', message),
      onFail: (err) => {
        this.opts.log('warn', `the DNS block events' writer thread stopped (${err.message}); events are written on the DNS thread from now on`);
        this.writer = undefined;
        this.writerFailed = true;
      },
    });
  }

  /** Lookups that were not kept before they got here (a worker thread's full batch). */
  lost(n: number): void {
    this.counts.taken += n;
    this.counts.notKept += n;
  }

  /** Resolves true once the writer thread takes batches, false where there is none (not a SQLite file, not started yet, failed, stopped). */
  writerReady(): Promise<boolean> {
    return this.writer?.ready ?? Promise.resolve(false);
  }

  /** Batches the writer thread committed (the rest were written on this thread): for tests. */
  get threadBatches(): number {
    return this.writer?.batches ?? 0;
  }

  get buffered(): number {
    return this.buf.size;
  }

  get error(): string | undefined {
    return this.lastError;
  }

  /** Writes what is buffered. Concurrent calls share one write. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    if (this.buf.size === 0) return Promise.resolve();
    this.flushing = this.write(this.buf.takeImage()).finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  /** The image goes to the writer thread as it is (its rows are made there); without one, rows are made here. */
  private async write(image: BlockEventImage): Promise<void> {
    const idBase = newId('dnsb', this.opts.clock.now());
    const purposes = this.purposesOf(image);
    try {
      // A thread still booting is waited for (the next flush shares this one meanwhile);
      // one that failed to start leaves the batch to this thread.
      const w = this.writer;
      const viaThread = w !== undefined && (await w.ready) ? w.write({ image, idBase, purposes }) : undefined;
      await (viaThread ?? this.store.runMany(BLOCK_EVENT_INSERT, blockEventRows(image, idBase, purposes)));
      this.counts.written += image.n;
      this.lastError = undefined;
    } catch (err) {
      this.counts.writeErrors++;
      this.counts.notKept += image.n;
      this.lastError = (err as Error).message;
      this.opts.log('error', `could not write ${image.n} DNS block event(s); they are not kept`, { err: (err as Error).message });
    }
  }

  /** The purpose of each word of the image that names a list (null for action names). */
  private purposesOf(image: BlockEventImage): (string | null)[] {
    const purposes: (string | null)[] = image.words.map(() => null);
    for (let r = 0; r < image.n; r++) {
      const i = image.list[r]!;
      purposes[i] ??= this.opts.purposeOf(image.words[i]!);
    }
    return purposes;
  }

  /** Reads block events of one purpose, newest first; the read is audited (R16). */
  async list(q: BlockEventQuery): Promise<BlockEventRecord[]> {
    const where = ['purpose = ?'];
    const params: (string | number)[] = [q.purpose];
    if (q.since !== undefined) {
      where.push('at >= ?');
      params.push(q.since);
    }
    if (q.until !== undefined) {
      where.push('at < ?');
      params.push(q.until);
    }
    if (q.client !== undefined) {
      where.push('client = ?');
      params.push(q.client);
    }
    if (q.list !== undefined) {
      where.push('list = ?');
      params.push(q.list);
    }
    params.push(Math.min(Math.max(1, q.limit ?? 100), 10_000));
    const rows = await this.store.all<BlockEventRecord>(
      `SELECT id, at, client, fqdn, list, action, purpose, count FROM dns_block_events WHERE ${where.join(' AND ')} ORDER BY at DESC, id DESC LIMIT ?`,
      params,
    );
    await this.audit.append({
      actor: q.actor,
      action: 'read',
      purpose: q.purpose,
      subject: 'dns_block_events',
      detail: { rows: rows.length, ...(q.since !== undefined ? { since: new Date(q.since).toISOString() } : {}), ...(q.client ? { client: q.client } : {}), ...(q.list ? { list: q.list } : {}) },
    });
    return rows.map((r) => ({ ...r, at: Number(r.at), count: Number(r.count) }));
  }
}

// Compiled events-writer.js when this process runs dist/, else the .ts through tsx.
const WRITER_BOOT = workerBoot(new URL('./events-writer.ts', import.meta.url));

