/**
 * A writer thread: a worker with its own connection to the store that writes the jobs
 * (batches) the owning thread posts, one at a time in arrival order, each answered only
 * after it is committed. So a COMMIT, and the WAL checkpoint a commit may trigger, never
 * run on the thread that answers look-ups or DNS queries. Used by the audit log
 * (privacy/audit-writer.ts) and the DNS block events (dns/server/events-writer.ts).
 *
 * Two halves: `serveWriterThread()` inside the worker module, `WriterThread` on the owning
 * thread. The handle is ref'd only while a job is out, so it keeps a process alive exactly
 * as long as a pending write would; until the thread is ready (and after it stopped)
 * `write()` says undefined and the caller writes on its own thread.
 */
import { parentPort, Worker } from 'node:worker_threads';
import { errorMessage, SakimoriError } from '../core/index.ts';

type ToThread<J> = { type: 'job'; id: number; job: J } | { type: 'close' };
type FromThread = { type: 'ready' } | { type: 'done'; id: number } | { type: 'failed'; id: number; message: string; code?: string } | { type: 'fatal'; message: string };

/** What the worker module opens: how it writes a job, and how it closes. */
export interface JobWriter<J> {
  write(job: J): Promise<unknown>;
  /** After each job's answer has gone (work nobody should wait for, e.g. a checkpoint). */
  afterEach?(): Promise<void>;
  close(): Promise<void>;
}

/** Inside the worker: opens its writer, says ready (or fatal), then writes each job in arrival order. */
export async function serveWriterThread<J>(open: () => Promise<JobWriter<J>>): Promise<void> {
  const port = parentPort!;
  try {
    const writer = await open();
    let chain = Promise.resolve();
    port.on('message', (msg: ToThread<J>) => {
      chain = chain.then(async () => {
        if (msg.type === 'close') {
          await writer.close();
          port.close();
          return;
        }
        try {
          await writer.write(msg.job);
          port.postMessage({ type: 'done', id: msg.id } satisfies FromThread);
        } catch (err) {
          const code = (err as { code?: unknown } | null)?.code;
          port.postMessage({ type: 'failed', id: msg.id, message: errorMessage(err), ...(typeof code === 'string' ? { code } : {}) } satisfies FromThread);
        }
        await writer.afterEach?.();
      });
    });
    port.postMessage({ type: 'ready' } satisfies FromThread);
  } catch (err) {
    port.postMessage({ type: 'fatal', message: errorMessage(err) } satisfies FromThread);
  }
}

export interface WriterThreadOptions {
  /** How errors name it: "the audit writer thread". */
  name: string;
  /** Error codes: the thread could not start; it exited. */
  codes: { start: string; exit: string };
  /** The error a job's promise rejects with when the thread could not write it. */
  jobError(message: string, code: string | undefined): Error;
  /** The thread could not start or stopped: called once, never after close(). */
  onFail?(err: Error): void;
  onReady?(): void;
  /** After close() saw the thread exit. */
  onClosed?(): Promise<void>;
}

/** The owning thread's handle on a worker module that calls serveWriterThread(). */
export class WriterThread<J> {
  readonly ready: Promise<boolean>;
  /** Jobs the thread committed. */
  batches = 0;
  private readonly worker: Worker;
  private readonly exited: Promise<void>;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  private nextId = 1;
  private running = false;
  private dead = false;
  private closing = false;

  constructor(boot: string, workerData: unknown, private readonly o: WriterThreadOptions) {
    this.worker = new Worker(boot, { eval: true, workerData });
    this.worker.unref();
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()));
    this.ready = new Promise<boolean>((resolve) => {
      this.worker.on('message', (msg: FromThread) => {
        if (msg.type === 'ready') {
          o.onReady?.();
          this.running = true;
          resolve(true);
        } else if (msg.type === 'fatal') {
          this.fail(new SakimoriError(o.codes.start, `${o.name} could not start: ${msg.message}`));
          resolve(false);
        } else {
          const w = this.waiting.get(msg.id);
          if (!w) return;
          this.waiting.delete(msg.id);
          if (this.waiting.size === 0) this.worker.unref();
          if (msg.type === 'done') {
            this.batches += 1;
            w.resolve();
          } else w.reject(o.jobError(msg.message, msg.code));
        }
      });
      this.worker.on('error', (err) => {
        this.fail(err);
        resolve(false);
      });
      this.worker.on('exit', () => {
        this.fail(new SakimoriError(o.codes.exit, `${o.name} exited`));
        resolve(false);
      });
    });
  }

  /** Undefined while the thread is not running (the caller writes the job itself); else resolves once committed. */
  write(job: J): Promise<void> | undefined {
    if (!this.running) return undefined;
    const id = this.nextId++;
    return new Promise<void>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage({ type: 'job', id, job } satisfies ToThread<J>);
    });
  }

  /** Lets the thread write every job posted so far, then waits for it to exit. */
  async close(): Promise<void> {
    this.worker.ref();
    if (!(await this.ready) || this.dead) return;
    this.closing = true;
    this.running = false;
    this.worker.postMessage({ type: 'close' } satisfies ToThread<J>);
    await this.exited;
    await this.o.onClosed?.();
  }

  private fail(err: Error): void {
    // Jobs go back to the caller's thread; the first failure is reported once.
    if (!this.dead && !this.closing) this.o.onFail?.(err);
    this.running = false;
    this.dead = true;
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
  }
}
