/**
 * Prometheus metrics of the DNS firewall, read from the data plane's plain counters when
 * /metrics is scraped (nothing is done per query but `n++`).
 */
import type { Registry } from '../../telemetry/index.ts';
import { LATENCY_BUCKETS, TRANSPORTS, WAIT_BUCKET_BINS, type StatsSnapshot } from './stats.ts';

const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'YXDOMAIN', 'YXRRSET', 'NXRRSET', 'NOTAUTH', 'NOTZONE', 'RCODE11', 'RCODE12', 'RCODE13', 'RCODE14', 'RCODE15', 'none'];

interface Value {
  labels: Record<string, string>;
  value: number;
  metricName?: string;
}

/** A metric whose values come from a function at scrape time (prom-client's metric shape). */
class Derived {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
    private readonly values: () => Value[],
  ) {}
  get(): { name: string; help: string; type: string; values: Value[]; aggregator: 'sum' } {
    return { name: this.name, help: this.help, type: this.type, values: this.values(), aggregator: 'sum' };
  }
}

export interface FirewallCounters {
  snapshot(): StatsSnapshot;
  events(): { taken: number; merged: number; notKept: number; written: number; writeErrors: number };
  reloads(): { zone: string; ok: number; failed: number }[];
  zoneNames(): { zone: string; names: number }[];
}

