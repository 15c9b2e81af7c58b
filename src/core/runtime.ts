/**
 * How this process runs Sakimori's code: compiled JavaScript from dist/ (what
 * `npm run build` emits, and what bin/sakimori.js prefers when it is up to date) or the
 * TypeScript sources through the tsx loader. Whatever starts a worker thread asks here,
 * because a worker inherits neither the loader nor the choice.
 */

/** True when this module itself was loaded as compiled JS (so is every module beside it). */
export const COMPILED: boolean = import.meta.url.endsWith('.js');

/**
 * Code for `new Worker(code, { eval: true })` that loads `entry` the way this process
 * runs: the compiled sibling (`x.ts` -> `x.js`, no loader: ~30 MiB less per thread) when
 * running from dist/, else tsx registered first. Give the `.ts` URL next to the caller
 * (`new URL('./worker.ts', import.meta.url)`); it is mapped when compiled. If loading
 * fails, the worker posts `{ type: 'fatal', message }` to its parent.
 */
export function workerBoot(entry: URL | string): string {
  const href = typeof entry === 'string' ? entry : entry.href;
  const fail = `.catch((e) => { require('node:worker_threads').parentPort.postMessage({ type: 'fatal', message: String((e && e.stack) || e) }); });`;
  if (COMPILED) return `import(${JSON.stringify(href.replace(/\.ts$/, '.js'))})${fail}`;
  const tsx = import.meta.resolve('tsx/esm/api');
  return `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(href)}); })${fail}`;
}
