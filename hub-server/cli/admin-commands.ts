/**
 * Operator commands that act on a hub's own data folder and backends (like `serve`), not through
 * its HTTP API: `modelhub reindex` rebuilds the search index from the registry, the system of
 * record (with Elasticsearch: a new index behind the alias, no downtime); `modelhub gc` removes the
 * containers and images of this hub instance that no published version needs any more, and what
 * publishes that died left: upload folders and blobs that no version names (docs/crash-recovery.md).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import type { Output } from '../../sdk/cli-output.ts';
import { commandKit } from '../../sdk/cli-commands.ts';
import { loadConfig } from '../config.ts';
import { createBlobStore, createContainerEngine, createSearchIndex, openDatabase, openRegistry } from '../composition-root.ts';
import { ContainerPool } from '../../servables/container-pool.ts';
import { LABELS } from '../../schemas/ports/container-engine.ts';
import { hubHoldingDataFolder } from '../adapters/data-folder-lock.ts';
import { sweepBlobs, sweepUploads, unreferencedBlobs } from '../use-cases/leftover-sweeper.ts';
import type { HubConfig } from '../config.ts';

/**
 * Blobs no version names and upload folders, older than the grace period. Beside a running hub only
 * reported: it alone knows what its running publishes are writing, and sweeps them itself.
 */
async function collectLeftovers(config: HubConfig, graceMs: number, hubRuns: boolean) {
  // PostgreSQL mode: the shared registry, whose task table names what every replica's running
  // publishes stored, so blobs are removed even while replicas run.
  const database = await openDatabase(config);
  const registry = await openRegistry(config, database);
  const blobs = await createBlobStore(config);
  try {
    const options = { blobs, registry, graceMs };
    const found = hubRuns ? await unreferencedBlobs(options) : (await sweepBlobs(options)).removed;
    const uploads = hubRuns ? { removed: [], bytes: 0 } : await sweepUploads(path.join(config.dataDir, 'uploads'), { graceMs });
    const blobBytes = found.reduce((sum, blob) => sum + blob.size, 0);
    return {
      blobs: found.map((blob) => ({ sha256: blob.sha256, size: blob.size, stored_at: blob.storedAt.toISOString() })),
      blobs_removed: !hubRuns,
      uploads: uploads.removed,
      bytes: (hubRuns ? 0 : blobBytes) + uploads.bytes,
      blobBytes,
    };
  } finally {
    await blobs.close();
    await registry.close();
    await database?.close();
  }
}

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
      // PostgreSQL mode: from the shared registry into the shared index (replicas keep serving).
      const database = await openDatabase(config);
      const registry = await openRegistry(config, database);
      const index = await createSearchIndex(config, database);
      try {
        const count = await index.rebuild(registry.allPublished());
        output.out(json(command) ? JSON.stringify({ indexed: count, backend: index.kind }) : `indexed ${count} published version(s) into ${index.kind}`);
      } finally {
        await index.close();
        await registry.close();
        await database?.close();
      }
      }),
    );

  program
    .command('gc')
    .description(
      "remove this hub's containers and images that no published version needs (MODELHUB_CONTAINERS engine), " +
        'and blobs no version names and upload folders that publishes which died left (MODELHUB_BLOBS store)',
    )
    .option('--data <dir>', 'the hub data folder (default: $MODELHUB_DATA or ./.modelhub)')
    .option('--grace <seconds>', 'keep blobs and uploads younger than this (default: $MODELHUB_SWEEP_GRACE_SECONDS or 6 hours)')
    .action(
      action(async (options: { grace?: string }, command: Command) => {
      const config = configFor(command);
      const instance = (await fs.readFile(path.join(config.dataDir, 'instance-id'), 'utf8').catch(() => '')).trim();
      if (!instance) {
        output.out(json(command) ? JSON.stringify({ containers: [], images: [], blobs: [], uploads: [] }) : `no hub has run on ${config.dataDir}: nothing to collect`);
        return;
      }
      const graceMs = options.grace === undefined ? config.sweepGraceMs : Number(options.grace) * 1000;
      if (!Number.isFinite(graceMs) || graceMs < 0) throw new Error(`--grace must be a number of seconds, not "${options.grace}"`);
      // A running hub's containers are its warm pool: leave them to it (it removes them when it stops).
      const runningHub = await hubHoldingDataFolder(config.dataDir);
      const leftovers = await collectLeftovers(config, graceMs, runningHub !== undefined);
      const database = await openDatabase(config);
      const registry = await openRegistry(config, database);
      // In PostgreSQL mode no lock tells whether a replica runs on this folder: its containers stay.
      const replicaMayRun = Boolean(config.databaseUrl);
      const engine = await createContainerEngine(config);
      const pool = new ContainerPool(engine, { instance });
      try {
        const published = new Set<string>();
        for await (const document of registry.allPublished()) published.add(`${document.hub.owner}/${document.hub.name}@${document.hub.version}`);
        const report = await pool.gc({
          keepImage: (labels) => published.has(`${labels[LABELS.owner]}/${labels[LABELS.name]}@${labels[LABELS.version]}`),
          keepAllContainers: runningHub !== undefined || replicaMayRun,
        });
        const kept = runningHub
          ? ` (a hub is running on this folder, pid ${runningHub.pid}: its containers are left to it)`
          : replicaMayRun
            ? ' (PostgreSQL mode: containers are left to the replicas, which remove them when they stop)'
            : '';
        const { blobBytes, ...leftoverReport } = leftovers;
        const blobLine = runningHub
          ? `${leftovers.blobs.length} blob(s) no version names (${blobBytes} bytes), left to the running hub, which removes them itself`
          : `removed ${leftovers.blobs.length} blob(s) no version names and ${leftovers.uploads.length} upload folder(s) (${leftovers.bytes} bytes)`;
        output.out(
          json(command)
            ? JSON.stringify({ ...report, ...leftoverReport, ...(runningHub ? { running_hub_pid: runningHub.pid } : {}) })
            : `removed ${report.containers.length} container(s) and ${report.images.length} image(s)${kept}\n${blobLine}`,
        );
      } finally {
        await pool.close();
        await engine.close();
        await registry.close();
        await database?.close();
      }
      }),
    );
}
