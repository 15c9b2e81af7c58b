#!/usr/bin/env node
// Runs the compiled JavaScript in dist/ (`npm run build`, also run by `npm ci` through the
// prepare script) when it was built from the sources as they are now: no loader in the
// process or in its worker threads (~30 MiB less each). Otherwise the TypeScript sources
// run through tsx (esbuild), so a checkout works with no build step, and a stale dist/
// never runs old code: the fallback is said on stderr.
import { readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const why = distProblem();
if (why === undefined) {
  const { main } = await import('../dist/cli/main.js');
  process.exitCode = await main(process.argv);
} else {
  // Quiet when dist/ was never built (a checkout), under `node --test` (tests compare
  // stderr; they run the sources as they are), or when asked to run the sources.
  if (why !== 'absent' && why !== 'asked' && !process.env.NODE_TEST_CONTEXT) {
    process.stderr.write(`sakimori: running the sources through tsx: ${why}; \`npm run build\` makes dist/ current\n`);
  }
  const { register } = await import('tsx/esm/api');
  register();
  const { main } = await import('../src/cli/main.ts');
  process.exitCode = await main(process.argv);
}

/**
 * Why dist/ must not run, or undefined when it may. dist/BUILD is written last by a
 * successful build, with the time the build started as its mtime, so anything changed in
 * src/ since (a file edited, added, or removed: its directory's mtime moves) is newer.
 */
function distProblem() {
  if (process.env.SAKIMORI_SOURCES === '1') return 'asked';
  let built;
  try {
    built = statSync(`${root}dist/BUILD`).mtimeMs;
  } catch {
    return 'absent';
  }
  const newer = newerThan(`${root}src`, built);
  return newer === undefined ? undefined : `${newer.slice(root.length)} is newer than dist/`;
}

/** The first path under dir (dir included) modified after t, skipping what the build does not emit. */
function newerThan(dir, t) {
  if (statSync(dir).mtimeMs > t) return dir;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory()) {
      if (e.name === 'testdata') continue;
      const n = newerThan(p, t);
      if (n !== undefined) return n;
    } else if (!/\.(test|bench)\.ts$|\.md$/.test(e.name) && statSync(p).mtimeMs > t) return p;
  }
  return undefined;
}
