/**
 * Frame Streams (fstrm, the transport of dnstap; libfstrm's control.c and rdwr.c are the
 * reference). A data frame is a 32-bit big-endian length and that many bytes; a length of
 * 0 escapes a control frame: a 32-bit length (at most 512), a 32-bit control type, then
 * fields (32-bit field type, 32-bit length, bytes; type 1 is a content type, at most 256
 * bytes). A writer opens a socket with READY (its content types), the reader answers
 * ACCEPT (the one it takes), the writer sends START, data frames, STOP, and the reader
 * answers FINISH. A file, or a socket in unidirectional mode, is START, data, STOP.
 *
 * Pure: no I/O, never throws. FrameStreamReader is the reader's side of one connection
 * as a state machine over bytes; the socket adapter only moves bytes in and out.
 */

export const ControlType = { ACCEPT: 1, START: 2, STOP: 3, READY: 4, FINISH: 5 } as const;
const CONTROL_NAMES = ['', 'ACCEPT', 'START', 'STOP', 'READY', 'FINISH'];

export const CONTENT_TYPE_FIELD = 1;
export const DNSTAP_CONTENT_TYPE = 'protobuf:dnstap.Dnstap';
/** libfstrm's FSTRM_CONTROL_FRAME_LENGTH_MAX: the control frame after escape and length. */
export const MAX_CONTROL_LENGTH = 512;
/** libfstrm's FSTRM_CONTROL_FIELD_CONTENT_TYPE_LENGTH_MAX. */
export const MAX_CONTENT_TYPE_LENGTH = 256;

export function controlTypeName(t: number): string {
  return CONTROL_NAMES[t] || `control type ${t}`;
}

export interface ControlFrame {
  type: number;
  /** Content types as sent (bytes read as latin1, so any byte survives). */
  contentTypes: string[];
}

export type FstrmErrorCode =
  | 'TRUNCATED'
  | 'FRAME_TOO_LARGE'
  | 'BAD_CONTROL'
  | 'UNEXPECTED_CONTROL'
  | 'CONTENT_TYPE_MISMATCH'
  | 'DATA_BEFORE_START'
  | 'TRAILING_DATA'
  | 'BAD_PAYLOAD';

/** What is wrong with a stream, and where (`offset`: bytes from the start of the stream). */
export interface FstrmError {
  code: FstrmErrorCode;
  offset: number;
  message: string;
}

export type FstrmResult<T> = { ok: true; value: T } | { ok: false; error: FstrmError };

function u32(b: Uint8Array, o: number): number {
  return b[o]! * 0x1000000 + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);
}

function put32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = (v >>> 16) & 0xff;
  b[o + 2] = (v >>> 8) & 0xff;
  b[o + 3] = v & 0xff;
}

