/**
 * Attribution benchmark: "who held IP X at time T" at ISP scale.
 *
 * Sakimori's session index on SQLite and on PostgreSQL against the anchor:
 * FreeRADIUS 3.2's `radacct` table exactly as shipped (schema below), in the
 * same PostgreSQL, answering the same question with the natural query. All
 * three get the same generated sessions and the same questions, and every
 * answer is checked against the generator (a wrong answer fails the run).
 *
 *   npx tsx bench/attribution.ts [--sessions 1000000] [--lookups 20000] [--anchor-lookups 5] [--csv-lines 200000] [--batch 20000] [--concurrency 16] [--audit-thread on|off] [--rounds 2] [--no-append]
 *
 * A round at 10^6 sessions takes about 4-5 minutes on a busy 2-core machine,
 * so the default is 2 rounds; 10^7 is measured once (--sessions 10000000
 * --rounds 1 --csv-lines 0; see docs/BENCHMARKS.md for the command used).
 *
 * One side alone (what the runner calls; prints one JSON metric per line):
 *
 *   npx tsx bench/attribution.ts --side sakimori --sqlite sqlite:/tmp/a.db --postgres postgres://... --sessions N
 *   npx tsx bench/attribution.ts --side radacct --postgres postgres://... --sessions N
 *   npx tsx bench/attribution.ts --side csv --out radacct.csv --sessions N   (the CSV the import is timed on)
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { findPostgresBin, startPostgres } from '../test/peers/postgres.ts';
import { openStore, type Store } from '../src/store/index.ts';
import { AuditLog, privacyMigrations } from '../src/privacy/index.ts';
import { Attribution, attributionMigrations, importFile, parseNetwork, PostgresCopyWriter, SessionIndex, UPSERT_TAIL } from '../src/attribution/index.ts';
import { runBench, helpIfAsked } from './run.ts';

helpIfAsked(import.meta.url);

/**
 * The anchor, as FreeRADIUS 3.2 ships it for PostgreSQL
 * (raddb/mods-config/sql/main/postgresql/schema.sql, v3.2.x): the radacct
 * table and the indexes the file creates. There is no index on
 * FramedIPAddress: "who held this address" is a sequential scan.
 */
export const FREERADIUS_32_RADACCT = `
CREATE TABLE IF NOT EXISTS radacct (
  RadAcctId bigserial PRIMARY KEY,
  AcctSessionId text NOT NULL,
  AcctUniqueId text NOT NULL UNIQUE,
  UserName text,
  Realm text,
  NASIPAddress inet NOT NULL,
  NASPortId text,
  NASPortType text,
  AcctStartTime timestamp with time zone,
  AcctUpdateTime timestamp with time zone,
  AcctStopTime timestamp with time zone,
  AcctInterval bigint,
  AcctSessionTime bigint,
  AcctAuthentic text,
  ConnectInfo_start text,
  ConnectInfo_stop text,
  AcctInputOctets bigint,
  AcctOutputOctets bigint,
  CalledStationId text,
  CallingStationId text,
  AcctTerminateCause text,
  ServiceType text,
  FramedProtocol text,
  FramedIPAddress inet,
  FramedIPv6Address inet,
  FramedIPv6Prefix inet,
  FramedInterfaceId text,
  DelegatedIPv6Prefix inet,
  Class text
);
CREATE INDEX radacct_active_session_idx ON radacct (AcctUniqueId) WHERE AcctStopTime IS NULL;
CREATE INDEX radacct_bulk_close ON radacct (NASIPAddress, AcctStartTime) WHERE AcctStopTime IS NULL;
CREATE INDEX radacct_start_user_idx ON radacct (AcctStartTime, UserName);
CREATE INDEX radacct_calss_idx ON radacct (Class);`;

/** The natural question to radacct: the session on that address whose interval contains the time. */
const ANCHOR_QUERY = `SELECT username, acctsessionid, nasipaddress, acctstarttime, acctstoptime FROM radacct
  WHERE framedipaddress = $1 AND acctstarttime <= $2 AND (acctstoptime IS NULL OR acctstoptime >= $2)`;

