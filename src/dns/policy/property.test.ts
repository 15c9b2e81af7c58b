/**
 * Property tests: decide() agrees with a plain reference implementation of the draft's
 * precedence rules over random rule sets and names (zones built from zone text, and built
 * and changed with apply()); the zone reader and apply() never throw on garbage; the name
 * table agrees with a Map under random inserts and deletes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatIp, parseCidr, parseIp, type IpAddress, type IpPrefix } from '../../core/index.ts';
import { RRType, splitLabels, type Rdata } from '../wire/index.ts';
import { NO_MATCH, PolicyEngine, RpzZone, describeLoad, readNameList, readZoneText, type ZoneChange } from './index.ts';
import { NameTable, NONE, hashName } from './name-table.ts';
import { formatRpzPrefix } from './triggers.ts';

type Act = 'nxdomain' | 'nodata' | 'passthru' | 'drop' | 'tcp-only' | 'local';
type Rule = { kind: 'qname' | 'wildcard'; name: string; act: Act } | { kind: 'client'; prefix: IpPrefix; act: Act };
interface Model {
  allow: Rule[] | undefined;
  zones: Rule[][];
}

const TARGET: Record<Act, string> = { nxdomain: '.', nodata: '*.', passthru: 'rpz-passthru.', drop: 'rpz-drop.', 'tcp-only': 'rpz-tcp-only.', local: '' };
const ACTION: Record<Act, string> = { nxdomain: 'nxdomain', nodata: 'nodata', passthru: 'passthru', drop: 'drop', 'tcp-only': 'tcp-only', local: 'local-data' };

// Few labels, so rules and queries collide often; two carry escapes (canonical text).
const label = fc.constantFrom('a', 'b', 'c', 'www', 'x-y', 'a\\.b', 'q\\255');
const name = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join('.'));
const client = fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 3 })).map(([a, b]) => `10.0.${a}.${b}`);
const prefix = fc.tuple(client, fc.integer({ min: 20, max: 32 })).map(([c, bits]) => {
  const ip = parseIp(c)!;
  for (let i = bits; i < 32; i++) ip.bytes[i >> 3]! &= ~(0x80 >> (i & 7));
  const p = parseCidr(`${formatIp(ip)}/${bits}`);
  if ('error' in p) throw new Error(p.error);
  return p;
});
const act = fc.constantFrom<Act>('nxdomain', 'nodata', 'passthru', 'drop', 'tcp-only', 'local');
const rule: fc.Arbitrary<Rule> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('qname' as const), name, act }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('wildcard' as const), name: fc.oneof({ weight: 1, arbitrary: fc.constant('') }, { weight: 6, arbitrary: name }), act }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('client' as const), prefix, act }) },
);
const triggerOf = (r: Rule) => (r.kind === 'client' ? `${formatRpzPrefix(r.prefix)}.rpz-client-ip` : r.kind === 'wildcard' ? (r.name === '' ? '*' : `*.${r.name}`) : r.name);
/** One rule per trigger in a zone (a trigger has one action). */
const rules = fc.uniqueArray(rule, { maxLength: 12, selector: triggerOf });
const model: fc.Arbitrary<Model> = fc.record({ allow: fc.option(rules, { nil: undefined }), zones: fc.array(rules, { minLength: 1, maxLength: 3 }) });

function contains(p: IpPrefix, ip: IpAddress): boolean {
  for (let i = 0; i < p.bits; i++) if ((p.bytes[i >> 3]! ^ ip.bytes[i >> 3]!) & (0x80 >> (i & 7))) return false;
  return true;
}

/** `name` is strictly below `suffix` ('' = the root), comparing whole labels (escapes kept). */
function below(name: string, suffix: string): boolean {
  const n = splitLabels(name);
  const s = suffix === '' ? [] : splitLabels(suffix);
  return n.length > s.length && s.every((l, i) => n[n.length - s.length + i] === l);
}
const labels = (n: string) => (n === '' ? 0 : splitLabels(n).length);

