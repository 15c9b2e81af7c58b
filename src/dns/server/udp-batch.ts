/**
 * Batched UDP for the DNS data plane (issue 3, performance). Node's dgram costs, per
 * packet, one recvmsg and one sendmsg syscall, a JS callback, a Buffer, an rinfo object,
 * and for a string address a dns.lookup plus a nextTick. The native addon in
 * `native/udp-batch/` reads up to `batch` datagrams with one recvmmsg into one shared
 * buffer, calls `onBatch` once, and sends the replies queued during the call with one
 * sendmmsg. When the addon is not built, the same interface runs over dgram (one
 * datagram per call), with a synchronous lookup so no dns.lookup or nextTick happens.
 *
 * A `Datagrams` view is valid only during its `onBatch` call: the next batch overwrites
 * it. Copy what must outlive the call (e.g. `peerAddress(i)` for a forwarded query).
 */
import dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6, SakimoriError } from '../../core/index.ts';

/** The datagrams of one batch. Index i runs from 0 to count - 1. */
export interface Datagrams {
  readonly count: number;
  /** Holds every datagram of the batch; datagram i is data[offset(i) .. offset(i) + length(i)). */
  readonly data: Uint8Array;
  offset(i: number): number;
  /**
   * Datagram i as a view starting at its first byte, reused for every batch (no allocation):
   * only its first length(i) bytes are the datagram; valid during this onBatch call.
   */
  view(i: number): Uint8Array;
  /** Bytes stored (at most `slot`). */
  length(i: number): number;
  /** True when the datagram was longer than `slot` and only its first `slot` bytes are here. */
  truncated(i: number): boolean;
  /** The datagram's length on the wire. */
  wireLength(i: number): number;
  peerPort(i: number): number;
  peerFamily(i: number): 4 | 6;
  /** The sender's address as text (allocates a string). */
  peerAddress(i: number): string;
  /** Queues `bytes[start, end)` to the sender of datagram i; sent when onBatch returns. */
  reply(i: number, bytes: Uint8Array, start?: number, end?: number): void;
  /** The buffer replyAt() gives offsets into. */
  readonly txData: Uint8Array;
  /**
   * Room for a `len`-byte reply to datagram i, to write in place (no buffer of its own, no
   * copy): the offset in txData, or -1 when the socket is closed. Write the bytes, then
   * call replyDone() before anything else is queued.
   */
  replyAt(i: number, len: number): number;
  replyDone(): void;
}

export interface UdpBatchStats {
  received: number;
  /** Datagrams longer than `slot`. */
  truncated: number;
  sent: number;
  /** Replies the kernel could not take at once (EAGAIN), kept and sent when writable. */
  queued: number;
  /** Replies waiting for writability now. */
  pending: number;
  /** Replies given up: waiting queue over its bound, or the socket closed with replies waiting. */
  dropped: number;
  /** Replies the kernel refused (e.g. EMSGSIZE, unreachable address family). */
  sendErrors: number;
  recvErrors: number;
  /** errno of the last send/receive error, 0 if none. */
  lastErrno: number;
  /**
   * Native, with kernel receive times (SO_TIMESTAMPNS): the read delay, one count per batch
   * read: how long its first (oldest) datagram had waited in the socket. Bin k counts delays
   * under 2^k µs (the last bin: longer); waitSum is their total in seconds.
   */
  waitBins?: number[];
  waitSum?: number;
}

export interface UdpBatchSocket {
  readonly impl: 'native' | 'dgram';
  readonly host: string;
  readonly port: number;
  /**
   * Native only: connect the socket to one peer (an upstream resolver). Only its datagrams
   * are read from then on, and sends go to it whatever address they name (the kernel keeps
   * the route rather than looking it up per datagram). False when not possible here (the
   * addon predates it): the socket stays unconnected.
   */
  connect?(host: string, port: number): boolean;
  /** Sends bytes[start, end) (default: all) outside a batch (e.g. an upstream's answer); copied, and coalesced into one sendmmsg per microtask. */
  send(bytes: Uint8Array, port: number, address: string, start?: number, end?: number): void;
  stats(): UdpBatchStats;
  ref(): void;
  unref(): void;
  close(): Promise<void>;
}

