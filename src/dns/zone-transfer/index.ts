// Public surface of zone transfers (RFC 5936 AXFR, RFC 1995 IXFR, RFC 1996 NOTIFY, RFC 1982
// serials): the pure message pieces both sides share, the secondary's client, and
// SecondaryZone, the firewall's "policy zone pulled from a primary".
// Imports src/core, src/dns/wire and src/dns/policy only.
export { serialCompare, serialNewer, serialAdd } from './serial.ts';
export { frameMessage, TcpMessageReader } from './framing.ts';
export {
  xfrMessages,
  headerOnlyReply,
  canonicalRecord,
  soaSerial,
  rcodeName,
  XfrReader,
  DEFAULT_XFR_MESSAGE_SIZE,
  type XfrDiff,
  type XfrOutcome,
  type XfrStep,
} from './xfr.ts';
export { requestTransfer, querySoa, udpExchange, queryMessage, TransferError, type TransferRequest, type TransferResult } from './client.ts';
export { sendNotify, notifyMessage, answerNotify, answerNotifyWire, sameAddress, type NotifyOptions, type NotifyResult, type NotifyReceiver } from './notify.ts';
export { NotifyListener } from './notify-listener.ts';
export {
  SecondaryZone,
  type SecondaryZoneOptions,
  type SecondaryStatus,
  engineTarget,
  type PolicyZoneTarget,
  type ZoneUpdate,
  type XfrLogger,
} from './secondary.ts';
export {
  makeTsigKey,
  tsigKeysFromConfig,
  tsigKeyFromOption,
  tsigKeyByName,
  type TsigKeyConfig,
  tsigKeyring,
  signMessage,
  verifyMessage,
  findTsig,
  appendTsigError,
  badTimeOther,
  badTimeDetail,
  encodeTsigRdata,
  decodeTsigRdata,
  tsigErrorName,
  isTsigAlgorithm,
  TsigStreamSigner,
  TsigStreamVerifier,
  TsigConfigError,
  TsigErr,
  TSIG_ALGORITHMS,
  TSIG_TYPE,
  DEFAULT_FUDGE,
  type TsigKey,
  type TsigAlgorithm,
  type TsigRecord,
  type FoundTsig,
  type VerifyResult,
} from './tsig.ts';
export { readZoneCopy, writeZoneCopy, type ZoneCopy } from './zone-copy.ts';
