/**
 * Store benchmark: SQLite (the embedded default, "sakimori" side) against
 * PostgreSQL (the scale-out adapter, "anchor" side) through the same Store
 * port and the same workload (bench/store-workload.ts): 1,000,000 session-like
 * rows written with runMany, then lookups by primary key and by an indexed
 * column. Starts its own throwaway PostgreSQL (test/peers/postgres.ts).
 *
 *   npx tsx bench/store.ts [--records 1000000] [--lookups 20000] [--batch 10000] [--rounds 3] [--no-append]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { findPostgresBin, startPostgres } from '../test/peers/postgres.ts';
import { runBench, helpIfAsked } from './run.ts';

helpIfAsked(import.meta.url);

const { values: args } = parseArgs({
  options: {
    records: { type: 'string', default: '1000000' },
    lookups: { type: 'string', default: '20000' },
    batch: { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '3' },
    'no-append': { type: 'boolean', default: false },
  },
});

const workload = (url: string) =>
  `node --import tsx bench/store-workload.ts --url ${url} --records ${args.records} --lookups ${args.lookups} --batch ${args.batch}`;

const pgVersion = execFileSync(join(findPostgresBin(), 'postgres'), ['--version'], { encoding: 'utf8' }).trim().replace(/^postgres \(PostgreSQL\) /, '').replace(/ \(.*\)$/, '');
const dir = mkdtempSync(join(tmpdir(), 'sakimori-bench-store-'));
const pg = await startPostgres();
try {
  const pgUrl = await pg.createDatabase('bench');
  const db = join(dir, 'bench.db');
  const result = await runBench({
    name: 'store',
    rounds: Number(args.rounds),
    // A fresh file every round, as PostgreSQL gets a freshly created table.
    sakimori: `rm -f ${db} ${db}-wal ${db}-shm && ${workload(`sqlite:${db}`)}`,
    anchor: workload(pgUrl),
    sakimoriLabel: 'SQLite (better-sqlite3)',
    anchorLabel: `PostgreSQL ${pgVersion}`,
    reproduce: `npx tsx bench/store.ts --records ${args.records} --lookups ${args.lookups} --batch ${args.batch} --rounds ${args.rounds}`,
    notes: [
      `Both sides run bench/store-workload.ts through the Store port (openStore): ${Number(args.records).toLocaleString('en-US')} rows of (id BIGINT PRIMARY KEY, subscriber TEXT indexed, ip, started_at, bytes_in, attrs JSON) written by runMany in batches of ${Number(args.batch).toLocaleString('en-US')} rows, into a table that already has its secondary index; then ${Number(args.lookups).toLocaleString('en-US')} random lookups by primary key and by the indexed column, one caller awaiting each (latency per call), then the same by 16 callers at once.`,
      'SQLite: one file on the local disk, WAL, synchronous=NORMAL, 64 MiB page cache; runMany is one prepared statement in one BEGIN IMMEDIATE transaction.',
      'PostgreSQL: throwaway server (test/peers/postgres.ts) on 127.0.0.1 over TCP, fsync=off, synchronous_commit=off, full_page_writes=off, shared_buffers=256MB: durability is off, which flatters its writes; pool of 10; runMany sends multi-row INSERTs of 1,000 rows as named prepared statements.',
      'Other engineers\' jobs shared this 2-core machine during the run (see the load average): read the ratios, not the absolute figures, and the per-round values for the spread.',
    ],
    append: !args['no-append'],
  });
  process.stdout.write(result.markdown);
} finally {
  await pg.stop();
  rmSync(dir, { recursive: true, force: true });
}
