import { test } from 'node:test';
import assert from 'node:assert/strict';
import { accountingEventFrom } from './accounting-request.ts';
import fc from 'fast-check';
import { AcctStatusType, Attr, getAttribute, makeAttribute } from './wire/attributes.ts';
import { attributesArb } from './wire/arbitraries.ts';
import type { RadiusAttribute } from './wire/types.ts';

const packet = (attributes: RadiusAttribute[]) => ({ code: 4, identifier: 1, authenticator: new Uint8Array(16), attributes });
const RECEIVED = Date.UTC(2026, 10, 22, 12, 0, 0);

test('a Stop with every attribute attribution uses, timed by Event-Timestamp', () => {
  const o = accountingEventFrom(
    packet([
      makeAttribute(Attr.AcctStatusType, AcctStatusType.Stop),
      makeAttribute(Attr.AcctSessionId, 'S-1'),
      makeAttribute(Attr.AcctMultiSessionId, 'M-1'),
      makeAttribute(Attr.UserName, 'alice@isp.example'),
      makeAttribute(Attr.NasIpAddress, '192.0.2.1'),
      makeAttribute(Attr.NasIdentifier, 'bras-01'),
      makeAttribute(Attr.FramedIpAddress, '198.51.100.7'),
      makeAttribute(Attr.FramedIpv6Prefix, '2001:db8:0:1::/64'),
      makeAttribute(Attr.DelegatedIpv6Prefix, '2001:db8:ab00::/56'),
      makeAttribute(Attr.AcctSessionTime, 3600),
      makeAttribute(Attr.AcctTerminateCause, 2),
      makeAttribute(Attr.EventTimestamp, 1_795_000_000),
      makeAttribute(Attr.AcctDelayTime, 30),
      makeAttribute(Attr.AcctInputOctets, 12345),
    ]),
    '192.0.2.1',
    RECEIVED,
  );
  assert.deepEqual(o, {
    kind: 'event',
    event: {
      status: 'stop',
      at: 1_795_000_000_000,
      clock: 'event-timestamp',
      nas: { address: '192.0.2.1', ip: '192.0.2.1', identifier: 'bras-01' },
      sessionId: 'S-1',
      multiSessionId: 'M-1',
      userName: 'alice@isp.example',
      framedIp: '198.51.100.7',
      framedIpv6Prefix: '2001:db8:0:1::/64',
      delegatedIpv6Prefix: '2001:db8:ab00::/56',
      sessionTime: 3600,
      terminateCause: 'Lost-Carrier',
    },
  });
});

test('without Event-Timestamp: receive time minus Acct-Delay-Time', () => {
  const o = accountingEventFrom(packet([makeAttribute(Attr.AcctStatusType, 1), makeAttribute(Attr.AcctDelayTime, 7)]), '2001:db8::1', RECEIVED);
  assert.equal(o.kind, 'event');
  if (o.kind !== 'event') return;
  assert.equal(o.event.at, RECEIVED - 7000);
  assert.equal(o.event.clock, 'receive-time');
  assert.equal(o.event.status, 'start');
  assert.deepEqual(o.event.nas, { address: '2001:db8::1' });
});

test('an Event-Timestamp from a NAS whose clock was never set is not trusted', () => {
  const o = accountingEventFrom(packet([makeAttribute(Attr.AcctStatusType, 3), makeAttribute(Attr.EventTimestamp, 86_400)]), '192.0.2.1', RECEIVED);
  assert.equal(o.kind === 'event' && o.event.clock, 'receive-time');
  assert.equal(o.kind === 'event' && o.event.at, RECEIVED);
});

test('status types: the five attribution uses, others answered but not delivered, none is malformed', () => {
  const status = (n: number) => {
    const o = accountingEventFrom(packet([makeAttribute(Attr.AcctStatusType, n)]), 'x', 0);
    return o.kind === 'event' ? o.event.status : o.kind;
  };
  assert.deepEqual([1, 2, 3, 7, 8].map(status), ['start', 'stop', 'interim-update', 'accounting-on', 'accounting-off']);
  assert.equal(status(9), 'other-status');
  assert.equal(status(15), 'other-status');
  const o = accountingEventFrom(packet([makeAttribute(Attr.AcctSessionId, 'x')]), 'x', 0);
  assert.equal(o.kind, 'malformed');
  assert.match(o.kind === 'malformed' ? o.message : '', /without Acct-Status-Type/);
});

test('NAS-IPv6-Address when there is no NAS-IP-Address; unknown terminate causes keep their number', () => {
  const o = accountingEventFrom(
    packet([makeAttribute(Attr.AcctStatusType, 2), makeAttribute(Attr.NasIpv6Address, '2001:db8::10'), makeAttribute(Attr.AcctTerminateCause, 99)]),
    '2001:db8::10',
    0,
  );
  assert.equal(o.kind === 'event' && o.event.nas.ip, '2001:db8::10');
  assert.equal(o.kind === 'event' && o.event.terminateCause, 'Unknown-99');
});

test('the one-pass reader agrees with getAttribute on any packet (first attribute of a type wins)', () => {
  fc.assert(
    fc.property(attributesArb, fc.constantFrom(1, 2, 3, 7, 8), (attrs, status) => {
      const p = packet([makeAttribute(Attr.AcctStatusType, status), ...attrs]);
      const o = accountingEventFrom(p, 'nas', RECEIVED);
      assert.equal(o.kind, 'event');
      if (o.kind !== 'event') return;
      const e = o.event;
      assert.equal(e.sessionId, getAttribute(p, Attr.AcctSessionId));
      assert.equal(e.multiSessionId, getAttribute(p, Attr.AcctMultiSessionId));
      assert.equal(e.userName, getAttribute(p, Attr.UserName));
      assert.equal(e.framedIp, getAttribute(p, Attr.FramedIpAddress));
      assert.equal(e.framedIpv6Prefix, getAttribute(p, Attr.FramedIpv6Prefix));
      assert.equal(e.delegatedIpv6Prefix, getAttribute(p, Attr.DelegatedIpv6Prefix));
      assert.equal(e.sessionTime, getAttribute(p, Attr.AcctSessionTime));
      assert.equal(e.nas.identifier, getAttribute(p, Attr.NasIdentifier));
      assert.equal(e.nas.ip, getAttribute(p, Attr.NasIpAddress) ?? getAttribute(p, Attr.NasIpv6Address));
      const ts = getAttribute(p, Attr.EventTimestamp);
      if (ts !== undefined && ts >= 946_684_800) assert.equal(e.at, ts * 1000);
      else assert.equal(e.at, RECEIVED - (getAttribute(p, Attr.AcctDelayTime) ?? 0) * 1000);
    }),
    { numRuns: 500 },
  );
});
