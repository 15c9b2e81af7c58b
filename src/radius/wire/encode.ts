/**
 * RADIUS packet encoder. encodePacket writes a packet exactly as given (its
 * authenticator included); encodeRequest and encodeResponse (authenticator.ts) fill in
 * the authenticators. Throws RadiusEncodeError only for values no peer could send us
 * (a programming error), never for anything that came off the wire.
 */
import {
  AUTHENTICATOR_LENGTH,
  HEADER_LENGTH,
  MAX_ATTRIBUTE_VALUE,
  MAX_PACKET_LENGTH,
  RadiusEncodeError,
  codeName,
  type RadiusPacket,
} from './types.ts';
import { attributeName } from './attributes.ts';

export function encodePacket(p: RadiusPacket): Uint8Array {
  if (!Number.isInteger(p.code) || p.code < 1 || p.code > 255) throw new RadiusEncodeError(`packet code ${p.code} is not 1..255`);
  if (!Number.isInteger(p.identifier) || p.identifier < 0 || p.identifier > 255) {
    throw new RadiusEncodeError(`${codeName(p.code)}: identifier ${p.identifier} is not 0..255`);
  }
  if (p.authenticator.length !== AUTHENTICATOR_LENGTH) {
    throw new RadiusEncodeError(`${codeName(p.code)}: authenticator has ${p.authenticator.length} octets, not ${AUTHENTICATOR_LENGTH}`);
  }
  let length = HEADER_LENGTH;
  for (const a of p.attributes) {
    if (!Number.isInteger(a.type) || a.type < 1 || a.type > 255) throw new RadiusEncodeError(`attribute type ${a.type} is not 1..255`);
    if (a.value.length > MAX_ATTRIBUTE_VALUE) {
      throw new RadiusEncodeError(
        `${attributeName(a.type)}: value of ${a.value.length} octets is longer than the ${MAX_ATTRIBUTE_VALUE} an attribute can hold`,
        'split long data over several attributes of the same type where the attribute allows it (e.g. EAP-Message)',
      );
    }
    length += 2 + a.value.length;
  }
  if (length > MAX_PACKET_LENGTH) {
    throw new RadiusEncodeError(`${codeName(p.code)} would be ${length} octets; RFC 2865 §3 allows at most ${MAX_PACKET_LENGTH}`);
  }
  const out = new Uint8Array(length);
  out[0] = p.code;
  out[1] = p.identifier;
  out[2] = length >> 8;
  out[3] = length & 0xff;
  out.set(p.authenticator, 4);
  let off = HEADER_LENGTH;
  for (const a of p.attributes) {
    out[off] = a.type;
    out[off + 1] = a.value.length + 2;
    out.set(a.value, off + 2);
    off += 2 + a.value.length;
  }
  return out;
}
