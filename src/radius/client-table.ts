/**
 * Which NAS may talk to the accounting server, and with which shared secret. Clients are
 * single addresses or CIDR networks, IPv4 or IPv6; the most specific match wins (as in
 * FreeRADIUS clients.conf). An IPv4 NAS reaching a dual-stack socket appears as
 * "::ffff:192.0.2.1" and is matched as 192.0.2.1.
 */
import { SakimoriError } from '../core/errors.ts';
import { formatIPv4, formatIPv6, maskIPv6, parseIPv4, parseIPv6 } from './wire/ip.ts';

export interface RadiusClientConfig {
  /** "192.0.2.1", "2001:db8::1", "192.0.2.0/24" or "2001:db8:1::/48". */
  address: string;
  /** The shared secret configured on the NAS for this server. */
  secret: string;
  /** Require a valid Message-Authenticator in every request (RFC 3579 §3.2; Blast-RADIUS hardening). Default false: few NASes send one in accounting. */
  requireMessageAuthenticator?: boolean;
}

export interface RadiusClient {
  /** The network as configured, canonical: "192.0.2.0/24", "2001:db8::1/128". */
  network: string;
  secret: Uint8Array;
  requireMessageAuthenticator: boolean;
}

export interface Peer {
  client: RadiusClient;
  /** The source address in canonical form. */
  address: string;
}

interface Network {
  bytes: Uint8Array;
  length: number;
  client: RadiusClient;
}

/** "::ffff:192.0.2.1" -> "192.0.2.1"; IPv6 in RFC 5952 form; undefined if not an address. */
export function canonicalAddress(address: string): string | undefined {
  const v4 = parseIPv4(address);
  if (v4) return formatIPv4(v4);
  const v6 = parseIPv6(address);
  if (!v6) return undefined;
  if (isV4Mapped(v6)) return formatIPv4(v6, 12);
  return formatIPv6(v6);
}

function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const CACHE_LIMIT = 65_536;

export class ClientTable {
  /** Looked-up source addresses (as the socket reports them) -> client and canonical address, or null; bounded. */
  private readonly cache = new Map<string, Peer | null>();

  private constructor(private readonly v4: Network[], private readonly v6: Network[]) {}

  /**
   * Validates every entry and reports every problem at once, each naming its key path
   * (`where[i].address`) and how to fix it.
   */
  static from(configs: readonly RadiusClientConfig[], where = 'clients'): ClientTable {
    const problems: string[] = [];
    const v4: Network[] = [];
    const v6: Network[] = [];
    const seen = new Map<string, number>();
    configs.forEach((c, i) => {
      const key = `${where}[${i}]`;
      if (typeof c.secret !== 'string' || c.secret.length === 0) {
        problems.push(`${key}.secret is empty — set the shared secret configured on the NAS`);
      }
      const parsed = parseNetwork(String(c.address));
      if (typeof parsed === 'string') {
        problems.push(`${key}.address "${c.address}" ${parsed}`);
        return;
      }
      const network = `${parsed.bytes.length === 4 ? formatIPv4(parsed.bytes) : formatIPv6(parsed.bytes)}/${parsed.length}`;
      const dup = seen.get(network);
      if (dup !== undefined) {
        problems.push(`${key}.address "${c.address}" is the same network as ${where}[${dup}].address — keep one entry per NAS network`);
        return;
      }
      seen.set(network, i);
      const client: RadiusClient = {
        network,
        secret: Buffer.from(String(c.secret ?? ''), 'utf8'),
        requireMessageAuthenticator: c.requireMessageAuthenticator === true,
      };
      (parsed.bytes.length === 4 ? v4 : v6).push({ ...parsed, client });
    });
    if (problems.length > 0) {
      throw new SakimoriError('RADIUS_CLIENTS_INVALID', `RADIUS accounting clients: ${problems.length} problem(s)\n${problems.map((p) => `  - ${p}`).join('\n')}`, {
        hint: 'each client is { address: "IP or CIDR", secret: "shared secret" }, e.g. { address: "192.0.2.0/24", secret: "..." }',
      });
    }
    // Most specific first: the first match is the longest prefix.
    v4.sort((a, b) => b.length - a.length);
    v6.sort((a, b) => b.length - a.length);
    return new ClientTable(v4, v6);
  }

  get size(): number {
    return this.v4.length + this.v6.length;
  }

  /** The client for a source address as the socket reports it, or undefined if it is not one. */
  lookup(address: string): RadiusClient | undefined {
    return this.lookupPeer(address)?.client;
  }

  /** The client and the peer's canonical address ("::ffff:192.0.2.1" -> "192.0.2.1"), cached per source address. */
  lookupPeer(address: string): Peer | undefined {
    const hit = this.cache.get(address);
    if (hit !== undefined) return hit ?? undefined;
    const client = this.match(address);
    const peer = client ? { client, address: canonicalAddress(address) ?? address } : undefined;
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(address, peer ?? null);
    return peer;
  }

  private match(address: string): RadiusClient | undefined {
    let bytes: Uint8Array | undefined = parseIPv4(address);
    if (!bytes) {
      const v6 = parseIPv6(address);
      if (!v6) return undefined;
      bytes = isV4Mapped(v6) ? v6.subarray(12) : v6;
    }
    const nets = bytes.length === 4 ? this.v4 : this.v6;
    for (const n of nets) {
      if (sameBytes(mask(bytes, n.length), n.bytes)) return n.client;
    }
    return undefined;
  }
}

function mask(bytes: Uint8Array, length: number): Uint8Array {
  if (bytes.length === 16) return maskIPv6(bytes, length);
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(8, length - 8 * i));
    out[i] = bytes[i]! & ((0xff << (8 - bits)) & 0xff);
  }
  return out;
}

/** An address or CIDR network; a string saying what is wrong otherwise. */
function parseNetwork(text: string): { bytes: Uint8Array; length: number } | string {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  let bytes: Uint8Array | undefined = parseIPv4(addrText);
  if (!bytes) {
    bytes = parseIPv6(addrText);
    if (bytes && isV4Mapped(bytes)) bytes = bytes.slice(12);
  }
  if (!bytes) return 'is not an IP address or CIDR network — write e.g. "192.0.2.1", "192.0.2.0/24" or "2001:db8::/48" (host names are not resolved)';
  const max = bytes.length * 8;
  if (slash < 0) return { bytes, length: max };
  const lenText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > max) return `has prefix length "${lenText}" — use 0 to ${max}`;
  const length = Number(lenText);
  const masked = mask(bytes, length);
  if (!sameBytes(masked, bytes)) {
    const fixed = `${bytes.length === 4 ? formatIPv4(masked) : formatIPv6(masked)}/${length}`;
    return `has host bits set after /${length} — did you mean "${fixed}"?`;
  }
  return { bytes, length };
}
