/**
 * Session events: what a RADIUS accounting packet (live or from a detail
 * file) says about a session, reduced to what attribution needs — and the
 * assembler that turns a stream of them into finished sessions for bulk
 * import. Pure: no I/O.
 */
import type { AccountingEvent } from '../radius/index.ts';
import { heldNetworks, ALL_PORTS, type HoldingRole, type SessionRecord, type SessionSource } from './session.ts';

export interface Held {
  addrKey: string;
  role: HoldingRole;
  /** A CGNAT port block; absent for a whole address or prefix. */
  ports?: { start: number; end: number } | undefined;
}

export type SessionEvent =
  | {
      kind: 'start' | 'interim' | 'stop';
      nas: string;
      sessionId: string;
      subscriber: string;
      held: Held[];
      at: number;
      /** Acct-Session-Time in seconds, when sent (Interim, Stop). */
      sessionTime?: number | undefined;
      source: SessionSource;
    }
  | { kind: 'nas-reset'; nas: string; at: number; source: SessionSource };

/**
 * The NAS as sessions are keyed by: NAS-IP-Address (or NAS-IPv6-Address),
 * else NAS-Identifier, else the packet's source address — the same choice
 * FreeRADIUS makes for radacct.nasipaddress, so imported and live sessions
 * of one NAS share a key.
 */
export function nasKeyOf(nas: AccountingEvent['nas']): string {
  return nas.ip || nas.identifier || nas.address;
}

export type Converted = { ok: true; event: SessionEvent | undefined; problems: string[] } | { ok: false; error: string };

/**
 * An AccountingEvent as a SessionEvent. `event` is undefined for packets that
 * say nothing attribution can use (a Start without any address: the session
 * got no address yet); malformed addresses are reported in `problems` and
 * skipped, the rest of the packet is kept.
 */
export function sessionEventOf(ev: AccountingEvent, source: SessionSource = 'radius'): Converted {
  const nas = nasKeyOf(ev.nas);
  if (ev.status === 'accounting-on' || ev.status === 'accounting-off') return { ok: true, event: { kind: 'nas-reset', nas, at: ev.at, source }, problems: [] };
  if (!ev.sessionId) return { ok: false, error: `${ev.status} from NAS ${nas} has no Acct-Session-Id` };
  const { held, problems } = heldNetworks({ framedIp: ev.framedIp, framedIpv6Prefix: ev.framedIpv6Prefix, delegatedIpv6Prefix: ev.delegatedIpv6Prefix });
  const kind = ev.status === 'interim-update' ? 'interim' : ev.status;
  if (held.length === 0 && kind !== 'stop') return { ok: true, event: undefined, problems };
  return {
    ok: true,
    event: { kind, nas, sessionId: ev.sessionId, subscriber: ev.userName ?? '', held, at: ev.at, sessionTime: ev.sessionTime, source },
    problems,
  };
}

/** Where a session that the events imply, but do not fully describe, began. */
export function inferredStart(at: number, sessionTime: number | undefined): number {
  return sessionTime !== undefined && sessionTime >= 0 ? at - sessionTime * 1000 : at;
}

/** The rows of one session, one per held network. */
export function recordsOf(
  s: { nas: string; sessionId: string; subscriber: string; held: readonly Held[]; source: SessionSource },
  start: number,
  startInferred: boolean,
  end: number | null,
  endInferred: boolean,
  lastSeen: number,
): SessionRecord[] {
  return s.held.map((h) => ({
    nas: s.nas,
    sessionId: s.sessionId,
    subscriber: s.subscriber,
    addrKey: h.addrKey,
    portStart: h.ports?.start ?? ALL_PORTS.start,
    portEnd: h.ports?.end ?? ALL_PORTS.end,
    role: h.role,
    start,
    startInferred,
    end,
    endInferred,
    lastSeen,
    source: s.source,
  }));
}

/** A session as far as some events describe it. */
export interface SessionState {
  nas: string;
  sessionId: string;
  subscriber: string;
  held: Held[];
  start: number;
  startInferred: boolean;
  /** Null while open. */
  end: number | null;
  lastSeen: number;
  source: SessionSource;
}

/**
 * Work that needs the store, in order: what is already there decides what
 * to write. The live RADIUS path is made only of these; an import makes one
 * for each session whose Start it did not see.
 */
export type PendingOp =
  /** A Start: fix the start of open rows that an Interim created, else write the session. */
  | { kind: 'start'; session: SessionState }
  /** An Interim (or a session still open at the end of an import): extend the open rows, else write the session. */
  | { kind: 'touch'; session: SessionState }
  /** A Stop: close the open rows, else correct a derived end, else write the session closed. */
  | { kind: 'close'; session: SessionState }
  /** Accounting-On/Off: close every session of the NAS still open, at that time. */
  | { kind: 'nas-reset'; nas: string; at: number };

