// Public surface of the DNS wire codec. Pure: no I/O, no timers; imports only src/core.
export {
  RRType,
  RRClass,
  Opcode,
  RCode,
  EdnsOptionCode,
  WireEncodeError,
  type DnsMessage,
  type DnsHeader,
  type DnsQuestion,
  type ResourceRecord,
  type Rdata,
  type RdataKind,
  type Edns,
  type EdnsOption,
  type WireError,
  type WireErrorCode,
  type WireResult,
} from './types.ts';
export { decodeMessage } from './decode.ts';
export { encodeMessage, type EncodeOptions } from './encode.ts';
export {
  nameToText,
  textToName,
  textToLabels,
  labelsToText,
  normalizeName,
  splitLabels,
  isSubdomain,
  MAX_NAME_WIRE,
  MAX_LABEL,
} from './name.ts';
export {
  readQuery,
  readQueryInto,
  emptyQueryInfo,
  makeResponseFromQuery,
  makeLocalDataResponse,
  makeHeaderOnlyResponse,
  compileRecords,
  encodeEdnsOption,
  extendedError,
  type QueryInfo,
  type CompiledRecords,
  type LocalRecord,
  type ResponseOptions,
} from './query.ts';
