import { MemoryBus } from './memory/index.ts';
const quiet = { warn: () => undefined, error: () => undefined };
let fails = 0;
async function one(): Promise<void> {
  const bus = new MemoryBus({ logger: quiet });
  await bus.publish('o', 'poison-once'); await bus.publish('o', 'next');
  const got: unknown[] = []; let failed = false;
  await bus.subscribe('o', { durable: 'f' }, (m) => { got.push([m.seq, m.redelivered]); if (m.data === 'poison-once' && !failed) { failed = true; throw new Error('x'); } });
  const t0 = Date.now();
  while (got.length < 3 && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 5));
  if (got.length < 3) { fails++; console.log('FAIL', JSON.stringify(got)); }
  await bus.close();
}
// background CPU hog in same process: busy loops in setImmediate
let hog = true;
(function spin() { const e = Date.now() + 30; while (Date.now() < e); if (hog) setImmediate(spin); })();
await Promise.all(Array.from({ length: 200 }, () => one()));
hog = false;
console.log('fails', fails);
