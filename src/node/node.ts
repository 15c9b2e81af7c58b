import type { Config } from '../config/index.ts';
import { worstStatus, type Endpoint, type Part, type PartHealth } from '../core/index.ts';
import { HttpServer, type HealthReport } from '../web/index.ts';
import { Counter, type Logger } from '../telemetry/index.ts';
import { openPlatform, type Platform } from './platform.ts';
import { RetentionSchedule } from './retention-schedule.ts';
import { buildCapabilityParts } from './parts.ts';
import { parseListenAddress } from '../core/index.ts';

/**
 * The ISP node (`sakimori start`): the platform, then every part, then the
 * HTTP server last so that it serves every part's routes. Stopped in reverse.
 */
export interface RunningNode {
  readonly platform: Platform;
  readonly http: HttpServer;
  readonly parts: readonly Part[];
  endpoints(): Endpoint[];
  health(): Promise<HealthReport>;
  stop(): Promise<void>;
}

export async function startNode(config: Config, opts: { logger: Logger; version: string }): Promise<RunningNode> {
  const { logger } = opts;
  const platform = await openPlatform(config, { logger, withBus: true, processMetrics: true });
  const startedAt = new Date().toISOString();
  const started: Part[] = [];
  const purged = new Counter({ name: 'sakimori_retention_purged_total', help: 'Rows deleted by the retention purge, by purpose and rule (R16)', labelNames: ['purpose', 'rule'], registers: [platform.registry] });
  const listen = parseListenAddress(config.http.listen);
  if ('error' in listen) throw new Error(`http.listen "${config.http.listen}" ${listen.error}`); // validated by config already
  let http!: HttpServer;
  const health = async (): Promise<HealthReport> => {
    const parts: Record<string, PartHealth> = {};
    parts.store = await probe(async () => {
      await platform.store.ping();
      return { status: 'ok', detail: { url: platform.store.displayUrl, dialect: platform.store.dialect } };
    });
    parts.bus = await probe(async () => {
      await platform.bus!.ping();
      return { status: 'ok', detail: { url: platform.bus!.displayUrl } };
    });
    for (const p of [...started]) parts[p.name] = await probe(() => p.health());
    return { status: worstStatus(Object.values(parts).map((p) => p.status)), node: config.node.name, version: opts.version, startedAt, parts };
  };
  try {
    http = new HttpServer({ listen, logger, registry: platform.registry, version: opts.version, health, trustProxy: config.http.trustProxy });
    await http.prepare();
    const parts: Part[] = [new RetentionSchedule(platform.retention, config.privacy.purgeInterval, logger, purged), ...buildCapabilityParts(platform)];
    for (const part of parts) {
      await part.routes?.(http.app);
      await part.start();
      started.push(part);
      logger.debug({ part: part.name }, 'part started');
    }
    await http.start();
    started.push(http);
  } catch (err) {
    for (const p of started.reverse()) await p.stop().catch(() => undefined);
    await platform.close();
    throw err;
  }
  return {
    platform,
    http,
    parts: started,
    endpoints: () => started.flatMap((p) => p.endpoints()),
    health,
    async stop() {
      for (const p of [...started].reverse()) {
        try {
          await p.stop();
        } catch (err) {
          logger.error({ err, part: p.name }, 'part failed to stop cleanly');
        }
      }
      await platform.close();
    },
  };
}

async function probe(fn: () => Promise<PartHealth>): Promise<PartHealth> {
  try {
    return await fn();
  } catch (err) {
    return { status: 'down', detail: { error: (err as Error).message } };
  }
}
