/**
 * The collector as a part of the node (`sakimori start`, when `dnstap.listen` is set) and
 * of `sakimori dnstap listen`, built from the `dnstap:` config section.
 */
import { SakimoriError, type Clock, type Part } from '../../core/index.ts';
import type { AuditLog } from '../../privacy/index.ts';
import type { Store } from '../../store/index.ts';
import type { Registry } from '../../telemetry/index.ts';
import { detectionOff, optionsFromConfig, type DetectConfigSection, type ObservationPublisher } from '../detect/index.ts';
import { DnstapCollector, parseDnstapListen, type DnstapListen, type DnstapLogger } from './collector.ts';
import { DnstapDetectionPart } from './detection.ts';

/** The dnstap section of the config, as parsed (durations in ms). */
export interface DnstapConfig {
  listen: readonly string[];
  allowFrom: readonly string[];
  socketMode: string;
  maxConnections: number;
  maxFrameSize: number;
  queue: number;
  summaryInterval: number;
  /** The detectors the events feed (every mode off: none). */
  detect?: DetectConfigSection;
}

export interface DnstapPartDeps {
  config: { dnstap: DnstapConfig; node?: { name: string } };
  logger: DnstapLogger;
  registry?: Registry;
  clock?: Clock;
  /** For detection: Observations go on the bus, detections into the store. */
  bus?: ObservationPublisher | undefined;
  store?: Store;
  audit?: AuditLog;
}

/** Parses listen addresses, naming the key (or option) of the one that is wrong. */
export function dnstapListens(list: readonly string[], key: string): DnstapListen[] {
  return list.map((s, i) => {
    const r = parseDnstapListen(s);
    if ('error' in r) throw new SakimoriError('DNSTAP_CONFIG', `${list.length > 1 ? `${key}[${i}]` : key} "${s}" ${r.error}`);
    return r;
  });
}

/** `listenKey` names where the addresses came from in error messages (a command's options). */
export function dnstapCollector(deps: DnstapPartDeps, cfg: DnstapConfig = deps.config.dnstap, listenKey = 'dnstap.listen'): DnstapCollector {
  const mode = /^0?[0-7]{3}$/.test(cfg.socketMode) ? parseInt(cfg.socketMode, 8) : NaN;
  if (Number.isNaN(mode)) throw new SakimoriError('DNSTAP_CONFIG', `dnstap.socketMode "${cfg.socketMode}" is not an octal file mode such as "0660"`);
  return new DnstapCollector(
    {
      listen: dnstapListens(cfg.listen, listenKey),
      allowFrom: cfg.allowFrom,
      socketMode: mode,
      maxConnections: cfg.maxConnections,
      maxFrameSize: cfg.maxFrameSize,
      queue: cfg.queue,
      summaryIntervalMs: cfg.summaryInterval,
    },
    { logger: deps.logger, registry: deps.registry, ...(deps.clock ? { clock: deps.clock } : {}) },
  );
}

/** The collector with the detectors it feeds (dnstap.detect), or alone when every detector is off. */
export function dnstapPart(deps: DnstapPartDeps, cfg: DnstapConfig = deps.config.dnstap, listenKey = 'dnstap.listen'): DnstapCollector | DnstapDetectionPart {
  const collector = dnstapCollector(deps, cfg, listenKey);
  const options = cfg.detect ? optionsFromConfig(cfg.detect) : undefined;
  if (options === undefined || detectionOff(options)) return collector;
  return new DnstapDetectionPart(collector, options, {
    logger: deps.logger,
    nodeName: deps.config.node?.name ?? 'node',
    ...(deps.clock ? { clock: deps.clock } : {}),
    ...(deps.bus ? { bus: deps.bus } : {}),
    ...(deps.store ? { store: deps.store } : {}),
    ...(deps.audit ? { audit: deps.audit } : {}),
    ...(deps.registry ? { registry: deps.registry } : {}),
  });
}

/** The node's dnstap collector (with detection): none when dnstap.listen is empty. */
export function dnstapParts(deps: DnstapPartDeps): Part[] {
  return deps.config.dnstap.listen.length === 0 ? [] : [dnstapPart(deps)];
}
