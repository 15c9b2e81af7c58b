// `npm run build` (and `npm ci`, through prepare): compiles src/ to dist/ for production,
// so the service and its worker threads run without the tsx loader (bin/sakimori.js).
// dist/BUILD is written only after a clean compile, with the time the build started as its
// mtime: a source changed during the build makes dist/ stale, never silently current.
// `--no-fail` (prepare): a failed build leaves no BUILD, so bin/ runs the sources, and
// exits 0 so `npm ci` still installs.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const noFail = process.argv.includes('--no-fail');
const started = new Date();
rmSync(`${root}dist`, { recursive: true, force: true });
let tsc;
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
} catch {
  // `npm ci --omit=dev` installs no TypeScript: nothing to build with. Say so, and let the
  // install finish; bin/sakimori.js then runs the sources through tsx (see README).
  process.stderr.write('build: TypeScript is not installed (npm ci --omit=dev?); no dist/, bin/sakimori.js runs the sources through tsx. Build with the dev dependencies, then `npm prune --omit=dev`\n');
  process.exit(noFail ? 0 : 1);
}
const r = spawnSync(process.execPath, [tsc, '-p', `${root}tsconfig.build.json`], { stdio: 'inherit' });
if (r.status !== 0) {
  process.stderr.write(`build: tsc failed (exit ${r.status ?? r.signal}); dist/ is not usable, bin/sakimori.js runs the sources through tsx\n`);
  rmSync(`${root}dist`, { recursive: true, force: true });
  process.exit(noFail ? 0 : 1);
}
// Files the code reads next to itself (templates, schemas, models), and the TypeScript
// sources the JS was compiled from: code that still boots a worker thread through tsx by
// a path next to itself (not through core/runtime.ts) finds the very same version there.
copyAssets(`${root}src`, `${root}dist`);
writeFileSync(`${root}dist/BUILD`, `${JSON.stringify({ started: started.toISOString() })}\n`);
utimesSync(`${root}dist/BUILD`, started, started);

function copyAssets(from, to) {
  for (const e of readdirSync(from, { withFileTypes: true })) {
    if (e.isDirectory()) {
      if (e.name !== 'testdata') copyAssets(`${from}/${e.name}`, `${to}/${e.name}`);
    } else if (!/\.(test|bench)\.ts$|\.md$/.test(e.name)) {
      mkdirSync(to, { recursive: true });
      cpSync(`${from}/${e.name}`, `${to}/${e.name}`);
    }
  }
}
