/**
 * `sakimori rpz add` on a large policy zone, served by a running `sakimori rpz serve`:
 * how long the command takes, and how long until the provider serves the new serial (SOA
 * over UDP, which it answers from the version in force, so IXFR has it too). "whole" is
 * the edit that reads and rewrites the whole file (what every edit did before the in-place
 * path; forced here by removing the state file beside the zone), "in place" the edit that
 * blanks and appends lines (edit.ts) and that the provider applies from the journal.
 *
 *   node --import tsx bench/rpz-edit.ts [--names 1000000] [--edits 5]
 *
 * Prints one JSON metric a line (bench/run.ts format) and a summary on stderr.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { editZoneFile } from '../src/dns/rpz-provider/index.ts';
import { cli, startRpzServe, stop, untilServed, writeZone, ZONE, type Sakimori } from './rpz-common.ts';
import { helpIfAsked } from './run.ts';

helpIfAsked(import.meta.url);

const { values } = parseArgs({ options: { names: { type: 'string', default: '1000000' }, edits: { type: 'string', default: '5' } } });
const N = Number(values.names);
const EDITS = Number(values.edits);
const BIN = resolve(import.meta.dirname, '../bin/sakimori.js');

const dir = mkdtempSync(join(tmpdir(), 'sakimori-rpz-edit-bench-'));
const file = join(dir, 'cc.zone');
const sakimori: Sakimori = { bin: BIN, cwd: dir };

function metric(name: string, value: number, unit = 'ms'): void {
  process.stdout.write(`${JSON.stringify({ metric: name, value: Math.round(value), higherIsBetter: false, unit })}\n`);
}

let serve: ChildProcess | undefined;
try {
  await writeZone(file, N);
  const port = 20000 + Math.floor(Math.random() * 20000);
  const t0 = performance.now();
  serve = startRpzServe(sakimori, port, file, { stderr: 'inherit' });
  await untilServed(port, 1, { since: t0, limitMs: 120_000 });
  process.stderr.write(`rpz serve loaded ${N} names in ${Math.round(performance.now() - t0)} ms\n`);
  let serial = 1;
  const add = async (name: string, whole: boolean): Promise<{ cmd: number; served: number }> => {
    if (whole) {
      try {
        unlinkSync(join(dir, '.cc.zone.sakimori-state'));
      } catch {
        // first edit: there is none yet
      }
    }
    const cmd = await cli(sakimori, ['rpz', 'add', '--zone', ZONE, '--file', file, '--name', name, '--action', 'nxdomain']);
    serial++;
    const served = await untilServed(port, serial, { limitMs: 120_000 });
    return { cmd, served };
  };
  const whole = await add('whole-0.example', true);
  process.stderr.write(`whole-file edit: rpz add ${Math.round(whole.cmd)} ms, served ${Math.round(whole.served)} ms after it returned\n`);
  const inPlace: { cmd: number; served: number }[] = [];
  for (let i = 0; i < EDITS; i++) {
    const r = await add(`inplace-${i}.example`, false);
    inPlace.push(r);
    process.stderr.write(`in-place edit ${i + 1}: rpz add ${Math.round(r.cmd)} ms, served ${Math.round(r.served)} ms after it returned\n`);
  }
  // The command's own start (node, config, store) is most of an in-place edit: the edit alone, in this process (no journal store).
  const alone: number[] = [];
  for (let i = 0; i < EDITS; i++) {
    const t = performance.now();
    await editZoneFile({ zone: ZONE, file, edits: [{ op: 'add', name: `alone-${i}.example`, action: 'nxdomain' }], actor: 'bench' });
    alone.push(performance.now() - t);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  metric('rpz add, whole file (command wall time)', whole.cmd);
  metric('served after whole-file add', whole.served);
  metric('rpz add, in place (command wall time, median)', median(inPlace.map((x) => x.cmd)));
  metric('served after in-place add (median)', median(inPlace.map((x) => x.served)));
  metric('editZoneFile in place, in process (median)', median(alone));
  process.stderr.write(`names ${N}, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}\n`);
} finally {
  await stop(serve);
  rmSync(dir, { recursive: true, force: true });
}
