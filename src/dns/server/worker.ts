/**
 * A data-plane worker thread (dns.threads > 0): its own event loop answering on listening
 * sockets shared by descriptor with the other workers (the kernel hands each datagram and
 * each TCP connection to one of them), its own copy of the policy zones, its own upstream
 * sockets. The policy zones are loaded once, by the main thread, and read here from
 * shared memory (RpzZone.fromShared; each new version is posted whole and swapped in). The
 * main thread keeps what may block (the store, the HTTP API) and receives block events in
 * merged batches, statistics once a second, and an acknowledgement of each zone swap.
 *
 * UDP: with the udp-batch addon built, every worker binds its own socket on the port with
 * SO_REUSEPORT (the kernel spreads clients by address hash; batched recvmmsg/sendmmsg per
 * thread, no shared-socket wakeups); worker 0 binds first (port 0 is resolved there).
 * Without the addon, Node 20's dgram has no SO_REUSEPORT, and worker threads cannot be
 * handed sockets, but a thread can open a socket on an existing descriptor (`bind({fd})`,
 * `listen({fd})`): worker 0 binds, the others open its descriptors. TCP always shares
 * worker 0's descriptor.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { isIPv6 } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { parseCidr, type HostPort, type IpPrefix } from '../../core/index.ts';
import { RpzZone, type SharedRpzZone, type ZoneChange } from '../policy/index.ts';
import { DataPlane, type BlockEvent, type BoundListener, type ListenSpec } from './data-plane.ts';
import { nativeUdpBatch } from './udp-batch.ts';
import { BlockEventBuffer, type BlockEventImage } from './event-buffer.ts';
import { ObservedBatcher, OBSERVED_FLUSH_MS, type ObservedBatch } from './observed.ts';
import { SharedZoneSource, ZoneSet, type ZoneSpec } from './zones.ts';
import type { StatsSnapshot } from './stats.ts';

export interface WorkerInit {
  index: number;
  /** The zones in order: name and kind (the main thread loads them). */
  zones: Pick<ZoneSpec, 'name' | 'kind'>[];
  /** The zones' versions in force, shared by the main thread (same order as `zones`). */
  shared: SharedRpzZone[];
  upstreams: HostPort[];
  timeoutMs: number;
  downAfter: number;
  probeIntervalMs: number;
  tcpIdleMs: number;
  optOuts: string[];
  /** Worker 0: bind these. */
  bind?: ListenSpec[];
  /** Distinct block events one thread hands over per second; the rest are counted. */
  maxEventsPerSecond: number;
  /** Other workers: open these descriptors (from worker 0); udp -1: bind an own SO_REUSEPORT socket on spec's port. */
  fds?: SharedListener[];
  /** DNS detection on: the name of the dynamic dns-abuse zone, and the triggers already in force. */
  detect?: { zone: string; active: ZoneChange };
}

export interface SharedListener {
  spec: ListenSpec;
  udp: number;
  tcp: number;
}

export type ToWorker = { type: 'optouts'; prefixes: string[] } | { type: 'zone'; index: number; zone: SharedRpzZone; seq: number } | { type: 'abuse-change'; change: ZoneChange } | { type: 'stop' };

export type FromWorker =
  | { type: 'ready'; fds: SharedListener[] }
  | { type: 'fatal'; message: string; code?: string; hint?: string }
  | { type: 'events'; image: BlockEventImage; notKept: number }
  | { type: 'observed'; batch: ObservedBatch }
  | { type: 'stats'; snapshot: StatsSnapshot }
  | { type: 'swapped'; seq: number }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; msg: string; detail?: Record<string, unknown> }
  | { type: 'stopped' };

const port = parentPort!;
const init = workerData as WorkerInit;
const post = (m: FromWorker) => port.postMessage(m);
const log = (level: 'info' | 'warn' | 'error', msg: string, detail?: Record<string, unknown>) => post({ type: 'log', level, msg, ...(detail ? { detail: { ...detail, thread: init.index } } : { detail: { thread: init.index } }) });

function prefixes(list: string[]): IpPrefix[] {
  const out: IpPrefix[] = [];
  for (const s of list) {
    const p = parseCidr(s);
    if (!('error' in p)) out.push(p);
  }
  return out;
}

/** Block events merged per (client, FQDN, list, action), posted every 100 ms. */
const batch = new BlockEventBuffer(Math.max(10, Math.ceil(init.maxEventsPerSecond / 10)));
let notKept = 0;
function blocked(e: BlockEvent): void {
  if (batch.add(e) === 'full') notKept++;
}

