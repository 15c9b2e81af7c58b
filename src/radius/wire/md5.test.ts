import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import fc from 'fast-check';
import { constantTimeEqual, hmacMd5, md5, md5Packet } from './md5.ts';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

test('MD5: the RFC 1321 §A.5 test suite', () => {
  const suite: [string, string][] = [
    ['', 'd41d8cd98f00b204e9800998ecf8427e'],
    ['a', '0cc175b9c0f1b6a831c399e269772661'],
    ['abc', '900150983cd24fb0d6963f7d28e17f72'],
    ['message digest', 'f96b697d7cb7938d525a2f31aaf161d0'],
    ['abcdefghijklmnopqrstuvwxyz', 'c3fcd3d76192e4007dfb496cca67e13b'],
    ['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789', 'd174ab98d277d9f5a5611c2c9f419d9f'],
    ['1234567890'.repeat(8), '57edf4a22be3c955ac49da2e2107b67a'],
  ];
  for (const [input, digest] of suite) assert.equal(hex(md5([Buffer.from(input)])), digest, JSON.stringify(input));
});

test('HMAC-MD5: RFC 2104 / RFC 2202 test cases', () => {
  assert.equal(hex(hmacMd5(new Uint8Array(16).fill(0x0b), [Buffer.from('Hi There')])), '9294727a3638bb1c13f48ef8158bfc9d');
  assert.equal(hex(hmacMd5(Buffer.from('Jefe'), [Buffer.from('what do ya want for nothing?')])), '750c783e6ab0b503eaa86e310a5db738');
  assert.equal(
    hex(hmacMd5(new Uint8Array(80).fill(0xaa), [Buffer.from('Test Using Larger Than Block-Size Key - Hash Key First')])),
    '6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd',
  );
});

test('MD5 and HMAC-MD5 agree with node:crypto on any input split into any parts', () => {
  fc.assert(
    fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 6 }), fc.uint8Array({ maxLength: 100 }), (parts, key) => {
      const whole = Buffer.concat(parts);
      assert.equal(hex(md5(parts)), createHash('md5').update(whole).digest('hex'));
      assert.equal(hex(hmacMd5(key, parts)), createHmac('md5', key).update(whole).digest('hex'));
    }),
    { numRuns: 2000 },
  );
  // Every length around the 64-octet block and 56-octet padding boundaries, up to a full 4096-octet packet.
  for (const n of [55, 56, 57, 63, 64, 65, 119, 120, 121, 4095, 4096, 4200, 9000]) {
    const b = Uint8Array.from({ length: n }, (_, i) => (i * 31) & 0xff);
    assert.equal(hex(md5([b])), createHash('md5').update(b).digest('hex'), `length ${n}`);
  }
});

test('md5Packet is MD5(packet[0..4] + authenticator field + packet[20..] + secret)', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 20, maxLength: 4096 }), fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.uint8Array({ maxLength: 64 }), (p, auth, secret) => {
      const expected = createHash('md5').update(p.subarray(0, 4)).update(auth).update(p.subarray(20)).update(secret).digest('hex');
      assert.equal(hex(md5Packet(p, auth, secret)), expected);
    }),
    { numRuns: 500 },
  );
});

test('constant-time equality', () => {
  assert.ok(constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2)));
  assert.ok(!constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 3)));
  assert.ok(!constantTimeEqual(Uint8Array.of(1, 2), Uint8Array.of(1, 2, 3)));
});
