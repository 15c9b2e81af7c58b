import { CASE_STATUSES, FINDING_CLASSES, type Case, type CaseEvent, type CaseStatus, type Finding, type FindingClass, type Notice, type Subscriber } from '../../cases/index.ts';
import type { ConsentEvent, ConsentScope } from '../../consent/index.ts';
import type { LookupResult, SessionView } from '../../attribution/index.ts';
import type { Purpose } from '../../core/index.ts';
import { html, page, type Html } from '../page/html.ts';
import { consoleTime } from '../page/security.ts';
import { CLASS_LABEL } from '../portal/views.ts';

/**
 * The operator console's pages. Labels in Japanese and English ("ケース /
 * Cases"); times in JST with the offset written out. Every value is escaped
 * by the html`` template.
 */
export const STATUS_LABEL: Readonly<Record<CaseStatus, { ja: string; en: string }>> = {
  new: { ja: '新規', en: 'new' },
  notified: { ja: '通知済み', en: 'notified' },
  acknowledged: { ja: '対処連絡あり', en: 'acknowledged' },
  resolved: { ja: '解決', en: 'resolved' },
};

const ACTION_LABEL: Readonly<Record<CaseEvent['action'], { ja: string; en: string }>> = {
  opened: { ja: '起票', en: 'opened' },
  reopened: { ja: '再発で再開', en: 'reopened' },
  notified: { ja: '通知', en: 'notified' },
  acknowledged: { ja: '対処連絡', en: 'acknowledged' },
  resolved: { ja: '解決', en: 'resolved' },
};

const PURPOSE_JA: Partial<Record<Purpose, string>> = {
  'subscriber-attribution': '加入者の特定',
  'infection-notice': '感染の通知',
  'router-survey-notice': '脆弱な機器の通知',
  'credential-abuse': '認証情報の不正利用への対処',
  'cc-blocking': 'C&C 通信の遮断',
  'ddos-response': 'DDoS への対処',
};

export type ConsoleSection = 'cases' | 'attribution' | 'consent' | 'dns';

function bi(l: { ja: string; en: string }): Html {
  return html`${l.ja}<span class="en">${l.en}</span>`;
}

function layout(operator: string, section: ConsoleSection, title: string, body: Html): string {
  const link = (s: ConsoleSection, href: string, label: Html) => html`<a href="${href}"${s === section ? html` aria-current="page"` : ''}>${label}</a>`;
  const header = html`<div class="org">Sakimori オペレーターコンソール<span class="en">Operator console</span></div>
<nav class="sections sub" aria-label="コンソール / Console">
${link('cases', '/console/cases', html`ケース / Cases`)}
${link('attribution', '/console/attribution', html`加入者の特定 / Attribution look-up`)}
${link('consent', '/console/consent', html`同意の履歴 / Consent history`)}
${link('dns', '/console/dns', html`DNS 検知 / DNS detections`)}
<span>オペレーター / Operator: <strong id="operator">${operator}</strong></span>
</nav>`;
  const footer = html`<p>この画面での閲覧・照会・変更はすべて監査ログに記録されます（R16）。<span class="en">Every read, look-up and change made here is written to the audit log (R16).</span></p>`;
  return page({ lang: 'ja', title: `${title} — Sakimori`, header, body, footer });
}

function statusPill(s: CaseStatus): Html {
  return html`<span class="status">${bi(STATUS_LABEL[s])}</span>`;
}

function option(value: string, label: Html | string, selected: boolean): Html {
  return html`<option value="${value}"${selected ? html` selected` : ''}>${label}</option>`;
}

export interface CaseListView {
  operator: string;
  cases: Case[];
  filter: { status?: CaseStatus | undefined; class?: FindingClass | undefined; subscriber?: string | undefined };
  limit: number;
}

