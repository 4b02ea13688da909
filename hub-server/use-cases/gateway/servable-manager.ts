/**
 * Residency: which servable versions are loaded. Loads on demand, once however many first requests
 * arrive together (single flight), keeps loaded servables under a memory budget by unloading the
 * least recently used idle ones, and never unloads a pinned servable or one that is running.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { HubError } from '../../../schemas/errors.ts';
import type { BlobStore } from '../../../schemas/ports/blob-store.ts';
import type { PublishedMetadata, ServableType } from '../../../schemas/metadata.ts';
import type { LocalFile, Servable, ServableRuntime } from '../../../schemas/ports/servable.ts';
import type { HubMetrics } from './metrics.ts';

export interface LoadedServable {
  readonly key: string;
  readonly document: PublishedMetadata;
  readonly servable: Servable;
  lastUsed: number;
  running: number;
  pinned: boolean;
}

export const servableKey = (owner: string, name: string, version: number): string => `${owner}/${name}@${version}`;

/** Lay the version's files out under their published paths (links to blobs), for runtimes that need a folder. */
export async function materializeFiles(blobs: BlobStore, document: PublishedMetadata, root: string): Promise<LocalFile[]> {
  const { owner, name, version, files } = document.hub;
  const folder = path.join(root, owner, name, String(version));
  await fs.mkdir(folder, { recursive: true });
  const result: LocalFile[] = [];
  for (const file of files) {
    const target = path.join(folder, file.path);
    if (!target.startsWith(folder + path.sep)) throw new HubError('INVALID_ARCHIVE', `file path ${file.path} escapes the servable folder`);
    const source = await blobs.localPath(file.sha256);
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.rm(target, { force: true });
    await fs.symlink(source, target);
    result.push({ path: file.path, localPath: target, sha256: file.sha256, size: file.size });
  }
  return result;
}

export interface ServableManagerOptions {
  runtimes: ReadonlyMap<ServableType, ServableRuntime>;
  blobs: BlobStore;
  workDir: string;
  budgetBytes: number;
  metrics?: HubMetrics;
}

export class ServableManager {
  private readonly loaded = new Map<string, LoadedServable>();
  private readonly loading = new Map<string, Promise<LoadedServable>>();
  /** Evictions waiting for a servable's running requests to finish, by key. */
  private readonly idleWaiters = new Map<string, (() => void)[]>();

  constructor(private readonly options: ServableManagerOptions) {}

  runtimeFor(type: ServableType): ServableRuntime {
    const runtime = this.options.runtimes.get(type);
    if (!runtime) throw new HubError('RUNTIME_UNAVAILABLE', `no runtime for servable type "${type}" is configured`);
    return runtime;
  }

  /** The loaded servable for this document, loading it if needed; the caller must `release` it. */
  async acquire(document: PublishedMetadata): Promise<LoadedServable> {
    const key = servableKey(document.hub.owner, document.hub.name, document.hub.version);
    let entry = this.loaded.get(key);
    if (!entry) {
      let pending = this.loading.get(key);
      if (!pending) {
        pending = this.load(key, document).finally(() => this.loading.delete(key));
        this.loading.set(key, pending);
      }
      entry = await pending;
    }
    entry.running++;
    entry.lastUsed = performance.now();
    return entry;
  }

  release(entry: LoadedServable): void {
    entry.running--;
    entry.lastUsed = performance.now();
    if (entry.running === 0) {
      const waiters = this.idleWaiters.get(entry.key);
      this.idleWaiters.delete(entry.key);
      waiters?.forEach((wake) => wake());
    }
  }

  isLoaded(owner: string, name: string, version: number): boolean {
    return this.loaded.has(servableKey(owner, name, version));
  }

  /** Load (if needed) and keep resident: the memory budget never unloads it until `evict`. */
  async pin(document: PublishedMetadata): Promise<void> {
    const entry = await this.acquire(document);
    entry.pinned = true;
    this.release(entry);
  }

