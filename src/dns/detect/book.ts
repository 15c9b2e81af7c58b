/**
 * The detections list operators read (`sakimori dns detections --json`, the console, the
 * API): every PRSD mitigation, amplification entry and suspected infection, current and
 * recent, with its evidence, what was done and when. In memory and bounded: the active ones
 * plus the most recent ended ones up to `max`; ended ones older than the retention go
 * (R16). `onChange` lets a store adapter write each record through.
 */
import { newId, type Purpose } from '../../core/index.ts';
import type { ZoneChange } from '../policy/index.ts';
import type { DetectionKind } from './outputs.ts';

/**
 * mitigated: applied to the policy zone; proposed: listed for review (amplification);
 * dry-run: what would have been applied; observation-emitted: suspected infection handed
 * to the cases pipeline; never-block: detected, but the subject is on the never-block
 * list so nothing was done; failed: the policy zone refused the change (see `error`).
 */
export type DetectionAction = 'mitigated' | 'proposed' | 'dry-run' | 'observation-emitted' | 'never-block' | 'failed';

export interface Detection {
  id: string;
  kind: DetectionKind;
  /** The zone (prsd), the FQDN (amplification) or the client address (suspected-infection). */
  subject: string;
  /** Why this record exists and who may read it (R16). */
  purpose: Purpose;
  action: DetectionAction;
  startedAt: string;
  updatedAt: string;
  endedAt?: string;
  endReason?: string;
  evidence: Record<string, unknown>;
  /** The policy change applied, proposed or that would have been applied. */
  change?: ZoneChange;
  confidence: number;
  observationId?: string;
  error?: string;
}

export interface DetectionQuery {
  kind?: DetectionKind;
  /** Only detections still in force (no endedAt). */
  active?: boolean;
  limit?: number;
}

export function purposeOfDetection(kind: DetectionKind): Purpose {
  return kind === 'suspected-infection' ? 'infection-notice' : 'dns-abuse-mitigation';
}

export class DetectionBook {
  private readonly records = new Map<string, Detection>(); // insertion order = start order
  private readonly open = new Map<string, string>(); // kind \0 subject -> id

  constructor(private readonly opts: { max: number; retentionMs: number; onChange?: (d: Detection) => void }) {}

  get size(): number {
    return this.records.size;
  }

  start(input: Omit<Detection, 'id' | 'updatedAt' | 'purpose'>): Detection {
    const d: Detection = { id: newId('det'), purpose: purposeOfDetection(input.kind), updatedAt: input.startedAt, ...input };
    this.records.set(d.id, d);
    if (d.endedAt === undefined) this.open.set(openKey(d.kind, d.subject), d.id);
    this.trim();
    this.opts.onChange?.(d);
    return d;
  }

  /** The detection of this kind and subject still in force, if any. */
  current(kind: DetectionKind, subject: string): Detection | undefined {
    const id = this.open.get(openKey(kind, subject));
    return id === undefined ? undefined : this.records.get(id);
  }

  update(id: string, at: string, patch: Partial<Pick<Detection, 'evidence' | 'action' | 'error' | 'observationId'>>): void {
    const d = this.records.get(id);
    if (!d) return;
    if (patch.evidence) d.evidence = { ...d.evidence, ...patch.evidence };
    if (patch.action) d.action = patch.action;
    if (patch.error !== undefined) d.error = patch.error;
    if (patch.observationId !== undefined) d.observationId = patch.observationId;
    d.updatedAt = at;
    this.opts.onChange?.(d);
  }

  end(id: string, at: string, reason: string, evidence?: Record<string, unknown>): void {
    const d = this.records.get(id);
    if (!d || d.endedAt !== undefined) return;
    d.endedAt = at;
    d.updatedAt = at;
    d.endReason = reason;
    if (evidence) d.evidence = { ...d.evidence, ...evidence };
    this.open.delete(openKey(d.kind, d.subject));
    this.opts.onChange?.(d);
  }

  /** Newest first. */
  list(q: DetectionQuery = {}): Detection[] {
    const out: Detection[] = [];
    const all = [...this.records.values()];
    for (let i = all.length - 1; i >= 0 && out.length < (q.limit ?? Infinity); i--) {
      const d = all[i]!;
      if (q.kind !== undefined && d.kind !== q.kind) continue;
      if (q.active === true && d.endedAt !== undefined) continue;
      if (q.active === false && d.endedAt === undefined) continue;
      out.push(d);
    }
    return out;
  }

  get(id: string): Detection | undefined {
    return this.records.get(id);
  }

  /** Drops ended records past the retention. */
  purge(now: number): number {
    let n = 0;
    for (const [id, d] of this.records) {
      if (d.endedAt !== undefined && now - Date.parse(d.endedAt) > this.opts.retentionMs) {
        this.records.delete(id);
        n++;
      }
    }
    return n;
  }

  private trim(): void {
    if (this.records.size <= this.opts.max) return;
    for (const [id, d] of this.records) {
      if (this.records.size <= this.opts.max) break;
      if (d.endedAt !== undefined) this.records.delete(id);
    }
  }
}

function openKey(kind: DetectionKind, subject: string): string {
  return `${kind}\0${subject}`;
}
