/**
 * The main thread's side of the data-plane worker threads (worker.ts): starts them (worker
 * 0 binds the listeners, the others join them), relays opt-outs and zone versions to every
 * one, and gathers their block events and statistics.
 *
 * Zones are loaded once, here: each version's name tables go into SharedArrayBuffers
 * (RpzZone.toShared) that every worker reads, so N threads hold one copy of the names.
 * A reload posts the new version to every worker, each swaps it in with one assignment,
 * and the reload counts as done when all have acknowledged it. Zones from a primary are
 * pulled here too (this thread is the secondary, NOTIFY included): each AXFR, and each
 * IXFR applied here, reaches the workers the same way (zones.ts, SharedZoneTarget). This
 * thread reads the same versions in `mainZones` (its own decisions: no second load).
 *
 * Shutdown: every thread holds a handle on the shared descriptors and closes it when it
 * ends, so all workers are ended together.
 */
import { Worker } from 'node:worker_threads';
import { formatPrefix, SakimoriError, type IpPrefix } from '../../core/index.ts';
import { workerBoot } from '../../core/runtime.ts';
import { RpzZone, type SharedRpzZone, type ZoneChange } from '../policy/index.ts';
import type { ListenSpec } from './data-plane.ts';
import type { BlockEventImage } from './event-buffer.ts';
import type { ObservedBatch } from './observed.ts';
import { mergeSnapshots, type StatsSnapshot } from './stats.ts';
import type { FromWorker, ToWorker, WorkerInit } from './worker.ts';
import type { ZoneSpec } from './zones.ts';
import { FileZoneSource, SharedZoneTarget, zoneSource, ZoneSet, type ZoneKind, type ZoneSource, type ZoneSourceStatus } from './zones.ts';

export interface WorkerPlaneHandlers {
  events(image: BlockEventImage, notKept: number): void;
  log(level: 'info' | 'warn' | 'error', msg: string, detail?: Record<string, unknown>): void;
  reloaded(zone: string, ok: boolean): void;
  /** DNS detection events from a worker (init.detect set). */
  observed?(batch: ObservedBatch): void;
}

// Compiled worker.js when this process runs dist/, else worker.ts through tsx (core/runtime.ts).
const BOOT = workerBoot(new URL('./worker.ts', import.meta.url));

interface Slot {
  worker: Worker;
  snapshot: StatsSnapshot | undefined;
  alive: boolean;
}

export class WorkerPlane {
  private readonly slots: Slot[] = [];
  private readonly init: Omit<WorkerInit, 'index' | 'bind' | 'fds' | 'optOuts' | 'shared'>;
  private specs: ListenSpec[] = [];
  private readonly sources: ZoneSource[];
  /** Each zone's version in force, as the workers read it. */
  private readonly shared: SharedRpzZone[] = [];
  /** Each zone's last swap: resolves when every live worker has it in force. */
  private readonly swapped: Promise<void>[] = [];
  private readonly acks = new Map<number, { waiting: Set<Slot>; done: () => void }>();
  private seq = 0;
  private stopping = false;
  crashed: string | undefined;
  /**
   * The zones as this thread holds them: each version the workers get, read here from the
   * same shared tables (no copy), changes included as they are applied. For what this thread
   * decides itself, e.g. DNS detection's never-block check, without loading or pulling a
   * zone a second time. Its sources are the workers' (it is never started itself).
   */
  readonly mainZones: ZoneSet;

  constructor(
    private readonly threads: number,
    init: Omit<WorkerInit, 'index' | 'bind' | 'fds' | 'optOuts' | 'shared' | 'zones'> & { zones: ZoneSpec[] },
    private readonly on: WorkerPlaneHandlers,
    /** Zones from other sources (e.g. a SecondaryZone), after init.zones, as DnsFirewallOptions.sources. */
    extra: readonly { spec: { name: string; kind: ZoneKind }; source: ZoneSource }[] = [],
  ) {
    this.sources = [
      ...init.zones.map((spec, i) =>
        zoneSource(spec, {
          log: on.log,
          watch: false,
          onReload: (zone, ok) => {
            if (!ok) on.reloaded(zone, false);
            // After the microtask that shares an IXFR's changes (SharedZoneTarget) has set swapped[i].
            else queueMicrotask(() => void this.swapped[i]!.then(() => on.reloaded(zone, true)));
          },
        }),
      ),
      ...extra.map((e) => e.source),
    ];
    // The threads need each zone's name and kind only (no file, primary or TSIG secret).
    this.init = { ...init, zones: [...init.zones, ...extra.map((e) => e.spec)].map(({ name, kind }) => ({ name, kind })) };
    this.mainZones = new ZoneSet(this.init.zones.map((spec, i) => ({ spec, source: this.sources[i]! })));
  }

