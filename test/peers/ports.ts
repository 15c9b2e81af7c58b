/** Ports for the test peers: every peer listens on loopback, on a port free right now. */
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import net from 'node:net';

/**
 * The kernel's ephemeral range (net.ipv4.ip_local_port_range). A port chosen inside it can
 * be handed to any socket that binds port 0 (a client, dig, another test file) between the
 * moment it is found free and the moment the peer binds it; below it, only an explicit bind
 * takes a port.
 */
function ephemeralLow(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768;
  } catch {
    return 32768;
  }
}
const FLOOR = 10_000;
const below = ephemeralLow();

const tcpFree = (port: number, host: string) =>
  new Promise<number>((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(-1));
    s.listen(port, host, () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });

const udpFree = (port: number, host: string) =>
  new Promise<boolean>((resolve) => {
    const u = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    u.once('error', () => resolve(false));
    u.bind(port, host, () => u.close(() => resolve(true)));
  });

/** A port free for both UDP and TCP on `host` right now, below the ephemeral range when there is room. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const wanted = below - FLOOR > 1000 ? FLOOR + Math.floor(Math.random() * (below - FLOOR)) : 0;
    const port = await tcpFree(wanted, host);
    if (port > 0 && (await udpFree(port, host))) return port;
  }
  throw new Error('no free port found');
}
