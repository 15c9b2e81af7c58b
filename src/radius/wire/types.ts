/**
 * The RADIUS packet model (RFC 2865 §3): a header and a list of attributes, each a type
 * and its raw value octets. Typed views of the values live in attributes.ts; the list
 * keeps order and duplicates exactly as on the wire, because order matters to
 * authenticators and to some attributes (RFC 2865 §5: "the order of attributes of the
 * same type MUST be preserved").
 */
import { SakimoriError } from '../../core/errors.ts';

/** RFC 2865 §3, RFC 2866 §3, RFC 5176 §2 / §3. */
export const Code = {
  AccessRequest: 1,
  AccessAccept: 2,
  AccessReject: 3,
  AccountingRequest: 4,
  AccountingResponse: 5,
  AccessChallenge: 11,
  StatusServer: 12,
  StatusClient: 13,
  DisconnectRequest: 40,
  DisconnectAck: 41,
  DisconnectNak: 42,
  CoaRequest: 43,
  CoaAck: 44,
  CoaNak: 45,
} as const;

const CODE_NAMES = new Map<number, string>([
  [1, 'Access-Request'],
  [2, 'Access-Accept'],
  [3, 'Access-Reject'],
  [4, 'Accounting-Request'],
  [5, 'Accounting-Response'],
  [11, 'Access-Challenge'],
  [12, 'Status-Server'],
  [13, 'Status-Client'],
  [40, 'Disconnect-Request'],
  [41, 'Disconnect-ACK'],
  [42, 'Disconnect-NAK'],
  [43, 'CoA-Request'],
  [44, 'CoA-ACK'],
  [45, 'CoA-NAK'],
]);

/** "Accounting-Request", or "Code-99" for a code we have no name for. */
export function codeName(code: number): string {
  return CODE_NAMES.get(code) ?? `Code-${code}`;
}

export const HEADER_LENGTH = 20;
export const AUTHENTICATOR_LENGTH = 16;
/** RFC 2865 §3: "The minimum length is 20 and maximum length is 4096." */
export const MIN_PACKET_LENGTH = 20;
export const MAX_PACKET_LENGTH = 4096;
/** An attribute's Length octet counts its 2-octet header, so a value holds at most 253 octets. */
export const MAX_ATTRIBUTE_VALUE = 253;

export interface RadiusAttribute {
  readonly type: number;
  readonly value: Uint8Array;
}

export interface RadiusPacket {
  code: number;
  /** 0..255; matches a response to its request (RFC 2865 §3). */
  identifier: number;
  /** 16 octets: Request or Response Authenticator. */
  authenticator: Uint8Array;
  attributes: RadiusAttribute[];
}

/** What decodePacket returns: the packet plus what the authenticator checks need. */
export interface DecodedPacket extends RadiusPacket {
  /**
   * The packet's own octets, exactly Length of them (UDP padding beyond Length is
   * dropped, RFC 2865 §3). A private copy: attribute values are views into it, never
   * into the caller's buffer, so a reused receive buffer cannot change a decoded packet.
   */
  bytes: Uint8Array;
  /** Offset in `bytes` of the Message-Authenticator's 16 value octets, or -1 if absent. */
  messageAuthenticatorAt: number;
}

export type WireErrorCode =
  /** Fewer than 20 octets: not even a header. */
  | 'TOO_SHORT'
  /** The Length field is below 20 or above 4096. */
  | 'BAD_LENGTH'
  /** The datagram is shorter than its Length field says (RFC 2865 §3: silently discard). */
  | 'TRUNCATED'
  /** An attribute's header or value runs past the end of the packet. */
  | 'ATTRIBUTE_TRUNCATED'
  /** An attribute's Length is below 2, or wrong for its type (e.g. Framed-IP-Address not 6). */
  | 'BAD_ATTRIBUTE_LENGTH'
  /** Attribute type 0 is not defined (RFC 2865 §5). */
  | 'BAD_ATTRIBUTE_TYPE'
  /** A value of the right length that its type forbids (e.g. an IPv6 prefix length of 200). */
  | 'BAD_ATTRIBUTE_VALUE'
  /** More than one Message-Authenticator (RFC 3579 §3.2 allows at most one). */
  | 'DUPLICATE_MESSAGE_AUTHENTICATOR';

export interface WireError {
  code: WireErrorCode;
  /** Byte offset in the datagram where the problem is. */
  offset: number;
  message: string;
}

export type WireResult<T> = { ok: true; value: T } | { ok: false; error: WireError };

export function wireError(code: WireErrorCode, offset: number, message: string): WireError {
  return { code, offset, message };
}

/** The encoder was given something that cannot go on the wire (a programming error, not peer input). */
export class RadiusEncodeError extends SakimoriError {
  constructor(message: string, hint?: string) {
    super('RADIUS_ENCODE', message, hint === undefined ? {} : { hint });
    this.name = 'RadiusEncodeError';
  }
}
