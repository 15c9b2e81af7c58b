/**
 * `bus.url` for NATS: nats://[user:pass@|token@]host[:port][?stream=NAME&prefix=WORD]
 *
 * stream: the JetStream stream holding every topic (default SAKIMORI).
 * prefix: the subject prefix, topic "a.b" -> subject "PREFIX.a.b" (default
 * sakimori). Two Sakimori deployments can share one NATS server by giving
 * each its own stream and prefix.
 */
import { SakimoriError } from '../../core/index.ts';
import { redactUrl } from '../rules.ts';

export interface NatsTarget {
  servers: string;
  user?: string;
  pass?: string;
  token?: string;
  stream: string;
  prefix: string;
  /** The URL without credentials, safe to print. */
  displayUrl: string;
}

const STREAM_RE = /^[A-Za-z0-9_-]{1,32}$/;
const PREFIX_RE = /^[a-z0-9][a-z0-9-]{0,31}$/;

export function parseNatsUrl(url: string): NatsTarget {
  const bad = (what: string, hint: string): SakimoriError =>
    new SakimoriError('BUS_URL_INVALID', `bus.url ${redactUrl(url)}: ${what}`, { hint });
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw bad('is not a URL', 'write it as nats://HOST:4222 (optionally ?stream=NAME&prefix=WORD)');
  }
  if (u.protocol !== 'nats:') {
    throw bad(`scheme ${u.protocol} is not NATS`, 'write it as nats://HOST:4222');
  }
  if (!u.hostname) throw bad('has no host', 'write it as nats://HOST:4222');
  for (const key of u.searchParams.keys()) {
    if (key !== 'stream' && key !== 'prefix') {
      throw bad(`unknown parameter "${key}"`, 'the NATS bus URL takes only ?stream=NAME and &prefix=WORD');
    }
  }
  const stream = u.searchParams.get('stream') ?? 'SAKIMORI';
  if (!STREAM_RE.test(stream)) throw bad(`stream "${stream}" is not a valid JetStream stream name`, 'use 1-32 of A-Z, a-z, 0-9, "-", "_"');
  const prefix = u.searchParams.get('prefix') ?? 'sakimori';
  if (!PREFIX_RE.test(prefix)) throw bad(`prefix "${prefix}" is not one lower-case word`, 'use 1-32 of a-z, 0-9, "-"');

  const host = `${u.protocol}//${u.host}`;
  const target: NatsTarget = { servers: host, stream, prefix, displayUrl: `${host}${u.search}` };
  const user = decodeURIComponent(u.username);
  const pass = decodeURIComponent(u.password);
  if (user && pass) {
    target.user = user;
    target.pass = pass;
  } else if (user) {
    target.token = user;
  }
  return target;
}
