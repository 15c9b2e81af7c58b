import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Transporter } from 'nodemailer';
import type { Store } from '../store/index.ts';
import type { AuditLog } from '../privacy/index.ts';
import { newId, SakimoriError, systemClock, type Clock, type Purpose } from '../core/index.ts';
import { toCase, type CaseBook, type ActorContext } from './case-book.ts';
import type { SubscriberDirectory } from './subscribers.ts';
import type { Case, FindingClass } from './model.ts';
import { planNotices, type NoticePacing, type NoticePlan } from './notice-plan.ts';
import { loadTemplates, renderNotice, type NoticeTemplates } from './notice-text.ts';

/** Whether a subscriber opted out of DNS protection (ConsentRegistry fits), so the C&C notice says the truth (R1). */
export interface ConsentLookup {
  choiceOf(scope: 'subscriber', subject: string): Promise<'opt-out' | 'opt-in' | undefined>;
}

/** The mail port: one message out. */
export interface Mailer {
  send(msg: { to: string; subject: string; text: string; headers?: Record<string, string> }): Promise<{ messageId: string }>;
  close?(): void;
}

export interface SmtpSettings {
  host: string;
  port: number;
  from: string;
  secure: boolean;
  user: string;
  passwordFile: string;
}

/** Sends through an SMTP server (the ISP's relay) with nodemailer; STARTTLS when the server offers it. */
export class SmtpMailer implements Mailer {
  private transport: Transporter | undefined;
  constructor(private readonly smtp: SmtpSettings) {}

  /**
   * Built on first use, so commands that send nothing never read the password file, and
   * nodemailer (~12 MiB) is loaded only by a process that sends.
   */
  private async transporter(): Promise<Transporter> {
    if (this.transport) return this.transport;
    const smtp = this.smtp;
    let pass: string | undefined;
    if (smtp.passwordFile) {
      try {
        pass = readFileSync(smtp.passwordFile, 'utf8').trim();
      } catch (err) {
        throw new SakimoriError('NOTIFY_SMTP_PASSWORD', `notify.smtp.passwordFile: cannot read ${smtp.passwordFile}: ${(err as Error).message}`);
      }
    }
    const { default: nodemailer } = await import('nodemailer');
    // Two first sends may both get here: the first transport built is the one kept.
    this.transport ??= nodemailer.createTransport({
      host: smtp.host,
      port: smtp.port,
      secure: smtp.secure,
      ...(smtp.user ? { auth: { user: smtp.user, pass: pass ?? '' } } : {}),
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 30_000,
    });
    return this.transport;
  }

  async send(msg: { to: string; subject: string; text: string; headers?: Record<string, string> }): Promise<{ messageId: string }> {
    try {
      const info = (await (await this.transporter()).sendMail({ from: this.smtp.from, to: msg.to, subject: msg.subject, text: msg.text, ...(msg.headers ? { headers: msg.headers } : {}) })) as { messageId: string };
      return { messageId: info.messageId };
    } catch (err) {
      if (err instanceof SakimoriError) throw err;
      throw new SakimoriError('NOTIFY_SMTP', `SMTP ${this.smtp.host}:${this.smtp.port} did not take the notice: ${(err as Error).message}`, {
        hint: 'check notify.smtp.host and notify.smtp.port; the notice is tried again after notify.retryInterval',
        cause: err,
      });
    }
  }

  close(): void {
    this.transport?.close();
  }
}

export interface Notice {
  id: string;
  subscriberId: string;
  purpose: Purpose;
  email: string;
  status: 'sending' | 'sent' | 'failed';
  createdAt: number;
  sentAt: number | null;
  error: string | null;
  messageId: string | null;
  subject: string;
  body: string;
  cases: { caseId: string; class: FindingClass; escalation: number }[];
}

interface NoticeRow {
  id: string;
  subscriber_id: string;
  purpose: string;
  email: string;
  status: string;
  created_at: number;
  sent_at: number | null;
  error: string | null;
  message_id: string | null;
  subject: string;
  body: string;
}

export interface NoticeSettings {
  organization: string;
  portalUrl: string;
  pacing: NoticePacing;
}

export interface SendReport {
  sent: { noticeId: string; subscriberId: string; caseIds: string[] }[];
  failed: { noticeId: string; subscriberId: string; caseIds: string[]; error: string }[];
  held: NoticePlan['held'];
}

export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

const URGENCY: readonly FindingClass[] = ['credential-abuse', 'cc-infection', 'weak-iot-password', 'exposed-router-admin', 'open-resolver'];

