import { z } from 'zod';
import { duration, kindOf, oneOf, section } from '../fields.ts';

/**
 * DNS detection (R4 R5 R6, issue 5) under `dns.detect` (the firewall) and
 * `dnstap.detect` (the collector): random-subdomain (PRSD) mitigation, amplification
 * names, infected-client evidence. Only the keys an operator tunes; the rest are the
 * defaults `npm run eval:dns` measured (src/dns/detect/options.ts).
 */
const number = (min: number, max: number, what: string, int = true) => {
  let n = z.number({ error: (iss) => `is ${kindOf(iss.input)} — expected ${what}` });
  if (int) n = n.int({ error: `is not a whole number — expected ${what}` });
  return n.min(min, { error: `is out of range — expected ${what}` }).max(max, { error: `is out of range — expected ${what}` });
};

export function detectSection(defaults: { prsd: 'on' | 'dry-run' | 'off'; amplification: 'propose' | 'apply' | 'off' }) {
  return section({
    prsd: section({
      /** on: answer the random children locally; dry-run: only report what would be blocked. */
      mode: oneOf(['on', 'dry-run', 'off'], 'PRSD mode').prefault(defaults.prsd),
      minQps: number(1, 10_000_000, 'queries per second from 1, such as 100').prefault(100),
      minFailQps: number(1, 10_000_000, 'failed answers per second from 1, such as 50').prefault(50),
      minDistinctQps: number(1, 10_000_000, 'distinct failed names per second from 1, such as 50').prefault(50),
      action: oneOf(['nxdomain', 'nodata', 'drop'], 'PRSD action').prefault('nxdomain'),
      hold: duration().prefault('5m'),
    }),
    amplification: section({
      /** propose: list for review; apply: put into the dns-abuse zone at once. */
      mode: oneOf(['propose', 'apply', 'off'], 'amplification mode').prefault(defaults.amplification),
      minQps: number(1, 10_000_000, 'large answers per second from 1, such as 20').prefault(20),
      minSources: number(2, 1_000_000, 'a number of client addresses from 2, such as 20').prefault(20),
      minBytes: number(100, 65_535, 'a response size in bytes from 100 to 65535, such as 1000').prefault(1000),
      action: oneOf(['tcp-only', 'drop', 'nxdomain'], 'amplification action').prefault('tcp-only'),
      hold: duration().prefault('1h'),
    }),
    infection: section({
      mode: oneOf(['on', 'off'], 'infection mode').prefault('on'),
      threshold: number(1, 1000, 'an evidence score from 1 to 1000, such as 8', false).prefault(8),
      window: duration().prefault('10m'),
      cooldown: duration().prefault('24h'),
    }),
    retention: duration().prefault('7d'),
    maxEventsPerSecond: number(1000, 100_000_000, 'events per second from 1000, such as 250000').prefault(250_000),
  });
}

/** The firewall's: PRSD mitigation on, amplification entries proposed, infected-client Observations on. */
export const dnsDetect = detectSection({ prsd: 'on', amplification: 'propose' });
/** The dnstap collector's: no data plane to mitigate in, so PRSD reports (dry-run). */
export const dnstapDetect = detectSection({ prsd: 'dry-run', amplification: 'propose' });

/** The section as parsed (durations in ms). */
export type DetectConfig = z.output<typeof dnsDetect>;
