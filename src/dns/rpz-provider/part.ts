/**
 * The provider as a part of the node (`sakimori start`, when `rpz.zones` lists zones) and
 * of `sakimori rpz serve`, built from the `rpz:` config section.
 */
import { parseListenAddress, SakimoriError, type Clock, type HostPort, type Part } from '../../core/index.ts';
import type { Bus } from '../../bus/index.ts';
import type { Store } from '../../store/index.ts';
import type { Registry } from '../../telemetry/index.ts';
import { tsigKeyByName as keyRef, tsigKeysFromConfig, type TsigKey, type TsigKeyConfig, type XfrLogger } from '../zone-transfer/index.ts';
import type { TransferAllow } from './server.ts';
import { JournalStore } from './journal.ts';
import { RpzProvider, type ProvidedZone } from './provider.ts';

/** The rpz section of the config, as parsed (durations in ms). */
export interface RpzConfig {
  listen: string;
  zones: readonly ProvidedZone[];
  notify: readonly (string | { address: string; key?: string | undefined })[];
  allowTransfer: readonly TransferAllow[];
  watchInterval: number;
  notifyRetries: number;
  notifyRetryInterval: number;
}

export interface RpzPartDeps {
  config: { rpz: RpzConfig; node?: { name: string }; tsig?: { keys: readonly TsigKeyConfig[] } };
  store: Store;
  bus?: Pick<Bus, 'subscribe'> | undefined;
  logger: XfrLogger;
  registry?: Registry;
  clock?: Clock;
}

export function address(s: string, key: string): HostPort {
  const r = parseListenAddress(s);
  if ('error' in r) throw new SakimoriError('RPZ_ADDRESS', `${key} "${s}" ${r.error}`);
  return r;
}

export function rpzProvider(deps: RpzPartDeps, rpz: RpzConfig = deps.config.rpz, extraKeys: readonly TsigKey[] = []): RpzProvider {
  const keys = tsigKeysFromConfig(deps.config.tsig?.keys, extraKeys);
  return new RpzProvider({
    listen: address(rpz.listen, 'rpz.listen'),
    zones: rpz.zones,
    notify: rpz.notify.map((n, i) => {
      if (typeof n === 'string') return address(n, `rpz.notify[${i}]`);
      return { ...address(n.address, `rpz.notify[${i}].address`), ...(n.key ? { key: keyRef(keys, n.key, `rpz.notify[${i}]`) } : {}) };
    }),
    allowTransfer: rpz.allowTransfer.map((e, i) => (typeof e === 'string' || e.key === undefined ? e : { prefix: e.prefix, key: keyRef(keys, e.key, `rpz.allowTransfer[${i}]`).name })),
    keys,
    journalStore: new JournalStore(deps.store),
    ...(deps.bus ? { bus: deps.bus, busConsumer: `rpz-provider-${deps.config.node?.name ?? 'node'}` } : {}),
    logger: deps.logger,
    ...(deps.clock ? { clock: deps.clock } : {}),
    watchIntervalMs: rpz.watchInterval,
    notifyRetries: rpz.notifyRetries,
    notifyFirstIntervalMs: rpz.notifyRetryInterval,
    ...(deps.registry ? { registry: deps.registry } : {}),
  });
}

/** The node's RPZ provider part: none when no zones are configured. */
export function rpzProviderParts(deps: RpzPartDeps): Part[] {
  return deps.config.rpz.zones.length === 0 ? [] : [rpzProvider(deps)];
}
