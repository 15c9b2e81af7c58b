import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { formatHostPort, SakimoriError, systemClock, type Clock, type Endpoint, type Part, type PartHealth } from '../../core/index.ts';
import { CASE_STATUSES, FINDING_CLASSES, type CaseBook, type CaseStatus, type FindingClass, type NoticeBook, type SubscriberDirectory } from '../../cases/index.ts';
import type { ConsentEvent, ConsentRegistry, ConsentScope } from '../../consent/index.ts';
import { canonicalSubject } from '../../consent/index.ts';
import { LOOKUP_PURPOSES, parseTime, type LookupRequest, type LookupResult } from '../../attribution/index.ts';
import type { AuditEntryInput } from '../../privacy/index.ts';
import type { Logger } from '../../telemetry/index.ts';
import { FormTokens, parseForm, sameOriginRequest, seeOther, sendPage } from '../page/security.ts';
import { RateLimiter } from '../page/rate-limit.ts';
import { OperatorTokens, type Operator } from './operators.ts';
import { attributionPage, caseListPage, casePage, consentPage, consoleMessagePage, detectionsPage, unauthorizedPage, type AttributionView, type ConsoleDetection } from './views.ts';

/**
 * The operator console (`/console/...`): the case queue, a case with its
 * evidence and notice history, acknowledge/resolve, the attribution look-up
 * and the consent history. Never open: every request carries an operator's
 * token (HTTP Basic or Bearer, web.console.tokenFile), and every read and
 * change is audited under the operator's name (R16). Server-rendered HTML,
 * forms with form tokens, no script.
 */

/** Attribution's look-up (Attribution fits): purpose-bound and audited by attribution itself. */
export interface AddressLookup {
  lookup(req: LookupRequest): Promise<LookupResult>;
}

export interface ConsoleDeps {
  cases: Pick<CaseBook, 'cases' | 'caseById' | 'acknowledge' | 'resolve'>;
  notices: Pick<NoticeBook, 'ofSubscriber'>;
  subscribers: Pick<SubscriberDirectory, 'byId' | 'byLogin'>;
  consent: Pick<ConsentRegistry, 'history' | 'optedOut'>;
  /** Undefined when the node has no attribution index: the form says so. */
  lookup?: AddressLookup | undefined;
  audit: { append(entry: AuditEntryInput): Promise<void> };
  /** The node's DNS detections (src/dns listDetections fits; it audits the read). Undefined: the page says there are none here. */
  detections?: { list(q: { actor: string; kind?: ConsoleDetection['kind']; active?: boolean; limit?: number }): Promise<ConsoleDetection[]> } | undefined;
  /** web.console.tokenFile */
  tokenFile: string;
  logger: Logger;
  clock?: Clock;
  /** Failed logins per client address before it must wait (default 30 per 15 minutes). */
  loginFailureLimit?: { limit: number; windowMs: number };
  formKey?: Buffer;
}

const HTML = { description: 'an HTML page (Japanese and English labels)', content: { 'text/html': { schema: { type: 'string' } } } } as const;
const LIST_LIMIT = 500;
const CONSENT_SHOWN = 200;

export class OperatorConsole implements Part {
  readonly name = 'console';
  private readonly clock: Clock;
  private readonly tokens: OperatorTokens;
  private readonly forms: FormTokens;
  private readonly failures: RateLimiter;
  private readonly operators = new WeakMap<FastifyRequest, Operator>();
  private app: FastifyInstance | undefined;
  private readonly stats = { pages: 0, lookups: 0, transitions: 0, refused: 0, limited: 0 };

  constructor(private readonly deps: ConsoleDeps) {
    this.clock = deps.clock ?? systemClock;
    this.tokens = new OperatorTokens(deps.tokenFile, () => this.clock.now());
    this.tokens.onReloadError = (err) => deps.logger.error({ err }, 'console: the token file changed but cannot be used; the previous operators stay');
    this.forms = new FormTokens(deps.formKey);
    this.failures = new RateLimiter(this.clock, deps.loginFailureLimit ?? { limit: 30, windowMs: 15 * 60_000 });
  }

