/**
 * Watches a policy update from outside a DNS server (test/dns-policy-update.test.ts,
 * bench/policy-update.ts): UDP sockets, each with its own source port (so the kernel's
 * SO_REUSEPORT hash spreads them over the server's threads and each always lands on the
 * same thread), ask for one name every `everyMs` and sort the answers into the policy
 * before the update ("old"), after it ("new") or anything else. Records, per socket, when
 * it first saw the new policy, and counts answers with the old one after that ("flips":
 * a thread going back, which a whole-version swap never does) and queries never answered.
 */
import dgram from 'node:dgram';

/** What a policy answer looks like: NXDOMAIN, or NODATA (NOERROR without an answer). */
export type PolicyAnswer = 'nxdomain' | 'nodata';

function query(id: number, name: string): Buffer {
  const labels = name.split('.').flatMap((l) => [Buffer.from([l.length]), Buffer.from(l)]);
  return Buffer.concat([Buffer.from([id >> 8, id & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, Buffer.from([0, 0, 1, 0, 1])]);
}

function answerOf(m: Buffer): PolicyAnswer | 'other' {
  const rcode = m[3]! & 15;
  return rcode === 3 ? 'nxdomain' : rcode === 0 && m.readUInt16BE(6) === 0 ? 'nodata' : 'other';
}

export class PolicyProbe {
  private socks: dgram.Socket[] = [];
  private waiting = new Set<number>();
  private id = 0;
  private timer: NodeJS.Timeout | undefined;
  private port = 0;
  private name = '';
  private old: PolicyAnswer = 'nxdomain';
  private now: PolicyAnswer = 'nodata';
  private t0 = 0;
  /** Queries sent since mark(). */
  sent = 0;
  /** Per socket: ms from mark() to its first answer with the new policy. */
  firstNew: (number | undefined)[] = [];
  /** Answers with the old policy on a socket that had seen the new one. */
  flips = 0;
  /** Answers that were neither policy (e.g. SERVFAIL). */
  others = 0;
  /** Answers with the old policy since mark(). */
  olds = 0;

  constructor(private readonly sockets = 16, private readonly everyMs = 10) {}

  async open(port: number): Promise<void> {
    this.port = port;
    this.socks = await Promise.all(Array.from({ length: this.sockets }, () => new Promise<dgram.Socket>((r) => { const s = dgram.createSocket('udp4'); s.bind(0, '127.0.0.1', () => r(s)); })));
    this.socks.forEach((s, i) =>
      s.on('message', (m) => {
        if (!this.waiting.delete(m.readUInt16BE(0))) return;
        const a = answerOf(m);
        if (a === this.now) this.firstNew[i] ??= performance.now() - this.t0;
        else if (a === this.old) {
          this.olds++;
          if (this.firstNew[i] !== undefined) this.flips++;
        } else this.others++;
      }),
    );
  }

  /** Asks every socket for `name` every everyMs from now on; `from` is the answer before the update, `to` after. */
  run(name: string, from: PolicyAnswer, to: PolicyAnswer): void {
    clearInterval(this.timer);
    this.name = name;
    this.old = from;
    this.now = to;
    this.mark();
    this.timer = setInterval(() => {
      for (const s of this.socks) {
        this.id = (this.id + 1) & 0xffff;
        this.waiting.add(this.id);
        this.sent++;
        s.send(query(this.id, this.name), this.port, '127.0.0.1');
      }
    }, this.everyMs);
  }

  /** Figures count from now (the update). */
  mark(): void {
    this.t0 = performance.now();
    this.sent = 0;
    this.firstNew = [];
    this.flips = 0;
    this.others = 0;
    this.olds = 0;
  }

  /** Every socket has seen the new policy. */
  get allNew(): boolean {
    return this.firstNew.filter((x) => x !== undefined).length === this.sockets;
  }

  /** Resolves when every socket has seen the new policy (true), or after `ms` (false). */
  async untilAllNew(ms: number): Promise<boolean> {
    const limit = performance.now() + ms;
    while (!this.allNew) {
      if (performance.now() > limit) return false;
      await new Promise((r) => setTimeout(r, 5));
    }
    return true;
  }

  /** Stops asking, waits `graceMs` for late answers, and returns how many queries were never answered. */
  async stop(graceMs = 2000): Promise<number> {
    clearInterval(this.timer);
    this.timer = undefined;
    const until = performance.now() + graceMs;
    while (this.waiting.size > 0 && performance.now() < until) await new Promise((r) => setTimeout(r, 50));
    const lost = this.waiting.size;
    this.waiting.clear();
    return lost;
  }

  close(): void {
    clearInterval(this.timer);
    for (const s of this.socks.splice(0)) s.close();
  }
}
