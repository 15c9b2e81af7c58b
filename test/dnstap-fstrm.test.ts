/**
 * The reference tools of the dnstap and Frame Streams projects against our codecs:
 * `dnstap-ldns` (Debian dnstap-ldns) decodes files our encoder writes, and `fstrm_replay`
 * (Debian fstrm-bin, libfstrm's writer) sends files to the collector over a Unix socket
 * and TCP with libfstrm's bidirectional handshake. Missing tools fail (never skip).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { encodeMessage, type DnsMessage } from '../src/dns/wire/index.ts';
import { DNSTAP_CONTENT_TYPE, encodeDnstap, encodeFrameStream, MessageType, SocketFamily, SocketProtocol } from '../src/dns/dnstap/wire/index.ts';
import { CollectedEvents, requireTool } from './peers/dnstap-harness.ts';
import { freePort } from './peers/unbound.ts';

const run = promisify(execFile);
const T = 1_767_225_600; // 2026-01-01T00:00:00Z

function dns(name: string, type: number, qr: boolean, rcode = 0): Uint8Array {
  const m: DnsMessage = { header: { id: 4660, qr, opcode: 0, aa: false, tc: false, rd: true, ra: qr, z: false, ad: false, cd: false, rcode }, questions: [{ name, type, class: 1 }], answers: [], authority: [], additional: [] };
  return encodeMessage(m);
}

/** Three messages: a client query over IPv6/TCP, its NXDOMAIN response, and a resolver query (no event). */
function sampleFile(): Uint8Array {
  const client = Uint8Array.from(Buffer.from('20010db8000000000000000000000053', 'hex'));
  return encodeFrameStream(DNSTAP_CONTENT_TYPE, [
    encodeDnstap({ identity: 'ours', version: 'sakimori-test', message: { type: MessageType.CLIENT_QUERY, socketFamily: SocketFamily.INET6, socketProtocol: SocketProtocol.TCP, queryAddress: client, queryPort: 53000, queryTimeSec: T, queryTimeNsec: 250_000_000, queryMessage: dns('Bad.Example.NET', 16, false) } }),
    encodeDnstap({ identity: 'ours', message: { type: MessageType.CLIENT_RESPONSE, socketFamily: SocketFamily.INET6, socketProtocol: SocketProtocol.TCP, queryAddress: client, queryPort: 53000, queryTimeSec: T, responseTimeSec: T, responseTimeNsec: 260_000_000, responseMessage: dns('bad.example.net', 16, true, 3) } }),
    encodeDnstap({ identity: 'ours', message: { type: MessageType.RESOLVER_QUERY, socketFamily: SocketFamily.INET, socketProtocol: SocketProtocol.UDP, responseAddress: Uint8Array.of(192, 0, 2, 53), queryMessage: dns('example.net', 2, false) } }),
  ]);
}

describe('dnstap and Frame Streams reference tools (dnstap-ldns, fstrm_replay)', () => {
  let dir: string;
  let ldns: string;
  let replay: string;
  before(() => {
    ldns = requireTool('dnstap-ldns', 'dnstap-ldns', 'the codec tests check our files with the dnstap project\'s own decoder');
    replay = requireTool('fstrm_replay', 'fstrm-bin', 'the collector tests connect libfstrm\'s own writer');
    dir = mkdtempSync(join(tmpdir(), 'sakimori-fstrm-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('dnstap-ldns reads what encodeDnstap and encodeFrameStream write', async () => {
    const file = join(dir, 'ours.fstrm');
    writeFileSync(file, sampleFile());
    const { stdout } = await run(ldns, ['-r', file, '-y']);
    const docs = stdout.split('---\n').filter((d) => d.trim());
    assert.equal(docs.length, 3, stdout);
    assert.match(docs[0]!, /identity: "ours"/);
    assert.match(docs[0]!, /version: "sakimori-test"/);
    assert.match(docs[0]!, /type: CLIENT_QUERY/);
    assert.match(docs[0]!, /query_time: !!timestamp 2026-01-01 00:00:00\.25/);
    assert.match(docs[0]!, /socket_family: INET6/);
    assert.match(docs[0]!, /socket_protocol: TCP/);
    assert.match(docs[0]!, /query_address: "2001:db8::53"/);
    assert.match(docs[0]!, /query_port: 53000/);
    assert.match(docs[0]!, /;Bad\.Example\.NET\.\s+IN\s+TXT/);
    assert.match(docs[1]!, /type: CLIENT_RESPONSE/);
    assert.match(docs[1]!, /rcode: NXDOMAIN/);
    assert.match(docs[1]!, /response_time: !!timestamp 2026-01-01 00:00:00\.26/);
    assert.match(docs[2]!, /type: RESOLVER_QUERY/);
    assert.match(docs[2]!, /response_address: "192\.0\.2\.53"/);
    const quiet = await run(ldns, ['-r', file, '-q']);
    assert.match(quiet.stdout, /CQ 2001:db8::53 TCP \d+b "Bad\.Example\.NET\." IN TXT/);
  });

  for (const transport of ['unix', 'tcp'] as const) {
    it(`fstrm_replay (libfstrm's bidirectional writer) over ${transport === 'unix' ? 'a Unix socket' : 'TCP'}: our file and both real captures`, async () => {
      const port = transport === 'tcp' ? await freePort() : 0;
      const sock = join(dir, `replay-${transport}.sock`);
      const events = await CollectedEvents.start([transport === 'unix' ? { kind: 'unix', path: sock } : { kind: 'tcp', host: '127.0.0.1', port }]);
      try {
        const ours = join(dir, `ours-${transport}.fstrm`);
        writeFileSync(ours, sampleFile());
        const fixtures = ['unbound-1.17.1.fstrm', 'bind-9.18.49.fstrm'].map((f) => {
          const p = join(dir, `${transport}-${f}`);
          writeFileSync(p, readFileSync(new URL(`../src/dns/dnstap/wire/testdata/${f}`, import.meta.url)));
          return p;
        });
        for (const f of [ours, ...fixtures]) {
          // fstrm_replay exits 0 only after our FINISH answered its STOP.
          await run(replay, ['-t', DNSTAP_CONTENT_TYPE, '-r', f, ...(transport === 'unix' ? ['-u', sock] : ['-a', '127.0.0.1', '-p', String(port)])], { timeout: 20_000 });
        }
        await events.waitFor('all events', () => events.events.length >= 10, 10_000);
        assert.deepEqual(events.events[0], { at: T * 1000 + 250, client: '2001:db8::53', qname: 'bad.example.net', qtype: 16, transport: 'tcp' });
        assert.deepEqual(events.events[1], { at: T * 1000 + 260, client: '2001:db8::53', qname: 'bad.example.net', qtype: 16, rcode: 3, responseSize: dns('bad.example.net', 16, true, 3).length, transport: 'tcp' });
        assert.deepEqual(
          events.events.slice(2).map((e) => `${e.qname} ${e.qtype} ${e.rcode ?? '-'} ${e.transport}`),
          ['www.example.test 1 - udp', 'www.example.test 1 0 udp', 'nope.example.test 28 - tcp', 'nope.example.test 28 3 tcp', 'www.example.test 1 - udp', 'www.example.test 1 0 udp', 'nope.example.test 28 - tcp', 'nope.example.test 28 3 tcp'],
        );
        const s = events.collector.stats();
        assert.equal(s.frames, 11);
        assert.equal(s.skipped['other-type'], 1);
        assert.equal(s.connectionsTotal, 3);
        assert.deepEqual(s.closedBad, {});
      } finally {
        await events.stop();
      }
    });
  }
});
