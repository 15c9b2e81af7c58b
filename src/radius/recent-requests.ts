/**
 * Duplicate detection for accounting, on two levels, so that each accounting event
 * reaches the consumer once however the NAS retransmits:
 *
 *  - Retransmission (RFC 5080 §2.2.2): the same source address and port, Identifier and
 *    Request Authenticator is the same packet sent again. It gets the same answer again.
 *  - Same event, new packet (RFC 2866 §5.2): a NAS that updates Acct-Delay-Time on a
 *    retry must change the Identifier too, so the retry is a new packet carrying the same
 *    event. The caller keys events by NAS and every attribute except Acct-Delay-Time and
 *    Message-Authenticator; such a packet gets its own answer but no second delivery.
 *
 * An entry lives for `windowMs` after it was seen or answered; a delivery still in
 * progress is kept until it ends (their number is bounded by the caller's in-flight
 * limit). Pure: time comes in as arguments, no timers; expired entries are swept when
 * the caller asks, oldest first, so the cost is O(1) per request amortised.
 */

/** One packet as the NAS sent it, and where to answer it. */
export interface Exchange<T> {
  readonly key: string;
  at: number;
  readonly target: T;
  readonly delivery: Delivery<T>;
  /** The encoded answer once the event is recorded. */
  response: Uint8Array | undefined;
}

/** One accounting event, carried by one or more packets. */
export interface Delivery<T> {
  at: number;
  state: 'pending' | 'delivered';
  /** Packets waiting for the event to be recorded, to be answered when it is. */
  waiting: Exchange<T>[];
}

export class RecentRequests<T> {
  private readonly packets = new Map<string, Exchange<T>>();
  private readonly events = new Map<string, Delivery<T>>();
  private readonly keyOf = new WeakMap<Delivery<T>, string>();

  constructor(private readonly opts: { windowMs: number; maxEntries: number }) {}

  get size(): { packets: number; events: number } {
    return { packets: this.packets.size, events: this.events.size };
  }

  /** Drops what is older than the window (and the oldest beyond maxEntries). */
  sweep(now: number): void {
    const cutoff = now - this.opts.windowMs;
    for (const [key, x] of this.packets) {
      if (x.at >= cutoff && this.packets.size <= this.opts.maxEntries) break;
      this.packets.delete(key);
    }
    let budget = this.events.size;
    for (const [key, d] of this.events) {
      if (budget-- <= 0 || (d.at >= cutoff && this.events.size <= this.opts.maxEntries)) break;
      this.events.delete(key);
      // Still being recorded: keep it, moved to the back, so retransmissions keep waiting for it.
      if (d.state === 'pending') {
        d.at = now;
        this.events.set(key, d);
      }
    }
  }

  packet(key: string): Exchange<T> | undefined {
    return this.packets.get(key);
  }

  event(key: string): Delivery<T> | undefined {
    return this.events.get(key);
  }

  /** A first packet for a new event: the event is now pending. */
  begin(eventKey: string, packetKey: string, target: T, now: number): Exchange<T> {
    const d: Delivery<T> = { at: now, state: 'pending', waiting: [] };
    this.events.set(eventKey, d);
    this.keyOf.set(d, eventKey);
    return this.join(d, packetKey, target, now);
  }

  /** Another packet for a known event (a retry with a new Identifier). */
  join(d: Delivery<T>, packetKey: string, target: T, now: number): Exchange<T> {
    const x: Exchange<T> = { key: packetKey, at: now, target, delivery: d, response: undefined };
    this.packets.delete(packetKey);
    this.packets.set(packetKey, x);
    if (d.state === 'pending') d.waiting.push(x);
    return x;
  }

  /** The event was recorded: returns the packets to answer now; later duplicates are answered from the cache. */
  delivered(d: Delivery<T>, now: number): Exchange<T>[] {
    d.state = 'delivered';
    d.at = now;
    const key = this.keyOf.get(d);
    // Re-insert at the back so the window counts from the answer, not the first packet.
    if (key !== undefined && this.events.get(key) === d) {
      this.events.delete(key);
      this.events.set(key, d);
    }
    const waiting = d.waiting;
    d.waiting = [];
    for (const x of waiting) {
      x.at = now;
      if (this.packets.get(x.key) === x) {
        this.packets.delete(x.key);
        this.packets.set(x.key, x);
      }
    }
    return waiting;
  }

  /** Recording failed: forget the event and its packets, so the NAS's next retry is delivered afresh. */
  failed(d: Delivery<T>): void {
    const key = this.keyOf.get(d);
    if (key !== undefined && this.events.get(key) === d) this.events.delete(key);
    for (const x of d.waiting) if (this.packets.get(x.key) === x) this.packets.delete(x.key);
    d.waiting = [];
  }
}
