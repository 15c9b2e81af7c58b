import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

/**
 * Structured JSON logs (pino). Logs go to stderr so that a command's own
 * output on stdout (JSON, tables) stays clean for pipes; a service manager
 * collects both.
 */
export function createLogger(opts: { level?: LevelWithSilent; name?: string; destination?: NodeJS.WritableStream | number } = {}): Logger {
  const dest = opts.destination ?? 2;
  return pino(
    {
      level: opts.level ?? 'info',
      base: { name: opts.name ?? 'sakimori' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    typeof dest === 'number' ? pino.destination({ fd: dest, sync: true }) : dest,
  );
}

/** A logger that drops everything, for tests and library use. */
export const silentLogger: Logger = pino({ level: 'silent' });
