import type { Part } from '../core/index.ts';
import { SubscriberPortal, type PortalDeps } from './portal/portal.ts';
import { OperatorConsole, type ConsoleDeps } from './console/console.ts';

export { HttpServer } from './http-server.ts';
export type { HealthReport, HttpServerOptions } from './http-server.ts';
export { SubscriberPortal, type PortalDeps } from './portal/portal.ts';
export { DnsProtectionSwitch, type SubscriberAddresses, type SubscriberFollower, type ConsentPort } from './portal/dns-protection.ts';
export { OperatorConsole, type ConsoleDeps, type AddressLookup } from './console/console.ts';
export { OperatorTokens } from './console/operators.ts';

/** The subscriber portal (/n/{token}) and the operator console (/console/), as the node's parts. */
export function webParts(deps: PortalDeps & ConsoleDeps): Part[] {
  return [new SubscriberPortal(deps), new OperatorConsole(deps)];
}
