/** The two log calls the store makes; a pino Logger fits. */
export interface StoreLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface OpenStoreOptions {
  logger?: StoreLogger;
  /**
   * How long a call waits for the write lock (another process's transaction on
   * the same SQLite file, or another transaction on this store) before it fails
   * with STORE_BUSY. Default 10 s.
   */
  busyTimeoutMs?: number;
  /** PostgreSQL only: connections in the pool. Default 10. */
  poolSize?: number;
  /**
   * SQLite only: the page cache of each connection, in KiB. Default 65,536 (64 MiB: the hot
   * index pages of a few million rows). A connection that only appends (a writer thread)
   * needs SQLite's own 2,048: every page it writes stays cached until the cache is full, so
   * a large one only grows the process by its size, never read again.
   */
  pageCacheKiB?: number;
}

export const DEFAULT_BUSY_TIMEOUT_MS = 10_000;