export function caseListPage(v: CaseListView): string {
  const f = v.filter;
  const body = html`
<h1>ケース一覧<span class="en">Case queue</span></h1>
<form class="filters" method="get" action="/console/cases">
  <div><label for="status">状態 / Status</label>
  <select id="status" name="status">${option('', 'すべて / all', !f.status)}${CASE_STATUSES.map((s) => option(s, `${STATUS_LABEL[s].ja} / ${STATUS_LABEL[s].en}`, f.status === s))}</select></div>
  <div><label for="class">種類 / Class</label>
  <select id="class" name="class">${option('', 'すべて / all', !f.class)}${FINDING_CLASSES.map((c) => option(c, `${CLASS_LABEL[c].ja} (${c})`, f.class === c))}</select></div>
  <div><label for="subscriber">加入者 ID / Subscriber ID</label>
  <input id="subscriber" name="subscriber" value="${f.subscriber ?? ''}" size="14" maxlength="200"></div>
  <div><button type="submit">絞り込む / Filter</button></div>
</form>
<p>${v.cases.length} 件<span class="en">${v.cases.length} case${v.cases.length === 1 ? '' : 's'}</span>${v.cases.length >= v.limit ? html` — 最新の ${v.limit} 件を表示 / newest ${v.limit} shown` : ''}</p>
<table id="cases">
<thead><tr><th scope="col">ケース / Case</th><th scope="col">加入者 / Subscriber</th><th scope="col">種類 / Class</th><th scope="col">状態 / Status</th><th scope="col" class="num">再発 / Esc.</th><th scope="col" class="num">検知数 / Findings</th><th scope="col">最終検知 / Last seen</th><th scope="col">更新 / Updated</th></tr></thead>
<tbody>
${v.cases.map((c) => html`<tr data-case="${c.id}"><td><a class="mono" href="/console/cases/${encodeURIComponent(c.id)}">${c.id}</a></td><td><a class="mono" href="/console/cases?subscriber=${encodeURIComponent(c.subscriberId)}">${c.subscriberId}</a></td><td>${CLASS_LABEL[c.class].ja}<div class="en">${c.class}</div></td><td>${statusPill(c.status)}</td><td class="num">${c.escalation}</td><td class="num">${c.findings}</td><td>${consoleTime(c.lastSeen)}</td><td>${consoleTime(c.updatedAt)}</td></tr>`)}
</tbody>
</table>`;
  return layout(v.operator, 'cases', 'ケース一覧 / Cases', body);
}

export interface CaseView {
  operator: string;
  csrf: string;
  case: Case;
  events: CaseEvent[];
  findings: Finding[];
  subscriber: Subscriber | undefined;
  notices: Omit<Notice, 'body'>[];
  flash?: { ok: boolean; ja: string; en: string } | undefined;
}

