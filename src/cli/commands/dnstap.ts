import type { Command } from 'commander';
import { parseDuration, parseListenAddress, SakimoriError, type HostPort } from '../../core/index.ts';
import type { DnstapConfig } from '../../dns/dnstap/index.ts';
import { detectModeOption, withDetectMode, type DetectMode } from './dns.ts';
import { commandConfig, VERSION, untilStopSignal, collect } from '../context.ts';

const GROUP = 'DNS firewall:';

function httpAddress(s: string): HostPort {
  const r = parseListenAddress(s);
  if ('error' in r) throw new SakimoriError('BAD_OPTION', `--http "${s}" ${r.error}`);
  return r;
}

interface ListenOptions {
  unix?: string[];
  tcp?: string[];
  allowFrom?: string[];
  socketMode?: string;
  summaryInterval?: string;
  http?: string;
  detect?: DetectMode;
}

export function registerDnstap(program: Command): void {
  const dnstap = program
    .command('dnstap')
    .helpGroup(GROUP)
    .description('the dnstap collector: BIND and Unbound resolvers feed the detectors with their client queries and responses');

  dnstap
    .command('listen')
    .description('accept dnstap (Frame Streams, protobuf:dnstap.Dnstap) from BIND / Unbound and turn each client query and response into a detector event (sakimori start runs it when dnstap.listen is set)')
    .option('--unix <path>', 'listen on this Unix socket; repeat for more (default: dnstap.listen)', collect)
    .option('--tcp <addr:port>', 'listen on this TCP address; repeat for more (default: dnstap.listen)', collect)
    .option('--allow-from <prefix>', 'a TCP writer address or prefix allowed; repeat for more (default: dnstap.allowFrom, loopback)', collect)
    .option('--socket-mode <mode>', 'file mode of the Unix socket, e.g. 0666 (default: dnstap.socketMode, 0660)')
    .option('--summary-interval <duration>', 'how often the one-line summary is logged, e.g. 10s (default: dnstap.summaryInterval, 1m)')
    .option('--http <addr:port>', 'also serve /healthz, /metrics and /api/v1/dns/detections here')
    .addOption(detectModeOption('dnstap.detect'))
    .addHelpText('after', `
Nothing of the stream is stored (R16): each client query or response becomes an event
{ at, client, qname, qtype, rcode?, responseSize?, transport } for the detectors, and
the counts are logged once a minute and kept as sakimori_dnstap_* metrics. A writer
that sends a broken stream is disconnected with the reason logged; the others go on.

Detection (dnstap.detect): each client response feeds the same detectors as the
firewall's. There is no data plane here to answer in, so random-subdomain attacks are
reported (dry-run) and amplification names proposed; suspected infections become
Observations for the cases pipeline. \`sakimori dns detections\` lists them.

Resolver side:
  Unbound (unbound.conf):  dnstap:
                             dnstap-enable: yes
                             dnstap-socket-path: "/run/sakimori/dnstap.sock"   # or dnstap-ip: 127.0.0.1@6000
                             dnstap-send-identity: yes
                             dnstap-log-client-query-messages: yes
                             dnstap-log-client-response-messages: yes
  BIND (named.conf options): dnstap { client; };
                             dnstap-output unix "/run/sakimori/dnstap.sock";

Examples:
  sakimori dnstap listen --unix /run/sakimori/dnstap.sock --socket-mode 0666
  sakimori dnstap listen --tcp 127.0.0.1:6000 --summary-interval 10s --http 127.0.0.1:9101`)
    .action(async (opts: ListenOptions, cmd: Command) => {
      const { config, logger } = await commandConfig(cmd);
      const given = [...(opts.unix ?? []).map((p) => `unix:${p}`), ...(opts.tcp ?? [])];
      let summaryInterval = config.dnstap.summaryInterval;
      if (opts.summaryInterval !== undefined) {
        const ms = parseDuration(opts.summaryInterval);
        if (ms === undefined || ms === 0 || !/[a-z]$/.test(opts.summaryInterval)) throw new SakimoriError('BAD_OPTION', `--summary-interval ${opts.summaryInterval} is not a duration such as 10s or 1m`);
        summaryInterval = ms;
      }
      const cfg: DnstapConfig = {
        ...config.dnstap,
        ...(given.length ? { listen: given } : {}),
        ...(opts.allowFrom ? { allowFrom: opts.allowFrom } : {}),
        ...(opts.socketMode ? { socketMode: opts.socketMode } : {}),
        summaryInterval,
      };
      if (cfg.listen.length === 0) throw new SakimoriError('DNSTAP_NO_LISTEN', 'nowhere to listen for dnstap', { hint: 'give --unix PATH or --tcp ADDR:PORT, or list them under dnstap.listen in the config' });
      if (cfg.detect && opts.detect) cfg.detect = withDetectMode(cfg.detect, opts.detect);
      // The platform: the bus for Observations, the store for detections.
      // The collector, the platform and fastify load only now: `--help` stays light.
      const { dnstapPart } = await import('../../dns/dnstap/index.ts');
      const { openPlatform } = await import('../../node/platform.ts');
      const platform = await openPlatform(config, { logger, withBus: true, processMetrics: true });
      const registry = platform.registry;
      const collector = dnstapPart({ config: { dnstap: cfg, node: config.node }, logger, registry, clock: platform.clock, bus: platform.bus, store: platform.store, audit: platform.audit }, cfg, given.length ? '--unix/--tcp' : 'dnstap.listen');
      const started: { stop(): Promise<void> }[] = [];
      try {
        await collector.start();
        started.push(collector);
        const lines = [`Sakimori dnstap collector v${VERSION} is running. / dnstap コレクタを起動しました。`];
        for (const e of collector.endpoints()) lines.push(`  ${e.label}: ${e.url}`);
        if (opts.http) {
          const { HttpServer } = await import('../../web/index.ts');
          const http = new HttpServer({
            listen: httpAddress(opts.http),
            logger,
            registry,
            version: VERSION,
            health: async () => ({ status: (await collector.health()).status, node: config.node.name, version: VERSION, startedAt: new Date().toISOString(), parts: { dnstap: await collector.health() } }),
          });
          await http.prepare();
          if ('routes' in collector) collector.routes(http.app);
          await http.start();
          started.push(http);
          lines.push(`  health: ${http.url}/healthz  metrics: ${http.url}/metrics`);
        }
        lines.push(`  a summary is logged every ${Math.round(cfg.summaryInterval / 1000)}s; nothing of the stream is stored.`);
        lines.push('Stop with Ctrl-C.');
        process.stdout.write(`${lines.join('\n')}\n`);
        await untilStopSignal();
        logger.info('stopping');
      } finally {
        for (const p of started.reverse()) await p.stop().catch((err: unknown) => logger.error({ err }, 'stop failed'));
        await platform.close();
      }
    });
}
