/**
 * RPZ semantics (draft-vixie-dnsop-dns-rpz §4 triggers, §5 actions and precedence; BIND
 * ARM "Response Policy Zone (RPZ) Rewriting"), the allow list, dynamic changes and swaps.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseIp } from '../../core/index.ts';
import { decodeMessage, encodeMessage, makeLocalDataResponse, readQuery, RRType, type Rdata } from '../wire/index.ts';
import {
  NO_MATCH,
  PolicyEngine,
  RpzZone,
  describeLoad,
  loadNameListFile,
  loadRpzFile,
  readNameList,
  readZoneText,
  reloadZoneFile,
  type Decision,
} from './index.ts';

const HEAD = '$TTL 300\n@ SOA ns.example. hostmaster.example. 7 3600 600 86400 60\n  NS ns.example.\n';

function zone(name: string, body: string): RpzZone {
  const r = readZoneText(HEAD + body, { origin: name, file: `${name}.db` });
  assert.ok(r.ok, describeLoad(r).join('\n'));
  return r.zone;
}

const ip = (t: string) => parseIp(t)!;
const A = RRType.A;

/** "action zone trigger" for compact assertions. */
function d(e: PolicyEngine, qname: string, client?: string, qtype = A): string {
  const r = e.decide(qname, client === undefined ? undefined : ip(client), qtype);
  return r === NO_MATCH ? 'none' : `${r.action} ${r.zone} ${r.trigger}`;
}

/** Answers of a local-data decision for a real query, decoded again by the wire codec. */
function answer(dec: Decision, qname: string, qtype: number): { rcode: number; answers: { name: string; type: number; data: Rdata }[]; authority: string[] } {
  const q = encodeMessage({
    header: { id: 7, qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, z: false, ad: false, cd: false, rcode: 0 },
    questions: [{ name: qname, type: qtype, class: 1 }],
    answers: [],
    authority: [],
    additional: [],
  });
  const info = readQuery(q);
  assert.ok(info.ok);
  const ans = dec.answersFor(info.value.qname);
  assert.ok(ans);
  const resp = makeLocalDataResponse(q, ans, { info: info.value, ...(dec.authority ? { authority: dec.authority } : {}) });
  const m = decodeMessage(resp!);
  assert.ok(m.ok);
  return {
    rcode: m.value.header.rcode,
    answers: m.value.answers.map((a) => ({ name: a.name, type: a.type, data: a.data })),
    authority: m.value.authority.map((a) => `${a.name} ${a.type}`),
  };
}

test('actions (draft §5): NXDOMAIN, NODATA, PASSTHRU (both spellings), DROP, TCP-only', () => {
  const e = new PolicyEngine({
    zones: [
      zone(
        'cc.rpz',
        [
          'nx.example CNAME .',
          'nodata.example CNAME *.',
          'pass.example CNAME rpz-passthru.',
          'old-pass.example CNAME old-pass.example.', // the old PASSTHRU: CNAME to its own name
          'drop.example CNAME rpz-drop.',
          'tcp.example CNAME rpz-tcp-only.',
        ].join('\n'),
      ),
    ],
  });
  assert.equal(d(e, 'nx.example'), 'nxdomain cc.rpz qname');
  assert.equal(d(e, 'nodata.example'), 'nodata cc.rpz qname');
  assert.equal(d(e, 'pass.example'), 'passthru cc.rpz qname');
  assert.equal(d(e, 'old-pass.example'), 'passthru cc.rpz qname');
  assert.equal(d(e, 'drop.example'), 'drop cc.rpz qname');
  assert.equal(d(e, 'tcp.example'), 'tcp-only cc.rpz qname');
  assert.equal(d(e, 'other.example'), 'none');
  // The old PASSTHRU for IP triggers names the prefix without rpz-*; wildcard targets are
  // never the old PASSTHRU (BIND checks them first): `* CNAME *.` is NODATA.
  const old = new PolicyEngine({ zones: [zone('z', ['32.1.2.0.192.rpz-client-ip CNAME 32.1.2.0.192.', '*.w.example CNAME *.w.example.', '* CNAME *.'].join('\n'))] });
  assert.equal(d(old, 'q.example', '192.0.2.1'), 'passthru z client-ip');
  assert.equal(d(old, 'x.w.example'), 'local-data z wildcard');
  assert.equal(old.decide('x.w.example', undefined, A).cnameSuffix, 'w.example');
  assert.equal(d(old, 'anything'), 'nodata z wildcard');
  // NXDOMAIN and NODATA carry the policy zone's SOA for the authority section.
  const nx = e.decide('nx.example', undefined, A);
  assert.ok(nx.authority && nx.authority.count === 1);
  assert.equal(e.decide('drop.example', undefined, A).authority, undefined);
});

