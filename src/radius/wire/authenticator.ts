/**
 * Authenticators: who may have sent this packet, and did anyone change it.
 *
 * Request Authenticator (the header's 16 octets):
 *  - Access-Request, Status-Server: random (RFC 2865 §3); nothing to verify without the
 *    Message-Authenticator.
 *  - Accounting-Request (RFC 2866 §3), Disconnect-Request and CoA-Request (RFC 5176
 *    §2.3): MD5(Code + Identifier + Length + 16 zero octets + Attributes + Secret).
 * Response Authenticator, every response: MD5(Code + Identifier + Length + Request
 *    Authenticator + Attributes + Secret) (RFC 2865 §3, RFC 2866 §4, RFC 5176 §2.3).
 *
 * Message-Authenticator (RFC 3579 §3.2, RFC 5176 §3.1) is HMAC-MD5 over the packet with
 * its own value as 16 zero octets; the header's authenticator field holds, while the HMAC
 * is computed: the packet's random authenticator (Access-Request, Status-Server), the
 * request's authenticator (Access-Accept/Reject/Challenge, and an Accounting-Response to
 * Status-Server), or 16 zero octets (Accounting-Request, Disconnect/CoA requests and their
 * responses). The last rule is what FreeRADIUS does (rad_sign, rad_verify) and so what the
 * NASes tested against it do; RFC 5176 §3.1 can be read as "Request Authenticator" for the
 * responses, so a response is accepted under either reading.
 */
import { randomBytes } from 'node:crypto';
import { constantTimeEqual, hmacMd5, md5Packet } from './md5.ts';
import { Attr } from './attributes.ts';
import { encodePacket } from './encode.ts';
import { AUTHENTICATOR_LENGTH, Code, HEADER_LENGTH, codeName, type DecodedPacket, type RadiusAttribute } from './types.ts';

/** A shared secret: text (UTF-8, as in a clients.conf) or raw octets. */
export type Secret = string | Uint8Array;

const ZERO16 = new Uint8Array(AUTHENTICATOR_LENGTH);

export function secretBytes(secret: Secret): Uint8Array {
  return typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
}

/** Requests whose Request Authenticator is an MD5 digest over the packet (not random). */
export function hasDigestRequestAuthenticator(code: number): boolean {
  return code === Code.AccountingRequest || code === Code.DisconnectRequest || code === Code.CoaRequest;
}

/** Requests whose Request Authenticator is 16 random octets. */
export function hasRandomRequestAuthenticator(code: number): boolean {
  return code === Code.AccessRequest || code === Code.StatusServer;
}

export function isRequestCode(code: number): boolean {
  return hasDigestRequestAuthenticator(code) || hasRandomRequestAuthenticator(code);
}

export type AuthCheck =
  | { ok: true }
  | { ok: false; reason: 'bad-authenticator' | 'bad-message-authenticator' | 'missing-message-authenticator'; message: string };

/** MD5(packet with `authField` in the authenticator position + secret). */
function digest(bytes: Uint8Array, authField: Uint8Array, secret: Uint8Array): Uint8Array {
  return md5Packet(bytes, authField, secret);
}

/** HMAC-MD5 over the packet with `authField` in the header and zeros for the Message-Authenticator value at `maAt`. */
function messageAuthenticator(bytes: Uint8Array, authField: Uint8Array, maAt: number, secret: Uint8Array): Uint8Array {
  return hmacMd5(secret, [
    bytes.subarray(0, 4),
    authField,
    bytes.subarray(HEADER_LENGTH, maAt),
    ZERO16,
    bytes.subarray(maAt + AUTHENTICATOR_LENGTH),
  ]);
}

const same = constantTimeEqual;

/** Offset of the first Message-Authenticator's value in the encoded attribute list, or -1. */
function messageAuthenticatorOffset(attributes: readonly RadiusAttribute[]): number {
  let off = HEADER_LENGTH;
  for (const a of attributes) {
    if (a.type === Attr.MessageAuthenticator.type) return off + 2;
    off += 2 + a.value.length;
  }
  return -1;
}

export interface RequestInit {
  code: number;
  identifier: number;
  /**
   * Include a Message-Authenticator attribute (its value is computed; any value given
   * is replaced) to have one. For Access-Request and Status-Server: the random
   * authenticator to use (tests); otherwise 16 random octets are drawn.
   */
  attributes: RadiusAttribute[];
  authenticator?: Uint8Array;
}

/**
 * Encodes a request and signs it: the Message-Authenticator if the attributes have
 * one, then the Request Authenticator. Access-Request's User-Password hiding is not done
 * here (Sakimori sends no Access-Requests).
 */
