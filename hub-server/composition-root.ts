/**
 * Chooses an adapter for each port from the configuration. The embedded defaults need no server;
 * the scalable ones are selected by MODELHUB_BLOBS, MODELHUB_SEARCH, MODELHUB_IDENTIFIERS and
 * MODELHUB_CONTAINERS with no code change.
 */
import path from 'node:path';
import { ConfigError, type HubConfig } from './config.ts';
import type { PostgresDatabase } from './adapters/postgres-database.ts';
import type { TokenStore } from '../schemas/ports/token-store.ts';
import type { ActionStore } from '../schemas/ports/action-store.ts';
import type { BlobStore } from '../schemas/ports/blob-store.ts';
import type { IdentifierMinter } from '../schemas/ports/identifier-minter.ts';
import type { Registry } from '../schemas/ports/registry.ts';
import type { SearchIndex } from '../schemas/ports/search-index.ts';
import { DataciteIdentifierMinter } from './adapters/datacite-identifier-minter.ts';
import { FsBlobStore } from './adapters/fs-blob-store.ts';
import { LocalIdentifierMinter } from './adapters/local-identifier-minter.ts';
import { SqliteRegistry } from './adapters/sqlite-registry.ts';
import { SqliteSearchIndex } from './adapters/sqlite-search-index.ts';
import type { ServableType } from '../schemas/metadata.ts';
import type { ServableRuntime } from '../schemas/ports/servable.ts';
import { OnnxRuntime } from '../servables/onnx-runtime.ts';
import { OnnxWorkerRuntime } from '../servables/onnx-worker-runtime.ts';
import { createPythonRuntimes } from '../servables/python-runtime.ts';
import { KerasRuntime } from '../servables/keras-runtime.ts';
import { TfjsRuntime } from '../servables/tfjs-runtime.ts';
import { TfSavedModelRuntime } from '../servables/tf-savedmodel-runtime.ts';
import { ContainerServableRuntime, type ContainerRuntimeOptions } from '../servables/container-runtime.ts';
import { IsolatedRuntime } from '../servables/isolated-runtime.ts';
import { ProcessEnvironments } from '../servables/process-environments.ts';
import { recordWorker } from '../servables/worker-pid-files.ts';
import type { ContainerEngine } from '../schemas/ports/container-engine.ts';
import { DockerContainerEngine } from './adapters/docker-container-engine.ts';
import { ProcessContainerEngine } from './adapters/process-container-engine.ts';

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

/** Action Provider actions: PostgreSQL when MODELHUB_DATABASE_URL is set (found from every replica), else SQLite in `dataDir`. */
export async function openActionStore(config: HubConfig, database: PostgresDatabase | undefined, dataDir: string): Promise<ActionStore> {
  if (!config.databaseUrl) {
    const { SqliteActionStore } = await import('./adapters/sqlite-action-store.ts');
    return new SqliteActionStore(dataDir);
  }
  const { PostgresActionStore } = await import('./adapters/postgres-action-store.ts');
  return withDatabase(config, database, (db) => PostgresActionStore.open(db));
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

export function createMinter(config: HubConfig): IdentifierMinter {
  if (config.identifiers === 'datacite') {
    const { url, prefix, repositoryId, password } = config.datacite;
    return new DataciteIdentifierMinter({ url, prefix: prefix!, repositoryId: repositoryId!, password, publicUrl: config.publicUrl });
  }
  return new LocalIdentifierMinter(config.publicUrl);
}

/** Where the worker processes this hub starts are recorded, for reaping after a crash. */
export const workersDir = (config: HubConfig): string => path.join(config.dataDir, 'workers');

/** Every runtime this hub can serve, by servable type. */
export function createContainerEngine(config: HubConfig): ContainerEngine {
  if (config.containers === 'docker') return new DockerContainerEngine();
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
  // MODELHUB_WORKER_THREADS > 0: ONNX sessions run in that many worker threads, off the event loop.
  runtimes.set('onnx', config.gateway.workerThreads > 0 ? new OnnxWorkerRuntime(config.gateway.workerThreads) : new OnnxRuntime());
  runtimes.set('tfjs', new TfjsRuntime());
  runtimes.set('keras', new KerasRuntime());
  runtimes.set('tf-savedmodel', new TfSavedModelRuntime());
  // Declared environments: one venv per environment hash, shared by the servables that declare it.
  const environments = new ProcessEnvironments({
    root: path.join(config.dataDir, 'environments'),
    python: config.python,
    indexUrl: config.pip.indexUrl,
    findLinks: config.pip.findLinks,
    debianInImages: config.containers === 'docker',
  });
  for (const runtime of createPythonRuntimes({ python: config.python, environments, logger: (line) => log(line), pidDir: workersDir(config) })) {
    runtimes.set(runtime.type, new IsolatedRuntime(runtime, containers, containers.engine.isolated, config.pip));
  }
  runtimes.set('container', new ContainerServableRuntime(containers));
  return runtimes;
}
