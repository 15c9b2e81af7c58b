import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import {
  ControlType,
  decodeControl,
  decodeFrameStream,
  DNSTAP_CONTENT_TYPE,
  encodeControl,
  encodeDataFrame,
  encodeFrameStream,
  FrameStreamReader,
  MAX_CONTROL_LENGTH,
  type FstrmErrorCode,
  type PushResult,
} from './fstrm.ts';
import { cat, split, writerStream } from './arbitraries.ts';

const RUNS = Number(process.env.DNSTAP_PROPERTY_RUNS ?? 2000);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const CT = DNSTAP_CONTENT_TYPE;

/** Feeds chunks; returns the frames, all replies, and the last result. */
function feed(r: FrameStreamReader, chunks: Uint8Array[]): { frames: string[]; replies: string[]; last: PushResult } {
  const frames: string[] = [];
  const replies: string[] = [];
  let last: PushResult = { replies: [], done: false, error: undefined };
  for (const c of chunks) {
    last = r.push(c, (f) => {
      frames.push(hex(f));
      return undefined;
    });
    replies.push(...last.replies.map(hex));
  }
  return { frames, replies, last };
}

function failure(chunks: Uint8Array[], opts: ConstructorParameters<typeof FrameStreamReader>[0] = {}): { code: FstrmErrorCode; offset: number; message: string } {
  const { last } = feed(new FrameStreamReader(opts), chunks);
  assert.ok(last.error, 'expected an error');
  return last.error;
}

describe('Frame Streams control frames (libfstrm control.c byte layout)', () => {
  it('encodes READY with the dnstap content type as libfstrm does', () => {
    // escape, length 34, READY, field CONTENT_TYPE, length 22, "protobuf:dnstap.Dnstap"
    assert.equal(hex(encodeControl(ControlType.READY, [CT])), `00000000` + `00000022` + `00000004` + `00000001` + `00000016` + Buffer.from(CT).toString('hex'));
    assert.equal(hex(encodeControl(ControlType.FINISH)), '000000000000000400000005');
  });

  it('the START frame of real captures decodes', () => {
    const file = readFileSync(new URL('./testdata/bind-9.18.49.fstrm', import.meta.url));
    const c = decodeControl(file.subarray(8, 8 + file.readUInt32BE(4)));
    assert.ok(c.ok);
    assert.deepEqual(c.value, { type: ControlType.START, contentTypes: [CT] });
  });

  it('decodeControl(encodeControl(x)) round-trips READY and ACCEPT with several content types', () => {
    const ct = fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('latin1'));
    fc.assert(
      fc.property(fc.constantFrom(ControlType.READY, ControlType.ACCEPT), fc.array(ct, { maxLength: 5 }), (type, cts) => {
        const f = encodeControl(type, cts);
        const c = decodeControl(f.subarray(8));
        assert.ok(c.ok);
        assert.deepEqual(c.value, { type, contentTypes: cts });
      }),
      { numRuns: RUNS / 4 },
    );
  });

  const body = (...words: number[]) => {
    const b = Buffer.alloc(words.length * 4);
    words.forEach((w, i) => b.writeUInt32BE(w, i * 4));
    return new Uint8Array(b);
  };
  const bad: [string, Uint8Array][] = [
    ['no control type', new Uint8Array(2)],
    ['unknown control type 6', body(6)],
    ['control type 0', body(0)],
    ['field header cut off', cat(body(ControlType.READY), Uint8Array.of(0, 0, 0, 1))],
    ['field longer than the frame', cat(body(ControlType.READY, 1, 30), Buffer.from('abc'))],
    ['content type over 256 bytes', cat(body(ControlType.READY, 1, 300), new Uint8Array(300))],
    ['START with two content types', cat(body(ControlType.START, 1, 1), Buffer.from('a'), body(1, 1), Buffer.from('b'))],
    ['STOP with a content type', cat(body(ControlType.STOP, 1, 1), Buffer.from('a'))],
    ['FINISH with a content type', cat(body(ControlType.FINISH, 1, 1), Buffer.from('a'))],
    ['longer than 512 bytes', cat(body(ControlType.READY), new Uint8Array(MAX_CONTROL_LENGTH))],
  ];
  for (const [name, b] of bad) {
    it(`refuses a control frame with ${name}`, () => {
      const c = decodeControl(b);
      assert.ok(!c.ok);
      assert.equal(c.error.code, 'BAD_CONTROL');
    });
  }

  it('skips control fields of unknown type (libfstrm refuses them; a later revision may add some)', () => {
    const c = decodeControl(cat(body(ControlType.READY, 9, 2), Uint8Array.of(1, 2), body(1, 2), Buffer.from('ab')));
    assert.ok(c.ok);
    assert.deepEqual(c.value.contentTypes, ['ab']);
  });
});

