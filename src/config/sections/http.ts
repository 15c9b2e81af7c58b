import { listenAddress, section } from '../fields.ts';

/** HTTP API and operator console. Loopback by default: exposing it is a choice. */
export const http = section({
  listen: listenAddress().prefault('127.0.0.1:8080'),
});