export interface UdpBatchOptions {
  /** An IPv4 or IPv6 address literal. */
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** SO_REUSEPORT: each worker thread binds its own socket to the same port and the kernel spreads the load. Native only. */
  reusePort?: boolean;
  /** Datagrams read per recvmmsg. Default 64. */
  batch?: number;
  /**
   * Native: replies queued inside onBatch go out (sendmmsg) every this many, not all at
   * the batch's end, so the first answers of a 64-datagram batch do not wait for the last
   * (block path A/B at load 11-14: p99 23-34 ms against 46-97 ms, more queries/s).
   * Default 16. send() outside a batch is still one sendmmsg per microtask.
   */
  replyGroup?: number;
  /** Native: batches read per readiness event before the event loop runs other sockets and timers. Default 8. */
  readRounds?: number;
  /** Bytes kept per datagram; longer ones are marked truncated. Default 4096. */
  slot?: number;
  /** Socket buffer sizes (SO_RCVBUF/SO_SNDBUF). Default 4 MiB each, as the data plane's dgram sockets. */
  recvBufferSize?: number;
  sendBufferSize?: number;
  /** Bound on replies kept while the socket is not writable. Default 16 MiB. */
  maxPendingBytes?: number;
  /** Native: count the read delay (UdpBatchStats.waitBins) from kernel receive times. Default off. */
  readDelay?: boolean;
  /** Tests only (native): every Nth batch of replies is treated as if sendmmsg said EAGAIN, so the wait-for-writable path runs (loopback UDP almost never pushes back). */
  injectEagainEvery?: number;
  /** 'auto' (default): the addon if built, else dgram. SAKIMORI_UDP_BATCH=dgram forces dgram. */
  impl?: 'auto' | 'native' | 'dgram';
  onBatch(d: Datagrams): void;
  log?: (level: 'info' | 'warn', msg: string) => void;
}

// ---- the addon ------------------------------------------------------------------------------

interface Addon {
  open(
    host: string,
    port: number,
    opts: Record<string, number | boolean>,
    onBatch: (count: number) => number,
  ): { handle: unknown; port: number; rx: ArrayBuffer; rxMeta: ArrayBuffer; tx: ArrayBuffer; txMeta: ArrayBuffer };
  flush(handle: unknown, count: number): number;
  /** Missing from builds before it was added (SAKIMORI_UDP_BATCH_ADDON may point at one). */
  connect?(handle: unknown, host: string, port: number): void;
  close(handle: unknown): void;
  ref(handle: unknown, on: boolean): void;
  stats(handle: unknown): UdpBatchStats;
}

/** Where the addon is: SAKIMORI_UDP_BATCH_ADDON (a packaged build elsewhere), else what `npm ci` builds. */
export const ADDON_PATH = process.env.SAKIMORI_UDP_BATCH_ADDON || fileURLToPath(new URL('../../../native/udp-batch/build/Release/udp_batch.node', import.meta.url));
let addon: Addon | undefined;
let addonError: string | undefined;
let fallbackLogged = false;

/** The addon, or why it is not there (the path, and how to build it). */
export function nativeUdpBatch(): { addon: Addon } | { error: string } {
  if (addon) return { addon };
  if (addonError === undefined) {
    if (!existsSync(ADDON_PATH)) {
      addonError = `${ADDON_PATH} not built (run: node native/udp-batch/build.js; needs a C compiler and python3)`;
    } else {
      try {
        addon = createRequire(import.meta.url)(ADDON_PATH) as Addon;
        return { addon };
      } catch (err) {
        addonError = `${ADDON_PATH} failed to load: ${(err as Error).message} (rebuild: node native/udp-batch/build.js)`;
      }
    }
  }
  return { error: addonError! };
}

/** Record layout shared with udp_batch.c: 32 bytes per datagram. */
const REC = 32;
/** peerAddress keeps the text of up to 2^this IPv4 clients. */
const ADDR_CACHE_BITS = 10;

export async function openUdpBatch(o: UdpBatchOptions): Promise<UdpBatchSocket> {
  const want = process.env.SAKIMORI_UDP_BATCH === 'dgram' ? 'dgram' : (o.impl ?? 'auto');
  if (want !== 'dgram') {
    const n = nativeUdpBatch();
    if ('addon' in n) {
      try {
        return new NativeSocket(n.addon, o);
      } catch (err) {
        throw withErrnoCode(err as Error);
      }
    }
    if (want === 'native') throw new SakimoriError('EUDPBATCH', `udp-batch: native addon requested but ${n.error}`);
    if (!fallbackLogged) {
      fallbackLogged = true;
      (o.log ?? defaultLog)('warn', `udp-batch: ${n.error}; UDP uses Node's dgram (one syscall per datagram, slower)`);
    }
  }
  return DgramSocket.open(o);
}

