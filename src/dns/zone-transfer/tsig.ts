/**
 * TSIG (RFC 8945): HMAC signatures on DNS messages, for zone transfers and NOTIFY between
 * a primary and its secondaries. Works on wire bytes, because the MAC covers the message
 * exactly as sent: a signer appends the TSIG record to an encoded message, a verifier
 * finds it as the last additional record, strips it, and recomputes the MAC.
 *
 * Multi-message answers (AXFR/IXFR, §5.3.1): the first message is signed over the
 * request's MAC and all TSIG variables; each later signed message over the previous MAC,
 * the messages since then, and the timers only. Our signer signs every message; our
 * verifier accepts up to 99 unsigned ones in a row and insists on a signed last one.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SakimoriError } from '../../core/index.ts';
import { nameToText, normalizeName, textToName } from '../wire/index.ts';

export const TSIG_TYPE = 250;
const CLASS_ANY = 255;
export const DEFAULT_FUDGE = 300;

/** TSIG error codes carried in the record (RFC 8945 §3; the message RCODE is then NOTAUTH). */
export const TsigErr = { NOERROR: 0, BADSIG: 16, BADKEY: 17, BADTIME: 18, BADTRUNC: 22 } as const;
const TSIG_ERR_NAMES: Record<number, string> = { 0: 'NOERROR', 16: 'BADSIG', 17: 'BADKEY', 18: 'BADTIME', 22: 'BADTRUNC' };
export function tsigErrorName(code: number): string {
  return TSIG_ERR_NAMES[code] ?? `TSIG error ${code}`;
}

const ALGORITHMS = {
  'hmac-sha1': { hash: 'sha1', size: 20 },
  'hmac-sha224': { hash: 'sha224', size: 28 },
  'hmac-sha256': { hash: 'sha256', size: 32 },
  'hmac-sha384': { hash: 'sha384', size: 48 },
  'hmac-sha512': { hash: 'sha512', size: 64 },
} as const;
export type TsigAlgorithm = keyof typeof ALGORITHMS;
export const TSIG_ALGORITHMS = Object.keys(ALGORITHMS) as TsigAlgorithm[];

export function isTsigAlgorithm(s: string): s is TsigAlgorithm {
  return Object.hasOwn(ALGORITHMS, s);
}

/** A shared key. `name` canonical (lower case, no trailing dot). Never log `secret`. */
export interface TsigKey {
  name: string;
  algorithm: TsigAlgorithm;
  secret: Buffer;
}

/** The RDATA of a TSIG record, with its owner (the key name). */
export interface TsigRecord {
  keyName: string;
  /** Algorithm name as on the wire, e.g. "hmac-sha256" (canonical form). */
  algorithm: string;
  /** Seconds since the epoch (48 bits). */
  timeSigned: number;
  fudge: number;
  mac: Uint8Array;
  originalId: number;
  error: number;
  other: Uint8Array;
}

export class TsigConfigError extends SakimoriError {
  constructor(message: string, hint: string) {
    super('TSIG_KEY', message, { hint });
    this.name = 'TsigConfigError';
  }
}

/**
 * A key from configuration: `secret` (base64) or `secretFile` (a file holding the base64
 * secret, e.g. written by `tsig-keygen`'s secret line or `openssl rand -base64 32`).
 * Throws TsigConfigError naming the key and what is wrong, never the secret.
 */
