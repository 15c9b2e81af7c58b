/**
 * Test-only: real and hand-built packets, as hex with the byte layout spelled out.
 */
export const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/#[^\n]*/g, '').replace(/\s+/g, ''), 'hex'));

/** Captured from `dig @127.0.0.1 -p 53530 WwW.Example.COM A` (BIND 9.18): RD+AD, EDNS 1232, a COOKIE option. */
export const DIG_A_COOKIE = hex(`
  aaae 0120 0001 0000 0000 0001
  03 577757 07 4578616d706c65 03 434f4d 00 0001 0001
  00 0029 04d0 00 00 0000 000c  000a 0008 ad1146b6540bf9f3
`);

/** `dig ... example.org AAAA +noedns`: no OPT. */
export const DIG_AAAA_NOEDNS = hex(`9f51 0120 0001 0000 0000 0000  07 6578616d706c65 03 6f7267 00 001c 0001`);

/** `dig ... sakimori.example MX +dnssec +nocookie`: DO bit set. */
export const DIG_MX_DO = hex(`
  ecbb 0120 0001 0000 0000 0001
  08 73616b696d6f7269 07 6578616d706c65 00 000f 0001
  00 0029 04d0 00 00 8000 0000
`);

/**
 * A response built by hand from RFC 1035 §4.1, with compression:
 * example.com A 93.184.216.34, example.com MX 10 mail.example.com, NS ns1.example.com,
 * glue ns1.example.com A 192.0.2.1 (owner points into the NS RDATA), OPT 4096 DO.
 */
export const HAND_RESPONSE = hex(`
  1234 8180 0001 0002 0001 0002                 # id, QR RD RA, counts
  07 6578616d706c65 03 636f6d 00 0001 0001      # @12 question example.com A IN
  c00c 0001 0001 00000e10 0004 5db8d822         # @29 answer A
  c00c 000f 0001 00000e10 0009 000a 04 6d61696c c00c   # @45 answer MX; "mail" at 59
  c00c 0002 0001 0002a300 0006 03 6e7331 c00c   # @66 authority NS; "ns1" at 78
  c04e 0001 0001 00000e10 0004 c0000201         # @84 glue, owner -> 78
  00 0029 1000 00 00 8000 0000                  # @100 OPT udp 4096, DO
`);

/** Header for a message with the given counts, for hand-built error cases. */
export function header(qd: number, an = 0, ns = 0, ar = 0, flags = 0x0100): string {
  const h = (n: number) => n.toString(16).padStart(4, '0');
  return `beef ${h(flags)} ${h(qd)} ${h(an)} ${h(ns)} ${h(ar)}`;
}
