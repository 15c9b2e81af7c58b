import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openOnOnePort, PAIR_PORT_ATTEMPTS } from './net.ts';

const busyError = () => Object.assign(new Error('in use'), { code: 'EADDRINUSE' });

/** A pair whose first side hands out the given numbers and whose second side is busy on `busy`. */
function scripted(picks: number[], busy: Set<number>, other?: Error) {
  const log: string[] = [];
  let i = 0;
  return {
    log,
    p: {
      first: async (port: number) => {
        const got = port === 0 ? picks[i++]! : port;
        log.push(`open ${got}`);
        return got;
      },
      portOf: (a: number) => a,
      second: async (port: number) => {
        if (other) throw other;
        if (busy.has(port)) throw busyError();
        return `second ${port}`;
      },
      closeFirst: async (a: number) => void log.push(`close ${a}`),
      busy: (err: unknown) => (err as NodeJS.ErrnoException).code === 'EADDRINUSE',
    },
  };
}

describe('openOnOnePort', () => {
  it('at port 0 picks again while the second side is busy, holding the tried numbers until the end', async () => {
    const s = scripted([5, 6, 7], new Set([5, 6]));
    assert.deepEqual(await openOnOnePort(0, s.p), { first: 7, second: 'second 7', port: 7 });
    assert.deepEqual(s.log, ['open 5', 'open 6', 'open 7', 'close 5', 'close 6']);
  });

  it('tries a fixed port once', async () => {
    const s = scripted([], new Set([53]));
    await assert.rejects(openOnOnePort(53, s.p), /in use/);
    assert.deepEqual(s.log, ['open 53', 'close 53']);
  });

  it('does not pick again on an error other than busy', async () => {
    const s = scripted([5, 6], new Set(), new Error('EACCES'));
    await assert.rejects(openOnOnePort(0, s.p), /EACCES/);
    assert.deepEqual(s.log, ['open 5', 'close 5']);
  });

  it(`gives up after ${PAIR_PORT_ATTEMPTS} numbers, closing them all`, async () => {
    const picks = Array.from({ length: PAIR_PORT_ATTEMPTS + 1 }, (_, i) => 1000 + i);
    const s = scripted(picks, new Set(picks));
    await assert.rejects(openOnOnePort(0, s.p), /in use/);
    assert.equal(s.log.filter((l) => l.startsWith('open')).length, PAIR_PORT_ATTEMPTS);
    assert.equal(s.log.filter((l) => l.startsWith('close')).length, PAIR_PORT_ATTEMPTS);
  });
});
