/**
 * Block event rows for dns_block_events, made from a buffer's image (event-buffer.ts) on
 * the thread that writes them: the writer thread, or the main thread where there is none.
 */
import type { SqlValue } from '../../store/index.ts';
import { eventsOf, type BlockEventImage } from './event-buffer.ts';

export const BLOCK_EVENT_INSERT = 'INSERT INTO dns_block_events (id, at, client, fqdn, list, action, purpose, count) VALUES (?, ?, ?, ?, ?, ?, ?, ?)';

/**
 * One row per event. Ids: one random id per write (`idBase`) and a counter per row —
 * unique without 10 random bytes per row (crypto.randomFillSync was 2% of the busy time
 * under a flood of distinct blocked names). `purposes[i]`: the purpose of list
 * `img.words[i]`.
 */
export function blockEventRows(img: BlockEventImage, idBase: string, purposes: readonly (string | null)[]): SqlValue[][] {
  const lists = img.list;
  return eventsOf(img).map((e, r) => [`${idBase}${r.toString(32).padStart(4, '0')}`, e.at, e.client, e.fqdn, e.list, e.action, purposes[lists[r]!] ?? null, e.count]);
}
