/**
 * Detector settings with their defaults. Every threshold here is what the evaluation
 * harness (bench/dns-eval.ts) measured against; change one and run `npm run eval:dns`.
 */

export interface PrsdOptions {
  /** 'on': apply mitigations to the policy zone; 'dry-run': only report what would be blocked. */
  mode: 'off' | 'dry-run' | 'on';
  /** Sliding window, in whole seconds, over which rates are taken (evaluated every tick). */
  windowSeconds: number;
  /** Queries per second for the zone (everything) before it can be under attack. */
  minQps: number;
  /** Failed answers (NXDOMAIN, SERVFAIL, no answer, or answered by a mitigation) per second. */
  minFailQps: number;
  /** Distinct failed names per second (HyperLogLog). */
  minDistinctQps: number;
  /** Distinct failed names / failed answers: random children, not one broken name asked again. */
  minDistinctRatio: number;
  /** Mean DGA score of the failed names' leftmost labels: excludes reverse-octet lookups (DNSBLs). */
  minShape: number;
  /** Zones answering NOERROR for any child (wildcards): distinct names/s over all answers... */
  noErrorDistinctQps: number;
  /** ...with this share of distinct names and this mean label score. */
  noErrorDistinctRatio: number;
  noErrorShape: number;
  /** A mitigation ends this long after the attack was last seen. */
  holdSeconds: number;
  /** And at the latest after this long (then a continuing attack starts a new one). */
  maxSeconds: number;
  /** How the random children are answered (RPZ actions; RPZ has no REFUSED). */
  action: 'nxdomain' | 'nodata' | 'drop';
  /** Zones tracked at once (the top-K by rate). */
  maxZones: number;
  /** Names remembered as resolved (all zones together). */
  knownGoodNames: number;
  /** Most PASSTHRU exceptions per mitigation. */
  maxExceptions: number;
  /** A zone enters the tracked set after this many queries within one second. */
  admitPerSecond: number;
  /** A tracked zone with no query for this long leaves the set. */
  idleSeconds: number;
}

export interface AmplificationOptions {
  /** 'propose': list the entry for review; 'apply': add it to the policy zone at once. */
  mode: 'off' | 'propose' | 'apply';
  windowSeconds: number;
  /** Large answers per second for one name. */
  minQps: number;
  /** Distinct client addresses asking for it within the window (HyperLogLog). */
  minSources: number;
  /** A response of at least this many bytes counts as large. */
  minBytes: number;
  /** Share of ANY / TXT / DNSSEC-type queries among them (the reflection pattern). */
  minAmplifyingTypes: number;
  /** RPZ action for the name: TCP-only answers spoofed UDP with a small TC=1 reply (no amplification) and real clients retry over TCP. */
  action: 'tcp-only' | 'drop' | 'nxdomain';
  holdSeconds: number;
  maxNames: number;
  admitPerSecond: number;
}

export interface InfectionOptions {
  mode: 'off' | 'on';
  /** Evidence is kept for this long (two half windows), then forgotten (R16). */
  windowSeconds: number;
  /** Evidence score at which one suspected-infection Observation is emitted. */
  threshold: number;
  /** Score per distinct C&C-listed name looked up. */
  ccWeight: number;
  /** Score per distinct NXDOMAIN registrable domain, whatever it looks like. */
  nxWeight: number;
  /** Score per distinct NXDOMAIN registrable domain: dgaWeight * max(0, score - dgaFloor) / (1 - dgaFloor). */
  dgaWeight: number;
  dgaFloor: number;
  /** A label scoring this or more is counted as DGA-like in the evidence. */
  dgaLike: number;
  /** Clients with evidence held at once. */
  maxClients: number;
  /** After an Observation, the same client is not reported again for this long. */
  cooldownSeconds: number;
  /** Example names kept per client (highest DGA score). */
  examples: number;
}

export interface DetectOptions {
  prsd: PrsdOptions;
  amplification: AmplificationOptions;
  infection: InfectionOptions;
  /** Detections kept in the book (active ones always). */
  maxDetections: number;
  /** Ended detections are dropped after this long (R16: kept only while operators need them). */
  retentionSeconds: number;
  /** Past this many events in one second (one DnsDetection), the rest are sampled. */
  maxEventsPerSecond: number;
}

