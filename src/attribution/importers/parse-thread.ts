/**
 * An import's parse thread (started by importFile for large files): reads
 * the file, runs the format's parser and the session assembler, and sends
 * what ImportRun would write, a batch at a time, in file order: rows flat
 * (pushRows), pending ops, bad lines with their numbers, skip counts. At most
 * two batches wait unacknowledged, so memory stays flat when the store is slower.
 */
import { basename } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { errorMessage, SakimoriError } from '../../core/index.ts';
import { SessionAssembler, type PendingOp } from '../events.ts';
import { pushRows } from '../session-index.ts';
import type { SqlValue } from '../../store/index.ts';
import type { ImportOptions, ImportSink } from './format.ts';
import { forEachLine } from './lines.ts';
import { importFormat } from './run.ts';

export interface ParserInit {
  path: string;
  format: string;
  options: ImportOptions;
  batchSize: number;
  maxOpen?: number | undefined;
}

export type ToParser = { type: 'ack' };
export type FromParser =
  | {
      type: 'batch';
      rows: SqlValue[];
      ops: PendingOp[];
      bad: Array<[number, string]>;
      skipped: Record<string, number>;
      /** File bytes read so far. */
      bytes: number;
      /** Set on the last batch: the file's line count. */
      lines?: number;
    }
  | { type: 'fatal'; message: string; code?: string; hint?: string };

/** Batches sent and not yet taken by the writing thread. */
const MAX_UNACKED = 2;

const init = workerData as ParserInit;
const port = parentPort!;

let unacked = 0;
let credit: (() => void) | undefined;
port.on('message', (m: ToParser) => {
  if (m.type !== 'ack') return;
  unacked--;
  credit?.();
});

const assembler = new SessionAssembler(init.maxOpen);
let bad: Array<[number, string]> = [];
let skipped: Record<string, number> = {};
const sink: ImportSink = {
  record: (r) => void assembler.records.push(r),
  event: (e) => assembler.push(e),
  bad: (line, message) => void bad.push([line, message]),
  skip: (reason) => {
    skipped[reason] = (skipped[reason] ?? 0) + 1;
  },
};
let bytes = 0;

async function send(lines?: number): Promise<void> {
  while (unacked >= MAX_UNACKED) await new Promise<void>((r) => (credit = r));
  credit = undefined;
  const { records, ops } = assembler.drain();
  const msg: FromParser = { type: 'batch', rows: pushRows([], records), ops, bad, skipped, bytes, ...(lines !== undefined ? { lines } : {}) };
  bad = [];
  skipped = {};
  unacked++;
  port.postMessage(msg);
}

try {
  const parser = importFormat(init.format).open({ file: basename(init.path), options: init.options, sink });
  const lines = await forEachLine(
    init.path,
    async ({ lines: batch, firstLine }) => {
      for (let i = 0; i < batch.length; i++) parser.line(batch[i]!, firstLine + i);
      if (assembler.records.length >= init.batchSize || assembler.ops.length >= 2000 || bad.length >= 10_000) await send();
    },
    (b) => (bytes = b),
  );
  parser.end();
  assembler.finish();
  await send(lines);
} catch (err) {
  const e = err instanceof SakimoriError ? { code: err.code, ...(err.hint ? { hint: err.hint } : {}) } : {};
  port.postMessage({ type: 'fatal', message: errorMessage(err), ...e } satisfies FromParser);
}