/** The precedence rules, written as plainly as possible. */
function reference(m: Model, qname: string, c: IpAddress | undefined): string {
  const inZone = (rs: Rule[]): { act: Act; trigger: string } | undefined => {
    if (c) {
      const hits = rs.filter((r): r is Extract<Rule, { kind: 'client' }> => r.kind === 'client' && contains(r.prefix, c));
      hits.sort((a, b) => b.prefix.bits - a.prefix.bits);
      if (hits[0]) return { act: hits[0].act, trigger: 'client-ip' };
    }
    if (qname === '.') return undefined;
    const exact = rs.find((r) => r.kind === 'qname' && r.name === qname);
    if (exact) return { act: exact.act, trigger: 'qname' };
    const wild = rs
      .filter((r) => r.kind === 'wildcard' && below(qname, r.name))
      .sort((a, b) => labels((b as { name: string }).name) - labels((a as { name: string }).name));
    return wild[0] ? { act: wild[0].act, trigger: 'wildcard' } : undefined;
  };
  if (m.allow) {
    const h = inZone(m.allow);
    if (h) return `passthru allow ${h.trigger}`;
  }
  for (let i = 0; i < m.zones.length; i++) {
    const h = inZone(m.zones[i]!);
    if (h) return `${ACTION[h.act]} z${i} ${h.trigger}`;
  }
  return 'none';
}

function zoneText(rs: Rule[]): string {
  const lines = ['$TTL 60', '@ SOA ns.example. h.example. 1 2 3 4 5'];
  for (const r of rs) lines.push(`${triggerOf(r)} ${r.act === 'local' ? 'A 192.0.2.1' : `CNAME ${TARGET[r.act]}`}`);
  return lines.join('\n');
}

function fromText(m: Model): PolicyEngine {
  const build = (rs: Rule[], origin: string) => {
    const r = readZoneText(zoneText(rs), { origin });
    assert.ok(r.ok, describeLoad(r).join('\n'));
    return r.zone;
  };
  return new PolicyEngine({ ...(m.allow ? { allow: build(m.allow, 'allow') } : {}), zones: m.zones.map((rs, i) => build(rs, `z${i}`)) });
}

function fromApply(m: Model): PolicyEngine {
  const build = (rs: Rule[], origin: string) => {
    const z = new RpzZone(origin);
    const r = z.apply({
      setTriggers: rs.map((x) => ({
        trigger: triggerOf(x),
        action: x.act === 'local' ? { localData: [{ type: RRType.A, ttl: 60, data: { kind: 'A' as const, address: '192.0.2.1' } }] } : (ACTION[x.act] as 'drop'),
      })),
    });
    assert.ok(r.ok, JSON.stringify(r));
    return z;
  };
  return new PolicyEngine({ ...(m.allow ? { allow: build(m.allow, 'allow') } : {}), zones: m.zones.map((rs, i) => build(rs, `z${i}`)) });
}

function queries(m: Model): string[] {
  const names = new Set<string>(['.', 'unrelated.example']);
  for (const rs of [m.allow ?? [], ...m.zones]) {
    for (const r of rs) {
      if (r.kind === 'client') continue;
      if (r.name !== '') names.add(r.name);
      names.add(r.name === '' ? 'top' : `www.${r.name}`);
      names.add(r.name === '' ? 'a.b' : `a.b.${r.name}`);
    }
  }
  return [...names];
}

const got = (e: PolicyEngine, q: string, c: IpAddress | undefined) => {
  const d = e.decide(q, c, RRType.A);
  return d === NO_MATCH ? 'none' : `${d.action} ${d.zone} ${d.trigger}`;
};

test('property: decide() agrees with the reference precedence, for zones read from text and built by apply()', () => {
  fc.assert(
    fc.property(model, fc.array(name, { maxLength: 8 }), fc.option(client, { nil: undefined }), (m, extra, clientText) => {
      const c = clientText === undefined ? undefined : parseIp(clientText);
      const a = fromText(m);
      const b = fromApply(m);
      for (const q of [...queries(m), ...extra]) {
        const want = reference(m, q, c);
        assert.equal(got(a, q, c), want, `text zones, ${q} from ${clientText}`);
        assert.equal(got(b, q, c), want, `apply() zones, ${q} from ${clientText}`);
      }
    }),
    { numRuns: 300 },
  );
});

