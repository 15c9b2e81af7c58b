import type { Command } from 'commander';
// The node (and its HTTP server) is imported when the action runs (src/cli/main.ts).
import { commandConfig, VERSION } from '../context.ts';

export function registerStart(program: Command): void {
  program
    .command('start')
    .helpGroup('ISP node:')
    .description('start the ISP node: HTTP API and console, and every enabled part, on the config (or embedded defaults)')
    .addHelpText('after', `
With no config file (no --config and no ./sakimori.yaml) the node runs on embedded
defaults: SQLite store under ./data, in-process bus, HTTP on 127.0.0.1:8080.
It prints where each part listens. Stop it with Ctrl-C (SIGINT) or SIGTERM.

Examples:
  sakimori start
  sakimori start --config /etc/sakimori/sakimori.yaml
  curl -s http://127.0.0.1:8080/healthz`)
    .action(async (_opts, cmd: Command) => {
      const { startNode } = await import('../../node/index.ts');
      const { config, source, logger } = await commandConfig(cmd);
      const node = await startNode(config, { logger, version: VERSION });
      const rows: [string, string][] = [
        ['config', source],
        ['store', node.platform.store.displayUrl],
        ['bus', node.platform.bus?.displayUrl ?? '(none)'],
        ...node.endpoints().map((e): [string, string] => [e.label, e.url]),
      ];
      const width = Math.max(...rows.map(([label]) => label.length));
      const lines = [
        `Sakimori ISP node "${config.node.name}" v${VERSION} is running. / Sakimori ISP ノードを起動しました。`,
        ...rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`),
        'Stop with Ctrl-C.',
      ];
      process.stdout.write(`${lines.join('\n')}\n`);
      await new Promise<void>((resolve) => {
        let stopping = false;
        const stop = (signal: string) => {
          if (stopping) return;
          stopping = true;
          logger.info({ signal }, 'stopping');
          node.stop().then(resolve, (err: unknown) => {
            logger.error({ err }, 'stop failed');
            resolve();
          });
        };
        process.once('SIGINT', () => stop('SIGINT'));
        process.once('SIGTERM', () => stop('SIGTERM'));
      });
    });
}
