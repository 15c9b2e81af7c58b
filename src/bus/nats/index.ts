export { openNatsBus, NatsBus, consumerName, type NatsBusOptions } from './nats-bus.ts';
export { parseNatsUrl, type NatsTarget } from './url.ts';
