// The DNS capability's tables and retention rules, apart from index.ts so that what
// applies every capability's migrations (src/node/migrations.ts) loads no data plane,
// provider or web code. Imports only the light files that define them.
export { dnsMigrations, dnsRetentionRules } from './server/events.ts';
export { rpzProviderMigrations } from './rpz-provider/journal.ts';
