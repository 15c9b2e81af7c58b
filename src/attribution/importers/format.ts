/**
 * What every importer is: a line parser that turns one file's lines into
 * sessions (finished records, or events to pair), reporting bad lines by
 * number. One small file per format, like a BGPalerter connector.
 */
import type { SessionEvent } from '../events.ts';
import type { SessionRecord } from '../session.ts';

export interface ImportOptions {
  /** The NAS / DHCP server / CGNAT box to file sessions under when the source does not name one. */
  nas?: string | undefined;
  /** Minutes east of UTC, for times written without an offset (--utc-offset). */
  utcOffsetMin?: number | undefined;
  /** The year of BSD syslog times, which have none (--year). */
  year?: number | undefined;
}

export interface ImportSink {
  /** A session as the source states it (a radacct row, a lease, a port block). */
  record(r: SessionRecord): void;
  /** A RADIUS-style event to pair with others (detail files, CGNAT allocate/release logs). */
  event(e: SessionEvent): void;
  /** A line that is wrong: it is skipped and reported as file:line: message. */
  bad(line: number, message: string): void;
  /** A line that is fine but holds nothing to import (an Access-Request in a detail file, a free lease). */
  skip(reason: string): void;
}

export interface LineParser {
  line(text: string, lineNo: number): void;
  end(): void;
}

export interface ImportFormat {
  name: string;
  /** One line for --help. */
  summary: string;
  open(ctx: { file: string; options: ImportOptions; sink: ImportSink }): LineParser;
}

/** The default NAS name for a file: "dhcpd:dhcpd.leases". */
export function fileNas(prefix: string, file: string, options: ImportOptions): string {
  return options.nas ?? `${prefix}:${file.split('/').pop()}`;
}
