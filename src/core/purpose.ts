/**
 * Purposes (R16). Every record that holds communication data (an FQDN a
 * subscriber looked up, an IP address with a time, a login ID) is written with
 * exactly one purpose and may be read only for that purpose. The list is closed
 * on purpose: a new use of data needs a new entry here, a retention in the
 * config, and a reason in docs/PRIVACY.md — never a silent reuse.
 */
export const PURPOSES = {
  'cc-blocking': 'blocking lookups of C&C servers and warning on malware sites at the DNS resolver (R1)',
  'dns-abuse-mitigation': 'refusing names used for DNS amplification and random-subdomain attacks (R4)',
  'infection-notice': 'finding and warning subscribers whose terminals look infected (R5, R6, R7)',
  'router-survey-notice': 'warning subscribers whose routers are open resolvers or expose admin pages (R3, R9)',
  'credential-abuse': 'stopping abuse of PPPoE and SMTP-AUTH credentials (R2, R12)',
  'subscriber-attribution': 'finding which subscriber held an address at a time, for one of the purposes above (R5)',
  'ddos-response': 'detecting and mitigating DDoS attacks and telling the source networks (R8, R14)',
  'routing-incident': 'detecting and sharing abnormal BGP routes (R13)',
  'honeypot-research': 'counting bot infection activity seen by honeypot sensors (R10)',
  'hub-sharing': 'sharing attack and C&C data with the hub and its members (R8)',
  'consent': "keeping each subscriber's opt-out / opt-in choices with their history (R1)",
  'operations': 'running the platform itself: health, configuration, audit (no communication data)',
} as const;

export type Purpose = keyof typeof PURPOSES;

export const PURPOSE_NAMES = Object.keys(PURPOSES) as Purpose[];

export function isPurpose(x: unknown): x is Purpose {
  return typeof x === 'string' && Object.hasOwn(PURPOSES, x);
}
