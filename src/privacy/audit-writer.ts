/**
 * The audit log's writer thread (started by AuditLog for a SQLite file or a
 * PostgreSQL store; the mechanism is src/store/writer-thread.ts). It owns its own
 * connection to the same database, so a batch's transaction, the hash chain over
 * it and (SQLite) the WAL checkpoints run here and not on the thread that answers
 * look-ups. Batches are written one at a time in arrival order; each is answered
 * only after its COMMIT, so an entry is acknowledged exactly when it would be
 * without this thread.
 */
import { workerData } from 'node:worker_threads';
import { openStore, serveWriterThread } from '../store/index.ts';
import { writeChained, type ChainInput } from './audit-log.ts';

export interface WriterInit {
  /** Store.workerUrl of the caller's store. */
  url: string;
  busyTimeoutMs?: number;
  /** SQLite: a PASSIVE checkpoint at most this often (the node's own connections do none). */
  checkpointMs: number;
}

const init = workerData as WriterInit;

await serveWriterThread<ChainInput[]>(async () => {
  // PostgreSQL: two connections are plenty for one batch at a time. SQLite: appends and the
  // chain's head only, so SQLite's own small page cache.
  const store = await openStore(init.url, { poolSize: 2, pageCacheKiB: 2048, ...(init.busyTimeoutMs !== undefined ? { busyTimeoutMs: init.busyTimeoutMs } : {}) });
  const sqlite = store.dialect === 'sqlite';
  // Checkpoints are this thread's job (below), not a side effect of whichever commit crosses 1000 pages.
  if (sqlite) await store.run('PRAGMA wal_autocheckpoint = 0');
  let lastCheckpoint = 0;
  const checkpoint = async (): Promise<void> => {
    lastCheckpoint = performance.now();
    // PASSIVE: copies what no reader still needs and never waits for anyone.
    if (sqlite) await store.get('PRAGMA wal_checkpoint(PASSIVE)').catch(() => undefined);
  };
  const timer = setInterval(() => void checkpoint(), init.checkpointMs);
  return {
    // The chain extends from the head each batch reads.
    write: (entries) => store.transaction((tx) => writeChained(tx, store.dialect, entries)),
    afterEach: async () => {
      if (performance.now() - lastCheckpoint >= init.checkpointMs) await checkpoint();
    },
    close: async () => {
      clearInterval(timer);
      await checkpoint();
      await store.close();
    },
  };
});
