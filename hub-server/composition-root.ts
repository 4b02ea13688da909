/**
 * The composition root: the one place that says which adapter each port gets for a configuration
 * (the embedded defaults need no server; MODELHUB_DATABASE_URL, MODELHUB_BLOBS, MODELHUB_SEARCH,
 * MODELHUB_IDENTIFIERS, MODELHUB_CONTAINERS, MODELHUB_OIDC_* and MODELHUB_GLOBUS_* choose others with
 * no code change), opens them in order with the use cases on top (`openHub`), and closes them in the
 * reverse order. Adapters and runtimes that a configuration does not use are never loaded: each is
 * imported where it is chosen, and the graph runtimes on their first servable.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { ConfigError, type HubConfig } from './config.ts';
import type { PostgresDatabase } from './adapters/postgres-database.ts';
import type { EndpointStore } from '../schemas/ports/endpoint-store.ts';
import type { TokenStore } from '../schemas/ports/token-store.ts';
import type { ActionStore } from '../schemas/ports/action-store.ts';
import type { BlobStore } from '../schemas/ports/blob-store.ts';
import type { DatasetSource } from '../schemas/ports/dataset-source.ts';
import type { IdentifierMinter } from '../schemas/ports/identifier-minter.ts';
import type { Registry } from '../schemas/ports/registry.ts';
import type { SearchIndex } from '../schemas/ports/search-index.ts';
import { FsBlobStore } from './adapters/fs-blob-store.ts';
import { LocalIdentifierMinter } from './adapters/local-identifier-minter.ts';
import { SqliteRegistry } from './adapters/sqlite-registry.ts';
import { SqliteSearchIndex } from './adapters/sqlite-search-index.ts';
import { SqliteRunStore } from './adapters/sqlite-run-store.ts';
import { SqliteReproducibilityStore } from './adapters/sqlite-reproducibility-store.ts';
import type { RunStore } from '../schemas/ports/run-store.ts';
import type { ReproducibilityStore } from '../schemas/ports/reproducibility-store.ts';
import type { ServableType } from '../schemas/metadata.ts';
import type { ServableRuntime } from '../schemas/ports/servable.ts';
import { createPythonRuntimes } from '../servables/python-runtime.ts';
import { ContainerServableRuntime, type ContainerRuntimeOptions } from '../servables/container-runtime.ts';
import { IsolatedRuntime } from '../servables/isolated-runtime.ts';
import { LazyRuntime } from '../servables/lazy-runtime.ts';
import { ProcessEnvironments } from '../servables/process-environments.ts';
import { recordWorker } from '../servables/worker-pid-files.ts';
import type { ContainerEngine } from '../schemas/ports/container-engine.ts';
import { ProcessContainerEngine } from './adapters/process-container-engine.ts';
import { reapStaleWorkers } from '../servables/worker-pid-files.ts';
import { ContainerPool } from '../servables/container-pool.ts';
import { closePublishWork } from '../servables/publish-work-pool.ts';
import { Gateway } from './use-cases/gateway/gateway.ts';
import { createHubMetrics, type HubMetrics } from './use-cases/gateway/metrics.ts';
import { ResultCache } from './use-cases/gateway/result-cache.ts';
import { ServableManager } from './use-cases/gateway/servable-manager.ts';
import { ProvenanceService } from './use-cases/provenance.ts';
import { SqliteCollectionStore } from './adapters/sqlite-collection-store.ts';
import type { CollectionStore } from '../schemas/ports/collection-store.ts';
import { CollectionService, collectionPartOf, resyncThrough } from './use-cases/collections/collection-service.ts';
import { RuntimeVersions } from './use-cases/runtime-versions.ts';
import { ReproducibilityChecker } from './use-cases/reproducibility.ts';
import { HubEvents, observeRegistry } from './use-cases/hub-events.ts';
import { WebhookService } from './use-cases/webhooks.ts';
import { UsageCounter } from './use-cases/usage.ts';
import { SqliteWebhookStore } from './adapters/sqlite-webhook-store.ts';
import { SqliteUsageStore } from './adapters/sqlite-usage-store.ts';
import { HttpWebhookSender } from './adapters/http-webhook-sender.ts';
import type { WebhookStore } from '../schemas/ports/webhook-store.ts';
import type { UsageStore } from '../schemas/ports/usage-store.ts';
import { Publisher } from './use-cases/publish-pipeline.ts';
import { LeftoverSweeper, sweepUploads } from './use-cases/leftover-sweeper.ts';
import { SearchSync } from './use-cases/search-sync.ts';
import { createIdentifierSync, type IdentifierSync } from './use-cases/identifiers.ts';
import { claimDataFolder } from './adapters/data-folder-lock.ts';
import { AuditLog } from './adapters/audit-log.ts';
import type { AuditStore } from '../schemas/ports/audit-store.ts';
import type { RateLimitCounter } from '../schemas/ports/rate-limit-counter.ts';
import type { WorkLocks } from '../schemas/ports/work-locks.ts';
import { FederatedIdentity } from './adapters/federated-identity.ts';
import { GlobusAuthClient } from './adapters/globus-auth-client.ts';
import type { OidcRelyingParty } from './adapters/oidc-relying-party.ts';

/** The embedded registry. In PostgreSQL mode use `openRegistry`: this one would be the wrong catalogue. */
export function createRegistry(config: HubConfig): Registry {
  if (config.databaseUrl) throw new ConfigError('MODELHUB_DATABASE_URL', 'is set: this command does not work on a PostgreSQL registry yet');
  return SqliteRegistry.open(path.join(config.dataDir, 'registry.db'));
}