describe('FrameStreamReader: the bidirectional handshake', () => {
  const payloads = [Uint8Array.of(1, 2, 3), new Uint8Array(1000).fill(9), Uint8Array.of(7)];

  it('READY -> ACCEPT, START, frames, STOP -> FINISH', () => {
    const r = new FrameStreamReader();
    const { frames, replies, last } = feed(r, [writerStream(payloads)]);
    assert.deepEqual(frames, payloads.map(hex));
    assert.deepEqual(replies, [hex(encodeControl(ControlType.ACCEPT, [CT])), hex(encodeControl(ControlType.FINISH))]);
    assert.equal(last.done, true);
    assert.equal(last.error, undefined);
    assert.equal(r.state, 'stopped');
    assert.equal(r.bidirectional, true);
    assert.equal(r.frames, 3);
  });

  it('ACCEPT is sent as soon as READY is complete, before START arrives', () => {
    const r = new FrameStreamReader();
    const ready = encodeControl(ControlType.READY, ['protobuf:other', CT]);
    const a = r.push(ready.subarray(0, 10), () => undefined);
    assert.deepEqual(a.replies, []);
    const b = r.push(ready.subarray(10), () => undefined);
    assert.deepEqual(b.replies.map(hex), [hex(encodeControl(ControlType.ACCEPT, [CT]))]);
    assert.equal(r.state, 'accepted');
  });

  it('READY without content types is accepted (libfstrm: it matches anything)', () => {
    const { last, frames } = feed(new FrameStreamReader(), [encodeControl(ControlType.READY), encodeControl(ControlType.START), encodeDataFrame(Uint8Array.of(5))]);
    assert.equal(last.error, undefined);
    assert.deepEqual(frames, ['05']);
  });

  it('the unidirectional form on a socket (START first) gets no replies', () => {
    const { frames, replies, last } = feed(new FrameStreamReader(), [encodeFrameStream(CT, payloads)]);
    assert.deepEqual(frames, payloads.map(hex));
    assert.deepEqual(replies, []);
    assert.equal(last.done, true);
  });

  it('any split into chunks gives the same frames and replies, and buffers at most one frame', () => {
    const payload = fc.uint8Array({ minLength: 1, maxLength: 700 });
    fc.assert(
      fc.property(fc.array(payload, { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 12 }), fc.boolean(), (ps, cuts, bidi) => {
        const stream = bidi ? writerStream(ps) : encodeFrameStream(CT, ps);
        const r = new FrameStreamReader({ maxFrameSize: 700 });
        let maxBuffered = 0;
        const frames: string[] = [];
        const replies: string[] = [];
        let done = false;
        for (const c of split(stream, cuts)) {
          const res = r.push(c, (f) => {
            frames.push(hex(f));
            return undefined;
          });
          assert.equal(res.error, undefined);
          replies.push(...res.replies.map(hex));
          done = res.done;
          maxBuffered = Math.max(maxBuffered, r.buffered);
        }
        assert.deepEqual(frames, ps.map(hex));
        assert.equal(done, true);
        assert.deepEqual(replies, bidi ? [hex(encodeControl(ControlType.ACCEPT, [CT])), hex(encodeControl(ControlType.FINISH))] : []);
        assert.ok(maxBuffered <= 708, `buffered ${maxBuffered}`);
      }),
      { numRuns: RUNS },
    );
  });

  it('a socket closed between frames without STOP is not an error (writers restart); inside a frame it is', () => {
    const r = new FrameStreamReader();
    feed(r, [writerStream([Uint8Array.of(1)]).subarray(0, -12)]);
    assert.equal(r.end(), undefined);
    const r2 = new FrameStreamReader();
    feed(r2, [writerStream([Uint8Array.of(1, 2, 3)]).subarray(0, -14)]);
    assert.equal(r2.end()?.code, 'TRUNCATED');
  });

  it('a consumer can stop the stream (BAD_PAYLOAD) and later pushes return the same error', () => {
    const r = new FrameStreamReader();
    const res = r.push(writerStream([Uint8Array.of(1), Uint8Array.of(2)]), (f) => (f[0] === 2 ? 'two is not allowed' : undefined));
    assert.equal(res.error?.code, 'BAD_PAYLOAD');
    assert.match(res.error!.message, /two is not allowed/);
    assert.equal(r.frames, 2);
    assert.equal(r.push(Uint8Array.of(0), () => undefined).error, res.error);
  });
});

