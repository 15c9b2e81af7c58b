/**
 * Memory housekeeping for the DNS firewall's process.
 *
 * collectGarbage(): a full garbage collection right after a policy swap. A reloaded
 * zone's tables live in ArrayBuffers outside the JS heap; the old ones are garbage once
 * the new zone is in, but V8 may not collect them for minutes on a heap that barely grows,
 * keeping two copies resident. One collection per reload (tens of milliseconds, the tables
 * are not walked) gives the memory back at once: memory is doubled only while a zone loads.
 *
 * capYoungGeneration(): V8's young generation (two semi-spaces) grows to 2 x 16 MiB under
 * a burst of allocation (a zone load does it) and stays there: 24 MiB of a 1 M-name
 * server's RSS over 2 x 4 MiB, for no queries/s (bench/dns.ts: 4 MiB semi-spaces as fast
 * as 16; 1 MiB is slower). `--max-semi-space-size` works only at start (NODE_OPTIONS); in
 * a running process V8 reads it when an isolate is created, and reads the growth factor
 * each time the young generation grows (for every thread: the flags are the process's).
 * So: this thread's young generation may grow (factor 2) only from half of `mib` or less,
 * checked every 10 ms (a zone load can grow it twice in 50 ms) (factor 1 stops growth); threads created after the call get at most
 * `mib`, and with `threads` (data-plane workers, which must not be frozen at V8's 1 MiB
 * start) exactly `mib` from the start (small helper threads then hold up to 2 x mib too).
 * A --max-semi-space-size given to node (NODE_OPTIONS) wins: nothing is changed then.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

let gc: (() => void) | undefined;

export function collectGarbage(): void {
  try {
    if (gc === undefined) {
      v8.setFlagsFromString('--expose-gc');
      gc = vm.runInNewContext('gc') as () => void;
    }
    gc();
  } catch {
    // Not available: V8 collects on its own schedule.
  }
}

let capped: ReturnType<typeof setInterval> | undefined;

/** Semi-spaces of `mib` MiB (see the file comment); returns false when node was given its own. */
export function capYoungGeneration(mib = 4, threads = false): boolean {
  const given = `${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`;
  if (/semi[-_]space[-_]size/.test(given)) return false;
  if (capped) return true;
  v8.setFlagsFromString(`--max-semi-space-size=${mib}`);
  if (threads) v8.setFlagsFromString(`--min-semi-space-size=${mib}`);
  let factor = 2;
  const check = () => {
    // new_space's size counts both semi-spaces.
    const size = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
    // Doubling only from half the cap or less, so one growth cannot pass it.
    const want = size > mib * 2 ** 20 ? 1 : 2;
    if (want !== factor) v8.setFlagsFromString(`--semi-space-growth-factor=${(factor = want)}`);
  };
  check();
  capped = setInterval(check, 10);
  capped.unref();
  return true;
}
