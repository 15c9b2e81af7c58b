/**
 * The block events' writer thread (started by BlockEventLog for a SQLite file store; the
 * mechanism is src/store/writer-thread.ts). It owns its own connection to the same file,
 * so the inserts, the COMMIT and the WAL checkpoints that a commit may trigger run here,
 * not on the thread that answers DNS queries: on the main thread a flush of 2,000 rows
 * held the event loop 28-290 ms (measured at load average 10: every query arriving
 * meanwhile waited that long).
 */
import { workerData } from 'node:worker_threads';
import { openStore, serveWriterThread } from '../../store/index.ts';
import type { BlockEventImage } from './event-buffer.ts';
import { BLOCK_EVENT_INSERT, blockEventRows } from './event-rows.ts';

export interface EventsWriterInit {
  file: string;
}
/** A flush's events as the buffer's image: the rows are made here, not on the DNS thread. */
export interface EventsJob {
  image: BlockEventImage;
  idBase: string;
  purposes: (string | null)[];
}

const init = workerData as EventsWriterInit;

await serveWriterThread<EventsJob>(async () => {
  // Appends only: a small page cache (with 64 MiB, every page written stayed cached, and the
  // process grew with the events until the cache was full).
  const store = await openStore(`sqlite:${init.file}`, { pageCacheKiB: 2048 });
  return { write: (job) => store.runMany(BLOCK_EVENT_INSERT, blockEventRows(job.image, job.idBase, job.purposes)), close: () => store.close() };
});
