// Worker side of shared.test.ts: takes a shared zone, decides, changes it, reports.
import { parentPort } from 'node:worker_threads';
import { RRType } from '../../wire/index.ts';
import { NO_MATCH, PolicyEngine, RpzZone, type SharedRpzZone } from '../index.ts';

parentPort!.once('message', (m: { shared: SharedRpzZone; queries: string[] }) => {
  try {
    const zone = RpzZone.fromShared(m.shared);
    const engine = new PolicyEngine({ zones: [zone] });
    const show = (q: string) => {
      const d = engine.decide(q, undefined, RRType.A);
      return d === NO_MATCH ? 'none' : `${d.action} ${d.trigger}`;
    };
    const decisions = m.queries.map(show);
    const sameMemory = m.shared.names.arena instanceof SharedArrayBuffer && zone.isShared;
    const r = zone.apply({ removeTriggers: ['n1.example'] });
    parentPort!.postMessage({ type: 'decided', decisions, sameMemory, afterChange: r.ok ? show('n1.example') : JSON.stringify(r) });
  } catch (err) {
    parentPort!.postMessage({ type: 'fatal', message: String((err as Error).stack ?? err) });
  }
});
