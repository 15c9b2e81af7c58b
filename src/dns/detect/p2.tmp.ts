import { NameParts } from './names.ts';
import { World } from './eval/traffic.ts';
const w = new World({ seed: 11, durationSec: 3600, attacks: false });
const names: string[] = [];
let sec = 0;
while (names.length < 500000) for (const q of w.second(sec++)) names.push(q.qname);
const flat = names.map((n) => Buffer.from(n, 'latin1').latin1Slice(0));
const n = new NameParts();
for (const [label, arr] of [['cons', names], ['flat', flat], ['cons', names], ['flat', flat]] as const) {
  let x = 0;
  const c0 = process.cpuUsage();
  for (let r = 0; r < 4; r++) for (let i = 0; i < arr.length; i++) { n.parse(arr[i]!); x += n.zoneLabels; }
  const c = process.cpuUsage(c0);
  let y = 0;
  const c1 = process.cpuUsage();
  for (let r = 0; r < 4; r++) for (let i = 0; i < arr.length; i++) { const s = arr[i]!; for (let j = 0; j < s.length; j++) y = Math.imul(y ^ s.charCodeAt(j), 16777619); }
  const d = process.cpuUsage(c1);
  console.log(label, 'parse', ((c.user + c.system) * 1000 / arr.length / 4).toFixed(0), 'ns; bare fnv loop', ((d.user + d.system) * 1000 / arr.length / 4).toFixed(0), 'ns', x > 0, y);
}