  /**
   * Unpin and unload every resident version of owner/name (an explicit unload). Unlike
   * `unloadServable`, requests already running finish first: each version is unloaded once idle,
   * and a later request loads it again on demand. Resolves with the versions it unloaded.
   */
  async evict(owner: string, name: string): Promise<number[]> {
    const ofServable = (key: string) => key.startsWith(`${owner}/${name}@`);
    // A load under way would land after this eviction and stay: let it land first.
    await Promise.allSettled([...this.loading].filter(([key]) => ofServable(key)).map(([, pending]) => pending));
    const evicted: number[] = [];
    for (const entry of [...this.loaded.values()].filter((e) => ofServable(e.key))) {
      entry.pinned = false;
      while (entry.running > 0) await new Promise<void>((wake) => this.idleWaiters.set(entry.key, [...(this.idleWaiters.get(entry.key) ?? []), wake]));
      // Idle now, and `unload` forgets it before its first await: no request can start on it in between.
      if (this.loaded.get(entry.key) !== entry) continue;
      await this.unload(entry.key);
      evicted.push(entry.document.hub.version);
    }
    return evicted.sort((a, b) => b - a);
  }

  private async load(key: string, document: PublishedMetadata): Promise<LoadedServable> {
    const runtime = this.runtimeFor(document.servable.type);
    const files = await materializeFiles(this.options.blobs, document, this.options.workDir);
    const servable = await runtime.load(document, files);
    const entry: LoadedServable = {
      key,
      document,
      servable,
      lastUsed: performance.now(),
      running: 0,
      pinned: document.servable.options?.pinned === true,
    };
    this.loaded.set(key, entry);
    this.options.metrics?.loads.inc({ event: 'load' });
    this.options.metrics?.loadedServables.set(this.loaded.size);
    this.options.metrics?.residentBytes.set({ servable: `${document.hub.owner}/${document.hub.name}`, version: document.hub.version }, servable.memoryBytes);
    await this.enforceBudget(key);
    return entry;
  }

  get residentBytes(): number {
    let total = 0;
    for (const entry of this.loaded.values()) total += entry.servable.memoryBytes;
    return total;
  }

  /** Unload least recently used idle, unpinned servables until under budget (never `keep`). */
  private async enforceBudget(keep: string): Promise<void> {
    if (this.residentBytes <= this.options.budgetBytes) return;
    const candidates = [...this.loaded.values()]
      .filter((entry) => entry.key !== keep && !entry.pinned && entry.running === 0)
      .sort((a, b) => a.lastUsed - b.lastUsed);
    for (const entry of candidates) {
      if (this.residentBytes <= this.options.budgetBytes) break;
      await this.unload(entry.key);
    }
  }

  async unload(key: string): Promise<void> {
    const entry = this.loaded.get(key);
    if (!entry) return;
    this.loaded.delete(key);
    this.options.metrics?.loads.inc({ event: 'unload' });
    this.options.metrics?.loadedServables.set(this.loaded.size);
    this.options.metrics?.residentBytes.remove({ servable: `${entry.document.hub.owner}/${entry.document.hub.name}`, version: entry.document.hub.version });
    await entry.servable.dispose().catch(() => undefined);
  }

  /** Unload every version of owner/name (after a withdrawal). */
  async unloadServable(owner: string, name: string, version?: number): Promise<void> {
    for (const entry of [...this.loaded.values()]) {
      const hub = entry.document.hub;
      if (hub.owner === owner && hub.name === name && (version === undefined || hub.version === version)) {
        await this.unload(entry.key);
      }
    }
  }

  listLoaded(): { key: string; memoryBytes: number; pinned: boolean; running: number }[] {
    return [...this.loaded.values()].map((e) => ({ key: e.key, memoryBytes: e.servable.memoryBytes, pinned: e.pinned, running: e.running }));
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.loading.values()]);
    for (const key of [...this.loaded.keys()]) await this.unload(key);
  }
}
