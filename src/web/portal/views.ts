import type { Case, FindingClass, Notice } from '../../cases/index.ts';
import type { ConsentEvent } from '../../consent/index.ts';
import { html, page, type Html } from '../page/html.ts';
import { enTime, jaTime } from '../page/security.ts';
import type { DnsProtectionState } from './dns-protection.ts';

/**
 * The subscriber's pages, Japanese first and English second (the notices'
 * order). They say no more than the notice did (R16): the stored notice
 * text, the class of each problem and where its case stands — no new
 * findings, addresses or times beyond what the mail carried.
 */
export const CLASS_LABEL: Readonly<Record<FindingClass, { ja: string; en: string }>> = {
  'cc-infection': { ja: 'マルウェア感染の疑い', en: 'A device that looks infected with malware' },
  'open-resolver': { ja: '誰からでも使える DNS サーバー（オープンリゾルバー）', en: 'A DNS server anyone on the Internet can use (open resolver)' },
  'exposed-router-admin': { ja: 'インターネットから見えるルーターの管理画面', en: 'A router admin page reachable from the Internet' },
  'weak-iot-password': { ja: '推測されやすいパスワードの IoT 機器', en: 'An IoT device with an easily guessed password' },
  'credential-abuse': { ja: '接続用 ID・パスワードの不正利用の疑い', en: 'Your connection ID and password may be misused' },
};

const STATUS_LABEL: Readonly<Record<Case['status'], { ja: string; en: string }>> = {
  new: { ja: '確認中', en: 'Being checked' },
  notified: { ja: '対処をお願いしています', en: 'Action needed' },
  acknowledged: { ja: '対処済みのご連絡をいただきました', en: 'You told us it is fixed' },
  resolved: { ja: '解決済み', en: 'Resolved' },
};

const VIA_LABEL: Readonly<Record<ConsentEvent['via'], { ja: string; en: string }>> = {
  portal: { ja: 'このページから', en: 'on this page' },
  cli: { ja: '当社窓口で', en: 'by our staff' },
  api: { ja: '当社システムで', en: 'by our systems' },
  contract: { ja: 'ご契約手続きで', en: 'with your contract' },
  session: { ja: '接続の変更に合わせて自動で', en: 'automatically, as your connection changed' },
};

export type PortalFlash = 'fixed' | 'nothing-to-fix' | 'dns-off' | 'dns-on' | 'dns-same' | 'form-expired';

export interface PortalView {
  organization: string;
  support: string;
  token: string;
  csrf: string;
  notice: Notice;
  cases: Case[];
  /** Cases the "I fixed it" button acknowledges: told about in this notice, not yet acknowledged. */
  fixable: Case[];
  dns: DnsProtectionState;
  /** Whether an opt-out reaches the subscriber's addresses at once (the node wired attribution's current addresses). */
  appliesToAddresses: boolean;
  /** Whether it also follows the subscriber onto the addresses a reconnection gives them (the consent follower). */
  followsNewAddresses?: boolean;
  flash?: PortalFlash;
}

function header(org: string): Html {
  return html`<div class="org">${org}</div><div class="sub">セキュリティに関するお知らせ<span class="en">Security notice</span></div>`;
}

function footer(org: string, support: string): Html {
  return html`<p>このページのアドレスは、お客様だけにお送りしたものです。他の方には教えないでください。当社がパスワードやクレジットカード番号をお尋ねすることはありません。</p>
<p class="en">This page's address was sent to you only; please do not share it. We never ask for passwords or credit card numbers.</p>
${support ? html`<p>お問い合わせ / Contact: ${support}</p>` : ''}
<p>${org}</p>`;
}

const FLASH: Readonly<Record<PortalFlash, { ja: string; en: string; warn?: true }>> = {
  fixed: { ja: 'ご連絡ありがとうございます。対処済みとして受け付けました。問題がまた見つかった場合は、あらためてお知らせします。', en: 'Thank you. We have recorded that you fixed it. If the problem is found again, we will tell you.' },
  'nothing-to-fix': { ja: 'このお知らせの問題は、すでに対処済みとして受け付けています。', en: 'We have already recorded the problems in this notice as fixed.' },
  'dns-off': { ja: 'DNS による保護を止めました（オプトアウト）。すぐに反映されます。ほかのご契約条件は変わりません。', en: 'DNS protection is now off (you opted out). This applies at once; all other terms of your contract stay the same.' },
  'dns-on': { ja: 'DNS による保護を再開しました。すぐに反映されます。', en: 'DNS protection is on again. This applies at once.' },
  'dns-same': { ja: 'すでにその設定になっています。', en: 'That was already the setting.' },
  'form-expired': { ja: '画面の有効期限が切れていたため、操作を受け付けられませんでした。もう一度お試しください。', en: 'This page had expired, so nothing was changed. Please try again.', warn: true },
};

