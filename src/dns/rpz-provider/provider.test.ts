/**
 * The provider on the wire, on loopback: AXFR of a large zone over several messages,
 * IXFR from a journal of several versions (in memory and after a restart, from the
 * store), IXFR from beyond the journal (a full answer), IXFR and AXFR over UDP, NOTIFY
 * sent and retried, bad requests answered with FORMERR/REFUSED/NOTIMP while the server
 * keeps serving, and zone files refused with the reason. `dig` (Debian's dnsutils) checks
 * the answers as a real client reads them.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
import { mkdtempSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { openStore, type Store } from '../../store/index.ts';
import { decodeMessage, encodeMessage, Opcode, RCode, RRClass, RRType, type DnsMessage } from '../wire/index.ts';
import { frameMessage, queryMessage, requestTransfer, TcpMessageReader, udpExchange, type XfrLogger } from '../zone-transfer/index.ts';
import { editZoneFile, JournalStore, RpzProvider, rpzProviderMigrations, ZoneContent, type RpzProviderOptions } from './index.ts';

const run = promisify(execFile);
const quiet: XfrLogger = { debug() {}, info() {}, warn() {}, error() {} };
const ZONE = 'cc.rpz.test';
let dir: string;
let store: Store;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sakimori-rpz-'));
  store = await openStore('sqlite::memory:');
  await store.migrate(rpzProviderMigrations);
});
after(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

function zoneText(serial: number, names: Iterable<string>, extra = ''): string {
  const lines = [`$ORIGIN ${ZONE}.`, '$TTL 300', `@ SOA localhost. hostmaster.localhost. ${serial} 3600 600 86400 300`, '@ NS localhost.'];
  for (const n of names) lines.push(`${n} CNAME .`);
  return `${lines.join('\n')}\n${extra}`;
}

function names(n: number, prefix = 'n'): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i}.example`);
}

async function provider(file: string, opts: Partial<RpzProviderOptions> = {}): Promise<RpzProvider> {
  const p = new RpzProvider({ listen: { host: '127.0.0.1', port: 0 }, zones: [{ name: ZONE, file }], logger: quiet, journalStore: new JournalStore(store), watchIntervalMs: 60_000, ...opts });
  await p.start();
  return p;
}

function ixfrQuery(serial: number, zone = ZONE): DnsMessage {
  const q = queryMessage(zone, RRType.IXFR);
  q.authority.push({ name: zone, type: RRType.SOA, class: RRClass.IN, ttl: 0, data: { kind: 'SOA', mname: 'x', rname: 'x', serial, refresh: 0, retry: 0, expire: 0, minimum: 0 } });
  return q;
}

/** One UDP exchange with raw bytes; undefined when nothing comes back. */
function udpRaw(port: number, bytes: Uint8Array, timeoutMs = 700): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    const t = setTimeout(() => {
      s.close();
      resolve(undefined);
    }, timeoutMs);
    s.on('message', (m) => {
      clearTimeout(t);
      s.close();
      resolve(m);
    });
    s.send(bytes, port, '127.0.0.1');
  });
}

/** Sends raw bytes over TCP and collects framed answers until `count` or the peer closes or times out. */
function tcpRaw(port: number, bytes: Uint8Array, count: number, timeoutMs = 1500): Promise<{ messages: Buffer[]; closed: boolean }> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    const r = new TcpMessageReader();
    const messages: Buffer[] = [];
    let closed = false;
    const done = () => {
      clearTimeout(t);
      s.destroy();
      resolve({ messages, closed });
    };
    const t = setTimeout(done, timeoutMs);
    s.on('connect', () => s.write(bytes));
    s.on('data', (c) => {
      messages.push(...r.push(c));
      if (messages.length >= count) done();
    });
    s.on('close', () => {
      closed = true;
      done();
    });
    s.on('error', () => undefined);
  });
}

const rcodeOf = (b: Uint8Array | undefined) => (b ? b[3]! & 0x0f : -1);

