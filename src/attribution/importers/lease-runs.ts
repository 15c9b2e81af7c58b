/**
 * DHCP servers log a lease again at every renewal (with a new start or
 * expiry), so one client holding one address for a week is hundreds of
 * lease records. They are folded into one session per uninterrupted run:
 * same address, same client, each renewal starting before the previous
 * lease ran out. A release or expiry ends the run.
 */
import { keyOf } from '../address.ts';
import type { HoldingRole, SessionRecord, SessionSource } from '../session.ts';
import type { ImportSink } from './format.ts';

interface Run {
  subscriber: string;
  addrKey: string;
  role: HoldingRole;
  start: number;
  end: number;
  lastSeen: number;
}

export interface LeaseEvent {
  /** Address or prefix text ("192.0.2.10", "2001:db8:1::/56"). */
  address: string;
  subscriber: string;
  start: number;
  end: number;
  /** False for a lease that was released, expired or freed: it ends the run at `end`. */
  active: boolean;
  role: HoldingRole;
  line: number;
}

/** Renewals may arrive a little after the previous lease's end (clock steps, late writes). */
const RENEWAL_SLACK_MS = 60_000;

export class LeaseRuns {
  private readonly runs = new Map<string, Run>();

  constructor(
    private readonly nas: string,
    private readonly source: SessionSource,
    private readonly sink: ImportSink,
  ) {}

  push(l: LeaseEvent): void {
    const key = keyOf(l.address);
    if (key === undefined) return this.sink.bad(l.line, `"${l.address}" is not an IP address or prefix`);
    if (!(l.end >= l.start)) return this.sink.bad(l.line, 'the lease ends before it starts');
    const run = this.runs.get(key);
    const same = run !== undefined && run.subscriber === l.subscriber && l.start <= run.end + RENEWAL_SLACK_MS;
    if (!l.active) {
      if (run && same) {
        run.end = Math.max(run.start, Math.min(run.end, l.end));
        run.lastSeen = Math.max(run.lastSeen, l.end);
        this.emit(run);
        this.runs.delete(key);
      } else {
        this.sink.skip('lease not active');
      }
      return;
    }
    if (run && same) {
      run.end = l.end;
      run.lastSeen = Math.max(run.lastSeen, l.start);
      return;
    }
    if (run) {
      // Another client (or a gap): the previous run ended at the latest when this one began.
      run.end = Math.min(run.end, l.start);
      this.emit(run);
    }
    this.runs.set(key, { subscriber: l.subscriber, addrKey: key, role: l.role, start: l.start, end: l.end, lastSeen: l.start });
  }

  finish(): void {
    for (const run of this.runs.values()) this.emit(run);
    this.runs.clear();
  }

  private emit(run: Run): void {
    const r: SessionRecord = {
      nas: this.nas,
      sessionId: `${run.addrKey}@${run.start}`,
      subscriber: run.subscriber,
      addrKey: run.addrKey,
      portStart: 0,
      portEnd: 65535,
      role: run.role,
      start: run.start,
      startInferred: false,
      end: run.end,
      endInferred: false,
      lastSeen: Math.max(run.lastSeen, run.start),
      source: this.source,
    };
    this.sink.record(r);
  }
}
