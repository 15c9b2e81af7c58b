/**
 * RADIUS packet decoder (RFC 2865 §3 and §5). Pure and never throws: anything malformed
 * yields a WireError with a code, the byte offset and a sentence an operator can act on.
 * It checks structure only; whether the packet is authentic is authenticator.ts's job.
 */
import { Attr, VALUE_RULE, UNCHECKED, attributeDefinition, attributeName, checkValue } from './attributes.ts';
import {
  HEADER_LENGTH,
  MAX_PACKET_LENGTH,
  MIN_PACKET_LENGTH,
  wireError,
  type DecodedPacket,
  type RadiusAttribute,
  type WireResult,
} from './types.ts';

const MESSAGE_AUTHENTICATOR = Attr.MessageAuthenticator.type;

export function decodePacket(buf: Uint8Array): WireResult<DecodedPacket> {
  if (buf.length < MIN_PACKET_LENGTH) {
    return fail('TOO_SHORT', 0, `datagram of ${buf.length} octet(s) is shorter than a RADIUS header (${MIN_PACKET_LENGTH})`);
  }
  const length = (buf[2]! << 8) | buf[3]!;
  if (length < MIN_PACKET_LENGTH || length > MAX_PACKET_LENGTH) {
    return fail('BAD_LENGTH', 2, `Length field says ${length}; RFC 2865 §3 allows ${MIN_PACKET_LENGTH} to ${MAX_PACKET_LENGTH}`);
  }
  if (buf.length < length) {
    return fail('TRUNCATED', buf.length, `Length field says ${length} octets but the datagram has ${buf.length}`);
  }
  // One private copy of exactly Length octets; octets past Length are padding (RFC 2865 §3).
  const bytes = new Uint8Array(length);
  bytes.set(buf.subarray(0, length));

  const attributes: RadiusAttribute[] = [];
  let messageAuthenticatorAt = -1;
  let off = HEADER_LENGTH;
  while (off < length) {
    if (off + 2 > length) {
      return fail('ATTRIBUTE_TRUNCATED', off, `attribute header at offset ${off} runs past the end of the packet (Length ${length})`);
    }
    const type = bytes[off]!;
    const alen = bytes[off + 1]!;
    if (type === 0) return fail('BAD_ATTRIBUTE_TYPE', off, `attribute type 0 at offset ${off} is not defined (RFC 2865 §5)`);
    if (alen < 2) {
      return fail('BAD_ATTRIBUTE_LENGTH', off + 1, `${attributeName(type)} at offset ${off} has Length ${alen}; the minimum is 2`);
    }
    if (off + alen > length) {
      return fail(
        'ATTRIBUTE_TRUNCATED',
        off,
        `${attributeName(type)} at offset ${off} has Length ${alen}, running past the end of the packet (Length ${length})`,
      );
    }
    const value = bytes.subarray(off + 2, off + alen);
    const rule = VALUE_RULE[type]!;
    if (rule !== UNCHECKED && rule !== alen - 2) {
      // Wrong fixed length, or a prefix: the full check says what is wrong, if anything.
      const d = attributeDefinition(type)!;
      const problem = checkValue(d.kind, value, type);
      if (problem) return fail(problem.code, off, `${d.name} at offset ${off} ${problem.why}`);
    }
    if (type === MESSAGE_AUTHENTICATOR) {
      if (messageAuthenticatorAt >= 0) {
        return fail('DUPLICATE_MESSAGE_AUTHENTICATOR', off, `second Message-Authenticator at offset ${off}; RFC 3579 §3.2 allows one`);
      }
      messageAuthenticatorAt = off + 2;
    }
    attributes.push({ type, value });
    off += alen;
  }
  return {
    ok: true,
    value: {
      code: bytes[0]!,
      identifier: bytes[1]!,
      authenticator: bytes.subarray(4, 20),
      attributes,
      bytes,
      messageAuthenticatorAt,
    },
  };
}

function fail(code: Parameters<typeof wireError>[0], offset: number, message: string): { ok: false; error: ReturnType<typeof wireError> } {
  return { ok: false, error: wireError(code, offset, message) };
}
