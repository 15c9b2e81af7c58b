import { hostname } from 'node:os';
import { name, section } from '../fields.ts';

/** Who this node is, in logs and in the observations it emits. */
export const node = section({
  name: name().prefault(() => hostname() || 'sakimori'),
});
