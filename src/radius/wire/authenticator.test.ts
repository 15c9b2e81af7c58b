import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import fc from 'fast-check';
import { decodePacket } from './decode.ts';
import { encodeRequest, encodeResponse, verifyRequest, verifyResponse } from './authenticator.ts';
import { Attr, makeAttribute } from './attributes.ts';
import { attributesArb, secretArb } from './arbitraries.ts';
import { RADCLIENT_INTERIM, RFC2865_ACCESS, hex } from './packets.ts';
import { Code, type DecodedPacket } from './types.ts';

function decoded(bytes: Uint8Array): DecodedPacket {
  const r = decodePacket(bytes);
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  return r.value;
}

const MA = { type: Attr.MessageAuthenticator.type, value: new Uint8Array(16) };

test('a real radclient Accounting-Request verifies with its secret (authenticator and Message-Authenticator), and not with another', () => {
  const p = decoded(hex(RADCLIENT_INTERIM.hex));
  assert.deepEqual(verifyRequest(p, RADCLIENT_INTERIM.secret), { ok: true });
  assert.deepEqual(verifyRequest(p, Buffer.from(RADCLIENT_INTERIM.secret)), { ok: true });
  const wrong = verifyRequest(p, 'nas-secret-2');
  assert.equal(wrong.ok, false);
  assert.equal(!wrong.ok && wrong.reason, 'bad-authenticator');
  assert.match(!wrong.ok ? wrong.message : '', /Accounting-Request id 233: Request Authenticator does not match \(wrong shared secret/);
});

test('a valid Request Authenticator with a forged Message-Authenticator is caught', () => {
  const bytes = hex(RADCLIENT_INTERIM.hex);
  const p0 = decoded(bytes);
  bytes[p0.messageAuthenticatorAt]! ^= 1;
  // Re-sign the Request Authenticator over the altered packet, as someone with the secret but a broken HMAC would.
  bytes.fill(0, 4, 20);
  bytes.set(createHash('md5').update(bytes).update(RADCLIENT_INTERIM.secret).digest(), 4);
  const r = verifyRequest(decoded(bytes), RADCLIENT_INTERIM.secret);
  assert.equal(!r.ok && r.reason, 'bad-message-authenticator');
});

test('RFC 2865 §7.1: the Access-Accept verifies against its Access-Request', () => {
  const req = decoded(hex(RFC2865_ACCESS.request));
  const acc = decoded(hex(RFC2865_ACCESS.accept));
  assert.deepEqual(verifyResponse(acc, req, RFC2865_ACCESS.secret), { ok: true });
  assert.equal(verifyResponse(acc, req, 'xyzzy5462').ok, false);
  // Access-Request authenticators are random: only a Message-Authenticator could be checked, and there is none.
  assert.deepEqual(verifyRequest(req, 'anything'), { ok: true });
  assert.equal(verifyRequest(req, 'anything', { requireMessageAuthenticator: true }).ok, false);
});

test('Accounting-Request authenticator is MD5(Code+Identifier+Length+16 zeros+Attributes+Secret) (RFC 2866 §3)', () => {
  const bytes = encodeRequest({ code: Code.AccountingRequest, identifier: 9, attributes: [makeAttribute(Attr.AcctStatusType, 1)] }, 's3cret');
  const copy = Uint8Array.from(bytes);
  copy.fill(0, 4, 20);
  assert.deepEqual([...bytes.subarray(4, 20)], [...createHash('md5').update(copy).update('s3cret').digest()]);
});

test('Accounting-Response authenticator is MD5(Code+ID+Length+RequestAuth+Attributes+Secret) (RFC 2866 §4)', () => {
  const req = decoded(hex(RADCLIENT_INTERIM.hex));
  const res = encodeResponse({ code: Code.AccountingResponse, identifier: req.identifier, attributes: [] }, req, 'nas-secret-1');
  const expected = createHash('md5')
    .update(Uint8Array.from([5, req.identifier, 0, 20]))
    .update(req.authenticator)
    .update('nas-secret-1')
    .digest();
  assert.deepEqual([...res.subarray(4, 20)], [...expected]);
  assert.deepEqual(verifyResponse(decoded(res), req, 'nas-secret-1'), { ok: true });
});

const signedCodes: [number, number][] = [
  [Code.AccountingRequest, Code.AccountingResponse],
  [Code.DisconnectRequest, Code.DisconnectAck],
  [Code.DisconnectRequest, Code.DisconnectNak],
  [Code.CoaRequest, Code.CoaAck],
  [Code.CoaRequest, Code.CoaNak],
  [Code.AccessRequest, Code.AccessAccept],
  [Code.StatusServer, Code.AccountingResponse],
];

test('signed requests and responses verify with the secret, with and without Message-Authenticator, for every code pair', () => {
  fc.assert(
    fc.property(fc.constantFrom(...signedCodes), attributesArb, secretArb, fc.boolean(), fc.integer({ min: 0, max: 255 }), ([reqCode, resCode], attrs, secret, withMa, id) => {
      const attributes = withMa ? [...attrs.slice(0, 10), MA] : attrs.slice(0, 10);
      const req = decoded(encodeRequest({ code: reqCode, identifier: id, attributes }, secret));
      assert.deepEqual(verifyRequest(req, secret, { requireMessageAuthenticator: withMa }), { ok: true });
      const res = decoded(encodeResponse({ code: resCode, identifier: id, attributes }, req, secret));
      assert.deepEqual(verifyResponse(res, req, secret, { requireMessageAuthenticator: withMa }), { ok: true });
      const other = typeof secret === 'string' ? `${secret}x` : Uint8Array.from([...secret, 1]);
      if (reqCode !== Code.AccessRequest && reqCode !== Code.StatusServer) assert.equal(verifyRequest(req, other).ok, false);
      else if (withMa) assert.equal(verifyRequest(req, other).ok, false);
      assert.equal(verifyResponse(res, req, other).ok, false);
    }),
    { numRuns: 300 },
  );
});

test('changing any octet of a signed Accounting-Request makes it fail to decode or to verify', () => {
  const attributes = [makeAttribute(Attr.AcctStatusType, 1), makeAttribute(Attr.AcctSessionId, 'abc'), makeAttribute(Attr.FramedIpAddress, '192.0.2.9'), MA];
  for (const withMa of [false, true]) {
    const bytes = encodeRequest({ code: Code.AccountingRequest, identifier: 3, attributes: withMa ? attributes : attributes.slice(0, 3) }, 'k');
    for (let i = 0; i < bytes.length; i++) {
      const m = Uint8Array.from(bytes);
      m[i]! ^= 0x10;
      const r = decodePacket(m);
      // A changed code is no longer an Accounting-Request; the server drops it before any check.
      if (r.ok && r.value.code === Code.AccountingRequest) assert.equal(verifyRequest(r.value, 'k').ok, false, `octet ${i} changed and still verified`);
    }
  }
});

test('a CoA-ACK whose Message-Authenticator was computed over the Request Authenticator (the other reading of RFC 5176 §3.1) is accepted', () => {
  const req = decoded(encodeRequest({ code: Code.CoaRequest, identifier: 1, attributes: [MA] }, 'k'));
  // Build the response by hand: HMAC with the request authenticator in the header.
  const res = Uint8Array.from([44, 1, 0, 38, ...req.authenticator, 80, 18, ...new Array(16).fill(0)]);
  res.set(createHmac('md5', 'k').update(res).digest(), 22);
  res.set(createHash('md5').update(res).update('k').digest(), 4);
  assert.deepEqual(verifyResponse(decoded(res), req, 'k'), { ok: true });
});
