/**
 * Test-only: fast-check generators for RADIUS packets, typed attribute values and
 * secrets. Every packet generated fits in 4096 octets and has only well-formed values
 * for the attribute types Sakimori knows, so decodePacket(encodePacket(p)) must give p back.
 */
import fc from 'fast-check';
import { Attr, attributeDefinition, makeAttribute, type AttributeDefinition } from './attributes.ts';
import { formatIPv4, formatIPv6, formatIPv6Prefix, maskIPv6 } from './ip.ts';
import { HEADER_LENGTH, MAX_PACKET_LENGTH, type RadiusAttribute, type RadiusPacket } from './types.ts';

const u32 = fc.integer({ min: 0, max: 0xffffffff });
export const ipv4Arb = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => formatIPv4(b));
const ipv6Bytes = fc.oneof(
  fc.uint8Array({ minLength: 16, maxLength: 16 }),
  // Zero runs, so that "::" placement is exercised.
  fc.array(fc.constantFrom(0, 0, 0, 1, 0xff), { minLength: 16, maxLength: 16 }).map((a) => Uint8Array.from(a)),
);
export const ipv6Arb = ipv6Bytes.map((b) => formatIPv6(b));
/** Canonical prefix text: masked address, RFC 5952 form. */
export const ipv6PrefixArb = fc
  .tuple(ipv6Bytes, fc.integer({ min: 0, max: 128 }))
  .map(([b, length]) => formatIPv6Prefix({ address: maskIPv6(b, length), length }));

const utf8 = new TextEncoder();
/** Text that round-trips through UTF-8 and fits in one attribute. */
export const textArb = fc
  .string({ unit: fc.oneof(fc.constantFrom('a', 'Z', '0', '-', '@', '.', ' '), fc.constantFrom('é', '東', '京', '🙂')), maxLength: 80 })
  .filter((s) => utf8.encode(s).length <= 253);

/** A typed value for a definition, as getAttribute would read it back. */
export function valueArb(d: AttributeDefinition): fc.Arbitrary<unknown> {
  switch (d.kind) {
    case 'text':
      return textArb;
    case 'octets':
      return d.type === Attr.MessageAuthenticator.type ? fc.uint8Array({ minLength: 16, maxLength: 16 }) : fc.uint8Array({ maxLength: 253 });
    case 'ipv4':
      return ipv4Arb;
    case 'ipv6':
      return ipv6Arb;
    case 'ipv6prefix':
      return ipv6PrefixArb;
    case 'integer':
    case 'time':
      return u32;
  }
}

const KNOWN = Object.values(Attr).filter((d) => d.type !== Attr.MessageAuthenticator.type);

/** One attribute: a known type with a typed value, or an unknown type with any octets. */
export const attributeArb: fc.Arbitrary<RadiusAttribute> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...KNOWN).chain((d) => valueArb(d).map((v) => makeAttribute(d, v as never))) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.integer({ min: 1, max: 255 }).filter((t) => attributeDefinition(t) === undefined), fc.uint8Array({ maxLength: 253 }))
      .map(([type, value]) => ({ type, value })),
  },
);

function fit(attributes: RadiusAttribute[]): RadiusAttribute[] {
  let room = MAX_PACKET_LENGTH - HEADER_LENGTH;
  const out: RadiusAttribute[] = [];
  for (const a of attributes) {
    if (2 + a.value.length > room) break;
    room -= 2 + a.value.length;
    out.push(a);
  }
  return out;
}

export const attributesArb = fc.array(attributeArb, { maxLength: 40 }).map(fit);

export const packetArb: fc.Arbitrary<RadiusPacket> = fc.record({
  code: fc.integer({ min: 1, max: 255 }),
  identifier: fc.integer({ min: 0, max: 255 }),
  authenticator: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  attributes: attributesArb,
});

export const secretArb = fc.oneof(fc.string({ minLength: 1, maxLength: 40 }), fc.uint8Array({ minLength: 1, maxLength: 64 }));
