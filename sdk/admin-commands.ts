/**
 * Operator commands that act on a hub's own data folder and backends (like `serve`), not through
 * its HTTP API: `modelhub reindex` rebuilds the search index from the registry, the system of
 * record (with Elasticsearch: a new index behind the alias, no downtime); `modelhub gc` removes the
 * containers and images of this hub instance that no published version needs any more.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import type { Output } from './cli-output.ts';
import { commandKit } from './cli-commands.ts';
import { loadConfig } from '../hub-server/config.ts';
import { createContainerEngine, createRegistry, createSearchIndex } from '../hub-server/backends.ts';
import { ContainerPool } from '../hub-server/gateway/container-pool.ts';
import { LABELS } from '../hub-server/ports/container-engine.ts';
import { hubHoldingDataFolder } from '../hub-server/services/data-folder-lock.ts';

function configFor(command: Command) {
  const { data } = command.opts<{ data?: string }>();
  return loadConfig({ ...process.env, ...(data ? { MODELHUB_DATA: data } : {}) });
}

export function registerAdminCommands(program: Command, output: Output): void {
  const { globals, action } = commandKit(output);
  const json = (command: Command) => Boolean(globals(command).json);

  program
    .command('reindex')
    .description('rebuild the search index from the registry (MODELHUB_SEARCH backend; no downtime with Elasticsearch)')
    .option('--data <dir>', 'the hub data folder (default: $MODELHUB_DATA or ./.modelhub)')
    .action(
      action(async (_options: unknown, command: Command) => {
      const config = configFor(command);
      const registry = createRegistry(config);
      const index = await createSearchIndex(config);
      try {
        const count = await index.rebuild(registry.allPublished());
        output.out(json(command) ? JSON.stringify({ indexed: count, backend: index.kind }) : `indexed ${count} published version(s) into ${index.kind}`);
      } finally {
        await index.close();
        await registry.close();
      }
      }),
    );

  program
    .command('gc')
    .description("remove this hub's containers and images that no published version needs (MODELHUB_CONTAINERS engine)")
    .option('--data <dir>', 'the hub data folder (default: $MODELHUB_DATA or ./.modelhub)')
    .action(
      action(async (_options: unknown, command: Command) => {
      const config = configFor(command);
      const instance = (await fs.readFile(path.join(config.dataDir, 'instance-id'), 'utf8').catch(() => '')).trim();
      if (!instance) {
        output.out(json(command) ? JSON.stringify({ containers: [], images: [] }) : `no hub has run on ${config.dataDir}: nothing to collect`);
        return;
      }
      // A running hub's containers are its warm pool: leave them to it (it removes them when it stops).
      const runningHub = await hubHoldingDataFolder(config.dataDir);
      const registry = createRegistry(config);
      const engine = createContainerEngine(config);
      const pool = new ContainerPool(engine, { instance });
      try {
        const published = new Set<string>();
        for await (const document of registry.allPublished()) published.add(`${document.hub.owner}/${document.hub.name}@${document.hub.version}`);
        const report = await pool.gc({
          keepImage: (labels) => published.has(`${labels[LABELS.owner]}/${labels[LABELS.name]}@${labels[LABELS.version]}`),
          keepAllContainers: runningHub !== undefined,
        });
        const kept = runningHub ? ` (a hub is running on this folder, pid ${runningHub.pid}: its containers are left to it)` : '';
        output.out(
          json(command)
            ? JSON.stringify({ ...report, ...(runningHub ? { running_hub_pid: runningHub.pid } : {}) })
            : `removed ${report.containers.length} container(s) and ${report.images.length} image(s)${kept}`,
        );
      } finally {
        await pool.close();
        await engine.close();
        await registry.close();
      }
      }),
    );
}