/**
 * The PostgreSQL pool every PostgreSQL adapter of this process shares, with the schema migrated.
 * A database that cannot be reached or used stops start-up with a message naming the variable.
 */
export async function openDatabase(config: HubConfig): Promise<PostgresDatabase | undefined> {
  if (!config.databaseUrl) return undefined;
  const { PostgresDatabase, redactDatabaseUrl } = await import('./adapters/postgres-database.ts');
  const database = PostgresDatabase.open(config.databaseUrl);
  try {
    await database.migrate();
  } catch (error) {
    await database.close();
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError('MODELHUB_DATABASE_URL', `names a database this hub cannot use (${redactDatabaseUrl(config.databaseUrl)}): ${reason}`);
  }
  return database;
}

/** The registry: PostgreSQL when MODELHUB_DATABASE_URL is set (sharing `database`), else SQLite. */
export async function openRegistry(config: HubConfig, database?: PostgresDatabase): Promise<Registry> {
  if (!config.databaseUrl) return createRegistry(config);
  const { PostgresRegistry } = await import('./adapters/postgres-registry.ts');
  return withDatabase(config, database, (db) => PostgresRegistry.open(db));
}

/** Tokens, identity links and task creators: PostgreSQL when MODELHUB_DATABASE_URL is set, else SQLite. */
export async function openTokenStore(config: HubConfig, database?: PostgresDatabase): Promise<TokenStore> {
  if (!config.databaseUrl) {
    const { SqliteTokenStore } = await import('./adapters/sqlite-token-store.ts');
    return SqliteTokenStore.open(SqliteTokenStore.fileIn(config.dataDir));
  }
  const { PostgresTokenStore } = await import('./adapters/postgres-token-store.ts');
  return withDatabase(config, database, (db) => PostgresTokenStore.open(db));
}

/** Citable collections: PostgreSQL when MODELHUB_DATABASE_URL is set (every replica the same), else SQLite. */
export async function openCollectionStore(config: HubConfig, database?: PostgresDatabase): Promise<CollectionStore> {
  if (!config.databaseUrl) return SqliteCollectionStore.open(SqliteCollectionStore.fileIn(config.dataDir));
  const { PostgresCollectionStore } = await import('./adapters/postgres-collection-store.ts');
  return withDatabase(config, database, (db) => PostgresCollectionStore.open(db));
}

/**
 * Compute endpoints: PostgreSQL when MODELHUB_DATABASE_URL is set (registered through one replica,
 * known to all), else `endpoints.db` in the data folder (docs/compute-endpoints.md).
 */
export async function openEndpointStore(config: HubConfig, database?: PostgresDatabase): Promise<EndpointStore> {
  if (config.databaseUrl) {
    const { PostgresEndpointStore } = await import('./adapters/postgres-endpoint-store.ts');
    return withDatabase(config, database, (db) => PostgresEndpointStore.open(db));
  }
  const { SqliteEndpointStore } = await import('./adapters/sqlite-endpoint-store.ts');
  return SqliteEndpointStore.open(SqliteEndpointStore.fileIn(config.dataDir));
}