describe('AXFR', () => {
  it('sends a zone of 12,000 names over several messages, and dig reads all of it', async () => {
    const file = join(dir, 'big.zone');
    writeFileSync(file, zoneText(7, names(12_000)));
    const p = await provider(file);
    try {
      const r = await requestTransfer(p.address, { zone: ZONE, type: 'AXFR' });
      assert.equal(r.outcome.kind, 'full');
      assert.ok(r.outcome.kind === 'full' && r.outcome.records.length === 12_001, 'names + apex NS');
      assert.ok(r.messages >= 10, `${r.messages} messages`);
      const dig = await run('dig', ['+noall', '+answer', '+nocmd', `@127.0.0.1`, '-p', String(p.address.port), ZONE, 'AXFR'], { maxBuffer: 64 << 20 });
      const lines = dig.stdout.trim().split('\n');
      assert.equal(lines.length, 12_003, 'SOA + NS + 12,000 + SOA');
      assert.match(lines[0]!, /\tSOA\t/);
      assert.match(lines.at(-1)!, /\tSOA\t/);
      assert.equal(p.counters.axfr, 2);
    } finally {
      await p.stop();
    }
  });
});

describe('IXFR and the journal', () => {
  const file = () => join(dir, 'ixfr.zone');
  let p: RpzProvider;
  const versions: ZoneContent[] = [];

  before(async () => {
    writeFileSync(file(), zoneText(100, names(50)));
    p = await provider(file());
    // Copies: the provider applies `rpz add` edits to the served version in place.
    versions.push(p.zone(ZONE)!.content.clone());
    const steps = [
      [{ op: 'add' as const, name: 'new1.example', action: 'nxdomain' }],
      [{ op: 'remove' as const, name: 'n3.example' }, { op: 'add' as const, name: 'n4.example', action: 'drop' }],
      [{ op: 'add' as const, name: 'warn.example', action: 'redirect:192.0.2.80', subdomains: true }],
    ];
    for (const edits of steps) {
      await editZoneFile({ zone: ZONE, file: file(), edits, actor: 'test', journal: new JournalStore(store) });
      const r = await p.reload(ZONE);
      assert.equal(r.result, 'updated');
      versions.push(p.zone(ZONE)!.content.clone());
    }
  });
  after(() => p.stop());

  it('answers with the differences from each older version, oldest first, and they rebuild the zone', async () => {
    assert.deepEqual(versions.map((v) => v.serial), [100, 101, 102, 103]);
    for (let from = 0; from < 3; from++) {
      const r = await requestTransfer(p.address, { zone: ZONE, type: 'IXFR', soa: versions[from]!.soa });
      assert.equal(r.outcome.kind, 'incremental', `from ${versions[from]!.serial}`);
      if (r.outcome.kind !== 'incremental') continue;
      assert.equal(r.outcome.diffs.length, 3 - from);
      const z = versions[from]!.clone();
      for (const d of r.outcome.diffs) z.apply(d);
      assert.ok(z.sameAs(versions[3]!), `IXFR from ${versions[from]!.serial} rebuilds serial 103`);
    }
    assert.equal(p.counters.ixfrIncremental, 3);
  });

  it('answers an up-to-date (or newer) client with the SOA alone', async () => {
    for (const serial of [103, 104]) {
      const r = await requestTransfer(p.address, { zone: ZONE, type: 'IXFR', soa: versions[3]!.soaWithSerial(serial) });
      assert.equal(r.outcome.kind, 'up-to-date');
    }
  });

  it('answers a serial older than the journal with the whole zone (AXFR form)', async () => {
    const r = await requestTransfer(p.address, { zone: ZONE, type: 'IXFR', soa: versions[0]!.soaWithSerial(42) });
    assert.equal(r.outcome.kind, 'full');
    assert.ok(r.outcome.kind === 'full' && r.outcome.records.length === versions[3]!.size);
    assert.equal(p.counters.ixfrFull, 1);
  });

  it('over UDP: the differences when they fit, else the SOA alone; AXFR over UDP gets TC', async () => {
    const small = await udpExchange(p.address, ixfrQuery(102));
    assert.equal(small.header.rcode, RCode.NOERROR);
    assert.ok(small.answers.length > 2, 'incremental in one datagram');
    assert.equal(small.answers[1]!.type, RRType.SOA);
    const old = await udpExchange(p.address, ixfrQuery(42));
    assert.equal(old.answers.length, 1, 'full answer does not go over UDP: SOA only, ask over TCP');
    const axfr = await udpExchange(p.address, queryMessage(ZONE, RRType.AXFR));
    assert.equal(axfr.header.tc, true);
    assert.equal(axfr.answers.length, 0);
    const dig = await run('dig', ['+noall', '+answer', '@127.0.0.1', '-p', String(p.address.port), ZONE, 'IXFR=101', '+notcp']);
    assert.match(dig.stdout, /warn\.example\.cc\.rpz\.test\.\s+300\s+IN\s+A\s+192\.0\.2\.80/);
  });

  it('keeps the journal across a restart: IXFR still incremental from the store', async () => {
    await p.stop();
    p = await provider(file());
    assert.equal(p.zone(ZONE)!.journal.length, 3);
    const r = await requestTransfer(p.address, { zone: ZONE, type: 'IXFR', soa: versions[0]!.soa });
    assert.equal(r.outcome.kind, 'incremental');
    assert.ok(r.outcome.kind === 'incremental' && r.outcome.diffs.length === 3);
  });

  it('does not trust a journal the file was edited behind: the chain breaks, secondaries get the whole zone', async () => {
    await p.stop();
    writeFileSync(file(), zoneText(103, names(5))); // same serial, other content, while stopped
    p = await provider(file());
    assert.equal(p.zone(ZONE)!.journal.length, 0);
    const r = await requestTransfer(p.address, { zone: ZONE, type: 'IXFR', soa: versions[2]!.soa });
    assert.equal(r.outcome.kind, 'full');
  });
});

