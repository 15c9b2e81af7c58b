import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { closest, editDistance } from './suggest.ts';

describe('suggestions', () => {
  it('counts edits, a transposition as one', () => {
    assert.equal(editDistance('lissten', 'listen'), 1);
    assert.equal(editDistance('ulr', 'url'), 1);
    assert.equal(editDistance('htp', 'http'), 1);
    assert.equal(editDistance('', 'abc'), 3);
    assert.equal(editDistance('kitten', 'sitting'), 3);
  });

  it('is a symmetric distance, zero only for equal strings', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 }), (a, b) => {
        const d = editDistance(a, b);
        assert.equal(d, editDistance(b, a));
        assert.equal(d === 0, a === b);
        assert.ok(d <= Math.max(a.length, b.length));
      }),
    );
  });

  it('suggests only near misses', () => {
    const keys = ['node', 'http', 'store', 'bus', 'log', 'privacy'];
    assert.equal(closest('htp', keys), 'http');
    assert.equal(closest('stor', keys), 'store');
    assert.equal(closest('privasy', keys), 'privacy');
    assert.equal(closest('dns', keys), undefined);
    assert.equal(closest('xyz', keys), undefined);
    assert.equal(closest('purge_interval', ['purgeInterval', 'auditFlushInterval']), 'purgeInterval');
  });
});
