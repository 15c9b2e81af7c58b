/** The report formats `openReport` reads: apart, so `sakimori --help` lists them without loading the importers (ajv). */
export const REPORT_FORMATS = ['shadowserver', 'xarf', 'notice', 'cc-log'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];
