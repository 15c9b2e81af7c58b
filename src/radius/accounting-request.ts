/**
 * From an authenticated Accounting-Request to the AccountingEvent attribution consumes.
 * Pure: the receive time and the NAS's address come in as arguments.
 */
import type { AccountingEvent, AcctStatus } from './accounting-event.ts';
import { AcctStatusType, Attr, getAttribute, terminateCauseName } from './wire/attributes.ts';
import type { RadiusPacket } from './wire/types.ts';

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

export function accountingEventFrom(p: RadiusPacket, nasAddress: string, receivedAt: number): AccountingRequestOutcome {
  const statusType = getAttribute(p, Attr.AcctStatusType);
  if (statusType === undefined) return { kind: 'malformed', message: 'Accounting-Request without Acct-Status-Type (RFC 2866 §5.1 requires it)' };
  const status = STATUS[statusType];
  if (status === undefined) return { kind: 'other-status', statusType };

  const eventTimestamp = getAttribute(p, Attr.EventTimestamp);
  let at: number;
  let clock: AccountingEvent['clock'];
  if (eventTimestamp !== undefined && eventTimestamp >= EARLIEST_EVENT_TIMESTAMP) {
    at = eventTimestamp * 1000;
    clock = 'event-timestamp';
  } else {
    // RFC 2866 §5.2: Acct-Delay-Time is how long the NAS has been trying to send this record.
    at = receivedAt - (getAttribute(p, Attr.AcctDelayTime) ?? 0) * 1000;
    clock = 'receive-time';
  }

  const event: AccountingEvent = { status, at, clock, nas: { address: nasAddress } };
  const nasIp = getAttribute(p, Attr.NasIpAddress) ?? getAttribute(p, Attr.NasIpv6Address);
  if (nasIp !== undefined) event.nas.ip = nasIp;
  const nasId = getAttribute(p, Attr.NasIdentifier);
  if (nasId !== undefined) event.nas.identifier = nasId;
  const set = <K extends keyof AccountingEvent>(k: K, v: AccountingEvent[K] | undefined) => {
    if (v !== undefined) event[k] = v;
  };
  set('sessionId', getAttribute(p, Attr.AcctSessionId));
  set('multiSessionId', getAttribute(p, Attr.AcctMultiSessionId));
  set('userName', getAttribute(p, Attr.UserName));
  set('framedIp', getAttribute(p, Attr.FramedIpAddress));
  set('framedIpv6Prefix', getAttribute(p, Attr.FramedIpv6Prefix));
  set('delegatedIpv6Prefix', getAttribute(p, Attr.DelegatedIpv6Prefix));
  set('sessionTime', getAttribute(p, Attr.AcctSessionTime));
  const cause = getAttribute(p, Attr.AcctTerminateCause);
  if (cause !== undefined) event.terminateCause = terminateCauseName(cause);
  return { kind: 'event', event };
}
