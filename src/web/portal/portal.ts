import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SakimoriError, systemClock, type Clock, type Endpoint, type Part, type PartHealth } from '../../core/index.ts';
import { tokenHash, type Case, type CaseBook, type NoticeBook, type SubscriberDirectory } from '../../cases/index.ts';
import type { Logger } from '../../telemetry/index.ts';
import { FormTokens, parseForm, sameOriginRequest, seeOther, sendPage } from '../page/security.ts';
import { RateLimiter } from '../page/rate-limit.ts';
import { loadFormKey } from './form-key.ts';
import { DnsProtectionSwitch, type ConsentPort, type SubscriberAddresses, type SubscriberFollower } from './dns-protection.ts';
import { invalidLinkPage, portalErrorPage, portalPage, tooManyPage, type PortalFlash } from './views.ts';

/**
 * The subscriber portal behind each notice's link `{notify.portalUrl}/n/{token}`
 * (R1, R5, R16): the notice, "I fixed it" (acknowledges the cases the notice
 * told about, audited), and the DNS-protection switch with its history
 * (R1 consent: opt out at any time, all other terms equal, applied at once).
 * Plain HTML forms that POST and redirect; works without JavaScript.
 */
export interface PortalDeps {
  notices: Pick<NoticeBook, 'byToken'>;
  cases: Pick<CaseBook, 'acknowledge'>;
  subscribers: Pick<SubscriberDirectory, 'byId'>;
  consent: ConsentPort;
  /** The subscriber's current addresses (attribution). Without it a choice is recorded for the subscriber only. */
  addresses?: SubscriberAddresses | undefined;
  /** The consent follower: when wired, choices follow the subscriber onto every address they hold, now and later. */
  follower?: SubscriberFollower | undefined;
  logger: Logger;
  clock?: Clock;
  /** notify.organization: the ISP name subscribers know. */
  organization: string;
  /** notify.portalUrl: where the links point (printed at start). */
  portalUrl: string;
  /** web.portal.support: how to reach the support desk ("" for none). */
  support: string;
  /** Invalid links per client address before it must wait (default 20 per 15 minutes). */
  invalidLinkLimit?: { limit: number; windowMs: number };
  /** The form-token key (default: random per process). */
  formKey?: Buffer;
  /**
   * A file holding the form-token key (created, mode 0600, when missing), so
   * forms survive a restart and every node process sharing the file accepts
   * them. Read at start; wins over formKey.
   */
  formKeyFile?: string | undefined;
}

const TOKEN_PARAM = { type: 'object', required: ['token'], properties: { token: { type: 'string', maxLength: 100, description: 'the token of a notice link' } } } as const;
const HTML_RESPONSE = { description: 'an HTML page (Japanese first, then English)', content: { 'text/html': { schema: { type: 'string' } } } } as const;
const FLASHES: readonly PortalFlash[] = ['fixed', 'nothing-to-fix', 'dns-off', 'dns-on', 'dns-same', 'form-expired'];

export class SubscriberPortal implements Part {
  readonly name = 'portal';
  private readonly clock: Clock;
  private forms: FormTokens;
  private readonly invalid: RateLimiter;
  private readonly dns: DnsProtectionSwitch;
  private readonly stats = { pages: 0, acknowledged: 0, optOuts: 0, optIns: 0, invalidLinks: 0, limited: 0, errors: 0 };

  constructor(private readonly deps: PortalDeps) {
    this.clock = deps.clock ?? systemClock;
    this.forms = new FormTokens(deps.formKey);
    this.invalid = new RateLimiter(this.clock, deps.invalidLinkLimit ?? { limit: 20, windowMs: 15 * 60_000 });
    this.dns = new DnsProtectionSwitch(deps.consent, deps.addresses, deps.logger, deps.follower);
  }

  async start(): Promise<void> {
    if (this.deps.formKeyFile) this.forms = new FormTokens(await loadFormKey(this.deps.formKeyFile, this.deps.logger));
    if (!this.deps.addresses && !this.deps.follower) this.deps.logger.warn('portal: no source of subscribers\' current addresses is wired; a DNS-protection choice made on the portal is recorded for the subscriber only');
  }

  async stop(): Promise<void> {}