export function casePage(v: CaseView): string {
  const c = v.case;
  const s = v.subscriber;
  const canAck = c.status === 'new' || c.status === 'notified';
  const canResolve = c.status !== 'resolved';
  const body = html`
<p><a href="/console/cases">← ケース一覧 / Case queue</a></p>
<h1>ケース <span class="mono">${c.id}</span><span class="en">Case</span></h1>
${v.flash ? html`<div class="flash${v.flash.ok ? '' : ' warn'}" role="status">${v.flash.ja}<span class="en">${v.flash.en}</span></div>` : ''}
<dl class="facts" id="case-facts">
<dt>状態 / Status</dt><dd id="case-status">${statusPill(c.status)}</dd>
<dt>種類 / Class</dt><dd>${CLASS_LABEL[c.class].ja} <span class="mono">(${c.class})</span></dd>
<dt>目的 / Purpose</dt><dd class="mono">${c.purpose}</dd>
<dt>再発 / Escalation</dt><dd>${c.escalation}</dd>
<dt>検知数 / Findings</dt><dd>${c.findings}（初回 / first ${consoleTime(c.firstSeen)}、最終 / last ${consoleTime(c.lastSeen)}）</dd>
<dt>起票 / Opened</dt><dd>${consoleTime(c.openedAt)}</dd>
<dt>通知 / Notified</dt><dd>${consoleTime(c.notifiedAt)}</dd>
<dt>対処連絡 / Acknowledged</dt><dd>${consoleTime(c.acknowledgedAt)}</dd>
<dt>解決 / Resolved</dt><dd>${consoleTime(c.resolvedAt)}</dd>
<dt>加入者 / Subscriber</dt><dd>${s ? html`<span class="mono">${s.id}</span> — ${s.name || '（氏名なし / no name）'}, ログイン / login <span class="mono">${s.login}</span>, ${s.email || '（メールなし / no e-mail）'}${s.prefecture ? `, ${s.prefecture}` : ''}` : html`<span class="mono">${c.subscriberId}</span>（加入者一覧にありません / not in the subscriber list）`}</dd>
</dl>

<h2>操作<span class="en">Actions</span></h2>
${canAck || canResolve
    ? html`<form method="post" action="/console/cases/${encodeURIComponent(c.id)}/transition" class="filters">
  <input type="hidden" name="csrf" value="${v.csrf}">
  <div><label for="note">メモ（履歴に残ります） / Note (kept in the history)</label><input id="note" name="note" size="40" maxlength="500"></div>
  ${canAck ? html`<div><button type="submit" name="to" value="acknowledged" id="ack-button" class="secondary">対処連絡ありにする / Acknowledge</button></div>` : ''}
  ${canResolve ? html`<div><button type="submit" name="to" value="resolved" id="resolve-button">解決にする / Resolve</button></div>` : ''}
</form>`
    : html`<p>解決済みです。再び検知されると自動で再開します。<span class="en">Resolved; it reopens by itself when the problem is found again.</span></p>`}

<h2>経過<span class="en">History</span></h2>
<table id="events">
<thead><tr><th scope="col">日時 / When</th><th scope="col">出来事 / Event</th><th scope="col">状態 / Status</th><th scope="col" class="num">再発 / Esc.</th><th scope="col">誰が / Actor</th><th scope="col">経路 / Via</th><th scope="col">メモ / Note</th></tr></thead>
<tbody>
${v.events.map((e) => html`<tr><td>${consoleTime(e.at)}</td><td>${bi(ACTION_LABEL[e.action])}</td><td>${e.fromStatus ? html`${STATUS_LABEL[e.fromStatus].en} → ` : ''}${STATUS_LABEL[e.toStatus].en}</td><td class="num">${e.escalation}</td><td class="mono">${e.actor}</td><td>${e.via}</td><td>${e.note ?? ''}</td></tr>`)}
</tbody>
</table>

<h2>証拠<span class="en">Evidence</span></h2>
<p>最新 ${v.findings.length} 件 / newest ${v.findings.length}（全 ${c.findings} 件 / of ${c.findings}）</p>
<table id="findings">
<thead><tr><th scope="col">観測 / Observed</th><th scope="col">種別 / Kind</th><th scope="col">提供元 / Source</th><th scope="col">IP</th><th scope="col">ポート / Port</th><th scope="col">特定 / Attribution</th><th scope="col">内容 / Evidence</th><th scope="col">受信 / Received</th></tr></thead>
<tbody>
${v.findings.map((f) => html`<tr><td>${consoleTime(f.observedAt)}</td><td class="mono">${f.kind}</td><td class="mono">${f.source}</td><td class="mono">${f.ip ?? '—'}</td><td>${f.port ?? '—'}</td><td>${f.attribution}${Object.keys(f.detail).length ? html`<div class="mono">${JSON.stringify(f.detail)}</div>` : ''}</td><td><code>${JSON.stringify(f.evidence)}</code></td><td>${consoleTime(f.receivedAt)}</td></tr>`)}
</tbody>
</table>

<h2>お知らせの履歴<span class="en">Notices to this subscriber</span></h2>
${v.notices.length === 0
    ? html`<p>まだお知らせは送っていません。<span class="en">No notice sent yet.</span></p>`
    : html`<table id="notices">
<thead><tr><th scope="col">お知らせ / Notice</th><th scope="col">作成 / Created</th><th scope="col">送信 / Sent</th><th scope="col">結果 / Status</th><th scope="col">宛先 / To</th><th scope="col">対象 / Covers</th></tr></thead>
<tbody>
${v.notices.map((n) => html`<tr${n.cases.some((x) => x.caseId === c.id) ? html` class="this-case"` : ''}><td class="mono">${n.id}</td><td>${consoleTime(n.createdAt)}</td><td>${consoleTime(n.sentAt)}</td><td>${n.status}${n.error ? html`<div>${n.error}</div>` : ''}</td><td>${n.email}</td><td>${n.cases.map((x) => html`<div>${x.caseId === c.id ? html`<strong>${x.class}</strong>` : x.class}${x.escalation ? ` (+${x.escalation})` : ''}</div>`)}</td></tr>`)}
</tbody>
</table>`}`;
  return layout(v.operator, 'cases', `ケース ${c.id}`, body);
}

