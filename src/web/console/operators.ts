import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { SakimoriError } from '../../core/index.ts';

/**
 * Who may use the operator console: a token file (web.console.tokenFile),
 * one operator per line as "NAME TOKEN", "#" comments. A browser logs in
 * with HTTP Basic (user NAME, password TOKEN); a script sends
 * "Authorization: Bearer TOKEN". The console is never open: a missing file is
 * created with one operator and a random token (mode 600), an empty one lets
 * nobody in. Only the tokens' SHA-256 are held in memory, compared in
 * constant time. The file is read again when it changes, so adding or
 * removing an operator needs no restart.
 */
export interface Operator {
  name: string;
}

const NAME = /^[A-Za-z0-9._@-]{1,64}$/;
const TOKEN = /^[\x21-\x7e]{20,200}$/;

interface Entry {
  name: string;
  hash: Buffer;
}

export function parseTokenFile(text: string, path: string): Entry[] {
  const out: Entry[] = [];
  const names = new Set<string>();
  text.split(/\r?\n/).forEach((line, i) => {
    const s = line.trim();
    if (s === '' || s.startsWith('#')) return;
    const where = `${path}:${i + 1}`;
    const [name, token, extra] = s.split(/\s+/);
    if (!name || !token || extra !== undefined) throw new SakimoriError('CONSOLE_TOKEN_FILE', `${where}: expected "NAME TOKEN" (two words)`, { hint: 'one operator per line, e.g. "alice 3q2-...": a name, a space, a token of 20 or more characters' });
    if (!NAME.test(name)) throw new SakimoriError('CONSOLE_TOKEN_FILE', `${where}: operator name "${name}" may use only letters, digits and . _ @ - (1 to 64 characters)`);
    if (!TOKEN.test(token)) throw new SakimoriError('CONSOLE_TOKEN_FILE', `${where}: the token of "${name}" is too short or has spaces or non-ASCII characters`, { hint: 'use 20 or more printable ASCII characters; `openssl rand -base64 32` makes one' });
    if (names.has(name)) throw new SakimoriError('CONSOLE_TOKEN_FILE', `${where}: operator "${name}" is listed twice`);
    names.add(name);
    out.push({ name, hash: digest(token) });
  });
  return out;
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

export class OperatorTokens {
  readonly path: string;
  private entries: Entry[] = [];
  private stamp = '';
  private checkedAt = 0;
  /** Set when start() created the file: the banner says where the new token is. */
  created = false;
  /** Group- or world-readable file: worth a warning. */
  looseMode = false;

  constructor(path: string, private readonly now: () => number = Date.now) {
    this.path = resolve(path);
  }

  /** Reads the file, creating it with one generated operator when it does not exist. */
  load(): void {
    let st;
    try {
      st = statSync(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw this.unreadable(err);
      this.create();
      st = statSync(this.path);
    }
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      throw this.unreadable(err);
    }
    this.entries = parseTokenFile(text, this.path);
    this.stamp = `${st.mtimeMs}:${st.size}:${st.ino}`;
    this.looseMode = (st.mode & 0o077) !== 0;
    this.checkedAt = this.now();
  }

  get count(): number {
    return this.entries.length;
  }

  /** The operator an Authorization header names, or undefined. */
  authenticate(authorization: string | undefined): Operator | undefined {
    this.refresh();
    if (!authorization) return undefined;
    const m = /^(Basic|Bearer)\s+(\S+)\s*$/i.exec(authorization);
    if (!m) return undefined;
    if (m[1]!.toLowerCase() === 'bearer') return this.match(undefined, m[2]!);
    const decoded = Buffer.from(m[2]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return undefined;
    return this.match(decoded.slice(0, colon), decoded.slice(colon + 1));
  }

  private match(name: string | undefined, token: string): Operator | undefined {
    const h = digest(token);
    let found: Entry | undefined;
    // Every entry is compared, so the time taken does not tell which one matched.
    for (const e of this.entries) if (timingSafeEqual(e.hash, h) && (name === undefined || name === e.name)) found ??= e;
    return found ? { name: found.name } : undefined;
  }

  /** Re-reads the file when it changed (checked at most every 2 s); a broken edit keeps the previous operators. */
  private refresh(): void {
    const now = this.now();
    if (now - this.checkedAt < 2000) return;
    this.checkedAt = now;
    try {
      const st = statSync(this.path);
      if (`${st.mtimeMs}:${st.size}:${st.ino}` === this.stamp) return;
      this.load();
    } catch (err) {
      this.onReloadError?.(err as Error);
    }
  }

  onReloadError: ((err: Error) => void) | undefined;

  private create(): void {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    const token = randomBytes(32).toString('base64url');
    const text = [
      '# Sakimori operator console: one operator per line, "NAME TOKEN".',
      '# Log in with HTTP Basic (user NAME, password TOKEN), or send "Authorization: Bearer TOKEN".',
      '# Add a line per operator (`openssl rand -base64 32` makes a token); changes apply without a restart.',
      `operator ${token}`,
      '',
    ].join('\n');
    try {
      writeFileSync(this.path, text, { mode: 0o600, flag: 'wx' });
      this.created = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw this.unreadable(err);
    }
  }

  private unreadable(err: unknown): SakimoriError {
    return new SakimoriError('CONSOLE_TOKEN_FILE', `web.console.tokenFile: cannot use ${this.path}: ${(err as Error).message}`, {
      hint: 'point web.console.tokenFile at a file this user can read and write (it is created when missing)',
      cause: err,
    });
  }
}
