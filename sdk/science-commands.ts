/**
 * `modelhub crate RUN_ID -o dir/` and `modelhub verify NAME[@v]` (docs/provenance.md).
 */
import type { Command } from 'commander';
import type { Output } from './cli-output.ts';
import { commandKit } from './cli-commands.ts';
import { HubClient } from './hub-client.ts';

export function registerScienceCommands(program: Command, output: Output): void {
  const { globals, print, action } = commandKit(output);
  const clientOf = (command: Command) => {
    const { url, token } = globals(command);
    return new HubClient({ ...(url ? { url } : {}), ...(token ? { token } : {}) });
  };
  program
    .command('crate')
    .description("export a stored run (its provenance record, inputs and output) as an RO-Crate folder")
    .argument('<run_id>', 'the run_id of a provenance record')
    .option('-o, --output <dir>', 'the folder to write the crate into', '.')
    .action(
      action(async (runId: string, options: { output: string }, command: Command) => {
        const files = await clientOf(command).runCrate(runId, options.output);
        print(command, { run_id: runId, directory: options.output, files }, () => `wrote ${files.length} files of run ${runId} to ${options.output}`);
      }),
    );
  program
    .command('verify')
    .description("re-run a servable version's examples and compare the outputs (reproducible, drifted, fails)")
    .argument('<name>', 'owner/name or owner/name@version')
    .action(
      action(async (name: string, _options: unknown, command: Command) => {
        const check = await clientOf(command).verify(name);
        print(command, check, () => [`${check.servable}@${check.version}: ${check.summary}`, ...check.examples.map((e) => `  ${e.example}: ${e.status}${e.message ? ` (${e.message})` : e.difference !== undefined ? ` (max difference ${e.difference})` : ''}`)].join('\n'));
        // A drifted or failing version exits 1, so scripts and CI can gate on it.
        if (check.status !== 'reproducible') process.exitCode = 1;
      }),
    );
}
