/**
 * Chooses an adapter for each port from the configuration. The embedded defaults need no server;
 * the scalable ones are selected by MODELHUB_BLOBS, MODELHUB_SEARCH, MODELHUB_IDENTIFIERS and
 * MODELHUB_CONTAINERS with no code change.
 */
import path from 'node:path';
import type { HubConfig } from './config.ts';
import type { BlobStore } from './ports/blob-store.ts';
import type { IdentifierMinter } from './ports/identifier-minter.ts';
import type { Registry } from './ports/registry.ts';
import type { SearchIndex } from './ports/search-index.ts';
import { DataciteIdentifierMinter } from './adapters/datacite-identifier-minter.ts';
import { FsBlobStore } from './adapters/fs-blob-store.ts';
import { LocalIdentifierMinter } from './adapters/local-identifier-minter.ts';
import { SqliteRegistry } from './adapters/sqlite-registry.ts';
import { SqliteSearchIndex } from './adapters/sqlite-search-index.ts';
import type { ServableType } from '../schemas/metadata.ts';
import type { ServableRuntime } from '../servables/servable.ts';
import { OnnxRuntime } from '../servables/onnx-runtime.ts';
import { OnnxWorkerRuntime } from '../servables/onnx-worker-runtime.ts';
import { createPythonRuntimes } from '../servables/python-runtime.ts';
import { KerasRuntime } from '../servables/keras-runtime.ts';
import { TfjsRuntime } from '../servables/tfjs-runtime.ts';
import { TfSavedModelRuntime } from '../servables/tf-savedmodel-runtime.ts';
import { ContainerServableRuntime, type ContainerRuntimeOptions } from '../servables/container-runtime.ts';
import { IsolatedRuntime } from '../servables/isolated-runtime.ts';
import { recordWorker } from '../servables/worker-pid-files.ts';
import type { ContainerEngine } from './ports/container-engine.ts';
import { DockerContainerEngine } from './adapters/docker-container-engine.ts';
import { ProcessContainerEngine } from './adapters/process-container-engine.ts';

export function createRegistry(config: HubConfig): Registry {
  return SqliteRegistry.open(path.join(config.dataDir, 'registry.db'));
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

export async function createSearchIndex(config: HubConfig): Promise<SearchIndex> {
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
  for (const runtime of createPythonRuntimes({ python: config.python, logger: (line) => log(line), pidDir: workersDir(config) })) {
    runtimes.set(runtime.type, new IsolatedRuntime(runtime, containers, containers.engine.isolated));
  }
  runtimes.set('container', new ContainerServableRuntime(containers));
  return runtimes;
}
