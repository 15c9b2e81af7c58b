/**
 * "Who held this address at that time": the decision, from the candidate rows
 * the index returned. Pure (no I/O), so every edge case is a table test.
 *
 * Rules, in order:
 * 1. Rows of one session (same network, NAS, session id) are one session:
 *    a session written twice, or once from an Interim (start inferred) and
 *    once from its late Start, is merged — duplicates are harmless.
 * 2. An open session (no Stop seen) ends where the next session on the same
 *    network starts: the NAS gave the address to somebody else, so the Stop
 *    was lost. Otherwise it is open until now.
 * 3. A session covers time t if start - skew <= t <= end + skew; the skew
 *    tolerance absorbs clock differences between the NAS and the reporter.
 * 4. With a port, only port blocks containing it (and whole-address
 *    sessions) count. Without one, port blocks of a shared (CGNAT) address
 *    make the answer ambiguous: the port is needed.
 * 5. No session covers t: a gap if the network was ever seen (with the
 *    nearest sessions before and after), unknown otherwise. Sessions that
 *    cover t but all belong to one subscriber: found. Several subscribers:
 *    ambiguous, all listed.
 */
import { keyToText } from './address.ts';
import { FLAG_END_INFERRED, FLAG_START_INFERRED, unpackFlags, type HoldingRole, type SessionSource } from './session.ts';

/** A row as the index returns it. */
export interface StoredSession {
  addrKey: string;
  portStart: number;
  portEnd: number;
  start: number;
  end: number | null;
  lastSeen: number;
  subscriber: string;
  nas: string;
  sessionId: string;
  flags: number;
}

/** A session as a look-up shows it. */
export interface SessionView {
  subscriber: string;
  sessionId: string;
  nas: string;
  /** "192.0.2.1", "2001:db8:1::/56", or the public address of a port block. */
  address: string;
  /** Port blocks (CGNAT) only. */
  ports?: { start: number; end: number };
  role: HoldingRole;
  start: string;
  /** Null while the session is open. */
  end: string | null;
  /** The start was derived from Acct-Session-Time (the Start was lost). */
  startInferred?: true;
  /** How an end that no Stop reported was derived. */
  endInferred?: 'nas-restart' | 'next-session';
  lastSeen: string;
  source: SessionSource;
}

export type LookupOutcome =
  | { result: 'found'; subscriber: string; session: SessionView; sessions?: SessionView[] }
  | { result: 'ambiguous'; reason: 'overlap' | 'clock-skew' | 'port-needed'; sessions: SessionView[]; truncated?: true }
  | { result: 'gap'; before?: SessionView; after?: SessionView }
  | { result: 'unknown' };

export interface LookupQuery {
  at: number;
  port?: number | undefined;
  skewMs: number;
}

interface Merged {
  row: StoredSession;
  start: number;
  startInferred: boolean;
  end: number | null;
  /** end, or the next session's start for an open one, or +Infinity. */
  effectiveEnd: number;
  endInferred: 'nas-restart' | 'next-session' | undefined;
}

const WHOLE = (r: StoredSession) => r.portStart === 0 && r.portEnd === 65535;

/** Rule 1: merge rows of one session. A look-up returns a handful of rows, so a linear search beats building a key per row. */
function mergeRows(rows: readonly StoredSession[]): Merged[] {
  const out: Merged[] = [];
  for (const r of rows) {
    const startInferred = (r.flags & FLAG_START_INFERRED) !== 0;
    const endInf = (r.flags & FLAG_END_INFERRED) !== 0;
    let m: Merged | undefined;
    for (let i = 0; i < out.length; i++) {
      const o = out[i]!.row;
      if (o.sessionId === r.sessionId && o.addrKey === r.addrKey && o.portStart === r.portStart && o.nas === r.nas) {
        m = out[i];
        break;
      }
    }
    if (!m) {
      out.push({ row: r, start: r.start, startInferred, end: r.end, effectiveEnd: Infinity, endInferred: r.end !== null && endInf ? 'nas-restart' : undefined });
      continue;
    }
    // A reported start beats a derived one; between two of a kind the earlier wins.
    if ((m.startInferred && !startInferred) || (m.startInferred === startInferred && r.start < m.start)) {
      m.start = r.start;
      m.startInferred = startInferred;
    }
    // A reported end beats a derived one; between two of a kind the later wins. Open + closed = closed.
    if (r.end !== null) {
      const mEndInf = m.endInferred === 'nas-restart';
      if (m.end === null || (mEndInf && !endInf) || (mEndInf === endInf && r.end > m.end)) {
        m.end = r.end;
        m.endInferred = endInf ? 'nas-restart' : undefined;
      }
    }
    if (r.lastSeen > m.row.lastSeen) m.row = { ...m.row, lastSeen: r.lastSeen };
    if (m.row.subscriber === '' && r.subscriber !== '') m.row = { ...m.row, subscriber: r.subscriber };
  }
  return out;
}

/** Rule 2: effective ends, per network and port block: an open session ends where the next one on its network starts. */
function effectiveEnds(sessions: Merged[]): void {
  for (const s of sessions) {
    if (s.end !== null) {
      s.effectiveEnd = s.end;
      continue;
    }
    let next = Infinity;
    for (const n of sessions) {
      if (n.start > s.start && n.start < next && n.row.portStart === s.row.portStart && n.row.addrKey === s.row.addrKey) next = n.start;
    }
    if (next !== Infinity) {
      s.effectiveEnd = next;
      s.endInferred = 'next-session';
    }
  }
}

