/**
 * Typed views of the attributes Sakimori reads and writes. The packet keeps every
 * attribute as raw octets (types.ts); a definition here says how one type's octets read
 * (RFC 2865 §5 data types, RFC 8044 names). decodePacket checks the length of every
 * attribute defined here, so on a decoded packet getAttribute cannot meet a malformed
 * value. Attributes not defined here, and Vendor-Specific (26), stay raw.
 */
import { formatIPv4, formatIPv6, formatIPv6Prefix, parseIPv4, parseIPv6, parseIPv6Prefix } from './ip.ts';
import { MAX_ATTRIBUTE_VALUE, RadiusEncodeError, type RadiusAttribute } from './types.ts';

/**
 * text: UTF-8 (RFC 2865 §5 "text"); octets: opaque ("string"); ipv4/ipv6: an address;
 * ipv6prefix: RFC 3162 §2.3 / RFC 4818; integer: 32-bit unsigned; time: 32-bit seconds
 * since 1970 (RFC 2865 §5).
 */
export type AttributeKind = 'text' | 'octets' | 'ipv4' | 'ipv6' | 'ipv6prefix' | 'integer' | 'time';

export interface AttributeDefinition {
  readonly name: string;
  readonly type: number;
  readonly kind: AttributeKind;
}

export interface AttributeValueOf {
  text: string;
  octets: Uint8Array;
  ipv4: string;
  ipv6: string;
  /** "2001:db8:1::/56" */
  ipv6prefix: string;
  integer: number;
  /** Seconds since the epoch, as on the wire. */
  time: number;
}

interface Definition<K extends AttributeKind> extends AttributeDefinition {
  readonly kind: K;
}

function def<K extends AttributeKind>(name: string, type: number, kind: K): Definition<K> {
  return { name, type, kind };
}

/** RFC 2865 §5, RFC 2866 §5, RFC 3162 §2, RFC 4818, RFC 3579 §3.2, RFC 5176 §3. */
export const Attr = {
  UserName: def('User-Name', 1, 'text'),
  NasIpAddress: def('NAS-IP-Address', 4, 'ipv4'),
  NasPort: def('NAS-Port', 5, 'integer'),
  ServiceType: def('Service-Type', 6, 'integer'),
  FramedIpAddress: def('Framed-IP-Address', 8, 'ipv4'),
  ReplyMessage: def('Reply-Message', 18, 'text'),
  State: def('State', 24, 'octets'),
  Class: def('Class', 25, 'octets'),
  VendorSpecific: def('Vendor-Specific', 26, 'octets'),
  SessionTimeout: def('Session-Timeout', 27, 'integer'),
  CalledStationId: def('Called-Station-Id', 30, 'text'),
  CallingStationId: def('Calling-Station-Id', 31, 'text'),
  NasIdentifier: def('NAS-Identifier', 32, 'text'),
  ProxyState: def('Proxy-State', 33, 'octets'),
  AcctStatusType: def('Acct-Status-Type', 40, 'integer'),
  AcctDelayTime: def('Acct-Delay-Time', 41, 'integer'),
  AcctInputOctets: def('Acct-Input-Octets', 42, 'integer'),
  AcctOutputOctets: def('Acct-Output-Octets', 43, 'integer'),
  AcctSessionId: def('Acct-Session-Id', 44, 'text'),
  AcctAuthentic: def('Acct-Authentic', 45, 'integer'),
  AcctSessionTime: def('Acct-Session-Time', 46, 'integer'),
  AcctTerminateCause: def('Acct-Terminate-Cause', 49, 'integer'),
  AcctMultiSessionId: def('Acct-Multi-Session-Id', 50, 'text'),
  EventTimestamp: def('Event-Timestamp', 55, 'time'),
  NasPortType: def('NAS-Port-Type', 61, 'integer'),
  MessageAuthenticator: def('Message-Authenticator', 80, 'octets'),
  NasPortId: def('NAS-Port-Id', 87, 'text'),
  NasIpv6Address: def('NAS-IPv6-Address', 95, 'ipv6'),
  FramedIpv6Prefix: def('Framed-IPv6-Prefix', 97, 'ipv6prefix'),
  ErrorCause: def('Error-Cause', 101, 'integer'),
  DelegatedIpv6Prefix: def('Delegated-IPv6-Prefix', 123, 'ipv6prefix'),
} as const;

/** RFC 2866 §5.1. */
export const AcctStatusType = {
  Start: 1,
  Stop: 2,
  InterimUpdate: 3,
  AccountingOn: 7,
  AccountingOff: 8,
} as const;

/** RFC 2866 §5.10 and RFC 3580 §3.1 values of Acct-Terminate-Cause, by number. */
const TERMINATE_CAUSES = [
  '',
  'User-Request',
  'Lost-Carrier',
  'Lost-Service',
  'Idle-Timeout',
  'Session-Timeout',
  'Admin-Reset',
  'Admin-Reboot',
  'Port-Error',
  'NAS-Error',
  'NAS-Request',
  'NAS-Reboot',
  'Port-Unneeded',
  'Port-Preempted',
  'Port-Suspended',
  'Service-Unavailable',
  'Callback',
  'User-Error',
  'Host-Request',
  'Supplicant-Restart',
  'Reauthentication-Failure',
  'Port-Reinit',
  'Port-Disabled',
];

