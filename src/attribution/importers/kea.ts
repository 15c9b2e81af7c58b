/**
 * Kea DHCP memfile lease files (kea-leases4.csv, kea-leases6.csv), told
 * apart by their header. A lease's start is its expiry minus its valid
 * lifetime (the client's last transaction). The client is the hardware
 * address, else the client id (DHCPv4) or the DUID (DHCPv6). State 0 is an
 * active lease; 2 (expired-reclaimed) and 3 (released) end it; 1
 * (declined) was never held.
 */
import { headerIndex } from './csv.ts';
import { fileNas, type ImportFormat, type ImportSink, type ImportOptions, type LineParser } from './format.ts';
import { LeaseRuns } from './lease-runs.ts';

/** Kea escapes commas inside fields as "&#x2c". */
const unescape = (v: string) => (v.indexOf('&#x') < 0 ? v : v.replace(/&#x([0-9a-f]{2});?/gi, (_m, h: string) => String.fromCharCode(parseInt(h, 16))));

class KeaParser implements LineParser {
  private cols: Map<string, number> | undefined;
  private v6 = false;
  private readonly runs: LeaseRuns;

  constructor(
    file: string,
    options: ImportOptions,
    private readonly sink: ImportSink,
  ) {
    this.runs = new LeaseRuns(fileNas('kea', file, options), 'kea', sink);
  }

  line(text: string, no: number): void {
    if (text.trim() === '') return;
    const f = text.split(',');
    if (!this.cols) {
      const cols = headerIndex(f);
      if (!cols.has('address') || !cols.has('expire') || !cols.has('valid_lifetime')) {
        return this.sink.bad(no, 'not a Kea lease file header: expected "address,hwaddr,client_id,valid_lifetime,expire,..." (lease4) or "address,duid,valid_lifetime,expire,..." (lease6)');
      }
      this.cols = cols;
      this.v6 = cols.has('duid');
      return;
    }
    const get = (c: string) => {
      const i = this.cols!.get(c);
      return i === undefined ? '' : unescape((f[i] ?? '').trim());
    };
    const address = get('address');
    const expire = Number(get('expire'));
    const valid = Number(get('valid_lifetime'));
    if (!Number.isInteger(expire) || expire <= 0) return this.sink.bad(no, `expire "${get('expire')}" is not epoch seconds`);
    if (!Number.isInteger(valid) || valid < 0) return this.sink.bad(no, `valid_lifetime "${get('valid_lifetime')}" is not a number of seconds`);
    const state = get('state') === '' ? 0 : Number(get('state'));
    if (state === 1) return this.sink.skip('lease declined');
    const subscriber = get('hwaddr').toLowerCase() || (this.v6 ? get('duid') : get('client_id'));
    if (!subscriber) return this.sink.bad(no, `lease of ${address} has no hwaddr or ${this.v6 ? 'duid' : 'client_id'}`);
    let role: 'ipv4' | 'ipv6-framed' | 'ipv6-delegated' = 'ipv4';
    let addr = address;
    if (this.v6) {
      const prefixLen = get('prefix_len') || '128';
      role = get('lease_type') === '2' ? 'ipv6-delegated' : 'ipv6-framed';
      addr = role === 'ipv6-delegated' ? `${address}/${prefixLen}` : address;
    }
    this.runs.push({ address: addr, subscriber, start: (expire - valid) * 1000, end: expire * 1000, active: state === 0, role, line: no });
  }

  end(): void {
    if (!this.cols) this.sink.bad(1, 'the file is empty: no header line');
    this.runs.finish();
  }
}

export const keaFormat: ImportFormat = {
  name: 'kea',
  summary: 'Kea DHCP memfile lease CSV (kea-leases4.csv or kea-leases6.csv, detected by the header)',
  open: ({ file, options, sink }) => new KeaParser(file, options, sink),
};