/** The message after a form, shown in the section the form was in (the redirect jumps there). */
function flashBox(flash: PortalFlash | undefined, here: readonly PortalFlash[]): Html | '' {
  if (!flash || !here.includes(flash)) return '';
  const f = FLASH[flash];
  return html`<div class="flash${f.warn ? ' warn' : ''}" role="status" id="flash"><p>${f.ja}</p><p class="en">${f.en}</p></div>`;
}

/** The notice text as mailed, split into its Japanese and English halves (notices are written in that order). */
export function noticeHalves(body: string): { ja: string; en: string } {
  const m = /\n-{5,} English -{5,}\n/.exec(body);
  if (!m) return { ja: body.trim(), en: '' };
  return { ja: body.slice(0, m.index).trim(), en: body.slice(m.index + m[0].length).trim() };
}

export function portalPage(v: PortalView): string {
  const base = `/n/${v.token}`;
  // The stored copy has "[token]" where the link was: show the subscriber their own link again.
  const text = noticeHalves(v.notice.body.replaceAll('[token]', v.token));
  const sentAt = v.notice.sentAt ?? v.notice.createdAt;
  const acknowledgedAt = Math.max(0, ...v.cases.map((c) => c.acknowledgedAt ?? 0));
  const byId = new Map(v.cases.map((c) => [c.id, c]));
  const dnsOff = v.dns.status === 'off';

  const body = html`
<h1>お客様の回線で見つかった問題<span class="en">A problem found on your connection</span></h1>
<p>${jaTime(sentAt)}にお送りしたお知らせです。<span class="en">The notice we sent on ${enTime(sentAt)}.</span></p>
<nav class="sections" aria-label="このページの内容 / On this page">
  <a href="#fixed">対処しました / I fixed it</a>
  <a href="#notice">お知らせ全文 / Full notice</a>
  <a href="#dns">DNS による保護 / DNS protection</a>
</nav>
${flashBox(v.flash, ['form-expired'])}

<section aria-labelledby="found-h">
<h2 id="found-h">見つかった問題<span class="en">What we found</span></h2>
<ul class="plain">
${v.notice.cases.map((nc) => {
  const c = byId.get(nc.caseId);
  const label = CLASS_LABEL[nc.class];
  return html`<li class="card"><strong>${label.ja}</strong>${nc.escalation > 0 ? html` <span class="status off">再発 / recurring</span>` : ''}<div class="en">${label.en}</div>
  ${c ? html`状況<span class="en">Status</span>: <span class="status">${STATUS_LABEL[c.status].ja}<span class="en">${STATUS_LABEL[c.status].en}</span></span>` : html`状況<span class="en">Status</span>: 記録の保存期間が過ぎました<span class="en">no longer kept</span>`}</li>`;
})}
</ul>
<p>いつ、どの IP アドレスで、何が見つかったか、そして対処方法は、下の<a href="#notice">お知らせ全文</a>に書いてあります。</p>
<p class="en">When and at which IP address it was found, and the steps to fix it, are in the <a href="#notice">full notice</a> below.</p>
</section>

<section aria-labelledby="fixed">
<h2 id="fixed">対処が済んだら<span class="en">When you have fixed it</span></h2>
${flashBox(v.flash, ['fixed', 'nothing-to-fix'])}
${v.fixable.length > 0
    ? html`<p>お知らせの対処方法を済ませたら、このボタンを押してください。押していただくと、当社で対処済みとして記録します。問題がまた見つかった場合は、あらためてお知らせします。</p>
<p class="en">Once you have taken the steps in the notice, press this button. We record the problem as fixed on your side; if it is found again, we will tell you.</p>
<form method="post" action="${base}/fixed">
  <input type="hidden" name="csrf" value="${v.csrf}">
  <button type="submit" id="fixed-button">対処しました<span class="en">I fixed it</span></button>
</form>`
    : html`<p>${acknowledgedAt > 0 ? html`${jaTime(acknowledgedAt)}に、対処済みのご連絡を受け付けました。` : 'このお知らせについて、いまお願いしている対処はありません。'}</p>
<p class="en">${acknowledgedAt > 0 ? `We recorded on ${enTime(acknowledgedAt)} that you fixed it.` : 'There is nothing in this notice that still needs your action.'}</p>`}
</section>

<section aria-labelledby="notice">
<h2 id="notice">お知らせ全文<span class="en">Full notice</span></h2>
<div class="notice-text" lang="ja">${text.ja}</div>
${text.en ? html`<h3 lang="en">English</h3><div class="notice-text" lang="en">${text.en}</div>` : ''}
</section>

<section aria-labelledby="dns">
<h2 id="dns">DNS による保護<span class="en">DNS protection</span></h2>
${flashBox(v.flash, ['dns-off', 'dns-on', 'dns-same'])}
<p>いまの状態<span class="en">Now</span>: <strong class="status ${dnsOff ? 'off' : 'on'}" id="dns-status">${dnsOff ? html`停止中（オプトアウト）<span class="en">Off (opted out)</span>` : html`有効<span class="en">On</span>`}</strong></p>
<p>当社の DNS サーバーは、マルウェアに指令を出す「C&amp;C サーバー」のドメイン名への問い合わせを遮断し、マルウェアを配布するサイトには警告ページを表示して、お客様の機器が悪用されるのを防いでいます。確認するのは DNS の問い合わせに含まれるドメイン名（FQDN）だけで、通信の内容は見ません。確認は機械的・自動的に行い、この目的以外には使いません。</p>
<p class="en">Our DNS servers block look-ups of the domain names of "C&amp;C servers", which give orders to malware, and show a warning page for sites that spread malware, so that your devices cannot be misused. Only the domain name (FQDN) in each DNS look-up is checked, never the content of your communications; the check is mechanical and automatic, and used for nothing else.</p>
<div class="card">
<h3>${dnsOff ? html`再開すると<span class="en">If you turn it back on</span>` : html`止めると（オプトアウト）<span class="en">If you turn it off (opt out)</span>`}</h3>
${dnsOff
    ? html`<ul>
<li>お客様の回線からの DNS の問い合わせに、ふたたび上の保護がかかります。<div class="en">The protection above applies again to DNS look-ups from your connection.</div></li>
<li>感染した機器があるあいだは、再開をお勧めします。<div class="en">We recommend turning it back on while a device may be infected.</div></li>
<li>いつでも、このページからまた止められます。<div class="en">You can turn it off again on this page at any time.</div></li>
</ul>`
    : html`<ul>
<li><strong>止まること</strong>: お客様の回線からの DNS の問い合わせの確認と、C&amp;C サーバーの遮断・警告ページの表示。<div class="en"><strong>What stops</strong>: the check of DNS look-ups from your connection, the blocking of C&amp;C servers and the warning page.</div></li>
<li><strong>変わらないこと</strong>: インターネット接続、料金、そのほかのご契約条件はすべてそのままです。ほかの方法（セキュリティ機関からの報告など）で問題が見つかったときのメールでのお知らせも続きます。<div class="en"><strong>What continues</strong>: your Internet connection, its price and every other term of your contract stay the same. We still tell you by e-mail about problems found in other ways (for example, reports from security organisations).</div></li>
<li><strong>反映</strong>: 押すとすぐに${v.followsNewAddresses ? '、お客様の回線がいま使っている IP アドレスと、再接続で変わったあとの IP アドレスに' : v.appliesToAddresses ? '、お客様の回線がいま使っている IP アドレスに' : ''}反映されます。いつでも、このページから再開できます。<div class="en"><strong>When</strong>: at once${v.followsNewAddresses ? ', for the IP addresses your connection uses now and those it gets when it reconnects' : v.appliesToAddresses ? ', for the IP addresses your connection uses now' : ''}. You can turn it back on here at any time.</div></li>
<li>当社以外の DNS サーバーをお使いいただくことでも、この保護を受けないようにできます。<div class="en">Using a DNS server other than ours also keeps you out of this protection.</div></li>
</ul>`}
<form method="post" action="${base}/dns-protection">
  <input type="hidden" name="csrf" value="${v.csrf}">
  <input type="hidden" name="choice" value="${dnsOff ? 'opt-in' : 'opt-out'}">
  <button type="submit" id="dns-button" class="${dnsOff ? '' : 'danger'}">${dnsOff ? html`保護を再開する<span class="en">Turn protection back on</span>` : html`保護を止める（オプトアウト）<span class="en">Turn protection off (opt out)</span>`}</button>
</form>
</div>
<h3>これまでの設定<span class="en">Your choices so far</span></h3>
${v.dns.history.length === 0
    ? html`<p>まだ変更はありません（ご契約どおり、保護は有効です）。<span class="en">No changes yet (as in your contract, protection is on).</span></p>`
    : html`<table id="dns-history">
<thead><tr><th scope="col">日時<span class="en">When</span></th><th scope="col">設定<span class="en">Choice</span></th><th scope="col">方法<span class="en">How</span></th></tr></thead>
<tbody>
${[...v.dns.history].reverse().map((e) => html`<tr><td>${jaTime(e.at)}<div class="en">${enTime(e.at)}</div></td><td>${e.choice === 'opt-out' ? html`停止（オプトアウト）<div class="en">off (opt-out)</div>` : html`有効（オプトイン）<div class="en">on (opt-in)</div>`}</td><td>${VIA_LABEL[e.via].ja}<div class="en">${VIA_LABEL[e.via].en}</div></td></tr>`)}
</tbody>
</table>`}
</section>`;
  return page({ lang: 'ja', title: `${v.organization} セキュリティのお知らせ / Security notice`, header: header(v.organization), body, footer: footer(v.organization, v.support) });
}

