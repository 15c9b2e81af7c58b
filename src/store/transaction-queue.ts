import { SakimoriError } from '../core/index.ts';

/**
 * One transaction at a time per store, in arrival order. The SQLite adapter
 * needs it because all writes share one connection (another caller's statement
 * must never land inside somebody's open transaction); the PostgreSQL adapter
 * uses it so that callers waiting for the cross-process transaction lock wait
 * here, not while holding a pooled connection.
 *
 * A wait is bounded: a caller that never gets its turn is almost always code
 * that calls `store.transaction()` (or `store.run()` on SQLite's shared
 * connection) inside another transaction of the same store, which would hang
 * for ever.
 */
export class TransactionQueue {
  private held = false;
  private readonly waiting: Array<{ grant: () => void; timer: NodeJS.Timeout }> = [];
  private head = 0;

  constructor(
    private readonly displayUrl: string,
    private readonly timeoutMs: number,
  ) {}

  get busy(): boolean {
    return this.held;
  }

  /** Takes the turn without waiting, or returns false. */
  tryAcquire(): boolean {
    if (this.held) return false;
    this.held = true;
    return true;
  }

  acquire(): Promise<void> {
    if (this.tryAcquire()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const entry = {
        grant: () => {
          clearTimeout(entry.timer);
          resolve();
        },
        timer: setTimeout(() => {
          const i = this.waiting.indexOf(entry, this.head);
          if (i >= 0) this.waiting.splice(i, 1);
          reject(
            new SakimoriError(
              'STORE_BUSY',
              `${this.displayUrl}: waited ${this.timeoutMs} ms for another transaction on this store to finish`,
              {
                hint: 'if this call is made inside store.transaction(fn), use the tx argument fn receives, not the store; otherwise a transaction is running too long (keep slow work such as network calls outside transactions)',
              },
            ),
          );
        }, this.timeoutMs),
      };
      this.waiting.push(entry);
    });
  }

  release(): void {
    const next = this.waiting[this.head];
    if (next) {
      this.head++;
      if (this.head > 1024 && this.head * 2 > this.waiting.length) {
        this.waiting.splice(0, this.head);
        this.head = 0;
      }
      next.grant(); // the turn passes straight to the next caller; `held` stays true
    } else {
      this.waiting.length = 0;
      this.head = 0;
      this.held = false;
    }
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}
