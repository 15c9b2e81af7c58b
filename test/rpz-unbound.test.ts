/**
 * Interop (issue 3, part B): Debian's Unbound, configured with an RPZ zone whose primary
 * is `sakimori rpz serve`, enforces the policy, and enforces a name added with
 * `sakimori rpz add` within seconds, by NOTIFY and an incremental IXFR (checked in
 * Sakimori's log), and a name removed the same way (the suite: test/peers/rpz-interop.ts).
 * Everything stays on loopback: the resolver forwards "." to a throwaway upstream
 * Unbound, its root hints name 127.0.0.1.
 */
import { startUnbound } from './peers/unbound.ts';
import { RPZ_ZONE } from './peers/rpz-feed.ts';
import { describeRpzSecondary } from './peers/rpz-interop.ts';

describeRpzSecondary({
  who: 'Unbound',
  start: (port, feedPort, upstreamPort) =>
    startUnbound({
      port,
      verbosity: 1,
      moduleConfig: 'respip iterator',
      extra: ['root-hints: "root.hints"', 'do-not-query-localhost: no', 'qname-minimisation: no'],
      files: { 'root.hints': '.\t3600000\tNS\ta.root.invalid.\na.root.invalid.\t3600000\tA\t127.0.0.1\n' },
      clauses: [
        'rpz:',
        `  name: "${RPZ_ZONE}."`,
        `  primary: 127.0.0.1@${feedPort}`,
        '  rpz-log: yes',
        '  rpz-log-name: "sakimori-cc"',
        'forward-zone:',
        '  name: "."',
        `  forward-addr: 127.0.0.1@${upstreamPort}`,
      ],
    }),
  addedLog: [/rpz: applied .*new\.example/],
});
