/**
 * ISC DHCP `dhcpd.leases` (and dhcpd6.leases): `lease ADDR { ... }` blocks
 * with `starts`/`ends` in UTC ("starts 1 2025/01/06 03:00:00;", or
 * "epoch N;" with db-time-format local), `binding state`, and the client:
 * the relay agent's remote-id or circuit-id (option 82, what identifies a
 * line at an ISP), else the MAC address, else the client id. DHCPv6
 * `ia-na` / `ia-pd` blocks give addresses and delegated prefixes, with the
 * DUID as the client.
 */
import { fileNas, type ImportFormat, type ImportSink, type ImportOptions, type LineParser } from './format.ts';
import { LeaseRuns } from './lease-runs.ts';

interface Block {
  kind: 'lease' | 'ia-na' | 'ia-pd';
  line: number;
  address: string;
  id: string;
  starts?: number;
  ends?: number;
  cltt?: number;
  maxLife?: number;
  state?: string;
  mac?: string;
  uid?: string;
  remoteId?: string;
  circuitId?: string;
  /** Inside an ia-na/ia-pd: the current iaaddr/iaprefix. */
  sub?: { address: string; line: number; ends?: number; state?: string; maxLife?: number };
  subs: Array<{ address: string; line: number; ends?: number; state?: string; maxLife?: number }>;
  bad: boolean;
}

/** "1 2025/01/06 03:00:00" (UTC), "epoch 1736132400", or "never". */
function parseLeaseTime(v: string): number | 'never' | undefined {
  const s = v.trim();
  if (s === 'never') return 'never';
  const e = /^epoch\s+(\d+)/.exec(s);
  if (e) return Number(e[1]) * 1000;
  const m = /^\d\s+(\d{4})\/(\d{2})\/(\d{2})\s+(\d{2}):(\d{2}):(\d{2})$/.exec(s);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 12 || Number(m[3]) < 1 || Number(m[3]) > 31 || Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6]) > 60) return undefined;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
}

function optionValue(v: string): string {
  const s = v.trim();
  return s.startsWith('"') && s.endsWith('"') ? s.slice(1, -1) : s;
}

const NEVER_MS = 100 * 365 * 86_400_000;

class DhcpdParser implements LineParser {
  private block: Block | undefined;
  private readonly runs: LeaseRuns;

  constructor(
    file: string,
    options: ImportOptions,
    private readonly sink: ImportSink,
  ) {
    this.runs = new LeaseRuns(fileNas('dhcpd', file, options), 'dhcpd', sink);
  }

