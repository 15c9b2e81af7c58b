import type { Command } from 'commander';
import { Option } from 'commander';
import { SakimoriError } from '../../core/index.ts';
// The implementation is imported when an action runs (src/cli/main.ts): --help needs none of it.
import type { DnsConfig, ZoneSpec } from '../../dns/index.ts';
import type { TsigKeyConfig } from '../../dns/zone-transfer/index.ts';
import type { DetectConfigSection } from '../../dns/detect/index.ts';
import type { HttpServer } from '../../web/index.ts';
import { commandConfig, printJson, VERSION, withPlatform, untilStopSignal, collect } from '../context.ts';


const GROUP = 'DNS firewall:';

export type DetectMode = 'on' | 'dry-run' | 'off';

/** `--detect on|dry-run|off` for the commands that run detectors (default: the config's modes). */
export function detectModeOption(key: string): Option {
  return new Option('--detect <mode>', `DNS abuse detection: on (the config's modes), dry-run (report only: no mitigation, no amplification entry applied), off (default: ${key})`).choices(['on', 'dry-run', 'off']);
}

/** The config's detect section with --detect applied. */
export function withDetectMode(d: DetectConfigSection, mode: DetectMode): DetectConfigSection {
  if (mode === 'on') return d;
  if (mode === 'off') return { ...d, prsd: { ...d.prsd, mode: 'off' }, amplification: { ...d.amplification, mode: 'off' }, infection: { ...d.infection, mode: 'off' } };
  return { ...d, prsd: { ...d.prsd, mode: d.prsd.mode === 'off' ? 'off' : 'dry-run' }, amplification: { ...d.amplification, mode: d.amplification.mode === 'off' ? 'off' : 'propose' } };
}

interface ServeOptions {
  listen?: string[];
  upstream?: string[];
  rpz?: string[];
  rpzPrimary?: string[];
  key?: string[];
  notifyListen?: string;
  allow?: string;
  unfilteredListen?: string[];
  warningPage?: string;
  http?: string;
  threads?: string;
  detect?: DetectMode;
}

/** `--rpz [NAME=]FILE`: the zone name from NAME, else from the file ($ORIGIN, SOA, file name). */
async function zoneFromOption(v: string): Promise<ZoneSpec> {
  const { zoneSpecFromFile } = await import('../../dns/index.ts');
  const eq = v.indexOf('=');
  if (eq > 0 && !v.slice(0, eq).includes('/')) {
    const spec = await zoneSpecFromFile(v.slice(eq + 1));
    return { ...spec, name: v.slice(0, eq) };
  }
  return zoneSpecFromFile(v);
}

/**
 * `--key` options as tsig.keys entries (after the config's); each `--rpz-primary ...=KEY`
 * must name one of these keys (checked here, so the error names the option).
 */
async function tsigKeys(options: string[], configKeys: readonly TsigKeyConfig[], primaries: ZoneSpec[]): Promise<TsigKeyConfig[]> {
  const { tsigKeyFromOption, tsigKeysFromConfig, TsigConfigError } = await import('../../dns/zone-transfer/index.ts');
  const keys = [...configKeys];
  try {
    for (const o of options) keys.push(tsigKeyFromOption(o));
    const ring = tsigKeysFromConfig(keys);
    for (const z of primaries) {
      if (z.key !== undefined && !ring.has(z.key.toLowerCase().replace(/\.$/, ''))) {
        throw new SakimoriError('BAD_OPTION', `--rpz-primary ${z.name}=${z.primary}=${z.key} names TSIG key ${z.key}, which is not defined${ring.size ? ` (defined: ${[...ring.keys()].join(', ')})` : ''}`, { hint: `give it with --key [ALGORITHM:]${z.key}:BASE64SECRET, or define it under tsig.keys` });
      }
    }
  } catch (err) {
    if (err instanceof TsigConfigError) throw new SakimoriError('BAD_OPTION', err.message.startsWith('--key') ? err.message : `--key: ${err.message}`, { hint: err.hint ?? '' });
    throw err;
  }
  return keys;
}

function threadsOption(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 64) throw new SakimoriError('BAD_OPTION', `--threads ${v} is not a whole number from 0 to 64`);
  return n;
}

