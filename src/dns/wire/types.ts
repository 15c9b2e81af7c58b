/**
 * The DNS message model shared by the decoder, the encoder and the hot-path helpers.
 *
 * Names are strings in master-file presentation form (RFC 1035 §5.1): labels joined by
 * '.', bytes outside printable ASCII written as \DDD, and '.', '\', '"', '(', ')', ';',
 * '@', '$' written as \X. Names are absolute, written without the trailing dot; the root
 * is ".". Case is kept exactly as it was on the wire.
 */
import { SakimoriError } from '../../core/errors.ts';

export const RRType = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  PTR: 12,
  HINFO: 13,
  MX: 15,
  TXT: 16,
  RP: 17,
  AAAA: 28,
  SRV: 33,
  NAPTR: 35,
  DNAME: 39,
  OPT: 41,
  DS: 43,
  SSHFP: 44,
  RRSIG: 46,
  NSEC: 47,
  DNSKEY: 48,
  NSEC3: 50,
  NSEC3PARAM: 51,
  TLSA: 52,
  SVCB: 64,
  HTTPS: 65,
  TSIG: 250,
  IXFR: 251,
  AXFR: 252,
  ANY: 255,
  CAA: 257,
} as const;

export const RRClass = { IN: 1, CH: 3, HS: 4, NONE: 254, ANY: 255 } as const;

/** RFC 1035 §4.1.1, RFC 1996 (NOTIFY), RFC 2136 (UPDATE). */
export const Opcode = { QUERY: 0, IQUERY: 1, STATUS: 2, NOTIFY: 4, UPDATE: 5 } as const;

/** Response codes; values above 15 need an OPT record (RFC 6891 §6.1.3). */
export const RCode = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  YXDOMAIN: 6,
  YXRRSET: 7,
  NXRRSET: 8,
  NOTAUTH: 9,
  NOTZONE: 10,
  BADVERS: 16,
  BADCOOKIE: 23,
} as const;

/** EDNS option codes this codebase refers to (IANA "DNS EDNS0 Option Codes"). */
export const EdnsOptionCode = { NSID: 3, CLIENT_SUBNET: 8, COOKIE: 10, PADDING: 12, EXTENDED_ERROR: 15 } as const;

export interface DnsHeader {
  id: number;
  qr: boolean;
  opcode: number;
  aa: boolean;
  tc: boolean;
  rd: boolean;
  ra: boolean;
  /** The reserved bit between RA and AD; must be zero, kept so odd packets round-trip. */
  z: boolean;
  ad: boolean;
  cd: boolean;
  /** Full response code: the header's 4 bits plus the OPT record's upper 8 bits. */
  rcode: number;
}

export interface DnsQuestion {
  name: string;
  type: number;
  class: number;
}

export interface EdnsOption {
  code: number;
  data: Uint8Array;
}

/** The OPT pseudo-record (RFC 6891 §6.1), lifted out of the additional section. */
export interface Edns {
  udpSize: number;
  version: number;
  do: boolean;
  /** The 15 flag bits after DO; zero today, kept so they round-trip. Encoder: default 0. */
  z?: number;
  options: EdnsOption[];
}

/**
 * Typed RDATA. Field names follow the RFCs that define each type. A record of any type
 * may carry `raw` RDATA; the decoder gives `raw` for every type it does not type, for
 * A/AAAA outside class IN, and for class NONE/ANY (UPDATE prerequisites, RFC 2136).
 */
export type Rdata =
  | { kind: 'A'; address: string }
  | { kind: 'AAAA'; address: string }
  | { kind: 'NS'; nsdname: string }
  | { kind: 'CNAME'; cname: string }
  | { kind: 'PTR'; ptrdname: string }
  | { kind: 'DNAME'; target: string }
  | { kind: 'MX'; preference: number; exchange: string }
  | { kind: 'TXT'; strings: Uint8Array[] }
  | {
      kind: 'SOA';
      mname: string;
      rname: string;
      serial: number;
      refresh: number;
      retry: number;
      expire: number;
      minimum: number;
    }
  | { kind: 'SRV'; priority: number; weight: number; port: number; target: string }
  | { kind: 'CAA'; flags: number; tag: string; value: Uint8Array }
  | { kind: 'raw'; bytes: Uint8Array };

export type RdataKind = Rdata['kind'];

export interface ResourceRecord {
  name: string;
  type: number;
  class: number;
  /** Unsigned 32-bit, as on the wire. */
  ttl: number;
  data: Rdata;
}

export interface DnsMessage {
  header: DnsHeader;
  questions: DnsQuestion[];
  answers: ResourceRecord[];
  authority: ResourceRecord[];
  /** Additional records without the OPT record, which is in `edns`. */
  additional: ResourceRecord[];
  /** Present when the message carries an OPT record. */
  edns?: Edns;
}

export type WireErrorCode =
  | 'TRUNCATED'
  | 'COMPRESSION_LOOP'
  | 'BAD_POINTER'
  | 'BAD_LABEL_TYPE'
  | 'NAME_TOO_LONG'
  | 'LABEL_TOO_LONG'
  | 'EMPTY_LABEL'
  | 'BAD_ESCAPE'
  | 'BAD_NAME_TEXT'
  | 'TRAILING_DATA'
  | 'BAD_RDATA'
  | 'BAD_OPT'
  | 'NOT_A_QUERY'
  | 'BAD_QUESTION_COUNT';

/** Why bytes (or a name in text) could not be read, and where: `offset` is a byte offset. */
export interface WireError {
  code: WireErrorCode;
  offset: number;
  message: string;
}

export type WireResult<T> = { ok: true; value: T } | { ok: false; error: WireError };

export function wireError(code: WireErrorCode, offset: number, message: string): WireError {
  return { code, offset, message };
}

/** An encoder was given a value that cannot be put on the wire (a programming or config error). */
export class WireEncodeError extends SakimoriError {
  constructor(message: string, hint?: string) {
    super('DNS_ENCODE', message, hint === undefined ? {} : { hint });
    this.name = 'WireEncodeError';
  }
}

export const RDATA_KIND_TYPE: Readonly<Record<Exclude<RdataKind, 'raw'>, number>> = {
  A: RRType.A,
  AAAA: RRType.AAAA,
  NS: RRType.NS,
  CNAME: RRType.CNAME,
  PTR: RRType.PTR,
  DNAME: RRType.DNAME,
  MX: RRType.MX,
  TXT: RRType.TXT,
  SOA: RRType.SOA,
  SRV: RRType.SRV,
  CAA: RRType.CAA,
};
