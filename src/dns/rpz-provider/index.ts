// Public surface of the RPZ provider (R1 R4, issue 3 part B): policy zones served from
// their files to the ISP's resolvers by AXFR/IXFR with NOTIFY, and the zone editing
// behind `sakimori rpz add|remove|list`. Imports src/core, src/store (port), src/bus
// (port), src/telemetry, src/dns/wire, src/dns/policy, src/dns/zone-transfer.
export { RpzProvider, POLICY_CHANGED_TOPIC, type RpzProviderOptions, type ProvidedZone, type ReloadResult, type ProviderCounters } from './provider.ts';
export { RpzServer, transferAcl, type RpzServerOptions, type TransferEvent, type TransferAllow } from './server.ts';
export { respond, type Answer, type ResponderContext, type ServedZone } from './responder.ts';
export { ZoneContent, diffSize, type ZoneDiff } from './zone-content.ts';
export { Journal, JournalStore, rpzProviderMigrations, MAX_JOURNALED_RECORDS, type JournalEntry } from './journal.ts';
export { readZoneRecords, formatRecord, formatRdata, typeMnemonic, describeProblems, type ReadRecordsResult } from './master-text.ts';
export { editZoneFile, listZoneFile, actionRecords, triggerOwner, describeAction, zoneFileText, ACTION_WORDS, ACTION_HELP, type ZoneEdit, type EditOptions, type EditResult } from './edit.ts';
export { rpzProvider, rpzProviderParts, address, type RpzConfig, type RpzPartDeps } from './part.ts';
