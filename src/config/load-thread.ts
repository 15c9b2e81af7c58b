/**
 * loadConfig() in a short-lived worker thread, for long-running commands that need only
 * the resulting values (`dns serve`): zod, yaml and the schema stay out of the serving
 * thread for good (ES modules are never unloaded). The config is plain data, so it comes
 * back by structured clone; errors come back as the same SakimoriError / ConfigError.
 */
import { Worker } from 'node:worker_threads';
import { ConfigError, SakimoriError, workerBoot } from '../core/index.ts';
import type { LoadOptions } from './load.ts';
import type { Config } from './schema.ts';

/** What the worker posts (load-thread-worker.ts). */
export type LoadThreadMessage =
  | { type: 'ok'; config: Config; source: string }
  | { type: 'config-error'; source: string; issues: string[] }
  | { type: 'error'; code?: string; message: string; hint?: string }
  | { type: 'fatal'; message: string };

const BOOT = workerBoot(new URL('./load-thread-worker.ts', import.meta.url));

export async function loadConfigInThread(opts: LoadOptions = {}): Promise<{ config: Config; source: string }> {
  // cwd is this process's unless given: a worker shares it, but say it for clarity.
  const worker = new Worker(BOOT, { eval: true, workerData: { ...opts, cwd: opts.cwd ?? process.cwd() } });
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
  const msg = await new Promise<LoadThreadMessage>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    void exited.then((code) => reject(new SakimoriError('CONFIG_THREAD', `the config thread exited (code ${code}) without an answer`)));
  });
  // Gone before the caller goes on: its heap (zod, the schema) is given back now.
  await exited;
  switch (msg.type) {
    case 'ok':
      return { config: msg.config, source: msg.source };
    case 'config-error':
      throw new ConfigError(msg.source, msg.issues);
    case 'error':
      if (msg.code !== undefined) throw new SakimoriError(msg.code, msg.message, msg.hint === undefined ? {} : { hint: msg.hint });
      throw new Error(msg.message);
    case 'fatal':
      throw new SakimoriError('CONFIG_THREAD', `the config thread could not start: ${msg.message}`);
  }
}
