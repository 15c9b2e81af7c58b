import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SakimoriError } from '../../core/index.ts';
import { openReport, reportTypeFromFileName, SHADOWSERVER_REPORTS, type ReportItem } from './index.ts';

const SHADOWSERVER = join(import.meta.dirname, '../../../../shared/data/shadowserver-samples');
const XARF = join(import.meta.dirname, '../../../../shared/data/xarf-samples');
const SAMPLE = (f: string) => join(SHADOWSERVER, 'intelmq-testdata', f);

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'sakimori-import-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function items(format: string, path: string, opts: { type?: string } = {}) {
  const r = openReport(format, path, opts);
  const out: ReportItem[] = [];
  for await (const i of r.items) out.push(i);
  return { description: r.description, unit: r.unit, obs: out.flatMap((i) => ('observation' in i ? [i.observation] : [])), bad: out.flatMap((i) => ('error' in i ? [i] : [])), skipped: out.flatMap((i) => ('skipped' in i ? [i] : [])) };
}

describe('Shadowserver', () => {
  it('takes the report type from the file name, as Shadowserver names its files', () => {
    assert.deepEqual(reportTypeFromFileName('/x/2019-09-05-scan_dns-asn-as64500.csv'), { type: 'scan_dns' });
    assert.deepEqual(reportTypeFromFileName('2023-01-02-event4_sinkhole_http-jp-geo.csv'), { type: 'event4_sinkhole_http' });
    assert.deepEqual(reportTypeFromFileName('scan_http.csv'), { type: 'scan_http' });
    assert.match((reportTypeFromFileName('2019-09-05-scan_http_proxy-asn.csv') as { error: string }).error, /"scan_http_proxy", which does not lead to subscriber notices/);
    assert.match((reportTypeFromFileName('report.csv') as { error: string }).error, /no Shadowserver report type in the file name/);
  });

  it('every handled type that Shadowserver still publishes has a timestamp and an IP column in its field schema (reports.json)', () => {
    const schema = JSON.parse(readFileSync(join(SHADOWSERVER, 'reports.json'), 'utf8')) as Record<string, { fields: string[] }>;
    const legacy = ['botnet_drone', 'drone_brute_force', 'sinkhole_http_drone'];
    for (const type of Object.keys(SHADOWSERVER_REPORTS)) {
      if (legacy.includes(type)) continue;
      const fields = schema[type]?.fields;
      assert.ok(fields, `${type} is not in reports.json`);
      assert.ok(fields.includes('timestamp') && (fields.includes('ip') || fields.includes('src_ip')), type);
    }
  });

  it('scan_dns: open resolvers for router-survey-notice, UTC times, duplicates share one id', async () => {
    const r = await items('shadowserver', SAMPLE('scan_dns.csv'));
    assert.match(r.description, /scan_dns/);
    assert.equal(r.bad.length, 0);
    assert.equal(r.obs.length, 100);
    const o = r.obs[0]!;
    assert.deepEqual([o.kind, o.purpose, o.source.name, o.observedAt, o.network.ip, o.network.port, o.network.protocol, o.network.asn], ['open-resolver', 'router-survey-notice', 'shadowserver:scan_dns', '2018-04-14T00:14:34.000Z', '198.51.100.179', 53, 'udp', 25255]);
    assert.equal(o.evidence.dns_version, 'dnsmasq-2.66');
    // Lines 2 and 4 of the sample are the same row: one observation id, so one finding.
    assert.equal(r.obs[0]!.id, r.obs[2]!.id);
    assert.equal(new Set(r.obs.map((x) => x.id)).size, 98);
  });

  it('scan_http, honeypot brute force and sinkhole events map to their kinds and purposes; credentials are never kept', async () => {
    const http = await items('shadowserver', SAMPLE('scan_http.csv'));
    assert.deepEqual(http.obs.map((o) => [o.kind, o.purpose, o.evidence.authDemanded]), [['exposed-admin', 'router-survey-notice', false], ['exposed-admin', 'router-survey-notice', false]]);
    const brute = await items('shadowserver', SAMPLE('event4_honeypot_brute_force.csv'));
    assert.equal(brute.obs.length, 6);
    assert.deepEqual([brute.obs[0]!.kind, brute.obs[0]!.purpose, brute.obs[0]!.network.ip, brute.obs[0]!.network.port], ['honeypot-login', 'infection-notice', '141.98.1.2', 30123]);
    for (const o of brute.obs) assert.ok(!('username' in o.evidence) && !('password' in o.evidence));
    for (const f of ['event4_sinkhole.csv', 'event4_sinkhole_http.csv', 'event4_sinkhole_dns.csv', 'event6_sinkhole_http.csv', 'event4_microsoft_sinkhole_http.csv']) {
      const s = await items('shadowserver', SAMPLE(f));
      assert.ok(s.obs.length > 0, f);
      for (const o of s.obs) assert.deepEqual([o.kind, o.purpose], ['sinkhole-hit', 'infection-notice'], f);
    }
    const v6 = await items('shadowserver', SAMPLE('event6_sinkhole_http.csv'));
    assert.equal(v6.obs[0]!.network.ip, '2001:448a:1082:4d9b:7491:bf9e:3d5f:a634');
    assert.equal(v6.obs[0]!.evidence.family, 'boaxxe');
  });

  it('reports bad lines by number and imports the rest (a truncated row in a real sample; hand-made faults)', async () => {
    const ms = await items('shadowserver', SAMPLE('event4_microsoft_sinkhole.csv'));
    assert.equal(ms.obs.length, 5);
    assert.deepEqual(ms.bad, [{ line: 7, error: 'has 29 fields, but the header has 30' }]);

    const lines = readFileSync(SAMPLE('scan_dns.csv'), 'utf8').split('\n').slice(0, 6);
    lines.splice(2, 0, '"2018-04-14 00:14:35","not-an-ip","udp",53,,"openresolver",,1,"AT",,,,,,0,0,');
    lines.splice(4, 0, '"2018-02-31 00:00:00","198.51.100.1","udp",53,,"openresolver",,1,"AT",,,,,,0,0,');
    lines.splice(5, 0, '"2018-04-14 00:00:00","198.51.100.2","udp",99999,,"openresolver",,1,"AT",,,,,,0,0,');
    lines.splice(6, 0, '"2018-04-14 00:00:00","198.51.100.3","udp"x,53');
    const path = join(dir, '2018-04-14-scan_dns-as64500.csv');
    writeFileSync(path, lines.join('\n'));
    const r = await items('shadowserver', path);
    assert.deepEqual(r.bad.map((b) => b.line), [3, 5, 6, 7]);
    assert.match(r.bad[0]!.error, /"not-an-ip" is not an IP address/);
    assert.match(r.bad[1]!.error, /not a valid date/);
    assert.match(r.bad[2]!.error, /port "99999"/);
    assert.match(r.bad[3]!.error, /after the closing quote/);
    assert.equal(r.obs.length, 5);
  });

  it('imports a file named as Shadowserver names them, and --type overrides the name', async () => {
    const link = join(dir, '2021-03-04-event4_sinkhole_http-jp-geo.csv');
    symlinkSync(SAMPLE('event4_sinkhole_http.csv'), link);
    assert.equal((await items('shadowserver', link)).obs.length, 5);
    const anon = join(dir, 'download.csv');
    symlinkSync(SAMPLE('scan_dns.csv'), anon);
    assert.throws(() => openReport('shadowserver', anon), (e: unknown) => e instanceof SakimoriError && /no Shadowserver report type/.test(e.message));
    assert.equal((await items('shadowserver', anon, { type: 'scan_dns' })).obs.length, 100);
  });

  it('refuses a file that is not a Shadowserver CSV with what it read', async () => {
    const path = join(dir, 'scan_dns-wrong.csv');
    writeFileSync(path, 'a,b,c\n1,2,3\n');
    await assert.rejects(items('shadowserver', path), /no "timestamp" and "ip"/);
  });
});

