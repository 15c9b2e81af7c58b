/**
 * Interop (issue 3, part B): Debian's BIND 9 (`named`), with a secondary zone whose
 * primary is `sakimori rpz serve` and that zone in `response-policy`, enforces the
 * policy, and enforces a name added with `sakimori rpz add` within seconds, by NOTIFY and
 * an incremental IXFR (checked in Sakimori's log and in named's), and a name removed the
 * same way (the suite: test/peers/rpz-interop.ts). Everything stays on loopback: named
 * forwards only, to a throwaway upstream Unbound, and its root hints name 127.0.0.1.
 *
 * `min-update-interval 0`: BIND applies a new RPZ version at most once per
 * min-update-interval (default 60 s); an ISP that wants changes within seconds sets it
 * low, as here.
 */
import { startBind9 } from './peers/bind9.ts';
import { RPZ_ZONE } from './peers/rpz-feed.ts';
import { describeRpzSecondary } from './peers/rpz-interop.ts';

const zone = RPZ_ZONE.replace(/\./g, '\\.');

describeRpzSecondary({
  who: 'BIND 9',
  start: (port, feedPort, upstreamPort) =>
    startBind9({
      port,
      options: [
        'recursion yes;',
        'allow-recursion { 127.0.0.0/8; };',
        `forwarders { 127.0.0.1 port ${upstreamPort}; };`,
        'forward only;',
        `response-policy { zone "${RPZ_ZONE}" min-update-interval 0; } qname-wait-recurse no;`,
      ],
      statements: [`zone "${RPZ_ZONE}" { type secondary; primaries { 127.0.0.1 port ${feedPort}; }; file "cc.rpz.db"; };`],
    }),
  loadedLog: (feedPort) => [new RegExp(`transfer of '${zone}/IN' from 127\\.0\\.0\\.1#${feedPort}: Transfer status: success`)],
  addedLog: [new RegExp(`zone ${zone}/IN: notify from 127\\.0\\.0\\.1#\\d+: serial 2`), /rpz QNAME NXDOMAIN rewrite new\.example/],
});
