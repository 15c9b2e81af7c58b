/**
 * From an authenticated Accounting-Request to the AccountingEvent attribution consumes.
 * Pure: the receive time and the NAS's address come in as arguments.
 */
import type { AccountingEvent, AcctStatus } from './accounting-event.ts';
import { AcctStatusType, Attr, readIPv6Prefix, readText, readUint32, terminateCauseName } from './wire/attributes.ts';
import { formatIPv4, formatIPv6 } from './wire/ip.ts';
import type { RadiusPacket } from './wire/types.ts';

/** Attribute type numbers, as constants for the switch below. */
const T = {
  UserName: Attr.UserName.type,
  NasIpAddress: Attr.NasIpAddress.type,
  FramedIpAddress: Attr.FramedIpAddress.type,
  NasIdentifier: Attr.NasIdentifier.type,
  AcctStatusType: Attr.AcctStatusType.type,
  AcctDelayTime: Attr.AcctDelayTime.type,
  AcctSessionId: Attr.AcctSessionId.type,
  AcctSessionTime: Attr.AcctSessionTime.type,
  AcctTerminateCause: Attr.AcctTerminateCause.type,
  AcctMultiSessionId: Attr.AcctMultiSessionId.type,
  EventTimestamp: Attr.EventTimestamp.type,
  NasIpv6Address: Attr.NasIpv6Address.type,
  FramedIpv6Prefix: Attr.FramedIpv6Prefix.type,
  DelegatedIpv6Prefix: Attr.DelegatedIpv6Prefix.type,
} as const;

const STATUS: Record<number, AcctStatus> = {
  [AcctStatusType.Start]: 'start',
  [AcctStatusType.Stop]: 'stop',
  [AcctStatusType.InterimUpdate]: 'interim-update',
  [AcctStatusType.AccountingOn]: 'accounting-on',
  [AcctStatusType.AccountingOff]: 'accounting-off',
};

/**
 * Event-Timestamps before 2000-01-01 come from a NAS whose clock was never set (it
 * counts from 1970 after a reboot without NTP); trusting one would place the session
 * decades in the past, so the receive time is used instead.
 */
export const EARLIEST_EVENT_TIMESTAMP = 946_684_800;

export type AccountingRequestOutcome =
  | { kind: 'event'; event: AccountingEvent }
  /** A status attribution has no use for (e.g. Tunnel-Start, Failed): answer it, deliver nothing. */
  | { kind: 'other-status'; statusType: number }
  /** RFC 2866 §5.1: Acct-Status-Type is required. */
  | { kind: 'malformed'; message: string };

/**
 * One pass over the attributes (this runs for every packet); the first of each type
 * counts, as getAttribute would read it. Values are well formed: decodePacket checked them.
 */
export function accountingEventFrom(p: RadiusPacket, nasAddress: string, receivedAt: number): AccountingRequestOutcome {
  let statusType: number | undefined;
  let eventTimestamp: number | undefined;
  let delay: number | undefined;
  let nasIp: string | undefined;
  let nasIpv6: string | undefined;
  let nasId: string | undefined;
  let sessionId: string | undefined;
  let multiSessionId: string | undefined;
  let userName: string | undefined;
  let framedIp: string | undefined;
  let framedIpv6Prefix: string | undefined;
  let delegatedIpv6Prefix: string | undefined;
  let sessionTime: number | undefined;
  let cause: number | undefined;
  for (const a of p.attributes) {
    const v = a.value;
    switch (a.type) {
      case T.AcctStatusType:
        statusType ??= readUint32(v);
        break;
      case T.EventTimestamp:
        eventTimestamp ??= readUint32(v);
        break;
      case T.AcctDelayTime:
        delay ??= readUint32(v);
        break;
      case T.NasIpAddress:
        nasIp ??= formatIPv4(v);
        break;
      case T.NasIpv6Address:
        nasIpv6 ??= formatIPv6(v);
        break;
      case T.NasIdentifier:
        nasId ??= readText(v);
        break;
      case T.AcctSessionId:
        sessionId ??= readText(v);
        break;
      case T.AcctMultiSessionId:
        multiSessionId ??= readText(v);
        break;
      case T.UserName:
        userName ??= readText(v);
        break;
      case T.FramedIpAddress:
        framedIp ??= formatIPv4(v);
        break;
      case T.FramedIpv6Prefix:
        framedIpv6Prefix ??= readIPv6Prefix(v);
        break;
      case T.DelegatedIpv6Prefix:
        delegatedIpv6Prefix ??= readIPv6Prefix(v);
        break;
      case T.AcctSessionTime:
        sessionTime ??= readUint32(v);
        break;
      case T.AcctTerminateCause:
        cause ??= readUint32(v);
        break;
    }
  }
  if (statusType === undefined) return { kind: 'malformed', message: 'Accounting-Request without Acct-Status-Type (RFC 2866 §5.1 requires it)' };
  const status = STATUS[statusType];
  if (status === undefined) return { kind: 'other-status', statusType };

  let at: number;
  let clock: AccountingEvent['clock'];
  if (eventTimestamp !== undefined && eventTimestamp >= EARLIEST_EVENT_TIMESTAMP) {
    at = eventTimestamp * 1000;
    clock = 'event-timestamp';
  } else {
    // RFC 2866 §5.2: Acct-Delay-Time is how long the NAS has been trying to send this record.
    at = receivedAt - (delay ?? 0) * 1000;
    clock = 'receive-time';
  }
  const event: AccountingEvent = { status, at, clock, nas: { address: nasAddress } };
  const ip = nasIp ?? nasIpv6;
  if (ip !== undefined) event.nas.ip = ip;
  if (nasId !== undefined) event.nas.identifier = nasId;
  if (sessionId !== undefined) event.sessionId = sessionId;
  if (multiSessionId !== undefined) event.multiSessionId = multiSessionId;
  if (userName !== undefined) event.userName = userName;
  if (framedIp !== undefined) event.framedIp = framedIp;
  if (framedIpv6Prefix !== undefined) event.framedIpv6Prefix = framedIpv6Prefix;
  if (delegatedIpv6Prefix !== undefined) event.delegatedIpv6Prefix = delegatedIpv6Prefix;
  if (sessionTime !== undefined) event.sessionTime = sessionTime;
  if (cause !== undefined) event.terminateCause = terminateCauseName(cause);
  return { kind: 'event', event };
}
