import { Registry, collectDefaultMetrics, Counter, Gauge, Histogram } from 'prom-client';

export { Registry, Counter, Gauge, Histogram };

/**
 * One Prometheus registry per node (not prom-client's global one), so tests
 * and several nodes in one process never share counters. Process metrics
 * (CPU, memory, event-loop lag, GC) are collected with the `sakimori_` prefix;
 * each part registers its own counters on the registry it is given.
 */
export function createRegistry(opts: { processMetrics?: boolean; labels?: Record<string, string> } = {}): Registry {
  const registry = new Registry();
  if (opts.labels) registry.setDefaultLabels(opts.labels);
  if (opts.processMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'sakimori_' });
  return registry;
}
