import { parseIp, type IpAddress, type IpPrefix } from './ip.ts';

/**
 * Longest-prefix match from IP prefixes to values: opt-out prefixes (R1
 * consent), rpz-client-ip triggers, member address space at the hub. A binary
 * trie per family; a lookup walks at most 32 or 128 nodes and allocates
 * nothing, so it can sit on the DNS hot path.
 */
interface Node<T> {
  zero: Node<T> | undefined;
  one: Node<T> | undefined;
  value: T | undefined;
  has: boolean;
}

function node<T>(): Node<T> {
  return { zero: undefined, one: undefined, value: undefined, has: false };
}

export class PrefixMap<T> {
  private readonly v4: Node<T> = node();
  private readonly v6: Node<T> = node();
  private count = 0;

  get size(): number {
    return this.count;
  }

  set(prefix: IpPrefix, value: T): void {
    let n = prefix.family === 4 ? this.v4 : this.v6;
    for (let i = 0; i < prefix.bits; i++) {
      const bit = prefix.bytes[i >> 3]! & (0x80 >> (i & 7));
      if (bit) n = n.one ??= node();
      else n = n.zero ??= node();
    }
    if (!n.has) this.count++;
    n.has = true;
    n.value = value;
  }

  /** Removes exactly this prefix (not the ones inside it). Returns whether it was there. */
  delete(prefix: IpPrefix): boolean {
    let n: Node<T> | undefined = prefix.family === 4 ? this.v4 : this.v6;
    for (let i = 0; n && i < prefix.bits; i++) n = prefix.bytes[i >> 3]! & (0x80 >> (i & 7)) ? n.one : n.zero;
    if (!n?.has) return false;
    n.has = false;
    n.value = undefined;
    this.count--;
    return true;
  }

  /** The value of the longest prefix containing the address, with that prefix's length. */
  match(ip: IpAddress): { value: T; bits: number } | undefined {
    let n: Node<T> | undefined = ip.family === 4 ? this.v4 : this.v6;
    let best: Node<T> | undefined;
    let bestBits = 0;
    const max = ip.family === 4 ? 32 : 128;
    for (let i = 0; n; i++) {
      if (n.has) {
        best = n;
        bestBits = i;
      }
      if (i === max) break;
      n = ip.bytes[i >> 3]! & (0x80 >> (i & 7)) ? n.one : n.zero;
    }
    return best ? { value: best.value as T, bits: bestBits } : undefined;
  }

  /** match() for address text; undefined for text that is not an address. */
  matchText(text: string): { value: T; bits: number } | undefined {
    const ip = parseIp(text);
    return ip ? this.match(ip) : undefined;
  }
}
