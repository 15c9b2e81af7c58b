/** The worker side of load-thread.ts: loads the config, posts it (or the error), exits. */
import { parentPort, workerData } from 'node:worker_threads';
import { ConfigError, SakimoriError } from '../core/errors.ts';
import { loadConfig, type LoadOptions } from './load.ts';
import type { LoadThreadMessage } from './load-thread.ts';

let msg: LoadThreadMessage;
try {
  const { config, source } = await loadConfig(workerData as LoadOptions);
  msg = { type: 'ok', config, source };
} catch (err) {
  if (err instanceof ConfigError) msg = { type: 'config-error', source: err.source, issues: [...err.issues] };
  else if (err instanceof SakimoriError) msg = { type: 'error', code: err.code, message: err.message, ...(err.hint === undefined ? {} : { hint: err.hint }) };
  else msg = { type: 'error', message: err instanceof Error ? err.message : String(err) };
}
parentPort!.postMessage(msg);
