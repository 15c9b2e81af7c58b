/**
 * The cases commands as an operator runs them: subscribers import, reports
 * import (Shadowserver sample), findings list, cases list/show/ack/resolve,
 * and cases notify sending to a real SMTP server (aiosmtpd).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { openStore } from '../src/store/index.ts';
import { AuditLog } from '../src/privacy/index.ts';
import { ALL_MIGRATIONS } from '../src/node/index.ts';
import { makeObservation } from '../src/core/index.ts';
import { CaseBook, InMemoryLocator } from '../src/cases/index.ts';
import { startSmtp, type SmtpPeer } from './peers/smtp.ts';

const BIN = resolve(import.meta.dirname, '../bin/sakimori.js');
const SAMPLES = join(import.meta.dirname, '../../shared/data/shadowserver-samples/intelmq-testdata');

let dir: string;
let smtp: SmtpPeer;

function sakimori(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [BIN, '--config', join(dir, 'sakimori.yaml'), '--log-level', 'warn', ...args], { cwd: dir });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', rej);
    child.on('close', (code) => {
      clearTimeout(t);
      res({ code, stdout, stderr });
    });
  });
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sakimori-cases-cli-'));
  smtp = await startSmtp();
  writeFileSync(
    join(dir, 'sakimori.yaml'),
    `store:\n  url: sqlite:${join(dir, 'sakimori.db')}\nnotify:\n  smtp:\n    host: 127.0.0.1\n    port: ${smtp.port}\n    from: "Example ISP <security@isp.example>"\n  organization: Example ISP\n  portalUrl: https://portal.isp.example\n`,
  );
});
after(async () => {
  await smtp?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('sakimori subscribers / reports / findings / cases', () => {
  it('imports subscribers and a Shadowserver report, keeping unattributed findings with their reason', async () => {
    writeFileSync(join(dir, 'subs.csv'), 'id,login,name,email,language,prefecture,plan\nK001,hanako@isp,山田 花子,hanako@example.jp,ja,北海道,gold\nK002,,No Login,,ja,,\n');
    const s = await sakimori(['subscribers', 'import', 'subs.csv']);
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stdout, /1 subscriber\(s\) imported, 1 bad line\(s\) skipped/);
    assert.match(s.stderr, /subs\.csv:3: has an empty login \(skipped\)/);

    const r = await sakimori(['reports', 'import', join(SAMPLES, 'scan_dns.csv'), '--format', 'shadowserver', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout) as { description: string; observations: number; result: { findings: number; duplicates: number; unattributed: Record<string, number> } };
    assert.match(summary.description, /^Shadowserver report scan_dns/);
    assert.deepEqual([summary.observations, summary.result.findings, summary.result.duplicates], [100, 98, 2]);
    // Nothing here says who held these addresses: every finding is kept, unattributed, with the reason.
    assert.deepEqual(summary.result.unattributed, { unknown: 98 });

    const f = await sakimori(['findings', 'list', '--json', '--unattributed', '--limit', '500']);
    assert.equal(f.code, 0, f.stderr);
    const findings = JSON.parse(f.stdout) as { attribution: string; purpose: string; detail: { reason: string } }[];
    assert.equal(findings.length, 98);
    assert.ok(findings.every((x) => x.attribution === 'unknown' && x.purpose === 'router-survey-notice' && x.detail.reason.length > 0));

    const bad = await sakimori(['reports', 'import', 'subs.csv', '--format', 'shadowserver']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /no Shadowserver report type in the file name "subs\.csv"/);
  });

  it('lists, shows, acknowledges and resolves a case; refuses an impossible transition; notify sends the Japanese notice over SMTP', async () => {
    // A finding attributed through a locator that knows the session (as the attribution index would).
    const store = await openStore(`sqlite:${join(dir, 'sakimori.db')}`);
    await store.migrate(ALL_MIGRATIONS);
    const audit = new AuditLog(store, { flushIntervalMs: 0 });
    const book = new CaseBook(store, audit, new InMemoryLocator([{ ip: '198.51.100.179', login: 'hanako@isp', start: 0 }]));
    const at = Date.parse('2018-04-14T00:14:34Z');
    await book.ingest([makeObservation({ kind: 'open-resolver', source: { name: 'survey', type: 'survey' }, observedAt: new Date(at).toISOString(), network: { ip: '198.51.100.179', port: 53 }, purpose: 'router-survey-notice' })], { actor: 'test' });
    await audit.close();
    await store.close();

    const notify = await sakimori(['cases', 'notify', '--now']);
    assert.equal(notify.code, 0, notify.stderr);
    assert.match(notify.stdout, /sent ntc_\S+ to subscriber K001 \(1 case\(s\)\)/);
    const [mail] = await smtp.waitForMessages(1);
    assert.match(mail!.subject, /【Example ISP】/);
    assert.match(mail!.text, /山田 花子 様[\s\S]*オープンリゾルバー/);

    const list = await sakimori(['cases', 'list', '--json']);
    const cases = JSON.parse(list.stdout) as { id: string; status: string; subscriberId: string; class: string }[];
    assert.deepEqual(cases.map((c) => [c.subscriberId, c.class, c.status]), [['K001', 'open-resolver', 'notified']]);
    const id = cases[0]!.id;

    const ack = await sakimori(['cases', 'ack', id, '--note', 'called the subscriber']);
    assert.equal(ack.code, 0, ack.stderr);
    assert.match(ack.stdout, /acknowledged/);
    const res = await sakimori(['cases', 'resolve', id]);
    assert.equal(res.code, 0, res.stderr);
    const again = await sakimori(['cases', 'ack', id]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, new RegExp(`case ${id} is resolved; it cannot become acknowledged`));

    const show = await sakimori(['cases', 'show', id]);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /opened[\s\S]*notified[\s\S]*acknowledged[\s\S]*called the subscriber[\s\S]*resolved/);
    assert.match(show.stdout, /198\.51\.100\.179:53/);
  });
});