/** Unknown, malformed or no-longer-kept link: one page for all, so it tells nobody whether a token ever existed. */
export function invalidLinkPage(org: string, support: string): string {
  const body = html`
<h1>このリンクは無効か、有効期限が切れています<span class="en">This link is not valid, or no longer valid</span></h1>
<p>お知らせのメールにあるリンクを、途中で切れずにすべてコピーしたか、ご確認ください。問題が解決して記録の保存期間が過ぎたお知らせのリンクは、使えなくなります。</p>
<p class="en">Please check that you copied the whole link from the notice e-mail. Links of notices whose problem was resolved stop working once their records are no longer kept.</p>
<p>ご不明な点は、当社のサポート窓口にお問い合わせください。${support ? html`（${support}）` : ''}</p>
<p class="en">If you need help, please contact our support desk${support ? html` (${support})` : ''}.</p>`;
  return page({ lang: 'ja', title: `${org}: リンクが無効です / Link not valid`, header: header(org), body, footer: footer(org, support) });
}

export function tooManyPage(org: string, support: string, retryAfterMs: number): string {
  const minutes = Math.max(1, Math.ceil(retryAfterMs / 60_000));
  const body = html`
<h1>しばらくしてからお試しください<span class="en">Please try again later</span></h1>
<p>お使いのネットワークから、無効なリンクへのアクセスが続いたため、一時的に受け付けを止めています。約 ${minutes} 分後にもう一度お試しください。</p>
<p class="en">Too many invalid links were opened from your network, so we paused answering for a while. Please try again in about ${minutes} minute${minutes === 1 ? '' : 's'}.</p>
${support ? html`<p>お問い合わせ / Contact: ${support}</p>` : ''}`;
  return page({ lang: 'ja', title: `${org}: しばらくしてからお試しください / Try again later`, header: header(org), body, footer: footer(org, support) });
}

export function portalErrorPage(org: string, support: string): string {
  const body = html`
<h1>ただいま表示できません<span class="en">This page cannot be shown right now</span></h1>
<p>申し訳ありません。当社のシステムで問題が起きました。時間をおいて、もう一度お試しください。操作は記録されていない場合があります。</p>
<p class="en">Sorry, something went wrong on our side. Please try again later; what you did may not have been recorded.</p>
${support ? html`<p>お問い合わせ / Contact: ${support}</p>` : ''}`;
  return page({ lang: 'ja', title: `${org}: エラー / Error`, header: header(org), body, footer: footer(org, support) });
}
