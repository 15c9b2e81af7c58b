import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MasterFileReader, parseTtl, resolveName, type ZoneProblem, type ZoneRecord } from './master-file.ts';

/** Reads text; returns records (with their line) and problems. */
function read(text: string, origin = 'rpz.example', defaultTtl?: number) {
  const records: (ZoneRecord & { line: number })[] = [];
  const problems: ZoneProblem[] = [];
  const r = new MasterFileReader(
    { record: (rec, _f, line) => records.push({ ...rec, line }), problem: (p) => problems.push(p) },
    { origin, file: 'z.db', ...(defaultTtl === undefined ? {} : { defaultTtl }) },
  );
  for (const l of text.split('\n')) r.line(l);
  r.end();
  return { records, problems, errors: problems.filter((p) => p.severity === 'error'), warnings: problems.filter((p) => p.severity === 'warning') };
}

const brief = (r: ZoneRecord) => `${r.name} ${r.ttl} ${r.type} ${JSON.stringify(r.data)}`;

test('relative and absolute owners, @, $ORIGIN, omitted owner repeats the previous one', () => {
  const { records, problems } = read(
    [
      '$TTL 300',
      '@ SOA ns.example. hostmaster.example. 1 3600 600 86400 60',
      '  NS ns.example.',
      'bad.com CNAME .',
      'abs.example.rpz.example. CNAME .',
      '$ORIGIN sub.rpz.example.',
      'x CNAME *.',
      '\tA 192.0.2.1', // tab: owner omitted -> x.sub.rpz.example
    ].join('\n'),
  );
  assert.deepEqual(problems, []);
  assert.deepEqual(
    records.map((r) => [r.name, r.type, r.line]),
    [
      ['rpz.example', 6, 2],
      ['rpz.example', 2, 3],
      ['bad.com.rpz.example', 5, 4],
      ['abs.example.rpz.example', 5, 5],
      ['x.sub.rpz.example', 5, 7],
      ['x.sub.rpz.example', 1, 8],
    ],
  );
  // `*.` is absolute: the NODATA target stays "*", not "*.sub.rpz.example".
  assert.deepEqual(records[4]!.data, { kind: 'CNAME', cname: '*' });
});

test('parentheses span lines (SOA), comments inside them are ignored, the record has its first line', () => {
  const { records, problems } = read(
    ['$TTL 1h', '@ IN SOA ns1 root.rpz.example. (', '  2020022500 ; serial', '  60 ; refresh', '  60', '  432000', '  1w )', 'a CNAME . ; trailing comment'].join('\n'),
  );
  assert.deepEqual(problems, []);
  assert.equal(records.length, 2);
  const soa = records[0]!;
  assert.equal(soa.line, 2);
  assert.equal(soa.ttl, 3600);
  assert.deepEqual(soa.data, { kind: 'SOA', mname: 'ns1.rpz.example', rname: 'root.rpz.example', serial: 2020022500, refresh: 60, retry: 60, expire: 432000, minimum: 604800 });
  assert.equal(records[1]!.line, 8);
});

test('TTL and class are optional and may come in either order; class is case-insensitive', () => {
  const { records, problems } = read(['$TTL 60', 'a 120 IN CNAME .', 'b IN 130 CNAME .', 'c in cname .', 'd 1h30m A 192.0.2.1', 'e A 192.0.2.2'].join('\n'));
  assert.deepEqual(problems, []);
  assert.deepEqual(
    records.map((r) => r.ttl),
    [120, 130, 60, 5400, 60],
  );
});

test('without $TTL the last explicit TTL, then the default, applies; none at all is an error at the line', () => {
  assert.deepEqual(read('a 77 CNAME .\nb CNAME .').records.map((r) => r.ttl), [77, 77]);
  assert.deepEqual(read('b CNAME .', 'z', 5).records.map((r) => r.ttl), [5]);
  const { errors } = read('; comment\nb CNAME .');
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.line, 2);
  assert.match(errors[0]!.message, /no TTL.*\$TTL/);
});

