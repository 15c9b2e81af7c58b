/**
 * The evaluation's traffic through the real server (issue 5 item 6): each second of a
 * World is sent over loopback UDP to a real DnsFirewall (threads: 0, detection on, the
 * World's never-block list and C&C names as zone files), which forwards to a small real
 * UDP upstream answering each name as the World says (rcode and response size; no answer
 * for a timeout). Each World client 10.a.b.c sends from its own socket bound to
 * 127.a.b.c, so the detectors see as many client addresses as the World has.
 *
 * Time: the firewall runs on a ManualClock set to the World's second (its data plane
 * stamps events with it) and detection's tick is driven per second, as in-process, so
 * detection times are in traffic seconds, comparable with the in-process replay.
 */
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../src/core/index.ts';
import type { BatchReplayTarget } from '../src/dns/detect/eval/replay.ts';
import type { LabelledQuery, World } from '../src/dns/detect/eval/traffic.ts';
import type { DetectOptionsInput, DnsDetection, PolicyKind } from '../src/dns/detect/index.ts';
import { DETECTION_ZONE, DnsFirewall, dnsMigrations } from '../src/dns/index.ts';
import { AuditLog, privacyMigrations } from '../src/privacy/index.ts';
import { openStore, type Store } from '../src/store/index.ts';
import { silentLogger } from '../src/telemetry/index.ts';

const MAX_SOCKETS = 4000;
const SECOND_DEADLINE_MS = 3000;

function encodeName(name: string, out: number[]): void {
  for (const l of name.split('.')) {
    if (!l) continue;
    const b = Buffer.from(l, 'latin1');
    out.push(b.length, ...b);
  }
  out.push(0);
}

function queryBytes(q: LabelledQuery, id: number): Buffer {
  const b: number[] = [id >> 8, id & 255, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1];
  encodeName(q.qname, b);
  b.push(q.qtype >> 8, q.qtype & 255, 0, 1);
  b.push(0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0); // OPT, 4096: the firewall's EDE comes back
  return Buffer.from(b);
}

/** A real UDP resolver stand-in: answers as the World says for each (name, type). */
class WorldUpstream {
  readonly sock = dgram.createSocket('udp4');
  readonly answers = new Map<string, { rcode: number | undefined; size: number }>();

  async start(): Promise<number> {
    await new Promise<void>((r) => this.sock.bind(0, '127.0.0.1', () => r()));
    this.sock.on('message', (m, rinfo) => {
      // Question: from byte 12 to the end of QNAME + 4.
      let p = 12;
      const labels: string[] = [];
      while (p < m.length && m[p] !== 0) {
        labels.push(m.toString('latin1', p + 1, p + 1 + m[p]!));
        p += m[p]! + 1;
      }
      const qend = p + 5;
      const qtype = (m[p + 1]! << 8) | m[p + 2]!;
      const a = this.answers.get(`${labels.join('.').toLowerCase()}\0${qtype}`);
      if (!a || a.rcode === undefined) return; // a timeout
      const head = Buffer.from(m.subarray(0, qend));
      head[2] = 0x81;
      head[3] = 0x80 | a.rcode;
      head.writeUInt16BE(0, 8);
      head.writeUInt16BE(0, 10);
      if (a.rcode !== 0 || a.size <= qend + 12) {
        head.writeUInt16BE(0, 6);
        return void this.sock.send(head, rinfo.port, rinfo.address);
      }
      // One TXT record padded to the World's response size.
      const rdlen = Math.max(1, a.size - qend - 12);
      const rr = Buffer.alloc(12 + rdlen);
      rr.writeUInt16BE(0xc00c, 0);
      rr.writeUInt16BE(16, 2);
      rr.writeUInt16BE(1, 4);
      rr.writeUInt32BE(60, 6);
      rr.writeUInt16BE(rdlen, 10);
      for (let i = 0; i < rdlen; i += 256) rr[12 + i] = Math.min(255, rdlen - i - 1);
      head.writeUInt16BE(1, 6);
      this.sock.send(Buffer.concat([head, rr]), rinfo.port, rinfo.address);
    });
    return this.sock.address().port;
  }
}

interface Pending {
  index: number;
  done: (matched: PolicyKind | undefined) => void;
}

class ClientSocket {
  private next = 1;
  readonly pending = new Map<number, Pending>();
  constructor(readonly sock: dgram.Socket) {
    sock.on('message', (m) => {
      const p = this.pending.get(m.readUInt16BE(0));
      if (!p) return;
      this.pending.delete(m.readUInt16BE(0));
      p.done(m.includes(DETECTION_ZONE) ? 'dns-abuse' : undefined);
    });
  }
  id(): number {
    this.next = (this.next % 65535) + 1;
    return this.next;
  }
}

