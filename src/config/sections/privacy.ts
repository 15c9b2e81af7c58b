import { PURPOSE_NAMES, type Purpose } from '../../core/purpose.ts';
import { duration, section } from '../fields.ts';

/**
 * Default retention per purpose (R16). Typed as a full Record so that a purpose
 * added to src/core/purpose.ts does not compile until it has a retention here.
 * Short where the data is raw communication data (DNS lookups), longer where
 * a case, a notice or a consent record must be answerable later.
 */
export const DEFAULT_RETENTION: Record<Purpose, string> = {
  'cc-blocking': '30d',
  'dns-abuse-mitigation': '7d',
  'infection-notice': '90d',
  'router-survey-notice': '90d',
  'credential-abuse': '90d',
  'subscriber-attribution': '90d',
  'ddos-response': '90d',
  'routing-incident': '365d',
  'honeypot-research': '180d',
  'hub-sharing': '365d',
  'consent': '1825d',
  'operations': '365d',
};

type RetentionShape = { [P in Purpose]: ReturnType<typeof retentionOf> };

function retentionOf(p: Purpose) {
  return duration().prefault(DEFAULT_RETENTION[p]);
}

const retentionShape = Object.fromEntries(PURPOSE_NAMES.map((p) => [p, retentionOf(p)])) as RetentionShape;

/** Purpose-bound retention and the timers of the purge and the audit log. */
export const privacy = section({
  retention: section(retentionShape, {
    keyNoun: 'purpose',
    keyList: 'purposes are a closed list, see src/core/purpose.ts',
  }),
  purgeInterval: duration().prefault('1h'),
  /** 0ms writes each audit entry at once. */
  auditFlushInterval: duration({ allowZero: true }).prefault('200ms'),
});