/** Shows a content type in a log line: quoted, control bytes escaped, cut at 64 characters. */
export function showContentType(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}...` : s);
}

/**
 * Decodes a control frame's body: the bytes after the escape and the control length.
 * Errors as libfstrm's fstrm_control_decode, except that unknown field types are skipped
 * (a later revision may add fields; libfstrm refuses them).
 */
export function decodeControl(body: Uint8Array, offset = 0): FstrmResult<ControlFrame> {
  const bad = (at: number, message: string): FstrmResult<ControlFrame> => ({ ok: false, error: { code: 'BAD_CONTROL', offset: offset + at, message } });
  if (body.length > MAX_CONTROL_LENGTH) return bad(0, `control frame of ${body.length} bytes, more than ${MAX_CONTROL_LENGTH}`);
  if (body.length < 4) return bad(0, `control frame of ${body.length} bytes has no control type`);
  const type = u32(body, 0);
  if (type < ControlType.ACCEPT || type > ControlType.FINISH) return bad(0, `unknown control type ${type}`);
  const contentTypes: string[] = [];
  let p = 4;
  while (p < body.length) {
    if (p + 8 > body.length) return bad(p, `control field header at offset ${p} is cut off (${body.length - p} of 8 bytes)`);
    const field = u32(body, p);
    const len = u32(body, p + 4);
    if (len > body.length - p - 8) return bad(p + 4, `control field at offset ${p} says ${len} bytes, only ${body.length - p - 8} left`);
    if (field === CONTENT_TYPE_FIELD) {
      if (len > MAX_CONTENT_TYPE_LENGTH) return bad(p + 4, `content type of ${len} bytes, more than ${MAX_CONTENT_TYPE_LENGTH}`);
      contentTypes.push(Buffer.from(body.buffer, body.byteOffset + p + 8, len).toString('latin1'));
    }
    p += 8 + len;
  }
  if (type === ControlType.START && contentTypes.length > 1) return bad(4, `START carries ${contentTypes.length} content types, at most 1 allowed`);
  if ((type === ControlType.STOP || type === ControlType.FINISH) && contentTypes.length > 0) return bad(4, `${controlTypeName(type)} may not carry a content type`);
  return { ok: true, value: { type, contentTypes } };
}

/** A control frame with its escape and length, ready to send. */
export function encodeControl(type: number, contentTypes: readonly string[] = []): Uint8Array {
  const cts = contentTypes.map((c) => Buffer.from(c, 'latin1'));
  const bodyLen = 4 + cts.reduce((n, c) => n + 8 + c.length, 0);
  const out = new Uint8Array(8 + bodyLen);
  put32(out, 0, 0);
  put32(out, 4, bodyLen);
  put32(out, 8, type);
  let p = 12;
  for (const c of cts) {
    put32(out, p, CONTENT_TYPE_FIELD);
    put32(out, p + 4, c.length);
    out.set(c, p + 8);
    p += 8 + c.length;
  }
  return out;
}

/** A data frame: the length, then the payload (which must not be empty: 0 is the escape). */
export function encodeDataFrame(payload: Uint8Array): Uint8Array {
  if (payload.length === 0 || payload.length > 0xffffffff) throw new RangeError(`a Frame Streams data frame holds 1 to 2^32-1 bytes, not ${payload.length}`);
  const out = new Uint8Array(4 + payload.length);
  put32(out, 0, payload.length);
  out.set(payload, 4);
  return out;
}

/** The unidirectional form (a file): START with the content type, the frames, STOP. */
export function encodeFrameStream(contentType: string, payloads: Iterable<Uint8Array>): Uint8Array {
  const parts: Uint8Array[] = [encodeControl(ControlType.START, [contentType])];
  for (const p of payloads) parts.push(encodeDataFrame(p));
  parts.push(encodeControl(ControlType.STOP));
  return Buffer.concat(parts);
}

export interface ReaderOptions {
  /** The content type this reader takes. Default "protobuf:dnstap.Dnstap". */
  contentType?: string;
  /** Largest data frame accepted, in bytes; a larger one is an error. Default 262144. */
  maxFrameSize?: number;
  /** Only the unidirectional form (a file): READY is an error. Default false. */
  unidirectional?: boolean;
}

export type ReaderState = 'opening' | 'accepted' | 'started' | 'stopped' | 'failed';

export interface PushResult {
  /** Control frames to send back to the writer, in order (ACCEPT, FINISH). Usually empty. */
  replies: Uint8Array[];
  /** The stream ended properly (STOP read; FINISH, if bidirectional, is in `replies`). */
  done: boolean;
  /** The stream is broken: close the connection. Set once; later pushes return it again. */
  error: FstrmError | undefined;
}

/**
 * Called with each data frame's payload, a view valid only during the call. Returns
 * undefined to go on, or a reason to stop reading this stream (becomes a BAD_PAYLOAD error).
 */
export type FrameHandler = (payload: Uint8Array) => string | undefined;

const NO_REPLIES: Uint8Array[] = [];

/**
 * The reading side of one Frame Streams connection or file. Feed it bytes as they come
 * (any split); complete frames in a chunk are handed over as views, without copying; only
 * a frame cut by a chunk boundary is copied into a buffer of at most maxFrameSize + 8
 * bytes, allocated at that size the first time one is needed.
 */
export class FrameStreamReader {
  readonly contentType: string;
  readonly maxFrameSize: number;
  private readonly unidirectional: boolean;
  private st: ReaderState = 'opening';
  private bidi = false;
  private pending: Uint8Array | null = null;
  private pendingLen = 0;
  /** Bytes of the stream consumed before the current chunk, for error offsets. */
  private consumed = 0;
  private err: FstrmError | undefined;
  private replies: Uint8Array[] = NO_REPLIES;
  private finished = false;
  /** Data frames passed on. */
  frames = 0;
  /** Stream offset just past STOP, once read (what follows is not read). */
  stopEnd = -1;

  constructor(opts: ReaderOptions = {}) {
    this.contentType = opts.contentType ?? DNSTAP_CONTENT_TYPE;
    this.maxFrameSize = opts.maxFrameSize ?? 262_144;
    this.unidirectional = opts.unidirectional ?? false;
  }

  get state(): ReaderState {
    return this.st;
  }

  /** Whether the writer opened with READY (and so expects ACCEPT and FINISH). */
  get bidirectional(): boolean {
    return this.bidi;
  }

  /** Bytes held for a frame cut by a chunk boundary. */
  get buffered(): number {
    return this.pendingLen;
  }

  push(chunk: Uint8Array, onFrame: FrameHandler): PushResult {
    this.replies = NO_REPLIES;
    if (this.err === undefined && !this.finished) this.consume(chunk, onFrame);
    return { replies: this.replies, done: this.finished, error: this.err };
  }

  /**
   * The writer closed its end. A stream cut inside a frame, or (in a file) before STOP,
   * is TRUNCATED; a socket closed between frames without STOP is not an error here
   * (writers do that when they restart) and returns undefined.
   */
  end(): FstrmError | undefined {
    if (this.err !== undefined || this.finished) return this.err;
    if (this.pendingLen > 0) return this.fail('TRUNCATED', this.consumed, `stream ends inside a frame (${this.pendingLen} bytes of it read)`);
    if (this.unidirectional) return this.fail('TRUNCATED', this.consumed, this.st === 'opening' ? 'stream ends before START' : 'stream ends without STOP');
    return undefined;
  }

  private fail(code: FstrmErrorCode, offset: number, message: string): FstrmError {
    this.err = { code, offset, message };
    this.st = 'failed';
    this.pending = null;
    this.pendingLen = 0;
    return this.err;
  }

  /** Size of the frame whose first `avail` bytes are at buf[off], or -1 if its header is not all there; -2 after fail(). */
  private frameSize(buf: Uint8Array, off: number, avail: number, at: number): number {
    if (avail < 4) return -1;
    const len = u32(buf, off);
    if (len !== 0) {
      if (len > this.maxFrameSize) {
        this.fail('FRAME_TOO_LARGE', at, `data frame of ${len} bytes at stream offset ${at}, more than the ${this.maxFrameSize} allowed`);
        return -2;
      }
      return 4 + len;
    }
    if (avail < 8) return -1;
    const clen = u32(buf, off + 4);
    if (clen > MAX_CONTROL_LENGTH) {
      this.fail('BAD_CONTROL', at, `control frame of ${clen} bytes at stream offset ${at}, more than ${MAX_CONTROL_LENGTH}`);
      return -2;
    }
    return 8 + clen;
  }

  private consume(chunk: Uint8Array, onFrame: FrameHandler): void {
    let p = 0;
    const n = chunk.length;
    if (this.pendingLen > 0) {
      // Finish the frame cut by the last chunk, growing the copy only as far as needed.
      for (;;) {
        const size = this.frameSize(this.pending!, 0, this.pendingLen, this.consumed - this.pendingLen);
        if (size === -2) return;
        const want = size === -1 ? (this.pendingLen < 4 || u32(this.pending!, 0) !== 0 ? 4 : 8) : size;
        const take = Math.min(want - this.pendingLen, n - p);
        this.stash(chunk, p, take);
        p += take;
        this.consumed += take;
        if (this.pendingLen < want) return;
        if (size !== -1) break;
      }
      const frame = this.pending!.subarray(0, this.pendingLen);
      const at = this.consumed - this.pendingLen;
      this.pendingLen = 0;
      if (!this.frame(frame, at, onFrame)) return;
    }
    while (p < n) {
      const size = this.frameSize(chunk, p, n - p, this.consumed);
      if (size === -2) return;
      if (size === -1 || p + size > n) {
        this.stash(chunk, p, n - p);
        this.consumed += n - p;
        return;
      }
      const at = this.consumed;
      this.consumed += size;
      const ok = this.frame(chunk.subarray(p, p + size), at, onFrame);
      p += size;
      if (!ok) return;
    }
  }

  private stash(chunk: Uint8Array, from: number, len: number): void {
    if (len === 0) return;
    if (this.pending === null) this.pending = new Uint8Array(Math.max(this.maxFrameSize, MAX_CONTROL_LENGTH) + 8);
    this.pending.set(chunk.subarray(from, from + len), this.pendingLen);
    this.pendingLen += len;
  }

  /** One whole frame (header included) at stream offset `at`. False when the stream is over. */
  private frame(f: Uint8Array, at: number, onFrame: FrameHandler): boolean {
    if (u32(f, 0) !== 0) {
      if (this.st !== 'started') {
        this.fail('DATA_BEFORE_START', at, `data frame at stream offset ${at} before START`);
        return false;
      }
      this.frames++;
      const reason = onFrame(f.subarray(4));
      if (reason !== undefined) {
        this.fail('BAD_PAYLOAD', at, `data frame at stream offset ${at}: ${reason}`);
        return false;
      }
      return true;
    }
    const c = decodeControl(f.subarray(8), at + 8);
    if (!c.ok) {
      this.fail(c.error.code, c.error.offset, `${c.error.message} (frame at stream offset ${at})`);
      return false;
    }
    const { type, contentTypes } = c.value;
    const unexpected = () => this.fail('UNEXPECTED_CONTROL', at, `${controlTypeName(type)} at stream offset ${at} while ${this.expecting()}`);
    switch (type) {
      case ControlType.READY:
        if (this.st !== 'opening' || this.unidirectional) return unexpected(), false;
        // A READY without content types offers anything (libfstrm's match rule).
        if (contentTypes.length > 0 && !contentTypes.includes(this.contentType)) {
          this.fail('CONTENT_TYPE_MISMATCH', at, `the writer offers ${contentTypes.map(showContentType).join(', ')}; this reader takes ${showContentType(this.contentType)}`);
          return false;
        }
        this.bidi = true;
        this.st = 'accepted';
        this.reply(encodeControl(ControlType.ACCEPT, [this.contentType]));
        return true;
      case ControlType.START:
        if (this.st !== 'opening' && this.st !== 'accepted') return unexpected(), false;
        if (contentTypes.length === 1 && contentTypes[0] !== this.contentType) {
          this.fail('CONTENT_TYPE_MISMATCH', at, `START names content type ${showContentType(contentTypes[0]!)}; this reader takes ${showContentType(this.contentType)}`);
          return false;
        }
        this.st = 'started';
        return true;
      case ControlType.STOP:
        if (this.st !== 'started' && this.st !== 'accepted') return unexpected(), false;
        if (this.bidi) this.reply(encodeControl(ControlType.FINISH));
        this.st = 'stopped';
        this.finished = true;
        this.stopEnd = at + f.length;
        return false;
      default:
        // ACCEPT and FINISH go from reader to writer, never the other way.
        return unexpected(), false;
    }
  }

  private expecting(): string {
    if (this.st === 'opening') return this.unidirectional ? 'expecting START' : 'expecting READY or START';
    if (this.st === 'accepted') return 'expecting START';
    return 'reading data frames';
  }

  private reply(frame: Uint8Array): void {
    if (this.replies === NO_REPLIES) this.replies = [];
    this.replies.push(frame);
  }
}

/**
 * Reads a whole Frame Streams file (the unidirectional form): its data frames as views
 * into `buf`. The file must start with START, end with STOP, and carry `contentType`.
 */
export function decodeFrameStream(buf: Uint8Array, opts: Omit<ReaderOptions, 'unidirectional'> = {}): FstrmResult<Uint8Array[]> {
  const r = new FrameStreamReader({ ...opts, unidirectional: true, maxFrameSize: opts.maxFrameSize ?? Math.max(1, buf.length) });
  const frames: Uint8Array[] = [];
  const res = r.push(buf, (f) => {
    frames.push(f);
    return undefined;
  });
  if (res.error) return { ok: false, error: res.error };
  if (!res.done) return { ok: false, error: r.end()! };
  if (r.stopEnd !== buf.length) return { ok: false, error: { code: 'TRAILING_DATA', offset: r.stopEnd, message: `${buf.length - r.stopEnd} byte(s) after STOP (offset ${r.stopEnd})` } };
  return { ok: true, value: frames };
}