test('property: after random removals and re-adds through apply(), decide() still agrees with the reference', () => {
  fc.assert(
    fc.property(model, fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }), fc.option(client, { nil: undefined }), (m, keep, clientText) => {
      const c = clientText === undefined ? undefined : parseIp(clientText);
      const e = fromText(m);
      let k = 0;
      const after: Model = { allow: m.allow, zones: m.zones.map(() => []) };
      m.zones.forEach((rs, i) => {
        const removed: string[] = [];
        for (const r of rs) {
          if (keep[k++ % keep.length]) after.zones[i]!.push(r);
          else removed.push(triggerOf(r));
        }
        const change: ZoneChange = { removeTriggers: removed };
        const res = e.zone(`z${i}`)!.apply(change);
        assert.ok(res.ok);
      });
      for (const q of queries(m)) assert.equal(got(e, q, c), reference(after, q, c), q);
      // And back again.
      m.zones.forEach((rs, i) => {
        const r = e.zone(`z${i}`)!.apply({ addRecords: readZoneTextRecords(rs, `z${i}`) });
        assert.ok(r.ok, JSON.stringify(r));
      });
      for (const q of queries(m)) assert.equal(got(e, q, c), reference(m, q, c), q);
    }),
    { numRuns: 200 },
  );
});

function readZoneTextRecords(rs: Rule[], origin: string) {
  const r = readZoneText(zoneText(rs), { origin });
  assert.ok(r.ok);
  return [...r.zone.records()];
}

const junkToken = fc.oneof(
  fc.constantFrom('$TTL', '$ORIGIN', '$INCLUDE', '$GENERATE', '(', ')', '"', ';', '\\', '\\#', '@', '.', '*', '*.', 'IN', 'CH', 'CNAME', 'A', 'AAAA', 'TXT', 'SOA', 'NS', 'MX', 'TYPE65535'),
  fc.constantFrom('rpz-passthru.', '32.1.0.0.127.rpz-client-ip', '128.zz.rpz-ip', 'x.rpz-nsdname', '1h', '99999999999', '192.0.2.1', '::1', '\\999', '\\0', 'a..b'),
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 8 }),
);
const junkLine = fc.array(junkToken, { maxLength: 9 }).chain((t) => fc.constantFrom(' ', '\t', '').map((lead) => lead + t.join(' ')));

test('property: the zone reader never throws on garbage; every problem has a line inside the text', () => {
  fc.assert(
    fc.property(fc.array(junkLine, { maxLength: 30 }), (lines) => {
      const text = lines.join('\n');
      const count = text.split('\n').length; // tokens may hold newlines themselves
      const r = readZoneText(text, { origin: 'junk.rpz' });
      const problems = r.ok ? r.warnings : [...r.errors, ...r.warnings];
      for (const p of problems) assert.ok(p.line >= 0 && p.line <= count, `${p.line} of ${count}: ${p.message}`);
      readNameList(text, { zone: 'junk' });
    }),
    { numRuns: 2000 },
  );
});

test('property: apply() never throws, whatever names and records it is given', () => {
  const rec = fc.record({
    name: fc.oneof(fc.string({ maxLength: 30 }), name.map((n) => `${n}.z`)),
    type: fc.constantFrom(1, 5, 6, 2, 16, 28, 99),
    ttl: fc.oneof(fc.nat(), fc.integer()),
    data: fc.constantFrom<Rdata>(
      { kind: 'A', address: '192.0.2.1' },
      { kind: 'A', address: 'nope' },
      { kind: 'CNAME', cname: '.' },
      { kind: 'TXT', strings: [new Uint8Array(300)] },
      { kind: 'raw', bytes: new Uint8Array(3) },
      { kind: 'SOA', mname: 'a', rname: 'b', serial: 1, refresh: 2, retry: 3, expire: 4, minimum: -5 },
    ),
  });
  fc.assert(
    fc.property(fc.array(rec, { maxLength: 6 }), fc.array(fc.string({ maxLength: 20 }), { maxLength: 4 }), (recs, triggers) => {
      const z = new RpzZone('z');
      z.apply({ addRecords: recs, removeTriggers: triggers, setTriggers: triggers.map((t) => ({ trigger: t, action: 'nxdomain' })) });
      z.apply({ deleteRecords: recs });
      new PolicyEngine({ zones: [z] }).decide('a.b', undefined, 1);
    }),
    { numRuns: 1000 },
  );
});

