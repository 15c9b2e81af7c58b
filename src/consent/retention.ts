import type { RetentionRule } from '../privacy/index.ts';

/** Old choices go after their retention, but never the one that is in force (R16: minimal, yet the current choice must hold). */
export const consentRetentionRules: RetentionRule[] = [
  { name: 'consent history', table: 'consent_events', key: 'id', timeColumn: 'at', purpose: 'consent', where: 'id NOT IN (SELECT event_id FROM consent_state)' },
];