/**
 * The addon's socket, opened at once (no await), or undefined when the addon is not built
 * or dgram is forced (SAKIMORI_UDP_BATCH=dgram): the caller keeps its own dgram path.
 * For sockets opened where nothing may wait (the forwarder's upstream sockets).
 */
export function openNativeUdpBatch(o: UdpBatchOptions): UdpBatchSocket | undefined {
  if (process.env.SAKIMORI_UDP_BATCH === 'dgram' || o.impl === 'dgram') return undefined;
  const n = nativeUdpBatch();
  if (!('addon' in n)) return undefined;
  try {
    return new NativeSocket(n.addon, o);
  } catch (err) {
    throw withErrnoCode(err as Error);
  }
}

/** The addon throws "bind ... : <strerror>"; give callers the errno name dgram would (EADDRINUSE, ...). */
const STRERROR: Record<string, string> = { 'Address already in use': 'EADDRINUSE', 'Permission denied': 'EACCES', 'Cannot assign requested address': 'EADDRNOTAVAIL', 'Address family not supported by protocol': 'EAFNOSUPPORT' };
function withErrnoCode(err: Error): Error {
  const m = /: ([^:]+)$/.exec(err.message);
  const code = m ? STRERROR[m[1]!] : undefined;
  if (code) (err as NodeJS.ErrnoException).code = code;
  return err;
}

const defaultLog = (level: 'info' | 'warn', msg: string) => process.stderr.write(`${level}: ${msg}\n`);

/**
 * Copies src[start, end) to dst at `at`. A small part byte by byte: `subarray()` (what
 * `set()` needs for a part) allocates a view, which per datagram was a good share of the
 * hot path's garbage.
 */
export function copyRange(src: Uint8Array, start: number, end: number, dst: Uint8Array, at: number): void {
  if (start === 0 && end === src.length) dst.set(src, at);
  else if (end - start > 256) dst.set(src.subarray(start, end), at);
  else for (let i = start, d = at - start; i < end; i++) dst[i + d] = src[i]!;
}

/** Batches being handled on this thread (onBatch calls in progress: 0 or 1, the addon does not nest them). */
let scopeDepth = 0;
/** Sockets given sends during a batch of another socket, flushed when it ends. */
const sentInScope: NativeSocket[] = [];
let sentInScopeCount = 0;

function flushSentInScope(): void {
  // Each socket is listed once (flushScheduled); a flush sends nothing new into the list.
  // Counted, not emptied with length = 0, which would free the array's storage every time.
  for (let k = 0; k < sentInScopeCount; k++) sentInScope[k]!.flushSent();
  sentInScopeCount = 0;
}

class NativeSocket implements UdpBatchSocket, Datagrams {
  readonly impl = 'native' as const;
  readonly host: string;
  readonly port: number;
  count = 0;
  readonly data: Uint8Array;
  private readonly handle: unknown;
  private readonly rm8: Uint8Array;
  private readonly rm16: Uint16Array;
  private readonly rm32: Uint32Array;
  private readonly tx: Uint8Array;
  private readonly tm8: Uint8Array;
  private readonly tm16: Uint16Array;
  private readonly tm32: Uint32Array;
  private readonly slot: number;
  private readonly txSlots: number;
  private readonly replyGroup: number;
  /** Length of the reply replyAt() placed, until replyDone(). */
  private placed = 0;
  private txCount = 0;
  private txUsed = 0;
  private inBatch = false;
  private flushScheduled = false;
  private readonly addrKey = new Uint32Array(1 << ADDR_CACHE_BITS);
  private readonly addrText: (string | undefined)[] = new Array(1 << ADDR_CACHE_BITS).fill(undefined);
  private lastSendAddr: string | undefined;
  /** The txMeta words 1-6 of lastSendAddr (the port in them is overwritten per send). */
  private readonly lastSendRec = new Uint32Array(8);
  /** view(i), made on first use. */
  private readonly views: (Uint8Array | undefined)[] = [];
  private closed = false;
  private readonly onBatch: (d: Datagrams) => void;

