import type { Observation } from '../core/index.ts';
import type { ActorContext, CaseBook, IngestResult } from './case-book.ts';
import type { OpenedReport } from './importers/index.ts';

/** What an import did, for the operator and `--json`. */
export interface ReportImportSummary {
  description: string;
  unit: 'line' | 'report';
  observations: number;
  /** Lines that could not be read, by number (the first 1000; `badLineCount` counts all). */
  badLines: { line: number; error: string }[];
  badLineCount: number;
  /** Well-formed entries that lead to no notice. */
  skipped: { line: number; reason: string }[];
  skippedCount: number;
  result: IngestResult;
}

const KEEP = 1000;

export function emptyIngestResult(): IngestResult {
  return { received: 0, duplicates: 0, refused: [], findings: 0, attributed: 0, unattributed: {}, opened: 0, attached: 0, reopened: 0, due: [] };
}

export function mergeIngest(into: IngestResult, r: IngestResult): void {
  into.received += r.received;
  into.duplicates += r.duplicates;
  into.refused.push(...r.refused);
  into.findings += r.findings;
  into.attributed += r.attributed;
  for (const [k, v] of Object.entries(r.unattributed) as [keyof IngestResult['unattributed'], number][]) into.unattributed[k] = (into.unattributed[k] ?? 0) + v;
  into.opened += r.opened;
  into.attached += r.attached;
  into.reopened += r.reopened;
  into.due.push(...r.due);
}

/** Reads a report through and hands its observations to the case book in batches. */
export async function importReport(report: OpenedReport, book: CaseBook, ctx: ActorContext & { batchSize?: number }): Promise<ReportImportSummary> {
  const summary: ReportImportSummary = { description: report.description, unit: report.unit, observations: 0, badLines: [], badLineCount: 0, skipped: [], skippedCount: 0, result: emptyIngestResult() };
  const batchSize = ctx.batchSize ?? 2000;
  let batch: Observation[] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    mergeIngest(summary.result, await book.ingest(batch, ctx));
    batch = [];
  };
  for await (const item of report.items) {
    if ('observation' in item) {
      summary.observations++;
      batch.push(item.observation);
      if (batch.length >= batchSize) await flush();
    } else if ('error' in item) {
      summary.badLineCount++;
      if (summary.badLines.length < KEEP) summary.badLines.push({ line: item.line, error: item.error });
    } else {
      summary.skippedCount++;
      if (summary.skipped.length < KEEP) summary.skipped.push({ line: item.line, reason: item.skipped });
    }
  }
  await flush();
  return summary;
}