test('local data (draft §5.6): the records of the query type, NODATA for other types, a CNAME for every type', () => {
  const e = new PolicyEngine({
    zones: [
      zone(
        'malware.rpz',
        [
          'site.example A 192.0.2.80',
          '  AAAA 2001:db8::80',
          '  TXT "blocked by Sakimori"',
          'redirect.example CNAME warning.sakimori.example.',
          'logged.example CNAME *.walled-garden.example.',
        ].join('\n'),
      ),
    ],
  });
  const a = answer(e.decide('site.example', undefined, RRType.A), 'Site.Example', RRType.A);
  assert.equal(a.rcode, 0);
  // Owner is the question name as the client wrote it (0x20 case kept).
  assert.deepEqual(a.answers, [{ name: 'Site.Example', type: RRType.A, data: { kind: 'A', address: '192.0.2.80' } }]);
  const aaaa = answer(e.decide('site.example', undefined, RRType.AAAA), 'site.example', RRType.AAAA);
  assert.deepEqual(aaaa.answers.map((x) => x.data), [{ kind: 'AAAA', address: '2001:db8::80' }]);
  const mx = e.decide('site.example', undefined, RRType.MX);
  assert.equal(mx.action, 'local-data');
  const nodata = answer(mx, 'site.example', RRType.MX);
  assert.deepEqual(nodata.answers, []);
  assert.deepEqual(nodata.authority, ['malware.rpz 6']);
  assert.equal(answer(e.decide('site.example', undefined, RRType.ANY), 'site.example', RRType.ANY).answers.length, 3);
  for (const t of [RRType.A, RRType.AAAA, RRType.TXT, RRType.MX]) {
    const r = answer(e.decide('redirect.example', undefined, t), 'redirect.example', t);
    assert.deepEqual(r.answers, [{ name: 'redirect.example', type: RRType.CNAME, data: { kind: 'CNAME', cname: 'warning.sakimori.example' } }]);
  }
  const w = answer(e.decide('logged.example', undefined, A), 'logged.example', A);
  assert.deepEqual(w.answers[0]!.data, { kind: 'CNAME', cname: 'logged.example.walled-garden.example' });
  // The same rule and type give the same shared Decision object.
  assert.equal(e.decide('site.example', undefined, A), e.decide('site.example', undefined, A));
});

test('QNAME (draft §4.2): exact beats wildcard; a wildcard matches below its name, not the name itself', () => {
  const e = new PolicyEngine({
    zones: [zone('z', ['*.example.com CNAME .', 'www.example.com CNAME rpz-passthru.'].join('\n'))],
  });
  assert.equal(d(e, 'www.example.com'), 'passthru z qname');
  assert.equal(d(e, 'a.example.com'), 'nxdomain z wildcard');
  assert.equal(d(e, 'a.b.c.example.com'), 'nxdomain z wildcard');
  assert.equal(d(e, 'x.www.example.com'), 'nxdomain z wildcard'); // the exact rule is for www only
  assert.equal(d(e, 'example.com'), 'none');
  assert.equal(d(e, 'com'), 'none');
  assert.equal(d(e, 'notexample.com'), 'none');
});

