/**
 * BIND's RPZ system-test zones (shared/data/rpz-samples, see its PROVENANCE.md), read in
 * place as fixtures. Every file must load, except the two that BIND itself uses as bad
 * input, which must fail at the right line with the reason.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseIp } from '../../core/index.ts';
import { RRType } from '../wire/index.ts';
import { NO_MATCH, PolicyEngine, describeLoad, loadRpzFile, type RpzZone } from './index.ts';

const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '../../../../shared/data/rpz-samples/bind9');
const skip = existsSync(ROOT) ? false : `BIND samples not found at ${ROOT}`;

/** Zone names as BIND's named.conf gives them (files without $ORIGIN need one). */
const ORIGIN: Record<string, string> = {
  'rpz/ns1/root.db': '.',
  'rpzextra/ns3/root.db': '.',
  'rpzrecurse/ns1/root.db': '.',
  'rpzrecurse/ns3/root.db': '.',
  'rpz/ns9/rpz.db': 'rpz',
  'dns64/ns2/rpz.db': 'rpz',
  'rpzrecurse/ns2/db.given': 'given.zone',
  'rpzrecurse/ns2/db.passthru': 'passthru.zone',
  'rpzrecurse/ns1/test1.example.net.db': 'test1.example.net',
  'rpzrecurse/ns1/test2.example.net.db': 'test2.example.net',
  'rpzrecurse/ns1/example.com.db': 'example.com',
  'rpzrecurse/ns1/example.db': 'example',
  'rpzrecurse/ns3/example.db': 'example',
  'rpzrecurse/ns4/child.example.db': 'child.example',
  'rpzrecurse/ns1/db.l0': 'l0',
  'rpz/ns2/tld2.db': 'tld2',
  'rpz/ns2/stub.db': 'stub.tld2',
  'rpz/ns2/base-tld2s.db': 'tld2s',
  'rpz/ns4/tld4.db': 'tld4',
  'rpz/ns5/tld5.db': 'tld5',
  'rpz/ns10/stub.db': 'stub.tld2',
  'rpz/ns3/base.db': 'bl',
  'rpz/ns3/crash1': 'crash1',
  'rpz/ns3/crash2': 'crash2',
  'rpzextra/ns2/allowed.db': 'allowed',
  'rpzextra/ns2/baddomain.db': 'baddomain',
  'rpzextra/ns2/gooddomain.db': 'gooddomain',
};

/** Files BIND uses as bad input: the line and the reason we must report. */
const BAD: Record<string, { line: number; message: RegExp }> = {
  'checkzone/zones/bad-rpz-prefix.db': { line: 4, message: /rpz-ip trigger "128\.2\.0\.0\.0\.0\.3\.2\.2001\.rpz-ip": .*not written in canonical form: write "128\.2\.zz\.3\.2\.2001"/ },
  'rpzrecurse/ns2/db.invalidprefixlength': { line: 16, message: /rpz-client-ip trigger "1000\.4\.0\.53\.10\.rpz-client-ip": prefix length 1000 is out of range: expected 1 to 32/ },
};

function zoneFiles(): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (f !== 'README' && f !== 'LICENSE') out.push(relative(ROOT, p));
    }
  };
  walk(ROOT);
  return out.sort();
}

const originOf = (rel: string) => ORIGIN[rel] ?? basename(rel).replace(/^db\./, '').replace(/\.db$/, '');

async function load(rel: string): Promise<RpzZone> {
  const r = await loadRpzFile(join(ROOT, rel), { origin: originOf(rel) });
  assert.ok(r.ok, `${rel}:\n${describeLoad(r).join('\n')}`);
  return r.zone;
}

test('every BIND sample zone loads, except the deliberately bad ones, which fail at file:line with the reason', { skip }, async () => {
  const files = zoneFiles();
  assert.ok(files.length >= 45, `found ${files.length} zone files under ${ROOT}`);
  for (const rel of files) {
    const r = await loadRpzFile(join(ROOT, rel), { origin: originOf(rel) });
    const bad = BAD[rel];
    if (!bad) {
      assert.ok(r.ok, `${rel}:\n${describeLoad(r).join('\n')}`);
      // Warnings name a line, except the whole-zone notes at line 0.
      for (const w of r.warnings) assert.ok(w.line > 0 || /not enforced|no SOA/.test(w.message), `${rel}: ${w.message}`);
      continue;
    }
    assert.equal(r.ok, false, rel);
    if (r.ok) continue;
    assert.equal(r.errorCount, 1, describeLoad(r).join('\n'));
    assert.equal(r.errors[0]!.file, join(ROOT, rel));
    assert.equal(r.errors[0]!.line, bad.line);
    assert.match(r.errors[0]!.message, bad.message);
  }
});

