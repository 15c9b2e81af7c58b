import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkConfigText, defaultConfig, formatConfigProblem } from './index.ts';

const check = (yaml: string) => checkConfigText(yaml, 'sakimori.yaml');

describe('config: http.trustProxy', () => {
  it('is false by default, and takes true, a hop count, or a list of proxy addresses and prefixes', () => {
    assert.equal(defaultConfig().http.trustProxy, false);
    assert.equal(check('http:\n  trustProxy: true\n').config?.http.trustProxy, true);
    assert.equal(check('http:\n  trustProxy: 2\n').config?.http.trustProxy, 2);
    assert.deepEqual(check('http:\n  trustProxy: ["127.0.0.1", " 10.0.0.0/8", "::1", loopback]\n').config?.http.trustProxy, ['127.0.0.1', '10.0.0.0/8', '::1', 'loopback']);
  });

  it('a bad value is named with its line, index and what is expected', () => {
    const p = (yaml: string) => check(yaml).problems.map(formatConfigProblem);
    assert.deepEqual(p('http:\n  trustProxy: ["127.0.0.1", "proxy.example"]\n'), [
      'sakimori.yaml:2: http.trustProxy[1]: "proxy.example" is not a proxy address or prefix — expected one such as 127.0.0.1, 10.0.0.0/8 or ::1 (or loopback, linklocal, uniquelocal)',
    ]);
    assert.match(p('http:\n  trustProxy: 0\n')[0]!, /^sakimori\.yaml:2: http\.trustProxy: 0 is not a number of proxy hops — expected a whole number from 1 to 32 \(or false\)$/);
    assert.match(p('http:\n  trustProxy: yes please\n')[0]!, /^sakimori\.yaml:2: http\.trustProxy: "yes please" is a string — expected false, true, a number of proxy hops/);
  });
});
