/**
 * The audit log's writer thread (started by AuditLog for a SQLite file or a
 * PostgreSQL store). It owns its own connection to the same database, so a
 * batch's transaction, the hash chain over it and (SQLite) the WAL
 * checkpoints run here and not on the thread that answers look-ups. Batches
 * arrive in order and are written one at a time in that order; each is
 * answered only after its COMMIT, so an entry is acknowledged exactly when it
 * would be without this thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { errorMessage } from '../core/index.ts';
import { openStore } from '../store/index.ts';
import { writeChained, type ChainInput } from './audit-log.ts';

export interface WriterInit {
  /** Store.workerUrl of the caller's store. */
  url: string;
  busyTimeoutMs?: number;
  /** SQLite: a PASSIVE checkpoint at most this often (the node's own connections do none). */
  checkpointMs: number;
}
export type ToWriter = { type: 'batch'; id: number; entries: ChainInput[] } | { type: 'close' };
export type FromWriter =
  | { type: 'ready' }
  | { type: 'done'; id: number }
  | { type: 'failed'; id: number; message: string; code?: string }
  | { type: 'fatal'; message: string };

const init = workerData as WriterInit;
const port = parentPort!;

try {
  // PostgreSQL: two connections are plenty for one batch at a time.
  const store = await openStore(init.url, { poolSize: 2, ...(init.busyTimeoutMs !== undefined ? { busyTimeoutMs: init.busyTimeoutMs } : {}) });
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
  // One batch at a time, in arrival order: the chain extends from the head each batch reads.
  let chain = Promise.resolve();
  port.on('message', (msg: ToWriter) => {
    if (msg.type === 'close') {
      chain = chain.then(async () => {
        clearInterval(timer);
        await checkpoint();
        await store.close();
        port.close();
      });
      return;
    }
    chain = chain.then(async () => {
      try {
        await store.transaction((tx) => writeChained(tx, store.dialect, msg.entries));
        port.postMessage({ type: 'done', id: msg.id } satisfies FromWriter);
      } catch (err) {
        const code = (err as { code?: unknown } | null)?.code;
        port.postMessage({ type: 'failed', id: msg.id, message: errorMessage(err), ...(typeof code === 'string' ? { code } : {}) } satisfies FromWriter);
      }
      if (performance.now() - lastCheckpoint >= init.checkpointMs) await checkpoint();
    });
  });
  port.postMessage({ type: 'ready' } satisfies FromWriter);
} catch (err) {
  port.postMessage({ type: 'fatal', message: errorMessage(err) } satisfies FromWriter);
}
