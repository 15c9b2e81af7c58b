import { isIP } from 'node:net';
import { z } from 'zod';
import { duration, listenAddress, section } from '../fields.ts';

const CLIENT_ADDRESS = 'an IP address or prefix of the NAS, such as 192.0.2.10 or 192.0.2.0/24';

/** The NAS address a client entry allows: an address, or a prefix for a pool of NASes. */
function clientAddress() {
  return z.string({ error: () => `is not text — expected ${CLIENT_ADDRESS}` }).superRefine((s, ctx) => {
    const [ip, len, extra] = s.trim().split('/');
    const family = isIP(ip ?? '');
    const max = family === 6 ? 128 : 32;
    const okLen = len === undefined || (/^\d{1,3}$/.test(len) && Number(len) <= max);
    if (family === 0 || !okLen || extra !== undefined) ctx.addIssue({ code: 'custom', message: `is not ${CLIENT_ADDRESS}`, input: s });
  });
}

const client = z.strictObject(
  {
    address: clientAddress(),
    secret: z.string({ error: () => 'is not text — expected the shared secret configured on the NAS' }).min(1, 'is empty — expected the shared secret configured on the NAS'),
  },
  { error: () => 'is not a mapping — expected { address: NAS-ADDRESS, secret: SHARED-SECRET }' },
);

/** Subscriber attribution: the RADIUS accounting listener and look-up tolerance. */
export const attribution = section({
  /** Sessions are taken to cover this much time beyond their edges, for clock differences between a NAS and a report. */
  clockSkew: duration({ allowZero: true }).prefault('2s'),
  radius: section({
    listen: listenAddress().prefault('127.0.0.1:1813'),
    clients: z.array(client, { error: () => 'is not a list — expected a list of { address, secret } entries' }).prefault([]),
  }),
});
