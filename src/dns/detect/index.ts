// Public surface of DNS abuse detection (R4 R5 R6 R16): random-subdomain attacks,
// amplification names, infected-client evidence. Pure engines + one adapter (DnsDetection).
// Imports only src/core and src/dns/policy.
export { DnsDetection, neverBlockFrom, OBSERVATIONS_TOPIC, type DnsDetectionDeps, type DetectionStats, type ObservationPublisher, type PolicyZoneTarget, type DetectLog } from './detection.ts';
export { DetectionBook, purposeOfDetection, type Detection, type DetectionAction, type DetectionQuery } from './book.ts';
export { RCODE_NOERROR, RCODE_NXDOMAIN, RCODE_SERVFAIL, type DnsObservedQuery, type PolicyKind } from './event.ts';
export { DEFAULT_OPTIONS, resolveOptions, optionsFromConfig, detectionOff, type DetectConfigSection, type DetectOptions, type DetectOptionsInput, type PrsdOptions, type AmplificationOptions, type InfectionOptions } from './options.ts';
export type { DetectorOutput, DetectionKind } from './outputs.ts';
export { PrsdDetector } from './prsd.ts';
export { AmplificationDetector } from './amplification.ts';
export { InfectionDetector } from './infection.ts';
export { scoreLabel, FEATURE_NAMES } from './dga.ts';
export { hashBackward, NameParts, zoneOf } from './names.ts';
export { HyperLogLog } from './sketch.ts';
