import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { STYLE_HASH } from './html.ts';

/**
 * What every portal and console response carries. The pages load nothing
 * but themselves: no script at all, the one inline stylesheet allowed by
 * its hash, forms only to this origin, never framed. `no-referrer` keeps a
 * notice link's token out of any Referer header, and `no-store` keeps the
 * pages (subscriber data, attribution results) out of shared caches and the
 * back-forward cache.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': `default-src 'none'; style-src '${STYLE_HASH}'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'permissions-policy': 'camera=(), microphone=(), geolocation=(), payment=(), usb=()',
  'cache-control': 'no-store',
};

export function sendPage(reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply.status(status).headers(SECURITY_HEADERS).type('text/html; charset=utf-8').send(body);
}

/** 303 See Other: the browser follows with a GET, so reloading the result page never re-posts the form. */
export function seeOther(reply: FastifyReply, location: string): FastifyReply {
  return reply.status(303).headers(SECURITY_HEADERS).header('location', location).send();
}

/**
 * Form tokens against cross-site request forgery: an HMAC of what the form
 * acts for (a notice, an operator) under a key only this process knows.
 * Nothing is kept per session; a form from before a restart is refused with
 * "reload the page". Browsers that send Fetch Metadata also tell us when a
 * POST comes from another site, which is refused before the token is checked.
 */
export class FormTokens {
  private readonly key: Buffer;

  constructor(key?: Buffer) {
    this.key = key ?? randomBytes(32);
  }

  issue(scope: string): string {
    return createHmac('sha256', this.key).update(scope).digest('base64url');
  }

  verify(scope: string, token: unknown): boolean {
    if (typeof token !== 'string' || token.length > 100) return false;
    const want = Buffer.from(this.issue(scope));
    const got = Buffer.from(token);
    return got.length === want.length && timingSafeEqual(got, want);
  }
}

/** False when the browser says the request comes from another site (Sec-Fetch-Site, sent by current browsers). */
export function sameOriginRequest(req: FastifyRequest): boolean {
  const site = req.headers['sec-fetch-site'];
  return site === undefined || site === 'same-origin' || site === 'none';
}

/** Form bodies (application/x-www-form-urlencoded) as a flat record; the last value of a repeated field wins. */
export function parseForm(body: string): Record<string, string> {
  return Object.fromEntries(new URLSearchParams(body));
}

const JST_OFFSET = 9 * 3_600_000;

function parts(ms: number): { y: string; mo: string; d: string; h: string; mi: string; s: string } {
  const t = new Date(ms + JST_OFFSET);
  const p = (n: number) => String(n).padStart(2, '0');
  return { y: String(t.getUTCFullYear()), mo: p(t.getUTCMonth() + 1), d: p(t.getUTCDate()), h: p(t.getUTCHours()), mi: p(t.getUTCMinutes()), s: p(t.getUTCSeconds()) };
}

/** "2024年6月1日 09:00（日本時間）" — how the notices write times for subscribers. */
export function jaTime(ms: number): string {
  const t = parts(ms);
  return `${t.y}年${Number(t.mo)}月${Number(t.d)}日 ${t.h}:${t.mi}（日本時間）`;
}

/** "2024-06-01 00:00 UTC" — the English half of a subscriber page. */
export function enTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** "2024-06-01 09:00:00 +09:00" — the console: operators in Japan, with the offset so nothing is ambiguous. */
export function consoleTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  const t = parts(ms);
  return `${t.y}-${t.mo}-${t.d} ${t.h}:${t.mi}:${t.s} +09:00`;
}
