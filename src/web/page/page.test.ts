import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ManualClock } from '../../core/index.ts';
import { escapeHtml, html, raw } from './html.ts';
import { RateLimiter } from './rate-limit.ts';
import { consoleTime, enTime, FormTokens, jaTime } from './security.ts';

describe('html template', () => {
  it('escapes every interpolated value, nested arrays too; Html passes through', () => {
    const name = '<script>alert("x")</script>&\'';
    const out = html`<p title="${name}">${name}</p>${[html`<b>${name}</b>`, ['<i>']]}${raw('<br>')}${null}${undefined}${false}${0}`.text;
    assert.equal(out, '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;</p><b>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;</b>&lt;i&gt;<br>0');
  });

  it('escaped text never holds markup characters (property)', () => {
    fc.assert(fc.property(fc.string(), (s) => !/[<>"']/.test(escapeHtml(s)) && !/&(?!amp;|lt;|gt;|quot;|#39;)/.test(escapeHtml(s))));
  });
});

describe('RateLimiter', () => {
  it('allows `limit` events per window per key, then says how long to wait; a new window starts fresh', () => {
    const clock = new ManualClock(1_000_000);
    const rl = new RateLimiter(clock, { limit: 3, windowMs: 60_000 });
    for (let i = 0; i < 3; i++) assert.deepEqual(rl.hit('a'), { allowed: true });
    assert.deepEqual(rl.blocked('a'), { retryAfterMs: 60_000 });
    assert.equal(rl.blocked('b'), undefined);
    clock.advance(10_000);
    assert.deepEqual(rl.hit('a'), { allowed: false, retryAfterMs: 50_000 });
    clock.advance(50_000);
    assert.equal(rl.blocked('a'), undefined);
    assert.deepEqual(rl.hit('a'), { allowed: true });
  });

  it('keeps at most maxKeys windows', () => {
    const clock = new ManualClock(0);
    const rl = new RateLimiter(clock, { limit: 1, windowMs: 1000, maxKeys: 100 });
    for (let i = 0; i < 1000; i++) rl.hit(`k${i}`);
    assert.ok(rl.size <= 101, String(rl.size));
    assert.ok(rl.blocked('k999'), 'the newest keys are kept');
  });
});

describe('FormTokens', () => {
  it('verifies its own token for the same scope only, and refuses another key or junk', () => {
    const a = new FormTokens(Buffer.alloc(32, 1));
    const t = a.issue('portal:abc');
    assert.ok(a.verify('portal:abc', t));
    assert.ok(!a.verify('portal:abd', t));
    assert.ok(!new FormTokens(Buffer.alloc(32, 2)).verify('portal:abc', t));
    for (const junk of [undefined, '', 'x', t.slice(1), 42, [t], `${t}x`]) assert.ok(!a.verify('portal:abc', junk), String(junk));
  });
});

describe('times', () => {
  const t = Date.parse('2025-01-06T15:04:05Z');
  it('writes Japanese time for subscribers, UTC for the English half, JST with its offset for operators', () => {
    assert.equal(jaTime(t), '2025年1月7日 00:04（日本時間）');
    assert.equal(enTime(t), '2025-01-06 15:04 UTC');
    assert.equal(consoleTime(t), '2025-01-07 00:04:05 +09:00');
    assert.equal(consoleTime(null), '—');
  });
});
