import type { Clock } from '../../core/index.ts';

/**
 * Fixed-window counters per key (a client address): at most `limit` events
 * per `windowMs`. Pure apart from the injected clock. The table is bounded:
 * past `maxKeys`, expired windows are dropped, then the oldest, so a flood of
 * addresses costs memory once, not forever.
 */
export class RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly opts: { limit: number; windowMs: number; maxKeys?: number },
  ) {}

  /** Counts one event; false (with how long to wait) once the key is over its limit. */
  hit(key: string): { allowed: true } | { allowed: false; retryAfterMs: number } {
    const now = this.clock.now();
    let w = this.windows.get(key);
    if (!w || now - w.start >= this.opts.windowMs) {
      this.windows.delete(key);
      w = { start: now, count: 0 };
      this.windows.set(key, w);
      this.prune(now);
    }
    w.count++;
    if (w.count <= this.opts.limit) return { allowed: true };
    return { allowed: false, retryAfterMs: w.start + this.opts.windowMs - now };
  }

  /** Whether the key is over its limit now, without counting. */
  blocked(key: string): { retryAfterMs: number } | undefined {
    const w = this.windows.get(key);
    if (!w) return undefined;
    const now = this.clock.now();
    if (now - w.start >= this.opts.windowMs || w.count < this.opts.limit) return undefined;
    return { retryAfterMs: w.start + this.opts.windowMs - now };
  }

  get size(): number {
    return this.windows.size;
  }

  private prune(now: number): void {
    const max = this.opts.maxKeys ?? 100_000;
    if (this.windows.size <= max) return;
    for (const [k, w] of this.windows) if (now - w.start >= this.opts.windowMs) this.windows.delete(k);
    // Insertion order is window-start order: the first keys are the oldest.
    for (const k of this.windows.keys()) {
      if (this.windows.size <= max) break;
      this.windows.delete(k);
    }
  }
}
