// Public surface of the RPZ policy engine (DNS firewall, R1 R4). Pure except load.ts,
// which reads files. Imports only src/core and src/dns/wire.
export { PolicyEngine, type PolicyEngineOptions, type PolicySlot, type ZoneOverride } from './engine.ts';
export { Decision, NO_MATCH, type PolicyAction, type MatchedTrigger, type PolicyRecord } from './actions.ts';
export {
  RpzZone,
  type SharedRpzZone,
  type ZoneChange,
  type ApplyResult,
  type TriggerRule,
  type PolicyActionSpec,
  type ZoneStats,
  type RecordIssue,
} from './zone.ts';
export { readZoneText, readNameList, describeLoad, type ZoneLoadResult, type ZoneTextOptions, type NameListOptions } from './build.ts';
export { loadRpzFile, loadNameListFile, reloadZoneFile, watchZoneFile, type LoadFileOptions } from './load.ts';
export { diffZoneFile, recordZoneFile, ZoneFileImage, type FileDiff } from './file-image.ts';
export { MasterFileReader, formatProblem, type ZoneRecord, type ZoneProblem, type ReaderSink, type ReaderOptions } from './master-file.ts';
export { parseTrigger, parseRpzPrefix, formatRpzPrefix, type Trigger, type TriggerKind } from './triggers.ts';