test('escapes: \\. inside a label, \\DDD, upper case folded in names; quoted TXT with escapes and several strings', () => {
  const { records, problems } = read(['$TTL 300', 'A\\.B.Example CNAME .', 'w\\032x CNAME .', 't TXT "hello \\"world\\"" plain \\065\\066'].join('\n'));
  assert.deepEqual(problems, []);
  assert.equal(records[0]!.name, 'a\\.b.example.rpz.example');
  assert.equal(records[1]!.name, 'w\\032x.rpz.example');
  const txt = records[2]!.data;
  assert.ok(txt.kind === 'TXT');
  assert.deepEqual(
    txt.strings.map((s) => Buffer.from(s).toString('latin1')),
    ['hello "world"', 'plain', 'AB'],
  );
});

test('the RR types RPZ uses, RFC 3597 generic RDATA, and other types skipped with a warning', () => {
  const { records, warnings, errors } = read(
    ['$TTL 300', 'a A 192.0.2.1', 'a AAAA 2001:DB8::1', 'm MX 10 mail', 's SRV 1 2 3 target.example.', 'p PTR x.example.', 'g TYPE99 \\# 3 abcdef', 'h HINFO "cpu" "os"', 'c CAA 0 issue "ca"'].join('\n'),
  );
  assert.deepEqual(errors, []);
  assert.deepEqual(records.map(brief), [
    'a.rpz.example 300 1 {"kind":"A","address":"192.0.2.1"}',
    'a.rpz.example 300 28 {"kind":"AAAA","address":"2001:db8::1"}',
    'm.rpz.example 300 15 {"kind":"MX","preference":10,"exchange":"mail.rpz.example"}',
    's.rpz.example 300 33 {"kind":"SRV","priority":1,"weight":2,"port":3,"target":"target.example"}',
    'p.rpz.example 300 12 {"kind":"PTR","ptrdname":"x.example"}',
    'g.rpz.example 300 99 {"kind":"raw","bytes":{"0":171,"1":205,"2":239}}',
  ]);
  assert.deepEqual(
    warnings.map((w) => w.line),
    [8, 9],
  );
  assert.match(warnings[0]!.message, /HINFO record .* skipped/);
});

test('a CNAME to rpz-passthru without the trailing dot is local data, and the reader says so', () => {
  const { records, warnings } = read('$TTL 1\nx CNAME rpz-passthru');
  assert.deepEqual(records[0]!.data, { kind: 'CNAME', cname: 'rpz-passthru.rpz.example' });
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!.message, /write "rpz-passthru\."/);
});

test('every error names file:line and what is wrong, and reading goes on with the next line', () => {
  const { records, errors } = read(
    [
      '$TTL 300',
      'a A 300.1.1.1', // 2
      'b AAAA 192.0.2.1', // 3
      'c CNAME', // 4
      'd CNAME . extra', // 5
      'e BOGUS x', // 6
      'f CH CNAME .', // 7
      'g TXT "unterminated', // 8
      'h..x CNAME .', // 9
      '$GENERATE 1-10 x$ CNAME .', // 10
      '$FOO', // 11
      'i 99999999999 CNAME .', // 12
      'j )', // 13
      'k MX 70000 x', // 14
      'ok CNAME .', // 15
      'l TXT x\\', // 16
      `m TXT "${'x'.repeat(256)}"`, // 17
      'n SOA a b 1 2 3', // 18
      '"q" CNAME .', // 19
      'o CNAME "quoted"', // 20
      'p TYPE9 \\# 2 abc', // 21
      'q TYPE9 \\# 2 abcdef', // 22
    ].join('\n'),
  );
  assert.deepEqual(
    records.map((r) => r.name),
    ['ok.rpz.example'],
  );
  assert.deepEqual(
    errors.map((e) => e.line),
    [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 18, 19, 20, 21, 22],
  );
  for (const e of errors) assert.equal(e.file, 'z.db');
  const msg = (line: number) => errors.find((e) => e.line === line)!.message;
  assert.match(msg(2), /"300\.1\.1\.1" is not an IPv4 address/);
  assert.match(msg(4), /has no RDATA/);
  assert.match(msg(5), /unexpected "extra"/);
  assert.match(msg(6), /"BOGUS" is not a record type/);
  assert.match(msg(7), /class CH is not IN/);
  assert.match(msg(8), /quoted string is not closed/);
  assert.match(msg(9), /empty label/);
  assert.match(msg(10), /\$GENERATE/);
  assert.match(msg(11), /unknown directive \$FOO/);
  assert.match(msg(12), /above the largest TTL/);
  assert.match(msg(13), /"\)" without a matching "\("/);
  assert.match(msg(17), /at most 255/);
  assert.match(msg(18), /7 fields/);
});