export interface AttributionView {
  operator: string;
  csrf: string;
  purposes: readonly Purpose[];
  form: { ip: string; at: string; port: string; purpose: string };
  error?: string | undefined;
  result?: LookupResult | undefined;
  /** The subscriber a found login belongs to, for a link to their cases. */
  subscriber?: Subscriber | undefined;
  available: boolean;
}

function sessionRow(s: SessionView): Html {
  return html`<tr><td class="mono">${s.subscriber}</td><td class="mono">${s.address}${s.ports ? ` :${s.ports.start}-${s.ports.end}` : ''}</td><td>${s.role}</td><td>${consoleTime(Date.parse(s.start))}${s.startInferred ? '（推定 / inferred）' : ''}</td><td>${s.end === null ? '（接続中 / open）' : consoleTime(Date.parse(s.end))}${s.endInferred ? ` (${s.endInferred})` : ''}</td><td class="mono">${s.nas}</td><td class="mono">${s.sessionId}</td><td>${s.source}</td></tr>`;
}

function sessionTable(id: string, rows: SessionView[]): Html {
  return html`<table id="${id}"><thead><tr><th scope="col">ログイン / Login</th><th scope="col">アドレス / Address</th><th scope="col">種類 / Role</th><th scope="col">開始 / Start</th><th scope="col">終了 / End</th><th scope="col">NAS</th><th scope="col">セッション / Session</th><th scope="col">情報源 / Source</th></tr></thead><tbody>${rows.map(sessionRow)}</tbody></table>`;
}

const RESULT_LABEL = {
  found: { ja: '特定できました', en: 'found' },
  ambiguous: { ja: '複数の候補があります', en: 'ambiguous' },
  gap: { ja: 'その時刻のセッションがありません', en: 'gap: no session at that time' },
  unknown: { ja: 'このアドレスのセッションは記録にありません', en: 'unknown address' },
} as const;

