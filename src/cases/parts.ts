import type { Bus, Subscription } from '../bus/index.ts';
import { parseObservation, type Endpoint, type Part, type PartHealth } from '../core/index.ts';
import type { Logger } from '../telemetry/index.ts';
import type { CaseBook } from './case-book.ts';
import { refusalOf } from './model.ts';
import type { NoticeSender, SendReport } from './notices.ts';

export const OBSERVATIONS_TOPIC = 'observations';

/**
 * Observations from Sakimori's own detectors (topic `observations`) become
 * findings and cases, like imported reports. Delivery is at-least-once;
 * intake is idempotent by observation id, so a redelivery changes nothing.
 * Observations that are not for notices (other kinds, other purposes) are
 * acknowledged and left alone (R16).
 */
export class ObservationIntake implements Part {
  readonly name = 'cases-intake';
  private sub: Subscription | undefined;
  private taken = 0;
  private ignored = 0;
  private invalid = 0;
  private lastError: string | undefined;

  constructor(private readonly bus: Pick<Bus, 'subscribe'>, private readonly book: CaseBook, private readonly logger: Logger) {}

  async start(): Promise<void> {
    this.sub = await this.bus.subscribe<unknown>(OBSERVATIONS_TOPIC, { durable: 'cases', from: 'all' }, async (msg) => {
      const parsed = parseObservation(msg.data);
      if (!parsed.ok) {
        // A message that can never be valid is dropped (acknowledged), not retried forever.
        this.invalid++;
        this.logger.warn({ seq: msg.seq, error: parsed.error }, 'cases: an observation on the bus is not valid; skipped');
        return;
      }
      if (refusalOf(parsed.value)) {
        this.ignored++;
        return;
      }
      try {
        await this.book.ingest([parsed.value], { actor: 'node:cases' });
        this.taken++;
        this.lastError = undefined;
      } catch (err) {
        this.lastError = (err as Error).message;
        throw err; // redelivered later
      }
    });
  }

  async stop(): Promise<void> {
    await this.sub?.close();
    this.sub = undefined;
  }

  async health(): Promise<PartHealth> {
    return {
      status: this.lastError ? 'degraded' : 'ok',
      detail: { topic: OBSERVATIONS_TOPIC, taken: this.taken, ignored: this.ignored, invalid: this.invalid, ...(this.lastError ? { lastError: this.lastError } : {}) },
    };
  }

  endpoints(): Endpoint[] {
    return [];
  }
}

/** Sends due notices every notify.interval (cool-down and batching decide who is due). */
export class NoticeSchedule implements Part {
  readonly name = 'notices';
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private last: { at: string; sent: number; failed: number; held: number } | undefined;
  private lastError: string | undefined;
  private totals = { sent: 0, failed: 0 };

  constructor(
    private readonly sender: NoticeSender,
    private readonly opts: { intervalMs: number; enabled: boolean; logger: Logger; describeSmtp: string },
  ) {}

  async start(): Promise<void> {
    if (!this.opts.enabled) return;
    this.timer = setInterval(() => {
      if (!this.running) this.running = this.runOnce().then(() => undefined).finally(() => (this.running = undefined));
    }, this.opts.intervalMs);
    this.timer.unref();
  }

  async runOnce(): Promise<SendReport | undefined> {
    try {
      const r = await this.sender.runOnce({ actor: 'node:notices' });
      this.last = { at: new Date().toISOString(), sent: r.sent.length, failed: r.failed.length, held: r.held.length };
      this.totals.sent += r.sent.length;
      this.totals.failed += r.failed.length;
      this.lastError = r.failed[0]?.error;
      if (r.sent.length || r.failed.length) this.opts.logger.info({ sent: r.sent.length, failed: r.failed.length, held: r.held.length }, 'notices');
      for (const f of r.failed) this.opts.logger.warn({ notice: f.noticeId, subscriber: f.subscriberId, error: f.error }, 'notice not sent; will retry after notify.retryInterval');
      return r;
    } catch (err) {
      this.lastError = (err as Error).message;
      this.opts.logger.error({ err }, 'notice run failed; will retry at the next interval');
      return undefined;
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  async health(): Promise<PartHealth> {
    return {
      status: this.lastError ? 'degraded' : 'ok',
      detail: { enabled: this.opts.enabled, smtp: this.opts.describeSmtp, intervalMs: this.opts.intervalMs, last: this.last, ...this.totals, ...(this.lastError ? { lastError: this.lastError } : {}) },
    };
  }

  endpoints(): Endpoint[] {
    return this.opts.enabled ? [{ label: 'notices (SMTP relay)', url: `smtp://${this.opts.describeSmtp}` }] : [];
  }
}
