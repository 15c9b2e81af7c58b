/**
 * The DNS parts of a node (`sakimori start`) and of `sakimori dns serve`, built from the
 * `dns:` config section and the platform pieces they need.
 *
 * Upstream default: with no dns.upstreams, the first nameserver of /etc/resolv.conf is
 * used only when it is a loopback address (a local caching resolver such as
 * systemd-resolved's 127.0.0.53 or a local Unbound): forwarding subscribers' queries to
 * whatever remote resolver this machine happens to use would be a surprise. Otherwise the
 * firewall does not start, and the node says so in its banner and on /healthz.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { parseListenAddress, SakimoriError, type Endpoint, type HostPort, type Part, type PartHealth } from '../../core/index.ts';
import { WarningPage } from '../warning-page/server.ts';
import { DnsFirewall, type DnsFirewallDeps, type DnsFirewallOptions } from './firewall.ts';
import { capYoungGeneration } from './gc.ts';
import type { ZoneSpec } from './zones.ts';
import { tsigKeyByName, tsigKeysFromConfig, type TsigKey, type TsigKeyConfig } from '../zone-transfer/index.ts';
import { detectionOff, optionsFromConfig, type DetectConfigSection, type DetectOptionsInput } from '../detect/index.ts';

/** Detector options from dns.detect (or dnstap.detect); false when every detector is off. */
export function detectOptions(cfg: DetectConfigSection | undefined): DetectOptionsInput | false {
  if (cfg === undefined) return {};
  const o = optionsFromConfig(cfg);
  return detectionOff(o) ? false : o;
}

/** The dns section of the config, as parsed (durations in ms). */
export interface DnsConfig {
  enabled: boolean;
  listen: readonly string[];
  unfilteredListen: readonly string[];
  upstreams: readonly string[];
  upstreamTimeout: number;
  upstreamDownAfter: number;
  probeInterval: number;
  tcpIdleTimeout: number;
  threads: number;
  zones: readonly ZoneSpec[];
  /** Where zones from a primary take NOTIFY when they name no address of their own; '' none. */
  notifyListen?: string;
  /** Where copies of zones from a primary are kept; '' or absent: none. */
  zoneCopyDir?: string;
  events: { flushInterval: number; maxBuffered: number };
  observationInterval: number;
  warningPage: { listen: string; organization: string; contact: string; optOutUrl: string };
  /** DNS detection (issue 5); all modes off: none. */
  detect: DetectConfigSection;
}

export function hostPort(s: string, key: string): HostPort {
  const r = parseListenAddress(s);
  if ('error' in r) throw new SakimoriError('DNS_ADDRESS', `${key} "${s}" ${r.error}`);
  return r;
}

/** The first nameserver in resolv.conf text if it is a loopback address, as ADDR:53. */
export function loopbackResolver(resolvConf: string): HostPort | undefined {
  for (const line of resolvConf.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (!m) continue;
    const ip = m[1]!.replace(/%.*$/, '');
    const loop = (isIP(ip) === 4 && ip.startsWith('127.')) || ip === '::1';
    return loop ? { host: ip, port: 53 } : undefined;
  }
  return undefined;
}

export function resolveUpstreams(cfg: Pick<DnsConfig, 'upstreams'>, resolvConfPath = '/etc/resolv.conf'): { upstreams: HostPort[] } | { off: string } {
  if (cfg.upstreams.length > 0) return { upstreams: cfg.upstreams.map((u, i) => hostPort(u, `dns.upstreams[${i}]`)) };
  let text = '';
  try {
    text = readFileSync(resolvConfPath, 'utf8');
  } catch {
    // no resolv.conf: no default
  }
  const lo = loopbackResolver(text);
  if (lo) return { upstreams: [lo] };
  return { off: `no dns.upstreams configured, and the first nameserver in ${resolvConfPath} is not a loopback resolver: set dns.upstreams to the ISP's recursive resolvers` };
}