test('among wildcards the longest (most labels) wins', () => {
  const e = new PolicyEngine({
    zones: [zone('z', ['*.example.com CNAME .', '*.sub.example.com CNAME *.', '*.deep.sub.example.com CNAME rpz-drop.', '* CNAME rpz-tcp-only.'].join('\n'))],
  });
  assert.equal(d(e, 'x.example.com'), 'nxdomain z wildcard');
  assert.equal(d(e, 'sub.example.com'), 'nxdomain z wildcard');
  assert.equal(d(e, 'x.sub.example.com'), 'nodata z wildcard');
  assert.equal(d(e, 'a.b.x.sub.example.com'), 'nodata z wildcard');
  assert.equal(d(e, 'x.deep.sub.example.com'), 'drop z wildcard');
  // `*` at the zone apex is every name (but not the root itself).
  assert.equal(d(e, 'anything.org'), 'tcp-only z wildcard');
  assert.equal(d(e, 'org'), 'tcp-only z wildcard');
  assert.equal(d(e, '.'), 'none');
});

test('zones in configured order: the first zone with any match wins, even against an exact match later', () => {
  // BIND rpzrecurse "given"/"passthru": a passthru in an earlier zone hides later rules.
  const pass = zone('passthru.zone', ['example.com CNAME rpz-passthru.', '*.example.com CNAME rpz-passthru.'].join('\n'));
  const given = zone('given.zone', ['example.com CNAME .', 'www.example.com CNAME .', 'other.com CNAME .'].join('\n'));
  const e = new PolicyEngine({ zones: [pass, given] });
  assert.equal(d(e, 'example.com'), 'passthru passthru.zone qname');
  assert.equal(d(e, 'www.example.com'), 'passthru passthru.zone wildcard');
  assert.equal(d(e, 'other.com'), 'nxdomain given.zone qname');
  e.configure({ zones: [given, pass] });
  assert.equal(d(e, 'www.example.com'), 'nxdomain given.zone qname');
  assert.equal(d(e, 'x.example.com'), 'passthru passthru.zone wildcard');
});

test('within a zone rpz-client-ip beats QNAME; across zones order beats trigger kind', () => {
  const z1 = zone('one', ['32.2.0.0.127.rpz-client-ip CNAME rpz-drop.', 'bad.example CNAME .'].join('\n'));
  const e = new PolicyEngine({ zones: [z1] });
  assert.equal(d(e, 'bad.example', '127.0.0.2'), 'drop one client-ip');
  assert.equal(d(e, 'good.example', '127.0.0.2'), 'drop one client-ip');
  assert.equal(d(e, 'bad.example', '127.0.0.3'), 'nxdomain one qname');
  assert.equal(d(e, 'bad.example'), 'nxdomain one qname'); // no client address: client-ip skipped
  const z0 = zone('zero', 'bad.example CNAME *.');
  const z2 = zone('two', '32.9.0.0.127.rpz-client-ip CNAME .');
  const e2 = new PolicyEngine({ zones: [z0, z2] });
  assert.equal(d(e2, 'bad.example', '127.0.0.9'), 'nodata zero qname');
  assert.equal(d(e2, 'good.example', '127.0.0.9'), 'nxdomain two client-ip');
  assert.equal(e2.usesClientIp, true);
  assert.equal(new PolicyEngine({ zones: [z0] }).usesClientIp, false);
});

