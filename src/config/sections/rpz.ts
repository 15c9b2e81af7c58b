import { z } from 'zod';
import { parseCidr } from '../../core/ip.ts';
import { duration, kindOf, listenAddress, section } from '../fields.ts';

/**
 * The RPZ provider (R1 R4, issue 3 part B): policy zones served from their files to the
 * ISP's BIND / Unbound / PowerDNS resolvers by AXFR and IXFR, with NOTIFY on change.
 * `sakimori start` runs it when zones are listed.
 */

const ZONE_NAME_EXPECTED = 'a domain name for the policy zone, such as cc.rpz.example.net';
const PREFIX_EXPECTED = 'an IP address or prefix, such as 192.0.2.53, 192.0.2.0/24 or ::1/128';

const zoneName = () =>
  z.string({ error: (iss) => `is ${kindOf(iss.input)} — expected ${ZONE_NAME_EXPECTED}` }).superRefine((s, ctx) => {
    const t = s.trim().replace(/\.$/, '');
    const bad = t === '' ? 'is empty' : /\s/.test(t) ? 'contains spaces' : t.length > 253 ? 'is longer than 253 characters' : t.split('.').some((l) => l === '' || l.length > 63) ? 'has an empty label or one longer than 63 characters' : undefined;
    if (bad) ctx.addIssue({ code: 'custom', message: `${bad} — expected ${ZONE_NAME_EXPECTED}`, input: s });
  });

const filePath = () =>
  z.string({ error: (iss) => `is ${kindOf(iss.input)} — expected the path of the zone's master file` }).min(1, 'is empty — expected the path of the zone\'s master file');

const zone = z.strictObject(
  { name: zoneName(), file: filePath() },
  { error: () => 'is not a mapping — expected { name: ZONE, file: PATH }' },
);

const prefix = () =>
  z.string({ error: (iss) => `is ${kindOf(iss.input)} — expected ${PREFIX_EXPECTED}` }).superRefine((s, ctx) => {
    const r = parseCidr(s.trim());
    if ('error' in r) ctx.addIssue({ code: 'custom', message: `is not ${PREFIX_EXPECTED}`, input: s });
  });

const keyName = () => z.string({ error: (iss) => `is ${kindOf(iss.input)} — expected the name of a key under tsig.keys` }).min(1, 'is empty — expected the name of a key under tsig.keys');

/** A secondary that must sign its transfers: { prefix, key }. */
const allowEntry = z.union(
  [prefix(), z.strictObject({ prefix: prefix(), key: keyName().optional() })],
  { error: () => `is not ${PREFIX_EXPECTED}, or a mapping { prefix: PREFIX, key: TSIG-KEY }` },
);
const notifyEntry = z.union(
  [listenAddress(), z.strictObject({ address: listenAddress(), key: keyName().optional() })],
  { error: () => 'is not ADDR:PORT, or a mapping { address: ADDR:PORT, key: TSIG-KEY }' },
);

export const rpz = section({
  /** Where AXFR/IXFR and SOA queries are answered (UDP and TCP). */
  listen: listenAddress().prefault('127.0.0.1:5300'),
  zones: z
    .array(zone, { error: () => 'is not a list — expected a list of { name, file } entries' })
    .superRefine((list, ctx) => {
      const seen = new Set<string>();
      list.forEach((zz, i) => {
        const n = zz.name.trim().toLowerCase().replace(/\.$/, '');
        if (seen.has(n)) ctx.addIssue({ code: 'custom', message: `lists zone ${n} twice — expected each zone once`, path: [i, 'name'], input: zz.name });
        seen.add(n);
      });
    })
    .prefault([]),
  notify: z.array(notifyEntry, { error: () => 'is not a list — expected a list of ADDR:PORT of secondaries (or { address, key })' }).prefault([]),
  allowTransfer: z.array(allowEntry, { error: () => `is not a list — expected a list of ${PREFIX_EXPECTED} (or { prefix, key })` }).prefault(['127.0.0.0/8', '::1/128']),
  watchInterval: duration().prefault('1s'),
  notifyRetries: z.number({ error: (iss) => `is ${kindOf(iss.input)} — expected a whole number from 0 to 20` }).int('is not a whole number — expected 0 to 20').min(0, 'is negative — expected 0 to 20').max(20, 'is more than 20 — expected 0 to 20').prefault(5),
  notifyRetryInterval: duration().prefault('1s'),
});
