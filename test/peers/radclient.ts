/**
 * Running command-line peers from tests: `run` collects a child's output and exit code;
 * `radclient` (freeradius-utils) sends RADIUS accounting packets in order, one at a time,
 * and fails the test unless each got its Accounting-Response.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface RunResult {
  code: number;
  out: string;
  err: string;
}

export function run(cmd: string, args: string[], cwd?: string): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(cwd ? { cwd } : {}) });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => resolve({ code: code ?? -1, out, err }));
  });
}

/** Each packet is "Attribute = value" lines; the file radclient reads is written in `dir`. */
export async function radclient(dir: string, server: { host: string; port: number }, secret: string, packets: string[]): Promise<void> {
  const file = join(dir, `packets-${Math.random().toString(36).slice(2)}.txt`);
  writeFileSync(file, packets.map((p) => p.trim().replace(/\n\s+/g, '\n')).join('\n\n') + '\n');
  const r = await run('radclient', ['-x', '-t', '2', '-r', '3', '-f', file, `${server.host}:${server.port}`, 'acct', secret], dir);
  const answered = (r.out.match(/Received Accounting-Response/g) ?? []).length;
  assert.equal(answered, packets.length, `radclient got ${answered} of ${packets.length} answers (exit ${r.code}):\n${r.out}${r.err}`);
}
