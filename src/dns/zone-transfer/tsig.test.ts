/**
 * TSIG (RFC 8945) pieces, pure: the record codec (fast-check round trips, truncated and
 * padded RDATA refused), finding the record in a message, signing and verifying single
 * messages and multi-message streams (unsigned messages in between, the last one
 * unsigned), and every refusal: unknown key, wrong algorithm, bad MAC, clock off by more
 * than the fudge, a MAC truncated too far. Interop with dig and BIND is in
 * test/rpz-tsig.test.ts.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeMessage, RRType } from '../wire/index.ts';
import {
  badTimeOther,
  decodeTsigRdata,
  encodeTsigRdata,
  findTsig,
  makeTsigKey,
  queryMessage,
  signMessage,
  TsigErr,
  tsigKeyring,
  TsigStreamSigner,
  TsigStreamVerifier,
  verifyMessage,
  TSIG_ALGORITHMS,
  type TsigKey,
} from './index.ts';

const key = makeTsigKey({ name: 'xfr-key', algorithm: 'hmac-sha256', secret: Buffer.from('0123456789abcdef0123456789abcdef').toString('base64') });
const other = makeTsigKey({ name: 'xfr-key', algorithm: 'hmac-sha256', secret: Buffer.from('another secret, same name').toString('base64') });

const label = fc.stringMatching(/^[a-z0-9-]{1,20}$/);
const name = fc.array(label, { minLength: 1, maxLength: 4 }).map((l) => l.join('.'));

describe('TSIG record codec', () => {
  it('round-trips any RDATA (fast-check)', () => {
    fc.assert(
      fc.property(
        name,
        fc.integer({ min: 0, max: 2 ** 48 - 1 }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.uint8Array({ maxLength: 80 }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.uint8Array({ maxLength: 20 }),
        (algorithm, timeSigned, fudge, mac, originalId, error, other) => {
          const r = { algorithm, timeSigned, fudge, mac, originalId, error, other };
          const back = decodeTsigRdata(encodeTsigRdata(r));
          assert.ok(typeof back !== 'string', String(back));
          assert.deepEqual({ ...back, mac: [...back.mac], other: [...back.other] }, { ...r, mac: [...mac], other: [...other] });
        },
      ),
      { numRuns: 500 },
    );
  });

  it('refuses RDATA cut short or with bytes after it, never throws (fast-check)', () => {
    const rd = encodeTsigRdata({ algorithm: 'hmac-sha256', timeSigned: 1, fudge: 300, mac: new Uint8Array(32), originalId: 7, error: 0, other: new Uint8Array(0) });
    for (let cut = 0; cut < rd.length; cut++) assert.equal(typeof decodeTsigRdata(rd.subarray(0, cut)), 'string', `cut at ${cut}`);
    assert.equal(decodeTsigRdata(Buffer.concat([rd, Buffer.from([0])])), 'bytes after the other data');
    fc.assert(fc.property(fc.uint8Array({ maxLength: 120 }), (bytes) => void decodeTsigRdata(bytes)), { numRuns: 2000 });
  });

  it('finds the record only as the last additional record; garbage never throws (fast-check)', () => {
    const q = encodeMessage(queryMessage('cc.rpz.test', RRType.AXFR));
    assert.equal(findTsig(q), undefined);
    const s = signMessage(q, key).bytes;
    const f = findTsig(s);
    assert.ok(f && 'record' in f);
    assert.equal(f.record.keyName, 'xfr-key');
    assert.equal(f.start, q.length);
    // A record after the TSIG one.
    const extra = Buffer.concat([s, Buffer.from([0, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0])]);
    extra.writeUInt16BE(extra.readUInt16BE(10) + 1, 10);
    assert.deepEqual(findTsig(extra), { error: 'the TSIG record is not the last record' });
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => void findTsig(bytes)), { numRuns: 2000 });
  });
});

describe('TSIG sign and verify', () => {
  const q = () => encodeMessage(queryMessage('cc.rpz.test', RRType.AXFR));

  it('verifies what it signed, with every algorithm', () => {
    for (const algorithm of TSIG_ALGORITHMS) {
      const k = makeTsigKey({ name: 'k', algorithm, secret: 'c2VjcmV0c2VjcmV0' });
      const s = signMessage(q(), k);
      const f = findTsig(s.bytes);
      assert.ok(f && 'record' in f);
      const v = verifyMessage(s.bytes, f, tsigKeyring([k]));
      assert.ok(v.ok, `${algorithm}: ${v.ok ? '' : v.reason}`);
      assert.deepEqual(Buffer.from(v.mac), Buffer.from(s.mac));
    }
  });

  it('refuses an unknown key (BADKEY), another secret (BADSIG), a changed byte (BADSIG), a stale time (BADTIME), a MAC cut too short (BADTRUNC)', () => {
    const s = signMessage(q(), key);
    const check = (bytes: Uint8Array, keys: TsigKey | Map<string, TsigKey>, now?: number) => {
      const f = findTsig(bytes);
      assert.ok(f && 'record' in f);
      return verifyMessage(bytes, f, keys, now === undefined ? {} : { now });
    };
    const unknown = check(s.bytes, makeTsigKey({ name: 'nobody', secret: 'c2VjcmV0' }));
    assert.ok(!unknown.ok && unknown.error === TsigErr.BADKEY);
    const wrong = check(s.bytes, other);
    assert.ok(!wrong.ok && wrong.error === TsigErr.BADSIG, JSON.stringify(wrong));
    const changed = Buffer.from(s.bytes);
    changed[14] = changed[14]! ^ 1; // a byte of the question name
    const bad = check(changed, key);
    assert.ok(!bad.ok && bad.error === TsigErr.BADSIG);
    const late = check(s.bytes, key, Math.floor(Date.now() / 1000) + 301);
    assert.ok(!late.ok && late.error === TsigErr.BADTIME);
    assert.match(late.reason, /fudge of 300 s: check both clocks/);
    const inTime = check(s.bytes, key, Math.floor(Date.now() / 1000) + 250);
    assert.ok(inTime.ok);
    const sha1 = makeTsigKey({ name: 'xfr-key', algorithm: 'hmac-sha1', secret: 'c2VjcmV0' });
    const alg = check(s.bytes, sha1);
    assert.ok(!alg.ok && alg.error === TsigErr.BADKEY);
    // The MAC truncated to 8 octets (RFC 8945 §5.2.2.1: at least 10 and half the hash).
    const f = findTsig(s.bytes) as { record: { mac: Uint8Array }; start: number };
    const rd = encodeTsigRdata({ ...(decodeTsigRdata(s.bytes.subarray(f.start + 'xfr-key'.length + 2 + 10)) as Exclude<ReturnType<typeof decodeTsigRdata>, string>), mac: f.record.mac.subarray(0, 8) });
    const short = Buffer.concat([s.bytes.subarray(0, f.start + 'xfr-key'.length + 2 + 8), Buffer.from([rd.length >> 8, rd.length & 0xff]), rd]);
    const tr = check(short, key);
    assert.ok(!tr.ok && tr.error === TsigErr.BADTRUNC, JSON.stringify(tr));
  });

  it('a response is bound to its request: the request MAC is part of the digest', () => {
    const req = signMessage(q(), key);
    const resp = signMessage(q(), key, { requestMac: req.mac });
    const f = findTsig(resp.bytes);
    assert.ok(f && 'record' in f);
    assert.ok(verifyMessage(resp.bytes, f, key, { requestMac: req.mac }).ok);
    const otherReq = signMessage(q(), key);
    assert.ok(!verifyMessage(resp.bytes, f, key, { requestMac: otherReq.mac }).ok);
  });
});

describe('TSIG multi-message streams (RFC 8945 §5.3.1)', () => {
  const msgs = Array.from({ length: 250 }, (_, i) => encodeMessage({ ...queryMessage(`m${i}.cc.rpz.test`, RRType.A), header: { ...queryMessage('x', 1).header, id: 4242, qr: true } }));

  it('every message signed: verified in order; reordered or dropped messages fail', () => {
    const req = signMessage(encodeMessage(queryMessage('cc.rpz.test', RRType.AXFR)), key);
    const signer = new TsigStreamSigner(key, req.mac);
    const signed = msgs.map((m) => signer.sign(m));
    const v = new TsigStreamVerifier(key, req.mac);
    for (const m of signed) assert.equal(v.feed(m), undefined);
    assert.ok(v.complete);
    const v2 = new TsigStreamVerifier(key, req.mac);
    assert.equal(v2.feed(signed[0]!), undefined);
    assert.equal(v2.feed(signed[2]!)?.error, TsigErr.BADSIG, 'a message dropped in between');
  });

  it('unsigned messages between signed ones are covered by the next signature; 100 in a row, an unsigned first or last message are refused', () => {
    const req = signMessage(encodeMessage(queryMessage('cc.rpz.test', RRType.AXFR)), key);
    // Sign the 1st, every 10th and the last, as a BIND primary may.
    const out: Uint8Array[] = [];
    let prior: Uint8Array | undefined;
    let since: Uint8Array[] = [];
    msgs.forEach((m, i) => {
      if (i === 0 || i % 10 === 0 || i === msgs.length - 1) {
        const s = prior === undefined ? signMessage(m, key, { requestMac: req.mac }) : signMessage(m, key, { priorMac: prior, since });
        prior = s.mac;
        since = [];
        out.push(s.bytes);
      } else {
        since.push(m);
        out.push(m);
      }
    });
    const v = new TsigStreamVerifier(key, req.mac);
    for (const m of out) assert.equal(v.feed(m), undefined);
    assert.ok(v.complete);
    // The last one unsigned: not complete.
    const v2 = new TsigStreamVerifier(key, req.mac);
    for (const m of [...out.slice(0, -1), msgs[msgs.length - 1]!]) assert.equal(v2.feed(m), undefined);
    assert.equal(v2.complete, false);
    // A changed unsigned message breaks the next signature.
    const tampered = out.map((m, i) => (i === 5 ? Buffer.from(m).fill(0x61, 20, 21) : m));
    const v3 = new TsigStreamVerifier(key, req.mac);
    const errs = tampered.map((m) => v3.feed(m)).filter(Boolean);
    assert.equal(errs[0]?.error, TsigErr.BADSIG);
    // First unsigned.
    assert.ok(new TsigStreamVerifier(key, req.mac).feed(msgs[0]!));
    // 100 unsigned in a row.
    const v4 = new TsigStreamVerifier(key, req.mac);
    assert.equal(v4.feed(signMessage(msgs[0]!, key, { requestMac: req.mac }).bytes), undefined);
    const results = msgs.slice(1, 101).map((m) => v4.feed(m));
    assert.match(results[99]?.reason ?? '', /100 unsigned/);
  });
});

describe('TSIG BADTIME answers', () => {
  it('the client names both clocks and the gap', () => {
    const now = Math.floor(Date.now() / 1000);
    const req = signMessage(encodeMessage(queryMessage('cc.rpz.test', RRType.AXFR)), key, { time: now - 1200 });
    const answer = signMessage(encodeMessage(queryMessage('cc.rpz.test', RRType.AXFR)), key, { requestMac: req.mac, error: TsigErr.BADTIME, other: badTimeOther(now), time: now - 1200 });
    const v = new TsigStreamVerifier(key, req.mac, () => now - 1200);
    const r = v.feed(answer.bytes);
    assert.equal(r?.error, TsigErr.BADTIME);
    assert.match(r?.reason ?? '', /TSIG error BADTIME for key xfr-key \(its clock says .*, ours .*: 1200 s apart, more than the fudge of 300 s; check NTP on both\)/);
  });
});

describe('TSIG keys from configuration', () => {
  it('reads secret or secretFile (bare base64 or a BIND key file); errors name the key, never the secret', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sakimori-tsig-'));
    try {
      writeFileSync(join(dir, 'bare'), 'c2VjcmV0c2VjcmV0\n');
      writeFileSync(join(dir, 'bind.key'), 'key "k" {\n\talgorithm hmac-sha256;\n\tsecret "c2VjcmV0c2VjcmV0";\n};\n');
      assert.equal(makeTsigKey({ name: 'K.', secretFile: join(dir, 'bare') }).secret.toString(), 'secretsecret');
      assert.equal(makeTsigKey({ name: 'k', secretFile: join(dir, 'bind.key') }).name, 'k');
      assert.throws(() => makeTsigKey({ name: 'k', secret: 'not base64!!' }), /TSIG key k: the secret is not base64/);
      assert.throws(() => makeTsigKey({ name: 'k', algorithm: 'hmac-md5', secret: 'c2VjcmV0' }), /algorithm hmac-md5 is not supported/);
      assert.throws(() => makeTsigKey({ name: 'k', secretFile: join(dir, 'missing') }), /cannot read secretFile .*missing: ENOENT/);
      assert.throws(() => tsigKeyring([key, other]), /defined twice/);
      try {
        makeTsigKey({ name: 'k', secret: 'c2VjcmV0@@' });
      } catch (err) {
        assert.ok(!String((err as Error).message).includes('c2VjcmV0'), 'the secret is not in the error');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