export const DEFAULT_OPTIONS: DetectOptions = {
  prsd: {
    mode: 'on',
    windowSeconds: 4,
    minQps: 100,
    minFailQps: 50,
    minDistinctQps: 50,
    minDistinctRatio: 0.5,
    minShape: 0.25,
    noErrorDistinctQps: 1000,
    noErrorDistinctRatio: 0.6,
    noErrorShape: 0.6,
    holdSeconds: 300,
    maxSeconds: 6 * 3600,
    action: 'nxdomain',
    maxZones: 2048,
    knownGoodNames: 131_072,
    maxExceptions: 4096,
    admitPerSecond: 20,
    idleSeconds: 30,
  },
  amplification: {
    mode: 'propose',
    windowSeconds: 10,
    minQps: 20,
    minSources: 20,
    minBytes: 1000,
    minAmplifyingTypes: 0.5,
    action: 'tcp-only',
    holdSeconds: 3600,
    maxNames: 1024,
    admitPerSecond: 5,
  },
  infection: {
    mode: 'on',
    windowSeconds: 600,
    threshold: 8,
    ccWeight: 4,
    nxWeight: 0.35,
    dgaWeight: 1,
    dgaFloor: 0.3,
    dgaLike: 0.5,
    maxClients: 65_536,
    cooldownSeconds: 86_400,
    examples: 3,
  },
  maxDetections: 1000,
  retentionSeconds: 7 * 86_400,
  maxEventsPerSecond: 250_000,
};

export type DetectOptionsInput = {
  prsd?: Partial<PrsdOptions>;
  amplification?: Partial<AmplificationOptions>;
  infection?: Partial<InfectionOptions>;
  maxDetections?: number;
  retentionSeconds?: number;
  maxEventsPerSecond?: number;
};

export function resolveOptions(input: DetectOptionsInput = {}): DetectOptions {
  return {
    prsd: { ...DEFAULT_OPTIONS.prsd, ...input.prsd },
    amplification: { ...DEFAULT_OPTIONS.amplification, ...input.amplification },
    infection: { ...DEFAULT_OPTIONS.infection, ...input.infection },
    maxDetections: input.maxDetections ?? DEFAULT_OPTIONS.maxDetections,
    retentionSeconds: input.retentionSeconds ?? DEFAULT_OPTIONS.retentionSeconds,
    maxEventsPerSecond: input.maxEventsPerSecond ?? DEFAULT_OPTIONS.maxEventsPerSecond,
  };
}

/** The `dns.detect` / `dnstap.detect` config section as parsed (durations in ms). */
export interface DetectConfigSection {
  prsd: { mode: PrsdOptions['mode']; minQps: number; minFailQps: number; minDistinctQps: number; action: PrsdOptions['action']; hold: number };
  amplification: { mode: AmplificationOptions['mode']; minQps: number; minSources: number; minBytes: number; action: AmplificationOptions['action']; hold: number };
  infection: { mode: InfectionOptions['mode']; threshold: number; window: number; cooldown: number };
  retention: number;
  maxEventsPerSecond: number;
}

/** Detector options from the config section; whatever it does not name keeps its default. */
export function optionsFromConfig(c: DetectConfigSection): DetectOptionsInput {
  const s = (ms: number) => Math.max(1, Math.round(ms / 1000));
  return {
    prsd: { mode: c.prsd.mode, minQps: c.prsd.minQps, minFailQps: c.prsd.minFailQps, minDistinctQps: c.prsd.minDistinctQps, action: c.prsd.action, holdSeconds: s(c.prsd.hold) },
    amplification: { mode: c.amplification.mode, minQps: c.amplification.minQps, minSources: c.amplification.minSources, minBytes: c.amplification.minBytes, action: c.amplification.action, holdSeconds: s(c.amplification.hold) },
    infection: { mode: c.infection.mode, threshold: c.infection.threshold, windowSeconds: s(c.infection.window), cooldownSeconds: s(c.infection.cooldown) },
    retentionSeconds: s(c.retention),
    maxEventsPerSecond: c.maxEventsPerSecond,
  };
}

/** Every detector off. */
export function detectionOff(o: DetectOptionsInput): boolean {
  return (o.prsd?.mode ?? DEFAULT_OPTIONS.prsd.mode) === 'off' && (o.amplification?.mode ?? DEFAULT_OPTIONS.amplification.mode) === 'off' && (o.infection?.mode ?? DEFAULT_OPTIONS.infection.mode) === 'off';
}
