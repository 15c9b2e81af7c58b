/**
 * TSIG keys in the configuration: tsig.keys checked with file:line and what to write,
 * references from rpz.allowTransfer / rpz.notify / dns.zones resolved with a clear error
 * when the key is not defined, and the firewall's zone spec built with the key and the
 * local copy's path.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { checkConfigText, formatConfigProblem } from '../src/config/index.ts';
import { firewallOptions, type DnsConfig } from '../src/dns/index.ts';
import { transferAcl } from '../src/dns/rpz-provider/index.ts';
import { tsigKeysFromConfig } from '../src/dns/zone-transfer/index.ts';

const SECRET = 'c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0';
const problems = (text: string) => checkConfigText(text, 'sakimori.yaml').problems.map(formatConfigProblem).join('\n');

describe('tsig.keys and references to them', () => {
  it('checks each key with file, line, key and what to write', () => {
    assert.equal(problems(`tsig:\n  keys:\n    - { name: xfr-key, algorithm: hmac-sha512, secret: "${SECRET}" }\n    - { name: other, secretFile: /etc/sakimori/other.key }\n`), '');
    assert.match(problems('tsig:\n  keys:\n    - { name: k, algorithm: hmac-md5, secret: "c2VjcmV0" }\n'), /sakimori\.yaml:3.*tsig\.keys\[0\]\.algorithm.*expected one of hmac-sha256/);
    assert.match(problems('tsig:\n  keys:\n    - { name: k }\n'), /tsig\.keys\[0\].*has neither secret nor secretFile/);
    assert.match(problems('tsig:\n  keys:\n    - { name: k, secret: "c2VjcmV0", secretFile: /x }\n'), /tsig\.keys\[0\]\.secretFile.*has both secret and secretFile/);
    assert.match(problems('tsig:\n  keys:\n    - { name: k, secret: "not base64!" }\n'), /tsig\.keys\[0\]\.secret.*is not base64/);
    assert.match(problems('tsig:\n  keys:\n    - { name: k, secret: "c2VjcmV0" }\n    - { name: K, secret: "c2VjcmV0" }\n'), /tsig\.keys\[1\]\.name.*defines key k twice/);
    // The secret is never echoed back in a problem, even a malformed one.
    assert.doesNotMatch(problems('tsig:\n  keys:\n    - { name: "bad name!", secret: "c2VjcmV0" }\n'), /c2VjcmV0/);
    const bad = problems('tsig:\n  keys:\n    - { name: k, secret: "almostMySecret!" }\n');
    assert.match(bad, /tsig\.keys\[0\]\.secret: the value given is not base64/);
    assert.doesNotMatch(bad, /almostMySecret/);
  });

  it('rpz.allowTransfer and rpz.notify take { prefix | address, key }; dns.zones[].key only with primary', () => {
    const ok = checkConfigText(`tsig:\n  keys: [{ name: xfr-key, secret: c2VjcmV0 }]\nrpz:\n  allowTransfer: ["127.0.0.0/8", { prefix: 192.0.2.53/32, key: xfr-key }]\n  notify: ["192.0.2.54:53", { address: "192.0.2.53:53", key: xfr-key }]\n`, 'sakimori.yaml');
    assert.deepEqual(ok.problems, []);
    assert.deepEqual(ok.config!.rpz.allowTransfer, ['127.0.0.0/8', { prefix: '192.0.2.53/32', key: 'xfr-key' }]);
    assert.match(problems('rpz:\n  allowTransfer: [{ prefix: nowhere, key: k }]\n'), /rpz\.allowTransfer\[0\]/);
    assert.match(problems('rpz:\n  notify: [{ address: "192.0.2.53", key: k }]\n'), /rpz\.notify\[0\]/);
    assert.match(problems('dns:\n  zones:\n    - { name: cc.rpz.example, file: /tmp/x, key: k }\n'), /dns\.zones\[0\]\.key.*only with primary/);
  });

  it('config check names a dns.zones[].key that tsig.keys does not define, with file and line', () => {
    const text = 'tsig:\n  keys: [{ name: xfr-key, secret: c2VjcmV0 }]\ndns:\n  zones:\n    - { name: a.rpz.example, primary: "192.0.2.53:53", key: XFR-KEY. }\n    - { name: b.rpz.example, primary: "192.0.2.53:53", key: missing }\n';
    const out = problems(text);
    assert.match(out, /sakimori\.yaml:6:.*dns\.zones\[1\]\.key: names TSIG key "missing", which is not defined — expected the name of a key under tsig\.keys \(xfr-key\)/);
    assert.doesNotMatch(out, /zones\[0\]/, 'names match as DNS names do: case and a trailing dot do not matter');
    assert.match(problems('dns:\n  zones:\n    - { name: cc.rpz.example, primary: "192.0.2.53:53", key: k }\n'), /\(none is defined\)/);
  });

  it('config check names an rpz.allowTransfer / rpz.notify key that tsig.keys does not define, with file:line:key and a guess', () => {
    const text = 'tsig:\n  keys:\n    - { name: xfr-key, secret: c2VjcmV0 }\nrpz:\n  allowTransfer:\n    - 127.0.0.0/8\n    - { prefix: 192.0.2.53/32, key: xfr-kye }\n  notify:\n    - "192.0.2.54:53"\n    - { address: "192.0.2.53:53", key: other }\n    - { address: "192.0.2.55:53", key: XFR-KEY }\n';
    const out = problems(text);
    assert.match(out, /^sakimori\.yaml:7: rpz\.allowTransfer\[1\]\.key: names TSIG key "xfr-kye", which is not defined — did you mean xfr-key\? expected the name of a key under tsig\.keys \(xfr-key\)$/m);
    assert.match(out, /^sakimori\.yaml:10: rpz\.notify\[1\]\.key: names TSIG key "other", which is not defined — expected the name of a key under tsig\.keys \(xfr-key\)$/m);
    assert.doesNotMatch(out, /notify\[2\]|allowTransfer\[0\]|notify\[0\]/);
    assert.match(problems('rpz:\n  allowTransfer: [{ prefix: 192.0.2.53/32, key: cli-key }]\n'), /rpz\.allowTransfer\[0\]\.key: names TSIG key "cli-key".*\(none is defined\)/);
  });

  it('sakimori config check exits 1 on an undefined rpz key (caught before rpz serve starts)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sakimori-tsig-config-'));
    try {
      writeFileSync(join(dir, 'sakimori.yaml'), 'tsig:\n  keys:\n    - { name: xfr-key, secret: c2VjcmV0 }\nrpz:\n  notify:\n    - { address: "127.0.0.1:5353", key: xfr_key2 }\n');
      const r = spawnSync(process.execPath, [resolve(import.meta.dirname, '../bin/sakimori.js'), 'config', 'check', 'sakimori.yaml'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /sakimori\.yaml:6: rpz\.notify\[0\]\.key: names TSIG key "xfr_key2", which is not defined — did you mean xfr-key\?/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an undefined key is a clear error where it is used; a defined one reaches the zone spec with its copy path', () => {
    assert.throws(() => transferAcl([{ prefix: '192.0.2.0/24', key: 'nope' }], tsigKeysFromConfig([])), /allow-transfer entry 192\.0\.2\.0\/24 names TSIG key nope, which is not defined/);
    assert.throws(() => tsigKeysFromConfig([{ name: 'k', secret: 'c2VjcmV0' }, { name: 'j', algorithm: 'hmac-md5', secret: 'c2VjcmV0' }]), /tsig\.keys\[1\]: TSIG key j: algorithm hmac-md5 is not supported/);
    const parsed = checkConfigText('tsig:\n  keys: [{ name: xfr-key, secret: c2VjcmV0 }]\ndns:\n  zoneCopyDir: /var/lib/sakimori/zones\n  zones:\n    - { name: CC.rpz.example, primary: "primary.example:53", key: xfr-key }\n', 'sakimori.yaml');
    assert.deepEqual(parsed.problems, []);
    const cfg = parsed.config!.dns as unknown as DnsConfig;
    assert.throws(() => firewallOptions(cfg, [], 'n1', { keys: [] }), /dns\.zones\[0\]\.key names TSIG key xfr-key, which is not defined/);
    const opts = firewallOptions(cfg, [], 'n1', { keys: [{ name: 'xfr-key', algorithm: 'hmac-sha256', secret: SECRET }] });
    const z = opts.zones![0]!;
    assert.equal(z.tsigKey?.name, 'xfr-key');
    assert.equal(z.tsigKey?.algorithm, 'hmac-sha256');
    assert.equal(z.copyFile, join('/var/lib/sakimori/zones', 'cc.rpz.example.zone'));
    assert.equal(z.primary, 'primary.example:53', 'a host name is kept for the secondary to resolve');
  });
});