describe('X-ARF v4', () => {
  it('validates every sample against the v4 schema; infected hosts, botnets and login attacks become infection findings, the rest are skipped', async () => {
    const samples = readdirSync(join(XARF, 'samples/v4'));
    assert.equal(samples.length, 32);
    const kinds: Record<string, string> = {};
    for (const f of samples) {
      const r = await items('xarf', join(XARF, 'samples/v4', f));
      assert.equal(r.bad.length, 0, `${f}: ${JSON.stringify(r.bad)}`);
      for (const o of r.obs) kinds[f] = `${o.kind}/${o.purpose}`;
    }
    assert.deepEqual(kinds, {
      'connection-infected-host.json': 'suspected-infection/infection-notice',
      'connection-login-attack.json': 'honeypot-login/infection-notice',
      'infrastructure-botnet.json': 'suspected-infection/infection-notice',
    });
    const zeus = (await items('xarf', join(XARF, 'samples/v4/connection-infected-host.json'))).obs[0]!;
    assert.deepEqual([zeus.network.ip, zeus.network.port, zeus.observedAt, zeus.evidence.malware_family], ['203.0.113.85', 443, '2025-01-11T13:42:15.000Z', 'Zeus']);
  });

  it('reads arrays and NDJSON; a report that breaks the schema is a bad entry by number', async () => {
    const good = JSON.parse(readFileSync(join(XARF, 'samples/v4/infrastructure-botnet.json'), 'utf8')) as Record<string, unknown>;
    const broken = { ...good, report_id: 'not-a-uuid' };
    const noEvidence = { ...good, compromise_evidence: undefined };
    const openDns = { ...JSON.parse(readFileSync(join(XARF, 'samples/v4/vulnerability-open-service.json'), 'utf8')), service: 'dns', source_identifier: '192.0.2.53' };
    const arr = join(dir, 'reports.json');
    writeFileSync(arr, JSON.stringify([good, broken, noEvidence, openDns]));
    const r = await items('xarf', arr);
    assert.equal(r.unit, 'report');
    assert.deepEqual(r.bad.map((b) => b.line), [2, 3]);
    assert.match(r.bad[0]!.error, /report_id must match format "uuid"/);
    assert.match(r.bad[1]!.error, /compromise_evidence/);
    assert.deepEqual(r.obs.map((o) => o.kind), ['suspected-infection', 'open-resolver']);
    const nd = join(dir, 'reports.ndjson');
    writeFileSync(nd, `${JSON.stringify(good)}\n{not json\n\n${JSON.stringify({ ...good, source_identifier: 'bad.example' })}\n`);
    const n = await items('xarf', nd);
    assert.equal(n.unit, 'line');
    assert.deepEqual(n.bad.map((b) => b.line), [2]);
    assert.deepEqual(n.skipped.map((s) => s.line), [4]);
    assert.match(n.skipped[0]!.skipped, /not an IP address/);
  });
});