  async start(): Promise<void> {
    this.tokens.load();
    if (this.tokens.created) this.deps.logger.info({ file: this.tokens.path }, 'console: created the token file with one operator, "operator"');
    if (this.tokens.looseMode) this.deps.logger.warn({ file: this.tokens.path }, 'console: the token file is readable by other users; chmod 600 it');
    if (this.tokens.count === 0) this.deps.logger.warn({ file: this.tokens.path }, 'console: the token file lists no operator; nobody can log in');
  }

  async stop(): Promise<void> {}

  async health(): Promise<PartHealth> {
    return { status: this.tokens.count > 0 ? 'ok' : 'degraded', detail: { operators: this.tokens.count, tokenFile: this.tokens.path, attribution: this.deps.lookup !== undefined, ...this.stats } };
  }

  endpoints(): Endpoint[] {
    const addr = this.app?.server.address();
    const base = addr && typeof addr === 'object' ? `http://${formatHostPort({ host: addr.address, port: addr.port })}` : '';
    return [
      { label: 'operator console', url: `${base}/console/` },
      { label: 'console login', url: this.tokens.created ? `user "operator", password: the token in ${this.tokens.path} (created now)` : `an operator name and token from ${this.tokens.path}` },
    ];
  }

  async routes(app: FastifyInstance): Promise<void> {
    this.app = app;
    await app.register(async (scope) => {
      scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 8192 }, (_req, body, done) => done(null, parseForm(body as string)));
      scope.addHook('onRequest', async (req, reply) => this.authenticate(req, reply));
      scope.setErrorHandler((err, req, reply) => this.fail(err as Error & { statusCode?: number; code?: string }, req, reply));

      scope.get('/console', { schema: { hide: true } }, async (_req, reply) => seeOther(reply, '/console/cases'));
      scope.get('/console/', { schema: { hide: true } }, async (_req, reply) => seeOther(reply, '/console/cases'));

      scope.get('/console/cases', {
        schema: {
          summary: 'Console: the case queue',
          description: 'Operator console pages need an operator token (HTTP Basic: operator name and token; or Authorization: Bearer TOKEN) from web.console.tokenFile.',
          tags: ['console'],
          querystring: {
            type: 'object',
            properties: {
              status: { type: 'string', enum: ['', ...CASE_STATUSES] },
              class: { type: 'string', enum: ['', ...FINDING_CLASSES] },
              subscriber: { type: 'string', maxLength: 200 },
            },
          },
          produces: ['text/html'],
          response: { 200: HTML, 401: HTML },
        },
      }, async (req, reply) => {
        const q = req.query as { status?: string; class?: string; subscriber?: string };
        const filter = { status: (q.status || undefined) as CaseStatus | undefined, class: (q.class || undefined) as FindingClass | undefined, subscriber: q.subscriber?.trim() || undefined };
        const cases = await this.deps.cases.cases({ actor: this.actor(req), limit: LIST_LIMIT, ...(filter.status ? { status: filter.status } : {}), ...(filter.class ? { class: filter.class } : {}), ...(filter.subscriber ? { subscriberId: filter.subscriber } : {}) });
        this.stats.pages++;
        return sendPage(reply, 200, caseListPage({ operator: this.op(req).name, cases, filter, limit: LIST_LIMIT }));
      });

      scope.get('/console/cases/:id', {
        schema: {
          summary: 'Console: one case with its history, evidence and the notices to its subscriber',
          tags: ['console'],
          params: { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 200 } } },
          querystring: { type: 'object', properties: { done: { type: 'string', enum: ['acknowledged', 'resolved', 'refused', 'form-expired'] } } },
          produces: ['text/html'],
          response: { 200: HTML, 401: HTML, 404: HTML },
        },
      }, async (req, reply) => {
        const { id } = req.params as { id: string };
        const actor = this.actor(req);
        const found = await this.deps.cases.caseById(id, { actor, findingsLimit: 50 });
        if (!found) return sendPage(reply, 404, consoleMessagePage(this.op(req).name, { ja: 'ケースが見つかりません', en: 'No such case' }, { ja: `ケース ${id} はありません（解決後の保存期間が過ぎたのかもしれません）。`, en: `There is no case ${id} (it may have been purged after its retention).` }));
        const subscriber = await this.deps.subscribers.byId(found.case.subscriberId);
        await this.deps.audit.append({ actor, action: 'read', purpose: found.case.purpose, subject: `subscriber/${found.case.subscriberId}`, detail: { for: `case/${id}`, fields: ['name', 'login', 'email', 'prefecture'] } });
        const notices = await this.deps.notices.ofSubscriber(found.case.subscriberId, { actor });
        const done = (req.query as { done?: string }).done;
        this.stats.pages++;
        return sendPage(reply, 200, casePage({
          operator: this.op(req).name,
          csrf: this.formToken(req),
          ...found,
          subscriber,
          notices,
          flash: done === 'acknowledged' ? { ok: true, ja: '対処連絡ありにしました。', en: 'Marked acknowledged.' }
            : done === 'resolved' ? { ok: true, ja: '解決にしました。', en: 'Marked resolved.' }
              : done === 'refused' ? { ok: false, ja: 'いまの状態からはその操作はできません。', en: 'That change is not allowed from the current status.' }
                : done === 'form-expired' ? { ok: false, ja: '画面が古くなっていたため、何も変更していません。もう一度どうぞ。', en: 'The page had expired; nothing was changed. Please try again.' }
                  : undefined,
        }));
      });

      scope.post('/console/cases/:id/transition', {
        schema: {
          summary: 'Console: acknowledge or resolve a case',
          description: 'Moves the case (audited, actor operator:NAME, via console) and redirects back to it.',
          tags: ['console'],
          params: { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 200 } } },
          consumes: ['application/x-www-form-urlencoded'],
          body: { type: 'object', required: ['csrf', 'to'], properties: { csrf: { type: 'string', maxLength: 100 }, to: { type: 'string', enum: ['acknowledged', 'resolved'] }, note: { type: 'string', maxLength: 500 } } },
          response: { 303: { description: 'back to the case', type: 'null' }, 401: HTML, 404: HTML },
        },
        attachValidation: true,
      }, async (req, reply) => {
        const { id } = req.params as { id: string };
        const back = `/console/cases/${encodeURIComponent(id)}`;
        if (!this.formOk(req)) return seeOther(reply, `${back}?done=form-expired`);
        const body = req.body as { to: 'acknowledged' | 'resolved'; note?: string };
        const ctx = { actor: this.actor(req), via: 'console', ...(body.note?.trim() ? { note: body.note.trim() } : {}) };
        try {
          if (body.to === 'acknowledged') await this.deps.cases.acknowledge(id, ctx);
          else await this.deps.cases.resolve(id, ctx);
        } catch (err) {
          if (err instanceof SakimoriError && err.code === 'CASE_TRANSITION') return seeOther(reply, `${back}?done=refused`);
          throw err;
        }
        this.stats.transitions++;
        return seeOther(reply, `${back}?done=${body.to}`);
      });

      scope.get('/console/attribution', {
        schema: { summary: 'Console: the attribution look-up form', tags: ['console'], produces: ['text/html'], response: { 200: HTML, 401: HTML } },
      }, async (req, reply) => {
        this.stats.pages++;
        return sendPage(reply, 200, attributionPage(this.attributionView(req, { ip: '', at: nowWithOffset(this.clock.now()), port: '', purpose: 'subscriber-attribution' })));
      });

      scope.post('/console/attribution', {
        schema: {
          summary: 'Console: who held an IP address (and port) at a time',
          description: 'Asks attribution, stating the purpose; attribution writes the audit entry (actor operator:NAME). The answer is shown on the page, never stored or sent elsewhere (R16). POST, so the address and time stay out of URLs and browser history.',
          tags: ['console'],
          consumes: ['application/x-www-form-urlencoded'],
          body: {
            type: 'object',
            required: ['csrf', 'ip', 'at', 'purpose'],
            properties: { csrf: { type: 'string', maxLength: 100 }, ip: { type: 'string', maxLength: 100 }, at: { type: 'string', maxLength: 60 }, port: { type: 'string', maxLength: 5 }, purpose: { type: 'string', enum: [...LOOKUP_PURPOSES] } },
          },
          produces: ['text/html'],
          response: { 200: HTML, 400: HTML, 401: HTML },
        },
        attachValidation: true,
      }, async (req, reply) => {
        const b = (req.body ?? {}) as Partial<Record<'ip' | 'at' | 'port' | 'purpose', string>>;
        const form = { ip: String(b.ip ?? '').trim(), at: String(b.at ?? '').trim(), port: String(b.port ?? '').trim(), purpose: String(b.purpose ?? 'subscriber-attribution') };
        const fail = (ja: string, en: string) => sendPage(reply, 400, attributionPage(this.attributionView(req, form, `${ja} / ${en}`)));
        if (!this.formOk(req)) return fail('画面が古くなっていたため照会していません。もう一度どうぞ。', 'The page had expired or a field is missing; nothing was looked up. Please try again.');
        if (!this.deps.lookup) return fail('このノードには加入者の特定がありません。', 'Attribution is not wired into this node.');
        const at = parseTime(form.at);
        if (typeof at !== 'number') return fail('日時が読めません', at.error);
        let port: number | undefined;
        if (form.port !== '') {
          port = Number(form.port);
          if (!/^\d{1,5}$/.test(form.port) || port > 65535) return fail('ポートは 0〜65535 の数です', `port "${form.port}" is not a number from 0 to 65535`);
        }
        let result: LookupResult;
        try {
          result = await this.deps.lookup.lookup({ ip: form.ip, at, port, purpose: form.purpose as LookupRequest['purpose'], actor: this.actor(req) });
        } catch (err) {
          if (err instanceof SakimoriError || (err as Error).name === 'PurposeMismatchError') return fail('照会できませんでした', (err as Error).message);
          throw err;
        }
        this.stats.lookups++;
        const subscriber = result.result === 'found' ? await this.deps.subscribers.byLogin(result.subscriber) : undefined;
        return sendPage(reply, 200, attributionPage({ ...this.attributionView(req, form), result, subscriber }));
      });

      scope.get('/console/dns', {
        schema: {
          summary: 'Console: DNS detections (random-subdomain attacks, amplification names, suspected infections), newest first',
          tags: ['console'],
          querystring: { type: 'object', properties: { kind: { type: 'string', enum: ['', 'prsd', 'amplification', 'suspected-infection'] }, active: { type: 'string', maxLength: 5 } } },
          produces: ['text/html'],
          response: { 200: HTML, 401: HTML },
        },
      }, async (req, reply) => {
        const q = req.query as { kind?: '' | ConsoleDetection['kind']; active?: string };
        const filter = { ...(q.kind ? { kind: q.kind } : {}), active: q.active !== undefined && q.active !== '' && q.active !== '0' };
        // The read is audited by the detections store, under the operator's name.
        const detections = await this.deps.detections?.list({ actor: this.actor(req), limit: LIST_LIMIT, ...(filter.kind ? { kind: filter.kind } : {}), ...(filter.active ? { active: true } : {}) });
        this.stats.pages++;
        return sendPage(reply, 200, detectionsPage({ operator: this.op(req).name, detections, filter, limit: LIST_LIMIT }));
      });

      scope.get('/console/consent', {
        schema: {
          summary: 'Console: consent history (DNS-protection opt-out and opt-in) of a subscriber or client prefix, and who is opted out now',
          tags: ['console'],
          querystring: { type: 'object', properties: { scope: { type: 'string', enum: ['subscriber', 'client'] }, subject: { type: 'string', maxLength: 200 } } },
          produces: ['text/html'],
          response: { 200: HTML, 401: HTML },
        },
      }, async (req, reply) => {
        const q = req.query as { scope?: ConsentScope; subject?: string };
        const query = { scope: q.scope ?? 'subscriber', subject: (q.subject ?? '').trim() };
        const actor = this.actor(req);
        let history: ConsentEvent[] | undefined;
        let error: string | undefined;
        if (query.subject) {
          try {
            query.subject = canonicalSubject(query.scope, query.subject);
            history = (await this.deps.consent.history({ scope: query.scope, subject: query.subject })).reverse();
          } catch (err) {
            if (!(err instanceof SakimoriError)) throw err;
            error = err.message.replace(/^--client /, ''); // the consent module words it for the CLI
          }
        }
        const optedOut = await this.deps.consent.optedOut();
        await this.deps.audit.append({ actor, action: 'read', purpose: 'consent', subject: query.subject ? `consent/${query.scope}:${query.subject}` : 'consent/opted-out', detail: { events: history?.length ?? 0, optedOut: optedOut.length } });
        this.stats.pages++;
        return sendPage(reply, 200, consentPage({ operator: this.op(req).name, query, error, history, optedOut, optedOutShown: CONSENT_SHOWN }));
      });
    });
  }

  private async authenticate(req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
    const limited = this.failures.blocked(req.ip);
    if (limited) {
      this.stats.limited++;
      return sendPage(reply.header('retry-after', String(Math.ceil(limited.retryAfterMs / 1000))), 429, consoleMessagePage(undefined, { ja: 'しばらくお待ちください', en: 'Too many failed logins' }, { ja: 'ログインの失敗が続いたため、このアドレスからの受け付けを一時的に止めています。', en: `Too many failed logins from this address; try again in ${Math.ceil(limited.retryAfterMs / 60_000)} min.` }));
    }
    const op = this.tokens.authenticate(req.headers.authorization);
    if (!op) {
      this.stats.refused++;
      if (req.headers.authorization) {
        this.failures.hit(req.ip);
        this.deps.logger.warn({ client: req.ip }, 'console: login refused');
      }
      return sendPage(reply.header('www-authenticate', 'Basic realm="Sakimori console", charset="UTF-8"'), 401, unauthorizedPage());
    }
    this.operators.set(req, op);
    return undefined;
  }

  private op(req: FastifyRequest): Operator {
    const op = this.operators.get(req);
    if (!op) throw new Error('console route reached without an operator'); // the onRequest hook guarantees one
    return op;
  }

  private actor(req: FastifyRequest): string {
    return `operator:${this.op(req).name}`;
  }

  private formToken(req: FastifyRequest): string {
    return this.forms.issue(`console:${this.op(req).name}`);
  }

  private formOk(req: FastifyRequest): boolean {
    if (req.validationError || !sameOriginRequest(req)) return false;
    return this.forms.verify(`console:${this.op(req).name}`, (req.body as { csrf?: unknown } | undefined)?.csrf);
  }

  private attributionView(req: FastifyRequest, form: AttributionView['form'], error?: string): AttributionView {
    return { operator: this.op(req).name, csrf: this.formToken(req), purposes: LOOKUP_PURPOSES, form, error, available: this.deps.lookup !== undefined };
  }

  private fail(err: Error & { statusCode?: number }, req: FastifyRequest, reply: FastifyReply): FastifyReply {
    const status = err.statusCode && err.statusCode < 500 ? err.statusCode : 500;
    if (status >= 500) this.deps.logger.error({ err, route: req.routeOptions.url, method: req.method }, 'console request failed');
    const operator = this.operators.get(req)?.name;
    if (status < 500) return sendPage(reply, status, consoleMessagePage(operator, { ja: '要求を処理できません', en: 'Bad request' }, { ja: '入力を確かめてください。', en: err.message }));
    return sendPage(reply, 500, consoleMessagePage(operator, { ja: 'エラーが起きました', en: 'Something went wrong' }, { ja: '詳しくはノードのログをご覧ください。', en: 'See the node log for details.' }));
  }
}

/** "2025-01-06T21:00:00+09:00": the look-up form's default, now in JST. */
export function nowWithOffset(ms: number): string {
  return `${new Date(ms + 9 * 3_600_000).toISOString().slice(0, 19)}+09:00`;
}

