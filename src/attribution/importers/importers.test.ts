import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { openStore, type Store } from '../../store/index.ts';
import { parseNetwork } from '../address.ts';
import { attributionMigrations } from '../migrations.ts';
import { SessionIndex } from '../session-index.ts';
import { importFile, type ImportReport } from './run.ts';
import type { ImportOptions } from './format.ts';
import { pickCsv, splitCsv } from './csv.ts';
import { parseSourceTime, parseSourceTimeGeneral } from './time.ts';

const DATA = new URL('./testdata/', import.meta.url).pathname;
const H = (h: number, m = 0, s = 0) => Date.UTC(2025, 0, 6, h, m, s);
const tmp = mkdtempSync(join(tmpdir(), 'sakimori-import-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** 1-based number of the first line of a test file containing `text`. */
function lineOf(file: string, text: string): number {
  const i = readFileSync(join(DATA, file), 'utf8').split('\n').findIndex((l) => l.includes(text));
  assert.ok(i >= 0, `${text} in ${file}`);
  return i + 1;
}

async function run(file: string, format: string, options: ImportOptions = {}, path = join(DATA, file), batchSize?: number) {
  const store: Store = await openStore('sqlite::memory:');
  await store.migrate(attributionMigrations);
  const index = new SessionIndex(store, { prefixLengthsTtlMs: 0 });
  const bad: string[] = [];
  const report: ImportReport = await importFile(index, path, format, options, { onBad: (f, line, msg) => bad.push(`${f.split('/').pop()}:${line}: ${msg}`) }, batchSize ? { batchSize } : {});
  const who = async (ip: string, at: number, port?: number) => index.holderAt(parseNetwork(ip)!, { at, port, skewMs: 0 });
  return { report, bad, who, index, close: () => store.close() };
}

describe('importers (real-format samples)', () => {
  it('FreeRADIUS detail: pairs Start/Interim/Stop, Stop without Start, Accounting-On; bad lines by number', async () => {
    const r = await run('detail-20250106', 'detail');
    try {
      // Attribute problems are found when the record ends, so they may follow a later bad line.
      assert.deepEqual(r.bad.sort(), [
        `detail-20250106:${lineOf('detail-20250106', '198.51.100.300')}: Framed-IP-Address "198.51.100.300" is not an IPv4 address`,
        `detail-20250106:${lineOf('detail-20250106', 'this line is not')}: not an "Attribute = value" line: "this line is not an attribute"`,
      ]);
      assert.equal(r.report.sessions, 3, 'alice (IPv4 + prefix) and bob in the bulk write');
      assert.equal(r.report.resolved, 2, "carol's Stop without Start and the Accounting-On go through the store");
      assert.equal(r.report.badLines, 2);
      assert.equal(r.report.skipped['not an accounting record (no Acct-Status-Type)'], 1);
      let w = await r.who('198.51.100.7', H(10, 30));
      assert.ok(w.result === 'found' && w.subscriber === 'alice@example.jp' && w.session.nas === '192.0.2.254' && w.session.sessionId === '00000001' && w.session.end === new Date(H(11)).toISOString(), JSON.stringify(w));
      assert.equal((await r.who('198.51.100.7', H(11, 15))).result, 'gap');
      w = await r.who('198.51.100.7', H(11, 40));
      assert.ok(w.result === 'found' && w.subscriber === 'bob@example.jp' && w.session.start === new Date(H(11, 30)).toISOString(), 'Acct-Delay-Time is subtracted');
      w = await r.who('198.51.100.7', H(12, 45));
      assert.ok(w.result === 'gap' && w.before?.endInferred === 'nas-restart' && w.before.end === new Date(H(12, 30)).toISOString(), JSON.stringify(w));
      w = await r.who('2001:db8:7:ab::1', H(10, 30));
      assert.ok(w.result === 'found' && w.subscriber === 'alice@example.jp' && w.session.role === 'ipv6-delegated');
      w = await r.who('198.51.100.8', H(11, 55));
      assert.ok(w.result === 'found' && w.subscriber === 'carol@example.jp' && w.session.startInferred === true && w.session.start === new Date(H(11, 50)).toISOString());
    } finally {
      await r.close();
    }
  });

  it('detail: a Stop in the next file closes the session its Start opened in an earlier import', async () => {
    const a = join(tmp, 'detail-a');
    const b = join(tmp, 'detail-b');
    writeFileSync(a, 'Mon Jan  6 10:00:00 2025\n\tAcct-Session-Id = "77"\n\tAcct-Status-Type = Start\n\tUser-Name = "gina"\n\tNAS-IP-Address = 192.0.2.1\n\tFramed-IP-Address = 198.51.100.77\n\tTimestamp = 1736157600\n\n');
    writeFileSync(b, 'Mon Jan  6 11:00:00 2025\n\tAcct-Session-Id = "77"\n\tAcct-Status-Type = Stop\n\tUser-Name = "gina"\n\tNAS-IP-Address = 192.0.2.1\n\tFramed-IP-Address = 198.51.100.77\n\tAcct-Session-Time = 3600\n\tTimestamp = 1736161200\n\n');
    const r = await run('', 'detail', {}, a);
    try {
      assert.equal((await r.who('198.51.100.77', H(12))).result, 'found', 'open after the first file');
      const second = await importFile(r.index, b, 'detail');
      assert.equal(second.resolved, 1);
      assert.equal((await r.who('198.51.100.77', H(12))).result, 'gap');
      assert.deepEqual(await r.index.count(), { sessions: 1, open: 0 });
    } finally {
      await r.close();
    }
  });

  it('detail: a large file in small batches pairs every session across batch boundaries', async () => {
    const path = join(tmp, 'detail-big');
    const parts: string[] = [];
    const N = 3000;
    for (let i = 0; i < N; i++) {
      const ip = `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
      parts.push(`Mon Jan  6 10:00:00 2025\n\tAcct-Session-Id = "s${i}"\n\tAcct-Status-Type = Start\n\tUser-Name = "u${i}"\n\tNAS-IP-Address = 192.0.2.1\n\tFramed-IP-Address = ${ip}\n\tTimestamp = ${1736157600 + i}\n`);
      if (i >= 50) {
        const j = i - 50; // Stops trail Starts by 50 sessions, so many pairs straddle a batch
        parts.push(`Mon Jan  6 11:00:00 2025\n\tAcct-Session-Id = "s${j}"\n\tAcct-Status-Type = Stop\n\tNAS-IP-Address = 192.0.2.1\n\tFramed-IP-Address = 10.0.${j >> 8}.${j & 255}\n\tAcct-Session-Time = 60\n\tTimestamp = ${1736157600 + j + 60}\n`);
      }
    }
    writeFileSync(path, parts.join('\n'));
    const r = await run('', 'detail', {}, path, 100);
    try {
      assert.equal(r.report.badLines, 0);
      assert.deepEqual(await r.index.count(), { sessions: N, open: 50 });
      const w = await r.who('10.0.1.44', H(10, 0, 300 + 30));
      assert.ok(w.result === 'found' && w.subscriber === 'u300' && w.session.end !== null);
    } finally {
      await r.close();
    }
  });

  it('radacct CSV: the FreeRADIUS 3.2 columns; open sessions; start derived from acctsessiontime; bad rows by line', async () => {
    const r = await run('radacct.csv', 'radacct');
    try {
      assert.deepEqual(r.bad, [
        'radacct.csv:4: acctstarttime "yesterday" is not a time (expected e.g. 2025-01-06 12:00:00+09)',
        'radacct.csv:5: nasipaddress is empty',
      ]);
      assert.equal(r.report.sessions, 5);
      let w = await r.who('198.51.100.7', H(10, 30));
      assert.ok(w.result === 'found' && w.subscriber === 'alice@example.jp' && w.session.sessionId === '5f2a0001');
      w = await r.who('2001:db8:7:1::abcd', H(10, 30));
      assert.ok(w.result === 'found' && w.session.role === 'ipv6-framed');
      w = await r.who('198.51.100.7', H(23));
      assert.ok(w.result === 'found' && w.subscriber === 'bob@example.jp' && w.session.end === null);
      w = await r.who('198.51.100.11', H(11, 55));
      assert.ok(w.result === 'found' && w.session.startInferred === true);
    } finally {
      await r.close();
    }
  });

  it('radacct CSV: times without an offset need --utc-offset', async () => {
    const path = join(tmp, 'radacct-local.csv');
    writeFileSync(path, 'acctsessionid,username,nasipaddress,acctstarttime,acctstoptime,framedipaddress\n1,hana,192.0.2.1,2025-01-06 19:00:00,,198.51.100.90\n');
    await assert.rejects(run('', 'radacct', {}, path), (e: Error & { code?: string }) => e.code === 'IMPORT_TIME_ZONE' && /utc-offset/.test((e as { hint?: string }).hint ?? ''));
    const r = await run('', 'radacct', { utcOffsetMin: 540 }, path);
    try {
      assert.equal((await r.who('198.51.100.90', H(10, 1))).result, 'found');
      assert.equal((await r.who('198.51.100.90', H(9, 59))).result, 'gap');
    } finally {
      await r.close();
    }
  });

  it('ISC dhcpd.leases: renewals fold into one session, a release ends it, option 82 names the line; DHCPv6 ia-pd', async () => {
    const r = await run('dhcpd.leases', 'dhcpd');
    try {
      assert.deepEqual(r.bad, [`dhcpd.leases:${lineOf('dhcpd.leases', '2025/13/06')}: starts "1 2025/13/06 16:00:00" is not a lease time (expected e.g. "1 2025/01/06 03:00:00" or "epoch 1736132400")`]);
      assert.equal(r.report.sessions, 4);
      let w = await r.who('192.0.2.10', H(12));
      assert.ok(w.result === 'found' && w.subscriber === 'ONU-0001' && w.session.start === new Date(H(1)).toISOString() && w.session.end === new Date(H(15)).toISOString(), JSON.stringify(w));
      assert.equal((await r.who('192.0.2.10', H(15, 30))).result, 'gap');
      w = await r.who('192.0.2.10', H(17));
      assert.ok(w.result === 'found' && w.subscriber === 'ONU-0002');
      w = await r.who('192.0.2.12', H(2));
      assert.ok(w.result === 'found' && w.subscriber === '00:16:3e:aa:bb:04');
      w = await r.who('2001:db8:20:1::1', H(3));
      assert.ok(w.result === 'found' && w.session.role === 'ipv6-delegated');
    } finally {
      await r.close();
    }
  });

  it('Kea lease CSV (v4 and v6): renewals fold, another client starts a new session, declined leases are skipped', async () => {
    const r = await run('kea-leases4.csv', 'kea');
    try {
      assert.deepEqual(r.bad, ['kea-leases4.csv:5: expire "abc" is not epoch seconds']);
      assert.equal(r.report.skipped['lease declined'], 1);
      let w = await r.who('192.0.2.20', H(2, 15));
      assert.ok(w.result === 'found' && w.subscriber === '00:16:3e:aa:bb:20' && w.session.end === new Date(H(2, 30)).toISOString(), JSON.stringify(w));
      w = await r.who('192.0.2.20', H(3, 30));
      assert.ok(w.result === 'found' && w.subscriber === '00:16:3e:aa:bb:21');
      assert.equal((await r.who('192.0.2.20', H(2, 45))).result, 'gap');
    } finally {
      await r.close();
    }
    const r6 = await run('kea-leases6.csv', 'kea');
    try {
      assert.deepEqual(r6.bad, []);
      let w = await r6.who('2001:db8:30:ff::1', H(2));
      assert.ok(w.result === 'found' && w.session.role === 'ipv6-delegated' && w.subscriber === '00:16:3e:aa:bb:30');
      w = await r6.who('2001:db8:31::5', H(2));
      assert.ok(w.result === 'found' && w.subscriber === '00:03:00:01:00:16:3e:aa:bb:31');
    } finally {
      await r6.close();
    }
  });

  it('CGNAT CSV: public address + port -> block holder; bad ports and empty subscribers by line', async () => {
    const r = await run('cgnat.csv', 'cgnat');
    try {
      assert.deepEqual(r.bad, ['cgnat.csv:5: ports "70000-70255" are not a range of ports (0-65535, start <= end)', 'cgnat.csv:6: subscriber is empty']);
      let w = await r.who('203.0.113.5', H(3, 30), 2100);
      assert.ok(w.result === 'found' && w.subscriber === 'alice@example.jp' && w.session.ports?.end === 2303);
      w = await r.who('203.0.113.5', H(3, 30), 2600);
      assert.ok(w.result === 'found' && w.subscriber === 'bob@example.jp');
      w = await r.who('203.0.113.5', H(3, 30));
      assert.ok(w.result === 'ambiguous' && w.reason === 'port-needed' && w.sessions.length === 3);
    } finally {
      await r.close();
    }
  });

  it('CGNAT syslog: ALLOC/RELEASE pairs per block; other messages skipped; bad lines by number', async () => {
    const r = await run('cgnat-syslog.log', 'cgnat-syslog');
    try {
      assert.deepEqual(r.bad, [
        'cgnat-syslog.log:6: no time at the start of the line (expected ISO 8601, or a BSD syslog time such as "Jan  6 12:00:00")',
        'cgnat-syslog.log:7: "3000-2900" is not a range of ports',
      ]);
      assert.equal(r.report.skipped['not a port-block message'], 1);
      let w = await r.who('203.0.113.7', H(3, 30), 2100);
      assert.ok(w.result === 'found' && w.subscriber === '100.64.0.20' && w.session.end === new Date(H(4)).toISOString() && w.session.nas === 'cgn1', JSON.stringify(w));
      w = await r.who('203.0.113.7', H(5), 2100);
      assert.ok(w.result === 'found' && w.subscriber === '100.64.0.22' && w.session.end === null);
      w = await r.who('203.0.113.7', H(5), 2400);
      assert.ok(w.result === 'found' && w.subscriber === '100.64.0.21');
    } finally {
      await r.close();
    }
  });

  it('imports again without duplicating (idempotent)', async () => {
    const r = await run('radacct.csv', 'radacct');
    try {
      const before = await r.index.count();
      await importFile(r.index, join(DATA, 'radacct.csv'), 'radacct');
      assert.deepEqual(await r.index.count(), before);
    } finally {
      await r.close();
    }
  });
});

describe('an import parsed in a worker thread', () => {
  /** One import into a fresh store: its report (without timings), bad lines and every row. */
  async function imported(path: string, format: string, parseThread: boolean, batchSize: number, options: ImportOptions = {}) {
    const store: Store = await openStore('sqlite::memory:');
    try {
      await store.migrate(attributionMigrations);
      const index = new SessionIndex(store, { prefixLengthsTtlMs: 0 });
      const bad: string[] = [];
      const progress: number[] = [];
      const { seconds: _s, sessionsPerSecond: _r, ...report } = await importFile(index, path, format, options, { onBad: (f, line, msg) => bad.push(`${f}:${line}: ${msg}`), onProgress: (done) => progress.push(done) }, { parseThread, batchSize });
      const rows = await store.all('SELECT addr_key, port_start, port_end, start_at, end_at, last_seen, sid_hash, subscriber, nas, session_id, flags FROM attribution_sessions ORDER BY addr_key, port_start, start_at, sid_hash');
      return { report, bad, rows, lastProgress: progress.at(-1) };
    } finally {
      await store.close();
    }
  }

  it('writes the rows, reports and bad lines (by number, in order) that the single-thread path gives, for every format', async () => {
    const samples: Array<[string, string, ImportOptions]> = [
      ['detail-20250106', 'detail', {}], ['radacct.csv', 'radacct', {}], ['dhcpd.leases', 'dhcpd', {}], ['kea-leases4.csv', 'kea', {}],
      ['kea-leases6.csv', 'kea', {}], ['cgnat.csv', 'cgnat', {}], ['cgnat-syslog.log', 'cgnat-syslog', {}],
    ];
    for (const [file, format, options] of samples) {
      // Batches of 2 rows: many messages, and the worker waits for acknowledgements.
      const one = await imported(join(DATA, file), format, false, 2, options);
      const threaded = await imported(join(DATA, file), format, true, 2, options);
      assert.deepEqual(threaded, one, file);
      assert.ok(one.rows.length > 0 && one.report.lines > 0, file);
    }
  });

  it('stops with the parser\'s error (a time without an offset)', async () => {
    const path = join(tmp, 'radacct-local-threaded.csv');
    writeFileSync(path, 'acctsessionid,username,nasipaddress,acctstarttime,acctstoptime,framedipaddress\n1,hana,192.0.2.1,2025-01-06 19:00:00+09,,198.51.100.90\n2,ken,192.0.2.1,2025-01-06 19:00:00,,198.51.100.91\n');
    await assert.rejects(imported(path, 'radacct', true, 1), (e: Error & { code?: string; hint?: string }) => e.code === 'IMPORT_TIME_ZONE' && /radacct-local-threaded\.csv:3: acctstarttime/.test(e.message) && /utc-offset/.test(e.hint ?? ''));
  });
});

describe('the fast paths of the radacct CSV reader give what the general ones give', () => {
  // Fields with what CSV and exports put in them: separators, quotes, NULL spellings, padding.
  const field = fc.oneof(
    fc.constantFrom('', '\\N', 'NULL', ' x ', 'a,b', 'say "hi"', '"', '""', '2025-01-06 12:00:00+09'),
    fc.string({ unit: fc.constantFrom('a', '1', ',', '"', ' ', '.', ':', '\t') , maxLength: 8 }),
  );
  const quoted = (f: string) => (/[",]/.test(f) || f === '' ? `"${f.replace(/"/g, '""')}"` : f);

  it('pickCsv: the chosen columns as splitCsv splits them, or the same error', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(field, fc.boolean()), { maxLength: 12 }),
        fc.uniqueArray(fc.nat({ max: 14 }), { maxLength: 8 }),
        fc.oneof(fc.constant(''), fc.string({ unit: fc.constantFrom('"', ',', 'x'), maxLength: 3 })),
        (fields, cols, tail) => {
          const line = fields.map(([f, q]) => (q ? quoted(f) : f)).join(',') + tail;
          const columns = [...cols].sort((a, b) => a - b);
          const out: string[] = [];
          const picked = pickCsv(line, columns, out);
          const all = splitCsv(line);
          if (!Array.isArray(all)) return assert.deepEqual(picked, all);
          assert.equal(picked, true);
          assert.deepEqual(out.slice(0, columns.length), columns.map((c) => all[c] ?? ''), JSON.stringify(line));
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('parseSourceTime: the same epoch ms, undefined or no-offset as parseSourceTimeGeneral', () => {
    const two = (max: number) => fc.integer({ min: 0, max }).map((n) => String(n).padStart(2, '0'));
    const stamp = fc
      .record({
        y: fc.integer({ min: 0, max: 9999 }).map((n) => String(n).padStart(4, '0')),
        mo: two(19), d: two(39), h: two(29), mi: two(69), s: two(69),
        sep: fc.constantFrom(' ', 'T', 'x'),
        dash: fc.constantFrom('-', '-', '-', '/'),
        frac: fc.oneof(fc.constant(''), fc.string({ unit: fc.constantFrom('0', '1', '4', '5', '9'), minLength: 1, maxLength: 7 }).map((f) => `.${f}`), fc.constant('.')),
        zone: fc.constantFrom('', 'Z', 'z', '+00', '+09', '-05', '+09:00', '-05:30', '+0930', '+14', '+15', '+14:01', '+9', ' +09', 'Z ', ' Z', 'X', '+09:', '+ab', 'UTC'),
      })
      .map((t) => `${t.y}${t.dash}${t.mo}${t.dash}${t.d}${t.sep}${t.h}:${t.mi}:${t.s}${t.frac}${t.zone}`);
    fc.assert(
      fc.property(stamp, fc.constantFrom(undefined, 0, 540, -300), (text, offset) => {
        assert.equal(parseSourceTime(text, offset), parseSourceTimeGeneral(text, offset), text);
      }),
      { numRuns: 20000 },
    );
    // Consecutive times of one month share its day count: a change of month (or of year 0-99, read as 19xx) must not reuse it.
    for (const t of ['2025-01-31 23:59:59Z', '2025-02-01 00:00:00Z', '0099-03-01 00:00:00Z', '1999-03-01 00:00:00Z', '2024-02-29 12:00:00.5+09']) {
      assert.equal(parseSourceTime(t, undefined), parseSourceTimeGeneral(t, undefined), t);
    }
  });
});