export function encodeRequest(init: RequestInit, secret: Secret): Uint8Array {
  const key = secretBytes(secret);
  const digestAuth = hasDigestRequestAuthenticator(init.code);
  const auth = digestAuth ? ZERO16 : (init.authenticator ?? randomBytes(AUTHENTICATOR_LENGTH));
  const out = encodePacket({ code: init.code, identifier: init.identifier, authenticator: auth, attributes: init.attributes });
  const maAt = messageAuthenticatorOffset(init.attributes);
  if (maAt >= 0) out.set(messageAuthenticator(out, auth, maAt, key), maAt);
  if (digestAuth) out.set(digest(out, ZERO16, key), 4);
  return out;
}

/** The request a response answers: its code (for the Message-Authenticator rule) and authenticator. */
export interface RequestRef {
  code: number;
  authenticator: Uint8Array;
}

/** Which value sits in the authenticator field while a response's Message-Authenticator is computed (see the file comment). */
function responseMacBasis(code: number, request: RequestRef): Uint8Array {
  if (code === Code.AccountingResponse && request.code === Code.StatusServer) return request.authenticator;
  if (code === Code.AccessAccept || code === Code.AccessReject || code === Code.AccessChallenge) return request.authenticator;
  return ZERO16;
}

/** Encodes a response to `request` and signs it (Message-Authenticator if present, then the Response Authenticator). */
export function encodeResponse(init: { code: number; identifier: number; attributes: RadiusAttribute[] }, request: RequestRef, secret: Secret): Uint8Array {
  const key = secretBytes(secret);
  const out = encodePacket({ code: init.code, identifier: init.identifier, authenticator: request.authenticator, attributes: init.attributes });
  const maAt = messageAuthenticatorOffset(init.attributes);
  if (maAt >= 0) out.set(messageAuthenticator(out, responseMacBasis(init.code, request), maAt, key), maAt);
  out.set(digest(out, request.authenticator, key), 4);
  return out;
}

/**
 * Checks a received request: the Request Authenticator where it is a digest, and the
 * Message-Authenticator when present (or required). RFC 2866 §3 and RFC 5176 §2.3: a
 * request that fails must be silently discarded.
 */
export function verifyRequest(p: DecodedPacket, secret: Secret, opts: { requireMessageAuthenticator?: boolean } = {}): AuthCheck {
  const key = secretBytes(secret);
  const digestAuth = hasDigestRequestAuthenticator(p.code);
  if (digestAuth && !same(digest(p.bytes, ZERO16, key), p.authenticator)) {
    return {
      ok: false,
      reason: 'bad-authenticator',
      message: `${codeName(p.code)} id ${p.identifier}: Request Authenticator does not match (wrong shared secret, or the packet was altered)`,
    };
  }
  return checkMessageAuthenticator(p, key, [digestAuth ? ZERO16 : p.authenticator], opts.requireMessageAuthenticator === true);
}

/** Checks a received response against the request it answers. */
export function verifyResponse(p: DecodedPacket, request: RequestRef, secret: Secret, opts: { requireMessageAuthenticator?: boolean } = {}): AuthCheck {
  const key = secretBytes(secret);
  if (!same(digest(p.bytes, request.authenticator, key), p.authenticator)) {
    return {
      ok: false,
      reason: 'bad-authenticator',
      message: `${codeName(p.code)} id ${p.identifier}: Response Authenticator does not match (wrong shared secret, a reply to another request, or altered)`,
    };
  }
  const primary = responseMacBasis(p.code, request);
  const bases = primary === ZERO16 ? [ZERO16, request.authenticator] : [primary];
  return checkMessageAuthenticator(p, key, bases, opts.requireMessageAuthenticator === true);
}

function checkMessageAuthenticator(p: DecodedPacket, key: Uint8Array, bases: Uint8Array[], required: boolean): AuthCheck {
  const at = p.messageAuthenticatorAt;
  if (at < 0) {
    if (!required) return { ok: true };
    return { ok: false, reason: 'missing-message-authenticator', message: `${codeName(p.code)} id ${p.identifier}: no Message-Authenticator, and one is required` };
  }
  const got = p.bytes.subarray(at, at + AUTHENTICATOR_LENGTH);
  for (const basis of bases) {
    if (same(messageAuthenticator(p.bytes, basis, at, key), got)) return { ok: true };
  }
  return {
    ok: false,
    reason: 'bad-message-authenticator',
    message: `${codeName(p.code)} id ${p.identifier}: Message-Authenticator does not match (wrong shared secret, or the packet was altered)`,
  };
}
