/**
 * `modelhub import-dlhub doc.json [files...]`: publish a DLHub servable document (dlhub_schemas'
 * `servable` JSON) with its model files. The mapping lives in models/dlhub-import.ts.
 */
import type { Command } from 'commander';
import { renderPublish, type Output } from './cli-output.ts';
import { commandKit } from './cli-commands.ts';
import { HubClient } from './hub-client.ts';
import { importDlhubDocument } from './models/dlhub-import.ts';

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerDlhubImportCommand(program: Command, output: Output): void {
  const { globals, print, action } = commandKit(output);
  program
    .command('import-dlhub')
    .description('publish a DLHub servable document (datacite, dlhub and servable blocks) with its model files')
    .argument('<document>', "the DLHub document (JSON, as DLHub SDK's to_dict() writes it)")
    .argument('[files...]', "the model files it names (matched by base name; else looked for beside the document)")
    .option('--owner <owner>', "owner here (default: the document's dlhub.owner)")
    .option('--name <owner/name>', 'servable name here (default: from the document)')
    .option('--author <"Family, Given">', "author, repeat for several (replaces the document's creators)", collect)
    .option('--private', 'visible to its owner only')
    .option('--dry-run', 'print the converted metadata and files, publish nothing')
    .option('--no-wait', 'return once the upload is accepted, without following the build')
    .option('--verbose', "print the build's log lines too")
    .action(
      action(
        async (
          document: string,
          files: string[],
          options: { owner?: string; name?: string; author?: string[]; private?: boolean; dryRun?: boolean; wait: boolean; verbose?: boolean },
          command: Command,
        ) => {
          const imported = importDlhubDocument(document, files, {
            ...(options.owner ? { owner: options.owner } : {}),
            ...(options.author ? { authors: options.author } : {}),
          });
          try {
            const { model } = imported;
            if (options.name) model.setName(options.name);
            if (options.private) model.setVisibility('private');
            const { json, url, token } = globals(command);
            for (const warning of imported.warnings) output.err(`warning: ${warning}`);
            if (options.dryRun) {
              print(command, { metadata: model.draftMetadata(), files: model.files().map((f) => f.path), warnings: imported.warnings }, () =>
                `${JSON.stringify(model.draftMetadata(), null, 2)}\nfiles: ${model.files().map((f) => f.path).join(', ')}`,
              );
              return;
            }
            const client = new HubClient({ ...(url ? { url } : {}), ...(token ? { token } : {}) });
            const { task, accepted } = await renderPublish(client.publishServableProgress(model, { wait: options.wait }), output, {
              quiet: Boolean(json),
              verbose: Boolean(options.verbose),
            });
            if (!options.wait || !task) {
              print(command, accepted, () => `follow it with: modelhub status ${accepted?.task_id}`);
              return;
            }
            if (task.status === 'FAILED') {
              if (json) output.out(JSON.stringify(task, null, 2));
              else output.err(`error ${task.error?.code ?? 'MODELHUB_INTERNAL'}: ${task.error?.message ?? 'the publish failed'}`);
              process.exitCode = 1;
              return;
            }
            print(command, task, () => `published ${task.servable}@${task.version}`);
          } finally {
            imported.cleanup();
          }
        },
      ),
    );
}
