export { HttpServer } from './http-server.ts';
export type { HealthReport, HttpServerOptions } from './http-server.ts';