/** Stored runs (provenance): PostgreSQL when MODELHUB_DATABASE_URL is set (read through any replica), else `runs.db`. */
export async function openRunStore(config: HubConfig, database?: PostgresDatabase): Promise<RunStore> {
  if (!config.databaseUrl) return SqliteRunStore.open(SqliteRunStore.fileIn(config.dataDir));
  const { PostgresRunStore } = await import('./adapters/postgres-run-store.ts');
  return withDatabase(config, database, (db) => PostgresRunStore.open(db));
}

/** Examples and reproducibility checks: PostgreSQL when MODELHUB_DATABASE_URL is set, else `reproducibility.db`. */
export async function openReproducibilityStore(config: HubConfig, database?: PostgresDatabase): Promise<ReproducibilityStore> {
  if (!config.databaseUrl) return SqliteReproducibilityStore.open(SqliteReproducibilityStore.fileIn(config.dataDir));
  const { PostgresReproducibilityStore } = await import('./adapters/postgres-reproducibility-store.ts');
  return withDatabase(config, database, (db) => PostgresReproducibilityStore.open(db));
}

/** Action Provider actions: PostgreSQL when MODELHUB_DATABASE_URL is set (found from every replica), else SQLite in `dataDir`. */
export async function openActionStore(config: HubConfig, database: PostgresDatabase | undefined, dataDir: string): Promise<ActionStore> {
  if (!config.databaseUrl) {
    const { SqliteActionStore } = await import('./adapters/sqlite-action-store.ts');
    return new SqliteActionStore(dataDir);
  }
  const { PostgresActionStore } = await import('./adapters/postgres-action-store.ts');
  return withDatabase(config, database, (db) => PostgresActionStore.open(db));
}

/** The audit log's store: one PostgreSQL table shared by every replica when MODELHUB_DATABASE_URL is set, else `audit.db` in the data folder. */
export async function openAuditStore(config: HubConfig, database?: PostgresDatabase): Promise<AuditStore> {
  if (!config.databaseUrl) {
    const { SqliteAuditStore } = await import('./adapters/sqlite-audit-store.ts');
    return SqliteAuditStore.open(SqliteAuditStore.fileIn(config.dataDir));
  }
  const { PostgresAuditStore } = await import('./adapters/postgres-audit-store.ts');
  return withDatabase(config, database, (db) => PostgresAuditStore.open(db));
}

/** Rate-limit buckets: in PostgreSQL (shared by every replica) when MODELHUB_DATABASE_URL is set, else in memory. */
export async function openRateLimitCounter(config: HubConfig, database: PostgresDatabase | undefined, onFallback?: (error: unknown) => void): Promise<RateLimitCounter> {
  const perMinute = config.rateLimitPerMinute;
  if (!config.databaseUrl) {
    const { MemoryRateLimitCounter } = await import('./adapters/memory-rate-limit-counter.ts');
    return new MemoryRateLimitCounter(perMinute);
  }
  const { PostgresRateLimitCounter } = await import('./adapters/postgres-rate-limit-counter.ts');
  return withDatabase(config, database, (db) => PostgresRateLimitCounter.open(db, perMinute, { onFallback }));
}

/** Work locks: PostgreSQL advisory locks shared by every replica when MODELHUB_DATABASE_URL is set, else in memory. */
export async function openWorkLocks(config: HubConfig, database: PostgresDatabase | undefined): Promise<WorkLocks> {
  if (!config.databaseUrl) {
    const { MemoryWorkLocks } = await import('./adapters/memory-work-locks.ts');
    return new MemoryWorkLocks();
  }
  const { PostgresWorkLocks } = await import('./adapters/postgres-work-locks.ts');
  return withDatabase(config, database, async (db) => PostgresWorkLocks.open(db));
}

/** Runs `open` on the given pool, or on one of its own that the adapter then owns. */
async function withDatabase<T>(config: HubConfig, database: PostgresDatabase | undefined, open: (db: PostgresDatabase) => Promise<T>): Promise<T> {
  if (database) return open(database);
  const own = (await openDatabase(config))!;
  try {
    return await open(own);
  } finally {
    await own.close(); // the adapter holds its own share of the pool
  }
}

export async function createBlobStore(config: HubConfig): Promise<BlobStore> {
  if (config.blobs === 's3') {
    const { S3BlobStore } = await import('./adapters/s3-blob-store.ts');
    return new S3BlobStore({
      endpoint: config.s3.endpoint!,
      bucket: config.s3.bucket,
      accessKey: config.s3.accessKey,
      secretKey: config.s3.secretKey,
      region: config.s3.region,
      cacheDir: path.join(config.dataDir, 'blob-cache'),
    });
  }
  return new FsBlobStore(path.join(config.dataDir, 'blobs'));
}