// ---------------------------------------------------------------- the sessions

const T0 = Date.UTC(2025, 0, 6);
const HOUR = 3_600_000;

/** Deterministic 32-bit mixing, so every side and every round sees the same sessions. */
function mix(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

interface Gen {
  /** IPv4 address as a 32-bit number, in 10.0.0.0/8. */
  addr: number;
  start: number;
  end: number;
  subscriber: string;
  nas: string;
  sessionId: string;
  /** Every fifth session is dual-stack with a delegated /56. */
  pd: string | undefined;
}

/**
 * Session i of n: addresses come from a pool of n/2 (each address is held by
 * about two sessions, one after the other: 12-hour slots, each session
 * inside its slot), subscribers from 10 million logins, 64 NASes.
 */
function session(i: number, n: number): Gen {
  const pool = Math.max(1, Math.floor(n / 2));
  const slot = Math.floor(i / pool);
  const h = mix(i + 1);
  // Odd multiplier mod 2^24: a bijection, so two pool slots never share an address.
  const addr = (0x0a000000 | (Math.imul(i % pool, 0x9e3779b1) & 0xffffff)) >>> 0;
  const start = T0 + slot * 12 * HOUR + (h % (6 * HOUR));
  const end = start + 30 * 60_000 + (mix(h) % (5 * HOUR));
  return {
    addr,
    start,
    end,
    subscriber: `user${mix(h ^ 0x5bd1e995) % 10_000_000}@isp.example`,
    nas: `192.0.2.${addr & 63}`,
    sessionId: i.toString(16).padStart(8, '0'),
    pd: i % 5 === 0 ? `2001:db8:${(i >>> 8).toString(16)}:${(i & 0xff).toString(16)}00::/56` : undefined,
  };
}

const v4Text = (a: number) => `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;


/** Look-up i: a random session and a time inside it (80 %), or a time in the gap after it (20 %). */
function question(i: number, n: number): { g: Gen; at: number; inside: boolean } {
  const g = session(mix(i * 7919 + 17) % n, n);
  const inside = i % 5 !== 0;
  // The gap after a session ends before its 12-hour slot does, where the address's next session may start.
  const slotEnd = T0 + (Math.floor((g.start - T0) / (12 * HOUR)) + 1) * 12 * HOUR;
  const at = inside ? g.start + (mix(i) % (g.end - g.start)) : g.end + 1000 + (mix(i) % Math.min(HOUR, slotEnd - g.end - 2000));
  return { g, at, inside };
}

const RADACCT_CSV_HEADER = 'radacctid,acctsessionid,acctuniqueid,username,realm,nasipaddress,nasportid,nasporttype,acctstarttime,acctupdatetime,acctstoptime,acctinterval,acctsessiontime,acctauthentic,connectinfo_start,connectinfo_stop,acctinputoctets,acctoutputoctets,calledstationid,callingstationid,acctterminatecause,servicetype,framedprotocol,framedipaddress,framedipv6address,framedipv6prefix,framedinterfaceid,delegatedipv6prefix,class';

/** Sessions first..first+count of a set of `total`, as a radacct CSV export (psql \\copy ... CSV HEADER), written in chunks. */
function writeRadacctCsv(file: string, first: number, count: number, total: number): void {
  const fd = openSync(file, 'w');
  try {
    writeSync(fd, RADACCT_CSV_HEADER + '\n');
    const t = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('.000Z', '+00');
    for (let at = 0; at < count; at += 100_000) {
      const lines: string[] = [];
      for (let i = at; i < Math.min(count, at + 100_000); i++) {
        const g = session(first + i, total);
        lines.push(`${i + 1},${g.sessionId},u${g.sessionId},${g.subscriber},,${g.nas},,Virtual,${t(g.start)},,${t(g.end)},,${Math.round((g.end - g.start) / 1000)},RADIUS,,,1,2,,,User-Request,Framed-User,PPP,${v4Text(g.addr)},,,,${g.pd ?? ''},`);
      }
      writeSync(fd, lines.join('\n') + '\n');
    }
  } finally {
    closeSync(fd);
  }
}

function metric(name: string, value: number, higherIsBetter: boolean, unit?: string): void {
  process.stdout.write(JSON.stringify({ metric: name, value: Math.round(value * 10) / 10, higherIsBetter, ...(unit ? { unit } : {}) }) + '\n');
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

const log = (s: string) => process.stderr.write(`  ${s}\n`);

// ---------------------------------------------------------------- Sakimori's side

/** The radacct CSV of all N sessions, written once per process (both stores import the same file). */
let csvDir: string | undefined;
function importCsv(n: number): string {
  const fresh = csvDir === undefined;
  csvDir ??= mkdtempSync(join(tmpdir(), 'sakimori-bench-import-'));
  const file = join(csvDir, 'radacct.csv');
  if (fresh) writeRadacctCsv(file, 0, n, n);
  return file;
}
process.on('exit', () => csvDir && rmSync(csvDir, { recursive: true, force: true }));

async function sakimoriSide(label: 'SQLite' | 'PostgreSQL', url: string, n: number, lookups: number, csvLines: number, batchRows: number, concurrency: number): Promise<void> {
  let store: Store = await openStore(url);
  await store.migrate([...privacyMigrations, ...attributionMigrations]);
  const copy = store.dialect === 'postgres' ? new PostgresCopyWriter(url, UPSERT_TAIL) : undefined;
  let index = new SessionIndex(store, copy ? { bulk: copy } : {});
  try {
    // Import: `sakimori sessions import FILE --format radacct`, the command an operator runs, on a
    // radacct CSV export of all N sessions; its own report gives the time (read, parse, write, index).
    {
      const file = importCsv(n);
      await store.close();
      const w0 = performance.now();
      const out = execFileSync(process.execPath, [join(import.meta.dirname, '../bin/sakimori.js'), '--store', url, 'sessions', 'import', file, '--format', 'radacct', '--batch', String(batchRows), '--json'], {
        encoding: 'utf8',
        maxBuffer: 1 << 26,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const wall = (performance.now() - w0) / 1000;
      const report = JSON.parse(out) as { sessions: number; badLines: number; seconds: number; lines: number };
      if (report.badLines !== 0 || report.lines !== n + 1) throw new Error(`${label}: import report ${out}`);
      metric(`${label}: import (sessions/s)`, n / report.seconds, true, 'sessions/s');
      log(`${label}: sessions import of ${n.toLocaleString('en-US')} sessions (${report.sessions.toLocaleString('en-US')} rows): ${report.seconds.toFixed(1)} s by its report, ${wall.toFixed(1)} s with process start-up`);
    }
    store = await openStore(url);
    index = new SessionIndex(store, copy ? { bulk: copy } : {});

    // Look-ups through the audited, purpose-bound path (R16), one caller awaiting each.
    const audit = new AuditLog(store, { flushIntervalMs: 200, writerThread: args['audit-thread'] !== 'off', onError: (e) => log(`${label}: audit: ${String(e)}`) });
    // Batches go to the audit writer thread (it would start with the second batch anyway; here before the clock starts).
    await audit.startWriterThread();
    const attribution = new Attribution(index, audit, { clockSkewMs: 0 });
    const ask = async (i: number) => {
      const q = question(i, n);
      const r = await attribution.lookup({ ip: v4Text(q.g.addr), at: q.at, purpose: 'infection-notice', actor: 'bench' });
      const ok = q.inside ? r.result === 'found' && r.subscriber === q.g.subscriber && r.session.sessionId === q.g.sessionId : r.result === 'gap';
      if (!ok) throw new Error(`${label}: wrong answer for ${v4Text(q.g.addr)} at ${new Date(q.at).toISOString()} (expected ${q.inside ? q.g.subscriber : 'gap'}): ${JSON.stringify(r)}`);
    };
    // Each look-up starts from its own macrotask, as an HTTP request or a queue message does (a loop of
    // synchronous SQLite answers would otherwise never let the event loop turn: no timer, no worker reply).
    const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
    for (let i = 0; i < 500; i++) await ask(1_000_000 + i); // warm-up
    const lat: number[] = [];
    const l0 = performance.now();
    // CPU time of the whole process (every thread: the audit writer's hashes and commits too) per look-up:
    // steadier than look-ups/s on a shared machine, where the wall clock mostly measures the other jobs.
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < lookups; i++) {
      await turn();
      const t = performance.now();
      await ask(i);
      lat.push(performance.now() - t);
    }
    const lookupSeconds = (performance.now() - l0) / 1000;
    const cpuAudited = process.cpuUsage(cpu0);
    lat.sort((a, b) => a - b);
    metric(`${label}: look-ups/s, 1 caller`, lookups / lookupSeconds, true, 'look-ups/s');
    log(`${label}: audit: ${audit.written} entries in ${audit.batches} batches (${audit.threadBatches} by the writer thread) so far`);
    metric(`${label}: look-up p50`, percentile(lat, 0.5) * 1000, false, 'µs');
    metric(`${label}: look-up p99`, percentile(lat, 0.99) * 1000, false, 'µs');
    metric(`${label}: CPU per audited look-up, whole process`, (cpuAudited.user + cpuAudited.system) / lookups, false, 'µs');
    // The same questions to the index alone (no purpose check, no audit entry): where the time of a look-up goes.
    const bare: number[] = [];
    const b0 = performance.now();
    const cpu1 = process.cpuUsage();
    for (let i = 0; i < lookups; i++) {
      const q = question(i, n);
      await turn();
      const t = performance.now();
      await index.holderAt(parseNetwork(v4Text(q.g.addr))!, { at: q.at, skewMs: 0 });
      bare.push(performance.now() - t);
    }
    const cpuBare = process.cpuUsage(cpu1);
    bare.sort((a, b) => a - b);
    metric(`${label}: index alone, not audited: look-ups/s`, lookups / ((performance.now() - b0) / 1000), true, 'look-ups/s');
    metric(`${label}: index alone, not audited: p99`, percentile(bare, 0.99) * 1000, false, 'µs');
    metric(`${label}: index alone, not audited: CPU per look-up`, (cpuBare.user + cpuBare.system) / lookups, false, 'µs');
    // `concurrency` callers, each awaiting its own look-ups (the HTTP API and the cases pipeline ask concurrently).
    const perCaller: number[][] = Array.from({ length: concurrency }, () => []);
    const c0 = performance.now();
    let next = 0;
    await Promise.all(perCaller.map(async (mine) => {
      while (next < lookups) {
        const i = next++;
        await turn();
        const t = performance.now();
        await ask(2_000_000 + i);
        mine.push(performance.now() - t);
      }
    }));
    metric(`${label}: look-ups/s, ${concurrency} in flight`, lookups / ((performance.now() - c0) / 1000), true, 'look-ups/s');
    const all = perCaller.flat().sort((a, b) => a - b);
    metric(`${label}: look-up p99 as each of ${concurrency} callers sees it`, percentile(all, 0.99) * 1000, false, 'µs');
    const worst = Math.max(...perCaller.map((m) => percentile(m.sort((a, b) => a - b), 0.99)));
    log(`${label}: ${concurrency} callers: p50 ${(percentile(all, 0.5) * 1000).toFixed(0)} µs, p99 ${(percentile(all, 0.99) * 1000).toFixed(0)} µs, worst caller's p99 ${(worst * 1000).toFixed(0)} µs; audit batches ${audit.batches} (${audit.threadBatches} by the writer thread)`);

    // IPv6: an address inside a delegated /56 (radacct cannot answer this: it stores the prefix, not what it contains).
    const v6 = Math.min(lookups, 5000);
    const v0 = performance.now();
    for (let i = 0, done = 0; done < v6; i++) {
      const q = question(i, n);
      if (!q.g.pd || !q.inside) continue;
      done++;
      const ip = q.g.pd.replace('::/56', `:${(i % 0xffff).toString(16)}::1`);
      const r = await attribution.lookup({ ip, at: q.at, purpose: 'infection-notice', actor: 'bench' });
      if (!(r.result === 'found' && r.subscriber === q.g.subscriber)) throw new Error(`${label}: wrong IPv6 answer for ${ip}: ${JSON.stringify(r)}`);
    }
    metric(`${label}: IPv6 look-ups in a delegated /56, /s`, v6 / ((performance.now() - v0) / 1000), true, 'look-ups/s');
    await audit.close();

    // A real file through its importer: radacct CSV lines parsed and written (own table state: appended to the above).
    if (csvLines > 0) {
      const dir = mkdtempSync(join(tmpdir(), 'sakimori-bench-csv-'));
      try {
        const file = join(dir, 'radacct.csv');
        writeRadacctCsv(file, n, csvLines, n + csvLines);
        await index.prepareBulkWrites();
        const r = await importFile(index, file, 'radacct', {}, {}, { batchSize: batchRows });
        if (r.badLines !== 0) throw new Error(`${label}: ${r.badLines} bad lines in the generated CSV`);
        metric(`${label}: radacct CSV file import (sessions/s)`, csvLines / r.seconds, true, 'sessions/s');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  } finally {
    await copy?.close();
    await store.close();
  }
}

// ---------------------------------------------------------------- the anchor

async function radacctSide(url: string, n: number, lookups: number): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await c.query('DROP TABLE IF EXISTS radacct');
    await c.query(FREERADIUS_32_RADACCT);
    // Load: COPY, the fastest way rows get into radacct (rlm_sql itself inserts one row per Start and updates it per Stop).
    const iso = (ms: number) => new Date(ms).toISOString();
    const w0 = performance.now();
    const CHUNK = 50_000;
    for (let at = 0; at < n; at += CHUNK) {
      const lines: string[] = [];
      for (let i = at; i < Math.min(n, at + CHUNK); i++) {
        const g = session(i, n);
        lines.push(`${g.sessionId}\t${g.nas}-${g.sessionId}\t${g.subscriber}\t${g.nas}\t${iso(g.start)}\t${iso(g.end)}\t${Math.round((g.end - g.start) / 1000)}\t${v4Text(g.addr)}\t${g.pd ?? '\\N'}`);
      }
      await copyIn(c, 'COPY radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctstoptime, acctsessiontime, framedipaddress, delegatedipv6prefix) FROM STDIN', lines.join('\n') + '\n');
      if (((at / CHUNK) & 15) === 0) log(`radacct: ${at.toLocaleString('en-US')} rows loaded`);
    }
    const loadSeconds = (performance.now() - w0) / 1000;
    await c.query('ANALYZE radacct');
    for (const label of ['SQLite', 'PostgreSQL']) metric(`${label}: import (sessions/s)`, n / loadSeconds, true, 'sessions/s');
    log(`radacct: ${n.toLocaleString('en-US')} rows in ${loadSeconds.toFixed(1)} s`);

    const lat: number[] = [];
    for (let i = 0; i < lookups; i++) {
      const q = question(i * 5 + 1, n); // inside a session: the anchor's natural query finds it
      const t = performance.now();
      const r = await c.query(ANCHOR_QUERY, [v4Text(q.g.addr), new Date(q.at).toISOString()]);
      lat.push(performance.now() - t);
      if (!r.rows.some((row: { username: string }) => row.username === q.g.subscriber)) throw new Error(`radacct: wrong answer for ${v4Text(q.g.addr)}`);
    }
    const total = lat.reduce((a, b) => a + b, 0) / 1000;
    lat.sort((a, b) => a - b);
    for (const label of ['SQLite', 'PostgreSQL']) {
      metric(`${label}: look-ups/s, 1 caller`, lookups / total, true, 'look-ups/s');
      metric(`${label}: look-up p50`, percentile(lat, 0.5) * 1000, false, 'µs');
      metric(`${label}: look-up p99`, percentile(lat, 0.99) * 1000, false, 'µs');
    }
    log(`radacct: ${lookups} look-ups, ${(total / lookups).toFixed(3)} s each`);
  } finally {
    await c.end();
  }
}

