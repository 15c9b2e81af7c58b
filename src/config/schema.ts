/**
 * The whole configuration: one line per section. A new section is one file in
 * sections/ and one line here; unknown-key checks, suggestions, defaults and
 * the example-coverage test pick it up from this schema.
 */
import type { z } from 'zod';
import { section } from './fields.ts';
import { attribution } from './sections/attribution.ts';
import { bus } from './sections/bus.ts';
import { http } from './sections/http.ts';
import { log } from './sections/log.ts';
import { node } from './sections/node.ts';
import { privacy } from './sections/privacy.ts';
import { store } from './sections/store.ts';
import { notify } from './sections/notify.ts';
import { cases } from './sections/cases.ts';
import { rpz } from './sections/rpz.ts';
import { dns } from './sections/dns.ts';
import { web } from './sections/web.ts';
import { dnstap } from './sections/dnstap.ts';
import { tsig } from './sections/tsig.ts';

export const configSchema = section({
  node,
  http,
  store,
  bus,
  log,
  privacy,
  notify,
  cases,
  attribution,
  rpz,
  dns,
  web,
  dnstap,
  tsig,
});

/** The parsed configuration: every key present, durations in milliseconds. */
export type Config = z.output<typeof configSchema>;
