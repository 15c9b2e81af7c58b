/**
 * Cases: reports in, cases out, notices sent (R1, R3, R5, R9, R16).
 * See README.md for what may be imported from here and what this imports.
 */
import type { Store } from '../store/index.ts';
import type { AuditLog } from '../privacy/index.ts';
import type { Bus } from '../bus/index.ts';
import type { Config } from '../config/index.ts';
import type { Logger } from '../telemetry/index.ts';
import { systemClock, type Clock, type Part } from '../core/index.ts';
import { CaseBook } from './case-book.ts';
import { SubscriberDirectory } from './subscribers.ts';
import { NoticeBook, NoticeSender, SmtpMailer, type ConsentLookup, type Mailer } from './notices.ts';
import { NoticeSchedule, ObservationIntake } from './parts.ts';
import type { SubscriberLocator } from './locator.ts';

export * from './model.ts';
export { withEvidence, transition, type CaseState, type EvidenceOutcome, type Transition } from './lifecycle.ts';
export { planNotices, type NoticePacing, type NoticePlan, type PendingSubscriber, type PlannedNotice } from './notice-plan.ts';
export { InMemoryLocator, type InMemorySession, type LocateResult, type SubscriberLocator } from './locator.ts';
export { CaseBook, type IngestResult, type ActorContext, type CaseBookOptions } from './case-book.ts';
export { SubscriberDirectory, SUBSCRIBER_COLUMNS, subscriberFromFields, type SubscriberImportResult } from './subscribers.ts';
export { NoticeBook, NoticeSender, SmtpMailer, tokenHash, type ConsentLookup, type Mailer, type Notice, type NoticeSettings, type SendReport, type SmtpSettings } from './notices.ts';
export { loadTemplates, renderNotice, TEMPLATE_DIR, type NoticeTemplates } from './notice-text.ts';
export { importReport, type ReportImportSummary } from './report-import.ts';
export { openReport, REPORT_FORMATS, SHADOWSERVER_REPORTS, reportTypeFromFileName, type ReportFormat, type OpenedReport, type ReportItem, type Progress } from './importers/index.ts';
export { ObservationIntake, NoticeSchedule, OBSERVATIONS_TOPIC } from './parts.ts';
export { casesMigrations, casesRetentionRules } from './migrations.ts';

export interface CasesDeps {
  store: Store;
  audit: AuditLog;
  locator: SubscriberLocator;
  config: Pick<Config, 'notify' | 'cases'>;
  clock?: Clock;
  /** Default: SMTP to notify.smtp. */
  mailer?: Mailer;
  /** The consent registry: a C&C notice to a subscriber who opted out says blocking is stopped (R1). */
  consent?: ConsentLookup;
}

/** The pieces of cases, wired: for CLI commands and the node. */
export interface Cases {
  subscribers: SubscriberDirectory;
  book: CaseBook;
  notices: NoticeBook;
  sender: NoticeSender;
  mailer: Mailer;
}

export function createCases(deps: CasesDeps): Cases {
  const clock = deps.clock ?? systemClock;
  const n = deps.config.notify;
  const subscribers = new SubscriberDirectory(deps.store, deps.audit, { clock });
  const book = new CaseBook(deps.store, deps.audit, deps.locator, { clock, addressSpace: deps.config.cases.addressSpace });
  const mailer = deps.mailer ?? new SmtpMailer(n.smtp);
  const sender = new NoticeSender(
    { store: deps.store, audit: deps.audit, cases: book, subscribers, mailer, consent: deps.consent },
    { organization: n.organization, portalUrl: n.portalUrl, pacing: { cooldownMs: n.cooldown, batchWindowMs: n.batchWindow, retryIntervalMs: n.retryInterval } },
    { clock },
  );
  return { subscribers, book, notices: new NoticeBook(deps.store, deps.audit), sender, mailer };
}

/** The node's parts: the bus intake of detector observations, and the notice schedule. */
export function createCasesParts(cases: Cases, deps: { bus: Pick<Bus, 'subscribe'> | undefined; logger: Logger; config: Pick<Config, 'notify'> }): Part[] {
  const n = deps.config.notify;
  const parts: Part[] = [];
  if (deps.bus) parts.push(new ObservationIntake(deps.bus, cases.book, deps.logger));
  parts.push(new NoticeSchedule(cases.sender, { intervalMs: n.interval, enabled: n.enabled, logger: deps.logger, describeSmtp: `${n.smtp.host}:${n.smtp.port}` }));
  return parts;
}
