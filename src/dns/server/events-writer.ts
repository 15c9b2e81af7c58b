/**
 * The block events' writer thread (started by BlockEventLog for a SQLite file store; the
 * mechanism is src/store/writer-thread.ts). It owns its own connection to the same file,
 * so the inserts, the COMMIT and the WAL checkpoints that a commit may trigger run here,
 * not on the thread that answers DNS queries: on the main thread a flush of 2,000 rows
 * held the event loop 28-290 ms (measured at load average 10: every query arriving
 * meanwhile waited that long).
 */
import { workerData } from 'node:worker_threads';
import { openStore, serveWriterThread, type SqlValue } from '../../store/index.ts';

export interface EventsWriterInit {
  file: string;
}
export interface EventsJob {
  sql: string;
  rows: SqlValue[][];
}

const init = workerData as EventsWriterInit;

await serveWriterThread<EventsJob>(async () => {
  const store = await openStore(`sqlite:${init.file}`);
  return { write: (job) => store.runMany(job.sql, job.rows), close: () => store.close() };
});
