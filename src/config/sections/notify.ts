import { z } from 'zod';
import { adapterUrl, duration, kindOf, section, tryUrl } from '../fields.ts';

/**
 * Notices to subscribers (R1, R3, R5, R9): the SMTP relay they go through,
 * the portal link they carry, and the pacing that keeps anyone from getting
 * ten mails a day (one mail per subscriber per cool-down, every open case in
 * it).
 */

const HOST_EXPECTED = 'a host name or IP address, such as 127.0.0.1 or mail.example.net';
const PORT_EXPECTED = 'a port from 1 to 65535 (25 for a relay, 587 for submission, 465 for implicit TLS)';
const FROM_EXPECTED = 'an e-mail address, optionally with a name: "Example ISP <security@example.net>"';
const URL_EXPECTED = 'an http:// or https:// URL, such as https://portal.example.net';

function text(expected: string, why: (s: string) => string | undefined) {
  return z
    .string({ error: (iss) => (iss.input === null || iss.input === undefined ? `has no value — expected ${expected}` : `is ${kindOf(iss.input)} — expected ${expected}`) })
    .superRefine((s, ctx) => {
      const reason = why(s);
      if (reason !== undefined) ctx.addIssue({ code: 'custom', message: `${reason} — expected ${expected}`, input: s });
    });
}

const host = () => text(HOST_EXPECTED, (s) => (/^[A-Za-z0-9.:_-]+$/.test(s) ? undefined : 'is not a host name or address'));
const from = () => text(FROM_EXPECTED, (s) => (/^(?:[^<>]*<[^\s<>@]+@[^\s<>@]+>|[^\s<>@]+@[^\s<>@]+)$/.test(s.trim()) ? undefined : 'is not an e-mail address'));
const anyText = (expected: string) => text(expected, () => undefined);
const port = () =>
  z.number({ error: (iss) => (iss.input === null || iss.input === undefined ? `has no value — expected ${PORT_EXPECTED}` : `is ${kindOf(iss.input)} — expected ${PORT_EXPECTED}`) })
    .int({ error: `is not a whole number — expected ${PORT_EXPECTED}` })
    .min(1, { error: `is out of range — expected ${PORT_EXPECTED}` })
    .max(65535, { error: `is out of range — expected ${PORT_EXPECTED}` });
const flag = () => z.boolean({ error: (iss) => `is ${kindOf(iss.input)} — expected true or false` });

export const notify = section({
  /** false: cases still open and collect evidence, but no mail goes out until `sakimori cases notify`. */
  enabled: flag().prefault(true),
  smtp: section({
    host: host().prefault('127.0.0.1'),
    port: port().prefault(25),
    from: from().prefault('Sakimori <sakimori@localhost>'),
    /** Implicit TLS from the first byte (port 465); otherwise STARTTLS is used when the server offers it. */
    secure: flag().prefault(false),
    user: anyText('a user name, or "" for a relay that needs no login').prefault(''),
    passwordFile: anyText('a path to a file holding the SMTP password, or ""').prefault(''),
  }),
  /** Notices link to `{portalUrl}/n/{token}`. */
  portalUrl: adapterUrl('portal', URL_EXPECTED, (s) => {
    const u = tryUrl(s);
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) return false;
    return u.hostname === '' ? 'has no host' : undefined;
  }).prefault('http://127.0.0.1:8080'),
  organization: anyText('the ISP name subscribers know, such as "Example ISP"').prefault('Sakimori'),
  cooldown: duration().prefault('24h'),
  batchWindow: duration({ allowZero: true }).prefault('10m'),
  interval: duration().prefault('1m'),
  retryInterval: duration().prefault('1h'),
});
