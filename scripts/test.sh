#!/usr/bin/env bash
# The whole test suite on a fresh machine: the Debian peers the tests talk to
# (installed when run as root), the npm dependencies, the type check, and
# every test file (unit tests next to the code in src/, cross-module and
# real-peer tests in test/). `--no-peers` skips the Debian install step.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" != "--no-peers" ]; then
  bash scripts/install-peers.sh
fi

# npm ci only when node_modules is missing or older than the lock file.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

# npm ci builds the udp-batch addon (package.json "install"); a tree installed before it
# existed, or a failed build, gets one more try here (its tests need it).
if [ ! -f native/udp-batch/build/Release/udp_batch.node ]; then
  node native/udp-batch/build.js
fi

echo "== type check" >&2
npx tsc --noEmit -p tsconfig.json

# dist/ as production runs it (bin/sakimori.js runs dist/ when it is current, else the
# sources); the CLI tests then run the compiled code unless a source changes meanwhile.
echo "== build" >&2
node scripts/build.mjs

echo "== tests" >&2
mapfile -t files < <(find src test bench -name '*.test.ts' -not -path '*/node_modules/*' | sort)
exec node --import tsx --test --test-reporter=spec --test-concurrency=2 --test-timeout=300000 "${files[@]}"