export function attributionPage(v: AttributionView): string {
  const r = v.result;
  const body = html`
<h1>加入者の特定<span class="en">Attribution look-up</span></h1>
<p>その時刻にその IP アドレスを使っていた加入者を、認証ログ（RADIUS アカウンティングなど）から調べます。照会には目的が必要で、すべて監査ログに記録されます。結果はこの ISP の外には出ません（R16）。</p>
<p class="en">Finds who held an IP address at a time, from the session records (RADIUS accounting and imports). Every look-up states its purpose and is written to the audit log; results never leave this ISP (R16).</p>
${v.available ? '' : html`<div class="flash warn">このノードでは加入者の特定が使えません（attribution が接続されていません）。<span class="en">Attribution is not wired into this node.</span></div>`}
<form method="post" action="/console/attribution" class="filters" id="lookup-form">
  <input type="hidden" name="csrf" value="${v.csrf}">
  <div><label for="ip">IP アドレス / IP address</label><input id="ip" name="ip" required value="${v.form.ip}" size="30" maxlength="100" placeholder="192.0.2.1"></div>
  <div><label for="at">日時（時差つき） / Time (with offset)</label><input id="at" name="at" required value="${v.form.at}" size="28" maxlength="60" placeholder="2025-01-06T21:00:00+09:00"></div>
  <div><label for="port">ポート（CGNAT） / Port (CGNAT)</label><input id="port" name="port" value="${v.form.port}" size="6" maxlength="5" inputmode="numeric"></div>
  <div><label for="purpose">目的 / Purpose</label><select id="purpose" name="purpose">${v.purposes.map((p) => option(p, `${PURPOSE_JA[p] ?? p} / ${p}`, v.form.purpose === p))}</select></div>
  <div><button type="submit" id="lookup-button">照会 / Look up</button></div>
</form>
<p class="en">Time: ISO 8601 with its offset (2025-01-06T12:00:00Z, 2025-01-06T21:00:00+09:00) or epoch seconds. 時刻は時差（+09:00 または Z）をつけて入力してください。</p>
${v.error ? html`<div class="flash warn" role="alert" id="lookup-error">${v.error}</div>` : ''}
${r
    ? html`<section id="lookup-result" data-result="${r.result}">
<h2>結果: ${RESULT_LABEL[r.result].ja}<span class="en">Result: ${RESULT_LABEL[r.result].en}</span></h2>
<p class="mono">${r.query.ip}${r.query.port !== undefined ? ` port ${r.query.port}` : ''} @ ${consoleTime(Date.parse(r.query.at))} (±${r.query.skewMs} ms) — ${r.query.purpose}</p>
${r.result === 'found'
        ? html`<p>ログイン / Login: <strong class="mono" id="lookup-login">${r.subscriber}</strong>${v.subscriber ? html` — 加入者 / subscriber <a class="mono" href="/console/cases?subscriber=${encodeURIComponent(v.subscriber.id)}">${v.subscriber.id}</a> ${v.subscriber.name}` : html` — 加入者一覧にありません / not in the subscriber list`}</p>${sessionTable('lookup-sessions', r.sessions ?? [r.session])}`
        : r.result === 'ambiguous'
          ? html`<p>理由 / Reason: ${r.reason}${r.truncated ? '（一部のみ表示 / truncated）' : ''}</p>${sessionTable('lookup-sessions', r.sessions)}`
          : r.result === 'gap'
            ? html`<p>前後のセッション / Nearest sessions before and after:</p>${sessionTable('lookup-sessions', [r.before, r.after].filter((x): x is SessionView => x !== undefined))}`
            : html`<p>このアドレスは、記録のどのセッションにも現れません。<span class="en">No session record mentions this address.</span></p>`}
${r.via ? html`<p>CGNAT: 内側のアドレス / inside address <span class="mono">${r.via.insideAddress}</span> → ${r.via.result}</p>` : ''}
</section>`
    : ''}`;
  return layout(v.operator, 'attribution', '加入者の特定 / Attribution look-up', body);
}

export interface ConsentView {
  operator: string;
  query: { scope: ConsentScope; subject: string };
  error?: string | undefined;
  /** Newest first; undefined when no subject was asked for. */
  history?: ConsentEvent[] | undefined;
  optedOut: { scope: ConsentScope; subject: string; since: number }[];
  optedOutShown: number;
}

