/**
 * The block events' writer thread (started by BlockEventLog for a SQLite file store). It
 * owns its own connection to the same file, so the inserts, the COMMIT and the WAL
 * checkpoints that a commit may trigger run here, not on the thread that answers DNS
 * queries: on the main thread a flush of 2,000 rows held the event loop 28-290 ms
 * (measured at load average 10: every query arriving meanwhile waited that long).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { errorMessage } from '../../core/index.ts';
import { openStore, type SqlValue } from '../../store/index.ts';

export interface EventsWriterInit {
  file: string;
}
export type ToEventsWriter = { type: 'rows'; id: number; sql: string; rows: SqlValue[][] } | { type: 'close' };
export type FromEventsWriter = { type: 'ready' } | { type: 'done'; id: number } | { type: 'failed'; id: number; message: string } | { type: 'fatal'; message: string };

const init = workerData as EventsWriterInit;
const port = parentPort!;

try {
  const store = await openStore(`sqlite:${init.file}`);
  // One batch at a time, in arrival order.
  let chain = Promise.resolve();
  port.on('message', (msg: ToEventsWriter) => {
    chain = chain.then(async () => {
      if (msg.type === 'close') {
        await store.close();
        port.close();
        return;
      }
      try {
        await store.runMany(msg.sql, msg.rows);
        port.postMessage({ type: 'done', id: msg.id } satisfies FromEventsWriter);
      } catch (err) {
        port.postMessage({ type: 'failed', id: msg.id, message: errorMessage(err) } satisfies FromEventsWriter);
      }
    });
  });
  port.postMessage({ type: 'ready' } satisfies FromEventsWriter);
} catch (err) {
  port.postMessage({ type: 'fatal', message: errorMessage(err) } satisfies FromEventsWriter);
}
