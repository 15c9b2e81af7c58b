import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { FINDING_CLASSES, type Case, type Finding, type FindingClass, type Subscriber } from './model.ts';

/**
 * The text of a notice: Japanese first, English second, in one mail; one
 * section per open case, each from its class's template (templates/*.txt,
 * plain text with {{variables}}, meant to be edited by the ISP). Pure once
 * the templates are loaded.
 */
export const TEMPLATE_DIR = join(import.meta.dirname, 'templates');

type Lang = 'ja' | 'en';

export interface NoticeTemplates {
  subject: string;
  frame: Record<Lang, string>;
  escalation: Record<Lang, string>;
  /** The C&C notice's paragraph on DNS blocking (R1): in force, or stopped at the subscriber's request. */
  dnsBlocking: Record<'on' | 'off', Record<Lang, string>>;
  classes: Record<FindingClass, Record<Lang, string>>;
}

export function loadTemplates(dir: string = TEMPLATE_DIR): NoticeTemplates {
  const read = (name: string) => readFileSync(join(dir, name), 'utf8').replace(/\s+$/, '');
  const pair = (base: string) => ({ ja: read(`${base}.ja.txt`), en: read(`${base}.en.txt`) });
  return {
    subject: read('subject.txt'),
    frame: pair('frame'),
    escalation: pair('escalation'),
    dnsBlocking: { on: pair('dns-blocking-on'), off: pair('dns-blocking-off') },
    classes: Object.fromEntries(FINDING_CLASSES.map((c) => [c, pair(c)])) as Record<FindingClass, Record<Lang, string>>,
  };
}

/** Replaces {{name}}; a name with no value is an error, so a typo in a template is caught by the tests, not by a subscriber. */
export function fill(template: string, values: Readonly<Record<string, string>>, where: string): string {
  return template.replace(/\{\{\s*([A-Za-z]+)\s*\}\}/g, (_, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`notice template ${where}: unknown variable {{${name}}} (known: ${Object.keys(values).join(', ')})`);
    return v;
  });
}

export interface NoticeCase {
  case: Case;
  /** Newest first; the first one is what the notice quotes. */
  findings: Finding[];
}

export interface NoticeInput {
  subscriber: Subscriber;
  cases: NoticeCase[];
  organization: string;
  /** The subscriber's own link: {portalUrl}/n/{token}. */
  portalUrl: string;
  /** Whether DNS blocking of C&C servers is in force for this subscriber (R1 consent). Default on. */
  dnsProtection?: 'on' | 'off';
}

/** Order of sections: what needs the subscriber most urgently first. */
const ORDER: readonly FindingClass[] = ['credential-abuse', 'cc-infection', 'weak-iot-password', 'exposed-router-admin', 'open-resolver'];

const JST = new Intl.DateTimeFormat('ja-JP', { timeZone: 'Asia/Tokyo', year: 'numeric', month: 'long', day: 'numeric', hour: '2-digit', minute: '2-digit', hour12: false });

export function japaneseTime(ms: number): string {
  return `${JST.format(new Date(ms))}（日本時間）`;
}

export function englishTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

export function renderNotice(t: NoticeTemplates, input: NoticeInput): { subject: string; text: string } {
  const cases = [...input.cases].sort((a, b) => ORDER.indexOf(a.case.class) - ORDER.indexOf(b.case.class));
  const part = (lang: Lang) => {
    const sections = cases.map(({ case: c, findings }) => {
      const f = findings[0];
      const port = f?.port ?? undefined;
      const address = f?.ip ? (port !== undefined && port !== null && c.class !== 'cc-infection' ? (lang === 'ja' ? `${f.ip}（ポート ${port}）` : `${f.ip} (port ${port})`) : f.ip) : lang === 'ja' ? '（不明）' : '(unknown)';
      const family = str(f?.evidence.family) ?? str(f?.evidence.malware_family) ?? str(f?.evidence.infection);
      const device = str(f?.evidence.device) ?? str(f?.evidence.device_type) ?? str(f?.evidence.service);
      const values: Record<string, string> = {
        when: lang === 'ja' ? japaneseTime(f?.observedAt ?? c.lastSeen) : englishTime(f?.observedAt ?? c.lastSeen),
        address,
        family: family ?? (lang === 'ja' ? '不明' : 'unknown'),
        device: device ?? (lang === 'ja' ? '種類は不明' : 'type unknown'),
        count: String(c.findings),
        portalUrl: input.portalUrl,
        organization: input.organization,
        dnsBlocking: fill(t.dnsBlocking[input.dnsProtection ?? 'on'][lang], { portalUrl: input.portalUrl }, `dns-blocking-${input.dnsProtection ?? 'on'}.${lang}.txt`),
        escalation: c.escalation > 0 ? `${fill(t.escalation[lang], { level: String(c.escalation) }, `escalation.${lang}.txt`)}\n` : '',
      };
      return `${fill(t.classes[c.class][lang], values, `${c.class}.${lang}.txt`)}\n`;
    });
    return fill(t.frame[lang], { name: input.subscriber.name || input.subscriber.id, subscriberId: input.subscriber.id, organization: input.organization, portalUrl: input.portalUrl, sections: sections.join('\n') }, `frame.${lang}.txt`);
  };
  const recurring = cases.some((c) => c.case.escalation > 0);
  const subject = `${recurring ? '【再発 / Recurring】' : ''}${fill(t.subject, { organization: input.organization }, 'subject.txt')}`;
  const text = `${part('ja')}\n\n---------------------------------------- English ----------------------------------------\n\n${part('en')}\n`;
  return { subject, text };
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
}
