import { Command, CommanderError, Option } from 'commander';
import { errorMessage, SakimoriError } from '../core/index.ts';
import { VERSION } from './context.ts';
import { registerStart } from './commands/start.ts';
import { registerConfig } from './commands/config.ts';
import { registerAudit } from './commands/audit.ts';
import { registerPrivacy } from './commands/privacy.ts';
import { registerStore } from './commands/store.ts';
import { registerConsent } from './commands/consent.ts';
import { registerCases } from './commands/cases.ts';
import { registerRpz } from './commands/rpz.ts';
import { registerDns } from './commands/dns.ts';
import { registerDnstap } from './commands/dnstap.ts';
import { registerSessions } from './commands/sessions.ts';

/**
 * The `sakimori` command: one binary, subcommands grouped by role. A new
 * capability adds one register function here.
 */
export function buildProgram(): Command {
  const program = new Command('sakimori')
    .version(VERSION, '-V, --version', 'print the version')
    .description(
      'Sakimori: stop botnets, DDoS attacks and vulnerable devices at an ISP, keeping the secrecy of communications.\n' +
        'Sakimori（防人）: 通信の秘密を守りながら、ISP でボットネット・DDoS・脆弱な機器に対処します。',
    )
    .addOption(new Option('-c, --config <file>', 'YAML config file (default: ./sakimori.yaml if present, else embedded defaults)'))
    .addOption(new Option('--store <url>', 'override store.url, e.g. sqlite:./data/sakimori.db or postgres://user@host/db'))
    .addOption(new Option('--log-level <level>', 'override log.level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace']))
    .showHelpAfterError('(run with --help for usage)')
    .showSuggestionAfterError(true)
    .exitOverride()
    .addHelpText('after', `
Getting started:
  sakimori start                      run the ISP node on embedded defaults
  sakimori config example > sakimori.yaml
  sakimori config check sakimori.yaml  name every problem with file:line and key
  sakimori audit verify               prove the audit log was not altered (R16)

Every command reads the same store as a running node, so they can run side by side.
Run \`sakimori COMMAND --help\` for each command's options and examples.`);
  registerStart(program);
  registerConfig(program);
  registerAudit(program);
  registerPrivacy(program);
  registerConsent(program);
  registerCases(program);
  registerRpz(program);
  registerDns(program);
  registerDnstap(program);
  registerSessions(program);
  registerStore(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version "fail" with exit code 0.
      return err.exitCode;
    }
    process.stderr.write(`sakimori: ${errorMessage(err)}\n`);
    if (!(err instanceof SakimoriError) && process.env.SAKIMORI_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
    return 1;
  }
}
