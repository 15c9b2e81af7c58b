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
 * a burst of allocation (loading modules, then a zone) and stays there: 24 MiB of a 1 M-name
 * server's RSS over 2 x 4 MiB, for no queries/s (4 MiB semi-spaces answered as fast as 16
 * in the "dns memory, part 2" runs, when the cap did not hold once a worker thread started;
 * holding, it costs ~0.2 us a query of scavenges on the block path, "session 4"; 1 MiB was slower). `--max-semi-space-size` works only
 * at start (NODE_OPTIONS): V8 reads it when an isolate is created, but reads the growth
 * factor each time a young generation grows (the flags are the process's, every thread's).
 * So this thread's young generation may grow (factor 2) only while it is at most `mib`
 * (both semi-spaces), checked every 20 ms and when a worker thread comes online (V8 sets
 * the factor back to 2 for every new isolate); above, factor 1 stops growth. Threads created
 * after the call get at most `mib` per semi-space and, with `threads` (data-plane workers,
 * which factor 1 would otherwise freeze at V8's 1 MiB start), exactly `mib` from the start
 * (small helper threads then may hold up to 2 x `mib` too). An isolate created without a
Worker's 'online' (tsx's loader thread, when run from src/) is caught by the 20 ms check
only: a burst in between may double the young generation once.
 * Call it early: `dns serve` does before its modules load (loading them takes the young
 * generation to 2 x 8 MiB), `sakimori start` when the firewall's options are built.
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
  // A later call (the firewall's options, which know the threads) may add the workers' minimum.
  if (threads) v8.setFlagsFromString(`--min-semi-space-size=${mib}`);
  if (capped) return true;
  v8.setFlagsFromString(`--max-semi-space-size=${mib}`);
  let factor = 2;
  const check = () => {
    // new_space's size counts both semi-spaces.
    const size = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0;
    const want = size > mib * 2 ** 20 ? 1 : 2;
    // Factor 1 again at every check, not only when it changes: V8 puts a factor below 2
    // back to 2 whenever an isolate is created (Heap::ConfigureHeap), so a worker thread
    // started (the block events' writer, at the first flush) let the young generation grow
    // 2 x 4 -> 2 x 16 MiB under load (+24 MiB RSS after 3 rounds of dnsperf).
    if (want !== factor || want === 1) v8.setFlagsFromString(`--semi-space-growth-factor=${(factor = want)}`);
  };
  check();
  capped = setInterval(check, 20);
  capped.unref();
  // And at once when a worker thread is running (its isolate has been created).
  process.on('worker', (w) => w.once('online', check));
  return true;
}
