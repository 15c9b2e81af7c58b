import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkConfigText, defaultConfig, formatConfigProblem, OVERRIDE_SOURCE, parseListenAddress, type ConfigProblem } from './index.ts';

function problems(text: string): ConfigProblem[] {
  const r = checkConfigText(text, 'sakimori.yaml');
  assert.equal(r.config, undefined, 'a config is returned only when there are no problems');
  assert.ok(r.problems.length > 0, `expected problems for ${JSON.stringify(text)}`);
  return r.problems;
}

function only(text: string): ConfigProblem {
  const ps = problems(text);
  assert.equal(ps.length, 1, ps.map(formatConfigProblem).join('\n'));
  return ps[0]!;
}

function ok(text: string) {
  const r = checkConfigText(text, 'sakimori.yaml');
  assert.deepEqual(r.problems, []);
  assert.ok(r.config);
  return r.config;
}

describe('defaults', () => {
  it('an empty file, a comment-only file and empty sections give the defaults', () => {
    const defaults = defaultConfig();
    assert.deepEqual(ok(''), defaults);
    assert.deepEqual(ok('# nothing here\n'), defaults);
    assert.deepEqual(ok('node:\nhttp:\nprivacy:\n  retention:\n'), defaults);
  });

  it('has the documented values, durations in milliseconds', () => {
    const c = defaultConfig();
    assert.equal(c.http.listen, '127.0.0.1:8080');
    assert.equal(c.store.url, 'sqlite:./data/sakimori.db');
    assert.equal(c.bus.url, 'memory:');
    assert.equal(c.log.level, 'info');
    assert.equal(c.privacy.retention['cc-blocking'], 2_592_000_000);
    assert.equal(c.privacy.retention['consent'], 1825 * 86_400_000);
    assert.equal(c.privacy.purgeInterval, 3_600_000);
    assert.equal(c.privacy.auditFlushInterval, 200);
    assert.ok(c.node.name.length > 0);
  });

  it('a key given keeps the defaults of its siblings', () => {
    const c = ok('privacy:\n  retention:\n    cc-blocking: 14d\n');
    assert.equal(c.privacy.retention['cc-blocking'], 14 * 86_400_000);
    assert.equal(c.privacy.retention['subscriber-attribution'], 90 * 86_400_000);
    assert.equal(c.privacy.purgeInterval, 3_600_000);
  });

  it('accepts every supported form', () => {
    const c = ok(
      [
        'node:\n  name: tokyo-resolver-1',
        'http:\n  listen: "[::1]:8443"',
        'store:\n  url: postgresql://sakimori@db.example.net/sakimori',
        'bus:\n  url: nats://nats.example.net:4222',
        'log:\n  level: debug',
        'privacy:\n  purgeInterval: 15m\n  auditFlushInterval: 0ms',
      ].join('\n'),
    );
    assert.equal(c.node.name, 'tokyo-resolver-1');
    assert.equal(c.http.listen, '[::1]:8443');
    assert.equal(c.privacy.auditFlushInterval, 0);
    ok('store:\n  url: postgres://u:p@localhost:5432/db\n');
    ok('store:\n  url: sqlite:/var/lib/sakimori/state.db\n');
    ok('http:\n  listen: 0.0.0.0:80\n');
    ok('http:\n  listen: localhost:8080\n');
  });
});

describe('unknown keys', () => {
  it('suggests the closest key, as a full path', () => {
    const cases: [string, string, number, string][] = [
      ['htp:\n  listen: 127.0.0.1:80\n', 'htp', 1, 'did you mean http?'],
      ['http:\n  lissten: 127.0.0.1:80\n', 'http.lissten', 2, 'did you mean http.listen?'],
      ['store:\n  ulr: sqlite:x\n', 'store.ulr', 2, 'did you mean store.url?'],
      ['privacy:\n  purge_interval: 1h\n', 'privacy.purge_interval', 2, 'did you mean privacy.purgeInterval?'],
      ['log:\n  Level: info\n', 'log.Level', 2, 'did you mean log.level?'],
    ];
    for (const [text, path, line, hint] of cases) {
      const p = only(text);
      assert.equal(p.path, path);
      assert.equal(p.line, line);
      assert.match(p.message, /^unknown key/);
      assert.ok(p.message.includes(hint), p.message);
    }
  });

  it('prints as file:line: path: message', () => {
    assert.equal(formatConfigProblem(only('http:\n  lissten: x\n')), 'sakimori.yaml:2: http.lissten: unknown key — did you mean http.listen?');
  });

  it('lists the valid keys when nothing is close', () => {
    const p = only('zzzz:\n  listen: 127.0.0.1:53\n');
    assert.equal(p.path, 'zzzz');
    assert.match(p.message, /unknown key — expected one of node, http, store, bus, log, privacy, /);
  });

  it('points a key in the wrong section to where it belongs', () => {
    assert.match(only('level: debug\n').message, /did you mean log\.level\?/);
    assert.match(only('url: sqlite:x\n').message, /did you mean store\.url or bus\.url\?/);
  });

  it('explains a dotted key written flat', () => {
    const p = only('store.url: sqlite:x\n');
    assert.equal(p.path, '"store.url"');
    assert.match(p.message, /one key in YAML, not a path — expected "store:" with "url:" indented under it/);
  });

  it('reports every unknown key, not just the first', () => {
    const ps = problems('htp:\n  x: 1\nstore:\n  ulr: a\n  url: sqlite:x\nfoo: 1\n');
    assert.deepEqual(ps.map((p) => [p.path, p.line]), [['htp', 1], ['store.ulr', 4], ['foo', 6]]);
  });

  it('rejects an unknown purpose in retention, with a suggestion', () => {
    const p = only('privacy:\n  retention:\n    cc-block: 14d\n');
    assert.equal(p.path, 'privacy.retention.cc-block');
    assert.equal(p.line, 3);
    assert.match(p.message, /^unknown purpose — did you mean cc-blocking\?/);
    assert.match(p.message, /src\/core\/purpose\.ts/);
    const far = only('privacy:\n  retention:\n    marketing: 14d\n');
    assert.match(far.message, /^unknown purpose — expected one of cc-blocking, .*operations; purposes are a closed list/);
  });

  it('is not fooled by __proto__', () => {
    assert.equal(only('__proto__:\n  http: 1\n').path, '__proto__');
  });
});

