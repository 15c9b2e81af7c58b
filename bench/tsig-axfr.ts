/**
 * What TSIG (RFC 8945, every message signed and verified) costs on a large AXFR: the RPZ
 * provider and the secondary's client in one process on loopback, the same zone
 * transferred unsigned and signed with hmac-sha256, alternating, and the local copy
 * written and read back.
 *
 *   node --import tsx bench/tsig-axfr.ts [--names 200000] [--runs 3]
 *
 * Prints one JSON metric a line (bench/run.ts format) and a summary on stderr.
 */
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { RpzProvider } from '../src/dns/rpz-provider/index.ts';
import { makeTsigKey, readZoneCopy, requestTransfer, tsigKeyring, writeZoneCopy, type XfrLogger } from '../src/dns/zone-transfer/index.ts';
import { helpIfAsked } from './run.ts';

helpIfAsked(import.meta.url);

const { values } = parseArgs({ options: { names: { type: 'string', default: '200000' }, runs: { type: 'string', default: '3' } } });
const N = Number(values.names);
const RUNS = Number(values.runs);
const ZONE = 'cc.rpz.bench';
const quiet: XfrLogger = { debug() {}, info() {}, warn() {}, error() {} };

function metric(name: string, value: number, unit = 'ms'): void {
  process.stdout.write(`${JSON.stringify({ bench: 'tsig-axfr', name, value, unit, names: N, load: loadavg()[0] })}\n`);
}

const dir = mkdtempSync(join(tmpdir(), 'sakimori-tsig-bench-'));
try {
  const file = join(dir, 'cc.zone');
  const out = createWriteStream(file);
  out.write(`$ORIGIN ${ZONE}.\n$TTL 60\n@ SOA localhost. hostmaster.localhost. 1 3600 600 86400 60\n@ NS localhost.\n`);
  for (let i = 0; i < N; i++) out.write(`n${i}.bad${i % 997}.example CNAME .\n`);
  await new Promise<void>((r) => out.end(r));
  const key = makeTsigKey({ name: 'xfr-key', secret: Buffer.from('bench secret bench secret 32 b!!').toString('base64') });
  const provider = new RpzProvider({ listen: { host: '127.0.0.1', port: 0 }, zones: [{ name: ZONE, file }], keys: tsigKeyring([key]), allowTransfer: ['127.0.0.0/8'], logger: quiet, watchIntervalMs: 3_600_000 });
  await provider.start();
  const times: Record<'unsigned' | 'signed', number[]> = { unsigned: [], signed: [] };
  let messages = 0;
  for (let r = 0; r < RUNS; r++) {
    for (const kind of ['unsigned', 'signed'] as const) {
      const t0 = process.hrtime.bigint();
      const res = await requestTransfer(provider.address, { zone: ZONE, type: 'AXFR', timeoutMs: 60_000, ...(kind === 'signed' ? { key } : {}) });
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (res.outcome.kind !== 'full' || res.outcome.records.length < N) throw new Error(`short transfer: ${res.records}`);
      messages = res.messages;
      times[kind].push(ms);
      metric(`axfr-${kind}`, ms);
    }
  }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
  const last = await requestTransfer(provider.address, { zone: ZONE, type: 'AXFR', timeoutMs: 60_000, key });
  await provider.stop();
  if (last.outcome.kind !== 'full') throw new Error('no zone');
  const copy = join(dir, 'copy', `${ZONE}.zone`);
  let t0 = process.hrtime.bigint();
  await writeZoneCopy(copy, { zone: ZONE, primary: 'bench', soa: last.outcome.soa, records: last.outcome.records, transferredAt: Date.now() });
  const writeMs = Number(process.hrtime.bigint() - t0) / 1e6;
  t0 = process.hrtime.bigint();
  const back = readZoneCopy(copy, ZONE);
  const readMs = Number(process.hrtime.bigint() - t0) / 1e6;
  if (!back || 'error' in back || back.records.length !== last.outcome.records.length) throw new Error('copy did not read back');
  metric('copy-write', writeMs);
  metric('copy-read', readMs);
  process.stderr.write(
    `${N} names, ${messages} messages: AXFR unsigned median ${med(times.unsigned).toFixed(0)} ms, signed (hmac-sha256, every message) ${med(times.signed).toFixed(0)} ms ` +
      `(x${(med(times.signed) / med(times.unsigned)).toFixed(2)}); local copy write ${writeMs.toFixed(0)} ms, read ${readMs.toFixed(0)} ms; load ${loadavg()[0]!.toFixed(1)}\n`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