export function registerDns(program: Command): void {
  const dns = program
    .command('dns')
    .helpGroup(GROUP)
    .description('the DNS firewall (R1, R4): block C&C lookups, send malware-site lookups to the warning page, refuse abused names, honour opt-out');

  dns
    .command('serve')
    .description('run the DNS firewall alone (sakimori start runs it with the rest of the node)')
    .option('--listen <addr:port>', 'where to answer DNS over UDP and TCP; repeat for more (default: dns.listen)', collect)
    .option('--upstream <addr:port>', 'a recursive resolver to forward to; repeat for fail-over, in order of preference (default: dns.upstreams)', collect)
    .option('--rpz <[name=]file>', 'an RPZ zone file, in order of precedence; repeat for more. The zone name comes from NAME=, else the file\'s $ORIGIN or SOA, else the file name (default: dns.zones)', collect)
    .option('--rpz-primary <name=addr:port[=key]>', 'an RPZ zone pulled from a primary by AXFR, then IXFR on NOTIFY and on its SOA refresh timer; with =KEY every request is TSIG-signed with that key (tsig.keys or --key) and the primary\'s answers and NOTIFY must be too; repeat for more, after the --rpz zones in precedence. DNS is answered once every zone is loaded (default: dns.zones entries with primary:)', collect)
    .option('--key <[alg:]name:secret>', 'a TSIG key (RFC 8945; base64 secret, algorithm hmac-sha256 unless given) for the --rpz-primary entries given here, besides tsig.keys; repeat for more. Other users can see it in ps: in production use tsig.keys with secretFile', collect)
    .option('--notify-listen <addr:port>', 'where the primaries\' NOTIFY is taken, over UDP (default: dns.notifyListen; none: the SOA refresh timer only)')
    .option('--allow <file>', 'a never-block list: one domain a line, each covering its subdomains; wins over every zone')
    .option('--unfiltered-listen <addr:port>', 'a listener answered without filtering (the "use another resolver" opt-out, R1); repeat for more', collect)
    .option('--warning-page <addr:port>', 'also serve the warning page here (default: not in dns serve)')
    .option('--http <addr:port>', 'also serve /healthz, /metrics and /api/v1/dns/events here')
    .option('--threads <n>', 'worker threads answering DNS; 0 answers on the main thread (default: dns.threads)')
    .addOption(detectModeOption('dns.detect: random-subdomain mitigation on, amplification proposed, infected-client Observations on'))
    .addHelpText('after', `
A zone's kind follows its name's first label: allow... (never block), malware... (warning
page: the zone's local data points at it), dns-abuse... or abuse... (R4, kept under the
purpose dns-abuse-mitigation); any other name is a C&C list (cc-blocking). A changed zone
file is reloaded within a second; a file with an error is refused (file:line is logged)
and the previous version stays in force. A zone from a primary (--rpz-primary) is loaded
by AXFR before DNS is answered, then kept current by IXFR on NOTIFY (--notify-listen) and
on its SOA refresh timer; when the primary cannot be reached the version in force stays,
also past the SOA expire time (logged as expired). With --threads N the main thread pulls
the zone and each transfer reaches every thread as one new version. Run it with
MALLOC_MMAP_THRESHOLD_=131072 in the environment so a replaced zone's memory goes back to
the system.

Examples:
  sakimori dns serve --listen 127.0.0.1:5353 --upstream 127.0.0.1:53 --rpz cc.rpz
  sakimori dns serve --listen 0.0.0.0:53 --listen [::]:53 --upstream 192.0.2.53:53 --upstream 192.0.2.54:53 \\
      --rpz cc.rpz.example.net=/var/lib/sakimori/cc.rpz --rpz malware.rpz --allow never-block.txt \\
      --unfiltered-listen 192.0.2.99:53
  sakimori dns serve --listen 127.0.0.1:5353 --upstream 127.0.0.1:53 --threads 2 --notify-listen 127.0.0.1:5354 \\
      --rpz-primary cc.rpz.example.net=192.0.2.53:53=xfr-key --key hmac-sha256:xfr-key:c2VjcmV0c2VjcmV0c2VjcmV0
  dig -p 5353 @127.0.0.1 example.com

DNS abuse detection runs by default (dns.detect): a random-subdomain attack on a zone is
answered locally (NXDOMAIN) in the dynamic zone dns-abuse.detect.invalid, after every
configured zone and behind the never-block list, while the zone's names resolved before
the attack keep resolving; amplification names are proposed for review; infected
clients become Observations for the cases pipeline. Mitigations end on their own and are
withdrawn when the firewall stops. List them with: sakimori dns detections`)
    .action(async (opts: ServeOptions, cmd: Command) => {
      // Before the firewall's modules load (loading them grows V8's young generation): gc.ts alone.
      (await import('../../dns/server/gc.ts')).capYoungGeneration();
      const [{ DnsFirewall, firewallOptions, hostPort, resolveUpstreams, WarningPage, zoneSpecFromFile, zoneSpecFromPrimary }, { openPlatform }] = await Promise.all([import('../../dns/index.ts'), import('../../node/platform.ts')]);
      const { config, logger } = await commandConfig(cmd, { offThread: true });
      const zones: ZoneSpec[] = [];
      for (const r of opts.rpz ?? []) zones.push(await zoneFromOption(r));
      const primaries = (opts.rpzPrimary ?? []).map((p) => zoneSpecFromPrimary(p));
      zones.push(...primaries);
      const tsig = { keys: await tsigKeys(opts.key ?? [], config.tsig.keys, primaries) };
      if (opts.allow) zones.push({ ...(await zoneSpecFromFile(opts.allow, 'list')), name: 'allow', kind: 'allow', format: 'list' });
      const cfg: DnsConfig = {
        ...config.dns,
        ...(opts.listen ? { listen: opts.listen } : {}),
        ...(opts.upstream ? { upstreams: opts.upstream } : {}),
        ...(opts.unfilteredListen ? { unfilteredListen: opts.unfilteredListen } : {}),
        ...(opts.rpz || opts.rpzPrimary || opts.allow ? { zones } : {}),
        ...(opts.notifyListen !== undefined ? { notifyListen: opts.notifyListen } : {}),
        ...(opts.threads !== undefined ? { threads: threadsOption(opts.threads) } : {}),
        ...(opts.detect ? { detect: withDetectMode(config.dns.detect, opts.detect) } : {}),
      };
      const up = resolveUpstreams(cfg);
      if ('off' in up) throw new SakimoriError('DNS_NO_UPSTREAM', `no upstream resolver: ${up.off}`, { hint: 'give one with --upstream ADDR:PORT, e.g. --upstream 127.0.0.1:53' });
      const platform = await openPlatform(config, { logger, withBus: true, processMetrics: true });
      const started: { stop(): Promise<void> }[] = [];
      try {
        const fw = new DnsFirewall(firewallOptions(cfg, up.upstreams, config.node.name, tsig), platform);
        // The HTTP side (fastify and its schemas: ~0.2 s of loading and compiling) is made
        // ready before DNS is answered: with --threads 0 it shares the DNS thread, and
        // after the listener opened it held the first queries up to 0.2-0.4 s.
        let http: HttpServer | undefined;
        if (opts.http) {
          const web = await import('../../web/index.ts');
          http = new web.HttpServer({
            listen: hostPort(opts.http, '--http'),
            logger,
            registry: platform.registry,
            version: VERSION,
            health: async () => {
              const h = await fw.health();
              return { status: h.status, node: config.node.name, version: VERSION, startedAt: new Date().toISOString(), parts: { dns: h } };
            },
          });
          await http.prepare();
          fw.routes(http.app);
          await http.app.ready();
        }
        let page: InstanceType<typeof WarningPage> | undefined;
        if (opts.warningPage) {
          const wp = config.dns.warningPage;
          page = new WarningPage(hostPort(opts.warningPage, '--warning-page'), { organization: wp.organization, contact: wp.contact, optOutUrl: wp.optOutUrl }, platform.registry);
          await page.start();
          started.push(page);
        }
        await fw.start();
        started.push(fw);
        if (http) {
          await http.start();
          started.push(http);
        }
        const lines = [`Sakimori DNS firewall v${VERSION} is running. / DNS ファイアウォールを起動しました。`];
        for (const e of fw.endpoints()) lines.push(`  ${e.label}: ${e.url}`);
        lines.push(`  upstreams: ${up.upstreams.map((u) => `${u.host}:${u.port}`).join(', ')}`);
        for (const z of fw.zoneStatus()) lines.push(`  zone ${z.zone}: ${z.names ?? 0} names (${z.source})`);
        if (page) lines.push(`  warning page: ${page.url}`);
        if (http) lines.push(`  health: ${http.url}/healthz  metrics: ${http.url}/metrics`);
        lines.push('Stop with Ctrl-C.');
        process.stdout.write(`${lines.join('\n')}\n`);
        await untilStopSignal();
        logger.info('stopping');
      } finally {
        for (const p of started.reverse()) await p.stop().catch((err: unknown) => logger.error({ err }, 'stop failed'));
        await platform.close();
      }
    });

  dns
    .command('events')
    .description('blocked lookups (time, client, FQDN, list, action), newest first; the read is audited with its purpose (R16)')
    .addOption(new Option('--purpose <purpose>', 'why you read them: C&C and malware-site lists, or the dns-abuse list').choices(['cc-blocking', 'dns-abuse-mitigation']).default('cc-blocking'))
    .option('--since <time>', 'from this time (2026-01-06T12:00:00Z) or this long ago (15m, 24h)')
    .option('--client <address>', 'only this client address')
    .option('--list <zone>', 'only this list (policy zone)')
    .option('--limit <n>', 'at most this many', '100')
    .option('--json', 'print JSON')
    .action(async (opts: { purpose: 'cc-blocking' | 'dns-abuse-mitigation'; since?: string; client?: string; list?: string; limit: string; json?: boolean }, cmd: Command) => {
      const { BlockEventLog, parseSince } = await import('../../dns/index.ts');
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new SakimoriError('BAD_OPTION', `--limit ${opts.limit} is not a positive whole number`);
      const rows = await withPlatform(cmd, async (p) => {
        const since = opts.since === undefined ? undefined : parseSince(opts.since, p.clock.now());
        const log = new BlockEventLog(p.store, p.audit, { purposeOf: () => opts.purpose, clock: p.clock, log: () => undefined });
        return log.list({ purpose: opts.purpose, actor: `cli:${process.env.USER ?? 'operator'}`, limit, ...(since !== undefined ? { since } : {}), ...(opts.client ? { client: opts.client } : {}), ...(opts.list ? { list: opts.list } : {}) });
      });
      if (opts.json) return printJson(rows.map((r) => ({ ...r, at: new Date(r.at).toISOString() })));
      if (rows.length === 0) process.stdout.write(`no block events for ${opts.purpose}\n`);
      for (const r of rows) process.stdout.write(`${new Date(r.at).toISOString()}  ${r.client.padEnd(15)} ${r.action.padEnd(10)} ${r.list}  ${r.fqdn}${r.count > 1 ? `  (x${r.count})` : ''}\n`);
    });

  dns
    .command('detections')
    .description('DNS abuse detections, current and recent, newest first: random-subdomain attacks (prsd), amplification names, suspected infections; the read is audited (R16)')
    .addOption(new Option('--kind <kind>', 'only this kind').choices(['prsd', 'amplification', 'suspected-infection']))
    .option('--active', 'only detections still in force')
    .option('--since <time>', 'changed since this time (2026-01-06T12:00:00Z) or this long ago (15m, 24h)')
    .option('--limit <n>', 'at most this many', '100')
    .option('--json', 'print JSON')
    .addHelpText('after', `
Each detection: kind, subject (the zone, the FQDN, or the client address), the action
taken (mitigated, proposed, dry-run, observation-emitted, never-block, failed), when it
started and ended, and its evidence summary (never a query log). Detections come from
the firewall (source dns@NODE) and from the dnstap collector (dnstap@NODE) of every
node sharing the store; they are kept under dns-abuse-mitigation or infection-notice
and go when that purpose's retention ends.

Examples:
  sakimori dns detections --active
  sakimori dns detections --kind suspected-infection --since 24h --json`)
    .action(async (opts: { kind?: 'prsd' | 'amplification' | 'suspected-infection'; active?: boolean; since?: string; limit: string; json?: boolean }, cmd: Command) => {
      const { listDetections, parseSince } = await import('../../dns/index.ts');
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new SakimoriError('BAD_OPTION', `--limit ${opts.limit} is not a positive whole number`);
      const rows = await withPlatform(cmd, async (p) => {
        const since = opts.since === undefined ? undefined : parseSince(opts.since, p.clock.now());
        return listDetections(p.store, p.audit, { actor: `cli:${process.env.USER ?? 'operator'}`, limit, ...(opts.kind ? { kind: opts.kind } : {}), ...(opts.active ? { active: true } : {}), ...(since !== undefined ? { since } : {}) });
      });
      if (opts.json) return printJson(rows);
      if (rows.length === 0) process.stdout.write(`no DNS detections${opts.active ? ' in force' : ''}\n`);
      for (const d of rows) {
        const when = d.endedAt ? `${d.startedAt} .. ${d.endedAt}` : `${d.startedAt} .. (in force)`;
        const ev = Object.entries(d.evidence).slice(0, 6).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(' ');
        process.stdout.write(`${d.kind.padEnd(19)} ${d.subject.padEnd(28)} ${d.action.padEnd(19)} ${when}  [${d.source}]\n    ${ev}${d.error ? `\n    error: ${d.error}` : ''}\n`);
      }
    });
}
