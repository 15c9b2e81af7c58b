import { oneOf, section } from '../fields.ts';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

/** Logging; the levels are pino's. */
export const log = section({
  level: oneOf(LOG_LEVELS, 'log level').prefault('info'),
});