/** Epoch ms as ISO 8601 (what Date#toISOString gives); the date part of the last day seen is reused. */
let isoDay = NaN;
let isoDate = '';
export function isoTime(t: number): string {
  const day = Math.floor(t / 86_400_000);
  if (day !== isoDay) {
    if (!(t >= 0 && t < 253_402_300_800_000)) return new Date(t).toISOString(); // years 0000-9999 only here
    isoDay = day;
    isoDate = new Date(day * 86_400_000).toISOString().slice(0, 11);
  }
  let ms = t - day * 86_400_000;
  const h = Math.floor(ms / 3_600_000);
  ms -= h * 3_600_000;
  const m = Math.floor(ms / 60_000);
  ms -= m * 60_000;
  const sec = Math.floor(ms / 1000);
  ms -= sec * 1000;
  return `${isoDate}${h < 10 ? '0' : ''}${h}:${m < 10 ? '0' : ''}${m}:${sec < 10 ? '0' : ''}${sec}.${ms < 100 ? (ms < 10 ? '00' : '0') : ''}${ms}Z`;
}

export function toView(m: Merged): SessionView {
  const f = unpackFlags(m.row.flags);
  const closed = m.end !== null || m.endInferred === 'next-session';
  // Built property by property (not spread) in the order the JSON shows them: this runs for every answer.
  const v: SessionView = { subscriber: m.row.subscriber, sessionId: m.row.sessionId, nas: m.row.nas, address: keyToText(m.row.addrKey) } as SessionView;
  if (!WHOLE(m.row)) v.ports = { start: m.row.portStart, end: m.row.portEnd };
  v.role = f.role;
  v.start = isoTime(m.start);
  v.end = closed ? isoTime(m.effectiveEnd) : null;
  if (m.startInferred) v.startInferred = true;
  if (closed && m.endInferred) v.endInferred = m.endInferred;
  v.lastSeen = isoTime(m.row.lastSeen);
  v.source = f.source;
  return v;
}

/** The most specific first: longer prefix, then later start. */
function preference(a: Merged, b: Merged): number {
  const len = (k: string) => (k.includes('/') ? Number(k.slice(k.indexOf('/') + 1)) : 32);
  return len(b.row.addrKey) - len(a.row.addrKey) || b.start - a.start;
}

/** Rules 3-5. */
export function decide(rows: readonly StoredSession[], q: LookupQuery, opts: { maxListed?: number; known?: boolean } = {}): LookupOutcome {
  if (rows.length === 0) return opts.known ? { result: 'gap' } : { result: 'unknown' };
  const maxListed = opts.maxListed ?? 64;
  const sessions = mergeRows(rows);
  effectiveEnds(sessions);
  const t = q.at;
  const port = q.port;
  const relevant = port === undefined ? sessions : sessions.filter((s) => s.row.portStart <= port && port <= s.row.portEnd);
  const covering: Merged[] = [];
  let blocks = 0;
  for (const s of relevant) {
    if (s.start - q.skewMs <= t && t <= s.effectiveEnd + q.skewMs) {
      covering.push(s);
      if (!WHOLE(s.row)) blocks++;
    }
  }
  if (covering.length > 1) covering.sort(preference);
  const strictly = (s: Merged) => s.start <= t && t <= s.effectiveEnd;

  if (port === undefined && blocks > 0 && blocks === covering.length) {
    const subscriber = covering[0]!.row.subscriber;
    if (covering.some((b) => b.row.subscriber !== subscriber)) {
      const listed = covering.slice(0, maxListed).map(toView);
      return { result: 'ambiguous', reason: 'port-needed', sessions: listed, ...(covering.length > maxListed ? { truncated: true as const } : {}) };
    }
  }

  // The network was seen, so this is a gap, not unknown; with a port, only
  // that port's blocks are neighbours (another block is another subscriber).
  if (covering.length === 0) return gapOf(relevant, t);
  const subscriber = covering[0]!.row.subscriber;
  if (covering.every((s) => s.row.subscriber === subscriber)) {
    if (covering.length === 1) return { result: 'found', subscriber, session: toView(covering[0]!) };
    const primary = covering.find(strictly) ?? covering[0]!;
    return { result: 'found', subscriber, session: toView(primary), sessions: covering.map(toView) };
  }
  const strictSubscribers = new Set(covering.filter(strictly).map((s) => s.row.subscriber));
  return { result: 'ambiguous', reason: strictSubscribers.size > 1 ? 'overlap' : 'clock-skew', sessions: covering.slice(0, maxListed).map(toView) };
}

function gapOf(sessions: Merged[], t: number): LookupOutcome {
  let before: Merged | undefined;
  let after: Merged | undefined;
  for (const s of sessions) {
    if (s.start <= t) {
      if (!before || s.effectiveEnd > before.effectiveEnd) before = s;
    } else if (!after || s.start < after.start) {
      after = s;
    }
  }
  return { result: 'gap', ...(before ? { before: toView(before) } : {}), ...(after ? { after: toView(after) } : {}) };
}