/** "User-Request" for 1; "Unknown-99" for a value no RFC names. */
export function terminateCauseName(value: number): string {
  return (value > 0 && TERMINATE_CAUSES[value]) || `Unknown-${value}`;
}

/** RFC 5176 §3.5 Error-Cause values, for Disconnect/CoA NAKs. */
export const ErrorCause = {
  ResidualSessionContextRemoved: 201,
  InvalidEapPacket: 202,
  UnsupportedAttribute: 401,
  MissingAttribute: 402,
  NasIdentificationMismatch: 403,
  InvalidRequest: 404,
  UnsupportedService: 405,
  UnsupportedExtension: 406,
  InvalidAttributeValue: 407,
  AdministrativelyProhibited: 501,
  RequestNotRoutable: 502,
  SessionContextNotFound: 503,
  SessionContextNotRemovable: 504,
  OtherProxyProcessingError: 505,
  ResourcesUnavailable: 506,
  RequestInitiated: 507,
  MultipleSessionSelectionUnsupported: 508,
} as const;

const BY_TYPE: (AttributeDefinition | undefined)[] = new Array(256);
for (const d of Object.values(Attr)) BY_TYPE[d.type] = d;

/**
 * For the decoder's hot loop, per type: the exact value length a known fixed-size type
 * must have, NEEDS_CHECK for a known type with a variable rule (IPv6 prefixes), or
 * UNCHECKED (text, octets, unknown types).
 */
export const UNCHECKED = -1;
export const NEEDS_CHECK = -2;
export const VALUE_RULE = new Int16Array(256).fill(UNCHECKED);
for (const d of Object.values(Attr)) {
  if (d.kind === 'ipv4' || d.kind === 'integer' || d.kind === 'time') VALUE_RULE[d.type] = 4;
  else if (d.kind === 'ipv6') VALUE_RULE[d.type] = 16;
  else if (d.kind === 'ipv6prefix') VALUE_RULE[d.type] = NEEDS_CHECK;
}
VALUE_RULE[Attr.MessageAuthenticator.type] = 16;

/** The definition of an attribute type, if Sakimori knows it. */
export function attributeDefinition(type: number): AttributeDefinition | undefined {
  return BY_TYPE[type];
}

/** "Framed-IP-Address", or "Attr-99". */
export function attributeName(type: number): string {
  return BY_TYPE[type]?.name ?? `Attr-${type}`;
}

/**
 * Why a value of this kind is malformed, or undefined if it is well formed. Used by the
 * decoder: a well-formed packet then has only readable known attributes.
 */
