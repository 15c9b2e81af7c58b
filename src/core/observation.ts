import { z } from 'zod';
import { PURPOSE_NAMES, type Purpose } from './purpose.ts';
import { newId } from './ids.ts';

/**
 * The Observation: the one record every sensor emits and every later step
 * consumes (like IntelMQ's harmonised event or STIX observed-data). Mappings to
 * STIX 2.1, Shadowserver CSV and X-ARF live at the edges, not here.
 *
 * It says what was seen (kind), by whom (source), when (observedAt + clock
 * source), the network facts, evidence, confidence, TLP and — always — the
 * purpose it was collected for (R16).
 */
export const OBSERVATION_KINDS = [
  'cc-query', // a client looked up a C&C FQDN (R1, R6)
  'malware-site-query', // a client looked up a malware distribution site (R1)
  'suspected-infection', // evidence summary that a client is infected (R5, R6)
  'prsd-target', // a zone under random-subdomain attack (R4)
  'amplification-name', // an FQDN abused for DNS amplification (R4)
  'open-resolver', // survey or report: an open DNS resolver (R3)
  'exposed-admin', // survey or report: a router admin page reachable from outside (R3)
  'weak-credential', // NOTICE-style finding: IoT device with a weak password (R9)
  'honeypot-login', // honeypot saw a login attempt (R10)
  'cc-contact', // a flow to a known C&C address (R6)
  'cc-candidate', // a destination many infected terminals talk to (R7)
  'ddos-source', // a source of attack traffic (R8, R14)
  'ddos-attack', // an attack seen at a victim (R14)
  'credential-abuse', // a PPPoE / SMTP-AUTH ID being abused (R2, R12)
  'bgp-anomaly', // a leak or hijack (R13)
  'sinkhole-hit', // a bot seen at a sinkhole / taken-down C&C (R5)
] as const;
export type ObservationKind = (typeof OBSERVATION_KINDS)[number];

export const TLP_LEVELS = ['clear', 'green', 'amber', 'amber+strict', 'red'] as const;
export type Tlp = (typeof TLP_LEVELS)[number];

/** How the time was obtained, so attribution can widen its tolerance for poor clocks. */
export const CLOCK_SOURCES = ['ntp', 'system', 'report', 'unknown'] as const;

const ipv4 = z.ipv4();
const ipv6 = z.ipv6();
const ip = z.union([ipv4, ipv6]);
const fqdn = z
  .string()
  .min(1)
  .max(254)
  .regex(/^(?:\.|(?:[^.\s]{1,63}\.)*[^.\s]{1,63}\.?)$/, 'an FQDN of labels of 1-63 characters');
const port = z.number().int().min(0).max(65535);

export const ObservationSchema = z
  .object({
    id: z.string().min(1),
    kind: z.enum(OBSERVATION_KINDS),
    source: z.object({
      name: z.string().min(1), // e.g. "dns-firewall@node1", "shadowserver:scan_dns"
      type: z.enum(['sensor', 'detector', 'report', 'survey', 'hub', 'operator']),
    }).strict(),
    observedAt: z.iso.datetime({ offset: true }),
    clockSource: z.enum(CLOCK_SOURCES),
    /** The network facts. Only those the kind needs (R16: minimal data). */
    network: z
      .object({
        ip: ip.optional(),
        port: port.optional(),
        protocol: z.enum(['udp', 'tcp', 'icmp', 'other']).optional(),
        dstIp: ip.optional(),
        dstPort: port.optional(),
        fqdn: fqdn.optional(),
        prefix: z.string().optional(),
        asn: z.number().int().min(0).max(4294967295).optional(),
        country: z.string().length(2).optional(),
      })
      .strict(),
    /** A short summary of why, never a raw query or flow log. */
    evidence: z.record(z.string(), z.unknown()).default({}),
    confidence: z.number().min(0).max(1),
    tlp: z.enum(TLP_LEVELS),
    purpose: z.enum(PURPOSE_NAMES as [Purpose, ...Purpose[]]),
  })
  .strict();

export type Observation = z.infer<typeof ObservationSchema>;
export type ObservationInput = Omit<z.input<typeof ObservationSchema>, 'id' | 'clockSource' | 'tlp' | 'confidence'> &
  Partial<Pick<Observation, 'id' | 'clockSource' | 'tlp' | 'confidence'>>;

export type ObservationResult = { ok: true; value: Observation } | { ok: false; error: string };

/** Validates untrusted input (a bus message, an API body) into an Observation, or explains what is wrong. */
export function parseObservation(input: unknown): ObservationResult {
  const r = ObservationSchema.safeParse(input);
  if (r.success) return { ok: true, value: r.data };
  return {
    ok: false,
    error: r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; '),
  };
}

/** Builds a valid Observation with sensible defaults; throws with the key path if it is not valid. */
export function makeObservation(input: ObservationInput): Observation {
  const r = parseObservation({
    id: newId('obs'),
    clockSource: 'system',
    tlp: 'amber',
    confidence: 0.5,
    ...input,
  });
  if (!r.ok) throw new TypeError(`invalid observation: ${r.error}`);
  return r.value;
}