/** The store work for one live event. */
export function opOf(ev: SessionEvent): PendingOp {
  if (ev.kind === 'nas-reset') return { kind: 'nas-reset', nas: ev.nas, at: ev.at };
  const base = { nas: ev.nas, sessionId: ev.sessionId, subscriber: ev.subscriber, held: ev.held, lastSeen: ev.at, source: ev.source };
  if (ev.kind === 'start') return { kind: 'start', session: { ...base, start: ev.at, startInferred: false, end: null } };
  const start = inferredStart(ev.at, ev.sessionTime);
  if (ev.kind === 'interim') return { kind: 'touch', session: { ...base, start, startInferred: true, end: null } };
  return { kind: 'close', session: { ...base, start, startInferred: true, end: ev.at } };
}

interface Open extends SessionState {
  /** Its Start was not in this import: the store may hold it already. */
  unpaired: boolean;
}

/**
 * Pairs Start, Interim and Stop of each session within an import, so that
 * nearly every session reaches the store once, finished, in a bulk write.
 * A session whose Start this import did not see becomes one PendingOp for
 * the index to resolve against the store (its Start may be there from an
 * earlier file), however many Interims it had.
 *
 * Memory is bounded: beyond `maxOpen` sessions waiting for their Stop, the
 * oldest are written as open sessions (their Stop will close them later).
 */
export class SessionAssembler {
  private readonly open = new Map<string, Open>();
  records: SessionRecord[] = [];
  ops: PendingOp[] = [];

  constructor(private readonly maxOpen = 1_000_000) {}

  get openCount(): number {
    return this.open.size;
  }

  push(ev: SessionEvent): void {
    if (ev.kind === 'nas-reset') {
      for (const [id, o] of this.open) {
        if (o.nas === ev.nas && o.start <= ev.at) {
          this.emit(o, ev.at, true);
          this.open.delete(id);
        }
      }
      this.ops.push({ kind: 'nas-reset', nas: ev.nas, at: ev.at });
      return;
    }
    const id = `${ev.nas}\u0000${ev.sessionId}`;
    const o = this.open.get(id);
    if (!o) {
      if (ev.kind === 'stop') {
        this.ops.push(opOf(ev));
        return;
      }
      const start = ev.kind === 'start' ? ev.at : inferredStart(ev.at, ev.sessionTime);
      this.add(id, {
        nas: ev.nas, sessionId: ev.sessionId, subscriber: ev.subscriber, held: [...ev.held], start, startInferred: ev.kind !== 'start',
        end: null, lastSeen: ev.at, source: ev.source, unpaired: ev.kind !== 'start',
      });
      return;
    }
    if (ev.kind === 'start') {
      // The Start came after an Interim of the same session (reordered, or a retransmission).
      if (o.startInferred || ev.at < o.start) {
        o.start = ev.at;
        o.startInferred = false;
        o.unpaired = false;
      }
    } else if (ev.kind === 'interim' && o.startInferred) {
      o.start = Math.min(o.start, inferredStart(ev.at, ev.sessionTime));
    }
    this.absorb(o, ev);
    if (ev.kind === 'stop') {
      this.emit(o, ev.at, false);
      this.open.delete(id);
    }
  }

  /** Everything still waiting for a Stop, written as open sessions (end of the import). */
  finish(): void {
    for (const o of this.open.values()) this.emitOpen(o);
    this.open.clear();
  }

  /** Takes what is ready to write. */
  drain(): { records: SessionRecord[]; ops: PendingOp[] } {
    const out = { records: this.records, ops: this.ops };
    this.records = [];
    this.ops = [];
    return out;
  }

  private add(id: string, o: Open): void {
    this.open.set(id, o);
    if (this.open.size > this.maxOpen) {
      // Oldest first (Map keeps insertion order): these waited longest for their Stop.
      const spill = Math.max(1, Math.floor(this.maxOpen / 10));
      let n = 0;
      for (const [k, v] of this.open) {
        if (n++ >= spill) break;
        this.emitOpen(v);
        this.open.delete(k);
      }
    }
  }

  private absorb(o: Open, ev: Extract<SessionEvent, { kind: 'start' | 'interim' | 'stop' }>): void {
    if (ev.at > o.lastSeen) o.lastSeen = ev.at;
    if (o.subscriber === '') o.subscriber = ev.subscriber;
    for (const h of ev.held) if (!o.held.some((x) => x.addrKey === h.addrKey && x.ports?.start === h.ports?.start)) o.held.push(h);
  }

  private emit(o: Open, end: number, endInferred: boolean): void {
    const lastSeen = Math.max(o.lastSeen, end);
    if (o.unpaired && !endInferred) {
      this.ops.push({ kind: 'close', session: { ...stateOf(o), end, lastSeen } });
      return;
    }
    for (const r of recordsOf(o, o.start, o.startInferred, end, endInferred, lastSeen)) this.records.push(r);
  }

  private emitOpen(o: Open): void {
    if (o.unpaired) {
      this.ops.push({ kind: 'touch', session: stateOf(o) });
      return;
    }
    for (const r of recordsOf(o, o.start, o.startInferred, null, false, o.lastSeen)) this.records.push(r);
  }
}

function stateOf(o: Open): SessionState {
  return { nas: o.nas, sessionId: o.sessionId, subscriber: o.subscriber, held: o.held, start: o.start, startInferred: o.startInferred, end: o.end, lastSeen: o.lastSeen, source: o.source };
}
