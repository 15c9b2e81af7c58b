import type { Config } from '../config/index.ts';
import { openStore, type Store } from '../store/index.ts';
import { openBus, type Bus } from '../bus/index.ts';
import { AuditLog, PurposeBoundRecords, RetentionPurger } from '../privacy/index.ts';
import { createRegistry, type Logger, type Registry } from '../telemetry/index.ts';
import { systemClock, type Clock } from '../core/index.ts';
import { ConsentRegistry } from '../consent/index.ts';
import { ALL_MIGRATIONS, ALL_RETENTION_RULES } from './migrations.ts';

/**
 * What every part of a node, and every CLI command that touches state, stands
 * on: the store (migrated), the audit log, purpose-bound records, retention,
 * and — for the node — the bus and the metrics registry. Parts get the pieces
 * they need from here, typed as the small ports they use, never this whole bag.
 */
export interface Platform {
  readonly config: Config;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly registry: Registry;
  readonly store: Store;
  readonly audit: AuditLog;
  readonly records: PurposeBoundRecords;
  readonly retention: RetentionPurger;
  /** Opt-out / opt-in choices (R1); changes are published on the bus when there is one. */
  readonly consent: ConsentRegistry;
  /** Undefined when opened without the bus (CLI commands that only read the store). */
  readonly bus: Bus | undefined;
  close(): Promise<void>;
}

export interface OpenPlatformOptions {
  logger: Logger;
  clock?: Clock;
  /** Connect the bus too (the node does; most CLI commands need only the store). */
  withBus?: boolean;
  /** Collect process metrics (the node does). */
  processMetrics?: boolean;
}

export async function openPlatform(config: Config, opts: OpenPlatformOptions): Promise<Platform> {
  const { logger } = opts;
  const clock = opts.clock ?? systemClock;
  const store = await openStore(config.store.url, { logger });
  let bus: Bus | undefined;
  try {
    const report = await store.migrate(ALL_MIGRATIONS);
    if (report.applied.length) logger.info({ applied: report.applied, store: store.displayUrl }, 'store migrated');
    if (opts.withBus) bus = await openBus(config.bus.url, { logger });
  } catch (err) {
    await store.close();
    throw err;
  }
  const audit = new AuditLog(store, {
    clock,
    flushIntervalMs: config.privacy.auditFlushInterval,
    onError: (err) => logger.error({ err }, 'audit log write failed; entries kept and retried'),
  });
  const retention = new RetentionPurger(store, audit, config.privacy.retention, { clock });
  retention.register({ name: 'purpose-bound records', table: 'purpose_records', key: 'id', timeColumn: 'created_at', purposeColumn: 'purpose' });
  for (const rule of ALL_RETENTION_RULES) retention.register(rule);
  const registry = createRegistry({ processMetrics: opts.processMetrics ?? false, labels: { node: config.node.name } });
  return {
    config,
    logger,
    clock,
    registry,
    store,
    bus,
    audit,
    records: new PurposeBoundRecords(store, audit, clock),
    retention,
    consent: new ConsentRegistry(store, audit, { clock, ...(bus ? { publisher: bus } : {}) }),
    async close() {
      await audit.close();
      await bus?.close();
      await store.close();
    },
  };
}
