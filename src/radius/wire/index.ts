// Public surface of the RADIUS wire codec. Pure: no I/O, no timers; imports only src/core.
export {
  Code,
  codeName,
  HEADER_LENGTH,
  AUTHENTICATOR_LENGTH,
  MIN_PACKET_LENGTH,
  MAX_PACKET_LENGTH,
  MAX_ATTRIBUTE_VALUE,
  RadiusEncodeError,
  type RadiusAttribute,
  type RadiusPacket,
  type DecodedPacket,
  type WireError,
  type WireErrorCode,
  type WireResult,
} from './types.ts';
export { decodePacket } from './decode.ts';
export { encodePacket } from './encode.ts';
export {
  encodeRequest,
  encodeResponse,
  verifyRequest,
  verifyResponse,
  secretBytes,
  isRequestCode,
  hasDigestRequestAuthenticator,
  hasRandomRequestAuthenticator,
  type Secret,
  type AuthCheck,
  type RequestInit,
  type RequestRef,
} from './authenticator.ts';
export {
  Attr,
  AcctStatusType,
  ErrorCause,
  terminateCauseName,
  attributeDefinition,
  attributeName,
  getAttribute,
  getAttributes,
  getRaw,
  makeAttribute,
  readValue,
  writeValue,
  splitVendorSpecific,
  type AttributeDefinition,
  type AttributeKind,
  type AttributeValueOf,
} from './attributes.ts';
export { formatIPv4, formatIPv6, formatIPv6Prefix, parseIPv4, parseIPv6, parseIPv6Prefix, maskIPv6, type IPv6Prefix } from './ip.ts';
