/**
 * The main thread's side of the data-plane worker threads (worker.ts): starts them (worker
 * 0 binds the listeners, the others open its descriptors), relays opt-outs and zone
 * reloads to every one, and gathers their block events and statistics.
 *
 * Each worker loads its own copy of the zones (the policy tables cannot be shared between
 * threads yet), so memory grows by one copy per thread; with threads: 0 the data plane
 * runs on the main thread with one copy.
 *
 * Shutdown: every thread holds a handle on the shared descriptors and closes it when it
 * ends, so all workers are ended together.
 */
import { Worker } from 'node:worker_threads';
import { formatPrefix, SakimoriError, type IpPrefix } from '../../core/index.ts';
import type { ZoneChange } from '../policy/index.ts';
import type { BlockEvent, ListenSpec } from './data-plane.ts';
import type { ObservedBatch } from './observed.ts';
import { mergeSnapshots, type StatsSnapshot } from './stats.ts';
import type { FromWorker, ToWorker, WorkerInit } from './worker.ts';
import type { ZoneSourceStatus } from './zones.ts';

export interface WorkerPlaneHandlers {
  events(batch: (BlockEvent & { count: number })[], notKept: number): void;
  log(level: 'info' | 'warn' | 'error', msg: string, detail?: Record<string, unknown>): void;
  reloaded(zone: string, ok: boolean): void;
  /** DNS detection events from a worker (init.detect set). */
  observed?(batch: ObservedBatch): void;
}

const TSX_API = import.meta.resolve('tsx/esm/api');
const ENTRY = new URL('./worker.ts', import.meta.url).href;
// Worker threads do not inherit the tsx loader: register it, then load the entry.
const BOOT = `import(${JSON.stringify(TSX_API)}).then((m) => { m.register(); return import(${JSON.stringify(ENTRY)}); }).catch((e) => { require('node:worker_threads').parentPort.postMessage({ type: 'fatal', message: String(e && e.stack || e) }); });`;

interface Slot {
  worker: Worker;
  snapshot: StatsSnapshot | undefined;
  alive: boolean;
}

export class WorkerPlane {
  private readonly slots: Slot[] = [];
  private specs: ListenSpec[] = [];
  private zoneStatus: ZoneSourceStatus[] = [];
  private pendingReloads = new Map<string, { left: number; ok: boolean; done: () => void }>();
  private stopping = false;
  crashed: string | undefined;

  constructor(
    private readonly threads: number,
    private readonly init: Omit<WorkerInit, 'index' | 'bind' | 'fds' | 'optOuts'>,
    private readonly on: WorkerPlaneHandlers,
  ) {}

  async start(specs: ListenSpec[], optOuts: IpPrefix[]): Promise<void> {
    const opt = optOuts.map(formatPrefix);
    const first = await this.spawn({ ...this.init, index: 0, optOuts: opt, bind: specs });
    this.specs = first.fds.map((f) => f.spec);
    this.zoneStatus = first.zones;
    for (let i = 1; i < this.threads; i++) {
      try {
        await this.spawn({ ...this.init, index: i, optOuts: opt, fds: first.fds });
      } catch (err) {
        await this.stop();
        throw err;
      }
    }
  }

  private spawn(init: WorkerInit): Promise<Extract<FromWorker, { type: 'ready' }>> {
    return new Promise((resolve, reject) => {
      const worker = new Worker(BOOT, { eval: true, workerData: init });
      const slot: Slot = { worker, snapshot: undefined, alive: true };
      let started = false;
      worker.on('message', (m: FromWorker) => {
        switch (m.type) {
          case 'ready':
            started = true;
            this.slots.push(slot);
            resolve(m);
            break;
          case 'fatal':
            if (!started) reject(new SakimoriError(m.code ?? 'DNS_WORKER', m.message, m.hint ? { hint: m.hint } : {}));
            else this.on.log('error', `DNS worker thread ${init.index}: ${m.message}`);
            void worker.terminate();
            break;
          case 'events':
            this.on.events(m.batch, m.notKept);
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
          case 'reloaded': {
            if (init.index === 0) this.zoneStatus = m.zones;
            const p = this.pendingReloads.get(m.zone);
            if (p) {
              p.ok &&= m.ok;
              if (--p.left === 0) {
                this.pendingReloads.delete(m.zone);
                this.on.reloaded(m.zone, p.ok);
                p.done();
              }
            }
            break;
          }
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
    return this.zoneStatus;
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

  /** Every thread reloads the zone; resolves when all have swapped it in or refused it. */
  reload(zone: string): Promise<void> {
    const live = this.slots.filter((s) => s.alive);
    if (live.length === 0 || this.pendingReloads.has(zone)) return Promise.resolve();
    return new Promise((done) => {
      this.pendingReloads.set(zone, { left: live.length, ok: true, done });
      for (const s of live) s.worker.postMessage({ type: 'reload', zone } satisfies ToWorker);
    });
  }

  snapshot(): StatsSnapshot {
    return mergeSnapshots(this.slots.map((s) => s.snapshot).filter((x): x is StatsSnapshot => x !== undefined));
  }

  async stop(): Promise<void> {
    this.stopping = true;
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