export function consentPage(v: ConsentView): string {
  const body = html`
<h1>同意の履歴<span class="en">Consent history</span></h1>
<p>DNS による保護（C&amp;C 遮断・警告ページ）のオプトアウト・オプトインの記録です（R1）。変更は加入者がポータルで、またはオペレーターが <code>sakimori consent</code> で行います。</p>
<p class="en">Opt-outs and opt-ins of DNS protection (C&amp;C blocking, warning page), R1. Subscribers change them on the portal; operators with <code>sakimori consent</code>.</p>
<form method="get" action="/console/consent" class="filters">
  <div><label for="scope">対象 / Scope</label><select id="scope" name="scope">${option('subscriber', '加入者 / subscriber', v.query.scope === 'subscriber')}${option('client', 'クライアントのアドレス / client prefix', v.query.scope === 'client')}</select></div>
  <div><label for="subject">加入者 ID またはアドレス / Subscriber ID or prefix</label><input id="subject" name="subject" value="${v.query.subject}" size="30" maxlength="200" placeholder="S000123 / 192.0.2.7/32"></div>
  <div><button type="submit">検索 / Search</button></div>
</form>
${v.error ? html`<div class="flash warn" role="alert">${v.error}</div>` : ''}
${v.history
    ? html`<h2>${v.query.scope}:${v.query.subject}</h2>
${v.history.length === 0
        ? html`<p>記録はありません（契約どおり保護は有効）。<span class="en">No choice recorded (protection on, as in the contract).</span></p>`
        : html`<table id="consent-history"><thead><tr><th scope="col">日時 / When</th><th scope="col">選択 / Choice</th><th scope="col">経路 / Via</th><th scope="col">誰が / Actor</th><th scope="col">理由 / Reason</th></tr></thead><tbody>
${v.history.map((e) => html`<tr><td>${consoleTime(e.at)}</td><td>${e.choice}</td><td>${e.via}</td><td class="mono">${e.actor}</td><td>${e.reason ?? ''}</td></tr>`)}
</tbody></table>`}`
    : ''}
<h2>現在オプトアウト中<span class="en">Opted out now</span></h2>
<p>${v.optedOut.length} 件<span class="en">${v.optedOut.length} in force</span>${v.optedOut.length > v.optedOutShown ? html` — 最初の ${v.optedOutShown} 件を表示 / first ${v.optedOutShown} shown` : ''}</p>
<table id="opted-out"><thead><tr><th scope="col">対象 / Subject</th><th scope="col">いつから / Since</th></tr></thead><tbody>
${v.optedOut.slice(0, v.optedOutShown).map((o) => html`<tr><td><a class="mono" href="/console/consent?scope=${o.scope}&amp;subject=${encodeURIComponent(o.subject)}">${o.scope}:${o.subject}</a></td><td>${consoleTime(o.since)}</td></tr>`)}
</tbody></table>`;
  return layout(v.operator, 'consent', '同意の履歴 / Consent history', body);
}

/** A stored DNS detection as the console shows it (src/dns's DetectionRecord fits). */
export interface ConsoleDetection {
  id: string;
  kind: 'prsd' | 'amplification' | 'suspected-infection';
  subject: string;
  action: string;
  startedAt: string;
  endedAt?: string | undefined;
  endReason?: string | undefined;
  evidence: Record<string, unknown>;
  source: string;
  error?: string | undefined;
}

const DETECTION_KIND_LABEL: Readonly<Record<ConsoleDetection['kind'], { ja: string; en: string }>> = {
  prsd: { ja: 'ランダムサブドメイン攻撃', en: 'random-subdomain attack (prsd)' },
  amplification: { ja: '増幅攻撃に悪用される名前', en: 'amplification name' },
  'suspected-infection': { ja: '感染の疑い', en: 'suspected infection' },
};

export interface DetectionsView {
  operator: string;
  /** Undefined: this node keeps no detections (no DNS part). */
  detections: ConsoleDetection[] | undefined;
  filter: { kind?: ConsoleDetection['kind'] | undefined; active: boolean };
  limit: number;
}

