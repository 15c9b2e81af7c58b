/**
 * Run by test/port-pick.test.ts inside a network namespace of its own (unshare -n), whose
 * ephemeral range the test has narrowed to PORTS numbers. Holds all but two of them for
 * one protocol, then starts the DNS firewall and the RPZ server at port 0: each must find
 * a number free for both UDP and TCP. Prints {"dns":PORT,"rpz":PORT}.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { systemClock } from '../../src/core/index.ts';
import { DnsFirewall, dnsMigrations } from '../../src/dns/index.ts';
import { RpzServer } from '../../src/dns/rpz-provider/index.ts';
import { AuditLog, privacyMigrations } from '../../src/privacy/index.ts';
import { openStore } from '../../src/store/index.ts';
import { silentLogger } from '../../src/telemetry/index.ts';

const [first, last] = process.argv.slice(2).map(Number) as [number, number];
// Loopback is down in a fresh namespace: listen on the wildcard address.
const HOST = '0.0.0.0';

async function holdTcp(port: number): Promise<net.Server> {
  const s = net.createServer();
  await new Promise<void>((resolve, reject) => s.once('error', reject).listen({ host: HOST, port }, () => resolve()));
  return s;
}

async function holdUdp(port: number): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(port, HOST, () => resolve());
  });
  return s;
}

const held = (last - first) - 1;

// TCP held on all but the last two numbers: UDP at port 0 mostly picks a number TCP cannot take.
const tcp = await Promise.all(Array.from({ length: held }, (_, i) => holdTcp(first + i)));
const store = await openStore('sqlite::memory:');
await store.migrate([...privacyMigrations, ...dnsMigrations]);
const audit = new AuditLog(store, { flushIntervalMs: 0 });
const fw = new DnsFirewall(
  { listen: [{ host: HOST, port: 0 }], upstreams: [{ host: '127.0.0.1', port: 9 }], zones: [], threads: 0, detect: false },
  { store, audit, logger: silentLogger, clock: systemClock },
);
await fw.start();
const dns = fw.addresses[0]!.address.port;
await fw.stop();
await audit.close();
await store.close();
for (const s of tcp) await new Promise<void>((resolve) => s.close(() => resolve()));

// UDP held likewise: the RPZ server's TCP at port 0 mostly picks a number UDP cannot take.
const udp = await Promise.all(Array.from({ length: held }, (_, i) => holdUdp(first + i)));
const rpz = new RpzServer({ listen: { host: HOST, port: 0 }, zone: () => undefined, logger: silentLogger });
await rpz.start();
const rpzPort = rpz.address.port;
await rpz.stop();
for (const s of udp) s.close();

process.stdout.write(JSON.stringify({ dns, rpz: rpzPort }) + '\n');
