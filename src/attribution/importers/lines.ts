/**
 * Streams a file as numbered lines, a chunk at a time, never holding the
 * whole file: multi-gigabyte detail files and lease logs are the norm.
 * Files ending in .gz are decompressed on the fly (rotated detail files).
 */
import { createReadStream, statSync } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';

export interface LineBatch {
  lines: string[];
  /** 1-based number of lines[0]. */
  firstLine: number;
}

export function fileSize(path: string): number {
  return statSync(path).size;
}

/**
 * Calls `onLines` with each chunk's complete lines (CR LF and LF endings),
 * waiting for it when it returns a promise, so a slow store slows the read
 * instead of filling memory. `onBytes` reports progress in file bytes.
 */
export async function forEachLine(
  path: string,
  onLines: (batch: LineBatch) => void | Promise<void>,
  onBytes?: (bytesRead: number) => void,
): Promise<number> {
  const raw = createReadStream(path, { highWaterMark: 1 << 20 });
  let bytes = 0;
  raw.on('data', (b: Buffer | string) => {
    bytes += b.length;
    onBytes?.(bytes);
  });
  const stream: Readable = path.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
  const decoder = new StringDecoder('utf8');
  let rest = '';
  let next = 1;
  const emit = async (text: string, final: boolean) => {
    const parts = text.split('\n');
    rest = final ? '' : parts.pop()!;
    if (final && parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
    for (let i = 0; i < parts.length; i++) {
      const l = parts[i]!;
      if (l.length > 0 && l.charCodeAt(l.length - 1) === 13) parts[i] = l.slice(0, -1);
    }
    if (parts.length === 0) return;
    const r = onLines({ lines: parts, firstLine: next });
    next += parts.length;
    if (r) await r;
  };
  for await (const chunk of stream) await emit(rest + decoder.write(chunk as Buffer), false);
  await emit(rest + decoder.end(), true);
  return next - 1;
}
