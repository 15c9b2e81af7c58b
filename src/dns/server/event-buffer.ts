/**
 * Block events gathered between two flushes, merged per (client, FQDN, list, action), kept
 * in typed arrays rather than one object and key string per event.
 *
 * Why: events live until the next flush (a second on the main thread), so as JS objects
 * they outlived every scavenge in between. Under a flood of distinct blocked names the 2,000
 * an interval keeps were ~750 KiB copied by one scavenge and promoted by the next: two
 * pauses of 2-20 ms a second on the DNS thread (block path at load, --trace-gc), the worst
 * of its p99. Here they are characters in an arena and numbers in arrays, which V8 never
 * scans. A flush takes them as an image (takeImage: the arrays, copied to size), which
 * goes to the writer thread or to the main thread as it is; objects and rows are made
 * there (eventsOf, blockEventRows), not on the thread that answers queries. Making them
 * on the DNS thread was half of what it allocated under a flood of blocked names.
 */
import type { BlockEvent } from './data-plane.ts';

/** A merged event: `count` identical lookups, the first at `at`. */
export type CountedBlockEvent = BlockEvent & { count: number };

export type AddResult = 'new' | 'merged' | 'full';

/**
 * A buffer's events, taken whole: plain typed arrays and the list and action names, so it
 * crosses to another thread by structured clone as a few memory copies.
 */
export interface BlockEventImage {
  n: number;
  at: Float64Array;
  count: Float64Array;
  /** Where each record's characters start in `chars`: client, then FQDN. */
  start: Int32Array;
  clientLen: Uint16Array;
  fqdnLen: Uint16Array;
  /** Indexes into `words`. */
  list: Uint16Array;
  action: Uint16Array;
  chars: Uint16Array;
  words: string[];
}

const FIRST_RECORDS = 64;
const FIRST_CHARS = 4096;

export class BlockEventBuffer {
  private n = 0;
  private at = new Float64Array(FIRST_RECORDS);
  private count = new Float64Array(FIRST_RECORDS);
  /** Where each record's characters start in `chars`: client, then FQDN. */
  private start = new Int32Array(FIRST_RECORDS);
  private clientLen = new Uint16Array(FIRST_RECORDS);
  private fqdnLen = new Uint16Array(FIRST_RECORDS);
  /** List and action, as indexes into `words` (zone names and actions: a handful, kept for good). */
  private list = new Uint16Array(FIRST_RECORDS);
  private action = new Uint16Array(FIRST_RECORDS);
  private hash = new Int32Array(FIRST_RECORDS);
  private chars = new Uint16Array(FIRST_CHARS);
  private used = 0;
  /** Open addressing: record index + 1 (0: empty), twice the records' room. */
  private table = new Int32Array(FIRST_RECORDS * 2);
  private readonly words: string[] = [];
  private readonly wordIndex = new Map<string, number>();

  /** `capacity`: distinct events kept until takeImage(); more are refused ('full'). */
  constructor(readonly capacity: number) {}

  get size(): number {
    return this.n;
  }

  /** One blocked lookup, or `n` identical ones merged elsewhere. Nothing is allocated unless a new list or action name appears. */
  add(e: BlockEvent, n = 1): AddResult {
    // Full: refused without hashing (a flood of distinct names must stay cheap).
    if (this.n >= this.capacity) return 'full';
    const list = this.word(e.list);
    const action = this.word(e.action);
    const client = e.client;
    const fqdn = e.fqdn;
    // FNV-1a over the characters, then the list and action.
    let h = 0x811c9dc5;
    for (let i = 0; i < client.length; i++) h = Math.imul(h ^ client.charCodeAt(i), 0x01000193);
    h = Math.imul(h ^ 0xffff, 0x01000193);
    for (let i = 0; i < fqdn.length; i++) h = Math.imul(h ^ fqdn.charCodeAt(i), 0x01000193);
    h = Math.imul(h ^ (list << 16) ^ action, 0x01000193) | 0;
    const mask = this.table.length - 1;
    let slot = h & mask;
    for (;;) {
      const r = this.table[slot]! - 1;
      if (r < 0) break;
      if (this.hash[r] === h && this.list[r] === list && this.action[r] === action && this.same(r, client, fqdn)) {
        this.count[r]! += n;
        return 'merged';
      }
      slot = (slot + 1) & mask;
    }
    const r = this.n;
    if (r === this.at.length) {
      this.growRecords();
      return this.add(e, n);
    }
    const need = client.length + fqdn.length;
    if (this.used + need > this.chars.length) this.growChars(need);
    let w = this.used;
    const chars = this.chars;
    for (let i = 0; i < client.length; i++) chars[w++] = client.charCodeAt(i);
    for (let i = 0; i < fqdn.length; i++) chars[w++] = fqdn.charCodeAt(i);
    this.start[r] = this.used;
    this.used = w;
    this.clientLen[r] = client.length;
    this.fqdnLen[r] = fqdn.length;
    this.at[r] = e.at;
    this.count[r] = n;
    this.list[r] = list;
    this.action[r] = action;
    this.hash[r] = h;
    this.table[slot] = r + 1;
    this.n = r + 1;
    return 'new';
  }

