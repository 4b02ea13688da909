/**
 * `modelhub download NAME[@v] [-o file]`: the version's archive (files, metadata, citation and a
 * script to serve it locally), with a progress bar on a terminal.
 */
import { createRequire } from 'node:module';
import type cliProgressModule from 'cli-progress';

/** The progress bar library, loaded when a bar is first shown (never by `import 'modelhub'`). */
const cliProgress = (): typeof cliProgressModule => createRequire(import.meta.url)('cli-progress') as typeof cliProgressModule;
import type { Command } from 'commander';
import { formatBytes, type Output } from './cli-output.ts';
import { commandKit } from './cli-commands.ts';
import { HubClient } from './hub-client.ts';

export function registerDownloadCommand(program: Command, output: Output, stream: NodeJS.WriteStream = process.stderr): void {
  const { globals, print, action } = commandKit(output);
  program
    .command('download')
    .description('download a servable version to run it elsewhere: files, metadata, citation and a local server')
    .argument('<name>', 'owner/name or owner/name@version')
    .option('-o, --output <file>', 'where to write the .tar.gz (default: owner-name-vN.tar.gz here)')
    .action(
      action(async (name: string, options: { output?: string }, command: Command) => {
        const { url, token, json } = globals(command);
        const client = new HubClient({ ...(url ? { url } : {}), ...(token ? { token } : {}) });
        let bar: cliProgressModule.SingleBar | undefined;
        let result: { path: string; bytes: number; version?: number } | undefined;
        try {
          for await (const event of client.downloadProgress(name, options.output ? { destination: options.output } : {})) {
            if (event.kind === 'done') {
              result = { path: event.path, bytes: event.bytes, ...(event.version ? { version: event.version } : {}) };
              continue;
            }
            if (json || !stream.isTTY) continue;
            // The archive is streamed as it is packed, so its size is often unknown: then the bar
            // shows the bytes so far.
            if (!bar) {
              bar = new (cliProgress().SingleBar)(
                { stream, format: event.total ? 'downloading [{bar}] {percentage}% {done}' : 'downloading {done}', hideCursor: true },
                cliProgress().Presets.shades_classic,
              );
              bar.start(event.total ?? 1, 0, { done: formatBytes(0) });
            }
            bar.update(event.total ? event.received : 0, { done: formatBytes(event.received) });
          }
        } finally {
          bar?.stop();
        }
        print(command, { servable: name, ...result }, () => `saved ${result?.path} (${formatBytes(result?.bytes ?? 0)})`);
      }),
    );
}
