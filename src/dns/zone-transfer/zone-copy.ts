/**
 * The secondary's local copy of a pulled zone (what a BIND secondary keeps in its zone
 * file), so a restart while the primary is down still has the policy. The file is one
 * JSON line (zone, primary, serial, when it was transferred) and then the zone as an AXFR
 * answer would carry it: TCP-framed DNS messages holding SOA, records, SOA. Reading it back
 * goes through the same XfrReader as a transfer, so a copy means what the transfer meant.
 * Written to a temporary file, synced and renamed over the old one: a crash leaves the old
 * copy or the new one, never half of one.
 */
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { open, rename, unlink, utimes } from 'node:fs/promises';
import { dirname, join, basename } from 'node:path';
import { decodeMessage, normalizeName, Opcode, RRClass, RRType, type DnsMessage } from '../wire/index.ts';
import type { ZoneRecord } from '../policy/index.ts';
import { frameMessage, TcpMessageReader } from './framing.ts';
import { soaSerial, xfrMessages, XfrReader } from './xfr.ts';

const FORMAT = 'sakimori-zone-copy/1';

export interface ZoneCopy {
  soa: ZoneRecord;
  records: ZoneRecord[];
  /** When the version was transferred (ms since the epoch). */
  transferredAt: number;
  /** The last time the primary was reached (the file's mtime, touched by each up-to-date refresh): the SOA expire timer runs from it. */
  lastContactAt: number;
  primary: string;
}

function copyQuery(zone: string): DnsMessage {
  return {
    header: { id: 0, qr: false, opcode: Opcode.QUERY, aa: false, tc: false, rd: false, ra: false, z: false, ad: false, cd: false, rcode: 0 },
    questions: [{ name: zone, type: RRType.AXFR, class: RRClass.IN }],
    answers: [],
    authority: [],
    additional: [],
  };
}

/** The copy of `zone` in `file`: undefined when there is none, else the zone or why it cannot be used. */
export function readZoneCopy(file: string, zone: string): ZoneCopy | { error: string } | undefined {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return { error: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
  const nl = buf.indexOf(0x0a);
  if (nl < 0) return { error: `${file} has no header line` };
  let head: { format?: unknown; zone?: unknown; serial?: unknown; transferredAt?: unknown; primary?: unknown };
  try {
    head = JSON.parse(buf.subarray(0, nl).toString('utf8')) as typeof head;
  } catch {
    return { error: `${file}: the header line is not JSON` };
  }
  if (head.format !== FORMAT) return { error: `${file}: not a ${FORMAT} file` };
  if (head.zone !== normalizeName(zone)) return { error: `${file} holds zone ${String(head.zone)}, not ${normalizeName(zone)}` };
  const reader = new XfrReader(zone, { type: 'AXFR' });
  const frames = new TcpMessageReader();
  const msgs = frames.push(buf.subarray(nl + 1));
  for (const m of msgs) {
    const d = decodeMessage(m);
    if (!d.ok) return { error: `${file}: message ${reader.messages + 1} does not decode: ${d.error.message}` };
    const step = reader.feed(d.value);
    if (!step.done) continue;
    if ('error' in step) return { error: `${file}: ${step.error}` };
    if (step.outcome.kind !== 'full') return { error: `${file}: not a whole zone` };
    if (soaSerial(step.outcome.soa) !== head.serial) return { error: `${file}: the header says serial ${String(head.serial)}, the zone has ${soaSerial(step.outcome.soa)}` };
    const transferredAt = typeof head.transferredAt === 'number' ? head.transferredAt : 0;
    let mtime = 0;
    try {
      mtime = statSync(file).mtimeMs;
    } catch {
      // read a moment ago; keep the header's time
    }
    return { soa: step.outcome.soa, records: step.outcome.records, transferredAt, lastContactAt: Math.max(transferredAt, mtime), primary: String(head.primary ?? '') };
  }
  return { error: `${file} is cut short (no closing SOA): it was not written completely` };
}

/**
 * Writes the copy atomically. `stale()` is asked between messages: when the zone changed
 * under the write it is abandoned (the caller writes the newer version), so the file never
 * mixes two versions.
 */
export async function writeZoneCopy(
  file: string,
  c: { zone: string; primary: string; soa: ZoneRecord; records: Iterable<ZoneRecord>; transferredAt: number },
  stale: () => boolean = () => false,
): Promise<boolean> {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  const fh = await open(tmp, 'w', 0o600);
  let ok = false;
  try {
    const head = { format: FORMAT, zone: normalizeName(c.zone), serial: soaSerial(c.soa), primary: c.primary, transferredAt: c.transferredAt };
    await fh.write(`${JSON.stringify(head)}\n`);
    const soa = c.soa;
    function* all(): Generator<ZoneRecord> {
      yield soa;
      for (const r of c.records) if (r.type !== RRType.SOA) yield r;
      yield soa;
    }
    let batch: Uint8Array[] = [];
    let size = 0;
    for (const m of xfrMessages(copyQuery(c.zone), all())) {
      batch.push(frameMessage(m));
      size += m.length;
      // Small chunks: encoding runs on the thread that may answer DNS, so yield often.
      if (size < 1 << 18) continue;
      await fh.write(Buffer.concat(batch));
      batch = [];
      size = 0;
      if (stale()) return false;
    }
    if (batch.length) await fh.write(Buffer.concat(batch));
    if (stale()) return false;
    await fh.sync();
    ok = true;
  } finally {
    await fh.close();
    if (!ok) await unlink(tmp).catch(() => undefined);
  }
  await rename(tmp, file);
  // The rename itself is made durable by syncing the directory.
  const dir = await open(dirname(file), 'r');
  await dir.sync().catch(() => undefined);
  await dir.close();
  return true;
}

/** Records that the primary answered (an up-to-date refresh) without rewriting the copy: its mtime. */
export async function touchZoneCopy(file: string, at: number): Promise<void> {
  await utimes(file, at / 1000, at / 1000).catch(() => undefined);
}