/** Batch data sets under S3 prefixes, where the operator lists buckets for them. */
export async function createDatasetSource(config: HubConfig): Promise<DatasetSource | undefined> {
  if (config.batchS3Buckets.length === 0) return undefined;
  const { S3DatasetSource } = await import('./adapters/s3-dataset-source.ts');
  return new S3DatasetSource({ endpoint: config.s3.endpoint!, accessKey: config.s3.accessKey, secretKey: config.s3.secretKey, region: config.s3.region, buckets: config.batchS3Buckets });
}

export async function createSearchIndex(config: HubConfig, database?: PostgresDatabase): Promise<SearchIndex> {
  if (config.search === 'postgres') {
    const { PostgresSearchIndex } = await import('./adapters/postgres-search-index.ts');
    return withDatabase(config, database, (db) => PostgresSearchIndex.open(db));
  }
  if (config.search === 'elasticsearch') {
    const { ElasticsearchSearchIndex } = await import('./adapters/elasticsearch-search-index.ts');
    const { url, username, password, apiKey, index } = config.elasticsearch;
    const auth = apiKey ? { apiKey } : username ? { username, password: password ?? '' } : undefined;
    return new ElasticsearchSearchIndex({ node: url!, auth, index });
  }
  return SqliteSearchIndex.open(path.join(config.dataDir, 'search.db'));
}

export async function createMinter(config: HubConfig): Promise<IdentifierMinter> {
  if (config.identifiers === 'datacite') {
    const { DataciteIdentifierMinter } = await import('./adapters/datacite-identifier-minter.ts');
    const { url, prefix, repositoryId, password } = config.datacite;
    return new DataciteIdentifierMinter({ url, prefix: prefix!, repositoryId: repositoryId!, password, publicUrl: config.publicUrl });
  }
  return new LocalIdentifierMinter(config.publicUrl);
}

/** Where the worker processes this hub starts are recorded, for reaping after a crash. */
export const workersDir = (config: HubConfig): string => path.join(config.dataDir, 'workers');

/** Where container servables run: the Docker engine or a Docker Swarm (dockerode, loaded only then), or local processes. */
export async function createContainerEngine(config: HubConfig): Promise<ContainerEngine> {
  if (config.containers === 'docker') {
    const { DockerContainerEngine } = await import('./adapters/docker-container-engine.ts');
    return new DockerContainerEngine();
  }
  if (config.containers === 'swarm') {
    const { SwarmContainerEngine } = await import('./adapters/swarm-container-engine.ts');
    const { constraints, publish, network, registry, nodeAddress } = config.swarm;
    return new SwarmContainerEngine({ constraints, publish, networkName: network, registry, nodeAddress });
  }
  return new ProcessContainerEngine({
    root: path.join(config.dataDir, 'process-images'),
    python: config.python,
    trackProcess: (pid) => recordWorker(workersDir(config), pid),
  });
}

/**
 * Every runtime this hub can serve, by servable type. Publisher code (Python servables) runs in
 * containers when the engine isolates (docker), or when a servable asks for `container_isolation`.
 */
export function createRuntimes(
  config: HubConfig,
  containers: ContainerRuntimeOptions,
  log: (line: string) => void = () => undefined,
): Map<ServableType, ServableRuntime> {
  const runtimes = new Map<ServableType, ServableRuntime>();
  // The graph runtimes (onnxruntime, TensorFlow.js, h5wasm) load on the first servable of their kind.
  // MODELHUB_WORKER_THREADS > 0: ONNX sessions run in that many worker threads, off the event loop.
  const workerThreads = config.gateway.workerThreads;
  runtimes.set('onnx', new LazyRuntime('onnx', async () => {
    if (workerThreads > 0) return new (await import('../servables/onnx-worker-runtime.ts')).OnnxWorkerRuntime(workerThreads);
    return new (await import('../servables/onnx-runtime.ts')).OnnxRuntime();
  }));
  runtimes.set('tfjs', new LazyRuntime('tfjs', async () => new (await import('../servables/tfjs-runtime.ts')).TfjsRuntime()));
  runtimes.set('keras', new LazyRuntime('keras', async () => new (await import('../servables/keras-runtime.ts')).KerasRuntime()));
  runtimes.set('tf-savedmodel', new LazyRuntime('tf-savedmodel', async () => new (await import('../servables/tf-savedmodel-runtime.ts')).TfSavedModelRuntime()));
  // Declared environments: one venv per environment hash, shared by the servables that declare it.
  const environments = new ProcessEnvironments({
    root: path.join(config.dataDir, 'environments'),
    python: config.python,
    indexUrl: config.pip.indexUrl,
    findLinks: config.pip.findLinks,
    debianInImages: config.containers !== 'process',
  });
  for (const runtime of createPythonRuntimes({ python: config.python, environments, logger: (line) => log(line), pidDir: workersDir(config) })) {
    runtimes.set(runtime.type, new IsolatedRuntime(runtime, containers, containers.engine.isolated, config.pip));
  }
  runtimes.set('container', new ContainerServableRuntime(containers));
  return runtimes;
}

