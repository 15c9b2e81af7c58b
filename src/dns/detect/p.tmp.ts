import { ManualClock } from '../../core/index.ts';
import { DnsDetection } from './detection.ts';
import type { DnsObservedQuery } from './event.ts';
import { World } from './eval/traffic.ts';
const w = new World({ seed: 11, durationSec: 3600, attacks: false });
const ev: DnsObservedQuery[] = [];
let sec = 0;
while (ev.length < 500000) for (const q of w.second(sec++)) ev.push({ at: q.at, client: q.client, qname: q.qname, qtype: q.qtype, responseSize: q.size, rcode: q.rcode ?? 2 });
const which = process.argv[2] ?? 'all';
for (let r = 0; r < 6; r++) {
  const det = new DnsDetection({ clock: new ManualClock(0) }, which === 'prsd' ? { amplification: { mode: 'off' }, infection: { mode: 'off' } } : which === 'inf' ? { prsd: { mode: 'off' }, amplification: { mode: 'off' } } : which === 'none' ? { prsd: { mode: 'off' }, amplification: { mode: 'off' }, infection: { mode: 'off' } } : {});
  let next = 1000;
  const c0 = process.cpuUsage();
  for (const e of ev) { if (e.at >= next) { det.tick(next); next += 1000; } det.observe(e); }
  const c = process.cpuUsage(c0);
  console.log(which, ((c.user + c.system) * 1000 / ev.length).toFixed(0), 'ns');
}
