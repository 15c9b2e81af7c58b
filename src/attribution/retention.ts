import type { RetentionRule } from '../privacy/index.ts';

/**
 * Sessions are kept as long as subscriber-attribution's retention
 * (privacy.retention.subscriber-attribution), counted from their last event,
 * so a session that lasted months is kept from its end, not its start. Open
 * sessions are never purged: their subscriber still holds the address.
 */
export const attributionRetention: readonly RetentionRule[] = [
  { name: 'attribution sessions', table: 'attribution_sessions', key: 'id', timeColumn: 'last_seen', purpose: 'subscriber-attribution', where: 'end_at IS NOT NULL' },
];