/**
 * Notices: who is due one (cool-down and batching, notice-plan.ts), the mail
 * (notice-text.ts), the send, and the record. Each notice carries a link
 * with an unguessable token; only the token's SHA-256 is stored, so the
 * notices table does not hold working links. Every notice, sent or failed, is
 * audited once per case it covers, under that case's purpose.
 */
export class NoticeSender {
  private readonly clock: Clock;
  private readonly templates: NoticeTemplates;

  constructor(
    private readonly deps: { store: Store; audit: AuditLog; cases: CaseBook; subscribers: SubscriberDirectory; mailer: Mailer; consent?: ConsentLookup | undefined },
    private readonly settings: NoticeSettings,
    opts: { clock?: Clock; templates?: NoticeTemplates } = {},
  ) {
    this.clock = opts.clock ?? systemClock;
    this.templates = opts.templates ?? loadTemplates();
  }

  /** Sends every notice that is due now. `skipBatching` sends without waiting out the batch window (the cool-down still holds). */
  async runOnce(ctx: ActorContext & { skipBatching?: boolean }): Promise<SendReport> {
    const now = this.clock.now();
    const pacing = ctx.skipBatching ? { ...this.settings.pacing, batchWindowMs: 0 } : this.settings.pacing;
    const plan = planNotices(await this.deps.cases.pending(), now, pacing);
    const report: SendReport = { sent: [], failed: [], held: plan.held };
    for (const p of plan.send) {
      const r = await this.sendTo(p.subscriberId, p.caseIds, ctx);
      if (!r) continue;
      if (r.status === 'sent') report.sent.push({ noticeId: r.noticeId, subscriberId: p.subscriberId, caseIds: r.caseIds });
      else report.failed.push({ noticeId: r.noticeId, subscriberId: p.subscriberId, caseIds: r.caseIds, error: r.error ?? '' });
    }
    return report;
  }

  private async sendTo(subscriberId: string, caseIds: string[], ctx: ActorContext): Promise<{ noticeId: string; status: 'sent' | 'failed'; caseIds: string[]; error?: string } | undefined> {
    const { store, audit, cases: book, subscribers, mailer } = this.deps;
    const subscriber = await subscribers.byId(subscriberId);
    const cases = (await book.casesByIds(caseIds)).filter((c) => c.status === 'new');
    if (cases.length === 0) return undefined;
    cases.sort((a, b) => URGENCY.indexOf(a.class) - URGENCY.indexOf(b.class));
    const now = this.clock.now();
    const noticeId = newId('ntc', now);
    const token = randomBytes(32).toString('base64url');
    const link = `${this.settings.portalUrl.replace(/\/+$/, '')}/n/${token}`;
    const withFindings = await Promise.all(cases.map(async (c) => ({ case: c, findings: await book.latestFindings(c.id, 5) })));
    const sub = subscriber ?? { id: subscriberId, login: '', name: '', email: '', language: 'ja', prefecture: '' };
    const dnsProtection = (await this.deps.consent?.choiceOf('subscriber', subscriberId)) === 'opt-out' ? 'off' : 'on';
    const { subject, text } = renderNotice(this.templates, { subscriber: sub, cases: withFindings, organization: this.settings.organization, portalUrl: link, dnsProtection });
    const purpose = cases[0]!.purpose;
    await store.transaction(async (tx) => {
      await tx.run('INSERT INTO notices (id, token_hash, subscriber_id, purpose, email, status, created_at, sent_at, error, message_id, subject, body) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, NULL, ?, ?)', [
        // The stored copy has no working link: only the token's hash is kept.
        noticeId, tokenHash(token), subscriberId, purpose, sub.email, 'sending', now, subject, text.replaceAll(token, '[token]'),
      ]);
      for (const c of cases) {
        await tx.run('INSERT INTO notice_cases (id, notice_id, case_id, class, purpose, escalation, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)', [newId('ncs', now), noticeId, c.id, c.class, c.purpose, c.escalation, now]);
      }
    });
    let error: string | undefined;
    let messageId: string | undefined;
    if (!sub.email) error = subscriber ? `subscriber ${subscriberId} has no e-mail address` : `subscriber ${subscriberId} is not in the subscriber list`;
    else {
      try {
        messageId = (await mailer.send({ to: sub.email, subject, text, headers: { 'X-Sakimori-Notice': noticeId } })).messageId;
      } catch (err) {
        error = (err as Error).message;
      }
    }
    const at = this.clock.now();
    await store.transaction(async (tx) => {
      if (error === undefined) {
        await tx.run("UPDATE notices SET status = 'sent', sent_at = ?, message_id = ? WHERE id = ?", [at, messageId ?? null, noticeId]);
        await book.markNotified(tx, cases.map((c) => c.id), noticeId, ctx);
      } else {
        await tx.run("UPDATE notices SET status = 'failed', error = ? WHERE id = ?", [error, noticeId]);
      }
    });
    for (const c of cases) {
      await audit.append({
        actor: ctx.actor,
        action: 'notice',
        purpose: c.purpose,
        subject: `case/${c.id}`,
        detail: { notice: noticeId, subscriber: subscriberId, class: c.class, escalation: c.escalation, status: error === undefined ? 'sent' : 'failed', channel: 'e-mail' },
      });
    }
    return error === undefined ? { noticeId, status: 'sent', caseIds: cases.map((c) => c.id) } : { noticeId, status: 'failed', caseIds: cases.map((c) => c.id), error };
  }
}

