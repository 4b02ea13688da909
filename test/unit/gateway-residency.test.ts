/**
 * Residency: single-flight loads, LRU unloading under the memory budget, pinning, and never
 * unloading a servable while it runs. The runtime is a counting one: what is under test is the
 * manager's bookkeeping, not a model.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../hub-server/adapters/fs-blob-store.ts';
import { createHubMetrics } from '../../hub-server/use-cases/gateway/metrics.ts';
import { ServableManager } from '../../hub-server/use-cases/gateway/servable-manager.ts';
import type { PublishedMetadata } from '../../schemas/metadata.ts';
import type { Servable, ServableRuntime } from '../../schemas/ports/servable.ts';
import { publishedDocument } from '../contract/metadata-fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'residency-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

class CountingRuntime implements ServableRuntime {
  readonly type = 'onnx' as const;
  readonly loads: string[] = [];
  readonly disposed: string[] = [];

  async inspect(): Promise<never> {
    throw new Error('not used');
  }

  async load(document: PublishedMetadata): Promise<Servable> {
    const name = document.hub.name;
    this.loads.push(name);
    // A load takes a while, so that concurrent first requests overlap it.
    await new Promise((resolve) => setTimeout(resolve, 20));
    const disposed = this.disposed;
    return {
      type: 'onnx',
      io: 'json',
      memoryBytes: 100,
      run: async (input) => input,
      dispose: async () => void disposed.push(name),
    };
  }
}

const doc = (name: string, pinned = false): PublishedMetadata => {
  const d = publishedDocument({ owner: 'res', name, title: name });
  d.hub.files = [];
  if (pinned) d.servable.options = { pinned: true };
  return d;
};

function manager(budgetBytes: number) {
  const runtime = new CountingRuntime();
  const metrics = createHubMetrics();
  const m = new ServableManager({
    runtimes: new Map([['onnx', runtime]]),
    blobs: new FsBlobStore(join(dir, 'blobs')),
    workDir: join(dir, 'work'),
    budgetBytes,
    metrics,
  });
  return { m, runtime, metrics };
}

const use = async (m: ServableManager, d: PublishedMetadata) => m.release(await m.acquire(d));
const loadedNames = (m: ServableManager) => m.listLoaded().map((l) => l.key.split('/')[1]!.split('@')[0]).sort();

describe('ServableManager', () => {
  it('loads once however many first requests arrive together', async () => {
    const { m, runtime, metrics } = manager(10_000);
    const d = doc('popular');
    const entries = await Promise.all(Array.from({ length: 20 }, () => m.acquire(d)));
    expect(runtime.loads).toEqual(['popular']);
    expect(new Set(entries).size).toBe(1);
    expect(entries[0]!.running).toBe(20);
    entries.forEach((e) => m.release(e));
    expect((await metrics.loadedServables.get()).values[0]!.value).toBe(1);
    await m.close();
  });

  it('unloads the least recently used servables to stay under the budget', async () => {
    const { m, runtime, metrics } = manager(250);
    await use(m, doc('a'));
    await use(m, doc('b'));
    await use(m, doc('a')); // b is now the least recently used
    await use(m, doc('c'));
    expect(loadedNames(m)).toEqual(['a', 'c']);
    expect(runtime.disposed).toEqual(['b']);
    // Loading b again happens on demand and pushes out a, now the oldest.
    await use(m, doc('b'));
    expect(loadedNames(m)).toEqual(['b', 'c']);
    expect(runtime.loads).toEqual(['a', 'b', 'c', 'b']);
    expect(m.residentBytes).toBeLessThanOrEqual(250);
    const loads = (await metrics.loads.get()).values;
    expect(loads.find((v) => v.labels.event === 'unload')!.value).toBe(2);
    const resident = (await metrics.residentBytes.get()).values.map((v) => v.labels.servable).sort();
    expect(resident).toEqual(['res/b', 'res/c']);
    await m.close();
  });

  it('never unloads a pinned servable or one that is running', async () => {
    const { m } = manager(250);
    await use(m, doc('pinned', true));
    await m.pin(doc('pinned-later'));
    const running = await m.acquire(doc('busy'));
    await use(m, doc('d'));
    // Over budget (400 bytes) with nothing it may unload except the newcomer it must keep.
    expect(loadedNames(m)).toEqual(['busy', 'd', 'pinned', 'pinned-later']);
    m.release(running);
    await use(m, doc('e'));
    expect(loadedNames(m)).toEqual(['e', 'pinned', 'pinned-later']);
    await m.close();
  });

  it('evicts (explicit unload) a pinned servable only once its running requests finish', async () => {
    const { m, runtime } = manager(10_000);
    const version = (name: string, v: number) => {
      const d = doc(name);
      d.hub.version = v;
      return d;
    };
    await m.pin(version('kept', 1));
    await use(m, version('kept', 2));
    await use(m, doc('other'));
    const running = await m.acquire(version('kept', 1));
    let evicted: number[] | undefined;
    const eviction = m.evict('res', 'kept').then((versions) => (evicted = versions));
    await new Promise((resolve) => setTimeout(resolve, 30));
    // Version 1 still runs a request: it stays loaded, undisposed, until released.
    expect(evicted).toBeUndefined();
    expect(m.isLoaded('res', 'kept', 1)).toBe(true);
    expect(runtime.disposed).not.toContain('kept');
    m.release(running);
    await eviction;
    expect(evicted).toEqual([2, 1]);
    expect(runtime.disposed).toEqual(['kept', 'kept']);
    expect(loadedNames(m)).toEqual(['other']);
    // Unpinned now: a later request loads it again on demand, and the budget may unload it.
    await use(m, version('kept', 1));
    expect(m.listLoaded().find((l) => l.key === 'res/kept@1')?.pinned).toBe(false);
    expect(await m.evict('res', 'nothing-loaded')).toEqual([]);
    await m.close();
  });
});
