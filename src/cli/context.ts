import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { Config } from '../config/index.ts';
import type { Logger } from '../telemetry/index.ts';
import type { Platform } from '../node/index.ts';

export const VERSION: string = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Options every command accepts (declared on the root program). */
export interface GlobalOptions {
  config?: string;
  logLevel?: string;
  store?: string;
}

export function globalOptions(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

/**
 * Loads the config the command names (or the default), applying --store and --log-level
 * overrides. `offThread` (long-running servers): checked in a worker thread when running
 * compiled, so zod, yaml and the schema (~6 MiB RSS) never load in the serving thread;
 * through tsx the loader itself costs more than that, so it is checked here.
 */
export async function commandConfig(cmd: Command, opts: { offThread?: boolean } = {}): Promise<{ config: Config; source: string; logger: Logger }> {
  const { COMPILED } = await import('../core/runtime.ts');
  const [load, { createLogger }] = await Promise.all([
    opts.offThread && COMPILED ? import('../config/load-thread.ts').then((m) => m.loadConfigInThread) : import('../config/index.ts').then((m) => m.loadConfig),
    import('../telemetry/index.ts'),
  ]);
  const g = globalOptions(cmd);
  const { config, source } = await load({ ...(g.config ? { file: g.config } : {}), overrides: { 'store.url': g.store, 'log.level': g.logLevel } });
  const logger = createLogger({ level: config.log.level, name: 'sakimori' });
  return { config, source, logger };
}

/** Opens the store (migrated) and audit log for a command, runs fn, and always closes them. */
export async function withPlatform<T>(cmd: Command, fn: (p: Platform) => Promise<T>): Promise<T> {
  // platform.ts, not node/index.ts: the node's HTTP server (fastify) is not needed here.
  const { openPlatform } = await import('../node/platform.ts');
  const { config, logger } = await commandConfig(cmd);
  const platform = await openPlatform(config, { logger });
  try {
    return await fn(platform);
  } finally {
    await platform.close();
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Resolves with the signal's name at the first SIGINT or SIGTERM: how a long-running command waits to stop. */
export function untilStopSignal(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}

/** Commander option parser for a repeatable option (`--rpz a --rpz b` -> ['a', 'b']). */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}
