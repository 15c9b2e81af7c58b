/**
 * A raw UDP DNS client for the detection tests: queries built by hand (type A, RD, with an
 * OPT record so the firewall's EDE comes back), sent to a real server over loopback.
 */
import dgram from 'node:dgram';

/** A query for `name` (type A, RD, with an OPT record so EDE comes back). */
export function queryPacket(name: string, id: number): Buffer {
  const labels = name.split('.').filter(Boolean);
  const q = Buffer.alloc(12 + labels.reduce((n, l) => n + l.length + 1, 0) + 1 + 4 + 11);
  q.writeUInt16BE(id, 0);
  q[2] = 0x01;
  q.writeUInt16BE(1, 4);
  q.writeUInt16BE(1, 10);
  let p = 12;
  for (const l of labels) {
    q[p++] = l.length;
    p += q.write(l, p, 'ascii');
  }
  q[p++] = 0;
  q.writeUInt16BE(1, p);
  q.writeUInt16BE(1, p + 2);
  p += 4;
  q[p + 2] = 41; // OPT
  q.writeUInt16BE(1232, p + 3);
  return q;
}

/** One UDP client socket; `ask` resolves with the answer's bytes (or undefined after 2 s). */
export async function udpClient(port: number, host = '127.0.0.1', from = '127.0.0.1') {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, from, () => r()));
  const waiting = new Map<number, (b: Buffer | undefined) => void>();
  let next = 1;
  s.on('message', (m) => {
    const id = m.readUInt16BE(0);
    waiting.get(id)?.(m);
    waiting.delete(id);
  });
  return {
    send(name: string): void {
      next = (next + 1) & 0xffff;
      s.send(queryPacket(name, next), port, host);
    },
    ask(name: string): Promise<Buffer | undefined> {
      next = (next + 1) & 0xffff;
      const id = next;
      return new Promise((resolve) => {
        const t = setTimeout(() => {
          waiting.delete(id);
          resolve(undefined);
        }, 2000);
        waiting.set(id, (b) => {
          clearTimeout(t);
          resolve(b);
        });
        s.send(queryPacket(name, id), port, host);
      });
    },
    close: () => s.close(),
  };
}

export const rcodeOf = (b: Buffer | undefined) => (b === undefined ? undefined : b[3]! & 0x0f);
/** Answered by a policy zone (the EDE "Blocked" text the firewall adds), not by the upstream. */
export const blocked = (b: Buffer | undefined) => b !== undefined && b.includes('blocked by DNS protection');

