export { createLogger, silentLogger } from './log.ts';
export type { Logger } from './log.ts';
export { createRegistry, Registry, Counter, Gauge, Histogram } from './metrics.ts';