export function registerDnsMetrics(registry: Registry, c: FirewallCounters): void {
  const m = (name: string, help: string, type: 'counter' | 'gauge' | 'histogram', values: () => Value[]) => {
    // prom-client's Registry takes any object with name/help/type/get().
    (registry as unknown as { registerMetric(x: unknown): void }).registerMetric(new Derived(name, help, type, values));
  };
  m('sakimori_dns_queries_total', 'DNS queries received, by transport', 'counter', () => TRANSPORTS.map((t) => ({ labels: { transport: t }, value: c.snapshot().queries[t] })));
  m('sakimori_dns_responses_total', 'DNS answers sent, by transport and rcode (rcode "none": dropped on purpose)', 'counter', () => {
    const s = c.snapshot();
    const out: Value[] = [];
    for (const t of TRANSPORTS) s.responses[t].forEach((v, i) => v > 0 && out.push({ labels: { transport: t, rcode: RCODE_NAMES[i] ?? String(i) }, value: v }));
    return out;
  });
  m('sakimori_dns_malformed_total', 'Queries that could not be parsed (answered FORMERR when possible; a TCP connection is closed)', 'counter', () =>
    TRANSPORTS.map((t) => ({ labels: { transport: t }, value: c.snapshot().malformed[t] })),
  );
  m('sakimori_dns_policy_total', 'Queries whose answer the policy decided, by list (policy zone) and action', 'counter', () =>
    Object.entries(c.snapshot().policy).map(([k, v]) => {
      const [list, action] = k.split('\0');
      return { labels: { list: list ?? '', action: action ?? '' }, value: v };
    }),
  );
  m('sakimori_dns_unfiltered_total', 'Queries resolved without policy: opted-out clients (R1 consent) and the unfiltered listener', 'counter', () => [{ labels: {}, value: c.snapshot().unfiltered }]);
  m('sakimori_dns_servfail_total', 'SERVFAIL answers given because no upstream answered in time', 'counter', () => [{ labels: {}, value: c.snapshot().servfail }]);
  m('sakimori_dns_udp_socket_datagrams_total', 'Datagrams on the batched UDP listener sockets (udp-batch), by event: received, truncated (longer than a slot), sent, queued (waited for writability), dropped (given up), send_error', 'counter', () => {
    const u = c.snapshot().udpSockets;
    if (!u) return [];
    return [
      { labels: { event: 'received' }, value: u.received },
      { labels: { event: 'truncated' }, value: u.truncated },
      { labels: { event: 'sent' }, value: u.sent },
      { labels: { event: 'queued' }, value: u.queued },
      { labels: { event: 'dropped' }, value: u.dropped },
      { labels: { event: 'send_error' }, value: u.sendErrors },
    ];
  });
  m('sakimori_dns_udp_sockets', 'Batched UDP listener sockets, by implementation: native (recvmmsg/sendmmsg addon) or dgram (fallback)', 'gauge', () => {
    const u = c.snapshot().udpSockets;
    return u ? [{ labels: { impl: 'native' }, value: u.native }, { labels: { impl: 'dgram' }, value: u.sockets - u.native }] : [];
  });
  m(
    'sakimori_dns_udp_read_delay_seconds',
    'For each batch of UDP queries read from a listener socket (native sockets), how long its oldest query had waited there (kernel receive time to read): queueing behind a busy thread, or a thread not given a CPU',
    'histogram',
    () => {
      const u = c.snapshot().udpSockets;
      if (!u || u.waitBins.length === 0) return [];
      const name = 'sakimori_dns_udp_read_delay_seconds';
      const out: Value[] = [];
      let below = 0;
      let bin = 0;
      for (const k of WAIT_BUCKET_BINS) {
        for (; bin <= k; bin++) below += u.waitBins[bin] ?? 0;
        out.push({ metricName: `${name}_bucket`, labels: { le: String(2 ** k / 1e6) }, value: below });
      }
      const count = u.waitBins.reduce((a, v) => a + v, 0);
      out.push({ metricName: `${name}_bucket`, labels: { le: '+Inf' }, value: count });
      out.push({ metricName: `${name}_sum`, labels: {}, value: u.waitSum });
      out.push({ metricName: `${name}_count`, labels: {}, value: count });
      return out;
    },
  );
  m('sakimori_dns_upstream_up', 'Whether each upstream is in use (1) or marked down and probed (0)', 'gauge', () => c.snapshot().upstreams.map((u) => ({ labels: { upstream: u.address }, value: u.up ? 1 : 0 })));
  m('sakimori_dns_upstream_queries_total', 'Queries sent to each upstream, by result', 'counter', () =>
    c.snapshot().upstreams.flatMap((u) => [
      { labels: { upstream: u.address, result: 'sent' }, value: u.sent },
      { labels: { upstream: u.address, result: 'answered' }, value: u.answered },
      { labels: { upstream: u.address, result: 'timeout' }, value: u.timeouts },
      { labels: { upstream: u.address, result: 'error' }, value: u.errors },
    ]),
  );
  m('sakimori_dns_upstream_latency_seconds', 'Time from sending a query upstream to its answer', 'histogram', () =>
    c.snapshot().upstreams.flatMap((u) => [
      ...LATENCY_BUCKETS.map((le, i) => ({ metricName: 'sakimori_dns_upstream_latency_seconds_bucket', labels: { upstream: u.address, le: String(le) }, value: u.buckets[i] ?? 0 })),
      { metricName: 'sakimori_dns_upstream_latency_seconds_bucket', labels: { upstream: u.address, le: '+Inf' }, value: u.buckets[LATENCY_BUCKETS.length] ?? 0 },
      { metricName: 'sakimori_dns_upstream_latency_seconds_sum', labels: { upstream: u.address }, value: u.latencySum },
      { metricName: 'sakimori_dns_upstream_latency_seconds_count', labels: { upstream: u.address }, value: u.buckets[LATENCY_BUCKETS.length] ?? 0 },
    ]),
  );
  m('sakimori_dns_block_events_total', 'Blocked lookups handed to the block-event log: merged into a row, not kept (buffer full under a flood), rows written', 'counter', () => {
    const e = c.events();
    return [
      { labels: { result: 'taken' }, value: e.taken },
      { labels: { result: 'merged' }, value: e.merged },
      { labels: { result: 'not_kept' }, value: e.notKept },
      { labels: { result: 'rows_written' }, value: e.written },
    ];
  });
  m('sakimori_dns_policy_reloads_total', 'Policy zone reloads, by zone and result (failed: the previous version stayed in force)', 'counter', () =>
    c.reloads().flatMap((r) => [
      { labels: { zone: r.zone, result: 'ok' }, value: r.ok },
      { labels: { zone: r.zone, result: 'failed' }, value: r.failed },
    ]),
  );
  m('sakimori_dns_policy_names', 'Names (triggers) in force per policy zone', 'gauge', () => c.zoneNames().map((z) => ({ labels: { zone: z.zone }, value: z.names })));
}
