/**
 * Test-only: fast-check generators for DNS messages in the canonical form the decoder
 * produces, so that decode(encode(m)) must deep-equal m.
 */
import fc from 'fast-check';
import { formatIPv4, formatIPv6 } from '../../core/ip.ts';
import { labelsToText } from './name.ts';
import { RRClass, RRType, type DnsHeader, type DnsMessage, type Edns, type Rdata, type ResourceRecord } from './types.ts';

/** fc.record builds null-prototype objects; the decoder builds plain ones. */
function plainRecord<T extends object>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(model).map((o) => ({ ...o }) as T);
}

const letters = fc.constantFrom(...'abAB-x0_*'.split('').map((c) => c.charCodeAt(0)));
const shortLabel = fc.array(letters, { minLength: 1, maxLength: 6 }).map((a) => Uint8Array.from(a));
const binaryLabel = fc.uint8Array({ minLength: 1, maxLength: 63 });
export const labelArb = fc.oneof({ weight: 4, arbitrary: shortLabel }, { weight: 1, arbitrary: binaryLabel });

function wireLength(labels: Uint8Array[]): number {
  return labels.reduce((n, l) => n + l.length + 1, 1);
}

/** Labels of a valid name (wire length <= 255), including long and binary ones. */
export const labelsArb = fc
  .array(labelArb, { maxLength: 10 })
  .map((labels) => {
    while (wireLength(labels) > 255) labels.pop();
    return labels;
  });

const longName = fc
  .array(fc.uint8Array({ minLength: 63, maxLength: 63 }), { minLength: 3, maxLength: 3 })
  .chain((three) => fc.uint8Array({ minLength: 1, maxLength: 61 }).map((last) => [...three, last]));

/** A name in text form; suffixes repeat often so that compression gets exercised. */
export const nameArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('.', 'example.com', 'Example.COM', 'www.example.com', 'ns1.example.com', 'a.b', 'com') },
  { weight: 3, arbitrary: fc.tuple(fc.array(shortLabel, { maxLength: 2 }), fc.constantFrom('example.com', 'Example.COM', 'com', 'a.b')).map(([pre, suf]) => (pre.length ? labelsToText(pre) + '.' : '') + suf) },
  { weight: 3, arbitrary: labelsArb.map(labelsToText) },
  { weight: 1, arbitrary: longName.map(labelsToText) },
);

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const bytes = (max: number) => fc.uint8Array({ maxLength: max });

export const ipv4Arb = fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => formatIPv4(b, 0));
export const ipv6Arb = fc.oneof(
  fc.uint8Array({ minLength: 16, maxLength: 16 }),
  // Zero runs, so that "::" placement is exercised.
  fc.array(fc.constantFrom(0, 0, 0, 1, 0xffff), { minLength: 16, maxLength: 16 }).map((a) => Uint8Array.from(a)),
).map((b) => formatIPv6(b, 0));

const TYPED = new Set<number>([RRType.A, RRType.AAAA, RRType.NS, RRType.CNAME, RRType.PTR, RRType.DNAME, RRType.MX, RRType.TXT, RRType.SOA, RRType.SRV, RRType.CAA]);