export function detectionsPage(v: DetectionsView): string {
  const evidence = (e: Record<string, unknown>) => Object.entries(e).slice(0, 8).map(([k, x]) => `${k}=${typeof x === 'object' ? JSON.stringify(x) : String(x)}`).join('  ');
  const body = html`
<h1>DNS 検知<span class="en">DNS detections</span></h1>
<p>DNS ファイアウォールと dnstap コレクタが見つけた、ランダムサブドメイン攻撃・増幅攻撃に悪用される名前・感染の疑いです（新しい順）。証拠は要約のみで、問い合わせの記録は残していません（R16）。</p>
<p class="en">Random-subdomain attacks, amplification names and suspected infections found by the DNS firewall and the dnstap collector, newest first. The evidence is a summary; no query log is kept (R16).</p>
<form method="get" action="/console/dns" class="filters">
  <div><label for="kind">種類 / Kind</label><select id="kind" name="kind">${option('', 'すべて / all', v.filter.kind === undefined)}${(['prsd', 'amplification', 'suspected-infection'] as const).map((k) => option(k, html`${DETECTION_KIND_LABEL[k].ja} / ${DETECTION_KIND_LABEL[k].en}`, v.filter.kind === k))}</select></div>
  <div><label for="active"><input type="checkbox" id="active" name="active" value="1"${v.filter.active ? html` checked` : ''}> 継続中のみ / in force only</label></div>
  <div><button type="submit">絞り込む / Filter</button></div>
</form>
${v.detections === undefined
    ? html`<p>このノードには DNS 検知がありません。<span class="en">This node keeps no DNS detections.</span></p>`
    : v.detections.length === 0
      ? html`<p id="no-detections">該当する検知はありません。<span class="en">No detections.</span></p>`
      : html`<table id="detections"><thead><tr><th scope="col">種類 / Kind</th><th scope="col">対象 / Subject</th><th scope="col">対処 / Action</th><th scope="col">開始 / Started</th><th scope="col">終了 / Ended</th><th scope="col">証拠 / Evidence</th><th scope="col">検知元 / Source</th></tr></thead><tbody>
${v.detections.slice(0, v.limit).map((d) => html`<tr data-detection="${d.id}" data-kind="${d.kind}"><td>${bi(DETECTION_KIND_LABEL[d.kind])}</td><td class="mono">${d.subject}</td><td>${d.action}${d.error ? html`<div class="en">${d.error}</div>` : ''}</td><td>${consoleTime(Date.parse(d.startedAt))}</td><td>${d.endedAt ? html`${consoleTime(Date.parse(d.endedAt))}${d.endReason ? html`<div class="en">${d.endReason}</div>` : ''}` : html`<strong>継続中 / in force</strong>`}</td><td class="mono">${evidence(d.evidence)}</td><td class="mono">${d.source}</td></tr>`)}
</tbody></table>`}`;
  return layout(v.operator, 'dns', 'DNS 検知 / DNS detections', body);
}

export function unauthorizedPage(): string {
  const body = html`
<h1>ログインが必要です<span class="en">Please log in</span></h1>
<p>オペレーター名とトークンでログインしてください（HTTP Basic 認証: ユーザー名にオペレーター名、パスワードにトークン）。スクリプトからは <code>Authorization: Bearer TOKEN</code> を送ります。オペレーターとトークンは、<code>web.console.tokenFile</code> のファイルにあります。その場所は <code>sakimori start</code> の表示の「console login」の行にあります。</p>
<p class="en">Log in with an operator name and token (HTTP Basic: the operator name as user, the token as password), or send <code>Authorization: Bearer TOKEN</code>. Operators and tokens are in the file named by <code>web.console.tokenFile</code>; <code>sakimori start</code> prints where it is on its "console login" line.</p>`;
  return page({ lang: 'ja', title: 'ログインが必要です / Log in — Sakimori', header: html`<div class="org">Sakimori オペレーターコンソール<span class="en">Operator console</span></div>`, body });
}

export function consoleMessagePage(operator: string | undefined, title: { ja: string; en: string }, detail: { ja: string; en: string }): string {
  const body = html`<h1>${title.ja}<span class="en">${title.en}</span></h1><p>${detail.ja}</p><p class="en">${detail.en}</p><p><a href="/console/cases">ケース一覧 / Case queue</a></p>`;
  if (operator !== undefined) return layout(operator, 'cases', `${title.ja} / ${title.en}`, body);
  return page({ lang: 'ja', title: `${title.ja} / ${title.en} — Sakimori`, header: html`<div class="org">Sakimori オペレーターコンソール<span class="en">Operator console</span></div>`, body });
}
