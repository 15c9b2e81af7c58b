import { Command, CommanderError, Option } from 'commander';
import { errorMessage, SakimoriError } from '../core/index.ts';
import { VERSION } from './context.ts';

/**
 * Each command module, with the top-level commands it registers, loaded only when needed:
 * `sakimori dns serve` loads the DNS commands alone, and each command module loads its
 * implementation only when an action runs, so a command costs only the memory and
 * start-up time of what it uses. In the order `--help` lists them.
 */
type Register = (program: Command) => void;
const MODULES: { commands: readonly string[]; load: () => Promise<Register> }[] = [
  { commands: ['start'], load: async () => (await import('./commands/start.ts')).registerStart },
  { commands: ['config'], load: async () => (await import('./commands/config.ts')).registerConfig },
  { commands: ['audit'], load: async () => (await import('./commands/audit.ts')).registerAudit },
  { commands: ['privacy'], load: async () => (await import('./commands/privacy.ts')).registerPrivacy },
  { commands: ['consent'], load: async () => (await import('./commands/consent.ts')).registerConsent },
  { commands: ['subscribers', 'reports', 'findings', 'cases'], load: async () => (await import('./commands/cases.ts')).registerCases },
  { commands: ['rpz'], load: async () => (await import('./commands/rpz.ts')).registerRpz },
  { commands: ['dns'], load: async () => (await import('./commands/dns.ts')).registerDns },
  { commands: ['dnstap'], load: async () => (await import('./commands/dnstap.ts')).registerDnstap },
  { commands: ['sessions'], load: async () => (await import('./commands/sessions.ts')).registerSessions },
  { commands: ['store'], load: async () => (await import('./commands/store.ts')).registerStore },
];

/**
 * `sakimori ... | head`: the reader closed the pipe. Stop as a Unix tool stopped by SIGPIPE
 * does (status 141, no message) instead of an unhandled EPIPE with a stack trace. Node
 * ignores SIGPIPE, so the failed write is the only sign. Other write errors stay fatal.
 */
function stopQuietlyOnClosedPipe(): void {
  for (const out of [process.stdout, process.stderr]) {
    out.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(141);
      throw err;
    });
  }
}

/** Root options that take a value (the word after them is not the command). */
const VALUE_OPTIONS = new Set(['-c', '--config', '--store', '--log-level']);

/** The modules to load for argv: the one registering the command it names, else all (help, suggestions). */
function modulesFor(argv: readonly string[]): typeof MODULES {
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i]!;
    if (VALUE_OPTIONS.has(a)) i++;
    else if (!a.startsWith('-')) {
      const m = MODULES.find((x) => x.commands.includes(a));
      return m ? [m] : MODULES;
    }
  }
  return MODULES;
}

/**
 * The `sakimori` command: one binary, subcommands grouped by role. A new
 * capability adds one entry to MODULES. Registers only the command argv names when it
 * names one; with none (or an unknown word) every command, so `--help` and suggestions
 * are whole.
 */
export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
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
  for (const register of await Promise.all(modulesFor(argv).map((m) => m.load()))) register(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  stopQuietlyOnClosedPipe();
  const program = await buildProgram(argv);
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
