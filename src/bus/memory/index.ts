export { MemoryBus, DEFAULT_MAX_RETAINED, type MemoryBusOptions } from './memory-bus.ts';
