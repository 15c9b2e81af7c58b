/**
 * Records the live RADIUS accounting stream. The accounting server answers
 * a NAS only after `record(event)` resolves, so each event is durably in
 * the store before its Accounting-Response goes out (RFC 2866 §2). Events
 * that arrive together are written together: one transaction per turn of
 * the event loop (group commit), so a burst after a NAS reboot costs a few
 * transactions, not thousands.
 */
import type { AccountingEvent } from '../radius/index.ts';
import type { Logger } from '../telemetry/index.ts';
import { opOf, sessionEventOf, type PendingOp, type SessionEvent } from './events.ts';
import type { SessionIndex } from './session-index.ts';

interface Waiting {
  op: PendingOp;
  event: SessionEvent;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export interface LiveStats {
  recorded: number;
  ignored: number;
  failed: number;
  lastError?: string;
}

export class LiveSessions {
  private queue: Waiting[] = [];
  private scheduled = false;
  private running: Promise<void> = Promise.resolve();
  readonly stats: LiveStats = { recorded: 0, ignored: 0, failed: 0 };
  private readonly recordedListeners = new Set<(ev: SessionEvent) => void>();

  constructor(
    private readonly index: SessionIndex,
    private readonly logger: Pick<Logger, 'warn' | 'debug' | 'error'>,
    private readonly maxBatch = 2000,
  ) {}

  /**
   * Called with each event once it is in the store (e.g. the consent
   * follower, R1). A listener must not block: it runs before the NAS is answered.
   */
  onRecorded(listener: (ev: SessionEvent) => void): () => void {
    this.recordedListeners.add(listener);
    return () => this.recordedListeners.delete(listener);
  }

  /** Resolves once the event is recorded; rejects if it could not be (the NAS will retry). */
  record(ev: AccountingEvent): Promise<void> {
    const conv = sessionEventOf(ev);
    if (!conv.ok) {
      // Nothing can ever make this packet recordable: answer it, or the NAS retries for ever.
      this.stats.ignored++;
      this.logger.warn({ nas: ev.nas.address, status: ev.status }, `RADIUS accounting ignored: ${conv.error}`);
      return Promise.resolve();
    }
    if (conv.problems.length) this.logger.debug({ nas: ev.nas.address, problems: conv.problems }, 'RADIUS accounting: malformed attributes skipped');
    if (!conv.event) {
      this.stats.ignored++;
      return Promise.resolve();
    }
    const event = conv.event;
    const op = opOf(event);
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ op, event, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => {
          this.scheduled = false;
          this.running = this.running.then(() => this.flush());
        });
      }
    });
  }

  /** Waits until everything handed over so far is written. */
  async drain(): Promise<void> {
    while (this.queue.length > 0 || this.scheduled) {
      await new Promise<void>((r) => setImmediate(r));
      await this.running;
    }
    await this.running;
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        await this.index.resolve(batch.map((w) => w.op));
        this.done(batch);
      } catch (err) {
        // One bad event must not hold back the others: retry each on its own.
        this.logger.warn({ err: (err as Error).message, events: batch.length }, 'RADIUS accounting batch failed; recording its events one by one');
        for (const w of batch) {
          try {
            await this.index.resolve([w.op]);
            this.done([w]);
          } catch (e) {
            this.stats.failed++;
            this.stats.lastError = (e as Error).message;
            this.logger.error({ err: (e as Error).message }, 'RADIUS accounting event not recorded; the NAS will retry');
            w.reject(e);
          }
        }
      }
    }
  }

  private done(batch: Waiting[]): void {
    this.stats.recorded += batch.length;
    for (const w of batch) {
      for (const l of this.recordedListeners) {
        try {
          l(w.event);
        } catch (err) {
          this.logger.warn({ err: (err as Error).message }, 'a listener of recorded RADIUS accounting events failed');
        }
      }
      w.resolve();
    }
  }
}
