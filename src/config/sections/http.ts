import { z } from 'zod';
import { parseCidr } from '../../core/ip.ts';
import { kindOf, listenAddress, section } from '../fields.ts';

export const TRUST_PROXY_EXPECTED = 'false, true, a number of proxy hops (1 to 32), or a list of the proxies\' addresses or prefixes, such as ["127.0.0.1", "10.0.0.0/8"]';
/** Names proxy-addr (Fastify's trustProxy) knows for address ranges. */
const RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/**
 * Whom to believe about the client's address (X-Forwarded-For), as Fastify's
 * trustProxy takes it: false (nobody: the peer is the client), true (every
 * hop: only behind a proxy that overwrites the header), a number of hops, or
 * the proxies' addresses and prefixes.
 */
function trustProxy() {
  return z
    .unknown()
    .superRefine((v, ctx) => {
      if (typeof v === 'boolean') return;
      if (typeof v === 'number') {
        if (!Number.isInteger(v) || v < 1 || v > 32) ctx.addIssue({ code: 'custom', message: `is not a number of proxy hops — expected a whole number from 1 to 32 (or false)`, input: v });
        return;
      }
      if (Array.isArray(v)) {
        v.forEach((x, i) => {
          if (typeof x !== 'string') ctx.addIssue({ code: 'custom', path: [i], message: `is ${kindOf(x)} — expected a proxy address or prefix, such as 127.0.0.1 or 10.0.0.0/8`, input: x });
          else if (!RANGE_NAMES.includes(x.trim()) && 'error' in parseCidr(x.trim())) ctx.addIssue({ code: 'custom', path: [i], message: `is not a proxy address or prefix — expected one such as 127.0.0.1, 10.0.0.0/8 or ::1 (or ${RANGE_NAMES.join(', ')})`, input: x });
        });
        return;
      }
      ctx.addIssue({ code: 'custom', message: `is ${kindOf(v)} — expected ${TRUST_PROXY_EXPECTED}`, input: v });
    })
    .transform((v) => (Array.isArray(v) ? v.map((x) => String(x).trim()) : (v as boolean | number)));
}

/** HTTP API and operator console. Loopback by default: exposing it is a choice. */
export const http = section({
  listen: listenAddress().prefault('127.0.0.1:8080'),
  /** Behind a reverse proxy: whose X-Forwarded-For to believe, so rate limits and the audit log see the real client. */
  trustProxy: trustProxy().prefault(false),
});
