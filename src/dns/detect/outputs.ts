import type { ZoneChange } from '../policy/index.ts';

export type DetectionKind = 'prsd' | 'amplification' | 'suspected-infection';

/**
 * What a detector decided, for the adapter to act on (apply a zone change, publish an
 * Observation, record it in the book). Engines return these from tick(); they never act.
 */
export type DetectorOutput =
  | {
      type: 'start';
      kind: DetectionKind;
      subject: string;
      at: number;
      evidence: Record<string, unknown>;
      /**
       * 'apply': `change` should go into the policy zone now; 'dry-run' / 'propose': only
       * reported; 'never-block': the subject is on the never-block list, nothing to do;
       * 'observe': an Observation only (suspected infection).
       */
      disposition: 'apply' | 'dry-run' | 'propose' | 'never-block' | 'observe';
      change?: ZoneChange;
      /** The change that withdraws `change` (at the end, or on stop). */
      undo?: ZoneChange;
      confidence: number;
    }
  | { type: 'update'; kind: DetectionKind; subject: string; at: number; evidence: Record<string, unknown> }
  | { type: 'end'; kind: DetectionKind; subject: string; at: number; evidence: Record<string, unknown>; reason: string };