/**
 * Reading notices back: by the token in a notice's link (the subscriber
 * portal's entry point) or by id (operators). Each read is audited.
 */
export class NoticeBook {
  constructor(private readonly store: Store, private readonly audit: AuditLog) {}

  /** The notice a link's token belongs to; undefined for an unknown token (no hint whether it ever existed). */
  async byToken(token: string, ctx: ActorContext): Promise<{ notice: Notice; cases: Case[] } | undefined> {
    if (!/^[A-Za-z0-9_-]{20,100}$/.test(token)) return undefined;
    const row = await this.store.get<NoticeRow>('SELECT * FROM notices WHERE token_hash = ?', [tokenHash(token)]);
    if (!row) return undefined;
    return this.withCases(row, ctx, 'token');
  }

  async byId(id: string, ctx: ActorContext): Promise<{ notice: Notice; cases: Case[] } | undefined> {
    const row = await this.store.get<NoticeRow>('SELECT * FROM notices WHERE id = ?', [id]);
    if (!row) return undefined;
    return this.withCases(row, ctx, 'id');
  }

  /** Notices of a subscriber, newest first (without reading them out: no audit entry per body). */
  async ofSubscriber(subscriberId: string, ctx: ActorContext): Promise<Omit<Notice, 'body'>[]> {
    const rows = await this.store.all<NoticeRow>('SELECT * FROM notices WHERE subscriber_id = ? ORDER BY created_at DESC, id DESC', [subscriberId]);
    const out = [];
    for (const r of rows) {
      const { body: _b, ...rest } = await this.toNotice(r);
      out.push(rest);
    }
    await this.audit.append({ actor: ctx.actor, action: 'read', purpose: rows[0] ? (rows[0].purpose as Purpose) : 'operations', subject: `subscriber/${subscriberId}/notices`, detail: { count: rows.length } });
    return out;
  }

  private async withCases(row: NoticeRow, ctx: ActorContext, by: 'token' | 'id'): Promise<{ notice: Notice; cases: Case[] }> {
    const notice = await this.toNotice(row);
    const ids = notice.cases.map((c) => c.caseId);
    const cases = ids.length ? (await this.store.all<Parameters<typeof toCase>[0]>(`SELECT * FROM cases WHERE id IN (${ids.map(() => '?').join(',')}) ORDER BY id`, ids)).map(toCase) : [];
    const purposes = new Set<Purpose>(notice.cases.length ? cases.map((c) => c.purpose) : [notice.purpose]);
    for (const purpose of purposes) await this.audit.append({ actor: ctx.actor, action: 'read', purpose, subject: `notice/${notice.id}`, detail: { by } });
    return { notice, cases };
  }

  private async toNotice(r: NoticeRow): Promise<Notice> {
    const links = await this.store.all<{ case_id: string; class: string; escalation: number }>('SELECT case_id, class, escalation FROM notice_cases WHERE notice_id = ? ORDER BY case_id', [r.id]);
    return {
      id: r.id,
      subscriberId: r.subscriber_id,
      purpose: r.purpose as Purpose,
      email: r.email,
      status: r.status as Notice['status'],
      createdAt: Number(r.created_at),
      sentAt: r.sent_at === null ? null : Number(r.sent_at),
      error: r.error,
      messageId: r.message_id,
      subject: r.subject,
      body: r.body,
      cases: links.map((l) => ({ caseId: l.case_id, class: l.class as FindingClass, escalation: Number(l.escalation) })),
    };
  }
}
