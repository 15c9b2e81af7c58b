import type { Command } from 'commander';
import { SakimoriError } from '../../core/index.ts';
import {
  ACTION_HELP,
  address,
  editZoneFile,
  JournalStore,
  listZoneFile,
  POLICY_CHANGED_TOPIC,
  rpzProvider,
  type EditResult,
  type RpzConfig,
  type ZoneEdit,
} from '../../dns/rpz-provider/index.ts';
// platform.ts, not node/index.ts: the node's HTTP server (fastify) is not needed here.
import { openPlatform } from '../../node/platform.ts';
import type { Config } from '../../config/index.ts';
import { makeTsigKey, TsigConfigError, tsigKeyFromOption, type TsigKey } from '../../dns/zone-transfer/index.ts';
import { commandConfig, printJson, VERSION, untilStopSignal, collect } from '../context.ts';

const GROUP = 'DNS firewall:';

interface ServeOptions {
  listen?: string;
  zone?: string[];
  notify?: string[];
  allowTransfer?: string[];
  key?: string[];
}

interface EditCliOptions {
  zone: string;
  name: string[];
  action?: string;
  ttl?: string;
  subdomains?: boolean;
  file?: string;
  json?: boolean;
}

function actor(): string {
  return `cli:${process.env.USER ?? 'operator'}`;
}

/** `--zone NAME=FILE` */
function zoneOption(v: string): { name: string; file: string } {
  const eq = v.indexOf('=');
  if (eq <= 0 || eq === v.length - 1) throw new SakimoriError('BAD_OPTION', `--zone "${v}" is not NAME=FILE`, { hint: 'e.g. --zone cc.rpz.example.net=/var/lib/sakimori/cc.zone' });
  return { name: v.slice(0, eq), file: v.slice(eq + 1) };
}

/** The file of a zone: --file, else the rpz.zones entry of that name. */
function zoneFile(config: Config, zone: string, file: string | undefined): string {
  if (file) return file;
  const want = zone.toLowerCase().replace(/\.$/, '');
  const z = config.rpz.zones.find((e) => e.name.toLowerCase().replace(/\.$/, '') === want);
  if (!z) throw new SakimoriError('RPZ_UNKNOWN_ZONE', `zone ${zone} is not listed under rpz.zones in the config`, { hint: 'give its file with --file FILE, or add { name, file } to rpz.zones' });
  return z.file;
}

/** `--key [ALG:]NAME:SECRET`, as dig -y takes it. */
function keyOption(v: string): TsigKey {
  try {
    return makeTsigKey(tsigKeyFromOption(v));
  } catch (err) {
    if (err instanceof TsigConfigError) throw new SakimoriError('BAD_OPTION', err.message.startsWith('--key') ? err.message : `--key: ${err.message}`, { hint: err.hint ?? '' });
    throw err;
  }
}

/** `X=KEY` -> X and the key's name (prefixes and ADDR:PORT never hold "="). */
function splitKey(v: string): [string, string | undefined] {
  const eq = v.lastIndexOf('=');
  return eq > 0 ? [v.slice(0, eq), v.slice(eq + 1)] : [v, undefined];
}

function printEdit(r: EditResult, json: boolean | undefined): void {
  if (json) return printJson(r);
  const lines: string[] = [];
  if (r.created) lines.push(`zone ${r.zone} created at serial ${r.serial} (${r.file})`);
  else if (!r.changed) lines.push(`zone ${r.zone} unchanged at serial ${r.serial} (${r.file})`);
  else lines.push(`zone ${r.zone}: serial ${r.fromSerial} -> ${r.serial} (${r.file})`);
  for (const l of r.removed) lines.push(`  - ${l}`);
  for (const l of r.added) lines.push(`  + ${l}`);
  if (r.changed) lines.push('a running `sakimori rpz serve` (or node) picks it up within a second and notifies its secondaries');
  process.stdout.write(`${lines.join('\n')}\n`);
}

async function edit(cmd: Command, opts: EditCliOptions, op: 'add' | 'remove'): Promise<void> {
  const { config, logger } = await commandConfig(cmd);
  const file = zoneFile(config, opts.zone, opts.file);
  let ttl: number | undefined;
  if (opts.ttl !== undefined) {
    ttl = Number(opts.ttl);
    if (!Number.isInteger(ttl) || ttl < 0 || ttl > 0x7fffffff) throw new SakimoriError('BAD_OPTION', `--ttl ${opts.ttl} is not a whole number of seconds`);
  }
  const edits: ZoneEdit[] = opts.name.map((name) =>
    op === 'add' ? { op, name, action: opts.action!, ...(ttl !== undefined ? { ttl } : {}), subdomains: !!opts.subdomains } : { op, name, subdomains: !!opts.subdomains },
  );
  // The bus only reaches another process when it is NATS; the file watch covers the rest.
  const platform = await openPlatform(config, { logger, withBus: !config.bus.url.startsWith('memory') });
  try {
    const r = await editZoneFile({ zone: opts.zone, file, edits, actor: actor(), journal: new JournalStore(platform.store), clock: platform.clock });
    if (r.changed) {
      await platform.audit.append({
        actor: actor(),
        action: 'config',
        purpose: 'operations',
        subject: `rpz:${r.zone}`,
        detail: { op, names: opts.name, ...(op === 'add' ? { action: opts.action } : {}), subdomains: !!opts.subdomains, fromSerial: r.fromSerial, serial: r.serial, file },
      });
      await platform.bus?.publish(POLICY_CHANGED_TOPIC, { zone: r.zone, serial: r.serial, source: 'cli' });
    }
    printEdit(r, opts.json);
  } finally {
    await platform.close();
  }
}

