import { z } from 'zod';
import { parseCidr } from '../../core/ip.ts';
import { duration, kindOf, parseListenAddress, section } from '../fields.ts';
import { dnstapDetect } from './dns-detect.ts';

/**
 * The dnstap collector (R4 R5 R6, issue 5 item 4): for ISPs that keep BIND or Unbound as
 * their resolvers, Frame Streams from them feed the same detectors as Sakimori's own
 * firewall. Off until `listen` names at least one socket.
 */
const LISTEN_EXPECTED = '"unix:PATH" for a Unix socket (e.g. "unix:/run/sakimori/dnstap.sock") or "ADDR:PORT" for TCP (e.g. "127.0.0.1:6000")';
const PREFIX_EXPECTED = 'an IP address or prefix, such as 192.0.2.53, 192.0.2.0/24 or ::1/128';

const listenEntry = () =>
  z.string({ error: (iss) => `is ${kindOf(iss.input)} — expected ${LISTEN_EXPECTED}` }).superRefine((s, ctx) => {
    let why: string | undefined;
    if (s.startsWith('unix:')) why = s.length === 5 ? 'has no path after "unix:"' : s.includes('\0') ? 'has a NUL byte in the path' : undefined;
    else {
      const r = parseListenAddress(s);
      if ('error' in r) why = r.error.replace(/ — expected .*$/, '');
    }
    if (why) ctx.addIssue({ code: 'custom', message: `${why} — expected ${LISTEN_EXPECTED}`, input: s });
  });

const prefix = () =>
  z.string({ error: (iss) => `is ${kindOf(iss.input)} — expected ${PREFIX_EXPECTED}` }).superRefine((s, ctx) => {
    const r = parseCidr(s.trim());
    if ('error' in r) ctx.addIssue({ code: 'custom', message: `is not ${PREFIX_EXPECTED}`, input: s });
  });

const count = (min: number, max: number, what: string) =>
  z.number({ error: (iss) => `is ${kindOf(iss.input)} — expected ${what}` })
    .int({ error: `is not a whole number — expected ${what}` })
    .min(min, { error: `is out of range — expected ${what}` })
    .max(max, { error: `is out of range — expected ${what}` });

export const dnstap = section({
  listen: z.array(listenEntry(), { error: (iss) => `is ${kindOf(iss.input)} — expected a list of ${LISTEN_EXPECTED}` }).prefault([]),
  allowFrom: z.array(prefix(), { error: (iss) => `is ${kindOf(iss.input)} — expected a list of ${PREFIX_EXPECTED}` }).prefault(['127.0.0.0/8', '::1/128']),
  socketMode: z
    .string({ error: (iss) => `is ${kindOf(iss.input)} — expected an octal file mode in quotes, such as "0660"` })
    .regex(/^0?[0-7]{3}$/, { error: 'is not an octal file mode — expected e.g. "0660" or "0666"' })
    .prefault('0660'),
  maxConnections: count(1, 10_000, 'a whole number of connections from 1 to 10000').prefault(64),
  maxFrameSize: count(1024, 16_777_216, 'a number of bytes from 1024 to 16777216').prefault(262_144),
  queue: count(16, 16_777_216, 'a whole number of events from 16 to 16777216').prefault(65_536),
  summaryInterval: duration().prefault('1m'),
  /** The detectors the events feed (no data plane to mitigate in: PRSD reports, amplification proposes). */
  detect: dnstapDetect,
});