  async health(): Promise<PartHealth> {
    return { status: 'ok', detail: { ...this.stats, appliesToAddresses: this.deps.addresses !== undefined || this.deps.follower !== undefined, followsNewAddresses: this.deps.follower !== undefined } };
  }

  endpoints(): Endpoint[] {
    return [{ label: 'subscriber portal', url: `${this.deps.portalUrl.replace(/\/+$/, '')}/n/TOKEN (the link in each notice)` }];
  }

  async routes(app: FastifyInstance): Promise<void> {
    await app.register(async (scope) => {
      // Forms post application/x-www-form-urlencoded; parsed here only, for these routes.
      scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_req, body, done) => done(null, parseForm(body as string)));
      scope.setErrorHandler((err, req, reply) => this.fail(err as Error & { statusCode?: number }, req, reply));

      scope.get('/n/:token', {
        schema: {
          summary: 'Subscriber portal: the notice behind a notice link',
          description: 'The notice (Japanese, then English), the state of its cases, the "I fixed it" button and the DNS-protection switch with its history (R1). Unknown or expired links get one page for both, and too many of them from one address are refused for a while.',
          tags: ['portal'],
          params: TOKEN_PARAM,
          querystring: { type: 'object', properties: { done: { type: 'string', enum: [...FLASHES] } } },
          produces: ['text/html'],
          response: { 200: HTML_RESPONSE, 303: { description: 'a link with text glued to its end: to the link itself', type: 'null' }, 404: HTML_RESPONSE, 429: HTML_RESPONSE },
        },
        attachValidation: true,
      }, async (req, reply) => {
        const token = (req.params as { token: string }).token;
        // A mail client may glue the text after a link onto it ("…/n/TOKEN）"): go to the link itself.
        const glued = /^([A-Za-z0-9_-]{43})[^A-Za-z0-9_-]/.exec(token);
        if (glued) return seeOther(reply, `/n/${glued[1]}`);
        const found = await this.open(req, reply, token);
        if (!found) return reply;
        const done = (req.query as { done?: PortalFlash } | undefined)?.done;
        this.stats.pages++;
        const dns = await this.dns.state(found.notice.subscriberId);
        return sendPage(reply, 200, portalPage({
          organization: this.deps.organization,
          support: this.deps.support,
          token,
          csrf: this.forms.issue(`portal:${tokenHash(token)}`),
          notice: found.notice,
          cases: found.cases,
          fixable: fixable(found.notice.id, found.cases),
          dns,
          appliesToAddresses: this.deps.addresses !== undefined || this.deps.follower !== undefined,
          followsNewAddresses: this.deps.follower !== undefined,
          ...(req.validationError === undefined && done ? { flash: done } : {}),
        }));
      });

      scope.post('/n/:token/fixed', {
        schema: {
          summary: 'Subscriber portal: "I fixed it"',
          description: 'Moves the cases this notice told the subscriber about to acknowledged (audited, actor subscriber:ID, via portal), then redirects to the notice page.',
          tags: ['portal'],
          params: TOKEN_PARAM,
          consumes: ['application/x-www-form-urlencoded'],
          body: { type: 'object', required: ['csrf'], properties: { csrf: { type: 'string', maxLength: 100 } } },
          response: { 303: { description: 'back to the notice page', type: 'null' }, 404: HTML_RESPONSE, 429: HTML_RESPONSE },
        },
        attachValidation: true,
      }, async (req, reply) => {
        const token = (req.params as { token: string }).token;
        const found = await this.open(req, reply, token);
        if (!found) return reply;
        const base = `/n/${token}`;
        if (!this.formOk(req, token)) return seeOther(reply, `${base}?done=form-expired`);
        const actor = DnsProtectionSwitch.actorOf(found.notice.subscriberId);
        let moved = 0;
        for (const c of fixable(found.notice.id, found.cases)) {
          try {
            await this.deps.cases.acknowledge(c.id, { actor, via: 'portal', note: `"I fixed it" on the portal (notice ${found.notice.id})` });
            moved++;
          } catch (err) {
            // Resolved or acknowledged meanwhile (an operator, another tab): nothing left to do for it.
            if (!(err instanceof SakimoriError && err.code === 'CASE_TRANSITION')) throw err;
          }
        }
        this.stats.acknowledged += moved;
        return seeOther(reply, `${base}?done=${moved > 0 ? 'fixed' : 'nothing-to-fix'}#fixed`);
      });

      scope.post('/n/:token/dns-protection', {
        schema: {
          summary: 'Subscriber portal: turn DNS protection off (opt-out) or back on (opt-in)',
          description: 'Records the choice in the consent registry (via portal, with history) and applies it at once to the addresses the subscriber holds now (R1). Redirects to the notice page.',
          tags: ['portal'],
          params: TOKEN_PARAM,
          consumes: ['application/x-www-form-urlencoded'],
          body: { type: 'object', required: ['csrf', 'choice'], properties: { csrf: { type: 'string', maxLength: 100 }, choice: { type: 'string', enum: ['opt-out', 'opt-in'] } } },
          response: { 303: { description: 'back to the notice page', type: 'null' }, 404: HTML_RESPONSE, 429: HTML_RESPONSE },
        },
        attachValidation: true,
      }, async (req, reply) => {
        const token = (req.params as { token: string }).token;
        const found = await this.open(req, reply, token);
        if (!found) return reply;
        const base = `/n/${token}`;
        const choice = (req.body as { choice?: string } | undefined)?.choice;
        if (!this.formOk(req, token) || (choice !== 'opt-out' && choice !== 'opt-in')) return seeOther(reply, `${base}?done=form-expired`);
        const id = found.notice.subscriberId;
        const subscriber = await this.deps.subscribers.byId(id);
        const r = await this.dns.set({ id, login: subscriber?.login ?? '' }, choice);
        if (!r.unchanged) {
          if (choice === 'opt-out') this.stats.optOuts++;
          else this.stats.optIns++;
        }
        return seeOther(reply, `${base}?done=${r.unchanged ? 'dns-same' : choice === 'opt-out' ? 'dns-off' : 'dns-on'}#dns`);
      });
    });
  }

  /** The notice behind a token, or a page already sent (invalid link, or too many of them). */
  private async open(req: FastifyRequest, reply: FastifyReply, token: string) {
    const limited = this.invalid.blocked(req.ip);
    if (limited) {
      this.stats.limited++;
      reply.header('retry-after', String(Math.ceil(limited.retryAfterMs / 1000)));
      sendPage(reply, 429, tooManyPage(this.deps.organization, this.deps.support, limited.retryAfterMs));
      return undefined;
    }
    const badParams = (req.validationError as { validationContext?: string } | undefined)?.validationContext === 'params';
    const found = badParams ? undefined : await this.deps.notices.byToken(token, { actor: 'portal' });
    if (!found) {
      this.stats.invalidLinks++;
      this.invalid.hit(req.ip);
      sendPage(reply, 404, invalidLinkPage(this.deps.organization, this.deps.support));
      return undefined;
    }
    return found;
  }

  private formOk(req: FastifyRequest, token: string): boolean {
    if (req.validationError || !sameOriginRequest(req)) return false;
    return this.forms.verify(`portal:${tokenHash(token)}`, (req.body as { csrf?: unknown } | undefined)?.csrf);
  }

  /** Never a stack trace, and never the URL (it holds the subscriber's token) in the log. */
  private fail(err: Error & { statusCode?: number }, req: FastifyRequest, reply: FastifyReply): FastifyReply {
    const status = err.statusCode && err.statusCode < 500 ? err.statusCode : 500;
    if (status >= 500) {
      this.stats.errors++;
      this.deps.logger.error({ err, route: req.routeOptions.url, method: req.method }, 'portal request failed');
    }
    if (status === 404 || status === 400 || status === 415 || status === 413) return sendPage(reply, status === 404 ? 404 : 400, invalidLinkPage(this.deps.organization, this.deps.support));
    return sendPage(reply, 500, portalErrorPage(this.deps.organization, this.deps.support));
  }
}

/** The cases "I fixed it" acknowledges: those this notice told about and that are still waiting for the subscriber. */
export function fixable(noticeId: string, cases: readonly Case[]): Case[] {
  return cases.filter((c) => c.status === 'notified' && c.lastNoticeId === noticeId);
}