describe('wrong values', () => {
  it('names the type and what is expected', () => {
    const p = only('http:\n  listen: 8080\n');
    assert.equal(p.path, 'http.listen');
    assert.equal(p.line, 2);
    assert.match(p.message, /^8080 is a number — expected "ADDR:PORT"/);
  });

  it('rejects an unknown log level, suggesting a near one', () => {
    const p = only('log:\n  level: loud\n');
    assert.equal(p.path, 'log.level');
    assert.equal(p.message, '"loud" is not a log level — expected one of fatal, error, warn, info, debug, trace');
    assert.match(only('log:\n  level: debgu\n').message, /\(did you mean debug\?\)$/);
  });

  it('rejects a section that is not a mapping', () => {
    const p = only('http: 8080\n');
    assert.equal(p.path, 'http');
    assert.match(p.message, /^8080 is a number — expected a mapping with the keys listen/);
  });

  it('rejects an empty value for a leaf', () => {
    assert.match(only('http:\n  listen:\n').message, /^has no value — expected "ADDR:PORT"/);
  });

  it('rejects a top level that is not a mapping', () => {
    const p = only('- a\n- b\n');
    assert.equal(p.path, '');
    assert.match(p.message, /^the top level is a list — expected a mapping of sections: node, http/);
  });

  it('checks listen addresses', () => {
    const bad: [string, RegExp][] = [
      ['"::1:8080"', /IPv6 address without brackets/],
      ['"[::1]:70000"', /port 70000, out of range — expected a port from 0 to 65535/],
      ['127.0.0.1:65536', /port 65536, out of range/],
      ['127.0.0.1', /has no port/],
      ['":8080"', /has no address/],
      ['999.1.1.1:80', /not an IPv4 address or host name/],
      ['"[fe80::zz]:80"', /not an IPv6 address/],
      ['"127.0.0.1:http"', /port "http", which is not a number/],
    ];
    for (const [value, why] of bad) {
      const p = only(`http:\n  listen: ${value}\n`);
      assert.equal(p.path, 'http.listen');
      assert.match(p.message, why, value);
    }
    assert.deepEqual(parseListenAddress('[::1]:8080'), { host: '::1', port: 8080 });
    assert.deepEqual(parseListenAddress('10.0.0.1:53'), { host: '10.0.0.1', port: 53 });
  });

  it('rejects a node name with spaces', () => {
    assert.match(only('node:\n  name: tokyo resolver\n').message, /contains spaces/);
  });
});

describe('URLs', () => {
  it('rejects an unsupported store URL in the documented words', () => {
    assert.equal(
      formatConfigProblem(only('\n\n\nstore:\n  url: mysql://x\n')),
      'sakimori.yaml:5: store.url: "mysql://x" is not a supported store URL — expected sqlite:PATH or postgres://USER@HOST/DB',
    );
  });

  it('rejects an unsupported bus URL', () => {
    const p = only('bus:\n  url: kafka://x\n');
    assert.equal(p.path, 'bus.url');
    assert.match(p.message, /^"kafka:\/\/x" is not a supported bus URL — expected memory: .* or nats:\/\/HOST:PORT$/);
  });

  it('rejects known schemes with missing parts', () => {
    assert.match(only('store:\n  url: "sqlite:"\n').message, /has no file path/);
    assert.match(only('store:\n  url: sqlite:///var/x.db\n').message, /"\/\/" after sqlite:/);
    assert.match(only('store:\n  url: postgres:///db\n').message, /has no host/);
    assert.match(only('bus:\n  url: nats://localhost\n').message, /has no port/);
    assert.match(only('bus:\n  url: nats://localhost:99999\n').message, /not a valid URL/);
    assert.match(only('bus:\n  url: memory\n').message, /is not a supported bus URL/);
  });

  it('reports a number where a URL belongs with its path', () => {
    const p = only('store:\n  url: 5432\n');
    assert.equal(p.path, 'store.url');
    assert.match(p.message, /^5432 is a number — expected sqlite:PATH/);
  });
});

