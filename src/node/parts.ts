import type { Part } from '../core/index.ts';
import type { Platform } from './platform.ts';

/**
 * The capabilities a node runs, each as a Part. A new capability (DNS
 * firewall, RADIUS accounting, detectors, ...) adds one line here, building
 * its part from the platform pieces it needs.
 */
export function buildCapabilityParts(_platform: Platform): Part[] {
  return [];
}
