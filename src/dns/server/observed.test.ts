/**
 * Worker-thread detection events (observed.ts): what the main thread replays into detection
 * is what the worker's data plane saw — the ring crosses a real MessageChannel once, then
 * records go through shared memory; C&C answers arrive as the name's hash; the ring wraps
 * around, and a full ring drops events and reports them as lost.
 */
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';
import { describe, it } from 'node:test';
import { hashBackward, type DnsObservedQuery } from '../detect/index.ts';
import { ObservedBatcher, ObservedReplay, type ObservedBatch } from './observed.ts';

function events(n: number): DnsObservedQuery[] {
  const out: DnsObservedQuery[] = [];
  for (let i = 0; i < n; i++) {
    const matched = i % 7 === 0 ? 'cc' : i % 11 === 0 ? 'malware-sites' : i % 13 === 0 ? 'dns-abuse' : undefined;
    out.push({
      at: 1_700_000_000_000 + i,
      client: i % 5 === 0 ? '2001:db8::1' : `192.0.2.${i % 200}`,
      qname: i % 97 === 0 ? `${'x'.repeat(63)}.${'y'.repeat(63)}.${'z'.repeat(63)}.example.com` : `n${i}.example.com`,
      qtype: i % 3 === 0 ? 28 : 1,
      rcode: i % 17 === 0 ? undefined : i % 2 === 0 ? 0 : 3,
      responseSize: (i * 37) % 70_000,
      upstreamTimeout: i % 17 === 0,
      matched,
    });
  }
  return out;
}

type Got = { e?: DnsObservedQuery; policy?: [number, string, string, number] };

function sink(got: Got[], lost: number[]) {
  return {
    observe: (e: DnsObservedQuery) => got.push({ e: { ...e } }),
    observePolicy: (at: number, client: string, kind: 'cc' | 'malware-sites', hash: number) => got.push({ policy: [at, client, kind, hash] }),
    lost: (n: number) => lost.push(n),
  };
}

function check(sent: DnsObservedQuery[], got: Got[]): void {
  assert.equal(got.length, sent.length);
  for (let i = 0; i < sent.length; i++) {
    const s = sent[i]!;
    const g = got[i]!;
    if (s.matched === 'cc' || s.matched === 'malware-sites') assert.deepEqual(g.policy, [s.at, s.client, s.matched, s.matched === 'cc' ? hashBackward(s.qname) : 0], `event ${i}`);
    else assert.deepEqual(g.e, { ...s, responseSize: Math.min(s.responseSize!, 0xffff) }, `event ${i}`);
  }
}

describe('observed events (worker threads -> the main thread\'s detection)', () => {
  it('replays every event as seen, through the ring posted over a MessageChannel, wrapping around', async () => {
    const sent = events(20_000);
    const { port1, port2 } = new MessageChannel();
    const got: Got[] = [];
    const lost: number[] = [];
    const replay = new ObservedReplay(sink(got, lost), 0);
    const posted = new Promise<void>((resolve) => port2.once('message', (b: ObservedBatch) => (replay.replay(b), resolve())));
    const batcher = new ObservedBatcher((b, transfer) => port1.postMessage(b, transfer), 64 * 1024); // ~1,500 events: wraps many times
    await posted;
    const e: DnsObservedQuery = { at: 0, client: '', qname: '', qtype: 0 };
    for (let i = 0; i < sent.length; i++) {
      batcher.observe(Object.assign(e, sent[i])); // one reused object, as the data plane does
      if (i % 500 === 499) {
        batcher.flush();
        replay.drain();
      }
    }
    batcher.flush();
    replay.stop();
    port1.close();
    check(sent, got);
    assert.deepEqual(lost, []);
  });

  it('a full ring drops events and reports them lost; later events still arrive', () => {
    let ring: ObservedBatch | undefined;
    const batcher = new ObservedBatcher((b) => (ring = b), 4096);
    const got: Got[] = [];
    const lost: number[] = [];
    const replay = new ObservedReplay(sink(got, lost), 0);
    replay.replay(ring!);
    const sent = events(400).filter((x) => x.matched === undefined && x.qname.length < 30); // one size: the first ones fit
    const e: DnsObservedQuery = { at: 0, client: '', qname: '', qtype: 0 };
    for (const s of sent) batcher.observe(Object.assign(e, s));
    batcher.flush();
    replay.drain();
    const kept = got.length;
    assert.ok(kept > 0 && kept < sent.length, `${kept} of ${sent.length} fit`);
    assert.equal(lost.reduce((a, b) => a + b, 0), sent.length - kept);
    check(sent.slice(0, kept), got);
    batcher.observe(Object.assign(e, sent[0]));
    batcher.flush();
    replay.drain();
    assert.equal(got.length, kept + 1);
  });
});
