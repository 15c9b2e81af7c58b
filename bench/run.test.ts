import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { median, parseMetrics, renderTable, type MetricSummary } from './run.ts';

describe('bench runner', () => {
  it('takes medians', () => {
    assert.equal(median([3, 1, 2]), 2);
    assert.equal(median([4, 1, 2, 3]), 2.5);
    assert.ok(Number.isNaN(median([])));
  });

  it('reads metric lines and ignores everything else', () => {
    const out = 'warming up\n{"metric":"a/s","value":5,"higherIsBetter":true}\n{"oops"\n{"metric":"lat","value":2,"higherIsBetter":false,"unit":"µs"}\n{"metric":"bad","value":"x"}\n';
    assert.deepEqual(parseMetrics(out), [
      { metric: 'a/s', value: 5, higherIsBetter: true },
      { metric: 'lat', value: 2, higherIsBetter: false, unit: 'µs' },
    ]);
  });

  it('says which side is better, whichever direction the metric runs', () => {
    const m = (metric: string, higherIsBetter: boolean, s: number, a: number): MetricSummary => ({
      metric, unit: undefined, higherIsBetter, sakimori: [s], anchor: [a], sakimoriMedian: s, anchorMedian: a, ratio: s / a,
    });
    const table = renderTable([m('rate', true, 200, 100), m('latency', false, 200, 100), m('even', true, 101, 100)], { sakimori: 'SQLite', anchor: 'PostgreSQL' });
    assert.match(table, /\| rate \| 200 \| 100 \| 2\.00 \| sakimori 2\.00x better \|/);
    assert.match(table, /\| latency \| 200 \| 100 \| 2\.00 \| sakimori 2\.00x worse \|/);
    assert.match(table, /par/);
    assert.match(table, /SQLite \(sakimori\)/);
  });
});
