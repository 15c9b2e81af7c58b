import type { Command } from 'commander';
import { commandConfig, globalOptions, printJson } from '../context.ts';

export function registerConfig(program: Command): void {
  const config = program.command('config').helpGroup('Configuration:').description('check, show and explain the configuration file');

  config
    .command('check')
    .argument('[file]', 'the YAML file to check (default: --config, or ./sakimori.yaml)')
    .description('validate a config file: every unknown key, wrong type or bad URL is named with file:line and key path; exits 1 on any problem')
    .action(async (file: string | undefined, _opts, cmd: Command) => {
      const { checkConfigFile, DEFAULT_CONFIG_FILE, formatConfigProblem } = await import('../../config/index.ts');
      const { source, problems } = await checkConfigFile(file ?? globalOptions(cmd).config ?? DEFAULT_CONFIG_FILE);
      if (problems.length === 0) {
        process.stdout.write(`${source}: OK\n`);
        return;
      }
      for (const p of problems) process.stderr.write(`${formatConfigProblem(p)}\n`);
      process.stderr.write(`${problems.length} problem(s). \`sakimori config example\` prints every valid key with a comment.\n`);
      process.exitCode = 1;
    });

  config
    .command('example')
    .description('print a commented example config covering every key, with the defaults')
    .action(async () => {
      const { exampleConfigYaml } = await import('../../config/index.ts');
      process.stdout.write(exampleConfigYaml());
    });

  config
    .command('show')
    .description('print the effective config (the file merged over the defaults) as JSON, passwords redacted')
    .action(async (_opts, cmd: Command) => {
      const { config: c, source } = await commandConfig(cmd);
      printJson({ source, config: redact(c) });
    });
}

function redact(value: unknown): unknown {
  if (typeof value === 'string') return value.replace(/\/\/([^:/@]+):[^@/]*@/, '//$1:***@');
  if (Array.isArray(value)) return value.map(redact);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, /secret|password/i.test(k) ? '***' : redact(v)]));
  return value;
}
