import type { Observation, ObservationKind, Purpose } from '../core/index.ts';

/**
 * The vocabulary of cases: what a subscriber is told about (a finding class),
 * how a case moves (its lifecycle), and why a finding could not be tied to a
 * subscriber. Types and pure functions only.
 */

/** One notice template and one open case per (subscriber, class). */
export const FINDING_CLASSES = ['cc-infection', 'open-resolver', 'exposed-router-admin', 'weak-iot-password', 'credential-abuse'] as const;
export type FindingClass = (typeof FINDING_CLASSES)[number];

/**
 * The purpose a finding of each class was collected for (R16). An observation
 * becomes a finding only if it was collected for exactly this purpose: a C&C
 * query logged for blocking (cc-blocking) is not silently reused for a notice;
 * the detector that judges a client infected emits `suspected-infection` for
 * `infection-notice` instead.
 */
export const CLASS_PURPOSE: Readonly<Record<FindingClass, Purpose>> = {
  'cc-infection': 'infection-notice', // R1, R5
  'open-resolver': 'router-survey-notice', // R3
  'exposed-router-admin': 'router-survey-notice', // R3
  'weak-iot-password': 'router-survey-notice', // R9 (NOTICE)
  'credential-abuse': 'credential-abuse', // R2, R12
};

const KIND_CLASS: Partial<Record<ObservationKind, FindingClass>> = {
  'suspected-infection': 'cc-infection',
  'sinkhole-hit': 'cc-infection',
  'honeypot-login': 'cc-infection', // a terminal brute-forcing a honeypot is a bot
  'cc-contact': 'cc-infection',
  'cc-query': 'cc-infection',
  'open-resolver': 'open-resolver',
  'exposed-admin': 'exposed-router-admin',
  'weak-credential': 'weak-iot-password',
  'credential-abuse': 'credential-abuse',
};

/** The class an observation kind leads to, if subscribers are told about it at all. */
export function classOfKind(kind: ObservationKind): FindingClass | undefined {
  return KIND_CLASS[kind];
}

/** Why an observation cannot become a finding: undefined when it can. */
export function refusalOf(obs: Observation): string | undefined {
  const cls = classOfKind(obs.kind);
  if (!cls) return `kind "${obs.kind}" is not something subscribers are notified about`;
  if (obs.purpose !== CLASS_PURPOSE[cls]) {
    return `kind "${obs.kind}" was collected for "${obs.purpose}", but ${cls} notices need "${CLASS_PURPOSE[cls]}" (R16: no reuse for another purpose)`;
  }
  return undefined;
}

export const CASE_STATUSES = ['new', 'notified', 'acknowledged', 'resolved'] as const;
export type CaseStatus = (typeof CASE_STATUSES)[number];

/**
 * How a finding was, or was not, tied to a subscriber. `found` is the only
 * attributed outcome; the rest are the reasons a finding stays unattributed.
 */
export const ATTRIBUTIONS = ['found', 'gap', 'unknown', 'ambiguous', 'not-our-address-space', 'unknown-login', 'no-address'] as const;
export type Attribution = (typeof ATTRIBUTIONS)[number];

export const ATTRIBUTION_MEANING: Readonly<Record<Attribution, string>> = {
  found: 'the subscriber who held the address at that time',
  gap: 'the address is ours, but no session covered that time',
  unknown: 'attribution knows no session for this address',
  ambiguous: 'more than one session covered that time (overlap or clock skew)',
  'not-our-address-space': 'the address is outside cases.addressSpace: not our subscriber',
  'unknown-login': 'a session was found, but its login is not in the subscriber list (sakimori subscribers import)',
  'no-address': 'the finding names no address and no login',
};

export interface Subscriber {
  id: string;
  /** The PPPoE / RADIUS user name. */
  login: string;
  name: string;
  email: string;
  /** "ja" or "en": notices are in Japanese first and English second either way. */
  language: string;
  prefecture: string;
}

export interface Finding {
  /** The observation id: an observation becomes at most one finding (idempotent intake). */
  id: string;
  kind: ObservationKind;
  class: FindingClass;
  purpose: Purpose;
  /** e.g. "shadowserver:scan_dns", "xarf:connection/infected_host", "dns-firewall@node1". */
  source: string;
  ip: string | null;
  port: number | null;
  observedAt: number;
  receivedAt: number;
  attribution: Attribution;
  /** For unattributed findings, the reason in words; for found ones, the session facts. */
  detail: Record<string, unknown>;
  subscriberId: string | null;
  caseId: string | null;
  evidence: Record<string, unknown>;
}

export interface Case {
  id: string;
  subscriberId: string;
  class: FindingClass;
  purpose: Purpose;
  status: CaseStatus;
  /** 0 when first opened; +1 each time it is found again after being resolved. */
  escalation: number;
  openedAt: number;
  /** When it last became due for a notice (opened or reopened); null once notified. */
  pendingSince: number | null;
  updatedAt: number;
  firstSeen: number;
  lastSeen: number;
  findings: number;
  notifiedAt: number | null;
  acknowledgedAt: number | null;
  resolvedAt: number | null;
  lastNoticeId: string | null;
}

export interface CaseEvent {
  id: string;
  caseId: string;
  at: number;
  action: 'opened' | 'reopened' | 'notified' | 'acknowledged' | 'resolved';
  fromStatus: CaseStatus | null;
  toStatus: CaseStatus;
  escalation: number;
  actor: string;
  via: string;
  note: string | null;
}