  /** The events taken whole (copies sized to them), and the buffer empty again (its room kept). */
  takeImage(): BlockEventImage {
    const n = this.n;
    const img: BlockEventImage = {
      n,
      at: this.at.slice(0, n),
      count: this.count.slice(0, n),
      start: this.start.slice(0, n),
      clientLen: this.clientLen.slice(0, n),
      fqdnLen: this.fqdnLen.slice(0, n),
      list: this.list.slice(0, n),
      action: this.action.slice(0, n),
      chars: this.chars.slice(0, this.used),
      words: this.words.slice(),
    };
    this.table.fill(0);
    this.n = 0;
    this.used = 0;
    return img;
  }

  private word(w: string): number {
    let i = this.wordIndex.get(w);
    if (i === undefined) {
      i = this.words.length;
      if (i > 0xffff) throw new RangeError('more than 65,536 distinct list and action names in block events');
      this.words.push(w);
      this.wordIndex.set(w, i);
    }
    return i;
  }

  private same(r: number, client: string, fqdn: string): boolean {
    if (this.clientLen[r] !== client.length || this.fqdnLen[r] !== fqdn.length) return false;
    const chars = this.chars;
    let p = this.start[r]!;
    for (let i = 0; i < client.length; i++) if (chars[p++] !== client.charCodeAt(i)) return false;
    for (let i = 0; i < fqdn.length; i++) if (chars[p++] !== fqdn.charCodeAt(i)) return false;
    return true;
  }

  /** Twice the records' room, and the table rebuilt at twice that. */
  private growRecords(): void {
    const cap = this.at.length * 2;
    this.at = grown(this.at, cap);
    this.count = grown(this.count, cap);
    this.start = grown(this.start, cap);
    this.clientLen = grown(this.clientLen, cap);
    this.fqdnLen = grown(this.fqdnLen, cap);
    this.list = grown(this.list, cap);
    this.action = grown(this.action, cap);
    this.hash = grown(this.hash, cap);
    this.table = new Int32Array(cap * 2);
    const mask = this.table.length - 1;
    for (let r = 0; r < this.n; r++) {
      let slot = this.hash[r]! & mask;
      while (this.table[slot] !== 0) slot = (slot + 1) & mask;
      this.table[slot] = r + 1;
    }
  }

  private growChars(need: number): void {
    let size = this.chars.length * 2;
    while (size < this.used + need) size *= 2;
    this.chars = grown(this.chars, size);
  }
}

function grown<T extends Float64Array | Int32Array | Uint16Array>(a: T, length: number): T {
  const b = new (a.constructor as new (length: number) => T)(length);
  b.set(a);
  return b;
}

/** An image's events as objects, in the order they first came. */
export function eventsOf(img: BlockEventImage): CountedBlockEvent[] {
  const out: CountedBlockEvent[] = new Array(img.n);
  for (let r = 0; r < img.n; r++) {
    const s = img.start[r]!;
    const c = img.clientLen[r]!;
    out[r] = {
      at: img.at[r]!,
      client: text(img.chars, s, s + c),
      fqdn: text(img.chars, s + c, s + c + img.fqdnLen[r]!),
      list: img.words[img.list[r]!]!,
      action: img.words[img.action[r]!]!,
      count: img.count[r]!,
    };
  }
  return out;
}

/** chars[from, to) as a string, in pieces (fromCharCode takes its arguments on the stack). */
function text(chars: Uint16Array, from: number, to: number): string {
  let s = '';
  for (let i = from; i < to; i += 4096) s += String.fromCharCode.apply(null, chars.subarray(i, Math.min(to, i + 4096)) as unknown as number[]);
  return s;
}
