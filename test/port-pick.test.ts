/**
 * Port 0 for a DNS listener (UDP and TCP on one number) in a network namespace whose
 * ephemeral range holds 32 numbers, 30 of them taken for one protocol: the DNS firewall
 * and the RPZ server each still find a number free for both. Before openOnOnePort, the
 * second protocol's bind failed with EADDRINUSE in 30 of 32 picks (CI once failed so).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const FIXTURE = fileURLToPath(new URL('./peers/port-pick-netns.ts', import.meta.url));
const [FIRST, LAST] = [40000, 40031];

describe('port 0 for UDP and TCP on one number', { skip: process.getuid?.() !== 0 ? 'needs root for a network namespace' : false }, () => {
  it('the DNS firewall and the RPZ server find a number free for both when most are taken', () => {
    // The ephemeral range is per namespace: /proc/sys/net/ipv4/ip_local_port_range inside unshare -n.
    const script = `echo "${FIRST} ${LAST}" > /proc/sys/net/ipv4/ip_local_port_range && exec "$0" --import tsx "$1" ${FIRST} ${LAST}`;
    for (let run = 0; run < 3; run++) {
      const r = spawnSync('unshare', ['-n', 'sh', '-c', script, process.execPath, FIXTURE], { encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 0, `fixture failed: ${r.stderr}${r.error ? String(r.error) : ''}`);
      const { dns, rpz } = JSON.parse(r.stdout.trim().split('\n').pop()!) as { dns: number; rpz: number };
      for (const p of [dns, rpz]) assert.ok(p >= LAST - 1 && p <= LAST, `picked ${p}: expected one of the two numbers free for both`);
    }
    assert.ok(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim() !== `${FIRST}\t${LAST}`, 'the host range is untouched');
  });
});
