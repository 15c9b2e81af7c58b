#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx (esbuild), so a checkout
// works after `npm ci` with no build step. The transpiled code is the same JS
// a build would emit: no cost on hot paths.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv);
