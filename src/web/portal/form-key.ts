import { randomBytes } from 'node:crypto';
import { link, mkdir, readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SakimoriError } from '../../core/index.ts';

/**
 * The portal's form-token key, kept in a file (mode 0600) so a form shown
 * before a restart still posts after it, and every node process reading the
 * same file accepts the others' forms. Created on first use: written to a
 * temporary file, then linked into place, so processes starting together
 * agree on one key and none reads a half-written file.
 */
export async function loadFormKey(path: string, logger: { warn(obj: object, msg: string): void }): Promise<Buffer> {
  const existing = await readKey(path);
  if (existing) return check(path, existing, logger);
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(tmp, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  try {
    await link(tmp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fileError(path, err);
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
  const made = await readKey(path);
  if (!made) throw new SakimoriError('PORTAL_FORM_KEY', `${path}: the portal's form key file vanished while it was being created`);
  return check(path, made, logger);
}

async function readKey(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fileError(path, err);
  }
}

async function check(path: string, text: string, logger: { warn(obj: object, msg: string): void }): Promise<Buffer> {
  const key = Buffer.from(text.trim(), 'base64url');
  if (!/^[A-Za-z0-9_-]{43}$/.test(text.trim()) || key.length !== 32) {
    throw new SakimoriError('PORTAL_FORM_KEY', `${path}: is not a portal form key (expected one line of 43 base64url characters)`, {
      hint: 'delete the file: a new key is made at the next start (forms shown before that must be reloaded)',
    });
  }
  const mode = (await stat(path)).mode & 0o777;
  if ((mode & 0o077) !== 0) logger.warn({ file: path, mode: mode.toString(8) }, 'portal: the form key file can be read by other users; chmod 600 it');
  return key;
}

function fileError(path: string, err: unknown): SakimoriError {
  return new SakimoriError('PORTAL_FORM_KEY', `${path}: cannot use the portal's form key file: ${(err as Error).message}`, {
    hint: 'make its directory writable by this user (it is created when missing), next to web.console.tokenFile',
    cause: err,
  });
}
