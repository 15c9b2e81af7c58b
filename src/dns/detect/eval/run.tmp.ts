import { World } from './traffic.ts';
import { replay } from './replay.ts';
const minutes = Number(process.argv[2] ?? 10);
const w = new World({ seed: Number(process.argv[3] ?? 1), durationSec: minutes * 60, cleanClients: Number(process.argv[4] ?? 20000) });
const r = replay(w, {});
console.log(JSON.stringify(r, null, 1));
