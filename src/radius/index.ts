// Public surface of src/radius: the RADIUS wire codec (also for aaa/'s RFC 5176
// Disconnect/CoA) and the RFC 2866 accounting server that feeds attribution.
export type { AccountingEvent, AcctStatus } from './accounting-event.ts';
export {
  AccountingServer,
  DEFAULT_ACCOUNTING_PORT,
  parseAccountingListen,
  type AccountingServerOptions,
  type DropReason,
} from './accounting-server.ts';
export { accountingEventFrom, EARLIEST_EVENT_TIMESTAMP, type AccountingRequestOutcome } from './accounting-request.ts';
export { ClientTable, canonicalAddress, type RadiusClient, type RadiusClientConfig } from './client-table.ts';
export * from './wire/index.ts';
