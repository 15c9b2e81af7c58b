/**
 * The warning page (R1, ACTIVE): where lookups of malware-distribution sites are sent
 * (the malware-sites zone answers them with this server's address). Japanese first, then
 * English: why the site was blocked, what to do, how to opt out of DNS protection, whom
 * to contact. It names no site and no client: the page is the same for everyone, so it
 * needs no request details at all (R16).
 */
export interface WarningPageText {
  /** The ISP's name. */
  organization: string;
  /** How to reach the ISP. */
  contact: string;
  /** Where to opt out; "" to describe the ways without a link. */
  optOutUrl: string;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function warningPageHtml(t: WarningPageText): string {
  const org = esc(t.organization);
  const contact = esc(t.contact);
  const optOutJa = t.optOutUrl
    ? `<a href="${esc(t.optOutUrl)}">${esc(t.optOutUrl)}</a> から、いつでも DNS 保護を止める（オプトアウトする）ことができます。`
    : `${contact} にご連絡いただければ、いつでも DNS 保護を止める（オプトアウトする）ことができます。`;
  const optOutEn = t.optOutUrl
    ? `You can turn DNS protection off (opt out) at any time at <a href="${esc(t.optOutUrl)}">${esc(t.optOutUrl)}</a>.`
    : `You can turn DNS protection off (opt out) at any time by contacting ${contact}.`;
  return `<!doctype html>
<html lang="ja">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>警告: このサイトへの接続を止めました / Warning: this site was blocked</title>
<style>
body{font-family:system-ui,"Hiragino Sans","Noto Sans JP",sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;line-height:1.7;color:#1a1a1a}
h1{font-size:1.5rem;color:#a10000}h2{font-size:1.15rem;margin-top:2rem}
section{border-top:1px solid #ccc;margin-top:2rem;padding-top:1rem}
</style>
</head>
<body>
<main>
<section lang="ja">
<h1>このサイトへの接続を止めました</h1>
<p>お客さまがアクセスしようとしたサイトは、<strong>マルウェア（ウイルスなどの不正なプログラム）を配布しているサイト</strong>として、${org} が使っている一覧に載っています。お客さまの機器を守るため、DNS による保護機能がこのサイトへの接続を止め、このページを表示しています。</p>
<p>確認しているのは、問い合わせられたサイトの名前（ドメイン名）だけで、機械的に自動で行っています。通信の内容は見ていません。</p>
<h2>お客さまの機器が危険にさらされているかもしれません</h2>
<p>メールやメッセージのリンク、広告、または機器にすでに入り込んだ不正なプログラムが、このサイトを開こうとした可能性があります。</p>
<h2>どうすればよいですか</h2>
<ol>
<li>このサイトには進まず、ブラウザのタブを閉じてください。</li>
<li>お使いのパソコン・スマートフォンのセキュリティ対策ソフトを最新にして、全体をスキャンしてください。</li>
<li>OS やアプリを最新の版に更新してください。</li>
<li>心当たりのないアプリや拡張機能は削除してください。パスワードの変更もご検討ください。</li>
</ol>
<h2>DNS 保護を使わない場合（オプトアウト）</h2>
<p>${optOutJa} 他のご契約条件は変わりません。また、別の DNS リゾルバを使うこともできます。</p>
<h2>お問い合わせ</h2>
<p>${contact}</p>
</section>
<section lang="en">
<h1>Access to this site was blocked</h1>
<p>The site you tried to open is on a list used by ${org} of <strong>sites that distribute malware</strong> (viruses and other harmful programs). To protect your device, DNS protection stopped the connection and is showing you this page instead.</p>
<p>Only the name (domain name) of the site looked up is checked, automatically; the content of your communications is not.</p>
<h2>Your device may be at risk</h2>
<p>A link in an e-mail or message, an advertisement, or a harmful program already on your device may have tried to open this site.</p>
<h2>What to do</h2>
<ol>
<li>Do not continue to the site; close the browser tab.</li>
<li>Update your security software and scan your computer or smartphone fully.</li>
<li>Update the operating system and your apps.</li>
<li>Remove apps or browser extensions you do not recognise, and consider changing your passwords.</li>
</ol>
<h2>Turning DNS protection off (opt-out)</h2>
<p>${optOutEn} All other terms of your contract stay the same. You may also use another DNS resolver.</p>
<h2>Contact</h2>
<p>${contact}</p>
</section>
</main>
</body>
</html>
`;
}