test('rpzrecurse given/passthru: a PASSTHRU in an earlier zone hides the later zone\'s rules', { skip }, async () => {
  const e = new PolicyEngine({ zones: [await load('rpzrecurse/ns2/db.passthru'), await load('rpzrecurse/ns2/db.given')] });
  assert.equal(e.decide('example.com', undefined, RRType.A).action, 'passthru');
  assert.equal(e.decide('www.example.com', undefined, RRType.A).action, 'passthru');
  const alone = new PolicyEngine({ zones: [await load('rpzrecurse/ns2/db.given')] });
  assert.equal(alone.decide('www.example.com', undefined, RRType.A).action, 'nxdomain');
});

test('rpzrecurse wildcard zones: test1.example.net and the names below it', { skip }, async () => {
  const w1 = new PolicyEngine({ zones: [await load('rpzrecurse/ns2/db.wildcard1')] });
  assert.equal(w1.decide('test1.example.net', undefined, RRType.A).trigger, 'qname');
  assert.equal(w1.decide('www.test1.example.net', undefined, RRType.A).trigger, 'wildcard');
  assert.equal(w1.decide('test2.example.net', undefined, RRType.A), NO_MATCH);
  const w3 = new PolicyEngine({ zones: [await load('rpzrecurse/ns2/db.wildcard3')] });
  assert.equal(w3.decide('test1.example.net', undefined, RRType.A), NO_MATCH);
  assert.equal(w3.decide('www.test1.example.net', undefined, RRType.A).action, 'nxdomain');
});

test('rpzrecurse clientip zones: /32 and /24 local data, a /31 NXDOMAIN', { skip }, async () => {
  const c1 = new PolicyEngine({ zones: [await load('rpzrecurse/ns2/db.clientip1')] });
  const a = (e: PolicyEngine, client: string) => {
    const dec = e.decide('q01.l2.l1.l0', parseIp(client), RRType.A);
    return dec.action === 'local-data' ? Buffer.from(dec.answers!.bytes.subarray(-4)).join('.') : dec.action;
  };
  assert.equal(a(c1, '10.53.0.4'), '10.53.0.2');
  assert.equal(a(c1, '10.53.0.1'), '10.53.0.1');
  assert.equal(a(c1, '10.53.1.1'), 'none');
  const c21 = new PolicyEngine({ zones: [await load('rpzrecurse/ns2/db.clientip21')] });
  assert.equal(a(c21, '10.53.0.3'), '10.53.0.1');
  assert.equal(a(c21, '10.53.0.2'), 'nxdomain');
});

test('rpzextra: allowed names pass, bad and good domains are blocked, by zone order', { skip }, async () => {
  const e = new PolicyEngine({
    zones: [await load('rpzextra/ns3/first-rpz.local.db'), await load('rpzextra/ns3/fourth-rpz-extra.local.db')],
  });
  const act = (n: string) => e.decide(n, undefined, RRType.A).action;
  assert.equal(act('allowed'), 'passthru');
  assert.equal(act('www.allowed'), 'passthru');
  assert.equal(act('baddomain'), 'nxdomain');
  assert.equal(act('www.baddomain'), 'nxdomain');
  assert.equal(act('www.gooddomain'), 'nxdomain');
  assert.equal(act('elsewhere'), 'none');
});

test('rpz ns9 (CNAME *. is NODATA) and the nsdname/nsip zone (kept, reported as not enforced)', { skip }, async () => {
  const e = new PolicyEngine({ zones: [await load('rpz/ns9/rpz.db')] });
  assert.equal(e.decide('a-only.example', undefined, RRType.AAAA).action, 'nodata');
  const r = await loadRpzFile(join(ROOT, 'rpzrecurse/ns3/policy.db'), { origin: 'policy' });
  assert.ok(r.ok);
  assert.equal(r.zone.stats().nsip, 1);
  assert.equal(r.zone.stats().nsdname, 1);
  assert.ok(r.warnings.some((w) => /1 rpz-nsdname and 1 rpz-nsip trigger\(s\) were loaded but are not enforced/.test(w.message)));
});
