/**
 * Test-only helpers: a NAS that sends signed Accounting-Requests over loopback and
 * waits for answers, a logger that keeps its lines, and a server factory.
 */
import dgram, { type Socket } from 'node:dgram';
import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../telemetry/log.ts';
import { createRegistry, type Registry } from '../telemetry/metrics.ts';
import type { AccountingEvent } from './accounting-event.ts';
import { AccountingServer, type AccountingServerOptions } from './accounting-server.ts';
import { encodeRequest, verifyResponse } from './wire/authenticator.ts';
import { decodePacket } from './wire/decode.ts';
import { Code, type DecodedPacket, type RadiusAttribute } from './wire/types.ts';

export class TestNas {
  private readonly replies: DecodedPacket[] = [];
  private waiters: (() => void)[] = [];
  private nextId = 0;

  private constructor(readonly socket: Socket) {
    socket.on('message', (m) => {
      const r = decodePacket(m);
      if (r.ok) this.replies.push(r.value);
      for (const w of this.waiters.splice(0)) w();
    });
  }

  static async open(family: 4 | 6 = 4, bindAddress = family === 4 ? '127.0.0.1' : '::1'): Promise<TestNas> {
    const socket = dgram.createSocket(family === 4 ? 'udp4' : 'udp6');
    await new Promise<void>((resolve) => socket.bind(0, bindAddress, resolve));
    return new TestNas(socket);
  }

  /** Encodes and signs an Accounting-Request; send it with send(). */
  request(attributes: RadiusAttribute[], secret: string, identifier = this.nextId++ & 0xff): Uint8Array {
    return encodeRequest({ code: Code.AccountingRequest, identifier, attributes }, secret);
  }

  send(bytes: Uint8Array, server: { host: string; port: number }): void {
    this.socket.send(bytes, server.port, server.host);
  }

  /** Waits for the answer to `request` (matched by identifier and authenticator); undefined after `ms`. */
  async reply(request: Uint8Array, secret: string, ms = 2000): Promise<DecodedPacket | undefined> {
    const deadline = Date.now() + ms;
    const req = decodePacket(request);
    if (!req.ok) throw new Error('not a packet');
    for (;;) {
      const i = this.replies.findIndex((r) => r.identifier === req.value.identifier && verifyResponse(r, req.value, secret).ok);
      if (i >= 0) return this.replies.splice(i, 1)[0];
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Every reply received and not yet claimed by reply(). */
  get unclaimed(): DecodedPacket[] {
    return this.replies;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

export interface CapturedLog {
  logger: Logger;
  lines: () => Record<string, unknown>[];
}

export function captureLog(): CapturedLog {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  const logger = createLogger({ level: 'info', destination: stream });
  return { logger, lines: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

export interface Harness {
  server: AccountingServer;
  events: AccountingEvent[];
  registry: Registry;
  log: CapturedLog;
  address: { host: string; port: number };
  metric: (name: string, labels?: Record<string, string>) => Promise<number>;
}

/** A started server on a free loopback port, recording events in `events` (or via `onEvent`). */
export async function startServer(opts: Partial<AccountingServerOptions> & { clients: AccountingServerOptions['clients'] }): Promise<Harness> {
  const events: AccountingEvent[] = [];
  const registry = createRegistry({ processMetrics: false });
  const log = captureLog();
  const server = new AccountingServer({
    listen: '127.0.0.1:0',
    logger: log.logger,
    registry,
    onEvent: async (e) => {
      events.push(e);
    },
    ...opts,
  });
  await server.start();
  const address = server.address()!;
  const metric = async (name: string, labels: Record<string, string> = {}) => {
    const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
    const v = (m?.values ?? []).find((x) => Object.entries(labels).every(([k, want]) => String((x.labels as Record<string, unknown>)[k]) === want));
    return Number(v?.value ?? 0);
  };
  return { server, events, registry, log, address, metric };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
