/**
 * What the RADIUS accounting server hands to its consumer (attribution):
 * one decoded, authenticated, de-duplicated Accounting-Request, with only the
 * attributes attribution needs (R16: minimal data — no Calling-Station-Id
 * payloads, no traffic counters beyond what the record says it is).
 *
 * RFC 2866 §5.1 Acct-Status-Type: Start, Stop, Interim-Update, Accounting-On,
 * Accounting-Off. Accounting-On/Off from a NAS mean "every session this NAS
 * had open is over" (it rebooted).
 */
export type AcctStatus = 'start' | 'stop' | 'interim-update' | 'accounting-on' | 'accounting-off';

export interface AccountingEvent {
  status: AcctStatus;
  /** When the event happened: Event-Timestamp if the NAS sent one, else receive time minus Acct-Delay-Time. Epoch ms. */
  at: number;
  /** How `at` was obtained, so attribution can widen its clock-skew tolerance. */
  clock: 'event-timestamp' | 'receive-time';
  /** The NAS: its source address as seen on the socket, and NAS-IP-Address / NAS-IPv6-Address / NAS-Identifier if sent. */
  nas: { address: string; ip?: string; identifier?: string };
  /** Acct-Session-Id (unique per NAS), and Acct-Multi-Session-Id if sent. Absent on Accounting-On/Off. */
  sessionId?: string;
  /** Acct-Multi-Session-Id (RFC 2866 §5.11): links the sessions of one multilink connection. */
  multiSessionId?: string;
  /** User-Name: the PPPoE / RADIUS login that identifies the subscriber. */
  userName?: string;
  /** Framed-IP-Address (IPv4, dotted). */
  framedIp?: string;
  /** Framed-IPv6-Prefix and Delegated-IPv6-Prefix, as "2001:db8:1::/56". */
  framedIpv6Prefix?: string;
  delegatedIpv6Prefix?: string;
  /** Acct-Session-Time in seconds (Interim-Update and Stop). */
  sessionTime?: number;
  /** Acct-Terminate-Cause (Stop), as its RFC 2866 name, e.g. "User-Request". */
  terminateCause?: string;
}
