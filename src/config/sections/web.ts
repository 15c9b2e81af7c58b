import { z } from 'zod';
import { kindOf, section } from '../fields.ts';

const FILE_EXPECTED = 'a path to the operators\' token file, such as ./data/console-tokens';
const SUPPORT_EXPECTED = 'how subscribers reach the support desk, such as "0120-000-000 / support@example.net", or ""';

/**
 * The operator console and the subscriber portal. The console is never open:
 * every request needs an operator name and token from `console.tokenFile`
 * (created with one generated token on first start when missing). The
 * portal is reached only through the per-notice links (`notify.portalUrl`).
 */
export const web = section({
  console: section({
    tokenFile: z
      .string({ error: (iss) => `is ${kindOf(iss.input)} — expected ${FILE_EXPECTED}` })
      .refine((s) => s.trim() !== '', { error: `is empty — expected ${FILE_EXPECTED} (the console is never open without one)` })
      .prefault('./data/console-tokens'),
  }),
  portal: section({
    support: z.string({ error: (iss) => `is ${kindOf(iss.input)} — expected ${SUPPORT_EXPECTED}` }).prefault(''),
  }),
});
