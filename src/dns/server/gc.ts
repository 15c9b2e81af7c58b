/**
 * A full garbage collection right after a policy swap. A reloaded zone's tables live in
 * ArrayBuffers outside the JS heap; the old ones are garbage once the new zone is in, but
 * V8 may not collect them for minutes on a heap that barely grows, keeping two copies
 * resident. One collection per reload (tens of milliseconds, the tables are not walked)
 * gives the memory back at once: memory is doubled only while a zone loads.
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