/** A zone from a primary with its TSIG key resolved (tsig.keys) and its local copy's path (dns.zoneCopyDir). */
function primaryZone(z: ZoneSpec, i: number, cfg: DnsConfig, keys: ReadonlyMap<string, TsigKey>): ZoneSpec {
  if (!z.primary) return z;
  return {
    ...z,
    ...(!z.notifyListen && cfg.notifyListen ? { notifyListen: cfg.notifyListen } : {}),
    ...(z.key ? { tsigKey: tsigKeyByName(keys, z.key, `dns.zones[${i}].key`) } : {}),
    ...(cfg.zoneCopyDir ? { copyFile: join(cfg.zoneCopyDir, `${z.name.toLowerCase().replace(/\.$/, '').replace(/[^a-z0-9._-]/g, '_')}.zone`) } : {}),
  };
}

/**
 * The firewall's options from the config (`sakimori start` and `dns serve` both build the
 * firewall from these). Also caps V8's young generation for the process (gc.ts), before
 * the zones load and the workers start: what a load leaves behind is 24 MiB of a 1 M-name
 * server's RSS.
 */
export function firewallOptions(cfg: DnsConfig, upstreams: HostPort[], nodeName: string, tsig?: { keys: readonly TsigKeyConfig[] }): DnsFirewallOptions {
  capYoungGeneration(4, cfg.threads > 0);
  const keys = tsigKeysFromConfig(tsig?.keys);
  return {
    listen: cfg.listen.map((a, i) => hostPort(a, `dns.listen[${i}]`)),
    unfilteredListen: cfg.unfilteredListen.map((a, i) => hostPort(a, `dns.unfilteredListen[${i}]`)),
    upstreams,
    upstreamTimeoutMs: cfg.upstreamTimeout,
    upstreamDownAfter: cfg.upstreamDownAfter,
    probeIntervalMs: cfg.probeInterval,
    tcpIdleMs: cfg.tcpIdleTimeout,
    threads: cfg.threads,
    // dns.notifyListen is where every zone from a primary takes NOTIFY, unless it names its own.
    zones: cfg.zones.map((z, i) => primaryZone(z, i, cfg, keys)),
    eventFlushIntervalMs: cfg.events.flushInterval,
    maxBufferedEvents: cfg.events.maxBuffered,
    observationIntervalMs: cfg.observationInterval,
    detect: detectOptions(cfg.detect),
    nodeName,
  };
}

/** A stand-in that tells the banner and /healthz why the firewall is not running. */
class DnsOff implements Part {
  readonly name = 'dns';
  constructor(private readonly reason: string, private readonly log: (msg: string) => void) {}
  async start(): Promise<void> {
    this.log(`DNS firewall not started: ${this.reason}`);
  }
  async stop(): Promise<void> {}
  async health(): Promise<PartHealth> {
    return { status: 'ok', detail: { running: false, reason: this.reason } };
  }
  endpoints(): Endpoint[] {
    return [{ label: 'DNS firewall', url: `off (${this.reason})` }];
  }
}

export interface DnsPartsDeps extends DnsFirewallDeps {
  config: { dns: DnsConfig; node: { name: string }; tsig?: { keys: readonly TsigKeyConfig[] } };
}

/** The firewall and the warning page, or one part saying why DNS is off. */
export function dnsParts(deps: DnsPartsDeps, opts: { resolvConf?: string } = {}): Part[] {
  const cfg = deps.config.dns;
  if (!cfg.enabled) return [];
  const up = resolveUpstreams(cfg, opts.resolvConf);
  if ('off' in up) return [new DnsOff(up.off, (m) => deps.logger.warn(m))];
  const wp = cfg.warningPage;
  return [
    new DnsFirewall(firewallOptions(cfg, up.upstreams, deps.config.node.name, deps.config.tsig), deps),
    new WarningPage(hostPort(wp.listen, 'dns.warningPage.listen'), { organization: wp.organization, contact: wp.contact, optOutUrl: wp.optOutUrl }, deps.registry),
  ];
}
