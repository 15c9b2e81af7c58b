import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkConfigText, defaultConfig, formatConfigProblem } from './index.ts';

const problems = (yaml: string) => checkConfigText(yaml, 'sakimori.yaml').problems.map(formatConfigProblem);

describe('config: dns.detect and dnstap.detect', () => {
  it('defaults: PRSD mitigation on, amplification proposed, infection on (the collector: PRSD dry-run)', () => {
    const c = defaultConfig();
    assert.equal(c.dns.detect.prsd.mode, 'on');
    assert.equal(c.dns.detect.amplification.mode, 'propose');
    assert.equal(c.dns.detect.infection.mode, 'on');
    assert.equal(c.dns.detect.prsd.hold, 300_000);
    assert.equal(c.dnstap.detect.prsd.mode, 'dry-run');
    const r = checkConfigText('dns:\n  detect:\n    prsd:\n      mode: dry-run\n      minQps: 500\n    amplification:\n      mode: apply\n    infection:\n      mode: off\n', 'sakimori.yaml');
    assert.deepEqual(r.problems, []);
    assert.equal(r.config?.dns.detect.prsd.mode, 'dry-run');
    assert.equal(r.config?.dns.detect.prsd.minQps, 500);
    assert.equal(r.config?.dns.detect.amplification.mode, 'apply');
    assert.equal(r.config?.dns.detect.infection.mode, 'off');
  });

  it('a bad key or value is named with its line, path and what is expected', () => {
    assert.deepEqual(problems('dns:\n  detect:\n    prsd:\n      mode: block\n'), ['sakimori.yaml:4: dns.detect.prsd.mode: "block" is not a PRSD mode — expected one of on, dry-run, off']);
    assert.match(problems('dns:\n  detect:\n    amplification:\n      mode: proposed\n')[0]!, /^sakimori\.yaml:4: dns\.detect\.amplification\.mode: "proposed" is not an? amplification mode — expected one of propose, apply, off \(did you mean propose\?\)$/);
    assert.match(problems('dns:\n  detect:\n    prsd:\n      minQps: -5\n')[0]!, /^sakimori\.yaml:4: dns\.detect\.prsd\.minQps: -5 is out of range — expected queries per second from 1/);
    assert.match(problems('dns:\n  detect:\n    prsd:\n      hold: 300\n')[0]!, /^sakimori\.yaml:4: dns\.detect\.prsd\.hold: 300 is a number — expected a duration/);
    assert.match(problems('dns:\n  detect:\n    infection:\n      treshold: 8\n')[0]!, /^sakimori\.yaml:4: dns\.detect\.infection\.treshold: .*threshold/);
    assert.match(problems('dnstap:\n  detect:\n    prsd:\n      action: refused\n')[0]!, /^sakimori\.yaml:4: dnstap\.detect\.prsd\.action: "refused" is not a PRSD action — expected one of nxdomain, nodata, drop/);
    assert.match(problems('dns:\n  detect: yes\n')[0]!, /^sakimori\.yaml:2: dns\.detect: "yes" is a string — expected a mapping with the keys prsd, amplification, infection, retention, maxEventsPerSecond$/);
  });
});
