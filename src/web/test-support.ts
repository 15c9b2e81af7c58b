/**
 * A small ISP node for the portal and console tests: an in-memory SQLite
 * store with the real migrations, the real CaseBook, notice sender (with a
 * mailer that keeps the mails), consent registry and attribution index, and
 * the real HTTP server on a free loopback port. One infected subscriber is
 * found and notified, so the test starts from a real notice link.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Store } from '../store/index.ts';
import { AuditLog, privacyMigrations } from '../privacy/index.ts';
import { ConsentRegistry, consentMigrations } from '../consent/index.ts';
import { casesMigrations, createCases, InMemoryLocator, type Cases, type Mailer } from '../cases/index.ts';
import { Attribution, attributionMigrations, keyOf, SessionIndex } from '../attribution/index.ts';
import { defaultConfig } from '../config/index.ts';
import { makeObservation, ManualClock } from '../core/index.ts';
import { createRegistry, silentLogger } from '../telemetry/index.ts';
import { HttpServer } from './http-server.ts';
import { SubscriberPortal } from './portal/portal.ts';
import type { SubscriberAddresses } from './portal/dns-protection.ts';
import { OperatorConsole } from './console/console.ts';
import { DetectionLog, dnsMigrations, listDetections } from '../dns/index.ts';

export const T0 = Date.parse('2025-01-06T03:00:00Z');
export const SUBSCRIBER = { id: 'S0001', login: 'hanako@isp.example', name: '山田 花子', email: 'hanako@example.jp', ip: '192.0.2.10' };

export interface WebFixture {
  store: Store;
  audit: AuditLog;
  consent: ConsentRegistry;
  cases: Cases;
  clock: ManualClock;
  mails: { to: string; subject: string; text: string }[];
  http: HttpServer;
  portal: SubscriberPortal;
  console: OperatorConsole;
  /** http://127.0.0.1:PORT */
  url: string;
  /** The token of the notice sent to SUBSCRIBER. */
  noticeToken: string;
  caseId: string;
  tokenFile: string;
  operator: { name: string; token: string };
  close(): Promise<void>;
}

export interface WebFixtureOptions {
  addresses?: SubscriberAddresses | 'none';
  invalidLinkLimit?: { limit: number; windowMs: number };
  loginFailureLimit?: { limit: number; windowMs: number };
}

