/**
 * The retained messages of one topic, oldest first. Sequence numbers are
 * global to the bus, so within a topic they increase but have gaps; lookups
 * by sequence are binary searches. Dropping from the head advances an index
 * instead of shifting the array (O(1)); the array is compacted now and then.
 */
export interface StoredMessage {
  readonly seq: number;
  readonly publishedAt: number;
  readonly json: string;
}

export class TopicLog {
  private entries: StoredMessage[] = [];
  private head = 0;

  get size(): number {
    return this.entries.length - this.head;
  }

  /** Sequence of the oldest retained message, or undefined if none. */
  get firstSeq(): number | undefined {
    return this.entries[this.head]?.seq;
  }

  append(m: StoredMessage): void {
    this.entries.push(m);
  }

  /** Position (relative to the oldest retained) of the first message with seq >= `seq`; `size` if none. */
  positionOf(seq: number): number {
    let lo = this.head;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.entries[mid]!.seq < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo - this.head;
  }

  at(position: number): StoredMessage | undefined {
    return position < 0 ? undefined : this.entries[this.head + position];
  }

  /** First retained message with seq >= `seq`. */
  atOrAfter(seq: number): StoredMessage | undefined {
    return this.at(this.positionOf(seq));
  }

  slice(fromSeq: number, limit: number): StoredMessage[] {
    const start = this.head + this.positionOf(fromSeq);
    return this.entries.slice(start, start + limit);
  }

  dropOldest(count: number): void {
    this.head += Math.min(count, this.size);
    if (this.head > 4096 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }
}