export function registerRpz(program: Command): void {
  const rpz = program
    .command('rpz')
    .helpGroup(GROUP)
    .description('the RPZ provider: serve policy zones to the ISP\'s BIND / Unbound / PowerDNS by AXFR and IXFR with NOTIFY, and change them');

  rpz
    .command('serve')
    .description('serve policy zones by AXFR/IXFR (TCP) and SOA/IXFR (UDP), and NOTIFY secondaries when a zone changes (sakimori start runs it when rpz.zones is set)')
    .option('--listen <addr:port>', 'where to answer, UDP and TCP (default: rpz.listen)')
    .option('--zone <name=file>', 'a policy zone and its master file; repeat for more (default: rpz.zones)', collect)
    .option('--notify <addr:port[=key]>', 'a secondary to NOTIFY on every change, TSIG-signed with KEY when given; repeat for more (default: rpz.notify)', collect)
    .option('--allow-transfer <prefix[=key]>', 'an address or prefix allowed to transfer; with =KEY its requests must be TSIG-signed with that key; repeat for more (default: rpz.allowTransfer, loopback only)', collect)
    .option('--key <[alg:]name:secret>', 'a TSIG key (RFC 8945; base64 secret, algorithm hmac-sha256 unless given) for the --notify/--allow-transfer entries given here, besides tsig.keys (entries in the config name keys under tsig.keys: config check says when one is not defined); repeat for more. Other users can see it in ps: in production use tsig.keys with secretFile', collect)
    .addHelpText('after', `
The zone file is the source of truth; \`sakimori rpz add/remove\` changes it, and so may
an editor (increase the SOA serial). The file is checked every second: a new version
is diffed against the one served, journaled in the store (IXFR answers from the
journal, also after a restart) and announced by NOTIFY, retried until answered. A file
with an error, or changed without a higher serial, is refused (file:line is logged)
and the version in force stays. Transfers are allowed by address (--allow-transfer);
an entry with =KEY also requires TSIG (RFC 8945) with that key: a request unsigned or
signed wrongly is answered NOTAUTH with the TSIG error, and logged once per peer and key.
A signed request is answered signed (every message of a transfer).

Examples:
  sakimori rpz serve --listen 127.0.0.1:5300 --zone cc.rpz.example.net=cc.zone --notify 127.0.0.1:53
  dig @127.0.0.1 -p 5300 cc.rpz.example.net AXFR
  dig @127.0.0.1 -p 5300 cc.rpz.example.net IXFR=2024010101
  sakimori rpz serve --zone cc.rpz.example.net=cc.zone --key hmac-sha256:xfr-key:c2VjcmV0c2VjcmV0c2VjcmV0 \\
      --allow-transfer 192.0.2.53/32=xfr-key --notify 192.0.2.53:53=xfr-key
  dig -y hmac-sha256:xfr-key:c2VjcmV0c2VjcmV0c2VjcmV0 @127.0.0.1 -p 5300 cc.rpz.example.net AXFR`)
    .action(async (opts: ServeOptions, cmd: Command) => {
      const { config, logger } = await commandConfig(cmd);
      const cfg: RpzConfig = {
        ...config.rpz,
        ...(opts.listen ? { listen: opts.listen } : {}),
        ...(opts.zone ? { zones: opts.zone.map(zoneOption) } : {}),
        ...(opts.notify ? { notify: opts.notify.map((n) => { const [address, key] = splitKey(n); return key ? { address, key } : address; }) } : {}),
        ...(opts.allowTransfer ? { allowTransfer: opts.allowTransfer.map((n) => { const [prefix, key] = splitKey(n); return key ? { prefix, key } : prefix; }) } : {}),
      };
      const cliKeys = (opts.key ?? []).map(keyOption);
      if (cfg.zones.length === 0) throw new SakimoriError('RPZ_NO_ZONES', 'no policy zones to serve', { hint: 'give --zone NAME=FILE, or list { name, file } under rpz.zones in the config' });
      address(cfg.listen, '--listen');
      const platform = await openPlatform(config, { logger, withBus: true, processMetrics: true });
      const provider = rpzProvider({ config: { ...config, rpz: cfg }, store: platform.store, bus: platform.bus, logger, registry: platform.registry, clock: platform.clock }, cfg, cliKeys);
      try {
        await provider.start();
        const lines = [`Sakimori RPZ provider v${VERSION} is running. / RPZ プロバイダを起動しました。`];
        for (const e of provider.endpoints()) lines.push(`  ${e.label}: ${e.url}`);
        for (const z of cfg.zones) {
          const s = provider.zone(z.name);
          if (s) lines.push(`  zone ${s.content.name}: serial ${s.content.serial}, ${s.content.size} records, journal ${s.journal.length} version(s) (${z.file})`);
        }
        const show = (e: string | { address?: string; prefix?: string; key?: string | undefined }) => (typeof e === 'string' ? e : `${e.address ?? e.prefix} (TSIG key ${e.key ?? '-'})`);
        lines.push(`  NOTIFY: ${cfg.notify.length ? cfg.notify.map(show).join(', ') : '(none)'}   transfers allowed from: ${cfg.allowTransfer.map(show).join(', ')}`);
        lines.push('Stop with Ctrl-C.');
        process.stdout.write(`${lines.join('\n')}\n`);
        await untilStopSignal();
        logger.info('stopping');
      } finally {
        await provider.stop().catch((err: unknown) => logger.error({ err }, 'stop failed'));
        await platform.close();
      }
    });

  rpz
    .command('add')
    .description('set the action for a name in a policy zone: the SOA serial goes up by one, the change is journaled and audited')
    .requiredOption('--zone <name>', 'the policy zone (its file from rpz.zones, or --file)')
    .requiredOption('--name <fqdn...>', 'the domain(s) to act on, e.g. bad.example.com (not the name inside the zone)')
    .requiredOption('--action <action>', ACTION_HELP)
    .option('--subdomains', 'also every name under it (adds *.NAME too)')
    .option('--ttl <seconds>', 'TTL of the records (default 300)')
    .option('--file <path>', 'the zone file (default: from rpz.zones); created when it does not exist')
    .option('--json', 'print the change as JSON')
    .addHelpText('after', `
Examples:
  sakimori rpz add --zone cc.rpz.example.net --name c2.bad.example --action nxdomain --subdomains
  sakimori rpz add --zone malware.rpz.example.net --name dl.bad.example --action redirect:192.0.2.80
  sakimori rpz add --zone cc.rpz.example.net --name a.example --name b.example --action drop`)
    .action((opts: EditCliOptions, cmd: Command) => edit(cmd, opts, 'add'));

  rpz
    .command('remove')
    .description('remove a name from a policy zone (serial up by one, journaled, audited)')
    .requiredOption('--zone <name>', 'the policy zone')
    .requiredOption('--name <fqdn...>', 'the domain(s) to remove')
    .option('--subdomains', 'also remove *.NAME')
    .option('--file <path>', 'the zone file (default: from rpz.zones)')
    .option('--json', 'print the change as JSON')
    .action((opts: EditCliOptions, cmd: Command) => edit(cmd, opts, 'remove'));

  rpz
    .command('list')
    .description('the names in a policy zone and their actions')
    .requiredOption('--zone <name>', 'the policy zone')
    .option('--file <path>', 'the zone file (default: from rpz.zones)')
    .option('--json', 'print JSON')
    .action(async (opts: { zone: string; file?: string; json?: boolean }, cmd: Command) => {
      const { config } = await commandConfig(cmd);
      const r = await listZoneFile(opts.zone, zoneFile(config, opts.zone, opts.file));
      if (opts.json) return printJson(r);
      process.stdout.write(`; zone ${opts.zone}, serial ${r.serial}, ${r.rows.length} name(s)\n`);
      const w = Math.max(4, ...r.rows.map((x) => x.name.length));
      for (const x of r.rows) process.stdout.write(`${x.name.padEnd(w)}  ${x.action}\n`);
    });

  rpz
    .command('history')
    .description('the journal of a zone: each version step with what it added and removed, newest first')
    .requiredOption('--zone <name>', 'the policy zone')
    .option('--limit <n>', 'at most this many steps', '20')
    .option('--json', 'print JSON')
    .action(async (opts: { zone: string; limit: string; json?: boolean }, cmd: Command) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new SakimoriError('BAD_OPTION', `--limit ${opts.limit} is not a positive whole number`);
      const { config, logger } = await commandConfig(cmd);
      const platform = await openPlatform(config, { logger });
      try {
        const rows = await new JournalStore(platform.store).recent(opts.zone.toLowerCase().replace(/\.$/, ''), limit);
        if (opts.json) return printJson(rows.map((r) => ({ ...r, at: new Date(r.at).toISOString() })));
        if (rows.length === 0) process.stdout.write(`no journaled changes for ${opts.zone}\n`);
        for (const r of rows) {
          process.stdout.write(`${new Date(r.at).toISOString()}  ${r.fromSerial} -> ${r.toSerial}  by ${r.actor}\n`);
          for (const l of r.deletes) process.stdout.write(`  - ${l}\n`);
          for (const l of r.adds) process.stdout.write(`  + ${l}\n`);
        }
      } finally {
        await platform.close();
      }
    });
}
