/**
 * Worker-thread detection events (observed.ts): what the main thread replays into detection
 * is what the worker's data plane saw, through a real MessageChannel (structured clone,
 * buffers transferred); C&C answers arrive as the name's hash, clients once per batch.
 */
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { describe, it } from 'node:test';
import { hashBackward, type DnsObservedQuery } from '../detect/index.ts';
import { OBSERVED_BATCH, ObservedBatcher, ObservedReplay, type ObservedBatch } from './observed.ts';

describe('observed batches (worker threads -> the main thread\'s detection)', () => {
  it('replays every event as seen, policy answers as the name hash, across full and flushed batches', async () => {
    const sent: DnsObservedQuery[] = [];
    const n = OBSERVED_BATCH + 300;
    for (let i = 0; i < n; i++) {
      const matched = i % 7 === 0 ? 'cc' : i % 11 === 0 ? 'malware-sites' : i % 13 === 0 ? 'dns-abuse' : undefined;
      sent.push({
        at: 1_700_000_000_000 + i,
        client: `192.0.2.${i % 5 === 0 ? 1 : i % 200}`,
        qname: `n${i}.example.com`,
        qtype: i % 3 === 0 ? 28 : 1,
        rcode: i % 17 === 0 ? undefined : i % 2 === 0 ? 0 : 3,
        responseSize: i * 3,
        upstreamTimeout: i % 17 === 0,
        matched,
      });
    }
    const { port1, port2 } = new MessageChannel();
    const got: { e?: DnsObservedQuery; policy?: [number, string, string, number] }[] = [];
    const replay = new ObservedReplay({
      observe: (e) => got.push({ e: { ...e } }),
      observePolicy: (at, client, kind, hash) => got.push({ policy: [at, client, kind, hash] }),
    });
    let batches = 0;
    const done = new Promise<void>((resolve) => {
      port2.on('message', (b: ObservedBatch) => {
        batches++;
        assert.ok(b.clients.length <= 201, 'each client once per batch');
        replay.replay(b);
        if (got.length === n) resolve();
      });
    });
    const batcher = new ObservedBatcher((b, transfer) => port1.postMessage(b, transfer));
    const e: DnsObservedQuery = { at: 0, client: '', qname: '', qtype: 0 };
    for (const s of sent) batcher.observe(Object.assign(e, s)); // one reused object, as the data plane does
    batcher.flush();
    await done;
    port1.close();
    assert.equal(batches, 2);
    for (let i = 0; i < n; i++) {
      const s = sent[i]!;
      const g = got[i]!;
      if (s.matched === 'cc' || s.matched === 'malware-sites') {
        assert.deepEqual(g.policy, [s.at, s.client, s.matched, s.matched === 'cc' ? hashBackward(s.qname) : 0], `event ${i}`);
      } else {
        assert.deepEqual(g.e, { ...s, responseSize: s.responseSize, upstreamTimeout: s.upstreamTimeout }, `event ${i}`);
      }
    }
  });
});
