/**
 * SecondaryZone, the firewall's zone pulled from a primary, against Sakimori's own RPZ
 * provider on loopback: AXFR at start, NOTIFY then IXFR into the policy engine, the
 * fall-backs (IXFR that does not apply, a primary that is down, a zone with bad records),
 * and who may send NOTIFY.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../core/index.ts';
import { PolicyEngine, RpzZone, type ZoneRecord } from '../policy/index.ts';
import { Opcode, RCode, RRType } from '../wire/index.ts';
import { editZoneFile, RpzProvider } from '../rpz-provider/index.ts';
import { answerNotify, engineTarget, NotifyListener, queryMessage, requestTransfer, SecondaryZone, udpExchange, type TransferResult, type XfrLogger } from './index.ts';

const quiet: XfrLogger = { debug() {}, info() {}, warn() {}, error() {} };
const ZONE = 'feed.rpz.test';
let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'sakimori-secondary-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function writeZone(file: string, serial: number, names: string[]): void {
  writeFileSync(file, [`$ORIGIN ${ZONE}.`, '$TTL 60', `@ SOA localhost. hostmaster.localhost. ${serial} 3600 600 86400 60`, '@ NS localhost.', ...names.map((n) => `${n} CNAME .`), ''].join('\n'));
}

function engineWith(zone: string): PolicyEngine {
  return new PolicyEngine({ zones: [new RpzZone(zone)] });
}

const action = (e: PolicyEngine, name: string) => e.decide(name, undefined, RRType.A).action;

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('SecondaryZone', () => {
  it('pulls the zone by AXFR, then takes NOTIFY and applies the change by IXFR', async () => {
    const file = join(dir, 'feed.zone');
    writeZone(file, 1, ['c2.example', 'old.example']);
    const listener: NotifyListener = new NotifyListener({ host: '127.0.0.1', port: 0 }, (): SecondaryZone[] => [sec]);
    await listener.start();
    const provider: RpzProvider = new RpzProvider({ listen: { host: '127.0.0.1', port: 0 }, zones: [{ name: ZONE, file }], notify: [listener.address], notifyFirstIntervalMs: 100, logger: quiet, watchIntervalMs: 60_000 });
    await provider.start();
    const engine = engineWith(ZONE);
    const updates: string[] = [];
    const sec: SecondaryZone = new SecondaryZone({ zone: ZONE, primary: provider.address, logger: quiet, onUpdate: (u) => updates.push(`${u.kind} ${u.fromSerial ?? '-'}->${u.serial}`) });
    try {
      await sec.start(engineTarget(engine, ZONE));
      assert.equal(action(engine, 'c2.example'), 'nxdomain');
      assert.equal(action(engine, 'fresh.example'), 'none');
      assert.equal(sec.status().serial, 1);

      await editZoneFile({ zone: ZONE, file, edits: [{ op: 'add', name: 'fresh.example', action: 'drop' }, { op: 'remove', name: 'old.example' }], actor: 'test' });
      const t0 = Date.now();
      await provider.reload(ZONE);
      await until(() => action(engine, 'fresh.example') === 'drop');
      const ms = Date.now() - t0;
      assert.ok(ms < 3000, `took ${ms} ms`);
      assert.equal(action(engine, 'old.example'), 'none');
      assert.equal(action(engine, 'c2.example'), 'nxdomain');
      assert.equal(sec.status().serial, 2);
      assert.equal(sec.status().transfers.ixfr, 1);
      assert.equal(provider.counters.ixfrIncremental, 1, 'the primary served an incremental IXFR');
      assert.ok(updates.includes('IXFR 1->2'), updates.join(', '));
      assert.ok(listener.received >= 1);
      const st = sec.status();
      assert.equal(st.source, `primary ${provider.address.host}:${provider.address.port}`);
      assert.equal(st.reloads, 2);
    } finally {
      await sec.stop();
      await provider.stop();
      await listener.stop();
    }
  });

  it('falls back to AXFR when the differences do not apply, and keeps the policy when the primary is down', async () => {
    const file = join(dir, 'fallback.zone');
    writeZone(file, 10, ['a.example']);
    const provider = new RpzProvider({ listen: { host: '127.0.0.1', port: 0 }, zones: [{ name: ZONE, file }], logger: quiet, watchIntervalMs: 60_000 });
    await provider.start();
    const engine = engineWith(ZONE);
    let lie = false;
    let down = false;
    const transfer = async (primary: typeof provider.address, req: Parameters<typeof requestTransfer>[1]): Promise<TransferResult> => {
      if (down) throw new Error('connect ECONNREFUSED');
      const r = await requestTransfer(primary, req);
      if (lie && r.outcome.kind === 'incremental') {
        // A difference that starts from a serial the secondary does not have.
        const d = r.outcome.diffs[0]!;
        const from = { ...d.from, data: { ...(d.from.data as Extract<ZoneRecord['data'], { kind: 'SOA' }>), serial: 9 } };
        return { ...r, outcome: { ...r.outcome, diffs: [{ ...d, from }] } };
      }
      return r;
    };
    const sec = new SecondaryZone({ zone: ZONE, primary: provider.address, logger: quiet, transfer });
    try {
      await sec.start(engineTarget(engine, ZONE));
      lie = true;
      await editZoneFile({ zone: ZONE, file, edits: [{ op: 'add', name: 'b.example', action: 'nxdomain' }], actor: 'test' });
      await provider.reload(ZONE);
      await sec.refresh();
      assert.equal(action(engine, 'b.example'), 'nxdomain', 'the whole zone came instead');
      assert.deepEqual(sec.status().transfers, { axfr: 2, ixfr: 0, upToDate: 0, failed: 0 });
      down = true;
      await sec.refresh();
      assert.equal(action(engine, 'b.example'), 'nxdomain', 'policy kept while the primary is down');
      assert.match(sec.status().lastError?.[0] ?? '', /ECONNREFUSED/);
      assert.equal(sec.status().transfers.failed, 1);
    } finally {
      await sec.stop();
      await provider.stop();
    }
  });

  it('refuses a transferred zone with bad records and keeps the policy in force', async () => {
    const engine = engineWith(ZONE);
    const soa: ZoneRecord = { name: ZONE, type: RRType.SOA, ttl: 60, data: { kind: 'SOA', mname: 'a', rname: 'b', serial: 1, refresh: 60, retry: 60, expire: 600, minimum: 60 } };
    const good: ZoneRecord = { name: `x.example.${ZONE}`, type: RRType.CNAME, ttl: 60, data: { kind: 'CNAME', cname: '.' } };
    let records = [good];
    const transfer = async (): Promise<TransferResult> => ({ outcome: { kind: 'full', soa: { ...soa, data: { ...(soa.data as Extract<ZoneRecord['data'], { kind: 'SOA' }>), serial: records.length } }, records }, messages: 1, records: records.length + 2, bytes: 0 });
    const sec = new SecondaryZone({ zone: ZONE, primary: { host: '127.0.0.1', port: 9 }, logger: quiet, transfer });
    try {
      await sec.start(engineTarget(engine, ZONE));
      assert.equal(action(engine, 'x.example'), 'nxdomain');
      // A CNAME and an A at one name cannot both be (RFC 1034 §3.6.2): the zone is refused.
      records = [good, { name: `x.example.${ZONE}`, type: RRType.A, ttl: 60, data: { kind: 'A', address: '192.0.2.1' } }];
      await sec.refresh();
      assert.equal(action(engine, 'x.example'), 'nxdomain');
      assert.match(sec.status().lastError?.[0] ?? '', /bad record/);
    } finally {
      await sec.stop();
    }
  });

  it('starts without a reachable primary (retrying), unless told to require the first transfer', async () => {
    const engine = engineWith(ZONE);
    const dead = { host: '127.0.0.1', port: 9 };
    const sec = new SecondaryZone({ zone: ZONE, primary: dead, logger: quiet, timeoutMs: 500 });
    await sec.start(engineTarget(engine, ZONE));
    assert.equal(sec.status().serial, undefined);
    assert.ok(sec.status().lastError);
    await sec.stop();
    const strict = new SecondaryZone({ zone: ZONE, primary: dead, logger: quiet, timeoutMs: 500, requireFirstTransfer: true });
    await assert.rejects(strict.start(engineTarget(engine, ZONE)), /first transfer/);
  });
});

describe('NOTIFY to a secondary', () => {
  const receiver = { zone: ZONE, primary: { host: '127.0.0.1', port: 53 }, notified: [] as (number | undefined)[], notify(serial?: number) { this.notified.push(serial); } };

  it('is accepted from the primary only, for zones it pulls', () => {
    const q = queryMessage(ZONE, RRType.SOA, Opcode.NOTIFY);
    assert.equal(answerNotify(q, '127.0.0.1', [receiver]).reply.header.rcode, RCode.NOERROR);
    assert.equal(answerNotify(q, '::ffff:127.0.0.1', [receiver]).reply.header.rcode, RCode.NOERROR);
    assert.equal(answerNotify(q, '192.0.2.7', [receiver]).reply.header.rcode, RCode.REFUSED);
    assert.equal(answerNotify(queryMessage('other.test', RRType.SOA, Opcode.NOTIFY), '127.0.0.1', [receiver]).reply.header.rcode, RCode.REFUSED);
    assert.equal(answerNotify(queryMessage(ZONE, RRType.A, Opcode.NOTIFY), '127.0.0.1', [receiver]).reply.header.rcode, RCode.FORMERR);
    assert.equal(receiver.notified.length, 2);
  });

  it('gets an answer over UDP from the listener', async () => {
    const l = new NotifyListener({ host: '127.0.0.1', port: 0 }, () => [receiver]);
    await l.start();
    try {
      const r = await udpExchange(l.address, queryMessage(ZONE, RRType.SOA, Opcode.NOTIFY));
      assert.equal(r.header.opcode, Opcode.NOTIFY);
      assert.equal(r.header.rcode, RCode.NOERROR);
      assert.equal(r.header.aa, true);
    } finally {
      await l.stop();
    }
  });

  it('past the SOA expire time without the primary: marked expired, logged once at error level, the policy stays enforced; the next success clears it', async () => {
    const file = join(dir, 'expire.zone');
    writeZone(file, 1, ['c2.example']); // SOA expire 86400 s
    const provider = new RpzProvider({ listen: { host: '127.0.0.1', port: 0 }, zones: [{ name: ZONE, file }], logger: quiet, watchIntervalMs: 60_000 });
    await provider.start();
    const primary = provider.address;
    const clock = new ManualClock(1_000_000);
    const errors: string[] = [];
    const logger: XfrLogger = { ...quiet, error: (_o, m) => errors.push(m ?? '') };
    const engine = engineWith(ZONE);
    const sec = new SecondaryZone({ zone: ZONE, primary, logger, clock, timeoutMs: 1000 });
    let again: RpzProvider | undefined;
    try {
      await sec.start(engineTarget(engine, ZONE));
      assert.equal(action(engine, 'c2.example'), 'nxdomain');
      await provider.stop();
      clock.advance(86_400_000 - 1000);
      await sec.refresh();
      assert.equal(sec.status().expired, false, 'not yet past expire');
      clock.advance(2000);
      await sec.refresh();
      await sec.refresh();
      assert.equal(sec.status().expired, true);
      assert.equal(errors.filter((m) => /expired/.test(m)).length, 1, `logged once: ${errors.join(' | ')}`);
      assert.equal(action(engine, 'c2.example'), 'nxdomain', 'an expired zone is still enforced');
      again = new RpzProvider({ listen: primary, zones: [{ name: ZONE, file }], logger: quiet, watchIntervalMs: 60_000 });
      await again.start();
      await sec.refresh();
      assert.equal(sec.status().expired, false);
      assert.equal(sec.status().lastError, undefined);
    } finally {
      await sec.stop();
      await again?.stop();
    }
  });
});