// expected > 0 is a bulk load: replaced buffers are released at once (resizable), and trim()
// moves the table into plain buffers; a buffer released while still read would lose names.
test('property: the name table agrees with a Map under random inserts and deletes (with arena compaction), bulk-loaded or not', () => {
  // Keys past 255 characters and ids past 254 widen the records (see name-table.ts).
  const key = fc.oneof(name, fc.string({ unit: fc.constantFrom('a', 'b', '.', '-'), maxLength: 6 }), fc.constant(''), fc.nat(3).map((i) => `${'x'.repeat(254 + i)}.a`));
  const id = fc.oneof({ weight: 9, arbitrary: fc.nat(5) }, { weight: 1, arbitrary: fc.constantFrom(253, 254, 255, 70000, 0xfffffe) });
  const op = fc.tuple(fc.constantFrom('exact', 'wild', 'del-exact', 'del-wild'), key, id);
  fc.assert(
    fc.property(fc.constantFrom(0, 4), fc.array(op, { maxLength: 300 }), (expected, ops) => {
      const t = new NameTable(expected);
      const m = new Map<string, [number, number]>();
      for (const [o, k, v] of ops) {
        const cur = m.get(k) ?? [NONE, NONE];
        if (o === 'exact' || o === 'wild') {
          const e = t.upsert(k);
          if (o === 'exact') t.setExact(e, v);
          else t.setWild(e, v);
          m.set(k, o === 'exact' ? [v, cur[1]] : [cur[0], v]);
        } else {
          const e = t.findKey(k);
          if (e < 0) continue;
          if (o === 'del-exact') t.setExact(e, NONE);
          else t.setWild(e, NONE);
          t.dropIfEmpty(e);
          const next: [number, number] = o === 'del-exact' ? [NONE, cur[1]] : [cur[0], NONE];
          if (next[0] === NONE && next[1] === NONE) m.delete(k);
          else m.set(k, next);
        }
      }
      assert.equal(t.size, m.size);
      for (const [k, [ex, wi]] of m) {
        const e = t.find(k, 0, k.length, hashName(k, 0, k.length));
        assert.ok(e >= 0, k);
        assert.equal(t.exact(e), ex);
        assert.equal(t.wild(e), wi);
      }
      assert.deepEqual([...t.entries()].map((e) => t.keyOf(e)).sort(), [...m.keys()].sort());
      t.trim();
      for (const k of m.keys()) assert.ok(t.findKey(k) >= 0);
    }),
    { numRuns: 300 },
  );
  // Enough churn to pass the 64 KiB garbage threshold and compact for real.
  for (const expected of [0, 16]) {
    const t = new NameTable(expected);
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 20000; i++) t.setExact(t.upsert(`name-${round}-${i}.example`), i);
      for (let i = 0; i < 20000; i++) {
        if (i % 10 === 0) continue;
        const e = t.findKey(`name-${round}-${i}.example`);
        t.setExact(e, NONE);
        t.dropIfEmpty(e);
      }
    }
    assert.equal(t.size, 6000);
    for (let round = 0; round < 3; round++) for (let i = 0; i < 20000; i += 10) assert.equal(t.exact(t.findKey(`name-${round}-${i}.example`)), i);
    assert.ok(t.bytes() < 1 << 20, `${t.bytes()} bytes for 6000 names`);
    t.trim();
    for (let round = 0; round < 3; round++) for (let i = 0; i < 20000; i += 10) assert.equal(t.exact(t.findKey(`name-${round}-${i}.example`)), i);
  }
});

test('a widened name table (ids past 254, a key past 255 characters) reads the same through toShared/fromShared', () => {
  const t = new NameTable(8);
  const keys = Array.from({ length: 400 }, (_, i) => (i === 7 ? `${'y'.repeat(300)}.b` : `n${i}.example`));
  keys.forEach((k, i) => {
    const e = t.upsert(k);
    if (i % 3 === 0) t.setWild(e, i);
    else t.setExact(e, i);
  });
  const copy = NameTable.fromShared(t.toShared());
  for (const table of [t, copy]) {
    keys.forEach((k, i) => {
      const e = table.find(k, 0, k.length, hashName(k, 0, k.length));
      assert.ok(e >= 0, k);
      assert.equal(i % 3 === 0 ? table.wild(e) : table.exact(e), i);
      assert.equal(i % 3 === 0 ? table.exact(e) : table.wild(e), NONE);
    });
    assert.equal(table.findKey('n400.example'), -1);
  }
});
