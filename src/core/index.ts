export * from './errors.ts';
export * from './clock.ts';
export * from './ids.ts';
export * from './purpose.ts';
export * from './observation.ts';
export * from './net.ts';
export * from './part.ts';