describe('durations', () => {
  it('parses units to milliseconds', () => {
    const c = ok('privacy:\n  purgeInterval: 90s\n  retention:\n    operations: 2w\n    consent: 36h\n');
    assert.equal(c.privacy.purgeInterval, 90_000);
    assert.equal(c.privacy.retention.operations, 14 * 86_400_000);
    assert.equal(c.privacy.retention.consent, 36 * 3_600_000);
  });

  it('rejects bad durations with the key path', () => {
    const bad: [string, RegExp][] = [
      ['soon', /^"soon" is not a duration — expected a duration/],
      ['"30"', /^"30" has no unit/],
      ['30', /^30 is a number — expected a duration/],
      ['5y', /^"5y" uses years, .*write 1825d/],
      ['0s', /^"0s" is zero/],
      ['-1d', /is not a duration/],
    ];
    for (const [value, why] of bad) {
      const p = only(`privacy:\n  purgeInterval: ${value}\n`);
      assert.equal(p.path, 'privacy.purgeInterval');
      assert.equal(p.line, 2);
      assert.match(p.message, why, value);
    }
    const r = only('privacy:\n  retention:\n    cc-blocking: forever\n');
    assert.equal(r.path, 'privacy.retention.cc-blocking');
    assert.equal(r.line, 3);
  });
});

describe('lines and YAML syntax', () => {
  it('reports each problem on its own line, in file order', () => {
    const text = ['# Sakimori', 'http:', '  listen: 8080', '', 'log:', '  level: loud', 'store:', '  url: mysql://x', 'bus:', '  url: kafka://x'].join('\n');
    const ps = problems(text);
    assert.deepEqual(ps.map((p) => [p.line, p.path]), [[3, 'http.listen'], [6, 'log.level'], [8, 'store.url'], [10, 'bus.url']]);
  });

  it('reports syntax errors with line and column', () => {
    const p = only('http:\n  listen: [127.0.0.1:80\nlog:\n  level: info\n');
    assert.equal(p.path, '');
    assert.ok(p.line !== undefined && p.column !== undefined);
    assert.match(p.message, /^YAML syntax error: /);
    assert.match(formatConfigProblem(p), /^sakimori\.yaml:\d+:\d+: YAML syntax error: /);
  });

  it('places a syntax error where it is', () => {
    const misaligned = only('log:\n  level: info\n x: y\n');
    assert.deepEqual([misaligned.line, misaligned.column], [3, 1]);
    assert.equal(formatConfigProblem(only('log:\n\tlevel: info\n')), 'sakimori.yaml:2:1: YAML syntax error: Tabs are not allowed as indentation');
  });

  it('reports duplicate keys', () => {
    const p = only('log:\n  level: info\n  level: debug\n');
    assert.equal(p.line, 3);
    assert.match(p.message, /YAML syntax error: Map keys must be unique/);
  });

  it('explains an unquoted value ending in a colon', () => {
    const p = only('bus:\n  url: memory:\n');
    assert.equal(p.line, 2);
    assert.match(p.message, /must be quoted: "memory:"/);
  });

  it('shows the first syntax errors, not a screenful', () => {
    const ps = problems('a: [\n' + 'b: ]\n'.repeat(50));
    assert.ok(ps.length <= 11);
    assert.match(ps.at(-1)!.message, /more YAML errors not shown/);
  });

  it('refuses a second document', () => {
    assert.match(only('log:\n  level: info\n---\nlog:\n  level: debug\n').message, /second document/);
  });

  it('follows aliases', () => {
    const c = ok('store: &s\n  url: sqlite:./a.db\n');
    assert.equal(c.store.url, 'sqlite:./a.db');
    assert.match(only('a: &x [*x]\n').message, /unknown key/);
  });
});

describe('overrides from the command line', () => {
  it('apply over the file and are validated', () => {
    const r = checkConfigText('store:\n  url: sqlite:./a.db\n', 'sakimori.yaml', { 'store.url': 'postgres://u@h/db', 'log.level': undefined });
    assert.equal(r.config?.store.url, 'postgres://u@h/db');
    const bad = checkConfigText('', 'sakimori.yaml', { 'store.url': 'mysql://x', 'log.levle': 'info' });
    assert.deepEqual(
      bad.problems.map(formatConfigProblem).sort(),
      [
        `${OVERRIDE_SOURCE}: log.levle: unknown key — did you mean log.level?`,
        `${OVERRIDE_SOURCE}: store.url: "mysql://x" is not a supported store URL — expected sqlite:PATH or postgres://USER@HOST/DB`,
      ],
    );
  });
});
