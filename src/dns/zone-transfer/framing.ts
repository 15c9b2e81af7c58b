/**
 * DNS over TCP framing (RFC 1035 §4.2.2, RFC 7766 §8): every message is preceded by its
 * length as two octets. The reader collects chunks as the socket delivers them and hands
 * out whole messages; it holds at most one message plus the bytes of the next.
 */

export function frameMessage(msg: Uint8Array): Buffer {
  if (msg.length > 0xffff) throw new RangeError(`a DNS message of ${msg.length} octets cannot be sent over TCP (at most 65535)`);
  const out = Buffer.allocUnsafe(msg.length + 2);
  out.writeUInt16BE(msg.length, 0);
  out.set(msg, 2);
  return out;
}

export class TcpMessageReader {
  private buf: Buffer = Buffer.alloc(0);

  /** Adds bytes from the socket; returns the messages now complete (often none or one). */
  push(chunk: Uint8Array): Buffer[] {
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    const out: Buffer[] = [];
    let at = 0;
    while (this.buf.length - at >= 2) {
      const len = this.buf.readUInt16BE(at);
      if (this.buf.length - at - 2 < len) break;
      out.push(this.buf.subarray(at + 2, at + 2 + len));
      at += 2 + len;
    }
    if (at > 0) this.buf = this.buf.subarray(at);
    return out;
  }

  /** Bytes received that are not yet a whole message. */
  get pending(): number {
    return this.buf.length;
  }
}
