/**
 * The container pool and the container runtime on the process engine: the real servable runner
 * (servables/container/runner.py with servables/python/worker.py) as child processes of the test.
 * The same pool runs Docker containers in test/e2e/docker-*.test.ts.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessContainerEngine } from '../../hub-server/adapters/process-container-engine.ts';
import { ContainerPool, type PoolEvent } from '../../servables/container-pool.ts';
import { LABELS } from '../../schemas/ports/container-engine.ts';
import { buildServableImage, servableLabels } from '../../servables/image-builder.ts';
import { loadContainerServable, poolKey } from '../../servables/container-runtime.ts';
import type { Servable } from '../../schemas/ports/servable.ts';
import { adderServable, CONTAINER_FIXTURES, localFiles, publishedDocument } from '../fixtures/containers/documents.ts';

const INSTANCE = 'unit-pool';
let root: string;
let engine: ProcessContainerEngine;
let pool: ContainerPool;
const events: PoolEvent[] = [];

const json = (value: unknown) => ({ kind: 'json' as const, value });

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'modelhub-pool-'));
  engine = new ProcessContainerEngine({ root: path.join(root, 'images'), python: '/usr/bin/python3' });
  pool = new ContainerPool(engine, { instance: INSTANCE, onEvent: (event) => events.push(event) });
});

afterAll(async () => {
  await pool?.close();
  await engine?.close();
  await rm(root, { recursive: true, force: true });
});

async function adder(version: number, policy: Parameters<ContainerPool['register']>[1]['policy']): Promise<{ servable: Servable; key: string }> {
  const files = await localFiles(path.join(CONTAINER_FIXTURES, 'adder'));
  const document = publishedDocument('tests', 'adder', version, adderServable(), files);
  const servable = await loadContainerServable(document, files, { engine, pool, instance: INSTANCE, policy: () => policy });
  return { servable, key: poolKey(document) };
}

describe('container pool on the process engine', () => {
  it('runs a python servable through the runner and matches Python sum()', async () => {
    const { servable, key } = await adder(1, { minWarm: 1, maxContainers: 1 });
    expect(pool.stats(key).ready).toBe(1);
    const values = [1.5, 2.25, -3, 10];
    const output = await servable.run(json(values), {});
    expect(output).toEqual(json(1.5 + 2.25 - 3 + 10));
    const slept = await servable.run(json(0.01), { method: 'slow' });
    expect((slept as { value: { slept: number } }).value.slept).toBe(0.01);
    await servable.dispose();
    expect(pool.has(key)).toBe(false);
  });

  it('scales to zero after the idle time and starts again for the next request', async () => {
    const { servable, key } = await adder(2, { minWarm: 0, maxContainers: 1, idleMs: 300 });
    expect(pool.stats(key).ready).toBe(0);
    expect(await servable.run(json([1, 2]), {})).toEqual(json(3));
    expect(pool.stats(key).ready).toBe(1);
    const until = Date.now() + 5000;
    while (pool.stats(key).ready > 0 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(pool.stats(key).ready).toBe(0);
    expect(events.some((event) => event.servable === key && event.event === 'idle-stop')).toBe(true);
    expect(await servable.run(json([4, 5]), {})).toEqual(json(9));
    await servable.dispose();
  });

  it('fails a request whose container is killed mid-request, then serves from a replacement', async () => {
    const { servable, key } = await adder(3, { minWarm: 1, maxContainers: 1 });
    const [first] = pool.containers(key);
    const pending = servable.run(json(5), { method: 'slow' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    process.kill(engine.pidOf(first!.id)!, 'SIGKILL');
    await expect(pending).rejects.toMatchObject({ code: 'MODELHUB_SERVABLE_FAILED', message: expect.stringMatching(/stopped during the request \(killed \(SIGKILL\)\)/) });
    expect(await servable.run(json([7, 8]), {})).toEqual(json(15));
    const [second] = pool.containers(key);
    expect(second!.id).not.toBe(first!.id);
    expect(events.some((event) => event.servable === key && event.event === 'crashed')).toBe(true);
    await servable.dispose();
  });

  it('keeps at most concurrencyPerContainer requests in one container at a time', async () => {
    const { servable, key } = await adder(4, { minWarm: 1, maxContainers: 1, concurrencyPerContainer: 1 });
    let maxInflight = 0;
    const watcher = setInterval(() => { maxInflight = Math.max(maxInflight, pool.stats(key).inflight); }, 5);
    const started = Date.now();
    const outputs = await Promise.all([0.3, 0.3, 0.3].map((seconds) => servable.run(json(seconds), { method: 'slow' })));
    clearInterval(watcher);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(maxInflight).toBe(1);
    expect(new Set(outputs.map((output) => (output as { value: { pid: number } }).value.pid)).size).toBe(1);
    await servable.dispose();
  });

  it('fails waiting requests at once with the reason when a container cannot start', async () => {
    const files = await localFiles(path.join(CONTAINER_FIXTURES, 'adder'));
    const document = publishedDocument('tests', 'broken-import', 1, { ...adderServable(), python: { module: 'missing.py', function: 'add' } }, files);
    const image = await buildServableImage(engine, { document, files, instance: INSTANCE });
    await pool.register('tests/broken-import@1', { image, labels: servableLabels(document, INSTANCE), policy: { readyTimeoutMs: 10_000 } });
    const started = Date.now();
    await expect(pool.infer('tests/broken-import@1', { inputs: [] }, { deadline: Date.now() + 20_000 })).rejects.toMatchObject({
      code: 'MODELHUB_NOT_READY',
      message: expect.stringMatching(/exited before it became ready[\s\S]*missing\.py/),
    });
    expect(Date.now() - started).toBeLessThan(10_000);
    await pool.unregister('tests/broken-import@1');
  });

  it('gc removes the images and runners of this instance that nothing uses', async () => {
    const { servable } = await adder(5, { minWarm: 1 });
    const report = await pool.gc();
    // Versions 1-4 and broken-import are no longer registered; version 5 is.
    expect(report.images.sort()).toEqual([1, 2, 3, 4].map((v) => `modelhub/unit-pool/tests/adder:${v}`).concat('modelhub/unit-pool/tests/broken-import:1').sort());
    expect(report.containers).toEqual([]);
    expect(await engine.findImage('modelhub/unit-pool/tests/adder:5')).toMatchObject({ labels: { [LABELS.version]: '5' } });
    await servable.dispose();
  });
});
