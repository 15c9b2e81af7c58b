import type { Endpoint, Part, PartHealth } from '../core/index.ts';
import type { RetentionPurger } from '../privacy/index.ts';
import type { Counter } from '../telemetry/index.ts';
import type { Logger } from '../telemetry/index.ts';

/** Runs the retention purge on a schedule (R16): once at start, then every privacy.purgeInterval. */
export class RetentionSchedule implements Part {
  readonly name = 'retention';
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private lastRun: { at: string; deleted: number } | undefined;
  private lastError: string | undefined;

  constructor(
    private readonly purger: RetentionPurger,
    private readonly intervalMs: number,
    private readonly logger: Logger,
    private readonly purged: Counter,
  ) {}

  async start(): Promise<void> {
    this.running = this.runOnce();
    this.timer = setInterval(() => {
      if (!this.running) this.running = this.runOnce();
    }, this.intervalMs);
    this.timer.unref();
  }

  private async runOnce(): Promise<void> {
    try {
      const results = await this.purger.runOnce();
      let deleted = 0;
      for (const r of results) {
        deleted += r.deleted;
        if (r.deleted) this.purged.inc({ purpose: r.purpose, rule: r.rule }, r.deleted);
      }
      this.lastRun = { at: new Date().toISOString(), deleted };
      this.lastError = undefined;
      if (deleted) this.logger.info({ deleted, results: results.filter((r) => r.deleted) }, 'retention purge');
    } catch (err) {
      this.lastError = (err as Error).message;
      this.logger.error({ err }, 'retention purge failed; will retry at the next interval');
    } finally {
      this.running = undefined;
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  async health(): Promise<PartHealth> {
    return {
      status: this.lastError ? 'degraded' : 'ok',
      detail: { rules: this.purger.registered.length, intervalMs: this.intervalMs, lastRun: this.lastRun, ...(this.lastError ? { lastError: this.lastError } : {}) },
    };
  }

  endpoints(): Endpoint[] {
    return [];
  }
}
