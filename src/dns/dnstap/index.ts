// Public surface of the dnstap collector (issue 5 item 4; R4 R5 R6 fed from BIND and
// Unbound; R16: events only, nothing stored). The codecs have their own surface in wire/.
export { type DnstapEvent, type DnstapTransport, type SkipReason, TRANSPORTS, SKIP_REASONS, dnstapEvent } from './event.ts';
export { type DnstapEventStream, type ConsumerStats, SampledQueue } from './stream.ts';
export {
  DnstapCollector,
  parseDnstapListen,
  formatDnstapListen,
  DNSTAP_LISTEN_EXPECTED,
  type DnstapListen,
  type DnstapLogger,
  type DnstapCollectorOptions,
  type DnstapCollectorDeps,
  type DnstapStats,
} from './collector.ts';
export { dnstapCollector, dnstapPart, dnstapParts, dnstapListens, type DnstapConfig, type DnstapPartDeps } from './part.ts';
export { DnstapDetectionPart, type DnstapDetectionDeps } from './detection.ts';
