import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SakimoriError } from '../core/errors.ts';
import { ClientTable, canonicalAddress } from './client-table.ts';

test('exact addresses and CIDR networks, IPv4 and IPv6; the most specific wins', () => {
  const t = ClientTable.from([
    { address: '192.0.2.0/24', secret: 'net' },
    { address: '192.0.2.9', secret: 'host' },
    { address: '2001:DB8::/32', secret: 'v6net' },
    { address: '2001:db8::1', secret: 'v6host' },
    { address: '0.0.0.0/0', secret: 'any4' },
  ]);
  const secret = (a: string) => {
    const c = t.lookup(a);
    return c ? Buffer.from(c.secret).toString() : undefined;
  };
  assert.equal(secret('192.0.2.9'), 'host');
  assert.equal(secret('192.0.2.10'), 'net');
  assert.equal(secret('198.51.100.1'), 'any4');
  assert.equal(secret('::ffff:192.0.2.9'), 'host', 'IPv4 through a dual-stack socket');
  assert.equal(secret('2001:db8::1'), 'v6host');
  assert.equal(secret('2001:db8:ffff::2'), 'v6net');
  assert.equal(secret('2001:db9::1'), undefined);
  assert.equal(secret('not an address'), undefined);
  assert.equal(t.lookup('192.0.2.9')?.network, '192.0.2.9/32');
  assert.equal(t.lookup('2001:db8::5')?.network, '2001:db8::/32');
  // Cached answers are the same.
  assert.equal(secret('192.0.2.9'), 'host');
  assert.equal(secret('2001:db9::1'), undefined);
});

test('every configuration problem is reported at once, with its key and a fix', () => {
  try {
    ClientTable.from([
      { address: 'nas1.example.jp', secret: 'x' },
      { address: '192.0.2.1/24', secret: 'x' },
      { address: '192.0.2.0/33', secret: 'x' },
      { address: '10.0.0.1', secret: '' },
      { address: '2001:db8::/48', secret: 'x' },
      { address: '2001:DB8:0::/48', secret: 'y' },
    ]);
    assert.fail('expected an error');
  } catch (err) {
    assert.ok(err instanceof SakimoriError);
    assert.equal(err.code, 'RADIUS_CLIENTS_INVALID');
    const m = err.message;
    assert.match(m, /: 5 problem\(s\)/);
    assert.match(m, /clients\[0\]\.address "nas1\.example\.jp" is not an IP address or CIDR network .*host names are not resolved/);
    assert.match(m, /clients\[1\]\.address "192\.0\.2\.1\/24" has host bits set after \/24 — did you mean "192\.0\.2\.0\/24"\?/);
    assert.match(m, /clients\[2\]\.address "192\.0\.2\.0\/33" has prefix length "33" — use 0 to 32/);
    assert.match(m, /clients\[3\]\.secret is empty/);
    assert.match(m, /clients\[5\]\.address "2001:DB8:0::\/48" is the same network as clients\[4\]\.address/);
    assert.match(err.toDisplay(), /-> each client is/);
  }
});

test('canonical addresses: mapped IPv4 unwrapped, IPv6 in RFC 5952 form', () => {
  assert.equal(canonicalAddress('::ffff:127.0.0.1'), '127.0.0.1');
  assert.equal(canonicalAddress('2001:DB8:0:0::1'), '2001:db8::1');
  assert.equal(canonicalAddress('127.0.0.1'), '127.0.0.1');
  assert.equal(canonicalAddress('x'), undefined);
});
