/**
 * The domain services of the hub, built once per app from the configuration and closed with it:
 * registry, blob store, search index, identifier minter, runtimes, the gateway and the publisher.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import type { HubConfig } from '../config.ts';
import type { BlobStore } from '../../schemas/ports/blob-store.ts';
import type { IdentifierMinter } from '../../schemas/ports/identifier-minter.ts';
import type { Registry } from '../../schemas/ports/registry.ts';
import type { SearchIndex } from '../../schemas/ports/search-index.ts';
import { createBlobStore, createContainerEngine, createMinter, createRuntimes, openDatabase, openRegistry, createSearchIndex, workersDir } from '../composition-root.ts';
import { reapStaleWorkers } from '../../servables/worker-pid-files.ts';
import { ContainerPool } from '../../servables/container-pool.ts';
import type { ContainerEngine } from '../../schemas/ports/container-engine.ts';
import { Gateway } from '../use-cases/gateway/gateway.ts';
import { createHubMetrics, type HubMetrics } from '../use-cases/gateway/metrics.ts';
import { ResultCache } from '../use-cases/gateway/result-cache.ts';
import { ServableManager } from '../use-cases/gateway/servable-manager.ts';
import { Publisher } from '../use-cases/publish-pipeline.ts';
import { OnnxWorkerRuntime } from '../../servables/onnx-worker-runtime.ts';
import { closePublishWork } from '../../servables/publish-work-pool.ts';
import { claimDataFolder } from '../adapters/data-folder-lock.ts';
import type { PostgresDatabase } from '../adapters/postgres-database.ts';
import { LeftoverSweeper, sweepUploads } from '../use-cases/leftover-sweeper.ts';
import { SearchSync } from '../use-cases/search-sync.ts';

export interface HubServices {
  config: HubConfig;
  /** The PostgreSQL pool the PostgreSQL adapters share (MODELHUB_DATABASE_URL); undefined with SQLite. */
  database: PostgresDatabase | undefined;
  registry: Registry;
  blobs: BlobStore;
  index: SearchIndex;
  /** Index writes that survive the search backend being down (use it rather than `index` to write). */
  search: SearchSync;
  minter: IdentifierMinter;
  manager: ServableManager;
  gateway: Gateway;
  publisher: Publisher;
  cache: ResultCache;
  metrics: HubMetrics;
  /** Where container servables run (Docker, or local processes). */
  engine: ContainerEngine;
  pool: ContainerPool;
  /** This hub's id, on the labels of everything it creates in the container engine. */
  instance: string;
}

/** A stable id per data folder, so that a restarted hub recognises its own images and containers. */
async function hubInstanceId(dataDir: string): Promise<string> {
  const file = path.join(dataDir, 'instance-id');
  const existing = await fs.readFile(file, 'utf8').catch(() => undefined);
  if (existing?.trim()) return existing.trim();
  const id = randomUUID().slice(0, 8);
  await fs.writeFile(file, id);
  return id;
}

declare module 'fastify' {
  interface FastifyInstance {
    hub: HubServices;
  }
}

async function hubServices(app: FastifyInstance, opts: { config: HubConfig }): Promise<void> {
  await fs.mkdir(opts.config.dataDir, { recursive: true });
  // In PostgreSQL mode the shared state is in the database, which any number of replicas share:
  // the data folder holds only caches and work files, and needs no lock.
  const releaseDataFolder = opts.config.databaseUrl ? async () => undefined : await claimDataFolder(opts.config.dataDir);
  try {
    await startHubServices(app, opts.config, releaseDataFolder);
  } catch (error) {
    await releaseDataFolder();
    throw error;
  }
}

