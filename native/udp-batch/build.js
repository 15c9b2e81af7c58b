// Builds the udp-batch addon (npm runs this as the root package's `install` script, so
// `npm ci` builds it). A failed build does not fail the install: the DNS data plane then
// uses Node's dgram, and says so once in its log. Exit code 0 either way; the last line
// says what happened.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const say = (msg) => process.stderr.write(`udp-batch: ${msg}\n`);

if (process.platform !== 'linux') {
  say(`not built: recvmmsg/sendmmsg are Linux-only (this is ${process.platform}); UDP uses Node's dgram`);
  process.exit(0);
}

// node-gyp: the one npm passes to install scripts, a local one, or the one bundled with npm.
function findGyp() {
  const candidates = [process.env.npm_config_node_gyp];
  try {
    candidates.push(createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js'));
  } catch {}
  const prefix = dirname(dirname(process.execPath));
  candidates.push(join(prefix, 'lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'));
  return candidates.find((p) => p && existsSync(p));
}

const gyp = findGyp();
if (!gyp) {
  say("not built: node-gyp not found (it ships with npm); UDP uses Node's dgram");
  process.exit(0);
}
const argv = [gyp, 'rebuild', '--release'];
// Offline builds: use the headers of the running Node when its install ships them
// (Debian's nodejs and the nodejs.org tarballs do), instead of downloading them.
const prefix = dirname(dirname(process.execPath));
if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include/node/node_api.h'))) argv.push(`--nodedir=${prefix}`);
const r = spawnSync(process.execPath, argv, { cwd: here, stdio: ['ignore', 'inherit', 'inherit'] });
const out = join(here, 'build/Release/udp_batch.node');
if (r.status === 0 && existsSync(out)) say(`built ${out}`);
else say(`build failed (exit ${r.status ?? r.signal}); UDP uses Node's dgram. Needs a C compiler, make and python3; retry with: node native/udp-batch/build.js`);
