import Fastify, { type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import type { Registry } from 'prom-client';
import { Counter } from '../telemetry/index.ts';
import type { Logger } from '../telemetry/index.ts';
import { formatHostPort, SakimoriError, type HostPort, type Endpoint, type Part, type PartHealth } from '../core/index.ts';

/**
 * The node's HTTP server (Fastify): /healthz, /metrics, /openapi.json, and
 * whatever routes the other parts add (API, console, warning page, portal).
 * Every route declares a JSON schema, so /openapi.json documents the API.
 */
export interface HealthReport {
  status: 'ok' | 'degraded' | 'down';
  node: string;
  version: string;
  startedAt: string;
  parts: Record<string, PartHealth>;
}

export interface HttpServerOptions {
  listen: HostPort;
  logger: Logger;
  registry: Registry;
  version: string;
  health: () => Promise<HealthReport>;
  /**
   * http.trustProxy: whose X-Forwarded-For to believe (Fastify's trustProxy),
   * so req.ip — which rate limits and audit entries use — is the real client
   * behind a reverse proxy. Default false: the peer is the client.
   */
  trustProxy?: boolean | number | readonly string[];
}

/**
 * Fastify's trustProxy from http.trustProxy. A hop count is given as a
 * function: Fastify 5 now reads a number as "trust nobody", since a count
 * cannot tell a proxy from a client that sent the header itself — which is
 * why the example config says to use a count only when the node is reachable
 * through its proxies alone.
 */
function trustFn(trust: boolean | number | readonly string[]): boolean | string[] | ((addr: string, hop: number) => boolean) {
  if (typeof trust === 'number') return (_addr, hop) => hop < trust;
  return typeof trust === 'boolean' ? trust : [...trust];
}

export class HttpServer implements Part {
  readonly name = 'http';
  readonly app: FastifyInstance;
  private address: HostPort;
  private listening = false;
  private readonly requests: Counter;

  constructor(private readonly opts: HttpServerOptions) {
    this.address = opts.listen;
    this.app = Fastify({ logger: false, bodyLimit: 10 * 1024 * 1024, trustProxy: trustFn(opts.trustProxy ?? false) });
    this.requests = new Counter({
      name: 'sakimori_http_requests_total',
      help: 'HTTP requests answered, by route and status code',
      labelNames: ['method', 'route', 'status'],
      registers: [opts.registry],
    });
  }

  /** Registers the built-in routes; call once before the other parts add theirs. */
  async prepare(): Promise<void> {
    const app = this.app;
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: { title: 'Sakimori ISP node API', version: this.opts.version, description: 'Health, metrics and the API of each part of a Sakimori ISP node.' },
      },
    });
    app.addHook('onResponse', async (req, reply) => {
      this.requests.inc({ method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) });
    });
    app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown }, req, reply) => {
      const status = err.statusCode ?? (err instanceof SakimoriError ? 400 : 500);
      if (status >= 500) this.opts.logger.error({ err, url: req.url }, 'request failed');
      void reply.status(status).send({ error: err instanceof SakimoriError ? err.code : status >= 500 ? 'INTERNAL' : 'BAD_REQUEST', message: err.message });
    });
    app.get('/healthz', {
      schema: {
        summary: 'Status of each part of the node',
        response: {
          200: { type: 'object', additionalProperties: true },
          503: { type: 'object', additionalProperties: true },
        },
      },
    }, async (_req, reply) => {
      const report = await this.opts.health();
      return reply.status(report.status === 'down' ? 503 : 200).send(report);
    });
    app.get('/metrics', { schema: { summary: 'Prometheus metrics', produces: ['text/plain'] } }, async (_req, reply) => {
      return reply.type(this.opts.registry.contentType).send(await this.opts.registry.metrics());
    });
    app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  }

  async start(): Promise<void> {
    try {
      await this.app.listen({ host: this.address.host, port: this.address.port });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new SakimoriError('HTTP_LISTEN', `cannot listen on http.listen ${formatHostPort(this.address)}: ${code ?? (err as Error).message}`, {
        hint: code === 'EADDRINUSE' ? 'another process uses that port: stop it, or set http.listen to a free ADDR:PORT' : 'check http.listen in the config',
        cause: err,
      });
    }
    const addr = this.app.server.address();
    if (addr && typeof addr === 'object') this.address = { host: addr.address, port: addr.port };
    this.listening = true;
  }

  async stop(): Promise<void> {
    if (this.listening) await this.app.close();
    this.listening = false;
  }

  async health(): Promise<PartHealth> {
    return { status: this.listening ? 'ok' : 'down', detail: { listen: formatHostPort(this.address) } };
  }

  /** The base URL, with the real port once listening (port 0 picks a free one). */
  get url(): string {
    return `http://${formatHostPort(this.address)}`;
  }

  endpoints(): Endpoint[] {
    return [
      { label: 'health', url: `${this.url}/healthz` },
      { label: 'metrics', url: `${this.url}/metrics` },
      { label: 'API description (OpenAPI)', url: `${this.url}/openapi.json` },
    ];
  }
}
