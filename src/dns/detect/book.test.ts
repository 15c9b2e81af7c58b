import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DetectionBook } from './book.ts';

test('DetectionBook: newest first, filters, bounded (active ones kept), retention purge', () => {
  const seen: string[] = [];
  const b = new DetectionBook({ max: 3, retentionMs: 60_000, onChange: (d) => seen.push(d.id) });
  const at = (s: number) => new Date(1_700_000_000_000 + s * 1000).toISOString();
  const active = b.start({ kind: 'prsd', subject: 'victim.example', action: 'mitigated', startedAt: at(0), evidence: { qps: 1 }, confidence: 0.7 });
  for (let i = 0; i < 5; i++) {
    const d = b.start({ kind: 'suspected-infection', subject: `192.0.2.${i}`, action: 'observation-emitted', startedAt: at(i + 1), evidence: {}, confidence: 0.6 });
    b.end(d.id, at(i + 1), 'reported');
  }
  assert.equal(b.size, 3);
  assert.ok(b.get(active.id), 'the active detection is never trimmed');
  assert.deepEqual(b.list({ kind: 'suspected-infection' }).map((d) => d.subject), ['192.0.2.4', '192.0.2.3']);
  assert.deepEqual(b.list({ active: true }).map((d) => d.id), [active.id]);
  assert.equal(b.current('prsd', 'victim.example')?.id, active.id);
  b.update(active.id, at(10), { evidence: { blocked: 5 } });
  assert.deepEqual(b.get(active.id)!.evidence, { qps: 1, blocked: 5 });
  b.end(active.id, at(20), 'quiet');
  assert.equal(b.current('prsd', 'victim.example'), undefined);
  assert.equal(b.purge(1_700_000_000_000 + 70_000), 2);
  assert.deepEqual(b.list().map((d) => d.id), [active.id]);
  assert.ok(seen.length >= 9);
});