describe('NOTICE lists and C&C logs', () => {
  it('NOTICE: ip,port,timestamp,device -> weak-credential for router-survey-notice; times need a zone', async () => {
    const path = join(dir, 'notice.csv');
    writeFileSync(path, 'ip,port,timestamp,device\n192.0.2.10,23,2019-02-20T10:00:00+09:00,telnet\n192.0.2.11,,2019-02-20T10:00:00+09:00,ssh\n192.0.2.12,80,2019-02-20 10:00:00,camera\n2001:db8::1,8080,2019-02-20T01:00:00Z,\n');
    const r = await items('notice', path);
    assert.deepEqual(r.bad.map((b) => [b.line, b.error]), [[3, 'has no port'], [4, 'time "2019-02-20 10:00:00" has no time zone — write it as 2019-02-20T10:00:00+09:00 or 2019-02-20T01:00:00Z']]);
    assert.deepEqual(r.obs.map((o) => [o.kind, o.purpose, o.network.ip, o.network.port, o.observedAt, o.evidence.device ?? null]), [
      ['weak-credential', 'router-survey-notice', '192.0.2.10', 23, '2019-02-20T01:00:00.000Z', 'telnet'],
      ['weak-credential', 'router-survey-notice', '2001:db8::1', 8080, '2019-02-20T01:00:00.000Z', null],
    ]);
  });

  it('cc-log: ip,timestamp[,port][,family] in any column order; a header without ip is refused', async () => {
    const path = join(dir, 'cc.csv');
    writeFileSync(path, 'timestamp,ip,family\n2024-05-01T03:04:05Z,192.0.2.20,mirai\n2024-05-01T03:04:05Z,192.0.2.300,mirai\n');
    const r = await items('cc-log', path);
    assert.deepEqual(r.obs.map((o) => [o.kind, o.purpose, o.network.ip, o.evidence.family]), [['sinkhole-hit', 'infection-notice', '192.0.2.20', 'mirai']]);
    assert.deepEqual(r.bad.map((b) => b.line), [3]);
    const bad = join(dir, 'cc-bad.csv');
    writeFileSync(bad, 'when,address\n');
    await assert.rejects(items('cc-log', bad), /header lacks ip, timestamp/);
  });

  it('an unknown format is an error naming the formats', () => {
    assert.throws(() => openReport('csv', '/dev/null'), (e: unknown) => e instanceof SakimoriError && /shadowserver, xarf, notice, cc-log/.test(e.hint ?? ''));
  });
});
