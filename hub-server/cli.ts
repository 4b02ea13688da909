/**
 * `modelhub`, the one command a user runs: the SDK's client commands (sdk/cli.ts, over HTTP only)
 * plus the commands that run a hub or open its data folder: `serve`, `reindex`, `gc` and `token`
 * (on a hub with --url, or on the local data folder). What those need is loaded when they run, so
 * a client command starts without the server's dependencies.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import closeWithGrace from 'close-with-grace';
import type { Command } from 'commander';
import { buildCli as buildClientCli } from '../sdk/cli.ts';
import { commandKit } from '../sdk/cli-commands.ts';
import { processOutput, type Output } from '../sdk/cli-output.ts';
import { registerAdminCommands } from './cli/admin-commands.ts';
import { registerTokenCommands } from './cli/token-commands.ts';
import { registerEndpointCommands } from './cli/endpoint-commands.ts';

function registerServeCommand(program: Command, output: Output): void {
  const { globals, action } = commandKit(output);
  program
    .command('serve')
    .description('start a hub on this machine (settings from MODELHUB_* variables)')
    .option('--port <port>', 'port to listen on', (v) => Number(v))
    .option('--host <host>', 'address to listen on')
    .option('--data <dir>', 'folder of the embedded stores')
    .action(
      action(async (options: { port?: number; host?: string; data?: string }, command: Command) => {
        // Loaded on use, so that the client commands start without the server's dependencies.
        const { startServer } = await import('./server.ts');
        const server = await startServer({
          ...(options.port !== undefined ? { port: options.port } : {}),
          ...(options.host ? { host: options.host } : {}),
          ...(options.data ? { dataDir: path.resolve(options.data) } : {}),
        });
        // startServer prints where it listens; --json adds one line a script can parse.
        if (globals(command).json) output.out(JSON.stringify({ url: server.url }));
        closeWithGrace({ delay: 30_000 }, async () => {
          await server.close();
        });
      }),
    );

}

export function buildCli(output: Output = processOutput): Command {
  const program = buildClientCli(output);
  registerServeCommand(program, output);
  registerAdminCommands(program, output);
  registerTokenCommands(program, output);
  registerEndpointCommands(program, output);
  return program;
}

export async function main(argv: string[] = process.argv): Promise<void> {
  await buildCli().parseAsync(argv);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await main();
}