type Typed = { type: number; data: Rdata; inOnly?: boolean };
const typedArb: fc.Arbitrary<Typed> = fc.oneof(
  ipv4Arb.map((address) => ({ type: RRType.A, data: { kind: 'A', address } as Rdata, inOnly: true })),
  ipv6Arb.map((address) => ({ type: RRType.AAAA, data: { kind: 'AAAA', address } as Rdata, inOnly: true })),
  nameArb.map((nsdname) => ({ type: RRType.NS, data: { kind: 'NS', nsdname } as Rdata })),
  nameArb.map((cname) => ({ type: RRType.CNAME, data: { kind: 'CNAME', cname } as Rdata })),
  nameArb.map((ptrdname) => ({ type: RRType.PTR, data: { kind: 'PTR', ptrdname } as Rdata })),
  nameArb.map((target) => ({ type: RRType.DNAME, data: { kind: 'DNAME', target } as Rdata })),
  fc.tuple(u16, nameArb).map(([preference, exchange]) => ({ type: RRType.MX, data: { kind: 'MX', preference, exchange } as Rdata })),
  fc.array(bytes(255), { minLength: 1, maxLength: 4 }).map((strings) => ({ type: RRType.TXT, data: { kind: 'TXT', strings } as Rdata })),
  fc
    .tuple(nameArb, nameArb, u32, u32, u32, u32, u32)
    .map(([mname, rname, serial, refresh, retry, expire, minimum]) => ({
      type: RRType.SOA,
      data: { kind: 'SOA', mname, rname, serial, refresh, retry, expire, minimum } as Rdata,
    })),
  fc.tuple(u16, u16, u16, nameArb).map(([priority, weight, port, target]) => ({ type: RRType.SRV, data: { kind: 'SRV', priority, weight, port, target } as Rdata })),
  fc
    .tuple(u8, fc.oneof(fc.constantFrom('issue', 'issuewild', 'iodef'), fc.uint8Array({ minLength: 1, maxLength: 20 }).map((b) => String.fromCharCode(...b))), bytes(40))
    .map(([flags, tag, value]) => ({ type: RRType.CAA, data: { kind: 'CAA', flags, tag, value } as Rdata })),
);

export const recordArb: fc.Arbitrary<ResourceRecord> = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(nameArb, typedArb, fc.constantFrom(RRClass.IN, RRClass.IN, RRClass.CH, RRClass.HS), u32).map(([name, t, klass, ttl]) => ({ name, type: t.type, class: t.inOnly ? RRClass.IN : klass, ttl, data: t.data })) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(nameArb, u16.filter((t) => !TYPED.has(t) && t !== RRType.OPT), u16, u32, bytes(60))
      .map(([name, type, klass, ttl, b]) => ({ name, type, class: klass, ttl, data: { kind: 'raw', bytes: b } as Rdata })),
  },
  {
    weight: 1,
    arbitrary: fc
      .tuple(nameArb, u16.filter((t) => t !== RRType.OPT), fc.constantFrom(RRClass.NONE, RRClass.ANY), u32, bytes(20))
      .map(([name, type, klass, ttl, b]) => ({ name, type, class: klass, ttl, data: { kind: 'raw', bytes: b } as Rdata })),
  },
);

export const ednsArb: fc.Arbitrary<Edns> = plainRecord({
  udpSize: u16,
  version: u8,
  do: fc.boolean(),
  z: fc.integer({ min: 0, max: 0x7fff }),
  options: fc.array(plainRecord({ code: u16, data: bytes(30) }), { maxLength: 3 }),
});

const headerArb = (withEdns: boolean): fc.Arbitrary<DnsHeader> =>
  plainRecord({
    id: u16,
    qr: fc.boolean(),
    opcode: fc.integer({ min: 0, max: 15 }),
    aa: fc.boolean(),
    tc: fc.boolean(),
    rd: fc.boolean(),
    ra: fc.boolean(),
    z: fc.boolean(),
    ad: fc.boolean(),
    cd: fc.boolean(),
    rcode: fc.integer({ min: 0, max: withEdns ? 4095 : 15 }),
  });

const questionArb = plainRecord({ name: nameArb, type: u16, class: u16 });

export const messageArb: fc.Arbitrary<DnsMessage> = fc.option(ednsArb, { nil: undefined }).chain((edns) =>
  plainRecord({
      header: headerArb(edns !== undefined),
      questions: fc.array(questionArb, { maxLength: 2 }),
      answers: fc.array(recordArb, { maxLength: 5 }),
      authority: fc.array(recordArb, { maxLength: 3 }),
      additional: fc.array(recordArb, { maxLength: 3 }),
    }).map((m) => (edns === undefined ? m : { ...m, edns })),
);

/** A query as a stub resolver sends it: one question, maybe an OPT, maybe other records. */
export const queryMessageArb: fc.Arbitrary<DnsMessage> = fc
  .tuple(messageArb, questionArb, fc.boolean())
  .map(([m, q, bare]) => ({
    ...m,
    header: { ...m.header, qr: false },
    questions: [q],
    ...(bare ? { answers: [], authority: [], additional: [] } : {}),
  }));
