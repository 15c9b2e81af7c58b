/**
 * A real SMTP server for tests: aiosmtpd (Debian's `python3-aiosmtpd`) on
 * 127.0.0.1 at a free port, storing every message it accepts in a Maildir
 * (its built-in Mailbox handler). Stopped and deleted by stop(), and on
 * process exit if stop() was never reached.
 *
 *   const smtp = await startSmtp();
 *   ... send to smtp.host:smtp.port ...
 *   const mails = await smtp.waitForMessages(1);
 *   await smtp.stop();
 *
 * Throws with a clear message when aiosmtpd is not installed or does not
 * start, so a test that needs it fails instead of skipping.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.ts';

export interface ReceivedMail {
  /** Header names in lower case; values unfolded, RFC 2047 words decoded. */
  headers: Record<string, string>;
  subject: string;
  /** The text body, transfer encoding undone, as UTF-8. */
  text: string;
  raw: string;
}

export interface SmtpPeer {
  readonly host: string;
  readonly port: number;
  messages(): ReceivedMail[];
  waitForMessages(count: number, timeoutMs?: number): Promise<ReceivedMail[]>;
  stop(): Promise<void>;
}

/** A Python that has aiosmtpd: Debian's, not one a version manager put first on PATH. */
function findPython(): string {
  for (const py of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(py, ['-c', 'import aiosmtpd'], { encoding: 'utf8' });
    if (r.status === 0) return py;
  }
  throw new Error('aiosmtpd is not installed (no python3 can import it). Install it with: apt-get install python3-aiosmtpd');
}

/** Resolves true once the server greets with 220. */
function greets(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    let buf = '';
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(1000, () => done(false));
    s.on('data', (d) => {
      buf += d.toString('latin1');
      if (buf.includes('\n')) done(buf.startsWith('220'));
    });
    s.on('error', () => done(false));
  });
}

const live = new Set<{ child: ChildProcess; dir: string }>();
let hooked = false;

export async function startSmtp(): Promise<SmtpPeer> {
  const python = findPython();
  const dir = mkdtempSync(join(tmpdir(), 'sakimori-smtp-'));
  const maildir = join(dir, 'Maildir');
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    // -n: do not setuid to nobody (we may be root); Mailbox stores each message in the Maildir.
    const child = spawn(python, ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${port}`, '-c', 'aiosmtpd.handlers.Mailbox', maildir], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (s: string) => (stderr = (stderr + s).slice(-10_000)));
    const entry = { child, dir };
    live.add(entry);
    if (!hooked) {
      hooked = true;
      process.on('exit', () => {
        for (const e of live) {
          e.child.kill('SIGKILL');
          rmSync(e.dir, { recursive: true, force: true });
        }
      });
    }
    const until = Date.now() + 10_000;
    let ready = false;
    while (Date.now() < until && child.exitCode === null) {
      if (await greets(port)) {
        ready = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    if (ready) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      const messages = () => readMaildir(maildir);
      return {
        host: '127.0.0.1',
        port,
        messages,
        async waitForMessages(count, timeoutMs = 10_000) {
          const end = Date.now() + timeoutMs;
          for (;;) {
            const m = messages();
            if (m.length >= count) return m;
            if (Date.now() > end) throw new Error(`expected ${count} message(s) at the SMTP server, got ${m.length} within ${timeoutMs} ms`);
            await new Promise((r) => setTimeout(r, 50));
          }
        },
        async stop() {
          if (child.exitCode === null && child.signalCode === null) {
            child.kill('SIGTERM');
            const t = setTimeout(() => child.kill('SIGKILL'), 5000);
            await exited;
            clearTimeout(t);
          }
          live.delete(entry);
          rmSync(dir, { recursive: true, force: true });
        },
      };
    }
    lastError = `aiosmtpd exited with ${child.exitCode ?? child.signalCode ?? 'no greeting within 10 s'}: ${stderr.trim()}`;
    child.kill('SIGKILL');
    live.delete(entry);
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`the test SMTP server (aiosmtpd) did not start: ${lastError}`);
}

function readMaildir(maildir: string): ReceivedMail[] {
  const out: { name: string; mail: ReceivedMail }[] = [];
  for (const sub of ['new', 'cur']) {
    const d = join(maildir, sub);
    if (!existsSync(d)) continue;
    for (const name of readdirSync(d)) out.push({ name, mail: parseMail(readFileSync(join(d, name), 'latin1')) });
  }
  // Maildir names start with the delivery second only: order within a second is not kept.
  return out.sort((a, b) => a.name.localeCompare(b.name)).map((x) => x.mail);
}

/** Enough MIME for what nodemailer sends as text/plain: headers, RFC 2047 words, base64 or quoted-printable. */
export function parseMail(raw: string): ReceivedMail {
  const split = raw.search(/\r?\n\r?\n/);
  const head = split === -1 ? raw : raw.slice(0, split);
  const body = split === -1 ? '' : raw.slice(split).replace(/^\r?\n\r?\n/, '');
  const headers: Record<string, string> = {};
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = decodeWords(line.slice(i + 1).trim());
  }
  const cte = (headers['content-transfer-encoding'] ?? '7bit').toLowerCase();
  const bytes =
    cte === 'base64'
      ? Buffer.from(body.replace(/\s+/g, ''), 'base64')
      : cte === 'quoted-printable'
        ? qp(body)
        : Buffer.from(body, 'latin1');
  return { headers, subject: headers.subject ?? '', text: bytes.toString('utf8'), raw };
}

function qp(s: string): Buffer {
  const soft = s.replace(/=\r?\n/g, '');
  const out: number[] = [];
  for (let i = 0; i < soft.length; i++) {
    if (soft[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(soft.slice(i + 1, i + 3))) {
      out.push(parseInt(soft.slice(i + 1, i + 3), 16));
      i += 2;
    } else out.push(soft.charCodeAt(i));
  }
  return Buffer.from(out);
}

function decodeWords(v: string): string {
  return v
    .replace(/(=\?[^?]+\?[BbQq]\?[^?]*\?=)\s+(?==\?)/g, '$1')
    .replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (_, _cs: string, enc: string, text: string) =>
      enc.toUpperCase() === 'B' ? Buffer.from(text, 'base64').toString('utf8') : qp(text.replace(/_/g, ' ')).toString('utf8'),
    );
}