describe('FrameStreamReader: broken streams', () => {
  const ready = encodeControl(ControlType.READY, [CT]);
  const start = encodeControl(ControlType.START, [CT]);
  const data = encodeDataFrame(Uint8Array.of(1));
  const cases: [string, Uint8Array[], FstrmErrorCode, number, ConstructorParameters<typeof FrameStreamReader>[0]?][] = [
    ['a data frame before START', [ready, data], 'DATA_BEFORE_START', ready.length],
    ['a data frame first', [data], 'DATA_BEFORE_START', 0],
    ['a frame over maxFrameSize (before its bytes arrive)', [start, Uint8Array.of(0, 0, 0x10, 0x01)], 'FRAME_TOO_LARGE', start.length, { maxFrameSize: 4096 }],
    ['a control frame over 512 bytes', [Uint8Array.of(0, 0, 0, 0, 0, 0, 2, 1)], 'BAD_CONTROL', 0],
    ['READY offering only other content types', [encodeControl(ControlType.READY, ['protobuf:other'])], 'CONTENT_TYPE_MISMATCH', 0],
    ['START naming another content type', [encodeControl(ControlType.START, ['text/plain'])], 'CONTENT_TYPE_MISMATCH', 0],
    ['READY twice', [ready, ready], 'UNEXPECTED_CONTROL', ready.length],
    ['READY after START', [start, ready], 'UNEXPECTED_CONTROL', start.length],
    ['START twice', [start, start], 'UNEXPECTED_CONTROL', start.length],
    ['ACCEPT from the writer', [encodeControl(ControlType.ACCEPT, [CT])], 'UNEXPECTED_CONTROL', 0],
    ['FINISH from the writer', [start, encodeControl(ControlType.FINISH)], 'UNEXPECTED_CONTROL', start.length],
    ['STOP before anything', [encodeControl(ControlType.STOP)], 'UNEXPECTED_CONTROL', 0],
    ['READY in a file', [ready], 'UNEXPECTED_CONTROL', 0, { unidirectional: true }],
    ['an unknown control type', [Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 9)], 'BAD_CONTROL', 8],
  ];
  for (const [name, chunks, code, offset, opts] of cases) {
    it(`${name}: ${code} at stream offset ${offset}`, () => {
      const e = failure(chunks, opts);
      assert.equal(e.code, code, e.message);
      assert.equal(e.offset, offset, e.message);
    });
  }

  it('hostile bytes never throw, never buffer more than maxFrameSize + 8, and errors stay inside the stream', () => {
    const valid = fc.array(fc.uint8Array({ minLength: 1, maxLength: 50 }), { maxLength: 4 }).map((ps) => writerStream(ps));
    const mutated = fc.tuple(valid, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 })).map(([s, muts]) => {
      const b = Uint8Array.from(s);
      for (const [at, v] of muts) b[at % b.length] = v;
      return b;
    });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), mutated), fc.array(fc.nat(), { maxLength: 6 }), (stream, cuts) => {
        const r = new FrameStreamReader({ maxFrameSize: 1024 });
        let consumed = 0;
        for (const c of split(stream, cuts)) {
          const res = r.push(c, () => undefined);
          consumed += c.length;
          assert.ok(r.buffered <= 1024 + 8);
          if (res.error) {
            assert.ok(res.error.offset >= 0 && res.error.offset <= consumed, `${res.error.offset} > ${consumed}`);
            break;
          }
        }
        r.end();
      }),
      { numRuns: RUNS * 2 },
    );
  });
});

describe('Frame Streams files (the unidirectional form)', () => {
  it('decodeFrameStream(encodeFrameStream(frames)) gives the frames back', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { maxLength: 10 }), (ps) => {
        const r = decodeFrameStream(encodeFrameStream(CT, ps));
        assert.ok(r.ok);
        assert.deepEqual(r.value.map(hex), ps.map(hex));
      }),
      { numRuns: RUNS / 2 },
    );
  });

  it('reads both real captures: 4 frames each', () => {
    for (const f of ['unbound-1.17.1.fstrm', 'bind-9.18.49.fstrm']) {
      const r = decodeFrameStream(readFileSync(new URL(`./testdata/${f}`, import.meta.url)));
      assert.ok(r.ok);
      assert.equal(r.value.length, 4);
    }
  });

  it('refuses a file without STOP, with bytes after STOP, with another content type, or with READY', () => {
    const file = encodeFrameStream(CT, [Uint8Array.of(1)]);
    const cut = decodeFrameStream(file.subarray(0, -12));
    assert.ok(!cut.ok && cut.error.code === 'TRUNCATED');
    const trailing = decodeFrameStream(cat(file, Uint8Array.of(0)));
    assert.ok(!trailing.ok && trailing.error.code === 'TRAILING_DATA' && trailing.error.offset === file.length);
    const other = decodeFrameStream(encodeFrameStream('protobuf:other', []));
    assert.ok(!other.ok && other.error.code === 'CONTENT_TYPE_MISMATCH');
    const bidi = decodeFrameStream(writerStream([]));
    assert.ok(!bidi.ok && bidi.error.code === 'UNEXPECTED_CONTROL');
    const empty = decodeFrameStream(new Uint8Array(0));
    assert.ok(!empty.ok && empty.error.code === 'TRUNCATED');
  });

  it('the encoder refuses an empty data frame (length 0 is the escape)', () => {
    assert.throws(() => encodeDataFrame(new Uint8Array(0)), RangeError);
  });
});
