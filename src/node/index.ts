export { startNode } from './node.ts';
export type { RunningNode } from './node.ts';
export { openPlatform } from './platform.ts';
export type { Platform, OpenPlatformOptions } from './platform.ts';
export { ALL_MIGRATIONS } from './migrations.ts';