export function checkValue(kind: AttributeKind, v: Uint8Array, type: number): { code: 'BAD_ATTRIBUTE_LENGTH' | 'BAD_ATTRIBUTE_VALUE'; why: string } | undefined {
  switch (kind) {
    case 'ipv4':
    case 'integer':
    case 'time':
      return v.length === 4 ? undefined : { code: 'BAD_ATTRIBUTE_LENGTH', why: `holds ${v.length} octet(s), not 4` };
    case 'ipv6':
      return v.length === 16 ? undefined : { code: 'BAD_ATTRIBUTE_LENGTH', why: `holds ${v.length} octet(s), not 16` };
    case 'ipv6prefix': {
      // RFC 3162 §2.3 / RFC 4818 §3: Reserved, Prefix-Length, then 0..16 prefix octets.
      if (v.length < 2 || v.length > 18) return { code: 'BAD_ATTRIBUTE_LENGTH', why: `holds ${v.length} octet(s), not 2 to 18` };
      const len = v[1]!;
      if (len > 128) return { code: 'BAD_ATTRIBUTE_VALUE', why: `has prefix length ${len}, above 128` };
      if ((v.length - 2) * 8 < len) return { code: 'BAD_ATTRIBUTE_LENGTH', why: `has prefix length ${len} but only ${v.length - 2} prefix octet(s)` };
      return undefined;
    }
    case 'octets':
      // Message-Authenticator is always 16 octets (RFC 3579 §3.2).
      if (type === Attr.MessageAuthenticator.type && v.length !== 16) return { code: 'BAD_ATTRIBUTE_LENGTH', why: `holds ${v.length} octet(s), not 16` };
      return undefined;
    case 'text':
      return undefined;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
const utf8Encoder = new TextEncoder();

/** UTF-8 text (RFC 2865 §5 "text"); ASCII, by far the common case, without a trip through TextDecoder. */
export function readText(v: Uint8Array): string {
  let s = '';
  for (let i = 0; i < v.length; i++) {
    const c = v[i]!;
    if (c >= 0x80) return utf8.decode(v);
    s += String.fromCharCode(c);
  }
  return s;
}

/** A 32-bit unsigned integer, big-endian (the caller checked the length). */
export function readUint32(v: Uint8Array): number {
  return v[0]! * 0x1000000 + ((v[1]! << 16) | (v[2]! << 8) | v[3]!);
}

/** An RFC 3162 §2.3 prefix value as "2001:db8::/56" (the caller checked it). */
export function readIPv6Prefix(v: Uint8Array): string {
  const address = new Uint8Array(16);
  address.set(v.subarray(2, 18));
  return formatIPv6Prefix({ address, length: v[1]! });
}

/** Reads a value of a kind; undefined if malformed (impossible on a packet from decodePacket). */
export function readValue<K extends AttributeKind>(kind: K, v: Uint8Array): AttributeValueOf[K] | undefined {
  if (checkValue(kind, v, 0) !== undefined) return undefined;
  let out: AttributeValueOf[AttributeKind];
  switch (kind) {
    case 'text':
      out = readText(v);
      break;
    case 'octets':
      out = v;
      break;
    case 'ipv4':
      out = formatIPv4(v);
      break;
    case 'ipv6':
      out = formatIPv6(v);
      break;
    case 'ipv6prefix':
      out = readIPv6Prefix(v);
      break;
    default:
      out = readUint32(v);
  }
  return out as AttributeValueOf[K];
}

function bad(d: AttributeDefinition, value: unknown, expected: string): RadiusEncodeError {
  return new RadiusEncodeError(`${d.name}: ${JSON.stringify(value)} is not ${expected}`);
}

/** Encodes a typed value; throws RadiusEncodeError if it cannot be (a programming error). */
export function writeValue(d: AttributeDefinition, value: AttributeValueOf[AttributeKind]): Uint8Array {
  let out: Uint8Array | undefined;
  switch (d.kind) {
    case 'text':
      if (typeof value !== 'string') throw bad(d, value, 'a string');
      out = utf8Encoder.encode(value);
      break;
    case 'octets':
      if (!(value instanceof Uint8Array)) throw bad(d, value, 'a Uint8Array');
      out = Uint8Array.from(value);
      break;
    case 'ipv4':
      out = typeof value === 'string' ? parseIPv4(value) : undefined;
      if (!out) throw bad(d, value, 'an IPv4 address');
      break;
    case 'ipv6':
      out = typeof value === 'string' ? parseIPv6(value) : undefined;
      if (!out) throw bad(d, value, 'an IPv6 address');
      break;
    case 'ipv6prefix': {
      const p = typeof value === 'string' ? parseIPv6Prefix(value) : undefined;
      if (!p) throw bad(d, value, 'an IPv6 prefix such as "2001:db8:1::/56"');
      // Only the octets the length covers, as FreeRADIUS and RFC 8044 §3.11 do.
      const n = Math.ceil(p.length / 8);
      out = new Uint8Array(2 + n);
      out[1] = p.length;
      out.set(p.address.subarray(0, n), 2);
      break;
    }
    default: {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffffffff) {
        throw bad(d, value, 'an integer from 0 to 4294967295');
      }
      out = new Uint8Array(4);
      new DataView(out.buffer).setUint32(0, value);
    }
  }
  if (out.length > MAX_ATTRIBUTE_VALUE) {
    throw new RadiusEncodeError(`${d.name}: value of ${out.length} octets is longer than the ${MAX_ATTRIBUTE_VALUE} an attribute can hold`);
  }
  return out;
}

interface HasAttributes {
  readonly attributes: readonly RadiusAttribute[];
}

/** The first attribute of this type, typed; undefined if absent. */
export function getAttribute<D extends AttributeDefinition>(p: HasAttributes, d: D): AttributeValueOf[D['kind']] | undefined {
  for (const a of p.attributes) {
    if (a.type === d.type) return readValue(d.kind, a.value) as AttributeValueOf[D['kind']] | undefined;
  }
  return undefined;
}

/** Every attribute of this type, typed, in wire order (malformed ones left out). */
export function getAttributes<D extends AttributeDefinition>(p: HasAttributes, d: D): AttributeValueOf[D['kind']][] {
  const out: AttributeValueOf[D['kind']][] = [];
  for (const a of p.attributes) {
    if (a.type !== d.type) continue;
    const v = readValue(d.kind, a.value) as AttributeValueOf[D['kind']] | undefined;
    if (v !== undefined) out.push(v);
  }
  return out;
}

/** The raw value octets of the first attribute of a type (any type, known or not). */
export function getRaw(p: HasAttributes, type: number): Uint8Array | undefined {
  for (const a of p.attributes) if (a.type === type) return a.value;
  return undefined;
}

/** Builds an attribute from a typed value: makeAttribute(Attr.UserName, 'alice'). */
export function makeAttribute<D extends AttributeDefinition>(d: D, value: AttributeValueOf[D['kind']]): RadiusAttribute {
  return { type: d.type, value: writeValue(d, value) };
}

/** Vendor-Specific (RFC 2865 §5.26): the Vendor-Id and the vendor's own octets, if it has at least the Vendor-Id. */
export function splitVendorSpecific(value: Uint8Array): { vendorId: number; data: Uint8Array } | undefined {
  if (value.length < 4) return undefined;
  return { vendorId: readUint32(value), data: value.subarray(4) };
}