describe('rpz add in place', () => {
  it('applies the journaled step to the served version without reading the file, and an AXFR it interrupts is cut, not mixed', async () => {
    const file = join(dir, 'inplace.zone');
    writeFileSync(file, zoneText(7, names(20_000)));
    const p = await provider(file);
    try {
      const edit = (name: string) => editZoneFile({ zone: ZONE, file, edits: [{ op: 'add', name, action: 'nxdomain' }], actor: 'test', journal: new JournalStore(store) });
      await edit('first.example'); // the hand-written file is written whole once
      assert.equal((await p.reload(ZONE)).result, 'updated');
      const served = p.zone(ZONE)!.content;
      // An AXFR in flight while the next edit lands: the socket paces it, so it is still reading.
      const axfr = requestTransfer(p.address, { zone: ZONE, type: 'AXFR' }).then((r) => r, (e: Error) => e);
      await new Promise((r) => setTimeout(r, 5));
      await edit('second.example');
      const r = await p.reload(ZONE);
      assert.equal(r.result, 'updated');
      assert.equal(p.zone(ZONE)!.content, served, 'the same version object, changed in place (a full read builds a new one)');
      assert.equal(p.zone(ZONE)!.content.serial, 9);
      assert.ok(p.zone(ZONE)!.content.at(`second.example.${ZONE}`).length === 1);
      const got = await axfr;
      if (got instanceof Error) assert.match(got.message, /closed the connection|before the transfer was complete/);
      else {
        assert.equal(got.outcome.kind, 'full');
        const o = got.outcome.kind === 'full' ? got.outcome : undefined;
        const hasSecond = o!.records.some((x) => x.name === `second.example.${ZONE}`);
        assert.equal(hasSecond, o!.soa.data.kind === 'SOA' && o!.soa.data.serial === 9, 'a whole version, never a mix');
      }
      const ixfr = await requestTransfer(p.address, { zone: ZONE, type: 'IXFR', soa: p.zone(ZONE)!.content.soaWithSerial(8) });
      assert.ok(ixfr.outcome.kind === 'incremental' && ixfr.outcome.diffs.length === 1 && ixfr.outcome.diffs[0]!.adds.length === 1);
    } finally {
      await p.stop();
    }
  });

  it('takes an rpz add from the journal once however many checks race for it: the later ones find it served and read nothing', async () => {
    const file = join(dir, 'race.zone');
    writeFileSync(file, zoneText(3, names(3000)));
    const p = await provider(file);
    try {
      const served = p.zone(ZONE)!.content;
      const edit = (name: string) => editZoneFile({ zone: ZONE, file, edits: [{ op: 'add', name, action: 'nxdomain' }], actor: 'test', journal: new JournalStore(store) });
      // The watch (the lock's removal) and the poll each saw the new file before the
      // first reload had taken it, so both queue one (the second used to read it whole:
      // minutes at 10 M names).
      await edit('whole.example'); // the first edit writes the file whole
      assert.deepEqual((await Promise.all([p.reload(ZONE), p.reload(ZONE), p.reload(ZONE)])).map((r) => r.result), ['updated', 'unchanged', 'unchanged']);
      await edit('inplace.example'); // then in place
      assert.deepEqual((await Promise.all([p.reload(ZONE), p.reload(ZONE)])).map((r) => r.result), ['updated', 'unchanged']);
      assert.equal(p.zone(ZONE)!.content, served, 'both steps applied to the version served, in place');
      assert.equal(p.zone(ZONE)!.content.serial, 5);
      assert.equal(p.counters.fileReads, 0, 'the zone file was never read whole');
    } finally {
      await p.stop();
    }
  });

  it('leaves the file alone while a live rpz add holds its lock, however old the lock (a whole write of 10 M names takes minutes)', async () => {
    const file = join(dir, 'slow-edit.zone');
    writeFileSync(file, zoneText(1, names(2000)));
    const p = await provider(file, { watchIntervalMs: 20 });
    try {
      const lock = `${file}.lock`;
      writeFileSync(lock, `${process.pid}\n`); // this process is alive: the edit is still running
      const old = new Date(Date.now() - 5 * 60_000);
      utimesSync(lock, old, old);
      // The edit's rename lands; its journal step and state file are still to come.
      writeFileSync(`${file}.tmp`, zoneText(2, names(2001)));
      renameSync(`${file}.tmp`, file);
      await new Promise((r) => setTimeout(r, 300)); // polls and the watch come and go
      assert.equal((await p.reload(ZONE)).result, 'unchanged', 'an explicit reload (the bus) waits for the lock too');
      assert.equal(p.zone(ZONE)!.content.serial, 1);
      assert.equal(p.counters.fileReads, 0, 'not read while the edit holds the lock');
      rmSync(lock);
      const until = Date.now() + 5000;
      while (p.zone(ZONE)!.content.serial !== 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      assert.equal(p.zone(ZONE)!.content.serial, 2, 'taken when the lock goes');
      assert.equal(p.counters.fileReads, 1, 'read whole once: this change has no journal step');
    } finally {
      await p.stop();
    }
  });
});

describe('zone file changes', () => {
  it('refuses a file changed without a higher serial, or with an error, and keeps serving the version in force', async () => {
    const file = join(dir, 'refuse.zone');
    writeFileSync(file, zoneText(5, names(3)));
    const p = await provider(file);
    try {
      writeFileSync(file, zoneText(5, names(4)));
      const same = await p.reload(ZONE);
      assert.equal(same.result, 'refused');
      assert.match(same.result === 'refused' ? same.reason : '', /serial 5 is not greater than 5/);
      writeFileSync(file, zoneText(6, names(4), 'bad.example CNAME\n'));
      const bad = await p.reload(ZONE);
      assert.equal(bad.result, 'refused');
      assert.match(bad.result === 'refused' ? bad.reason : '', /refuse\.zone:9: /);
      const h = await p.health();
      assert.equal(h.status, 'degraded');
      assert.equal(p.zone(ZONE)!.content.serial, 5);
      writeFileSync(file, zoneText(6, names(4)));
      const ok = await p.reload(ZONE);
      // The directory watch may have taken the corrected file first (a reload it queued
      // for the bad write can read the new file): then this one finds nothing left to do.
      assert.ok(ok.result === 'updated' || ok.result === 'unchanged', `got ${ok.result}`);
      assert.equal(p.zone(ZONE)!.content.serial, 6);
      assert.equal((await p.health()).status, 'ok');
    } finally {
      await p.stop();
    }
  });

  it('picks up a changed file on its own within the watch interval', async () => {
    const file = join(dir, 'watch.zone');
    writeFileSync(file, zoneText(1, names(2)));
    const p = await provider(file, { watchIntervalMs: 100 });
    try {
      await editZoneFile({ zone: ZONE, file, edits: [{ op: 'add', name: 'late.example', action: 'nxdomain' }], actor: 'test' });
      const until = Date.now() + 5000;
      while (p.zone(ZONE)!.content.serial !== 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      assert.equal(p.zone(ZONE)!.content.serial, 2);
      assert.equal(p.zone(ZONE)!.content.at(`late.example.${ZONE}`).length, 1);
    } finally {
      await p.stop();
    }
  });

  it('will not start on a zone file with errors, naming file:line', async () => {
    const file = join(dir, 'broken.zone');
    writeFileSync(file, `$ORIGIN ${ZONE}.\n@ 300 SOA a. b. 1 2 3 4 5\nx 300 CNAME\n`);
    const p = new RpzProvider({ listen: { host: '127.0.0.1', port: 0 }, zones: [{ name: ZONE, file }], logger: quiet });
    await assert.rejects(p.start(), /broken\.zone:3/);
  });
});

describe('NOTIFY', () => {
  /** A secondary that ignores the first `ignore` NOTIFYs and answers the rest. */
  async function fakeSecondary(ignore: number) {
    const s = createSocket('udp4');
    const seen: DnsMessage[] = [];
    s.on('message', (m, r) => {
      const d = decodeMessage(m);
      if (!d.ok) return;
      seen.push(d.value);
      if (seen.length <= ignore) return;
      s.send(encodeMessage({ ...d.value, header: { ...d.value.header, qr: true } }), r.port, r.address);
    });
    await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
    return { port: s.address().port, seen, close: () => new Promise<void>((r) => s.close(() => r())) };
  }

  it('is sent on a change with the new SOA, retried until answered', async () => {
    const sec = await fakeSecondary(2);
    const file = join(dir, 'notify.zone');
    writeFileSync(file, zoneText(1, names(2)));
    const p = await provider(file, { notify: [{ host: '127.0.0.1', port: sec.port }], notifyFirstIntervalMs: 50, notifyRetries: 5 });
    try {
      // At start, as BIND does; then on a change.
      const wait = async (n: number) => {
        const until = Date.now() + 5000;
        while (p.notifyLog.length < n && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      };
      await wait(1);
      assert.equal(p.notifyLog[0]!.answered, true);
      assert.equal(p.notifyLog[0]!.attempts, 3, 'two ignored, the third answered');
      writeFileSync(file, zoneText(2, names(3)));
      await p.reload(ZONE);
      await wait(2);
      assert.equal(p.notifyLog[1]!.serial, 2);
      const last = sec.seen.at(-1)!;
      assert.equal(last.header.opcode, Opcode.NOTIFY);
      assert.equal(last.header.aa, true);
      assert.equal(last.questions[0]!.type, RRType.SOA);
      assert.ok(last.answers[0]?.data.kind === 'SOA' && last.answers[0].data.serial === 2);
      // Retries of one round carry one ID (RFC 1996 §3.6); each round has its own.
      assert.equal(sec.seen[0]!.header.id, sec.seen[1]!.header.id);
    } finally {
      await p.stop();
      await sec.close();
    }
  });

  it('gives up after the retries when nobody answers, and says so', async () => {
    const sec = await fakeSecondary(1000);
    const file = join(dir, 'notify2.zone');
    writeFileSync(file, zoneText(1, names(2)));
    const p = await provider(file, { notify: [{ host: '127.0.0.1', port: sec.port }], notifyFirstIntervalMs: 20, notifyRetries: 2 });
    try {
      const until = Date.now() + 5000;
      while (p.notifyLog.length < 1 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      assert.equal(p.notifyLog[0]!.answered, false);
      assert.equal(p.notifyLog[0]!.attempts, 3);
      assert.equal(sec.seen.length, 3);
      assert.equal(p.counters.notifiesUnanswered, 1);
    } finally {
      await p.stop();
      await sec.close();
    }
  });

  it('is acknowledged when sent to the provider for a zone it serves, refused otherwise', async () => {
    const file = join(dir, 'notify3.zone');
    writeFileSync(file, zoneText(1, names(1)));
    const p = await provider(file);
    try {
      const n = queryMessage(ZONE, RRType.SOA, Opcode.NOTIFY);
      const ok = await udpExchange(p.address, n);
      assert.equal(ok.header.rcode, RCode.NOERROR);
      assert.equal(ok.header.opcode, Opcode.NOTIFY);
      const other = await udpExchange(p.address, queryMessage('other.test', RRType.SOA, Opcode.NOTIFY));
      assert.equal(other.header.rcode, RCode.REFUSED);
    } finally {
      await p.stop();
    }
  });
});

describe('bad and unwelcome requests', () => {
  it('are answered FORMERR, REFUSED or NOTIMP (or dropped), and the server keeps serving', async () => {
    const file = join(dir, 'bad.zone');
    writeFileSync(file, zoneText(3, names(20)));
    const p = await provider(file, { allowTransfer: ['192.0.2.0/24'] });
    const port = p.address.port;
    try {
      // Not on the transfer list (127.0.0.1 is not in 192.0.2.0/24).
      const refused = await requestTransfer(p.address, { zone: ZONE, type: 'AXFR' }).catch((e: Error) => e);
      assert.match(String(refused), /REFUSED/);
      // A zone not served here.
      assert.equal((await udpExchange(p.address, queryMessage('elsewhere.test', RRType.SOA))).header.rcode, RCode.REFUSED);
      // Garbage after a readable header: FORMERR with the same ID.
      const junk = Buffer.from([0xab, 0xcd, 0x00, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff]);
      const fe = await udpRaw(port, junk);
      assert.equal(rcodeOf(fe), RCode.FORMERR);
      assert.equal(fe!.readUInt16BE(0), 0xabcd);
      // Too short to have a header: dropped.
      assert.equal(await udpRaw(port, Buffer.from([1, 2, 3]), 300), undefined);
      // A compression loop in the question.
      const loop = Buffer.from([0, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 6, 0, 1]);
      assert.equal(rcodeOf(await udpRaw(port, loop)), RCode.FORMERR);
      // Two questions; IXFR without the client's SOA; UPDATE.
      const two = queryMessage(ZONE, RRType.SOA);
      two.questions.push({ name: ZONE, type: RRType.A, class: RRClass.IN });
      assert.equal((await udpExchange(p.address, two)).header.rcode, RCode.FORMERR);
      assert.equal((await udpExchange(p.address, queryMessage(ZONE, RRType.IXFR))).header.rcode, RCode.FORMERR);
      assert.equal((await udpExchange(p.address, queryMessage(ZONE, RRType.SOA, Opcode.UPDATE))).header.rcode, RCode.NOTIMP);
      // Garbage over TCP: FORMERR when the header is readable, the connection closed when not even that.
      const t1 = await tcpRaw(port, frameMessage(junk), 1);
      assert.equal(rcodeOf(t1.messages[0]), RCode.FORMERR);
      const t2 = await tcpRaw(port, Buffer.from([0, 3, 1, 2, 3]), 1);
      assert.equal(t2.messages.length, 0);
      assert.equal(t2.closed, true);
      // A length prefix that promises more than ever comes: the idle timeout ends it (not tested for time here).
      // Still serving: SOA over UDP and TCP, for anyone.
      const soa = await udpExchange(p.address, queryMessage(ZONE, RRType.SOA));
      assert.equal(soa.header.rcode, RCode.NOERROR);
      assert.equal(soa.header.aa, true);
      assert.ok(soa.answers[0]?.data.kind === 'SOA' && soa.answers[0].data.serial === 3);
      const t3 = await tcpRaw(port, frameMessage(encodeMessage(queryMessage(ZONE, RRType.SOA))), 1);
      assert.equal(rcodeOf(t3.messages[0]), RCode.NOERROR);
      assert.ok(p.counters.refused >= 6, `refused counter ${p.counters.refused}`);
    } finally {
      await p.stop();
    }
  });

  it('closes TCP connections past its limit and keeps serving the ones it has', async () => {
    const file = join(dir, 'conns.zone');
    writeFileSync(file, zoneText(3, names(2)));
    const p = await provider(file, { maxConnections: 2 });
    const socks = [connect(p.address.port, '127.0.0.1'), connect(p.address.port, '127.0.0.1')];
    try {
      await Promise.all(socks.map((s) => new Promise((r) => s.once('connect', r))));
      await new Promise((r) => setTimeout(r, 100));
      const third = await tcpRaw(p.address.port, frameMessage(encodeMessage(queryMessage(ZONE, RRType.SOA))), 1);
      assert.equal(third.messages.length, 0);
      assert.equal(third.closed, true);
      const q = encodeMessage(queryMessage(ZONE, RRType.SOA));
      const got = await new Promise<Buffer[]>((resolve) => {
        const r = new TcpMessageReader();
        socks[0]!.on('data', (c) => resolve(r.push(c)));
        socks[0]!.write(frameMessage(q));
      });
      assert.equal(rcodeOf(got[0]), RCode.NOERROR);
    } finally {
      for (const s of socks) s.destroy();
      await p.stop();
    }
  });

  it('answers record queries inside the zone authoritatively for allowed clients', async () => {
    const file = join(dir, 'query.zone');
    writeFileSync(file, zoneText(3, ['a.example']));
    const p = await provider(file);
    try {
      const hit = await udpExchange(p.address, queryMessage(`a.example.${ZONE}`, RRType.A));
      assert.equal(hit.header.rcode, RCode.NOERROR);
      assert.ok(hit.answers[0]?.data.kind === 'CNAME' && hit.answers[0].data.cname === '.');
      const miss = await udpExchange(p.address, queryMessage(`b.example.${ZONE}`, RRType.A));
      assert.equal(miss.header.rcode, RCode.NXDOMAIN);
      assert.equal(miss.authority[0]?.type, RRType.SOA);
    } finally {
      await p.stop();
    }
  });
});

describe('in the node', () => {
  it('is a part only when zones are configured; reloads at once when the bus names the zone; counts on /metrics', async () => {
    const { MemoryBus } = await import('../../bus/index.ts');
    const { createRegistry } = await import('../../telemetry/index.ts');
    const { rpzProviderParts, POLICY_CHANGED_TOPIC } = await import('./index.ts');
    const rpz = { listen: '127.0.0.1:0', zones: [] as { name: string; file: string }[], notify: [], allowTransfer: ['127.0.0.0/8'], watchInterval: 3_600_000, notifyRetries: 1, notifyRetryInterval: 100 };
    assert.deepEqual(rpzProviderParts({ config: { rpz }, store, logger: quiet }), []);
    const file = join(dir, 'bus.zone');
    writeFileSync(file, zoneText(1, names(2)));
    const bus = new MemoryBus();
    const registry = createRegistry({ processMetrics: false });
    const [part] = rpzProviderParts({ config: { rpz: { ...rpz, zones: [{ name: ZONE, file }] } }, store, bus, logger: quiet, registry });
    const p = part as RpzProvider;
    await p.start();
    try {
      assert.match(p.endpoints()[0]!.url, /^dns:\/\/127\.0\.0\.1:\d+ \(cc\.rpz\.test\)$/);
      await editZoneFile({ zone: ZONE, file, edits: [{ op: 'add', name: 'bus.example', action: 'nxdomain' }], actor: 'test' });
      await bus.publish(POLICY_CHANGED_TOPIC, { zone: ZONE, serial: 2 });
      const until = Date.now() + 3000;
      while (p.zone(ZONE)!.content.serial !== 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      assert.equal(p.zone(ZONE)!.content.serial, 2, 'the watch interval is an hour: the bus did it');
      await requestTransfer(p.address, { zone: ZONE, type: 'AXFR' });
      const text = await registry.metrics();
      assert.match(text, /sakimori_rpz_transfers_total\{zone="cc\.rpz\.test",type="AXFR",style="full"\} 1/);
      assert.match(text, /sakimori_rpz_zone_serial\{zone="cc\.rpz\.test"\} 2/);
      const h = await p.health();
      assert.equal(h.status, 'ok');
    } finally {
      await p.stop();
      await bus.close();
    }
  });
});
