import { resolve } from 'node:path';
import { SakimoriError } from '../core/index.ts';

/** Where a store lives, parsed from `store.url`. */
export type StoreLocation =
  | { kind: 'sqlite'; /** absolute path, or ":memory:" */ path: string; displayUrl: string }
  | {
      kind: 'postgres';
      /** The URL as given, handed to pg unchanged (it understands ?host=/socket, sslmode, ...). */
      connectionString: string;
      displayUrl: string;
      /** "db.example.net:5432" or "unix socket /run/postgresql/.s.PGSQL.5432", for error messages. */
      endpoint: string;
      database: string;
      user: string;
    };

const SUPPORTED = 'use sqlite:PATH or postgres://USER@HOST/DB';

function unsupported(url: string, why?: string): SakimoriError {
  return new SakimoriError(
    'STORE_URL_INVALID',
    `store.url '${redactPassword(url)}' is not supported${why ? ` (${why})` : ''}: ${SUPPORTED}`,
    {
      hint: 'examples: sqlite:./data/sakimori.db, sqlite:/var/lib/sakimori/sakimori.db, sqlite::memory:, postgres://sakimori@db.example.net:5432/sakimori, postgres://sakimori@/sakimori?host=/run/postgresql',
    },
  );
}

/**
 * Parses a store URL. Relative SQLite paths resolve against `cwd` (the
 * directory the operator started Sakimori in), so `sqlite:./data/sakimori.db`
 * means what it says.
 */
export function parseStoreUrl(url: string, cwd: string = process.cwd()): StoreLocation {
  const text = url.trim();
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(text)?.[1]?.toLowerCase();
  if (scheme === 'sqlite' || scheme === 'sqlite3') {
    // sqlite:PATH; sqlite:///abs and sqlite://rel are accepted too, as other tools write them.
    let path = text.slice(scheme.length + 1);
    if (path.startsWith('//')) path = path.slice(2);
    if (path === '') throw unsupported(url, 'no file path after "sqlite:"');
    if (path === ':memory:') return { kind: 'sqlite', path, displayUrl: 'sqlite::memory:' };
    const abs = resolve(cwd, decodePathOnce(path));
    return { kind: 'sqlite', path: abs, displayUrl: `sqlite:${abs}` };
  }
  if (scheme === 'postgres' || scheme === 'postgresql') return parsePostgres(text, url);
  if (scheme === undefined) throw unsupported(url, 'no scheme');
  throw unsupported(url);
}

function decodePathOnce(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    return path;
  }
}

function parsePostgres(text: string, original: string): StoreLocation {
  const m = /^postgres(?:ql)?:\/\/([^/?#]*)(?:\/([^?#]*))?(?:\?([^#]*))?$/i.exec(text);
  if (!m) throw unsupported(original, 'expected postgres://USER[:PASSWORD]@HOST[:PORT]/DB');
  const authority = m[1] ?? '';
  const at = authority.lastIndexOf('@');
  const userInfo = at >= 0 ? authority.slice(0, at) : '';
  const hostPort = at >= 0 ? authority.slice(at + 1) : authority;
  const query = new URLSearchParams(m[3] ?? '');
  const user = decodePathOnce(query.get('user') ?? userInfo.split(':')[0] ?? '') || process.env['PGUSER'] || 'postgres';
  const database = decodePathOnce(m[2] ?? '') || query.get('dbname') || user;

  let host: string;
  let port: string;
  const bracketed = /^\[([^\]]+)\](?::(\d*))?$/.exec(hostPort);
  if (bracketed) {
    host = bracketed[1]!;
    port = bracketed[2] ?? '';
  } else {
    const colon = hostPort.lastIndexOf(':');
    host = colon >= 0 ? hostPort.slice(0, colon) : hostPort;
    port = colon >= 0 ? hostPort.slice(colon + 1) : '';
  }
  if (port !== '' && !/^\d+$/.test(port)) throw unsupported(original, `port '${port}' is not a number`);
  host = query.get('host') ?? decodePathOnce(host);
  port = query.get('port') ?? port;
  if (port === '') port = '5432';
  if (host === '') host = 'localhost';
  const endpoint = host.startsWith('/') ? `unix socket ${host}/.s.PGSQL.${port}` : `${host.includes(':') ? `[${host}]` : host}:${port}`;
  return { kind: 'postgres', connectionString: text, displayUrl: redactPassword(text), endpoint, database, user };
}

/** Replaces any password (in the user-info part or a password= parameter) with "***". */
export function redactPassword(url: string): string {
  return url
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^/?#@]*?:)[^/?#]*@/i, (_all, head: string) => `${head}***@`)
    .replace(/([?&]password=)[^&#]*/gi, '$1***');
}