/** COPY FROM STDIN for the anchor's load, through the same Submittable interface pg-copy.ts uses. */
async function copyIn(c: pg.Client, text: string, data: string): Promise<void> {
  const w = new PostgresCopyWriterForText(text, Buffer.from(data));
  await Promise.all([c.query(w as unknown as pg.QueryConfig), w.done]);
}

class PostgresCopyWriterForText {
  readonly done: Promise<void>;
  private resolve!: () => void;
  private reject!: (e: unknown) => void;
  constructor(readonly text: string, private readonly data: Buffer) {
    this.done = new Promise((res, rej) => ((this.resolve = res), (this.reject = rej)));
  }
  submit(con: { query(t: string): void }): void {
    con.query(this.text);
  }
  handleCopyInResponse(con: { sendCopyFromChunk(b: Buffer): void; endCopyFrom(): void }): void {
    for (let at = 0; at < this.data.length; at += 1 << 20) con.sendCopyFromChunk(this.data.subarray(at, at + (1 << 20)));
    con.endCopyFrom();
  }
  handleError(e: unknown): void {
    this.reject(e);
  }
  handleReadyForQuery(): void {
    this.resolve();
  }
  handleCommandComplete(): void {}
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  callback(): void {}
}

// ---------------------------------------------------------------- main