export async function startWebFixture(opts: WebFixtureOptions = {}): Promise<WebFixture> {
  const clock = new ManualClock(T0);
  const store = await openStore('sqlite::memory:');
  await store.migrate([...privacyMigrations, ...consentMigrations, ...casesMigrations, ...attributionMigrations, ...dnsMigrations]);
  const audit = new AuditLog(store, { clock, flushIntervalMs: 0 });
  const consent = new ConsentRegistry(store, audit, { clock });
  const mails: WebFixture['mails'] = [];
  const mailer: Mailer = { send: async (m) => (mails.push(m), { messageId: `<m${mails.length}@test>` }) };
  const config = defaultConfig();
  const dir = mkdtempSync(join(tmpdir(), 'sakimori-web-'));
  const cases = createCases({
    store,
    audit,
    locator: new InMemoryLocator([{ ip: SUBSCRIBER.ip, login: SUBSCRIBER.login, start: T0 - 3_600_000 }]),
    config: { ...config, notify: { ...config.notify, organization: 'サキモリ光', portalUrl: 'http://portal.invalid' } },
    clock,
    mailer,
    consent,
  });
  await cases.subscribers.importLines(['id,login,name,email,language,prefecture', `${SUBSCRIBER.id},${SUBSCRIBER.login},${SUBSCRIBER.name},${SUBSCRIBER.email},ja,東京都`], { actor: 'test' });
  const obs = makeObservation({
    kind: 'suspected-infection',
    source: { name: 'dns-detector@node1', type: 'detector' },
    observedAt: new Date(T0 - 600_000).toISOString(),
    network: { ip: SUBSCRIBER.ip },
    evidence: { family: 'mirai' },
    purpose: 'infection-notice',
  });
  const ingest = await cases.book.ingest([obs], { actor: 'test' });
  const caseId = ingest.due[0]!;
  await cases.sender.runOnce({ actor: 'test', skipBatching: true });
  const token = /\/n\/([A-Za-z0-9_-]{20,})/.exec(mails[0]?.text ?? '')?.[1];
  if (!token) throw new Error(`the notice carries no portal link: ${mails[0]?.text ?? '(no mail sent)'}`);

  const index = new SessionIndex(store, { clock });
  await index.write([{ nas: 'bras-1', sessionId: 'acct-1', subscriber: SUBSCRIBER.login, addrKey: keyOf(SUBSCRIBER.ip)!, portStart: 0, portEnd: 65535, role: 'ipv4', start: T0 - 3_600_000, startInferred: false, end: null, endInferred: false, lastSeen: T0, source: 'radius' }]);
  const attribution = new Attribution(index, audit, { clockSkewMs: 2000 });
  const addresses: SubscriberAddresses | undefined =
    opts.addresses === 'none' ? undefined : (opts.addresses ?? { currentAddresses: async (login) => (login === SUBSCRIBER.login ? [SUBSCRIBER.ip] : []) });

  const registry = createRegistry({ processMetrics: false });
  const http = new HttpServer({ listen: { host: '127.0.0.1', port: 0 }, logger: silentLogger, registry, version: 'test', health: async () => ({ status: 'ok', node: 'test', version: 'test', startedAt: new Date(T0).toISOString(), parts: {} }) });
  await http.prepare();
  const portal = new SubscriberPortal({
    notices: cases.notices,
    cases: cases.book,
    subscribers: cases.subscribers,
    consent,
    addresses,
    logger: silentLogger,
    clock,
    organization: 'サキモリ光',
    portalUrl: 'http://portal.invalid',
    support: '0120-000-000',
    ...(opts.invalidLinkLimit ? { invalidLinkLimit: opts.invalidLinkLimit } : {}),
  });
  // One DNS detection in the store, as the firewall writes it: a random-subdomain attack in force.
  const detections = new DetectionLog(store, audit, { source: 'dns@test', log: () => undefined });
  detections.changed({ id: 'det_prsd1', kind: 'prsd', subject: 'victim.example', purpose: 'dns-abuse-mitigation', action: 'mitigated', startedAt: new Date(T0 - 60_000).toISOString(), updatedAt: new Date(T0).toISOString(), evidence: { qps: 1200, distinctFailQps: 1100 }, confidence: 0.9 });
  await detections.flush();
  const tokenFile = join(dir, 'console-tokens');
  const cons = new OperatorConsole({
    cases: cases.book,
    notices: cases.notices,
    subscribers: cases.subscribers,
    consent,
    lookup: attribution,
    audit,
    detections: { list: (q) => listDetections(store, audit, q) },
    tokenFile,
    logger: silentLogger,
    clock,
    ...(opts.loginFailureLimit ? { loginFailureLimit: opts.loginFailureLimit } : {}),
  });
  for (const p of [portal, cons]) {
    await p.routes(http.app);
    await p.start();
  }
  await http.start();
  const line = readFileSync(tokenFile, 'utf8').split('\n').find((l) => l.startsWith('operator '))!;
  return {
    store,
    audit,
    consent,
    cases,
    clock,
    mails,
    http,
    portal,
    console: cons,
    url: http.url,
    noticeToken: token,
    caseId,
    tokenFile,
    operator: { name: 'operator', token: line.split(' ')[1]! },
    async close() {
      await http.stop();
      await audit.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function basicAuth(name: string, token: string): string {
  return `Basic ${Buffer.from(`${name}:${token}`).toString('base64')}`;
}