test('rpz-client-ip: longest prefix wins; IPv6 with zz; BIND clientip zones', () => {
  const e = new PolicyEngine({
    zones: [
      zone(
        'clients',
        [
          '24.0.0.53.10.rpz-client-ip A 10.53.0.1',
          '32.4.0.53.10.rpz-client-ip A 10.53.0.2',
          '31.2.0.53.10.rpz-client-ip CNAME .',
          '48.zz.db8.2001.rpz-client-ip CNAME rpz-drop.',
          '128.1.0.0.1.zz.db8.2001.rpz-client-ip CNAME rpz-passthru.',
        ].join('\n'),
      ),
    ],
  });
  assert.equal(d(e, 'x.example', '10.53.0.4'), 'local-data clients client-ip');
  assert.deepEqual(answer(e.decide('x.example', ip('10.53.0.4'), A), 'x.example', A).answers[0]!.data, { kind: 'A', address: '10.53.0.2' });
  assert.deepEqual(answer(e.decide('x.example', ip('10.53.0.9'), A), 'x.example', A).answers[0]!.data, { kind: 'A', address: '10.53.0.1' });
  assert.equal(d(e, 'x.example', '10.53.0.3'), 'nxdomain clients client-ip'); // /31 beats /24
  assert.equal(d(e, 'x.example', '10.53.1.1'), 'none');
  assert.equal(d(e, 'x.example', '2001:db8:0:1::5'), 'drop clients client-ip');
  assert.equal(d(e, 'x.example', '2001:db8::1:0:0:1'), 'passthru clients client-ip');
  assert.equal(d(e, 'x.example', '2001:db9::1'), 'none');
  assert.equal(d(e, 'x.example', '::ffff:10.53.0.4'), 'none'); // families are separate
});

test('the allow list wins over every static and dynamic rule, as PASSTHRU', () => {
  const allow = readNameList('# never block\nexample.com\n*.cdn.example\n', { zone: 'allow' });
  assert.ok(allow.ok, describeLoad(allow).join('\n'));
  const cc = zone('cc', ['*.example.com CNAME .', 'example.com CNAME .', 'bad.example CNAME .', 'x.cdn.example CNAME .', 'cdn.example CNAME .'].join('\n'));
  const client = zone('clients', '32.5.0.0.127.rpz-client-ip CNAME rpz-drop.');
  const abuse = new RpzZone('dns-abuse');
  const e = new PolicyEngine({ allow: allow.zone, zones: [client, cc, abuse] });
  assert.ok(abuse.apply({ setTriggers: [{ trigger: 'www.example.com', action: 'drop' }, { trigger: 'victim.example', action: 'drop' }] }).ok);
  for (const name of ['example.com', 'www.example.com', 'a.b.example.com', 'x.cdn.example']) {
    assert.equal(d(e, name, '127.0.0.5'), `passthru allow ${name === 'example.com' ? 'qname' : 'wildcard'}`);
  }
  // "*.cdn.example" covers only names below cdn.example.
  assert.equal(d(e, 'cdn.example'), 'nxdomain cc qname');
  assert.equal(d(e, 'bad.example'), 'nxdomain cc qname');
  assert.equal(d(e, 'bad.example', '127.0.0.5'), 'drop clients client-ip');
  assert.equal(d(e, 'victim.example'), 'drop dns-abuse qname');
  // A client in the allow list is never filtered (with an rpz-client-ip trigger there).
  assert.ok(allow.zone.apply({ setTriggers: [{ trigger: '32.5.0.0.127.rpz-client-ip', action: 'passthru' }] }).ok);
  assert.equal(d(e, 'bad.example', '127.0.0.5'), 'passthru allow client-ip');
  assert.deepEqual(e.zoneNames, ['allow', 'clients', 'cc', 'dns-abuse']);
});

test('a zone-wide override (BIND `policy`) replaces each rule\'s action', () => {
  const z = zone('feed', ['a.example A 192.0.2.1', 'b.example CNAME rpz-passthru.'].join('\n'));
  const e = new PolicyEngine({ zones: [{ zone: z, override: 'nxdomain' }] });
  assert.equal(d(e, 'a.example'), 'nxdomain feed qname');
  assert.equal(d(e, 'b.example'), 'nxdomain feed qname');
  // replaceZone keeps the override.
  assert.ok(e.replaceZone(zone('feed', 'c.example CNAME *.')));
  assert.equal(d(e, 'c.example'), 'nxdomain feed qname');
  assert.equal(d(e, 'a.example'), 'none');
});