  constructor(
    private readonly addon: Addon,
    o: UdpBatchOptions,
  ) {
    const batch = o.batch ?? 64;
    this.slot = o.slot ?? 4096;
    this.txSlots = batch * 2;
    this.replyGroup = Math.max(1, o.replyGroup ?? 16);
    this.onBatch = o.onBatch;
    const r = addon.open(
      o.host,
      o.port,
      {
        reusePort: !!o.reusePort,
        batch,
        slot: this.slot,
        txSlots: this.txSlots,
        // Room for a full batch of replies at the EDNS sizes clients ask for (<= 4096).
        txBytes: this.txSlots * 4096,
        rcvbuf: o.recvBufferSize ?? 4 << 20,
        sndbuf: o.sendBufferSize ?? 4 << 20,
        maxPendingBytes: o.maxPendingBytes ?? 16 << 20,
        injectEagainEvery: o.injectEagainEvery ?? 0,
        readRounds: o.readRounds ?? 8,
        readDelay: !!o.readDelay,
      },
      (count) => this.batch(count),
    );
    this.handle = r.handle;
    this.host = o.host;
    this.port = r.port;
    this.data = new Uint8Array(r.rx);
    this.rm8 = new Uint8Array(r.rxMeta);
    this.rm16 = new Uint16Array(r.rxMeta);
    this.rm32 = new Uint32Array(r.rxMeta);
    this.tx = new Uint8Array(r.tx);
    this.tm8 = new Uint8Array(r.txMeta);
    this.tm16 = new Uint16Array(r.txMeta);
    this.tm32 = new Uint32Array(r.txMeta);
  }

  /** Called by the addon once per recvmmsg; returns how many replies to sendmmsg. */
  private batch(count: number): number {
    this.count = count;
    this.inBatch = true;
    scopeDepth++;
    try {
      this.onBatch(this);
    } finally {
      this.inBatch = false;
      if (--scopeDepth === 0) flushSentInScope();
    }
    const n = this.txCount;
    this.txCount = 0;
    this.txUsed = 0;
    return this.closed ? 0 : n;
  }

  offset(i: number): number {
    return i * this.slot;
  }
  view(i: number): Uint8Array {
    return (this.views[i] ??= new Uint8Array(this.data.buffer, this.data.byteOffset + i * this.slot, this.slot));
  }
  length(i: number): number {
    return this.rm32[i * 8]!;
  }
  truncated(i: number): boolean {
    return this.rm8[i * REC + 7] !== 0;
  }
  wireLength(i: number): number {
    return this.rm32[i * 8 + 7]!;
  }
  peerPort(i: number): number {
    return this.rm16[i * 16 + 2]!;
  }
  peerFamily(i: number): 4 | 6 {
    return this.rm8[i * REC + 6] === 6 ? 6 : 4;
  }
  peerAddress(i: number): string {
    if (this.rm8[i * REC + 6] === 6) return formatIPv6(this.rm8, i * REC + 8);
    // IPv4 through a small direct-mapped cache: the same client's string object again (no
    // formatting, and its hash, once computed by a Map lookup downstream, is kept).
    const a = this.rm32[i * 8 + 2]!;
    const k = (Math.imul(a, 0x9e3779b1) >>> 0) >>> (32 - ADDR_CACHE_BITS);
    const hit = this.addrText[k];
    if (hit !== undefined && this.addrKey[k] === a) return hit;
    const t = formatIPv4(this.rm8, i * REC + 8);
    this.addrKey[k] = a;
    this.addrText[k] = t;
    return t;
  }

  get txData(): Uint8Array {
    return this.tx;
  }

  replyAt(i: number, len: number): number {
    const t = this.slotFor(len);
    if (t < 0) return -1;
    this.copyPeer(i, t);
    this.tm32[t * 8] = len;
    this.tm32[t * 8 + 7] = this.txUsed;
    this.placed = len;
    return this.txUsed;
  }

  replyDone(): void {
    this.txUsed += this.placed;
    this.placed = 0;
    if (++this.txCount >= this.replyGroup) this.flushNow();
  }

  reply(i: number, bytes: Uint8Array, start = 0, end = bytes.length): void {
    const t = this.slotFor(end - start);
    if (t < 0) return;
    this.copyPeer(i, t);
    this.put(t, bytes, start, end);
  }

  /** Port, family, address and scope of datagram i into tx record t: the 6 words after the length, as received. */
  private copyPeer(i: number, t: number): void {
    const s = i * 8;
    const d = t * 8;
    const m = this.rm32;
    const tm = this.tm32;
    tm[d + 1] = m[s + 1]!;
    tm[d + 2] = m[s + 2]!;
    tm[d + 3] = m[s + 3]!;
    tm[d + 4] = m[s + 4]!;
    tm[d + 5] = m[s + 5]!;
    tm[d + 6] = m[s + 6]!;
  }

