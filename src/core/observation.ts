import { PURPOSE_NAMES, type Purpose } from './purpose.ts';
import { newId } from './ids.ts';
import { parseIp } from './ip.ts';

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
export type ClockSource = (typeof CLOCK_SOURCES)[number];

export const SOURCE_TYPES = ['sensor', 'detector', 'report', 'survey', 'hub', 'operator'] as const;
export const PROTOCOLS = ['udp', 'tcp', 'icmp', 'other'] as const;

/** The network facts. Only those the kind needs (R16: minimal data). */
export interface ObservationNetwork {
  ip?: string | undefined;
  port?: number | undefined;
  protocol?: (typeof PROTOCOLS)[number] | undefined;
  dstIp?: string | undefined;
  dstPort?: number | undefined;
  fqdn?: string | undefined;
  prefix?: string | undefined;
  asn?: number | undefined;
  country?: string | undefined;
}

export interface Observation {
  id: string;
  kind: ObservationKind;
  /** e.g. name "dns-firewall@node1", "shadowserver:scan_dns". */
  source: { name: string; type: (typeof SOURCE_TYPES)[number] };
  /** ISO 8601 date and time with its offset (Z or +hh:mm). */
  observedAt: string;
  clockSource: ClockSource;
  network: ObservationNetwork;
  /** A short summary of why, never a raw query or flow log. */
  evidence: Record<string, unknown>;
  /** 0 to 1. */
  confidence: number;
  tlp: Tlp;
  purpose: Purpose;
}

export type ObservationInput = Omit<Observation, 'id' | 'clockSource' | 'tlp' | 'confidence' | 'evidence'> &
  Partial<Pick<Observation, 'id' | 'clockSource' | 'tlp' | 'confidence' | 'evidence'>>;

export type ObservationResult = { ok: true; value: Observation } | { ok: false; error: string };

/*
 * Checked by hand, not with a schema library: this module is in every thread's core
 * (DNS worker threads, the writer threads), and zod alone cost each of them ~4 MiB RSS.
 */
const FQDN = /^(?:\.|(?:[^.\s]{1,63}\.)*[^.\s]{1,63}\.?)$/;
const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})$/;
const KEYS = new Set(['id', 'kind', 'source', 'observedAt', 'clockSource', 'network', 'evidence', 'confidence', 'tlp', 'purpose']);
const SOURCE_KEYS = new Set(['name', 'type']);
const NETWORK_KEYS = new Set(['ip', 'port', 'protocol', 'dstIp', 'dstPort', 'fqdn', 'prefix', 'asn', 'country']);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown, min: number, max: number): boolean => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
const oneOf = (list: readonly string[]) => (v: unknown) => (typeof v === 'string' && list.includes(v) ? undefined : `expected one of ${list.join(', ')}`);
const nonEmpty = (v: unknown) => (typeof v === 'string' && v.length > 0 ? undefined : 'expected a non-empty string');
const ipText = (v: unknown) => (typeof v === 'string' && parseIp(v) !== undefined ? undefined : 'expected an IPv4 or IPv6 address');
const portNumber = (v: unknown) => (isInt(v, 0, 65535) ? undefined : 'expected a whole number from 0 to 65535');

const NETWORK_CHECKS: Record<string, (v: unknown) => string | undefined> = {
  ip: ipText,
  port: portNumber,
  protocol: oneOf(PROTOCOLS),
  dstIp: ipText,
  dstPort: portNumber,
  fqdn: (v) => (typeof v === 'string' && v.length <= 254 && FQDN.test(v) ? undefined : 'an FQDN of labels of 1-63 characters'),
  prefix: (v) => (typeof v === 'string' ? undefined : 'expected a string'),
  asn: (v) => (isInt(v, 0, 4294967295) ? undefined : 'expected a whole number from 0 to 4294967295'),
  country: (v) => (typeof v === 'string' && v.length === 2 ? undefined : 'expected a two-letter country code'),
};

/** Validates untrusted input (a bus message, an API body) into an Observation, or explains what is wrong. */
export function parseObservation(input: unknown): ObservationResult {
  const errors: string[] = [];
  const bad = (path: string, why: string | undefined) => {
    if (why !== undefined) errors.push(`${path}: ${why}`);
  };
  if (!isObject(input)) return { ok: false, error: '(root): expected an object' };
  for (const k of Object.keys(input)) if (!KEYS.has(k)) bad('(root)', `unknown key "${k}"`);
  bad('id', nonEmpty(input.id));
  bad('kind', oneOf(OBSERVATION_KINDS)(input.kind));
  const source = input.source;
  if (!isObject(source)) bad('source', 'expected an object');
  else {
    for (const k of Object.keys(source)) if (!SOURCE_KEYS.has(k)) bad('source', `unknown key "${k}"`);
    bad('source.name', nonEmpty(source.name));
    bad('source.type', oneOf(SOURCE_TYPES)(source.type));
  }
  const at = input.observedAt;
  bad('observedAt', typeof at === 'string' && DATETIME.test(at) && !Number.isNaN(Date.parse(at)) ? undefined : 'expected an ISO 8601 date and time with an offset');
  bad('clockSource', oneOf(CLOCK_SOURCES)(input.clockSource));
  const network = input.network;
  const net: ObservationNetwork = {};
  if (!isObject(network)) bad('network', 'expected an object');
  else {
    for (const [k, v] of Object.entries(network)) {
      const check = NETWORK_CHECKS[k];
      if (check === undefined) bad('network', `unknown key "${k}"`);
      else if (v !== undefined) {
        bad(`network.${k}`, check(v));
        (net as Record<string, unknown>)[k] = v;
      }
    }
  }
  if (input.evidence !== undefined && !isObject(input.evidence)) bad('evidence', 'expected an object');
  const c = input.confidence;
  bad('confidence', typeof c === 'number' && c >= 0 && c <= 1 ? undefined : 'expected a number from 0 to 1');
  bad('tlp', oneOf(TLP_LEVELS)(input.tlp));
  bad('purpose', oneOf(PURPOSE_NAMES)(input.purpose));
  if (errors.length) return { ok: false, error: errors.join('; ') };
  const i = input as unknown as Observation;
  return {
    ok: true,
    value: {
      id: i.id,
      kind: i.kind,
      source: { name: i.source.name, type: i.source.type },
      observedAt: i.observedAt,
      clockSource: i.clockSource,
      network: net,
      evidence: (input.evidence as Record<string, unknown> | undefined) ?? {},
      confidence: i.confidence,
      tlp: i.tlp,
      purpose: i.purpose,
    },
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