test('names with escapes match the canonical query text readQuery gives', () => {
  const e = new PolicyEngine({ zones: [zone('z', ['a\\.b.example CNAME .', 'BIG\\255.example CNAME *.', '*.w\\032x.example CNAME rpz-drop.'].join('\n'))] });
  assert.equal(d(e, 'a\\.b.example'), 'nxdomain z qname');
  assert.equal(d(e, 'a.b.example'), 'none');
  assert.equal(d(e, 'big\\255.example'), 'nodata z qname');
  assert.equal(d(e, 'q\\.r.w\\032x.example'), 'drop z wildcard');
  const q = encodeMessage({
    header: { id: 1, qr: false, opcode: 0, aa: false, tc: false, rd: true, ra: false, z: false, ad: false, cd: false, rcode: 0 },
    questions: [{ name: 'Q\\.R.W\\032X.Example', type: A, class: 1 }],
    answers: [],
    authority: [],
    additional: [],
  });
  const info = readQuery(q);
  assert.ok(info.ok);
  assert.equal(e.decide(info.value.qname, undefined, A).action, 'drop');
});

test('apply(): IXFR-style record changes, whole-trigger changes, SOA serial, and all-or-nothing', () => {
  const z = zone('cc', ['a.example A 192.0.2.1', '  A 192.0.2.2', 'b.example CNAME .'].join('\n'));
  const e = new PolicyEngine({ zones: [z] });
  assert.equal(z.serial, 7);
  const ok = z.apply({
    deleteRecords: [
      { name: 'cc', type: RRType.SOA, ttl: 300, data: { kind: 'SOA', mname: 'ns.example', rname: 'hostmaster.example', serial: 7, refresh: 3600, retry: 600, expire: 86400, minimum: 60 } },
      { name: 'a.example.cc', type: A, ttl: 300, data: { kind: 'A', address: '192.0.2.1' } },
      { name: 'b.example.cc', type: RRType.CNAME, ttl: 300, data: { kind: 'CNAME', cname: '.' } },
    ],
    addRecords: [
      { name: 'cc', type: RRType.SOA, ttl: 300, data: { kind: 'SOA', mname: 'ns.example', rname: 'hostmaster.example', serial: 8, refresh: 3600, retry: 600, expire: 86400, minimum: 60 } },
      { name: 'c.example.cc', type: RRType.CNAME, ttl: 300, data: { kind: 'CNAME', cname: 'rpz-drop' } },
    ],
  });
  assert.ok(ok.ok, JSON.stringify(ok));
  assert.equal(ok.triggersChanged, 3);
  assert.equal(z.serial, 8);
  assert.deepEqual(answer(e.decide('a.example', undefined, A), 'a.example', A).answers.map((x) => x.data), [{ kind: 'A', address: '192.0.2.2' }]);
  assert.equal(d(e, 'b.example'), 'none');
  assert.equal(d(e, 'c.example'), 'drop cc qname');

  // One bad part: nothing changes.
  const bad = z.apply({
    removeTriggers: ['c.example'],
    setTriggers: [{ trigger: 'd.example', action: 'nxdomain' }],
    addRecords: [{ name: 'e.example.cc', type: A, ttl: 1, data: { kind: 'A', address: '192.0.2.9' } }, { name: 'e.example.cc', type: RRType.CNAME, ttl: 1, data: { kind: 'CNAME', cname: '.' } }],
  });
  assert.equal(bad.ok, false);
  assert.match(bad.ok ? '' : bad.errors.join('\n'), /cannot share its name with other records/);
  assert.equal(d(e, 'c.example'), 'drop cc qname');
  assert.equal(d(e, 'd.example'), 'none');
  assert.equal(d(e, 'e.example'), 'none');

  // Deleting what is not there is only a warning; unknown actions and bad names are errors.
  const w = z.apply({ deleteRecords: [{ name: 'zz.example.cc', type: A, ttl: 1, data: { kind: 'A', address: '192.0.2.1' } }] });
  assert.ok(w.ok && /nothing to delete/.test(w.warnings[0]!));
  const u = z.apply({ setTriggers: [{ trigger: 'x..example', action: 'drop' }, { trigger: 'y.example', action: 'block' as 'drop' }, { trigger: '1000.1.2.3.4.rpz-client-ip', action: 'drop' }] });
  assert.ok(!u.ok && u.errors.length === 3);

  // Dynamic entries come and go (the dns-abuse detector's use).
  assert.ok(z.apply({ setTriggers: [{ trigger: '*.victim.example', action: 'drop' }, { trigger: '24.0.2.0.192.rpz-client-ip', action: 'nxdomain' }] }).ok);
  assert.equal(d(e, 'rnd123.victim.example'), 'drop cc wildcard');
  assert.equal(d(e, 'q.example', '192.0.2.44'), 'nxdomain cc client-ip');
  assert.ok(z.apply({ removeTriggers: ['*.victim.example', '24.0.2.0.192.rpz-client-ip'] }).ok);
  assert.equal(d(e, 'rnd123.victim.example'), 'none');
  assert.equal(d(e, 'q.example', '192.0.2.44'), 'none');
  assert.equal(z.hasClientIpTriggers, false);
});