const sources = init.zones.map((spec, i) => new SharedZoneSource(spec.name, init.shared[i]!));
// workerData lives as long as the thread: let go of the first versions, or their shared
// buffers would outlive every reload.
init.shared.length = 0;
// DNS detection: events go to the main thread in batches; its mitigations come back as changes to this zone.
const abuse = init.detect ? new RpzZone(init.detect.zone) : undefined;
if (abuse && init.detect) abuse.apply(init.detect.active);
const observed = abuse ? new ObservedBatcher((batch, transfer) => port.postMessage({ type: 'observed', batch } satisfies FromWorker, transfer)) : undefined;
const zones = new ZoneSet(init.zones.map((spec, i) => ({ spec, source: sources[i]! })), abuse ? [{ zone: abuse, kind: 'dns-abuse' }] : []);
const plane = new DataPlane({
  ...(observed ? { observer: observed, zoneKinds: zones.zoneKinds } : {}),
  upstreams: init.upstreams,
  timeoutMs: init.timeoutMs,
  downAfter: init.downAfter,
  probeIntervalMs: init.probeIntervalMs,
  tcpIdleMs: init.tcpIdleMs,
  onBlock: blocked,
  log,
});

function fdOf(x: object): number {
  // dgram keeps its handle under a symbol; net.Server as _handle. Both expose the fd on Unix.
  const sym = Object.getOwnPropertySymbols(x).find((s) => s.description === 'state symbol');
  const handle = sym ? (x as Record<symbol, { handle?: { fd?: number } }>)[sym]?.handle : (x as { _handle?: { fd?: number } })._handle;
  const fd = handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('cannot read a socket descriptor to share with the other threads');
  return fd;
}

async function open(f: SharedListener): Promise<BoundListener> {
  let udp: BoundListener['udp'];
  if (f.udp < 0) udp = await plane.openUdp(f.spec, true);
  else {
    const d = dgram.createSocket({ type: isIPv6(f.spec.address.host) ? 'udp6' : 'udp4' });
    await new Promise<void>((resolve) => d.bind({ fd: f.udp }, () => resolve()));
    udp = d;
  }
  const tcp = net.createServer({ noDelay: true });
  await new Promise<void>((resolve) => tcp.listen({ fd: f.tcp }, () => resolve()));
  return { spec: f.spec, udp, tcp };
}

async function main(): Promise<void> {
  try {
    await zones.start();
    plane.setEngine(zones.engine);
    plane.setOptOuts(prefixes(init.optOuts));
    plane.start();
    let fds: SharedListener[];
    if (init.bind) {
      const reusePort = process.env.SAKIMORI_UDP_BATCH !== 'dgram' && 'addon' in nativeUdpBatch();
      const ls = await plane.listen(init.bind, reusePort ? 'reuseport' : 'dgram');
      fds = ls.map((l) => ({ spec: l.spec, udp: 'impl' in l.udp ? -1 : fdOf(l.udp), tcp: fdOf(l.tcp) }));
    } else {
      fds = init.fds ?? [];
      for (const f of fds) plane.serve(await open(f));
    }
    post({ type: 'ready', fds });
  } catch (err) {
    const e = err as Error & { code?: string; hint?: string };
    post({ type: 'fatal', message: e.message, ...(e.code ? { code: e.code } : {}), ...(e.hint ? { hint: e.hint } : {}) });
    return;
  }
  const tick = setInterval(() => {
    if (batch.size > 0 || notKept > 0) {
      post({ type: 'events', image: batch.takeImage(), notKept });
      notKept = 0;
    }
  }, 100);
  const stats = setInterval(() => post({ type: 'stats', snapshot: plane.snapshot() }), 500);
  const flushObserved = observed ? setInterval(() => observed.flush(), OBSERVED_FLUSH_MS) : undefined;
  port.on('message', (m: ToWorker) => {
    if (m.type === 'optouts') plane.setOptOuts(prefixes(m.prefixes));
    else if (m.type === 'zone') {
      try {
        sources[m.index]?.swap(m.zone);
      } catch (err) {
        log('error', `policy zone ${m.zone.name}: the shared version could not be read (${(err as Error).message}); the previous version stays in force in this thread`);
      }
      post({ type: 'swapped', seq: m.seq });
    } else if (m.type === 'abuse-change') {
      const r = abuse?.apply(m.change);
      if (r && !r.ok) log('error', `could not apply a DNS detection change to ${abuse!.name}: ${r.errors.join('; ')}`);
    } else if (m.type === 'stop') {
      clearInterval(tick);
      clearInterval(stats);
      // Events written since the last flush would otherwise never reach detection.
      observed?.flush();
      clearInterval(flushObserved);
      void plane
        .stop()
        .then(() => zones.stop())
        .finally(() => {
          post({ type: 'stats', snapshot: plane.snapshot() });
          post({ type: 'stopped' });
          port.close();
        });
    }
  });
}

void main();