async function startHubServices(app: FastifyInstance, config: HubConfig, releaseDataFolder: () => Promise<void>): Promise<void> {
  // Workers that an earlier hub on this folder started and that outlived it go before new ones start.
  const reaped = await reapStaleWorkers(workersDir(config));
  if (reaped.length > 0) app.log.warn({ pids: reaped }, 'killed worker processes left by an earlier hub on this data folder');
  const metrics = createHubMetrics();
  const database = await openDatabase(config);
  const registry = await openRegistry(config, database);
  const blobs = await createBlobStore(config);
  const index = await createSearchIndex(config, database);
  const minter = createMinter(config);
  const instance = await hubInstanceId(config.dataDir);
  const engine = createContainerEngine(config);
  const pool = new ContainerPool(engine, { instance, defaults: { defaultDeadlineMs: config.gateway.defaultDeadlineMs } });
  await fs.mkdir(path.join(config.dataDir, 'builds'), { recursive: true });
  const containerOptions = { engine, pool, instance, workDir: path.join(config.dataDir, 'builds') };
  const runtimes = createRuntimes(config, containerOptions, (line) => app.log.info({ servable_log: line }, 'servable output'));
  const manager = new ServableManager({
    runtimes,
    blobs,
    workDir: path.join(config.dataDir, 'servables'),
    budgetBytes: config.gateway.residencyBytes,
    metrics,
  });
  const cache = new ResultCache(config.gateway.cacheBytes, metrics);
  const gateway = new Gateway({
    registry,
    manager,
    cache,
    metrics,
    maxQueue: config.gateway.maxQueue,
    defaultDeadlineMs: config.gateway.defaultDeadlineMs,
  });
  const search = new SearchSync(index, { log: (message) => app.log.warn(message), backlogFile: path.join(config.dataDir, 'search-backlog') });
  // Publish warm-ups run ONNX models in a worker thread, off the event loop, whichever runtime serves them.
  const servingOnnx = runtimes.get('onnx');
  const warmUpOnnx = servingOnnx instanceof OnnxWorkerRuntime ? servingOnnx : new OnnxWorkerRuntime(1);
  const publisher = new Publisher({
    registry,
    blobs,
    search,
    minter,
    manager,
    metrics,
    workDir: path.join(config.dataDir, 'uploads'),
    publisher: 'modelhub',
    onPublished: (document) => gateway.invalidate(document.hub.owner, document.hub.name),
    log: (message) => app.log.warn(message),
    pauseAtStep: config.testPauseAtStep,
    warmUpRuntimes: new Map([['onnx', warmUpOnnx]]),
  });

  // A hub killed mid-publish comes back with the task and the registry in agreement: a publish
  // stopped before its registry commit is FAILED with its version never listed; one stopped after
  // it (while indexing) is finished now and SUCCEEDED. The embedded index is then rebuilt from the
  // registry, the system of record, so that it holds exactly the published versions.
  const interrupted = await registry.settleInterruptedTasks('the hub stopped while this task was running');
  if (interrupted.failed > 0) app.log.warn({ interrupted: interrupted.failed }, 'marked tasks interrupted by a stop as FAILED');
  if (interrupted.committed.length > 0) {
    await publisher.completeInterrupted(interrupted.committed);
    app.log.warn({ completed: interrupted.committed.map((task) => task.task_id) }, 'finished publishes a stop interrupted after their registry commit');
  }
  // What died publishes left: upload folders (all of them now: no publish of this hub runs yet)
  // and blobs no version names, now and then periodically.
  const uploadsDir = path.join(config.dataDir, 'uploads');
  const sweeper = new LeftoverSweeper({
    uploadsDir,
    blobs,
    registry,
    graceMs: config.sweepGraceMs,
    intervalMs: config.sweepIntervalMs,
    inUse: () => publisher.blobsInUse(),
    uploadsInUse: () => publisher.uploadDirsInUse(),
    log: (report) => app.log.warn({ uploads: report.uploads.length, blobs: report.blobs.length, bytes: report.bytes }, 'removed what interrupted publishes left'),
    onError: (error) => app.log.error({ err: error }, 'sweeping what interrupted publishes left failed; tried again later'),
  });
  await sweepUploads(uploadsDir, { graceMs: 0 });
  // A remote index (Elasticsearch) is rebuilt only when the last run stopped with writes it never
  // received; in the background, queued while the backend is still down, so start-up never waits.
  const published = () => registry.allPublished();
  if (index.kind === 'sqlite') await search.rebuildFrom(published);
  else if (search.missedWritesBeforeRestart) {
    app.log.warn('the search index missed writes before the last stop: rebuilding it from the registry');
    search.rebuildFrom(published).then(
      ({ deferred }) => app.log.warn(deferred ? 'search backend still unavailable: the rebuild is queued' : 'search index rebuilt'),
      (error: unknown) => app.log.error({ err: error }, 'rebuilding the search index failed; run modelhub reindex'),
    );
  }

  app.decorate('hub', { config, database, registry, blobs, index, search, minter, manager, gateway, publisher, cache, metrics, engine, pool, instance });

  sweeper.start();

  app.addHook('onClose', async () => {
    await sweeper.stop();
    await publisher.drain();
    search.close();
    await manager.close();
    // Runtimes that hold threads or processes of their own (ONNX worker threads) stop them.
    for (const runtime of runtimes.values()) await runtime.close?.();
    if (warmUpOnnx !== servingOnnx) await warmUpOnnx.close();
    await closePublishWork();
    await pool.close();
    await engine.close();
    await index.close();
    await blobs.close();
    await registry.close();
    await database?.close();
    await releaseDataFolder();
  });
}

export default fp(hubServices, { name: 'hub-services', fastify: '5.x' });