export class ServerTarget implements BatchReplayTarget {
  readonly clock = new ManualClock(0);
  private readonly sockets = new Map<string, ClientSocket>();
  lost = 0;

  private constructor(
    readonly fw: DnsFirewall,
    private readonly upstream: WorldUpstream,
    private readonly port: number,
    private readonly store: Store,
    private readonly audit: AuditLog,
    private readonly dir: string,
  ) {}

  static async start(world: World, detect: DetectOptionsInput = {}): Promise<ServerTarget> {
    const dir = mkdtempSync(join(tmpdir(), 'sakimori-eval-server-'));
    writeFileSync(join(dir, 'allow.rpz'), `$TTL 60\n$ORIGIN allow.eval.invalid.\n@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 60\n${world.neverBlock.map((n) => `${n} CNAME rpz-passthru.`).join('\n')}\n`);
    writeFileSync(join(dir, 'cc.rpz'), `$TTL 60\n$ORIGIN cc.eval.invalid.\n@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 60\n${world.ccNames.map((n) => `${n} CNAME .`).join('\n')}\n`);
    const upstream = new WorldUpstream();
    const upPort = await upstream.start();
    const store = await openStore('sqlite::memory:');
    await store.migrate([...privacyMigrations, ...dnsMigrations]);
    const audit = new AuditLog(store, { flushIntervalMs: 1000 });
    const t = new ServerTarget(undefined as unknown as DnsFirewall, upstream, 0, store, audit, dir);
    const fw = new DnsFirewall(
      {
        listen: [{ host: '127.0.0.1', port: 0 }],
        upstreams: [{ host: '127.0.0.1', port: upPort }],
        upstreamTimeoutMs: 250,
        upstreamDownAfter: 1_000_000,
        zones: [
          { name: 'cc.eval.invalid', file: join(dir, 'cc.rpz'), kind: 'cc', format: 'rpz' },
          { name: 'allow.eval.invalid', file: join(dir, 'allow.rpz'), kind: 'allow', format: 'rpz' },
        ],
        eventFlushIntervalMs: 1000,
        maxBufferedEvents: 10_000,
        nodeName: 'eval',
        detect,
      },
      { store, audit, logger: silentLogger, clock: t.clock },
    );
    await fw.start();
    // Detection's own 1-second timer runs on real time; this replay ticks it per traffic second.
    fw.detection!.stop();
    return Object.assign(t, { fw, port: fw.addresses[0]!.address.port });
  }

  get detection(): DnsDetection {
    return this.fw.detection!;
  }

  clientOf(worldClient: string): string {
    return worldClient.replace(/^10\./, '127.');
  }

  private async socketFor(client: string): Promise<ClientSocket> {
    let c = this.sockets.get(client);
    if (c) {
      this.sockets.delete(client);
      this.sockets.set(client, c); // most recently used last
      return c;
    }
    if (this.sockets.size >= MAX_SOCKETS) {
      for (const [k, v] of this.sockets) {
        if (v.pending.size > 0) continue;
        v.sock.close();
        this.sockets.delete(k);
        if (this.sockets.size < MAX_SOCKETS) break;
      }
    }
    const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 1 << 20 });
    await new Promise<void>((r) => s.bind(0, this.clientOf(client), () => r()));
    c = new ClientSocket(s);
    this.sockets.set(client, c);
    return c;
  }

  async querySecond(qs: readonly LabelledQuery[]): Promise<{ matched?: PolicyKind | undefined }[]> {
    const out: { matched?: PolicyKind | undefined }[] = qs.map(() => ({}));
    const waits: Promise<void>[] = [];
    for (const [i, q] of qs.entries()) {
      this.upstream.answers.set(`${q.qname}\0${q.qtype}`, { rcode: q.rcode, size: q.size });
      const c = await this.socketFor(q.client);
      const id = c.id();
      waits.push(
        new Promise<void>((resolve) => {
          c.pending.set(id, {
            index: i,
            done: (matched) => {
              out[i] = { matched };
              resolve();
            },
          });
        }),
      );
      c.sock.send(queryBytes(q, id), this.port, '127.0.0.1');
      // Let the server drain its socket now and then (one process, one event loop).
      if (i % 256 === 255) await new Promise((r) => setImmediate(r));
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(waits), new Promise<void>((r) => (timer = setTimeout(r, SECOND_DEADLINE_MS)))]);
    clearTimeout(timer);
    for (const c of this.sockets.values()) {
      this.lost += c.pending.size;
      c.pending.clear();
    }
    this.upstream.answers.clear();
    return out;
  }

  tick(now: number): void {
    this.clock.set(now);
    this.fw.detection!.tick(now);
  }

  async stop(): Promise<void> {
    for (const c of this.sockets.values()) c.sock.close();
    this.upstream.sock.close();
    await this.fw.stop();
    await this.audit.close();
    await this.store.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
