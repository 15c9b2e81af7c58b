import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FINDING_CLASSES, CLASS_PURPOSE, type Case, type Finding, type FindingClass } from './model.ts';
import { loadTemplates, renderNotice } from './notice-text.ts';

const AT = Date.parse('2019-02-20T01:00:00Z');
const templates = loadTemplates();
const subscriber = { id: 'K001', login: 'hanako@isp', name: '山田 花子', email: 'h@example.jp', language: 'ja', prefecture: '北海道' };

function kase(cls: FindingClass, escalation = 0): { case: Case; findings: Finding[] } {
  const c: Case = { id: `case_${cls}`, subscriberId: 'K001', class: cls, purpose: CLASS_PURPOSE[cls], status: 'new', escalation, openedAt: AT, pendingSince: AT, updatedAt: AT, firstSeen: AT, lastSeen: AT, findings: 1, notifiedAt: null, acknowledgedAt: null, resolvedAt: null, lastNoticeId: null };
  const f: Finding = { id: 'obs_1', kind: 'open-resolver', class: cls, purpose: c.purpose, source: 't', ip: '192.0.2.10', port: 23, observedAt: AT, receivedAt: AT, attribution: 'found', detail: {}, subscriberId: 'K001', caseId: c.id, evidence: { family: 'mirai', device: 'telnet' } };
  return { case: c, findings: [f] };
}

const render = (classes: FindingClass[], opts: { escalation?: number; dnsProtection?: 'on' | 'off' } = {}) =>
  renderNotice(templates, { subscriber, cases: classes.map((c) => kase(c, opts.escalation)), organization: 'Example ISP', portalUrl: 'https://portal.example/n/TOKEN', ...(opts.dnsProtection ? { dnsProtection: opts.dnsProtection } : {}) });

describe('notice templates', () => {
  it('every class renders in Japanese first and English second, with remediation steps and the portal link', () => {
    for (const cls of FINDING_CLASSES) {
      for (const escalation of [0, 2]) {
        const { subject, text } = render([cls], { escalation });
        const english = text.indexOf('English');
        assert.ok(english > 0, cls);
        assert.match(text.slice(0, english), /対処方法:/, cls);
        assert.match(text.slice(english), /What to do:/, cls);
        assert.match(text, /https:\/\/portal\.example\/n\/TOKEN/);
        assert.doesNotMatch(text, /\{\{|\}\}/, `${cls}: an unfilled variable`);
        assert.match(text, /2019年2月20日 10:00（日本時間）/);
        assert.match(text, /2019-02-20 01:00 UTC/);
        if (escalation) {
          assert.match(subject, /再発/);
          assert.match(text, /再発 2 回目/);
          assert.match(text, /recurrence 2/);
        } else assert.doesNotMatch(text, /再発|recurrence/);
      }
    }
  });

  it('C&C infection (R1): blocking is in force, only the FQDN is inspected, its purpose, when, and how to opt out', () => {
    const { text } = render(['cc-infection']);
    for (const must of [/遮断/, /ドメイン名（FQDN）だけ/, /機械的・自動的/, /目的は、マルウェアによる被害を防ぐことだけ/, /いつでも止める（オプトアウトする）/, /そのほかのご契約条件は変わりません/, /Only the domain name \(FQDN\)/, /opt out\) at any time/, /all other terms of your contract stay the same/]) {
      assert.match(text, must);
    }
    assert.match(text, /マルウェアの種類: mirai/);
    const off = render(['cc-infection'], { dnsProtection: 'off' }).text;
    assert.match(off, /現在この遮断を止めています（オプトアウト中）/);
    assert.match(off, /this blocking is currently stopped for your connection/);
    assert.doesNotMatch(off, /いつでも止める/);
  });

  it('exposed router admin: change the admin password, turn off WAN admin, and never say anyone tried a password', () => {
    const { text } = render(['exposed-router-admin']);
    assert.match(text, /管理用パスワードを、初期設定のものから/);
    assert.match(text, /リモート管理）を無効/);
    assert.match(text, /turn off administration from the Internet \(WAN\) side/);
    assert.match(text, /192\.0\.2\.10（ポート 23）/);
    assert.doesNotMatch(text, /試み|試し|ログインでき|tried|attempt|logged in/i);
  });

  it('credential abuse: password change, suspension until changed', () => {
    const { text } = render(['credential-abuse']);
    assert.match(text, /パスワードを変更していただくまで、この ID での接続を停止しています/);
    assert.match(text, /suspended until you change its password/);
  });

  it('batches classes into one mail, the most urgent first', () => {
    const { text } = render(['open-resolver', 'weak-iot-password', 'cc-infection']);
    const order = ['マルウェア感染の疑い', '推測されやすいパスワードのままの IoT 機器', 'オープンリゾルバー'].map((h) => text.indexOf(h));
    assert.deepEqual([...order].sort((a, b) => a - b), order);
    assert.ok(order.every((i) => i >= 0));
  });
});