const { values: args } = parseArgs({
  options: {
    side: { type: 'string' },
    out: { type: 'string' },
    sqlite: { type: 'string' },
    postgres: { type: 'string' },
    sessions: { type: 'string', default: '1000000' },
    lookups: { type: 'string', default: '20000' },
    'anchor-lookups': { type: 'string', default: '5' },
    'csv-lines': { type: 'string', default: '200000' },
    batch: { type: 'string', default: '20000' },
    rounds: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '16' },
    /** off: audit batches (and SQLite's WAL checkpoints) on the look-up thread, as before the writer thread (for comparison). */
    'audit-thread': { type: 'string', default: 'on' },
    'no-append': { type: 'boolean', default: false },
  },
});
const N = Number(args.sessions);
const LOOKUPS = Number(args.lookups);
const CONCURRENCY = Number(args.concurrency);

if (args.side === 'sakimori') {
  if (args.sqlite) await sakimoriSide('SQLite', args.sqlite, N, LOOKUPS, Number(args['csv-lines']), Number(args.batch), CONCURRENCY);
  if (args.postgres) await sakimoriSide('PostgreSQL', args.postgres, N, LOOKUPS, Number(args['csv-lines']), Number(args.batch), CONCURRENCY);
} else if (args.side === 'csv') {
  // The file the import is measured on, to run `sakimori sessions import` on by hand.
  writeRadacctCsv(args.out!, 0, N, N);
} else if (args.side === 'radacct') {
  await radacctSide(args.postgres!, N, Number(args['anchor-lookups']));
} else {
  const pgVersion = execFileSync(join(findPostgresBin(), 'postgres'), ['--version'], { encoding: 'utf8' }).trim().replace(/^postgres \(PostgreSQL\) /, '').replace(/ \(.*\)$/, '');
  const dir = mkdtempSync(join(tmpdir(), 'sakimori-bench-attribution-'));
  const peer = await startPostgres();
  try {
    const ours = await peer.createDatabase('sakimori');
    const anchor = await peer.createDatabase('radacct');
    const db = join(dir, 'attribution.db');
    const self = 'node --import tsx bench/attribution.ts';
    const common = `--sessions ${N} --lookups ${LOOKUPS} --csv-lines ${args['csv-lines']} --batch ${args.batch} --concurrency ${CONCURRENCY}`;
    // Fresh state every round: a new SQLite file, an empty schema on PostgreSQL.
    const resetPg = `node -e "const pg=require('pg');const c=new pg.Client('${ours}');c.connect().then(()=>c.query('DROP SCHEMA public CASCADE; CREATE SCHEMA public')).then(()=>c.end())"`;
    const result = await runBench({
      name: 'attribution',
      rounds: Number(args.rounds),
      sakimori: `rm -f ${db} ${db}-wal ${db}-shm && ${resetPg} && ${self} --side sakimori --sqlite sqlite:${db} --postgres ${ours} ${common}`,
      anchor: `${self} --side radacct --postgres ${anchor} --sessions ${N} --anchor-lookups ${args['anchor-lookups']}`,
      sakimoriLabel: 'Sakimori session index',
      anchorLabel: `FreeRADIUS 3.2 radacct on PostgreSQL ${pgVersion}`,
      reproduce: `npx tsx bench/attribution.ts --sessions ${N} --lookups ${LOOKUPS} --anchor-lookups ${args['anchor-lookups']} --csv-lines ${args['csv-lines']} --batch ${args.batch} --concurrency ${CONCURRENCY} --rounds ${args.rounds}`,
      notes: [
        `${N.toLocaleString('en-US')} sessions (10 million logins, 64 NASes, an address pool of ${Math.floor(N / 2).toLocaleString('en-US')} IPv4 addresses each held by about two sessions in turn; every fifth session dual-stack with a delegated IPv6 /56), the same for every side, written in start order. Every answer is checked against the generator; a wrong one fails the run.`,
        'Each "SQLite: …" and "PostgreSQL: …" row compares that Sakimori store with the one radacct measurement (the anchor row values repeat).',
        `Sakimori import: \`sakimori sessions import FILE --format radacct --batch ${Number(args.batch).toLocaleString('en-US')}\` (the CLI, in a child process) on a radacct CSV export of the ${N.toLocaleString('en-US')} sessions (generated beforehand, not timed); sessions (CSV lines) per second by the command's own report: read, parse, write and index build. Into the empty index the import is one bulk load (plain INSERTs on SQLite, COPY straight into the table on PostgreSQL; the lookup and last-seen indexes built once at the end). SQLite: WAL, synchronous=NORMAL, 256 MiB page cache. The radacct CSV row imports ${Number(args['csv-lines']).toLocaleString('en-US')} more lines (in-process importFile) into the index already holding the sessions above: no bulk load, every batch upserted into the index.`,
        `Anchor import: the same sessions COPYed into radacct with its shipped indexes (FreeRADIUS itself inserts row by row, which is slower). Anchor look-up: ${ANCHOR_QUERY.replace(/\s+/g, ' ')}, ${args['anchor-lookups']} times (each is a sequential scan: there is no index on FramedIPAddress).`,
        `Sakimori look-ups go through Attribution.lookup: purpose-checked and audited (R16: one hash-chained audit entry per look-up, written in batches of up to 5,000 or 200 ms to the same store by the audit writer thread with its own connection, which on SQLite also does the WAL checkpoints), 80 % inside a session (expect found, the right subscriber and session), 20 % just after one (expect gap); ${CONCURRENCY} in flight: that many callers each awaiting its own look-ups on one store (PostgreSQL: a pool of 10), p99 as the callers see it. Every look-up is issued from its own event-loop turn (setImmediate, not timed), as a request would be, so timers and the audit writer thread's replies are handled between look-ups.`,
        'CPU per look-up: user + system CPU time of the whole bench process (every thread, so the audit writer thread hashing and committing is in the audited figure; not the PostgreSQL server) over the look-ups, divided by their number: on a shared machine it moves much less than look-ups/s.',
        'PostgreSQL: throwaway server (test/peers/postgres.ts), fsync=off, synchronous_commit=off, full_page_writes=off, shared_buffers=256MB, for both Sakimori and the anchor.',
        "Other engineers' jobs shared this 2-core machine (see the load average): read the ratios, not the absolute figures.",
      ],
      append: !args['no-append'],
    });
    process.stdout.write(result.markdown);
  } finally {
    await peer.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
