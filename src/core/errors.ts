/**
 * Errors an operator can act on: what went wrong, where, and what to do.
 * Every error Sakimori raises on purpose is a SakimoriError with a stable code,
 * so the CLI can print it without a stack trace and exit with a clear status.
 */
export class SakimoriError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  constructor(code: string, message: string, opts: { hint?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'SakimoriError';
    this.code = code;
    this.hint = opts.hint;
  }
  /** One or two lines for a terminal: the message, then what to do. */
  toDisplay(): string {
    return this.hint ? `${this.message}\n  -> ${this.hint}` : this.message;
  }
}

/** A record was read for a purpose other than the one it was collected for (R16). */
export class PurposeMismatchError extends SakimoriError {
  constructor(what: string, recordPurpose: string, requestedPurpose: string) {
    super(
      'PURPOSE_MISMATCH',
      `${what} was collected for purpose "${recordPurpose}" and cannot be read for "${requestedPurpose}"`,
      { hint: 'secrecy of communications (R16): data is used only for the purpose it was collected for' },
    );
    this.name = 'PurposeMismatchError';
  }
}

/** Configuration problems: a list of issues, each naming a key path. */
export class ConfigError extends SakimoriError {
  readonly issues: readonly string[];
  constructor(
    /** The file (or "embedded defaults") the issues are in. */
    readonly source: string,
    issues: readonly string[],
  ) {
    super('CONFIG_INVALID', `${source}: ${issues.length} problem(s)\n${issues.map((i) => `  - ${i}`).join('\n')}`, {
      hint: 'fix the keys above; `sakimori config example` prints every valid key with a comment',
    });
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof SakimoriError) return err.toDisplay();
  if (err instanceof Error) return err.message;
  return String(err);
}
