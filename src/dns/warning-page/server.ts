/**
 * The warning page's own HTTP server, a node part: every request, whatever its Host and
 * path, gets the same page (a blocked lookup can come from any link). It keeps no request
 * details, not even in logs: only a counter of requests by method (R16).
 */
import http from 'node:http';
import { formatHostPort, SakimoriError, type Endpoint, type HostPort, type Part, type PartHealth } from '../../core/index.ts';
import { Counter, type Registry } from '../../telemetry/index.ts';
import { warningPageHtml, type WarningPageText } from './page.ts';

export class WarningPage implements Part {
  readonly name = 'warning-page';
  private server: http.Server | undefined;
  private address: HostPort;
  private readonly body: Buffer;
  private readonly requests: Counter | undefined;
  private served = 0;

  constructor(listen: HostPort, text: WarningPageText, registry?: Registry) {
    this.address = listen;
    this.body = Buffer.from(warningPageHtml(text), 'utf8');
    this.requests = registry
      ? new Counter({ name: 'sakimori_warning_page_requests_total', help: 'Requests answered by the warning page (no other detail is kept, R16)', labelNames: ['method'], registers: [registry] })
      : undefined;
  }

  async start(): Promise<void> {
    const server = http.createServer((req, res) => {
      const method = req.method === 'HEAD' ? 'HEAD' : req.method === 'GET' ? 'GET' : 'other';
      this.requests?.inc({ method });
      this.served++;
      req.resume();
      // 200, not a redirect: the browser asked another site's name; its URL stays, and the
      // page says why. no-store: the name may be delisted and must not stay cached.
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'content-length': this.body.length,
        'cache-control': 'no-store',
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
        'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
      });
      res.end(method === 'HEAD' ? undefined : this.body);
    });
    server.keepAliveTimeout = 5000;
    server.requestTimeout = 10_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(
          new SakimoriError('WARNING_PAGE_LISTEN', `cannot listen for the warning page on ${formatHostPort(this.address)}: ${err.code ?? err.message}`, {
            hint: err.code === 'EADDRINUSE' ? 'another process uses that port: set dns.warningPage.listen to a free ADDR:PORT' : 'check dns.warningPage.listen',
            cause: err,
          }),
        ),
      );
      server.listen(this.address.port, this.address.host, () => resolve());
    });
    const a = server.address();
    if (a && typeof a === 'object') this.address = { host: a.address, port: a.port };
    this.server = server;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  async health(): Promise<PartHealth> {
    return { status: this.server ? 'ok' : 'down', detail: { listen: formatHostPort(this.address), served: this.served } };
  }

  get url(): string {
    return `http://${formatHostPort(this.address)}/`;
  }

  endpoints(): Endpoint[] {
    return [{ label: 'DNS warning page', url: this.url }];
  }
}
