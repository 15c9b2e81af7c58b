import { adapterUrl, section, tryUrl } from '../fields.ts';

const EXPECTED = 'memory: (in-process; quote it in YAML: "memory:") or nats://HOST:PORT';

function checkBusUrl(s: string): string | undefined | false {
  if (s === 'memory:') return undefined;
  if (s.startsWith('nats://')) {
    const url = tryUrl(s);
    if (!url) return 'is not a valid URL';
    if (url.hostname === '') return 'has no host';
    if (url.port === '') return 'has no port';
    if (url.pathname !== '' && url.pathname !== '/') return 'has a path, which NATS does not use';
    return undefined;
  }
  return false;
}

/** How parts of Sakimori pass events: in-process by default, NATS JetStream to scale out. */
export const bus = section({
  url: adapterUrl('bus', EXPECTED, checkBusUrl).prefault('memory:'),
});