test('apply() at scale: adds and removals keep every other name and free the arena', () => {
  const z = new RpzZone('big');
  const e = new PolicyEngine({ zones: [z] });
  const names = Array.from({ length: 20000 }, (_, i) => `host${i}.example${i % 7}.net`);
  const trigger = (i: number) => (i % 2 ? names[i]! : `*.${names[i]}`);
  assert.ok(z.apply({ setTriggers: names.map((_, i) => ({ trigger: trigger(i), action: 'nxdomain' as const })) }).ok);
  const before = z.stats();
  assert.equal(before.qname + before.wildcard, 20000);
  const gone = names.map((_, i) => i).filter((i) => i % 4 < 3);
  assert.ok(z.apply({ removeTriggers: gone.map(trigger) }).ok);
  for (let i = 0; i < names.length; i++) {
    const want = i % 4 < 3 ? 'none' : i % 2 ? 'nxdomain big qname' : 'nxdomain big wildcard';
    assert.equal(d(e, i % 2 ? names[i]! : `x.${names[i]}`), want, names[i]);
  }
  assert.ok(z.stats().tableBytes < before.tableBytes);
});

test('records() gives the zone back: a copy built from it decides the same', () => {
  const z = zone('src', ['a.example A 192.0.2.1', '*.b.example CNAME .', '32.1.2.0.192.rpz-client-ip CNAME rpz-drop.', '24.0.2.0.192.rpz-ip CNAME .', 'ns.x.rpz-nsdname CNAME .'].join('\n'));
  const copy = new RpzZone('src');
  const r = copy.apply({ addRecords: [...z.records()] });
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(copy.stats(), z.stats());
  assert.equal(copy.serial, 7);
  const names = [...z.records()].map((x) => `${x.name} ${x.type}`).sort();
  assert.deepEqual([...copy.records()].map((x) => `${x.name} ${x.type}`).sort(), names);
});

