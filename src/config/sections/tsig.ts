import { z } from 'zod';
import { kindOf, section } from '../fields.ts';

/**
 * TSIG keys (RFC 8945), in one place, referenced by name: by the RPZ provider
 * (rpz.allowTransfer[].key, rpz.notify[].key) and by the firewall's zones pulled from a
 * primary (dns.zones[].key). A key is { name, algorithm, secret (base64) | secretFile }.
 */
const ALGORITHMS = ['hmac-sha256', 'hmac-sha512', 'hmac-sha384', 'hmac-sha224', 'hmac-sha1'] as const;
const KEY_EXPECTED = 'a mapping { name: KEY-NAME, algorithm: hmac-sha256, secret: BASE64 } (or secretFile: PATH instead of secret)';

const key = z
  .strictObject(
    {
      name: z.string({ error: (iss) => `is ${kindOf(iss.input)} — expected the key's name, such as xfr-key (the same name on both sides)` }).regex(/^[A-Za-z0-9_.-]+$/, 'is not a key name — expected letters, digits, "-", "_" and dots, such as xfr-key'),
      algorithm: z.enum(ALGORITHMS, { error: () => `is not a TSIG algorithm — expected one of ${ALGORITHMS.join(', ')}` }).prefault('hmac-sha256'),
      secret: z
        .string({ error: (iss) => `is ${kindOf(iss.input)} — expected the shared secret in base64` })
        .regex(/^\s*[A-Za-z0-9+/]+={0,2}\s*$/, 'is not base64 — expected the secret as `tsig-keygen` or `openssl rand -base64 32` prints it')
        .optional(),
      secretFile: z.string({ error: (iss) => `is ${kindOf(iss.input)} — expected the path of a file holding the base64 secret` }).min(1, 'is empty — expected the path of a file holding the base64 secret').optional(),
    },
    { error: () => `is not a mapping — expected ${KEY_EXPECTED}` },
  )
  .superRefine((v, ctx) => {
    if (v.secret === undefined && v.secretFile === undefined) ctx.addIssue({ code: 'custom', message: 'has neither secret nor secretFile — expected one of them', input: v });
    if (v.secret !== undefined && v.secretFile !== undefined) ctx.addIssue({ code: 'custom', message: 'has both secret and secretFile — expected one of them', path: ['secretFile'], input: v });
  });

export const tsig = section({
  keys: z
    .array(key, { error: (iss) => `is ${kindOf(iss.input)} — expected a list of ${KEY_EXPECTED}` })
    .superRefine((list, ctx) => {
      const seen = new Set<string>();
      list.forEach((k, i) => {
        const n = k.name.toLowerCase().replace(/\.$/, '');
        if (seen.has(n)) ctx.addIssue({ code: 'custom', message: `defines key ${n} twice — expected each key once`, path: [i, 'name'], input: k.name });
        seen.add(n);
      });
    })
    .prefault([]),
});
