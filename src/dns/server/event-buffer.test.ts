import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BlockEventBuffer, eventsOf, type CountedBlockEvent } from './event-buffer.ts';
import { blockEventRows } from './event-rows.ts';
import type { BlockEvent } from './data-plane.ts';

/** What the buffer replaced: a Map keyed by the four fields, in first-seen order. */
class Model {
  readonly m = new Map<string, CountedBlockEvent>();
  constructor(readonly capacity: number) {}
  add(e: BlockEvent, n: number): string {
    if (this.m.size >= this.capacity) return 'full';
    const k = `${e.client}\0${e.fqdn}\0${e.list}\0${e.action}`;
    const p = this.m.get(k);
    if (p) {
      p.count += n;
      return 'merged';
    }
    this.m.set(k, { ...e, count: n });
    return 'new';
  }
  drain(): CountedBlockEvent[] {
    const out = [...this.m.values()];
    this.m.clear();
    return out;
  }
}

// Few distinct values, so repeats (merges) and near-misses (same name, other client) are common.
const client = fc.constantFrom('192.0.2.1', '192.0.2.10', '2001:db8::1', '198.51.100.7');
const fqdn = fc.oneof(
  fc.constantFrom('a.example', 'b.example', 'a.example.', 'A.example', 'xn--r8jz45g.example', 'caf\u00e9.example', '\\032sp.example'),
  fc.stringMatching(/^[a-z0-9]{1,8}\.(cn|jp|top)$/),
  fc.string({ minLength: 300, maxLength: 1000 }),
);
const event = fc.record({
  at: fc.integer({ min: 0, max: 2 ** 45 }),
  client,
  fqdn,
  list: fc.constantFrom('cc', 'malware', 'dns-abuse'),
  action: fc.constantFrom('nxdomain', 'nodata', 'drop', 'local-data'),
});
const step = fc.oneof({ weight: 12, arbitrary: fc.record({ e: event, n: fc.integer({ min: 1, max: 5 }) }) }, { weight: 1, arbitrary: fc.constant('drain' as const) });

describe('block event buffer', () => {
  it('merges, refuses when full and gives its events, as an image cloned to another thread, exactly as a Map keyed by (client, FQDN, list, action) would', () => {
    // Taken images cross to the writer thread or the main thread by postMessage (structured clone).
    const drain = (buf: BlockEventBuffer) => eventsOf(structuredClone(buf.takeImage()));
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.array(step, { maxLength: 600, size: 'max' }), (capacity, steps) => {
        const buf = new BlockEventBuffer(capacity);
        const model = new Model(capacity);
        for (const s of steps) {
          if (s === 'drain') assert.deepEqual(drain(buf), model.drain());
          else assert.equal(buf.add(s.e, s.n), model.add(s.e, s.n));
          assert.equal(buf.size, model.m.size);
        }
        assert.deepEqual(drain(buf), model.drain());
        assert.equal(buf.size, 0);
      }),
      { numRuns: 300, endOnFailure: true },
    );
  });

  it('keeps the first time of merged lookups and grows past its first room', () => {
    const buf = new BlockEventBuffer(10_000);
    for (let i = 0; i < 5000; i++) buf.add({ at: i, client: `10.0.${i >> 8}.${i & 255}`, fqdn: `n${i}.example`, list: 'cc', action: 'nxdomain' });
    buf.add({ at: 99_999, client: '10.0.0.7', fqdn: 'n7.example', list: 'cc', action: 'nxdomain' }, 3);
    const out = eventsOf(buf.takeImage());
    assert.equal(out.length, 5000);
    assert.deepEqual(out[7], { at: 7, client: '10.0.0.7', fqdn: 'n7.example', list: 'cc', action: 'nxdomain', count: 4 });
    assert.deepEqual(out[4999], { at: 4999, client: '10.0.19.135', fqdn: 'n4999.example', list: 'cc', action: 'nxdomain', count: 1 });
    assert.deepEqual(eventsOf(buf.takeImage()), []);
  });

  it('rows for the store: one per event, ids from one base and a counter, the purpose of each list', () => {
    const buf = new BlockEventBuffer(10);
    buf.add({ at: 5, client: '192.0.2.1', fqdn: 'a.example', list: 'cc', action: 'nxdomain' }, 2);
    buf.add({ at: 6, client: '192.0.2.2', fqdn: 'b.example', list: 'dns-abuse', action: 'drop' });
    const image = buf.takeImage();
    const purposes = image.words.map((w) => (w === 'cc' ? 'cc-blocking' : w === 'dns-abuse' ? 'dns-abuse-mitigation' : null));
    assert.deepEqual(blockEventRows(image, 'dnsb_x', purposes), [
      ['dnsb_x0000', 5, '192.0.2.1', 'a.example', 'cc', 'nxdomain', 'cc-blocking', 2],
      ['dnsb_x0001', 6, '192.0.2.2', 'b.example', 'dns-abuse', 'drop', 'dns-abuse-mitigation', 1],
    ]);
  });
});