/**
 * The runtime publish warm-ups load ONNX models with: always in a worker thread, off the event loop,
 * whatever MODELHUB_WORKER_THREADS says (the serving runtime itself when it already uses threads).
 * Loaded with the first ONNX publish.
 */
export function createOnnxWarmUpRuntime(serving: ServableRuntime | undefined): LazyRuntime {
  return new LazyRuntime('onnx', async () => {
    const { OnnxWorkerRuntime } = await import('../servables/onnx-worker-runtime.ts');
    const loaded = serving instanceof LazyRuntime ? await serving.runtime() : serving;
    return loaded instanceof OnnxWorkerRuntime ? ownedElsewhere(loaded) : new OnnxWorkerRuntime(1);
  });
}

/** A runtime another owner closes: closing this view of it does nothing. */
function ownedElsewhere(runtime: ServableRuntime): ServableRuntime {
  return { type: runtime.type, inspect: (...args) => runtime.inspect(...args), load: (...args) => runtime.load(...args) };
}

/** Everything a running hub holds: the adapters a configuration chose and the use cases on them. */
export interface Hub {
  config: HubConfig;
  /** The PostgreSQL pool the PostgreSQL adapters share (MODELHUB_DATABASE_URL); undefined with SQLite. */
  database: PostgresDatabase | undefined;
  registry: Registry;
  blobs: BlobStore;
  /** Batch data sets under S3 prefixes (MODELHUB_BATCH_S3_BUCKETS); undefined when none are allowed. */
  datasets: DatasetSource | undefined;
  index: SearchIndex;
  /** Index writes that survive the search backend being down (use it rather than `index` to write). */
  search: SearchSync;
  minter: IdentifierMinter;
  identifierSync: IdentifierSync;
  manager: ServableManager;
  gateway: Gateway;
  publisher: Publisher;
  cache: ResultCache;
  metrics: HubMetrics;
  /** Stored runs with their provenance records (docs/provenance.md). */
  runs: RunStore;
  provenance: ProvenanceService;
  runtimeVersions: RuntimeVersions;
  /** Citable collections of servable versions (docs/collections.md). */
  collections: CollectionService;
  /** Reproducibility checks of versions' examples, and the servable events (drift.detected among them). */
  reproducibility: ReproducibilityChecker;
  events: HubEvents;
  /** Webhooks of owners on their servables' events, and their delivery queue (docs/webhooks.md). */
  webhooks: WebhookService;
  /** Runs, errors, latency and distinct callers per version and day (docs/usage.md). */
  usage: UsageCounter;
  /** Where container servables run (Docker, or local processes). */
  engine: ContainerEngine;
  pool: ContainerPool;
  /** This hub's id, on the labels of everything it creates in the container engine. */
  instance: string;
  /** Locks for work one worker at a time does (across replicas in PostgreSQL mode). */
  locks: WorkLocks;
  tokens: TokenStore;
  /** Compute endpoints: who owns them, whom they are shared with, their tokens' hashes. */
  endpointStore: EndpointStore;
  audit: AuditLog;
  /** Rate-limit buckets (MODELHUB_RATE_LIMIT_PER_MINUTE); undefined when rate limits are off. */
  rateLimits: RateLimitCounter | undefined;
  /** The OpenID relying party; undefined unless MODELHUB_OIDC_ISSUER is set. */
  oidc: OidcRelyingParty | undefined;
  /** Globus Auth introspection; undefined unless MODELHUB_GLOBUS_CLIENT_ID is set. */
  globusAuth: GlobusAuthClient | undefined;
  federation: FederatedIdentity;
  /** Starts the background work (sweeps, identifier retries) once the hub is ready. */
  start(): void;
  /** Stops the background work and closes everything in the reverse order of opening. */
  close(): Promise<void>;
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

/**
 * Opens a hub for `config`: the data folder (held, in embedded mode), the adapters, the runtimes
 * and the use cases, and settles what a stop interrupted. Whatever was opened is closed again if a
 * later step fails, so a failed start leaves nothing running and the folder free.
 */
export async function openHub(config: HubConfig, log: FastifyBaseLogger): Promise<Hub> {
  const closers: (() => Promise<void> | void)[] = [];
  const closeAll = async () => {
    for (const close of closers.splice(0).reverse()) await close();
  };
  const opened = <T>(value: T, close: (value: T) => Promise<void> | void): T => {
    closers.push(() => close(value));
    return value;
  };
  try {
    await fs.mkdir(config.dataDir, { recursive: true });
    // In PostgreSQL mode the shared state is in the database, which any number of replicas share:
    // the data folder holds only caches and work files, and needs no lock.
    if (!config.databaseUrl) opened(await claimDataFolder(config.dataDir), (release) => release());
    return await openOnFolder(config, log, opened, closeAll);
  } catch (error) {
    await closeAll();
    throw error;
  }
}

type Opened = <T>(value: T, close: (value: T) => Promise<void> | void) => T;

async function openOnFolder(config: HubConfig, log: FastifyBaseLogger, opened: Opened, closeAll: () => Promise<void>): Promise<Hub> {
  // Workers that an earlier hub on this folder started and that outlived it go before new ones start.
  const reaped = await reapStaleWorkers(workersDir(config));
  if (reaped.length > 0) log.warn({ pids: reaped }, 'killed worker processes left by an earlier hub on this data folder');
  const metrics = createHubMetrics();
  const database = opened(await openDatabase(config), (db) => db?.close());
  const registry = opened(await openRegistry(config, database), (r) => r.close());
  const locks = opened(await openWorkLocks(config, database), (l) => l.close());
  const blobs = opened(await createBlobStore(config), (b) => b.close());
  const datasetSource = await createDatasetSource(config);
  const datasets = datasetSource && opened(datasetSource, (d) => d.close());
  const index = opened(await createSearchIndex(config, database), (i) => i.close());
  const minter = await createMinter(config);
  const instance = await hubInstanceId(config.dataDir);
  const engine = opened(await createContainerEngine(config), (e) => e.close());
  const pool = opened(new ContainerPool(engine, { instance, defaults: { defaultDeadlineMs: config.gateway.defaultDeadlineMs } }), (p) => p.close());
  opened(undefined, () => closePublishWork());
  await fs.mkdir(path.join(config.dataDir, 'builds'), { recursive: true });
  const containerOptions = { engine, pool, instance, workDir: path.join(config.dataDir, 'builds') };
  const runtimes = createRuntimes(config, containerOptions, (line) => log.info({ servable_log: line }, 'servable output'));
  // Runtimes that hold threads or processes of their own (ONNX worker threads) stop them.
  opened(runtimes, async (all) => {
    for (const runtime of all.values()) await runtime.close?.();
  });
  const manager: ServableManager = new ServableManager({
    runtimes,
    blobs,
    workDir: path.join(config.dataDir, 'servables'),
    budgetBytes: config.gateway.residencyBytes,
    metrics,
  });
  opened(undefined, () => manager.close());
  const cache = new ResultCache(config.gateway.cacheBytes, metrics);
  // Results a reader can check (docs/provenance.md): each run's provenance record, stored runs.
  const runs = opened(await openRunStore(config, database), (store) => store.close());
  const runtimeVersions = new RuntimeVersions({ python: config.python, containers: config.containers });
  const provenance = new ProvenanceService(runs, runtimeVersions);
  const usage = await openUsage(config, database, log, opened);
  const gateway = new Gateway({
    registry,
    manager,
    cache,
    metrics,
    observer: { provenance: (context) => provenance.record(context), count: (...args) => usage.count(...args) },
    maxQueue: config.gateway.maxQueue,
    defaultDeadlineMs: config.gateway.defaultDeadlineMs,
  });
  const search = opened(new SearchSync(index, { log: (message) => log.warn(message), backlogFile: path.join(config.dataDir, 'search-backlog') }), (s) => s.close());
  // Publish warm-ups run ONNX models in a worker thread, off the event loop, whichever runtime serves them.
  const warmUpOnnx = opened(createOnnxWarmUpRuntime(runtimes.get('onnx')), (runtime) => runtime.close());
  const publisher: Publisher = new Publisher({
    registry,
    blobs,
    search,
    minter,
    manager,
    metrics,
    workDir: path.join(config.dataDir, 'uploads'),
    publisher: 'modelhub',
    onPublished: (document) => gateway.invalidate(document.hub.owner, document.hub.name),
    log: (message) => log.warn(message),
    pauseAtStep: config.testPauseAtStep,
    warmUpRuntimes: new Map([['onnx', warmUpOnnx]]),
    locks,
  });

  opened(publisher, (p) => p.drain());

  // A hub killed mid-publish comes back with the task and the registry in agreement: a publish
  // stopped before its registry commit is FAILED with its version never listed; one stopped after
  // it (while indexing) is finished now and SUCCEEDED. The embedded index is then rebuilt from the
  // registry, the system of record, so that it holds exactly the published versions.
  const interrupted = await registry.settleInterruptedTasks('the hub stopped while this task was running');
  if (interrupted.failed > 0) log.warn({ interrupted: interrupted.failed }, 'marked tasks interrupted by a stop as FAILED');
  if (interrupted.committed.length > 0) {
    await publisher.completeInterrupted(interrupted.committed);
    log.warn({ completed: interrupted.committed.map((task) => task.task_id) }, 'finished publishes a stop interrupted after their registry commit');
  }
  // What died publishes left: upload folders (all of them now: no publish of this hub runs yet)
  // and blobs no version names, now and then periodically.
  const uploadsDir = path.join(config.dataDir, 'uploads');
  const sweeper: LeftoverSweeper = new LeftoverSweeper({
    uploadsDir,
    blobs,
    registry,
    graceMs: config.sweepGraceMs,
    intervalMs: config.sweepIntervalMs,
    inUse: () => publisher.blobsInUse(),
    uploadsInUse: () => publisher.uploadDirsInUse(),
    locks,
    log: (report) => log.warn({ uploads: report.uploads.length, blobs: report.blobs.length, bytes: report.bytes }, 'removed what interrupted publishes left'),
    onError: (error) => log.error({ err: error }, 'sweeping what interrupted publishes left failed; tried again later'),
  });
  // A data folder that replicas share (PostgreSQL mode) holds other replicas' running uploads: only old ones go.
  await sweepUploads(uploadsDir, { graceMs: config.databaseUrl ? config.sweepGraceMs : 0 });
  // A remote index (Elasticsearch) is rebuilt only when the last run stopped with writes it never
  // received; in the background, queued while the backend is still down, so start-up never waits.
  const published = () => registry.allPublished();
  if (index.kind === 'sqlite') await search.rebuildFrom(published);
  else if (search.missedWritesBeforeRestart) {
    log.warn('the search index missed writes before the last stop: rebuilding it from the registry');
    search.rebuildFrom(published).then(
      ({ deferred }) => log.warn(deferred ? 'search backend still unavailable: the rebuild is queued' : 'search index rebuilt'),
      (error: unknown) => log.error({ err: error }, 'rebuilding the search index failed; run modelhub reindex'),
    );
  }
  opened(sweeper, (s) => s.stop());
  // Citable collections: their members' identifiers carry IsPartOf them, so the sync asks the store.
  const collectionStore = opened(await openCollectionStore(config, database), (store) => store.close());
  const identifierSync = opened(createIdentifierSync(registry, minter, locks, (line) => log.warn(line), collectionPartOf(collectionStore, config.publicUrl)), (sync) => sync.stop());
  const collections = opened(
    new CollectionService({ store: collectionStore, registry, minter, publicUrl: config.publicUrl, resyncMembers: resyncThrough(identifierSync, registry), log: (line) => log.warn(line) }),
    (service) => service.stop(),
  );

  // Runs still finishing after the stop record no provenance into the closed run store.
  opened(undefined, () => {
    gateway.observer = undefined;
  });
  // Reproducibility checks (docs/provenance.md): examples re-run after publishing, on request, on
  // schedule and after a runtime change; the registry's writes become servable events.
  const reproducibilityStore = opened(await openReproducibilityStore(config, database), (store) => store.close());
  const events = new HubEvents();
  const reproducibility = opened(
    new ReproducibilityChecker({ registry, gateway, search, store: reproducibilityStore, runtimes: runtimeVersions, events, locks, log: (message, error) => log.warn(error ? { err: error } : {}, message) }),
    (checker) => checker.close(),
  );
  opened(observeRegistry(registry, events, (document) => reproducibility.published(document)), (restore) => restore());
  const webhooks = await openWebhooks(config, database, log, opened);
  events.on((event) => webhooks.handle(event));

  // Who is calling: tokens (PostgreSQL when MODELHUB_DATABASE_URL is set, so that a token made on
  // one replica works on all), the audit log, and the identity providers that are configured.
  const tokens = opened(await openTokenStore(config, database), (store) => store.close());
  const endpointStore = opened(await openEndpointStore(config, database), (store) => store.close());
  // The audit log too: one table for every replica in PostgreSQL mode.
  const audit = opened(
    new AuditLog(await openAuditStore(config, database), {
      retentionDays: config.auditRetentionDays,
      onError: (error) => log.error({ err: error }, 'could not write the audit log'),
    }),
    (a) => a.close(),
  );
  const rateLimits =
    config.rateLimitPerMinute > 0
      ? opened(await openRateLimitCounter(config, database, (error) => log.warn({ err: error }, 'rate limits counted per replica: PostgreSQL does not answer')), (r) => r.close())
      : undefined;
  const oidc = config.oidc ? new (await import('./adapters/oidc-relying-party.ts')).OidcRelyingParty(config.oidc, `${config.publicUrl}/auth/callback`) : undefined;
  const globusAuth = config.globus ? new GlobusAuthClient(config.globus) : undefined;
  const federation = new FederatedIdentity(tokens, config.oidc);

  return {
    config, database, registry, blobs, datasets, index, search, minter, identifierSync, manager, gateway, publisher, cache, metrics, runs, provenance, runtimeVersions, collections, reproducibility, events, webhooks, usage, engine, pool, instance, locks,
    tokens, endpointStore, audit, rateLimits, oidc, globusAuth, federation,
    start: () => {
      sweeper.start();
      identifierSync.start(config.identifierRetryMs);
      collections.start(config.identifierRetryMs);
      reproducibility.start(config.verifyIntervalMs);
      webhooks.start();
      usage.start();
      // A runtime upgraded since the last checks: re-checked in the background, start-up never waits.
      void reproducibility.checkRuntimeUpgrades().then(
        (checks) => checks.length > 0 && log.warn({ checked: checks.map((c) => `${c.owner}/${c.name}@${c.version}: ${c.summary}`) }, 're-checked examples after a runtime change'),
        (error: unknown) => log.error({ err: error }, 're-checking examples after a runtime change failed'),
      );
    },
    close: closeAll,
  };
}

/**
 * Webhooks (docs/webhooks.md): their store and delivery queue in PostgreSQL when
 * MODELHUB_DATABASE_URL is set (one queue every replica's dispatcher claims from), else
 * `webhooks.db` in the data folder; sent by the HTTP sender with its address guard.
 */
async function openWebhooks(config: HubConfig, database: PostgresDatabase | undefined, log: FastifyBaseLogger, opened: Opened): Promise<WebhookService> {
  const store: WebhookStore = opened(
    config.databaseUrl
      ? await withDatabase(config, database, async (db) => (await import('./adapters/postgres-webhook-store.ts')).PostgresWebhookStore.open(db))
      : SqliteWebhookStore.open(SqliteWebhookStore.fileIn(config.dataDir)),
    (s) => s.close(),
  );
  const { timeoutMs, allowLoopback, allowLinkLocal, ...retries } = config.webhooks;
  const sender = new HttpWebhookSender({ timeoutMs, allowLoopback, allowLinkLocal });
  return opened(new WebhookService(store, sender, { ...retries, leaseMs: timeoutMs + 30_000, log: (message, error) => log.warn(error ? { err: error } : {}, message) }), (service) => service.close());
}

/** Usage counts (docs/usage.md): counted in memory, flushed to PostgreSQL (shared by replicas) or `usage.db`. */
async function openUsage(config: HubConfig, database: PostgresDatabase | undefined, log: FastifyBaseLogger, opened: Opened): Promise<UsageCounter> {
  const store: UsageStore = opened(
    config.databaseUrl
      ? await withDatabase(config, database, async (db) => (await import('./adapters/postgres-usage-store.ts')).PostgresUsageStore.open(db))
      : SqliteUsageStore.open(SqliteUsageStore.fileIn(config.dataDir)),
    (s) => s.close(),
  );
  return opened(new UsageCounter(store, { flushIntervalMs: config.usageFlushMs, onError: (error) => log.warn({ err: error }, 'could not write usage counts; kept for the next flush') }), (counter) => counter.close());
}
