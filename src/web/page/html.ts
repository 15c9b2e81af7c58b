import { createHash } from 'node:crypto';

/**
 * Server-rendered HTML for the portal and the console: a tagged template
 * that escapes every interpolated value unless it is already `Html`, so a
 * subscriber name, an evidence field or a notice text can never become
 * markup. No front-end framework, no script, no third-party asset.
 */
export class Html {
  constructor(readonly text: string) {}
  toString(): string {
    return this.text;
  }
}

type Piece = Html | string | number | boolean | null | undefined | readonly Piece[];

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function render(p: Piece): string {
  if (p === null || p === undefined || p === false) return '';
  if (p instanceof Html) return p.text;
  if (Array.isArray(p)) return (p as readonly Piece[]).map(render).join('');
  return escapeHtml(String(p));
}

export function html(strings: TemplateStringsArray, ...values: Piece[]): Html {
  let out = strings[0]!;
  for (let i = 0; i < values.length; i++) out += render(values[i]) + strings[i + 1]!;
  return new Html(out);
}

/** Markup written in this code base (never data). */
export function raw(s: string): Html {
  return new Html(s);
}

/**
 * One small stylesheet, inline, allowed by its hash in the CSP (no
 * 'unsafe-inline', no extra request). Readable on a phone; system fonts
 * (Japanese first); large targets; visible focus.
 */
export const STYLE = `
:root{color-scheme:light;--ink:#1b1f24;--muted:#57606a;--line:#d0d7de;--accent:#0b5cad;--warn:#9a3b00;--ok:#1a7f37;--bg:#ffffff;--soft:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font-family:"Hiragino Sans","Hiragino Kaku Gothic ProN","Noto Sans CJK JP","Noto Sans JP",Meiryo,system-ui,sans-serif;font-size:16px;line-height:1.7}
header.top{background:#0b3d6b;color:#fff;padding:.8rem 1rem}
header.top .org{font-weight:700;font-size:1.05rem}
header.top .sub{opacity:.9;font-size:.9rem}
header.top a{color:#fff}
header.top .en{color:#dbe7f3}
main{max-width:60rem;margin:0 auto;padding:1rem}
h1{font-size:1.45rem;line-height:1.4;margin:.6rem 0 .2rem}
h2{font-size:1.2rem;margin:2rem 0 .5rem;padding-bottom:.2rem;border-bottom:2px solid var(--line)}
h3{font-size:1.05rem;margin:1.2rem 0 .3rem}
.en{color:var(--muted)}
p.en,div.en,li .en{font-size:.95rem}
span.en::before{content:" / "}
.flash{border-left:6px solid var(--ok);background:#eefbf1;padding:.7rem 1rem;margin:1rem 0}
.flash.warn{border-color:var(--warn);background:#fff4e5}
.card{border:1px solid var(--line);border-radius:8px;padding:.8rem 1rem;margin:.8rem 0;background:var(--soft)}
.status{display:inline-block;border-radius:999px;padding:0 .6rem;font-size:.85rem;border:1px solid var(--line);background:#fff}
.status.on{border-color:var(--ok);color:var(--ok)}
.status.off{border-color:var(--warn);color:var(--warn)}
.notice-text{white-space:pre-wrap;overflow-wrap:anywhere;background:#fff;border:1px solid var(--line);border-radius:8px;padding:1rem;font-size:.95rem}
button,.button{font:inherit;font-weight:700;font-size:1.05rem;padding:.7rem 1.2rem;border-radius:8px;border:2px solid var(--accent);background:var(--accent);color:#fff;cursor:pointer;min-height:44px}
button .en{color:inherit}
button.secondary{background:#fff;color:var(--accent)}
button.danger{background:#fff;color:var(--warn);border-color:var(--warn)}
button:focus-visible,a:focus-visible,input:focus-visible,select:focus-visible{outline:3px solid #f5a623;outline-offset:2px}
a{color:var(--accent)}
table{border-collapse:collapse;width:100%;margin:.5rem 0;font-size:.93rem}
th,td{border-bottom:1px solid var(--line);padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:var(--soft);font-weight:600}
td.num{text-align:right}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em;overflow-wrap:anywhere}
form.inline{display:inline}
form.filters{display:flex;flex-wrap:wrap;gap:.6rem;align-items:flex-end;margin:.6rem 0}
label{display:block;font-weight:600;font-size:.92rem}
input,select,textarea{font:inherit;padding:.4rem .5rem;border:1px solid #8c959f;border-radius:6px;min-height:40px}
nav.sections a{margin-right:1rem}
ul.plain{list-style:none;padding:0}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}
dl.facts dt{font-weight:600}
dl.facts dd{margin:0}
footer{max-width:60rem;margin:2rem auto;padding:1rem;color:var(--muted);font-size:.85rem;border-top:1px solid var(--line)}
`.trim();

export const STYLE_HASH = `sha256-${createHash('sha256').update(STYLE).digest('base64')}`;

export interface PageInput {
  /** "ja" for subscriber pages (Japanese first), "en" where English leads. */
  lang: 'ja' | 'en';
  title: string;
  header: Html;
  body: Html;
  footer?: Html;
}

export function page(p: PageInput): string {
  return `<!doctype html>
<html lang="${p.lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex, nofollow">
<title>${escapeHtml(p.title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header class="top">${p.header.text}</header>
<main id="main">
${p.body.text}
</main>
${p.footer ? `<footer>${p.footer.text}</footer>` : ''}
</body>
</html>
`;
}