export function makeTsigKey(k: { name: string; algorithm?: string; secret?: string; secretFile?: string }): TsigKey {
  const name = normalizeName(k.name.trim());
  const algorithm = (k.algorithm ?? 'hmac-sha256').toLowerCase();
  if (!isTsigAlgorithm(algorithm)) throw new TsigConfigError(`TSIG key ${name}: algorithm ${k.algorithm} is not supported`, `use one of ${TSIG_ALGORITHMS.join(', ')}`);
  if (!textToName(name).ok || name === '' || name === '.') throw new TsigConfigError(`TSIG key name "${k.name}" is not a domain name`, 'name keys like domain names, e.g. xfr-key or sec1-pri.example.net');
  let text = k.secret;
  if (k.secretFile !== undefined) {
    try {
      text = readFileSync(k.secretFile, 'utf8');
    } catch (err) {
      throw new TsigConfigError(`TSIG key ${name}: cannot read secretFile ${k.secretFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 'check the path and that the service user may read it');
    }
    // A BIND key file: take the value of its secret "..." line; a bare file: the whole text.
    const m = /secret\s+"([^"]*)"/.exec(text);
    if (m) text = m[1];
  }
  if (text === undefined) throw new TsigConfigError(`TSIG key ${name} has no secret`, 'give secret (base64) or secretFile');
  const t = text.trim();
  if (t === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(t) || t.length % 4 !== 0) throw new TsigConfigError(`TSIG key ${name}: the secret${k.secretFile ? ` in ${k.secretFile}` : ''} is not base64`, 'write the secret as base64, e.g. from `tsig-keygen -a hmac-sha256 NAME` or `openssl rand -base64 32`');
  return { name, algorithm, secret: Buffer.from(t, 'base64') };
}

/** Keys by name (canonical); duplicate names are a configuration error. */
export function tsigKeyring(keys: Iterable<TsigKey>): Map<string, TsigKey> {
  const m = new Map<string, TsigKey>();
  for (const k of keys) {
    if (m.has(k.name)) throw new TsigConfigError(`TSIG key ${k.name} is defined twice`, 'give each key a distinct name');
    m.set(k.name, k);
  }
  return m;
}

/** A key as configured under tsig.keys. */
export interface TsigKeyConfig {
  name: string;
  algorithm?: string | undefined;
  secret?: string | undefined;
  secretFile?: string | undefined;
}

/**
 * `--key [ALG:]NAME:SECRET`, as dig -y takes it (rpz serve and dns serve): the key as a
 * tsig.keys entry. Throws TsigConfigError on a malformed option, never naming the secret.
 */
export function tsigKeyFromOption(v: string): TsigKeyConfig & { secret: string } {
  const parts = v.split(':');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) throw new TsigConfigError('--key is not [ALGORITHM:]NAME:SECRET', 'e.g. --key hmac-sha256:xfr-key:BASE64SECRET (as dig -y takes it), or define keys under tsig.keys');
  const [algorithm, name, secret] = parts.length === 3 ? parts : ['hmac-sha256', parts[0]!, parts[1]!];
  const k = { name: name!, algorithm: algorithm!, secret: secret! };
  makeTsigKey(k);
  return k;
}

/** tsig.keys as a keyring (plus keys from the command line); a bad key throws naming its place in the config, never the secret. */
export function tsigKeysFromConfig(keys: readonly TsigKeyConfig[] = [], extra: readonly TsigKey[] = []): Map<string, TsigKey> {
  const out: TsigKey[] = [];
  keys.forEach((k, i) => {
    try {
      out.push(makeTsigKey({ name: k.name, ...(k.algorithm ? { algorithm: k.algorithm } : {}), ...(k.secret !== undefined ? { secret: k.secret } : {}), ...(k.secretFile !== undefined ? { secretFile: k.secretFile } : {}) }));
    } catch (err) {
      if (err instanceof TsigConfigError) throw new TsigConfigError(`tsig.keys[${i}]: ${err.message}`, err.hint ?? 'fix the key');
      throw err;
    }
  });
  return tsigKeyring([...out, ...extra]);
}

/** The key a config entry names; throws naming the entry when it is not defined. */
export function tsigKeyByName(keys: ReadonlyMap<string, TsigKey>, name: string, where: string): TsigKey {
  const k = keys.get(normalizeName(name.trim()));
  if (!k) throw new TsigConfigError(`${where} names TSIG key ${name}, which is not defined`, 'define it under tsig.keys as { name, algorithm, secret } (or, for rpz serve, give --key)');
  return k;
}

// ---- record codec ----------------------------------------------------------------------

function wireName(name: string): Uint8Array {
  const r = textToName(normalizeName(name));
  if (!r.ok) throw new TypeError(`not a domain name: ${name}`);
  return r.value;
}

/** TSIG RDATA on the wire (the algorithm name uncompressed, in canonical form). */
export function encodeTsigRdata(r: Omit<TsigRecord, 'keyName'>): Uint8Array {
  const alg = wireName(r.algorithm);
  const out = Buffer.alloc(alg.length + 16 + r.mac.length + r.other.length);
  let o = 0;
  out.set(alg, o);
  o += alg.length;
  out.writeUIntBE(r.timeSigned, o, 6);
  o += 6;
  out.writeUInt16BE(r.fudge, o);
  out.writeUInt16BE(r.mac.length, o + 2);
  o += 4;
  out.set(r.mac, o);
  o += r.mac.length;
  out.writeUInt16BE(r.originalId, o);
  out.writeUInt16BE(r.error, o + 2);
  out.writeUInt16BE(r.other.length, o + 4);
  o += 6;
  out.set(r.other, o);
  return out;
}

/** Reads TSIG RDATA; a string says what is wrong. */
export function decodeTsigRdata(rd: Uint8Array): Omit<TsigRecord, 'keyName'> | string {
  let o = 0;
  // The algorithm name: plain labels (RFC 8945 §4.2: no compression).
  for (;;) {
    if (o >= rd.length) return 'the algorithm name runs past the record';
    const len = rd[o]!;
    if (len === 0) {
      o++;
      break;
    }
    if (len > 63) return 'the algorithm name is compressed or has a bad label';
    o += 1 + len;
    if (o > 255) return 'the algorithm name is too long';
  }
  const alg = nameToText(rd.subarray(0, o), 0);
  if (!alg.ok) return `the algorithm name does not decode: ${alg.error.message}`;
  const b = Buffer.from(rd.buffer, rd.byteOffset, rd.length);
  if (o + 10 > rd.length) return 'the record is too short for its fixed fields';
  const timeSigned = b.readUIntBE(o, 6);
  const fudge = b.readUInt16BE(o + 6);
  const macLen = b.readUInt16BE(o + 8);
  o += 10;
  if (o + macLen + 6 > rd.length) return 'the MAC runs past the record';
  const mac = rd.slice(o, o + macLen);
  o += macLen;
  const originalId = b.readUInt16BE(o);
  const error = b.readUInt16BE(o + 2);
  const otherLen = b.readUInt16BE(o + 4);
  o += 6;
  if (o + otherLen !== rd.length) return o + otherLen > rd.length ? 'the other data runs past the record' : 'bytes after the other data';
  return { algorithm: normalizeName(alg.value), timeSigned, fudge, mac, originalId, error, other: rd.slice(o) };
}

// ---- finding the record in a message ---------------------------------------------------

function skipName(buf: Uint8Array, o: number): number {
  for (let n = 0; n < 128; n++) {
    if (o >= buf.length) return -1;
    const len = buf[o]!;
    if (len === 0) return o + 1;
    if ((len & 0xc0) === 0xc0) return o + 2 <= buf.length ? o + 2 : -1;
    if (len > 63) return -1;
    o += 1 + len;
  }
  return -1;
}

export type FoundTsig = { record: TsigRecord; start: number } | { error: string } | undefined;

/**
 * The TSIG record of a message: undefined when it has none; an error when one is not last
 * or the message cannot be walked. `start` is where the record begins (the bytes before it
 * are what was signed, with ARCOUNT one less and the original ID).
 */
export function findTsig(msg: Uint8Array): FoundTsig {
  if (msg.length < 12) return { error: 'shorter than a DNS header' };
  const counts = [0, 1, 2, 3].map((i) => (msg[4 + 2 * i]! << 8) | msg[5 + 2 * i]!);
  let o = 12;
  for (let i = 0; i < counts[0]!; i++) {
    o = skipName(msg, o);
    if (o < 0 || o + 4 > msg.length) return { error: 'the question does not parse' };
    o += 4;
  }
  const rrs = counts[1]! + counts[2]! + counts[3]!;
  let start = -1;
  let sawTsig = false;
  for (let i = 0; i < rrs; i++) {
    const rrStart = o;
    o = skipName(msg, o);
    if (o < 0 || o + 10 > msg.length) return { error: 'a record does not parse' };
    const type = (msg[o]! << 8) | msg[o + 1]!;
    const rdlen = (msg[o + 8]! << 8) | msg[o + 9]!;
    o += 10 + rdlen;
    if (o > msg.length) return { error: 'a record runs past the message' };
    if (sawTsig) return { error: 'the TSIG record is not the last record' };
    if (type === TSIG_TYPE) {
      if (i < counts[1]! + counts[2]!) return { error: 'a TSIG record outside the additional section' };
      sawTsig = true;
      start = rrStart;
    }
  }
  if (!sawTsig) return undefined;
  const owner = nameToText(msg, start);
  if (!owner.ok) return { error: 'the key name does not decode' };
  const afterName = skipName(msg, start);
  const klass = (msg[afterName + 2]! << 8) | msg[afterName + 3]!;
  if (klass !== CLASS_ANY) return { error: 'the TSIG record is not of class ANY' };
  const rdata = decodeTsigRdata(msg.subarray(afterName + 10, o));
  if (typeof rdata === 'string') return { error: rdata };
  return { record: { keyName: normalizeName(owner.value), ...rdata }, start };
}

// ---- MAC -------------------------------------------------------------------------------

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

function timers(timeSigned: number, fudge: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUIntBE(timeSigned, 0, 6);
  b.writeUInt16BE(fudge, 6);
  return b;
}

/** The message as it was before the TSIG record went on: ARCOUNT - 1 and the original ID. */
function unsignedPart(msg: Uint8Array, start: number, originalId: number): Buffer {
  const b = Buffer.from(msg.subarray(0, start));
  b.writeUInt16BE(originalId, 0);
  b.writeUInt16BE(b.readUInt16BE(10) - 1, 10);
  return b;
}

interface MacInput {
  key: TsigKey;
  /** The request's MAC, for a response's first (or only) message. */
  requestMac?: Uint8Array | undefined;
  /** For a later message of a multi-message answer: the previous signed message's MAC. */
  priorMac?: Uint8Array | undefined;
  /** Messages since the last signed one (multi-message only), then this message unsigned. */
  messages: readonly Uint8Array[];
  timeSigned: number;
  fudge: number;
  error: number;
  other: Uint8Array;
}

function computeMac(i: MacInput): Buffer {
  const h = createHmac(ALGORITHMS[i.key.algorithm].hash, i.key.secret);
  if (i.priorMac) {
    h.update(u16(i.priorMac.length)).update(i.priorMac);
    for (const m of i.messages) h.update(m);
    h.update(timers(i.timeSigned, i.fudge));
    return h.digest();
  }
  if (i.requestMac) h.update(u16(i.requestMac.length)).update(i.requestMac);
  for (const m of i.messages) h.update(m);
  h.update(wireName(i.key.name)).update(u16(CLASS_ANY)).update(Buffer.alloc(4));
  h.update(wireName(i.key.algorithm)).update(timers(i.timeSigned, i.fudge)).update(u16(i.error)).update(u16(i.other.length)).update(i.other);
  return h.digest();
}

function appendTsig(msg: Uint8Array, keyName: string, rdata: Uint8Array): Uint8Array {
  const owner = wireName(keyName);
  const out = Buffer.alloc(msg.length + owner.length + 10 + rdata.length);
  out.set(msg, 0);
  let o = msg.length;
  out.set(owner, o);
  o += owner.length;
  out.writeUInt16BE(TSIG_TYPE, o);
  out.writeUInt16BE(CLASS_ANY, o + 2);
  out.writeUInt32BE(0, o + 4);
  out.writeUInt16BE(rdata.length, o + 8);
  out.set(rdata, o + 10);
  out.writeUInt16BE(out.readUInt16BE(10) + 1, 10);
  return out;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

export interface SignOptions {
  requestMac?: Uint8Array | undefined;
  priorMac?: Uint8Array | undefined;
  /** Unsigned messages sent since the last signed one (multi-message answers). */
  since?: readonly Uint8Array[];
  error?: number;
  other?: Uint8Array;
  /** Seconds since the epoch; default now. */
  time?: number;
  fudge?: number;
}

/** The message with a TSIG record appended, and its MAC (the next message's prior MAC). */
export function signMessage(msg: Uint8Array, key: TsigKey, o: SignOptions = {}): { bytes: Uint8Array; mac: Uint8Array } {
  const timeSigned = o.time ?? nowSeconds();
  const fudge = o.fudge ?? DEFAULT_FUDGE;
  const error = o.error ?? 0;
  const other = o.other ?? new Uint8Array(0);
  const mac = computeMac({ key, requestMac: o.requestMac, priorMac: o.priorMac, messages: [...(o.since ?? []), msg], timeSigned, fudge, error, other });
  const originalId = (msg[0]! << 8) | msg[1]!;
  return { bytes: appendTsig(msg, key.name, encodeTsigRdata({ algorithm: key.algorithm, timeSigned, fudge, mac, originalId, error, other })), mac };
}

/** An unsigned TSIG record carrying an error (BADKEY, BADSIG), for answers to requests we cannot verify. */
export function appendTsigError(msg: Uint8Array, req: TsigRecord, error: number, time = nowSeconds()): Uint8Array {
  const originalId = (msg[0]! << 8) | msg[1]!;
  return appendTsig(msg, req.keyName, encodeTsigRdata({ algorithm: req.algorithm, timeSigned: time, fudge: req.fudge, mac: new Uint8Array(0), originalId, error, other: new Uint8Array(0) }));
}

export type VerifyResult =
  | { ok: true; key: TsigKey; record: TsigRecord; mac: Uint8Array }
  | { ok: false; error: number; reason: string; record?: TsigRecord; key?: TsigKey };

export interface VerifyOptions {
  requestMac?: Uint8Array | undefined;
  priorMac?: Uint8Array | undefined;
  since?: readonly Uint8Array[];
  /** Seconds since the epoch; default now. */
  now?: number;
}

/**
 * Verifies the TSIG record `found` of `msg` against the keys. On failure `error` is the
 * TSIG error to answer with (BADKEY, BADSIG, BADTRUNC, BADTIME) and `reason` says why in
 * words for the log (never the secret).
 */
export function verifyMessage(msg: Uint8Array, found: { record: TsigRecord; start: number }, keys: ReadonlyMap<string, TsigKey> | TsigKey, o: VerifyOptions = {}): VerifyResult {
  const r = found.record;
  let key: TsigKey | undefined;
  if ('secret' in keys) key = keys.name === r.keyName ? keys : undefined;
  else key = keys.get(r.keyName);
  if (!key) return { ok: false, error: TsigErr.BADKEY, reason: `key ${r.keyName} is not known here`, record: r };
  if (key.algorithm !== r.algorithm) return { ok: false, error: TsigErr.BADKEY, reason: `key ${r.keyName} is ${key.algorithm} here, the message used ${r.algorithm}`, record: r, key };
  const size = ALGORITHMS[key.algorithm].size;
  if (r.mac.length > size) return { ok: false, error: TsigErr.BADSIG, reason: `MAC of ${r.mac.length} octets is longer than ${key.algorithm}'s ${size}`, record: r, key };
  // Truncated MACs (RFC 8945 §5.2.2.1): at least 10 octets and half the hash.
  if (r.mac.length < Math.max(10, size / 2)) return { ok: false, error: r.mac.length === 0 ? TsigErr.BADSIG : TsigErr.BADTRUNC, reason: `MAC of ${r.mac.length} octets is too short`, record: r, key };
  const expect = computeMac({
    key,
    requestMac: o.requestMac,
    priorMac: o.priorMac,
    messages: [...(o.since ?? []), unsignedPart(msg, found.start, r.originalId)],
    timeSigned: r.timeSigned,
    fudge: r.fudge,
    error: r.error,
    other: r.other,
  });
  if (!timingSafeEqual(expect.subarray(0, r.mac.length), r.mac)) return { ok: false, error: TsigErr.BADSIG, reason: `the MAC does not match key ${r.keyName} (a different secret?)`, record: r, key };
  const now = o.now ?? nowSeconds();
  if (Math.abs(now - r.timeSigned) > r.fudge) {
    return { ok: false, error: TsigErr.BADTIME, reason: `signed at ${new Date(r.timeSigned * 1000).toISOString()}, ${Math.abs(now - r.timeSigned)} s from our clock (${new Date(now * 1000).toISOString()}), beyond the fudge of ${r.fudge} s: check both clocks (NTP)`, record: r, key };
  }
  return { ok: true, key, record: r, mac: r.mac };
}

/** For a BADTIME answer: the peer's clock (its Other Data) against ours, so the operator sees which one is off. */
export function badTimeDetail(r: TsigRecord, now = nowSeconds()): string {
  if (r.error !== TsigErr.BADTIME || r.other.length !== 6) return '';
  const theirs = Buffer.from(r.other).readUIntBE(0, 6);
  return ` (its clock says ${new Date(theirs * 1000).toISOString()}, ours ${new Date(now * 1000).toISOString()}: ${Math.abs(theirs - now)} s apart, more than the fudge of ${r.fudge} s; check NTP on both)`;
}

/** A BADTIME answer is signed and carries our time in Other Data (RFC 8945 §5.2.3). */
export function badTimeOther(now = nowSeconds()): Uint8Array {
  const b = Buffer.alloc(6);
  b.writeUIntBE(now, 0, 6);
  return b;
}

/** Signs each message of a multi-message answer in turn (every one signed). */
export class TsigStreamSigner {
  private prior: Uint8Array | undefined;
  constructor(private readonly key: TsigKey, private readonly requestMac: Uint8Array, private readonly now: () => number = nowSeconds) {}
  sign(msg: Uint8Array): Uint8Array {
    const s = this.prior === undefined ? signMessage(msg, this.key, { requestMac: this.requestMac, time: this.now() }) : signMessage(msg, this.key, { priorMac: this.prior, time: this.now() });
    this.prior = s.mac;
    return s.bytes;
  }
}

/**
 * Verifies the messages of a multi-message answer in turn: the first must be signed, no
 * more than 99 unsigned in a row, and `finish()` says whether the last one was signed.
 */
export class TsigStreamVerifier {
  private prior: Uint8Array | undefined;
  private since: Uint8Array[] = [];
  constructor(private readonly key: TsigKey, private readonly requestMac: Uint8Array, private readonly now: () => number = nowSeconds) {}

  /** undefined when the message is fine, else why not (TSIG error name and reason). */
  feed(msg: Uint8Array): { error: number; reason: string } | undefined {
    const f = findTsig(msg);
    if (f && 'error' in f) return { error: TsigErr.BADSIG, reason: f.error };
    if (!f) {
      if (this.prior === undefined) return { error: TsigErr.BADSIG, reason: `the answer is not signed (key ${this.key.name} expected)` };
      this.since.push(msg);
      if (this.since.length >= 100) return { error: TsigErr.BADSIG, reason: '100 unsigned messages in a row' };
      return undefined;
    }
    if (f.record.error !== 0) return { error: f.record.error, reason: `the primary answered with TSIG error ${tsigErrorName(f.record.error)} for key ${f.record.keyName}${badTimeDetail(f.record, this.now())}` };
    const v = this.prior === undefined ? verifyMessage(msg, f, this.key, { requestMac: this.requestMac, now: this.now() }) : verifyMessage(msg, f, this.key, { priorMac: this.prior, since: this.since, now: this.now() });
    if (!v.ok) return { error: v.error, reason: v.reason };
    this.prior = v.mac;
    this.since = [];
    return undefined;
  }

  /** True when every message so far is covered by a signature (the last one was signed). */
  get complete(): boolean {
    return this.prior !== undefined && this.since.length === 0;
  }
}
