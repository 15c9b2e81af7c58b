import { canonicalSubject, type ConsentChoice, type ConsentEvent, type ConsentRegistry } from '../../consent/index.ts';
import type { Logger } from '../../telemetry/index.ts';

/**
 * The addresses and delegated prefixes a subscriber holds right now ("192.0.2.7",
 * "2001:db8:12::/56"), by login (the RADIUS User-Name). Attribution answers it
 * from its open sessions; the node wires it (src/node/parts.ts).
 */
export interface SubscriberAddresses {
  currentAddresses(login: string): Promise<string[]>;
}

/**
 * The consent follower (ConsentFollower fits): when wired, it puts the
 * subscriber's choice on the addresses they hold now and on every address
 * they take later, and takes it off when they give the address up (R1).
 */
export interface SubscriberFollower {
  follow(subscriberId: string): Promise<string[]>;
  release(subscriberId: string): Promise<string[]>;
}

/** What the switch needs of the consent registry (ConsentRegistry fits). */
export type ConsentPort = Pick<ConsentRegistry, 'set' | 'choiceOf' | 'history' | 'optedOut'>;

export interface DnsProtectionState {
  /** "on" unless the subscriber's current choice is opt-out (the contract's default is protection on). */
  status: 'on' | 'off';
  since: number | null;
  /** The subscriber's own choices, oldest first. */
  history: ConsentEvent[];
}

export interface SwitchResult {
  event: ConsentEvent | undefined;
  /** Client prefixes the choice was applied to at once. */
  applied: string[];
  /** True when the choice was already in force (nothing recorded). */
  unchanged: boolean;
}

/**
 * The subscriber's DNS-protection switch (R1 consent). A choice is recorded
 * for the subscriber and takes effect at once on the addresses the subscriber
 * holds now: each is recorded as a client-scope choice too, which is what the
 * DNS firewall filters by (ConsentRegistry.clientOptOuts). Turning protection
 * back on releases the addresses held now and every address this
 * subscriber's own opt-out put on the list that is still there. Everything
 * goes through ConsentRegistry, so each step is audited and published on the
 * bus (`consent.changed`).
 */
export class DnsProtectionSwitch {
  constructor(
    private readonly consent: ConsentPort,
    private readonly addresses: SubscriberAddresses | undefined,
    private readonly logger: Pick<Logger, 'warn'>,
    private readonly follower?: SubscriberFollower,
  ) {}

  /** The actor recorded for a subscriber's own choices. */
  static actorOf(subscriberId: string): string {
    return `subscriber:${subscriberId}`;
  }

  async state(subscriberId: string): Promise<DnsProtectionState> {
    const history = await this.consent.history({ scope: 'subscriber', subject: subscriberId, service: 'dns-protection' });
    const last = history.at(-1);
    return { status: last?.choice === 'opt-out' ? 'off' : 'on', since: last?.at ?? null, history };
  }

  async set(subscriber: { id: string; login: string }, choice: ConsentChoice): Promise<SwitchResult> {
    if (this.follower) return this.setFollowed(this.follower, subscriber, choice);
    const actor = DnsProtectionSwitch.actorOf(subscriber.id);
    const current = await this.consent.choiceOf('subscriber', subscriber.id);
    const effective = current ?? 'opt-in';
    const held = await this.held(subscriber.login);
    let event: ConsentEvent | undefined;
    let targets: string[];
    if (effective === choice) {
      // A second press (a reloaded form, two tabs): nothing new to record, but
      // addresses taken since the first press still get the choice.
      targets = choice === 'opt-out' ? await this.missingOptOuts(held) : [];
    } else {
      const previousOptOut = choice === 'opt-in' ? await this.lastOptOutAt(subscriber.id) : undefined;
      event = await this.consent.set({ scope: 'subscriber', subject: subscriber.id, choice, actor, via: 'portal', reason: 'the subscriber used the switch on the notice portal' });
      targets = choice === 'opt-out' ? held : unique([...held, ...(await this.ownOptOuts(actor, previousOptOut ?? 0))]);
    }
    const applied: string[] = [];
    for (const prefix of targets) {
      try {
        const e = await this.consent.set({ scope: 'client', subject: prefix, choice, actor, via: 'portal', reason: `subscriber ${subscriber.id} (${choice}) on the notice portal: an address the subscriber holds` });
        applied.push(e.subject);
      } catch (err) {
        this.logger.warn({ err, subscriber: subscriber.id }, 'portal: could not record a client-scope consent choice');
      }
    }
    return { event, applied, unchanged: event === undefined };
  }

  /** With the follower: it covers the addresses (held now and later); the switch records the subscriber's choice. */
  private async setFollowed(follower: SubscriberFollower, subscriber: { id: string; login: string }, choice: ConsentChoice): Promise<SwitchResult> {
    const actor = DnsProtectionSwitch.actorOf(subscriber.id);
    const effective = (await this.consent.choiceOf('subscriber', subscriber.id)) ?? 'opt-in';
    let event: ConsentEvent | undefined;
    const previousOptOut = choice === 'opt-in' && effective !== choice ? await this.lastOptOutAt(subscriber.id) : undefined;
    if (effective !== choice) event = await this.consent.set({ scope: 'subscriber', subject: subscriber.id, choice, actor, via: 'portal', reason: 'the subscriber used the switch on the notice portal' });
    if (choice === 'opt-out') return { event, applied: await follower.follow(subscriber.id), unchanged: event === undefined };
    const applied = await follower.release(subscriber.id);
    // Addresses this subscriber's own opt-out covered before the follower was wired.
    if (event) {
      for (const prefix of await this.ownOptOuts(actor, previousOptOut ?? 0)) {
        const e = await this.consent.set({ scope: 'client', subject: prefix, choice, actor, via: 'portal', reason: `subscriber ${subscriber.id} (${choice}) on the notice portal: an address the subscriber held` });
        applied.push(e.subject);
      }
    }
    return { event, applied: unique(applied), unchanged: event === undefined };
  }

  private async held(login: string): Promise<string[]> {
    if (!this.addresses || !login) return [];
    const out: string[] = [];
    for (const a of await this.addresses.currentAddresses(login)) {
      try {
        out.push(canonicalSubject('client', a));
      } catch (err) {
        this.logger.warn({ err, address: a }, 'portal: attribution gave an address that is not an IP address or prefix; skipped');
      }
    }
    return unique(out);
  }

  private async missingOptOuts(held: string[]): Promise<string[]> {
    const out: string[] = [];
    for (const p of held) if ((await this.consent.choiceOf('client', p)) !== 'opt-out') out.push(p);
    return out;
  }

  private async lastOptOutAt(subscriberId: string): Promise<number | undefined> {
    const h = await this.consent.history({ scope: 'subscriber', subject: subscriberId, service: 'dns-protection' });
    return h.filter((e) => e.choice === 'opt-out').at(-1)?.at;
  }

  /**
   * Client prefixes opted out now whose latest choice was made by this
   * subscriber: the addresses their opt-out covered (also ones held no
   * longer). An operator's later opt-out of the same prefix is not undone.
   */
  private async ownOptOuts(actor: string, since: number): Promise<string[]> {
    const out: string[] = [];
    for (const r of await this.consent.optedOut('dns-protection')) {
      if (r.scope !== 'client' || r.since < since) continue;
      const last = (await this.consent.history({ scope: 'client', subject: r.subject, service: 'dns-protection' })).at(-1);
      if (last?.actor === actor) out.push(r.subject);
    }
    return out;
  }
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}
