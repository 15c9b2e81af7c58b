import type { Migration } from '../store/index.ts';

/**
 * The attribution index. Sized for ~10^7 sessions a day kept for 90 days.
 *
 * - attribution_sessions: one row per held network of a session. The row id
 *   grows with insertion, so the table itself is appended to; the only index
 *   that takes random inserts is the lookup index.
 * - attribution_sessions_lookup (UNIQUE): (address key, first port, start,
 *   session hash). A look-up is one descent to (key, port, time) and a few
 *   steps back in time; being unique, it also makes writing the same session
 *   twice land on the same row (idempotent imports) without a second index
 *   on the NAS and session id strings.
 * - attribution_sessions_open (partial, open rows only): Stop, Interim and
 *   Accounting-On find the open rows of a NAS / session. Closed sessions
 *   (nearly all imported ones) never enter it.
 * - attribution_sessions_seen: retention deletes by last_seen; times grow, so
 *   this index is appended to as well.
 * - attribution_prefix_lengths: which prefix lengths exist, so a look-up of
 *   a /128 probes /64, /56, /48 ... only for lengths some session holds.
 *
 * On PostgreSQL the key is compared byte-wise (COLLATE "C"): it is hex, and
 * locale-aware comparison would only cost time.
 */
const columns = (key: string, id: string) => `
  id ${id},
  addr_key ${key} NOT NULL,
  port_start BIGINT NOT NULL,
  port_end BIGINT NOT NULL,
  start_at BIGINT NOT NULL,
  end_at BIGINT,
  last_seen BIGINT NOT NULL,
  sid_hash BIGINT NOT NULL,
  subscriber TEXT NOT NULL,
  nas TEXT NOT NULL,
  session_id TEXT NOT NULL,
  flags BIGINT NOT NULL`;

/**
 * The two indexes that take every row of a closed session. A bulk load into
 * an empty index (SessionIndex.beginBulkLoad) drops them and builds them once
 * at its end, sorting instead of inserting at random.
 */
export const LOOKUP_INDEX = 'CREATE UNIQUE INDEX attribution_sessions_lookup ON attribution_sessions (addr_key, port_start, start_at, sid_hash)';
export const SEEN_INDEX = 'CREATE INDEX attribution_sessions_seen ON attribution_sessions (last_seen)';

const indexes = `
${LOOKUP_INDEX};
CREATE INDEX attribution_sessions_open ON attribution_sessions (nas, session_id) WHERE end_at IS NULL;
${SEEN_INDEX};
CREATE TABLE attribution_prefix_lengths (family BIGINT NOT NULL, len BIGINT NOT NULL, PRIMARY KEY (family, len));`;

/**
 * The public addresses that CGNAT shares out in port blocks: few (the NAT
 * pools), read whole into memory, so a look-up of an ordinary address never
 * probes for port blocks.
 */
const sharedAddresses = 'CREATE TABLE attribution_shared_addresses (addr_key TEXT NOT NULL PRIMARY KEY)';

export const attributionMigrations: readonly Migration[] = [
  {
    id: 'attribution/0001-sessions',
    sql: {
      sqlite: `CREATE TABLE attribution_sessions (${columns('TEXT', 'INTEGER PRIMARY KEY')});${indexes}`,
      postgres: `CREATE TABLE attribution_sessions (${columns('TEXT COLLATE "C"', 'BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY')});${indexes}`,
    },
  },
  { id: 'attribution/0002-shared-addresses', sql: sharedAddresses },
  {
    // What a subscriber holds now (the portal's opt-out applies to it at once): open rows only, like the open index.
    id: 'attribution/0003-open-by-subscriber',
    sql: 'CREATE INDEX attribution_sessions_open_subscriber ON attribution_sessions (subscriber) WHERE end_at IS NULL',
  },
];
