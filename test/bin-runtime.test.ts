/**
 * bin/sakimori.js chooses between dist/ and the sources: dist/ only when nothing the
 * build compiles changed since dist/BUILD; otherwise the sources through tsx, saying so on
 * stderr when a stale dist/ is there. Run on a scratch tree (a copy of bin/, a stand-in
 * src/ and dist/ whose main() says which ran, node_modules linked) so no real build is needed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sakimori-bin-'));
  mkdirSync(join(dir, 'bin'));
  cpSync(join(ROOT, 'bin/sakimori.js'), join(dir, 'bin/sakimori.js'));
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  mkdirSync(join(dir, 'src/cli'), { recursive: true });
  writeFileSync(join(dir, 'src/cli/main.ts'), "export async function main(): Promise<number> { process.stdout.write('src'); return 0; }\n");
  writeFileSync(join(dir, 'src/cli/main.test.ts'), '// a test: not compiled, not a reason to rebuild\n');
  return dir;
}

function build(dir: string, at: Date): void {
  mkdirSync(join(dir, 'dist/cli'), { recursive: true });
  writeFileSync(join(dir, 'dist/cli/main.js'), "export async function main() { process.stdout.write('dist'); return 0; }\n");
  writeFileSync(join(dir, 'dist/BUILD'), '{}\n');
  utimesSync(join(dir, 'dist/BUILD'), at, at);
}

function run(dir: string, env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string }> {
  const clean = { ...process.env, ...env };
  delete clean.NODE_TEST_CONTEXT; // the stale-dist line is kept quiet under node --test
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [join(dir, 'bin/sakimori.js')], { env: clean }, (err, stdout, stderr) => (err ? reject(err) : resolve({ stdout, stderr })));
  });
}

/** Sets the mtime (and atime) of every path given to t. */
function age(t: Date, ...paths: string[]): void {
  for (const p of paths) utimesSync(p, t, t);
}

test('bin/sakimori.js runs dist/ only when it is current, else the sources (and says why)', async (t) => {
  const dir = scratch();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const past = new Date(Date.now() - 60_000);
  const now = new Date();
  age(past, join(dir, 'src/cli/main.ts'), join(dir, 'src/cli/main.test.ts'), join(dir, 'src/cli'), join(dir, 'src'));

  // No dist/: the sources, quietly (a checkout that was never built).
  assert.deepEqual(await run(dir), { stdout: 'src', stderr: '' });

  // Built after the last change: dist/.
  build(dir, now);
  assert.deepEqual(await run(dir), { stdout: 'dist', stderr: '' });
  // Asked for the sources.
  assert.equal((await run(dir, { SAKIMORI_SOURCES: '1' })).stdout, 'src');

  // A test file changed: still dist/ (the build does not compile tests).
  age(new Date(Date.now() + 5_000), join(dir, 'src/cli/main.test.ts'));
  assert.equal((await run(dir)).stdout, 'dist');

  // A source changed after the build started: the sources, with one line naming it.
  age(new Date(Date.now() + 5_000), join(dir, 'src/cli/main.ts'));
  let r = await run(dir);
  assert.equal(r.stdout, 'src');
  assert.match(r.stderr, /^sakimori: running the sources through tsx: src\/cli\/main\.ts is newer than dist\/; `npm run build` makes dist\/ current\n$/);

  // Rebuilt; then a file added (or removed): its directory is newer, so the sources again.
  build(dir, new Date(Date.now() + 10_000));
  assert.equal((await run(dir)).stdout, 'dist');
  writeFileSync(join(dir, 'src/cli/extra.ts'), 'export {};\n');
  age(new Date(Date.now() + 5_000), join(dir, 'src/cli/extra.ts'));
  age(new Date(Date.now() + 15_000), join(dir, 'src/cli'));
  r = await run(dir);
  assert.equal(r.stdout, 'src');
  assert.match(r.stderr, /src\/cli is newer than dist\//);
});
