/**
 * Configuration: one YAML file, validated, every problem reported with its
 * file:line, key path, value and what is expected. See README.md.
 */
export type { Config } from './schema.ts';
export type { ConfigProblem, CheckResult } from './check.ts';
export { checkConfigText, formatConfigProblem, OVERRIDE_SOURCE } from './check.ts';
export { loadConfig, checkConfigFile, defaultConfig, DEFAULT_CONFIG_FILE, EMBEDDED_DEFAULTS, type LoadOptions } from './load.ts';
export { exampleConfigYaml } from './example.ts';
export { listConfigKeys } from './keys.ts';
export { parseListenAddress } from './fields.ts';
export { LOG_LEVELS } from './sections/log.ts';
export { DEFAULT_RETENTION } from './sections/privacy.ts';
