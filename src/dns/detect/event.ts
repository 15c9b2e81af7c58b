/**
 * What a detector is fed: one answered (or unanswered) query, as the DNS server's data
 * plane or the dnstap collector saw it. Minimal on purpose (R16): no ports, no answer
 * records, no query IDs. The FQDN and the client address are communication data; the
 * detectors keep them only in the short windows described in README.md.
 */
export interface DnsObservedQuery {
  /** When the answer was sent (or given up on), epoch ms. */
  at: number;
  /**
   * Client address as text, e.g. "192.0.2.7" or "2001:db8::7"; an IPv4 client on a
   * dual-stack socket may come as "::ffff:192.0.2.7" (the socket's own text, not rewritten
   * per query): detection makes it plain where it reports a client (plainClient).
   */
  client: string;
  /** Query name in canonical text: lower-case, no trailing dot (readQuery's qname). */
  qname: string;
  /** QTYPE (1 A, 16 TXT, 28 AAAA, 48 DNSKEY, 255 ANY, ...). */
  qtype: number;
  /** RCODE sent to the client (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED); undefined: no answer. */
  rcode?: number;
  /** Bytes of the response on the wire (UDP payload or TCP message), when known. */
  responseSize?: number;
  /** Answered from the resolver's cache (dnstap CLIENT_RESPONSE without a RESOLVER_QUERY; unknown for a forwarder). */
  fromCache?: boolean;
  /** The upstream never answered (the client got SERVFAIL or nothing). */
  upstreamTimeout?: boolean;
  /**
   * The kind of policy zone that decided the query, if any: 'cc' / 'malware-sites' /
   * 'dns-abuse' were answered locally by the firewall; 'allow' was passed through.
   */
  matched?: PolicyKind;
}

export type PolicyKind = 'cc' | 'malware-sites' | 'dns-abuse' | 'allow';

export const RCODE_NOERROR = 0;
export const RCODE_SERVFAIL = 2;
export const RCODE_NXDOMAIN = 3;

/** "::ffff:192.0.2.1" (an IPv4 client on a dual-stack socket) -> "192.0.2.1"; anything else as it is. */
export function plainClient(a: string): string {
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}
