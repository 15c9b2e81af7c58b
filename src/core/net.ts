import { isIPv4, isIPv6 } from 'node:net';

/** "ADDR:PORT" as written in the config and on the command line; IPv6 as "[::1]:5353". */
export interface HostPort {
  host: string;
  port: number;
}

export const LISTEN_EXPECTED = '"ADDR:PORT", such as "127.0.0.1:8080", "0.0.0.0:8080" or "[::1]:8080"';
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/**
 * Splits "ADDR:PORT" (IPv4, bracketed IPv6, or a host name such as localhost).
 * Exported for the code that opens the socket, so it reads the value exactly as
 * it was validated.
 */
export function parseListenAddress(s: string): HostPort | { error: string } {
  let host: string;
  let portText: string;
  const v6 = /^\[([^\]]*)\]:([^:]*)$/.exec(s);
  if (v6) {
    host = v6[1]!;
    portText = v6[2]!;
    if (!isIPv6(host)) return { error: `has "${host}" in brackets, which is not an IPv6 address — expected ${LISTEN_EXPECTED}` };
  } else {
    const colon = s.lastIndexOf(':');
    if (colon < 0) return { error: `has no port — expected ${LISTEN_EXPECTED}` };
    host = s.slice(0, colon);
    portText = s.slice(colon + 1);
    if (host.includes(':')) {
      return { error: `looks like an IPv6 address without brackets — expected ${LISTEN_EXPECTED}` };
    }
    if (host === '') return { error: `has no address — expected ${LISTEN_EXPECTED}` };
    if (/^[\d.]+$/.test(host) ? !isIPv4(host) : !HOSTNAME.test(host)) {
      return { error: `has "${host}", which is not an IPv4 address or host name — expected ${LISTEN_EXPECTED}` };
    }
  }
  if (!/^\d{1,5}$/.test(portText)) return { error: `has port "${portText}", which is not a number — expected ${LISTEN_EXPECTED}` };
  const port = Number(portText);
  if (port > 65535) return { error: `has port ${port}, out of range — expected a port from 0 to 65535 (0 picks a free port)` };
  return { host, port };
}

export function formatHostPort({ host, port }: HostPort): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Port numbers tried at port 0 to find one free for both of a pair of sockets. */
export const PAIR_PORT_ATTEMPTS = 64;

/**
 * Opens two sockets on one port number (DNS: UDP and TCP). At port 0 the first picks a
 * free number and the second takes it; the number may be taken for the second protocol
 * (another socket's ephemeral port), so pick again, holding the numbers already tried
 * open until the end so that the kernel does not offer them twice. A fixed port is
 * tried once. `busy(err)`: whether the second failed because its port is in use.
 */
export async function openOnOnePort<A, B>(
  port: number,
  p: {
    first: (port: number) => Promise<A>;
    portOf: (a: A) => number;
    second: (port: number) => Promise<B>;
    closeFirst: (a: A) => Promise<void>;
    busy: (err: unknown) => boolean;
  },
): Promise<{ first: A; second: B; port: number }> {
  const tried: A[] = [];
  try {
    for (;;) {
      const a = await p.first(port);
      const bound = p.portOf(a);
      try {
        return { first: a, second: await p.second(bound), port: bound };
      } catch (err) {
        tried.push(a);
        if (port !== 0 || !p.busy(err) || tried.length >= PAIR_PORT_ATTEMPTS) throw err;
      }
    }
  } finally {
    for (const a of tried) await p.closeFirst(a);
  }
}
