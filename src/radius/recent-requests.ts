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
 * limit). Pure: time comes in as arguments, no timers. Expiry runs off a FIFO of
 * (key, time) records swept from the front, O(1) amortised per request; not off the
 * Maps' own order, because V8 keeps deleted Map entries until it rehashes and a scan
 * from the front would step over every one of them each time (measured: 14% of the
 * server's CPU before this change).
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
  readonly key: string;
  at: number;
  state: 'pending' | 'delivered';
  /** Packets waiting for the event to be recorded, to be answered when it is. */
  waiting: Exchange<T>[];
}

/** A queue of (entry, time it was queued); stale records (entry refreshed or gone since) are skipped. */
class ExpiryQueue<E extends { at: number }> {
  private items: { entry: E; at: number }[] = [];
  private head = 0;

  push(entry: E): void {
    this.items.push({ entry, at: entry.at });
  }

  get length(): number {
    return this.items.length - this.head;
  }

  /** Removes and returns the oldest record if it was queued before `cutoff` (or unconditionally if `force`). */
  shiftIf(cutoff: number, force: boolean): { entry: E; at: number } | undefined {
    if (this.head >= this.items.length) return undefined;
    const first = this.items[this.head]!;
    if (!force && first.at >= cutoff) return undefined;
    this.head++;
    if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return first;
  }
}

export class RecentRequests<T> {
  private readonly packets = new Map<string, Exchange<T>>();
  private readonly events = new Map<string, Delivery<T>>();
  private readonly packetQueue = new ExpiryQueue<Exchange<T>>();
  private readonly eventQueue = new ExpiryQueue<Delivery<T>>();

  constructor(private readonly opts: { windowMs: number; maxEntries: number }) {}

  get size(): { packets: number; events: number } {
    return { packets: this.packets.size, events: this.events.size };
  }

  /** Drops what is older than the window (and the oldest beyond maxEntries). */
  sweep(now: number): void {
    const cutoff = now - this.opts.windowMs;
    for (;;) {
      const r = this.packetQueue.shiftIf(cutoff, this.packets.size > this.opts.maxEntries);
      if (!r) break;
      // A record is stale if the entry was refreshed (a later record exists) or replaced.
      if (r.entry.at === r.at && this.packets.get(r.entry.key) === r.entry) this.packets.delete(r.entry.key);
    }
    let budget = this.eventQueue.length;
    while (budget-- > 0) {
      const r = this.eventQueue.shiftIf(cutoff, this.events.size > this.opts.maxEntries);
      if (!r) break;
      const d = r.entry;
      if (d.at !== r.at || this.events.get(d.key) !== d) continue;
      if (d.state === 'pending') {
        // Still being recorded: keep it, so retransmissions keep waiting for it.
        d.at = now;
        this.eventQueue.push(d);
      } else {
        this.events.delete(d.key);
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
    const d: Delivery<T> = { key: eventKey, at: now, state: 'pending', waiting: [] };
    this.events.set(eventKey, d);
    this.eventQueue.push(d);
    return this.join(d, packetKey, target, now);
  }

  /** Another packet for a known event (a retry with a new Identifier). */
  join(d: Delivery<T>, packetKey: string, target: T, now: number): Exchange<T> {
    const x: Exchange<T> = { key: packetKey, at: now, target, delivery: d, response: undefined };
    this.packets.set(packetKey, x);
    this.packetQueue.push(x);
    if (d.state === 'pending') d.waiting.push(x);
    return x;
  }

  /** The event was recorded: returns the packets to answer now; later duplicates are answered from the cache. */
  delivered(d: Delivery<T>, now: number): Exchange<T>[] {
    d.state = 'delivered';
    // The window counts from the answer, not the first packet.
    d.at = now;
    if (this.events.get(d.key) === d) this.eventQueue.push(d);
    const waiting = d.waiting;
    d.waiting = [];
    for (const x of waiting) {
      x.at = now;
      if (this.packets.get(x.key) === x) this.packetQueue.push(x);
    }
    return waiting;
  }

  /** Recording failed: forget the event and its packets, so the NAS's next retry is delivered afresh. */
  failed(d: Delivery<T>): void {
    if (this.events.get(d.key) === d) this.events.delete(d.key);
    for (const x of d.waiting) if (this.packets.get(x.key) === x) this.packets.delete(x.key);
    d.waiting = [];
  }
}