  send(bytes: Uint8Array, port: number, address: string, start = 0, end = bytes.length): void {
    const t = this.slotFor(end - start);
    if (t < 0) return;
    const b = t * REC;
    const tm = this.tm32;
    const w = t * 8;
    if (address === this.lastSendAddr) {
      // The same string as the last send (an upstream's, or a client's from peerAddress's cache): its bytes again, no parsing.
      const l = this.lastSendRec;
      tm[w + 1] = l[1]!;
      tm[w + 2] = l[2]!;
      tm[w + 3] = l[3]!;
      tm[w + 4] = l[4]!;
      tm[w + 5] = l[5]!;
      tm[w + 6] = l[6]!;
    } else {
      this.tm8.fill(0, b + 4, b + 28);
      if (parseIPv4(address, this.tm8, b + 8)) this.tm8[b + 6] = 4;
      else if (parseIPv6(address, this.tm8, b + 8)) this.tm8[b + 6] = 6;
      else throw new SakimoriError('EUDPBATCH', `udp-batch send: "${address}" is not an IP address`);
      const l = this.lastSendRec;
      for (let k = 1; k < 7; k++) l[k] = tm[w + k]!;
      this.lastSendAddr = address;
    }
    this.tm16[t * 16 + 2] = port;
    this.put(t, bytes, start, end);
    if (!this.inBatch && !this.flushScheduled) {
      this.flushScheduled = true;
      // Inside another socket's batch (a relayed query, an upstream's answer): sent when
      // that batch ends. Elsewhere (a timer, TCP): in a microtask. queueMicrotask costs
      // two objects a call, ~14% of the pass-through path's allocation.
      if (scopeDepth > 0) sentInScope[sentInScopeCount++] = this;
      else queueMicrotask(this.flushLater);
    }
  }

  /** The sends queued outside this socket's own batch. */
  flushSent(): void {
    this.flushScheduled = false;
    if (!this.inBatch) this.flushNow();
  }

  /** Made once: a closure written inside send() would make V8 allocate a context on every send. */
  private readonly flushLater = (): void => this.flushSent();

  /** A tx record for `len` bytes, flushing first when the buffer is full; -1 when closed. */
  private slotFor(len: number): number {
    if (this.closed) return -1;
    if (len > this.tx.length) throw new SakimoriError('EUDPBATCH', `udp-batch: a ${len}-byte datagram exceeds the ${this.tx.length}-byte send buffer`);
    if (this.txCount === this.txSlots || this.txUsed + len > this.tx.length) this.flushNow();
    return this.txCount;
  }

  private put(t: number, bytes: Uint8Array, start: number, end: number): void {
    const len = end - start;
    copyRange(bytes, start, end, this.tx, this.txUsed);
    this.tm32[t * 8] = len;
    this.tm32[t * 8 + 7] = this.txUsed;
    this.txUsed += len;
    // Replies inside onBatch only: sends outside it (queries to an upstream, relayed answers)
    // stay one sendmmsg per microtask; groups there cost the pass-through path CPU (A/B).
    if (++this.txCount >= this.replyGroup && this.inBatch) this.flushNow();
  }

  private flushNow(): void {
    if (this.txCount && !this.closed) this.addon.flush(this.handle, this.txCount);
    this.txCount = 0;
    this.txUsed = 0;
  }

  stats(): UdpBatchStats {
    return this.addon.stats(this.handle);
  }
  connect(host: string, port: number): boolean {
    if (this.closed || this.addon.connect === undefined) return false;
    try {
      this.addon.connect(this.handle, host, port);
      return true;
    } catch (err) {
      throw withErrnoCode(err as Error);
    }
  }
  ref(): void {
    if (!this.closed) this.addon.ref(this.handle, true);
  }
  unref(): void {
    if (!this.closed) this.addon.ref(this.handle, false);
  }
  async close(): Promise<void> {
    if (this.closed) return;
    // Replies queued so far (even from inside onBatch) go out before the socket closes.
    this.flushNow();
    this.closed = true;
    this.addon.close(this.handle);
  }
}

