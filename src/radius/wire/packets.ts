/**
 * Test-only: real packets captured from FreeRADIUS 3.2's radclient (Debian
 * freeradius-utils) and from RFC 2865 §7.1, as hex, with the secrets that signed them.
 */

/**
 * radclient ... acct nas-secret-1 with: Acct-Status-Type = Interim-Update,
 * Acct-Session-Id = "0A1B2C3D", User-Name = "user01@example.jp", NAS-IP-Address =
 * 192.0.2.1, Framed-IP-Address = 198.51.100.23, Delegated-IPv6-Prefix =
 * 2001:db8:ab00::/56, Acct-Session-Time = 900, Event-Timestamp = 1795348800,
 * Message-Authenticator = 0x00 (radclient computes it).
 */
export const RADCLIENT_INTERIM = {
  secret: 'nas-secret-1',
  hex:
    '04e900759aff9d87424ad008b05c33567c7468402806000000032c0a30413142324333440113757365723031406578616d706c652e6a70' +
    '0406c00002010806c63364177b14003820010db8ab00000000000000000000002e060000038437066b02d9405012e88c9ed8e11094264ee8f398cba6d856',
};

/** RFC 2865 §7.1: Access-Request for user "nemo" and the Access-Accept answering it, secret "xyzzy5461". */
export const RFC2865_ACCESS = {
  secret: 'xyzzy5461',
  request: '010000380f403f9473978057bd83d5cb98f4227a01066e656d6f02120dbe708d93d413ce3196e43f782a0aee0406c0a80110050600000003',
  accept: '0200002686fe220e7624ba2a1005f6bf9b55e0b20606000000010f06000000000e06c0a80103',
};

export function hex(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
}