  line(raw: string, no: number): void {
    const text = raw.replace(/#.*$/, '').trim();
    if (text === '') return;
    if (!this.block) {
      const open = /^(lease|ia-na|ia-pd|ia-ta)\s+(\S+|"(?:[^"\\]|\\.)*")\s*\{$/.exec(text);
      if (open) {
        this.block = { kind: open[1] === 'lease' ? 'lease' : open[1] === 'ia-pd' ? 'ia-pd' : 'ia-na', line: no, address: open[1] === 'lease' ? open[2]! : '', id: open[1] === 'lease' ? '' : optionValue(open[2]!), subs: [], bad: false };
        return;
      }
      // Other top-level statements (server-duid, authoring-byte-order, failover state blocks) hold no lease.
      if (/^(server-duid|authoring-byte-order|failover|host|group|\}|[a-z-]+\s)/.test(text)) return;
      return this.sink.bad(no, `unexpected line outside a lease block: ${JSON.stringify(text.slice(0, 80))}`);
    }
    const b = this.block;
    if (text === '}') {
      if (b.sub) {
        b.subs.push(b.sub);
        b.sub = undefined;
        return;
      }
      this.block = undefined;
      if (!b.bad) this.finishBlock(b);
      return;
    }
    const sub = /^(iaaddr|iaprefix)\s+(\S+)\s*\{$/.exec(text);
    if (sub) {
      b.sub = { address: sub[2]!, line: no };
      return;
    }
    if (!text.endsWith(';')) {
      b.bad = true;
      return this.sink.bad(no, `statement without ";": ${JSON.stringify(text.slice(0, 80))}`);
    }
    const stmt = text.slice(0, -1).trim();
    const target = b.sub ?? b;
    const time = (v: string, what: string) => {
      const t = parseLeaseTime(v);
      if (t === undefined) {
        b.bad = true;
        this.sink.bad(no, `${what} "${v}" is not a lease time (expected e.g. "1 2025/01/06 03:00:00" or "epoch 1736132400")`);
      }
      return t;
    };
    let m: RegExpExecArray | null;
    if ((m = /^starts\s+(.*)$/.exec(stmt))) {
      const t = time(m[1]!, 'starts');
      if (typeof t === 'number') b.starts = t;
    } else if ((m = /^ends\s+(.*)$/.exec(stmt))) {
      const t = time(m[1]!, 'ends');
      if (t !== undefined) target.ends = t === 'never' ? (b.starts ?? 0) + NEVER_MS : t;
    } else if ((m = /^cltt\s+(.*)$/.exec(stmt))) {
      const t = time(m[1]!, 'cltt');
      if (typeof t === 'number') b.cltt = t;
    } else if ((m = /^max-life\s+(\d+)$/.exec(stmt))) {
      target.maxLife = Number(m[1]) * 1000;
    } else if ((m = /^binding state\s+(\S+)$/.exec(stmt))) {
      target.state = m[1]!;
    } else if ((m = /^hardware ethernet\s+(\S+)$/.exec(stmt))) {
      b.mac = m[1]!.toLowerCase();
    } else if ((m = /^uid\s+(.*)$/.exec(stmt))) {
      b.uid = optionValue(m[1]!);
    } else if ((m = /^option agent\.remote-id\s+(.*)$/.exec(stmt))) {
      b.remoteId = optionValue(m[1]!);
    } else if ((m = /^option agent\.circuit-id\s+(.*)$/.exec(stmt))) {
      b.circuitId = optionValue(m[1]!);
    }
  }

  end(): void {
    if (this.block) this.sink.bad(this.block.line, `the ${this.block.kind} block opened here is not closed`);
    this.runs.finish();
  }

  private finishBlock(b: Block): void {
    if (b.kind === 'lease') {
      const subscriber = b.remoteId ?? b.circuitId ?? b.mac ?? b.uid;
      if (!subscriber) return this.sink.bad(b.line, 'lease has no client: no agent.remote-id, agent.circuit-id, hardware ethernet or uid');
      if (b.starts === undefined || b.ends === undefined) return this.sink.bad(b.line, 'lease has no starts or ends');
      const state = b.state ?? 'active';
      if (state === 'abandoned' || state === 'backup') return this.sink.skip(`lease ${state}`);
      this.runs.push({ address: b.address, subscriber, start: b.starts, end: b.ends, active: state === 'active', role: 'ipv4', line: b.line });
      return;
    }
    for (const s of b.subs) {
      const end = s.ends;
      const start = b.cltt ?? (end !== undefined && s.maxLife !== undefined ? end - s.maxLife : undefined);
      if (start === undefined || end === undefined) {
        this.sink.bad(s.line, `${b.kind === 'ia-pd' ? 'iaprefix' : 'iaaddr'} has no ends, or the block no cltt`);
        continue;
      }
      const state = s.state ?? 'active';
      this.runs.push({ address: s.address, subscriber: b.id, start, end, active: state === 'active', role: b.kind === 'ia-pd' ? 'ipv6-delegated' : 'ipv6-framed', line: s.line });
    }
  }
}

export const dhcpdFormat: ImportFormat = {
  name: 'dhcpd',
  summary: 'ISC DHCP dhcpd.leases / dhcpd6.leases (client: option 82 remote-id or circuit-id, else MAC, else uid / DUID)',
  open: ({ file, options, sink }) => new DhcpdParser(file, options, sink),
};