/** The same interface over dgram: one datagram per onBatch call. */
class DgramSocket implements UdpBatchSocket, Datagrams {
  readonly impl = 'dgram' as const;
  readonly count = 1;
  data: Uint8Array = new Uint8Array(0);
  private rport = 0;
  private raddr = '';
  private rfamily: 4 | 6 = 4;
  private scratch = new Uint8Array(4096);
  private placed = 0;
  private readonly counts: UdpBatchStats = { received: 0, truncated: 0, sent: 0, queued: 0, pending: 0, dropped: 0, sendErrors: 0, recvErrors: 0, lastErrno: 0 };
  private closed = false;

  private constructor(
    private readonly sock: dgram.Socket,
    readonly host: string,
    readonly port: number,
    private readonly slot: number,
  ) {}

  static async open(o: UdpBatchOptions): Promise<DgramSocket> {
    if (o.reusePort) throw new SakimoriError('EUDPBATCH', 'udp-batch: reusePort needs the native addon (Node 20 dgram has no SO_REUSEPORT); build it with: node native/udp-batch/build.js');
    const v6 = o.host.includes(':');
    const sock = dgram.createSocket({
      type: v6 ? 'udp6' : 'udp4',
      recvBufferSize: o.recvBufferSize ?? 4 << 20,
      sendBufferSize: o.sendBufferSize ?? 4 << 20,
      ...(v6 ? { ipv6Only: true } : {}),
      // Addresses given to send() are literals: answer at once, without dns.lookup and its nextTick.
      lookup: ((address: string, _family: unknown, cb: (err: Error | null, address: string, family: number) => void) => cb(null, address, v6 ? 6 : 4)) as never,
    });
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(o.port, o.host, () => {
        sock.off('error', reject);
        resolve();
      });
    });
    const s = new DgramSocket(sock, o.host, sock.address().port, o.slot ?? 4096);
    const log = o.log ?? defaultLog;
    sock.on('message', (msg, rinfo) => {
      s.counts.received++;
      if (msg.length > s.slot) s.counts.truncated++;
      s.data = msg;
      s.rport = rinfo.port;
      s.raddr = rinfo.address;
      s.rfamily = rinfo.family === 'IPv6' ? 6 : 4;
      o.onBatch(s);
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      if (err.syscall === 'send') s.counts.sendErrors++;
      else s.counts.recvErrors++;
      s.counts.lastErrno = -(err.errno ?? 0);
      log('warn', `udp-batch ${o.host}:${s.port}: ${err.message}`);
    });
    return s;
  }

  offset(): number {
    return 0;
  }
  view(): Uint8Array {
    return this.data;
  }
  length(): number {
    return Math.min(this.data.length, this.slot);
  }
  truncated(): boolean {
    return this.data.length > this.slot;
  }
  wireLength(): number {
    return this.data.length;
  }
  peerPort(): number {
    return this.rport;
  }
  peerFamily(): 4 | 6 {
    return this.rfamily;
  }
  peerAddress(): string {
    return this.raddr;
  }
  reply(_i: number, bytes: Uint8Array, start = 0, end = bytes.length): void {
    if (this.closed) return;
    // dgram gives every datagram a fresh Buffer that nobody reuses: answering in place needs no copy.
    if (bytes.buffer === this.data.buffer) {
      this.sock.send(this.data as Buffer, bytes.byteOffset - this.data.byteOffset + start, end - start, this.rport, this.raddr);
      this.counts.sent++;
    } else this.out(bytes, start, end, this.rport, this.raddr);
  }
  get txData(): Uint8Array {
    return this.scratch;
  }
  replyAt(_i: number, len: number): number {
    if (this.closed) return -1;
    if (len > this.scratch.length) this.scratch = new Uint8Array(len);
    this.placed = len;
    return 0;
  }
  replyDone(): void {
    this.out(this.scratch, 0, this.placed, this.rport, this.raddr);
  }
  send(bytes: Uint8Array, port: number, address: string, start = 0, end = bytes.length): void {
    this.out(bytes, start, end, port, address);
  }
  private out(bytes: Uint8Array, start: number, end: number, port: number, address: string): void {
    if (this.closed) return;
    // dgram may keep the bytes until the send completes: copy, the caller may reuse its buffer
    // (the native path copies into its send buffer too). No callback: it costs a request
    // object per datagram; send errors arrive as 'error' events, counted there.
    this.sock.send(Buffer.from(bytes.subarray(start, end)), port, address);
    this.counts.sent++;
  }
  stats(): UdpBatchStats {
    return { ...this.counts };
  }
  ref(): void {
    this.sock.ref();
  }
  unref(): void {
    this.sock.unref();
  }
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise((resolve) => this.sock.close(() => resolve()));
  }
}