  async start(specs: ListenSpec[], optOuts: IpPrefix[]): Promise<void> {
    for (const [i, src] of this.sources.entries()) {
      const target = new SharedZoneTarget(src.zone, (shared) => this.publish(i, shared), (zone) => void this.mainZones.engine.replaceZone(zone));
      await src.start(target);
      if (this.stopping) return;
      // A source that started without a version (its primary down, no copy): empty until it has one, as with threads: 0.
      if (!target.current) target.replace(new RpzZone(this.init.zones[i]!.name));
    }
    const opt = optOuts.map(formatPrefix);
    let first: Extract<FromWorker, { type: 'ready' }>;
    try {
      first = await this.spawn({ ...this.init, shared: this.shared, index: 0, optOuts: opt, bind: specs });
    } catch (err) {
      // E.g. the port is taken: the sources started above (a primary's timers, its NOTIFY socket) stop too.
      await this.stop();
      throw err;
    }
    this.specs = first.fds.map((f) => f.spec);
    for (let i = 1; i < this.threads; i++) {
      try {
        await this.spawn({ ...this.init, shared: this.shared, index: i, optOuts: opt, fds: first.fds });
      } catch (err) {
        await this.stop();
        throw err;
      }
    }
  }

  /** A new version of zone i, shared once: posted to every live worker. */
  private publish(i: number, shared: SharedRpzZone): void {
    this.shared[i] = shared;
    const live = this.slots.filter((s) => s.alive);
    if (live.length === 0) {
      this.swapped[i] = Promise.resolve();
      return;
    }
    const seq = ++this.seq;
    this.swapped[i] = new Promise((done) => this.acks.set(seq, { waiting: new Set(live), done }));
    for (const s of live) s.worker.postMessage({ type: 'zone', index: i, zone: shared, seq } satisfies ToWorker);
  }

  private acked(seq: number, slot: Slot): void {
    const a = this.acks.get(seq);
    if (!a) return;
    a.waiting.delete(slot);
    if (a.waiting.size === 0) {
      this.acks.delete(seq);
      a.done();
    }
  }

  private spawn(init: WorkerInit): Promise<Extract<FromWorker, { type: 'ready' }>> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(BOOT, { eval: true, workerData: init });
      const slot: Slot = { worker, snapshot: undefined, alive: true };
      // Live from now on, not from 'ready': a zone version published while the thread starts
      // (an IXFR from a primary) waits in its port and is swapped in right after its first one.
      this.slots.push(slot);
      let started = false;
      worker.on('message', (m: FromWorker) => {
        switch (m.type) {
          case 'ready':
            started = true;
            resolve(m);
            break;
          case 'fatal':
            if (!started) reject(new SakimoriError(m.code ?? 'DNS_WORKER', m.message, m.hint ? { hint: m.hint } : {}));
            else this.on.log('error', `DNS worker thread ${init.index}: ${m.message}`);
            void worker.terminate();
            break;
          case 'events':
            this.on.events(m.image, m.notKept);
            break;
          case 'observed':
            this.on.observed?.(m.batch);
            break;
          case 'stats':
            slot.snapshot = m.snapshot;
            break;
          case 'log':
            this.on.log(m.level, m.msg, m.detail);
            break;
          case 'swapped':
            this.acked(m.seq, slot);
            break;
          case 'stopped':
            break;
        }
      });
      worker.on('error', (err) => {
        if (!started) reject(err);
        else this.on.log('error', `DNS worker thread ${init.index} failed: ${err.message}`);
      });
      worker.on('exit', (code) => {
        slot.alive = false;
        for (const seq of [...this.acks.keys()]) this.acked(seq, slot);
        if (!started) reject(new Error(`DNS worker thread ${init.index} exited with ${code} before it was ready`));
        else if (!this.stopping) {
          this.crashed = `worker thread ${init.index} exited with ${code}`;
          this.on.log('error', `DNS ${this.crashed}; the other threads go on answering`);
        }
      });
    });
  }

  get addresses(): ListenSpec[] {
    return this.specs;
  }

  zones(): ZoneSourceStatus[] {
    return this.sources.map((s) => s.status());
  }

  setOptOuts(prefixes: IpPrefix[]): void {
    const m: ToWorker = { type: 'optouts', prefixes: prefixes.map(formatPrefix) };
    for (const s of this.slots) if (s.alive) s.worker.postMessage(m);
  }

  /** A DNS detection change to the dynamic dns-abuse zone, for every thread. */
  applyAbuse(change: ZoneChange): void {
    const m: ToWorker = { type: 'abuse-change', change };
    for (const s of this.slots) if (s.alive) s.worker.postMessage(m);
  }

  /** Reloads the zone's file here (once) and swaps the new version into every thread; resolves when all have it in force, or it was refused. */
  async reload(zone: string): Promise<void> {
    const i = this.sources.findIndex((s) => s.zone === zone);
    const src = this.sources[i];
    if (!(src instanceof FileZoneSource)) return;
    await src.reload();
    await this.swapped[i];
  }

  snapshot(): StatsSnapshot {
    return mergeSnapshots(this.slots.map((s) => s.snapshot).filter((x): x is StatsSnapshot => x !== undefined));
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const s of this.sources) await s.stop();
    // All together: each thread's exit closes its handle on the shared descriptors.
    await Promise.all(
      this.slots.map(
        (s) =>
          new Promise<void>((resolve) => {
            if (!s.alive) return resolve();
            s.worker.once('exit', () => resolve());
            s.worker.postMessage({ type: 'stop' } satisfies ToWorker);
            setTimeout(() => void s.worker.terminate(), 5000).unref();
          }),
      ),
    );
    this.slots.length = 0;
  }
}
