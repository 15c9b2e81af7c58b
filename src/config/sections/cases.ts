import { z } from 'zod';
import { parseCidr } from '../../core/ip.ts';
import { kindOf, section } from '../fields.ts';

const PREFIX_EXPECTED = 'a list of IP prefixes, such as ["192.0.2.0/24", "2001:db8::/32"]';

/**
 * Cases (R3, R5, R9). `addressSpace` names the ISP's own prefixes: a finding
 * for an address outside them is kept as "not our address space" and never
 * looked up (R16: no attribution look-up without cause). Empty: every address
 * is looked up, and attribution answers "unknown" for foreign ones.
 */
export const cases = section({
  addressSpace: z
    .array(
      z.string({ error: (iss) => `has an item that is ${kindOf(iss.input)} — expected ${PREFIX_EXPECTED}` }).superRefine((s, ctx) => {
        const p = parseCidr(s);
        if ('error' in p) ctx.addIssue({ code: 'custom', message: `${p.error} — expected ${PREFIX_EXPECTED}`, input: s });
      }),
      { error: (iss) => `is ${kindOf(iss.input)} — expected ${PREFIX_EXPECTED}` },
    )
    .prefault([]),
});
