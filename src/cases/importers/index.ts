import { SakimoriError } from '../../core/index.ts';
import { openShadowserver } from './shadowserver.ts';
import { openSimpleCsv } from './simple-csv.ts';
import { openXarf } from './xarf.ts';
import type { OpenedReport, Progress } from './source.ts';
import { REPORT_FORMATS } from './formats.ts';

export { REPORT_FORMATS, type ReportFormat } from './formats.ts';

/** Opens a report file of a format; throws with what is wrong before any line is read (unknown type, bad header comes on first read). */
export function openReport(format: string, path: string, opts: { type?: string; onProgress?: Progress } = {}): OpenedReport {
  switch (format) {
    case 'shadowserver':
      return openShadowserver(path, opts);
    case 'xarf':
      return openXarf(path);
    case 'notice':
    case 'cc-log':
      return openSimpleCsv(format, path, opts.onProgress ? { onProgress: opts.onProgress } : {});
    default:
      throw new SakimoriError('IMPORT_FORMAT', `--format ${format} is not a report format`, { hint: `one of: ${REPORT_FORMATS.join(', ')}` });
  }
}

export type { OpenedReport, Progress, ReportItem } from './source.ts';
export { reportTypeFromFileName, shadowserverObservation, SHADOWSERVER_REPORTS } from './shadowserver.ts';
export { xarfObservation } from './xarf.ts';
export { simpleRows, SIMPLE_CSV_FORMATS } from './simple-csv.ts';