test('rpz-ip on forwarded answers: longest prefix, then the smallest address', () => {
  const e = new PolicyEngine({ zones: [zone('ips', ['24.0.2.0.192.rpz-ip CNAME .', '32.9.2.0.192.rpz-ip A 192.0.2.1', '16.0.0.10.10.rpz-ip CNAME rpz-drop.'].join('\n'))] });
  assert.equal(e.usesResponseIp, true);
  const r = (...a: string[]) => {
    const x = e.decideResponse(a.map(ip), A);
    return x === NO_MATCH ? 'none' : `${x.action} ${x.trigger}`;
  };
  assert.equal(r('198.51.100.1'), 'none');
  assert.equal(r('198.51.100.1', '192.0.2.5'), 'nxdomain response-ip');
  assert.equal(r('192.0.2.5', '192.0.2.9'), 'local-data response-ip');
  assert.equal(r('10.10.1.1', '10.10.0.1'), 'drop response-ip');
  // decide() never looks at rpz-ip triggers.
  assert.equal(d(e, 'x.example'), 'none');
});

test('a query name of the root, or text that cannot be a name, matches no name trigger', () => {
  const e = new PolicyEngine({ zones: [zone('z', '* CNAME .')] });
  assert.equal(d(e, '.'), 'none');
  assert.equal(d(e, ''), 'none');
  assert.equal(d(e, 'x'.repeat(2000)), 'none');
  assert.equal(d(e, 'a.'.repeat(200) + 'b'), 'none');
});

