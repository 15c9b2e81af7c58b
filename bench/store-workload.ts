/**
 * One side of the store benchmark: writes N session-like records through
 * runMany, then looks them up by primary key and by an indexed column. Prints
 * one JSON metric per line on stdout (the bench/run.ts protocol); progress
 * goes to stderr.
 *
 *   npx tsx bench/store-workload.ts --url sqlite:/tmp/bench.db [--records 1000000] [--lookups 20000] [--batch 10000]
 */
import { parseArgs } from 'node:util';
import { openStore, type SqlValue } from '../src/store/index.ts';
import { Rng } from '../src/core/index.ts';

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    records: { type: 'string', default: '1000000' },
    lookups: { type: 'string', default: '20000' },
    batch: { type: 'string', default: '10000' },
    inflight: { type: 'string', default: '16' },
  },
});
if (!args.url) {
  console.error('usage: store-workload.ts --url STORE_URL [--records N] [--lookups N] [--batch N] [--inflight N]');
  process.exit(2);
}
const RECORDS = Number(args.records);
const LOOKUPS = Number(args.lookups);
const BATCH = Number(args.batch);
const INFLIGHT = Number(args.inflight);

function metric(name: string, value: number, higherIsBetter: boolean, unit?: string): void {
  process.stdout.write(JSON.stringify({ metric: name, value: Math.round(value * 10) / 10, higherIsBetter, ...(unit ? { unit } : {}) }) + '\n');
}

/** Deterministic pseudo-random numbers (the seeded Rng), so both sides see the same data and the same lookups. */
function rng(seed: number): () => number {
  const g = new Rng(seed);
  return () => g.next();
}

const subscriberOf = (id: number) => `sub-${((id * 2654435761) >>> 0).toString(36)}-${id}`;

const store = await openStore(args.url);
await store.run('DROP TABLE IF EXISTS bench_sessions');
await store.run(
  'CREATE TABLE bench_sessions (id BIGINT PRIMARY KEY, subscriber TEXT NOT NULL, ip TEXT NOT NULL, started_at BIGINT NOT NULL, bytes_in BIGINT NOT NULL, attrs TEXT NOT NULL)',
);
await store.run('CREATE INDEX bench_sessions_subscriber ON bench_sessions (subscriber)');

// Rows are built before the clock starts: the benchmark measures the store, not string building.
const random = rng(42);
const rows: SqlValue[][] = new Array(RECORDS);
const t0 = Date.UTC(2025, 0, 1);
for (let id = 0; id < RECORDS; id++) {
  rows[id] = [
    id,
    subscriberOf(id),
    `10.${(id >> 16) & 255}.${(id >> 8) & 255}.${id & 255}`,
    t0 + Math.floor(random() * 86_400_000),
    Math.floor(random() * 1e10),
    `{"nas":"bras-${id % 64}","port":${id % 4096}}`,
  ];
}

const insert = 'INSERT INTO bench_sessions (id, subscriber, ip, started_at, bytes_in, attrs) VALUES (?, ?, ?, ?, ?, ?)';
let written = 0;
const w0 = performance.now();
for (let at = 0; at < RECORDS; at += BATCH) {
  written += await store.runMany(insert, rows.slice(at, at + BATCH));
  if ((at / BATCH) % 20 === 0) process.stderr.write(`\r  ${args.url.split(':')[0]}: ${written} rows written`);
}
const writeSeconds = (performance.now() - w0) / 1000;
process.stderr.write(`\r  ${args.url.split(':')[0]}: ${written} rows written in ${writeSeconds.toFixed(1)} s\n`);
if (written !== RECORDS) throw new Error(`wrote ${written} rows, expected ${RECORDS}`);
metric('writes/s (runMany)', RECORDS / writeSeconds, true, 'rows/s');

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

async function lookups(label: string, sql: string, keyOf: (id: number) => SqlValue): Promise<void> {
  const pick = rng(7);
  const keys = Array.from({ length: LOOKUPS }, () => keyOf(Math.floor(pick() * RECORDS)));
  const latency = new Float64Array(LOOKUPS);
  const l0 = performance.now();
  for (let i = 0; i < LOOKUPS; i++) {
    const s = performance.now();
    const row = await store.get(sql, [keys[i]!]);
    latency[i] = performance.now() - s;
    if (row === undefined) throw new Error(`${label}: key ${String(keys[i])} not found`);
  }
  const seconds = (performance.now() - l0) / 1000;
  latency.sort();
  metric(`${label} lookups/s`, LOOKUPS / seconds, true, 'lookups/s');
  metric(`${label} lookup p50`, percentile(latency, 0.5) * 1000, false, 'µs');
  metric(`${label} lookup p99`, percentile(latency, 0.99) * 1000, false, 'µs');
}

await lookups('pk', 'SELECT id, subscriber, ip, started_at, bytes_in, attrs FROM bench_sessions WHERE id = ?', (id) => id);
await lookups('index', 'SELECT id, subscriber, ip, started_at FROM bench_sessions WHERE subscriber = ?', subscriberOf);

// Many callers at once (a busy node): PostgreSQL spreads them over its pool, SQLite answers each synchronously.
{
  const pick = rng(9);
  const keys = Array.from({ length: LOOKUPS }, () => Math.floor(pick() * RECORDS));
  let next = 0;
  const c0 = performance.now();
  await Promise.all(
    Array.from({ length: INFLIGHT }, async () => {
      while (next < keys.length) await store.get('SELECT id, subscriber FROM bench_sessions WHERE id = ?', [keys[next++]!]);
    }),
  );
  metric(`pk lookups/s, ${INFLIGHT} in flight`, LOOKUPS / ((performance.now() - c0) / 1000), true, 'lookups/s');
}

await store.run('DROP TABLE bench_sessions');
await store.close();