test('a parenthesis left open is reported at the line that opened it', () => {
  const { errors, records } = read('$TTL 1\n@ SOA a b ( 1 2\n3 4 5\n');
  assert.equal(records.length, 0);
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.line, 2);
  assert.match(errors[0]!.message, /never closed/);
});

test('$INCLUDE goes to the sink with the current or given origin; without a sink it is an error', () => {
  const incs: string[] = [];
  const r = new MasterFileReader(
    { record: () => {}, problem: (p) => assert.fail(p.message), include: (path, origin, file, line) => incs.push(`${path} ${origin} ${file}:${line}`) },
    { origin: 'rpz.example', file: 'top.db' },
  );
  r.line('$INCLUDE part1.db');
  r.line('$INCLUDE "part 2.db" sub');
  assert.deepEqual(incs, ['part1.db rpz.example top.db:1', 'part 2.db sub.rpz.example top.db:2']);
  const { errors } = read('$INCLUDE x.db');
  assert.match(errors[0]!.message, /\$INCLUDE is not allowed here/);
});

test('included files have their own line numbers and origin; the includer keeps its origin', () => {
  const seen: string[] = [];
  const r = new MasterFileReader(
    { record: (rec, file, line) => seen.push(`${file}:${line} ${rec.name}`), problem: (p) => seen.push(`${p.file}:${p.line} ${p.message}`), include: () => {} },
    { origin: 'rpz.example', file: 'top.db' },
  );
  r.line('$TTL 5');
  r.line('$INCLUDE inc.db other.example');
  r.pushFile('inc.db', 'other.example');
  r.line('a CNAME .');
  r.line('$ORIGIN changed.example.');
  r.line('b CNAME .');
  r.popFile();
  r.line('c CNAME .');
  r.end();
  assert.deepEqual(seen, ['inc.db:1 a.other.example', 'inc.db:3 b.changed.example', 'top.db:3 c.rpz.example']);
});

test('parseTtl and resolveName edge cases', () => {
  assert.equal(parseTtl('0'), 0);
  assert.equal(parseTtl('2147483647'), 2147483647);
  assert.equal(typeof parseTtl('2147483648'), 'string');
  assert.equal(parseTtl('1W2d3H4m5S'), 604800 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5);
  assert.equal(typeof parseTtl('1x'), 'string');
  assert.equal(resolveName('@', 'z.example'), 'z.example');
  assert.equal(resolveName('.', 'z.example'), '.');
  assert.equal(resolveName('Www', 'z.example'), 'www.z.example');
  assert.equal(resolveName('www', '.'), 'www');
  assert.deepEqual(typeof resolveName('x'.repeat(64), 'z'), 'object');
  // 255 octets on the wire is the limit, whatever mix of plain and escaped text.
  const long = ['a'.repeat(63), 'b'.repeat(63), 'c'.repeat(63)].join('.');
  assert.equal(typeof resolveName(long, 'd'.repeat(61)), 'string');
  assert.equal(typeof resolveName(long, 'd'.repeat(62)), 'object');
});

test('CRLF line ends are accepted', () => {
  const { records, problems } = read('$TTL 1\r\na CNAME .\r\n');
  assert.deepEqual(problems, []);
  assert.equal(records.length, 1);
});