test('reloadZoneFile: a clean file swaps in at once; a file with a bad line keeps the policy in force', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sakimori-rpz-'));
  try {
    const good = join(dir, 'cc.db');
    await writeFile(good, HEAD + 'old.example CNAME .\n');
    const first = await loadRpzFile(good, { origin: 'cc' });
    assert.ok(first.ok);
    const e = new PolicyEngine({ zones: [first.zone] });
    assert.equal(d(e, 'old.example'), 'nxdomain cc qname');

    await writeFile(good, HEAD + 'new.example CNAME .\nbroken.example A not-an-address\nother.example CNAME .\n');
    const bad = await reloadZoneFile(e, good, { origin: 'cc' });
    assert.equal(bad.ok, false);
    assert.deepEqual(describeLoad(bad), [`${good}:5: error: A record for broken.example.cc: "not-an-address" is not an IPv4 address`]);
    assert.equal(d(e, 'old.example'), 'nxdomain cc qname');
    assert.equal(d(e, 'new.example'), 'none');

    await writeFile(good, HEAD + 'new.example CNAME .\n');
    const ok = await reloadZoneFile(e, good, { origin: 'cc' });
    assert.ok(ok.ok);
    assert.equal(d(e, 'old.example'), 'none');
    assert.equal(d(e, 'new.example'), 'nxdomain cc qname');

    const other = await reloadZoneFile(e, good, { origin: 'unknown' });
    assert.ok(!other.ok && /not configured/.test(other.errors[0]!.message));
    const missing = await loadRpzFile(join(dir, 'nope.db'), { origin: 'cc' });
    assert.ok(!missing.ok && /ENOENT/.test(missing.errors[0]!.message));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('$INCLUDE resolves relative to the including file, nests, and reports loops and missing files at the line', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sakimori-rpz-'));
  try {
    await writeFile(join(dir, 'top.db'), HEAD + '$INCLUDE parts/one.db\nafter.example CNAME .\n');
    await writeFile(join(dir, 'x.db'), '');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(dir, 'parts'));
    await writeFile(join(dir, 'parts', 'one.db'), 'one.example CNAME .\n$INCLUDE two.db sub.cc.\n');
    await writeFile(join(dir, 'parts', 'two.db'), 'two CNAME *.\n');
    const r = await loadRpzFile(join(dir, 'top.db'), { origin: 'cc' });
    assert.ok(r.ok, describeLoad(r).join('\n'));
    const e = new PolicyEngine({ zones: [r.zone] });
    assert.equal(d(e, 'one.example'), 'nxdomain cc qname');
    assert.equal(d(e, 'two.sub'), 'nodata cc qname');
    assert.equal(d(e, 'after.example'), 'nxdomain cc qname');

    await writeFile(join(dir, 'parts', 'two.db'), 'bad A x\n$INCLUDE ../top.db\n$INCLUDE missing.db\n');
    const l = await loadRpzFile(join(dir, 'top.db'), { origin: 'cc' });
    assert.ok(!l.ok);
    const lines = describeLoad(l).map((s) => s.replace(dir, '<dir>'));
    assert.equal(lines.length, 3, lines.join('\n'));
    assert.match(lines[0]!, /^<dir>\/parts\/two\.db:1: error: A record for bad\.sub\.cc/);
    assert.match(lines[1]!, /^<dir>\/parts\/two\.db:2: error: \$INCLUDE \.\.\/top\.db: .* already being read \(an include loop\)/);
    assert.match(lines[2]!, /^<dir>\/parts\/two\.db:3: error: \$INCLUDE missing\.db: cannot read .*ENOENT/);

    const refused = await loadRpzFile(join(dir, 'top.db'), { origin: 'cc', allowInclude: false });
    assert.ok(!refused.ok && /not allowed/.test(refused.errors[0]!.message) && refused.errors[0]!.line === 4);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('name lists: one name per line covers the name and below; problems carry file:line', async () => {
  const bad = readNameList('good.example\nbad..example\ntwo names\n', { zone: 'allow', file: 'allow.txt' });
  assert.ok(!bad.ok);
  assert.deepEqual(
    bad.errors.map((p) => `${p.file}:${p.line}`),
    ['allow.txt:2', 'allow.txt:3'],
  );
  const blocks = readNameList('evil.example\n', { zone: 'cc', action: 'nxdomain' });
  assert.ok(blocks.ok);
  const e = new PolicyEngine({ zones: [blocks.zone] });
  assert.equal(d(e, 'evil.example'), 'nxdomain cc qname');
  assert.equal(d(e, 'a.evil.example'), 'nxdomain cc wildcard');
  assert.equal(blocks.zone.serial, 1);
  const dir = await mkdtemp(join(tmpdir(), 'sakimori-rpz-'));
  try {
    await writeFile(join(dir, 'allow.txt'), 'ok.example\r\n; comment\r\n');
    const f = await loadNameListFile(join(dir, 'allow.txt'), { zone: 'allow' });
    assert.ok(f.ok);
    assert.equal(f.zone.stats().qname, 1);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('configuration: two zones with one name are refused; unknown zones are not replaced', () => {
  assert.throws(() => new PolicyEngine({ zones: [new RpzZone('a'), new RpzZone('A.')] }), /configured twice/);
  const e = new PolicyEngine({ zones: [new RpzZone('a')] });
  assert.equal(e.replaceZone(new RpzZone('b')), false);
  assert.throws(() => new RpzZone('bad..name'), /not a valid domain name/);
});

test('decide() allocates nothing, on a miss or on a hit (shared Decision objects)', async () => {
  const { getHeapSpaceStatistics } = await import('node:v8');
  const e = new PolicyEngine({
    zones: [zone('z', ['bad.example CNAME .', '*.wild.example CNAME .', '*.x.y.example A 192.0.2.1', '32.1.0.0.127.rpz-client-ip CNAME rpz-drop.'].join('\n'))],
  });
  const flat = (s: string) => Buffer.from(s, 'latin1').toString('latin1'); // as readQuery gives names
  const names = ['bad.example', 'a.wild.example', 'q.x.y.example', ...Array.from({ length: 50 }, (_, i) => `q${i}.nothing${i % 3}.example`)].map(flat);
  const client = ip('192.0.2.9');
  const run = (rounds: number) => {
    for (let k = 0; k < rounds; k++) for (const n of names) e.decide(n, client, k & 1 ? A : RRType.AAAA);
  };
  run(2000); // let the JIT settle
  const newSpace = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_used_size;
  const before = newSpace();
  run(2000); // 106,000 decisions: even 8 bytes each would be ~850 KB
  const after = newSpace();
  assert.ok(after >= before && after - before < 64 * 1024, `new space went from ${before} to ${after} bytes`);
});
