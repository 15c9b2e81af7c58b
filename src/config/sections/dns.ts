import { z } from 'zod';
import { duration, kindOf, listenAddress, section } from '../fields.ts';
import { dnsDetect } from './dns-detect.ts';

/**
 * The DNS firewall (R1, R4): where it listens, the resolvers it forwards to, the policy
 * zones it enforces, and the warning page that malware-site lookups are sent to.
 */
const ADDRESSES_EXPECTED = 'a list of ADDR:PORT, such as ["127.0.0.1:5353", "[::1]:5353"]';
const ZONE_EXPECTED = 'a mapping { name: ZONE, file: PATH or primary: ADDR:PORT, kind: cc|malware-sites|dns-abuse|allow, format: rpz|list }';
const KINDS = ['cc', 'malware-sites', 'dns-abuse', 'allow'] as const;

const flag = () => z.boolean({ error: (iss) => `is ${kindOf(iss.input)} — expected true or false` });
const addresses = () => z.array(listenAddress(), { error: (iss) => `is ${kindOf(iss.input)} — expected ${ADDRESSES_EXPECTED}` });
const count = (min: number, max: number, what: string) =>
  z.number({ error: (iss) => `is ${kindOf(iss.input)} — expected ${what}` })
    .int({ error: `is not a whole number — expected ${what}` })
    .min(min, { error: `is out of range — expected ${what}` })
    .max(max, { error: `is out of range — expected ${what}` });
const text = (expected: string) => z.string({ error: (iss) => `is ${kindOf(iss.input)} — expected ${expected}` });

const zone = z
  .strictObject(
    {
      name: text('the zone name (its $ORIGIN), such as cc.rpz.example').min(1, 'is empty — expected the zone name (its $ORIGIN)'),
      file: text('a path to the zone file').min(1, 'is empty — expected a path to the zone file').optional(),
      /** Pulled from this primary by AXFR/IXFR instead of read from a file. */
      primary: listenAddress().optional(),
      /** Where this zone's primary sends NOTIFY (UDP); default dns.notifyListen. */
      notifyListen: listenAddress().optional(),
      /** TSIG key (a name under tsig.keys) for transfers from the primary and its NOTIFY. */
      key: text('the name of a key under tsig.keys').min(1, 'is empty — expected the name of a key under tsig.keys').optional(),
      kind: z.enum(KINDS, { error: () => `is not a zone kind — expected one of ${KINDS.join(', ')}` }).prefault('cc'),
      format: z.enum(['rpz', 'list'], { error: () => 'is not a zone format — expected rpz (a master file) or list (one domain a line)' }).prefault('rpz'),
    },
    { error: () => `is not a mapping — expected ${ZONE_EXPECTED}` },
  )
  .superRefine((v, ctx) => {
    if (v.file === undefined && v.primary === undefined) ctx.addIssue({ code: 'custom', message: 'has neither file nor primary — expected one of them: file: PATH (a zone file) or primary: ADDR:PORT (pulled by AXFR/IXFR)', input: v });
    if (v.file !== undefined && v.primary !== undefined) ctx.addIssue({ code: 'custom', message: 'has both file and primary — expected one of them: a zone comes from its file or from its primary, not both', path: ['primary'], input: v });
    if (v.primary !== undefined && v.format !== 'rpz') ctx.addIssue({ code: 'custom', message: 'is list, but a zone from a primary is an RPZ zone — expected format: rpz (or leave it out)', path: ['format'], input: v });
    if (v.key !== undefined && v.primary === undefined) ctx.addIssue({ code: 'custom', message: 'is set on a zone read from a file — expected key only with primary', path: ['key'], input: v });
    if (v.notifyListen !== undefined && v.primary === undefined) ctx.addIssue({ code: 'custom', message: 'is set on a zone read from a file — expected notifyListen only with primary', path: ['notifyListen'], input: v });
  })
  // The firewall's ZoneSpec: file '' for a zone from a primary.
  .transform(({ file, ...rest }) => ({ ...rest, file: file ?? '' }));

export const dns = section({
  /** false: `sakimori start` runs no DNS firewall and no warning page. */
  enabled: flag().prefault(true),
  listen: addresses().prefault(['127.0.0.1:5353']),
  /** The "use another resolver" opt-out (R1): listeners answered without any policy. */
  unfilteredListen: addresses().prefault([]),
  /** Empty: the first nameserver of /etc/resolv.conf if it is a loopback address; else the firewall is off. */
  upstreams: addresses().prefault([]),
  upstreamTimeout: duration().prefault('1500ms'),
  upstreamDownAfter: count(1, 1000, 'a whole number of timeouts in a row, such as 3').prefault(3),
  probeInterval: duration().prefault('1s'),
  tcpIdleTimeout: duration().prefault('10s'),
  /** 0: DNS is answered on the main thread. N: N worker threads, reading one shared copy of the zones the main thread loads (files and primaries). */
  threads: count(0, 64, 'a whole number of worker threads from 0 to 64').prefault(0),
  zones: z.array(zone, { error: (iss) => `is ${kindOf(iss.input)} — expected a list of ${ZONE_EXPECTED}` }).prefault([]),
  /** Where zones pulled from a primary take its NOTIFY (UDP); "": none, they refresh on the SOA timer only. */
  notifyListen: z.union([z.literal(''), listenAddress()]).prefault(''),
  /** Where copies of zones pulled from a primary are kept, one file per zone; "": no copies. */
  zoneCopyDir: text('a directory, or "" for no copies').prefault('./data/zones'),
  events: section({
    flushInterval: duration().prefault('1s'),
    maxBuffered: count(100, 10_000_000, 'a whole number of events, such as 2000').prefault(2000),
  }),
  observationInterval: duration().prefault('5m'),
  detect: dnsDetect,
  warningPage: section({
    listen: listenAddress().prefault('127.0.0.1:8081'),
    organization: text('the ISP name subscribers know').prefault('Sakimori'),
    contact: text('how subscribers reach the ISP, such as "support@example.net, 0120-000-000"').prefault('your ISP\'s support desk'),
    optOutUrl: text('where subscribers opt out of DNS protection, or ""').prefault(''),
  }),
});
