/**
 * The secondary's local copy, against Sakimori's RPZ provider on loopback: written after
 * each transfer (AXFR and IXFR), atomically; a restart with the primary down serves the
 * copy (logged at warn, status fromCopy), keeps retrying, and asks for IXFR from the
 * copy's serial once the primary is back; a copy older than the SOA expire time is
 * marked expired at once; a damaged copy is refused with a reason and the secondary waits
 * for the primary. Also: NOTIFY accepted from a primary given by host name.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../core/index.ts';
import { PolicyEngine, RpzZone } from '../policy/index.ts';
import { RRType } from '../wire/index.ts';
import { editZoneFile, RpzProvider } from '../rpz-provider/index.ts';
import { engineTarget, NotifyListener, readZoneCopy, requestTransfer, SecondaryZone, type TransferRequest, type XfrLogger } from './index.ts';

const ZONE = 'copy.rpz.test';
let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'sakimori-zone-copy-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function writeZone(file: string, serial: number, names: string[]): void {
  writeFileSync(file, [`$ORIGIN ${ZONE}.`, '$TTL 60', `@ SOA localhost. hostmaster.localhost. ${serial} 3600 600 86400 60`, '@ NS localhost.', ...names.map((n) => `${n} CNAME .`), ''].join('\n'));
}

function logger(lines: string[]): XfrLogger {
  const at = (level: string) => (o: object, m?: string) => void lines.push(`${level} ${m ?? ''} ${JSON.stringify(o)}`);
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

const action = (e: PolicyEngine, name: string) => e.decide(name, undefined, RRType.A).action;

async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('SecondaryZone local copy', () => {
  it('is written after AXFR and IXFR; a restart with the primary down serves it, then IXFR from its serial when the primary returns', async () => {
    const file = join(dir, 'feed.zone');
    const copy = join(dir, 'data', 'zones', `${ZONE}.zone`);
    writeZone(file, 1, ['a.example', 'b.example']);
    let provider = new RpzProvider({ listen: { host: '127.0.0.1', port: 0 }, zones: [{ name: ZONE, file }], logger: logger([]), watchIntervalMs: 60_000 });
    await provider.start();
    const primary = provider.address;
    const engine1 = new PolicyEngine({ zones: [new RpzZone(ZONE)] });
    const sec1 = new SecondaryZone({ zone: ZONE, primary, copyFile: copy, logger: logger([]) });
    await sec1.start(engineTarget(engine1, ZONE));
    await sec1.copyWritten();
    let c = readZoneCopy(copy, ZONE);
    assert.ok(c && !('error' in c), JSON.stringify(c));
    assert.equal(c.soa.data.kind === 'SOA' && c.soa.data.serial, 1);
    assert.deepEqual(c.records.map((r) => r.name).sort(), [`a.example.${ZONE}`, `b.example.${ZONE}`]);

    await editZoneFile({ zone: ZONE, file, edits: [{ op: 'add', name: 'c.example', action: 'drop' }, { op: 'remove', name: 'a.example' }], actor: 'test' });
    await provider.reload(ZONE);
    await sec1.refresh();
    assert.equal(sec1.status().transfers.ixfr, 1);
    await sec1.stop();
    c = readZoneCopy(copy, ZONE);
    assert.ok(c && !('error' in c));
    assert.equal(c.soa.data.kind === 'SOA' && c.soa.data.serial, 2, 'the copy follows the IXFR');
    assert.deepEqual(c.records.map((r) => r.name).sort(), [`b.example.${ZONE}`, `c.example.${ZONE}`]);
    assert.deepEqual(readdirSync(join(dir, 'data', 'zones')), [`${ZONE}.zone`], 'no temporary file left');
    await provider.stop();

    // Restart with the primary down: the copy is served.
    const lines: string[] = [];
    const requests: string[] = [];
    const transfer = (p: typeof primary, req: TransferRequest) => {
      requests.push(`${req.type}${req.soa?.data.kind === 'SOA' ? ` from ${req.soa.data.serial}` : ''}`);
      return requestTransfer(p, { ...req, timeoutMs: 2000 });
    };
    const engine2 = new PolicyEngine({ zones: [new RpzZone(ZONE)] });
    const sec2 = new SecondaryZone({ zone: ZONE, primary, copyFile: copy, logger: logger(lines), transfer, minRefreshMs: 100, maxRefreshMs: 200 });
    try {
      await sec2.start(engineTarget(engine2, ZONE));
      assert.equal(action(engine2, 'c.example'), 'drop');
      assert.equal(action(engine2, 'b.example'), 'nxdomain');
      assert.equal(action(engine2, 'a.example'), 'none');
      const st = sec2.status();
      assert.equal(st.fromCopy, true);
      assert.equal(st.serial, 2);
      assert.equal(st.expired, false);
      assert.ok(st.lastError?.[0], 'the failed refresh is in the status');
      assert.ok(lines.some((l) => l.startsWith('warn the primary is unreachable; serving the local copy')), lines.join('\n'));
      assert.equal(requests[0], 'IXFR from 2', 'the first try asks for the changes since the copy');

      // The primary comes back, at serial 3, on the same address.
      await editZoneFile({ zone: ZONE, file, edits: [{ op: 'add', name: 'd.example', action: 'nxdomain' }], actor: 'test' });
      provider = new RpzProvider({ listen: primary, zones: [{ name: ZONE, file }], logger: logger([]), watchIntervalMs: 60_000 });
      await provider.start();
      await until(() => sec2.status().serial === 3);
      assert.equal(action(engine2, 'd.example'), 'nxdomain');
      assert.equal(sec2.status().fromCopy, false);
      assert.ok(requests.every((r) => r === 'IXFR from 2' || r === 'IXFR from 3'), requests.join(', '));
      await sec2.copyWritten();
    } finally {
      await sec2.stop();
      await provider.stop();
    }
    c = readZoneCopy(copy, ZONE);
    assert.ok(c && !('error' in c));
    assert.equal(c.soa.data.kind === 'SOA' && c.soa.data.serial, 3);
  });

  it('a copy past the SOA expire time is marked expired at once; a damaged copy is refused with a reason', async () => {
    const copy = join(dir, 'old', `${ZONE}.zone`);
    const file = join(dir, 'old.zone');
    writeZone(file, 7, ['x.example']);
    const provider = new RpzProvider({ listen: { host: '127.0.0.1', port: 0 }, zones: [{ name: ZONE, file }], logger: logger([]), watchIntervalMs: 60_000 });
    await provider.start();
    const primary = provider.address;
    const first = new SecondaryZone({ zone: ZONE, primary, copyFile: copy, logger: logger([]) });
    await first.start(engineTarget(new PolicyEngine({ zones: [new RpzZone(ZONE)] }), ZONE));
    await first.stop();
    await provider.stop();

    const clock = new ManualClock(Date.now() + 2 * 86_400_000); // two days later; expire is one day
    const lines: string[] = [];
    const engine = new PolicyEngine({ zones: [new RpzZone(ZONE)] });
    const later = new SecondaryZone({ zone: ZONE, primary, copyFile: copy, logger: logger(lines), clock, transfer: (p, req) => requestTransfer(p, { ...req, timeoutMs: 1000 }) });
    try {
      await later.start(engineTarget(engine, ZONE));
      assert.equal(action(engine, 'x.example'), 'nxdomain', 'the expired copy stays in force');
      assert.equal(later.status().expired, true);
      assert.equal(lines.filter((l) => l.startsWith('error policy zone expired')).length, 1, lines.join('\n'));
    } finally {
      await later.stop();
    }

    // Cut short: refused, nothing loaded.
    const bytes = readFileSync(copy);
    writeFileSync(copy, bytes.subarray(0, bytes.length - 20));
    const r = readZoneCopy(copy, ZONE);
    assert.ok(r && 'error' in r);
    assert.match(r.error, /cut short|does not decode/);
    assert.match((readZoneCopy(copy, 'other.zone') as { error: string }).error, /holds zone copy\.rpz\.test, not other\.zone/);
    assert.equal(readZoneCopy(join(dir, 'none'), ZONE), undefined);
    const lines2: string[] = [];
    const engine2 = new PolicyEngine({ zones: [new RpzZone(ZONE)] });
    const sec = new SecondaryZone({ zone: ZONE, primary, copyFile: copy, logger: logger(lines2), transfer: (p, req) => requestTransfer(p, { ...req, timeoutMs: 1000 }) });
    try {
      await sec.start(engineTarget(engine2, ZONE));
      assert.equal(sec.status().serial, undefined);
      assert.ok(lines2.some((l) => l.startsWith('warn the local copy of the zone cannot be used')), lines2.join('\n'));
    } finally {
      await sec.stop();
    }
    assert.ok(existsSync(copy));
  });
});

describe('SecondaryZone local copy: writes are coalesced', () => {
  it('changes within copyIntervalMs of the last write wait for the next one; stop() writes at once', async () => {
    const file = join(dir, 'burst.zone');
    const copy = join(dir, 'burst', `${ZONE}.zone`);
    writeZone(file, 1, ['a.example']);
    const provider = new RpzProvider({ listen: { host: '127.0.0.1', port: 0 }, zones: [{ name: ZONE, file }], logger: logger([]), watchIntervalMs: 60_000 });
    await provider.start();
    const sec = new SecondaryZone({ zone: ZONE, primary: provider.address, copyFile: copy, copyIntervalMs: 3_600_000, logger: logger([]) });
    const serialOnDisk = () => {
      const c = readZoneCopy(copy, ZONE);
      return c && !('error' in c) && c.soa.data.kind === 'SOA' ? c.soa.data.serial : undefined;
    };
    try {
      await sec.start(engineTarget(new PolicyEngine({ zones: [new RpzZone(ZONE)] }), ZONE));
      await until(() => serialOnDisk() === 1);
      // An up-to-date refresh records the contact in the copy's mtime (where the expire timer runs from after a restart).
      const old = Date.now() / 1000 - 3 * 86_400;
      utimesSync(copy, old, old);
      await sec.refresh();
      await until(() => statSync(copy).mtimeMs > Date.now() - 60_000);
      const c = readZoneCopy(copy, ZONE);
      assert.ok(c && !('error' in c) && Date.now() - c.lastContactAt < 60_000);
      for (const n of ['b.example', 'c.example']) {
        await editZoneFile({ zone: ZONE, file, edits: [{ op: 'add', name: n, action: 'drop' }], actor: 'test' });
        await provider.reload(ZONE);
        await sec.refresh();
      }
      assert.equal(sec.status().serial, 3);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(serialOnDisk(), 1, 'the burst waits for the interval');
    } finally {
      await sec.stop();
      await provider.stop();
    }
    assert.equal(serialOnDisk(), 3, 'stop() wrote the last version');
  });
});

describe('NOTIFY from a primary given by host name', () => {
  it('resolves the name and takes NOTIFY from its address', async () => {
    const file = join(dir, 'named.zone');
    writeZone(file, 1, ['a.example']);
    const listener: NotifyListener = new NotifyListener({ host: '127.0.0.1', port: 0 }, (): SecondaryZone[] => [sec]);
    await listener.start();
    const provider = new RpzProvider({ listen: { host: '127.0.0.1', port: 0 }, zones: [{ name: ZONE, file }], notify: [listener.address], notifyFirstIntervalMs: 100, logger: logger([]), watchIntervalMs: 60_000 });
    await provider.start();
    const engine = new PolicyEngine({ zones: [new RpzZone(ZONE)] });
    const lines: string[] = [];
    const sec: SecondaryZone = new SecondaryZone({ zone: ZONE, primary: { host: 'localhost', port: provider.address.port }, logger: logger(lines), minRefreshMs: 3_600_000, maxRefreshMs: 3_600_000 });
    try {
      await sec.start(engineTarget(engine, ZONE));
      assert.ok(sec.primaryAddresses.includes('127.0.0.1'), sec.primaryAddresses.join(', '));
      await editZoneFile({ zone: ZONE, file, edits: [{ op: 'add', name: 'n.example', action: 'drop' }], actor: 'test' });
      await provider.reload(ZONE);
      await until(() => action(engine, 'n.example') === 'drop');
      assert.ok(listener.received >= 1);
      assert.equal(sec.status().transfers.ixfr, 1, 'the NOTIFY, not a timer, brought the change');
    } finally {
      await sec.stop();
      await provider.stop();
      await listener.stop();
    }
  });
});
