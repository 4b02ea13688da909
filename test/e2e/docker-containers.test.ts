/**
 * Container servables against the real Docker engine, and the same tests against a one-node Docker
 * Swarm (MODELHUB_CONTAINERS=swarm, each container a Swarm service): base images built from Debian (once, then
 * cached on the engine), a scikit-learn model built into an image and compared with Python's own
 * predictions, the echo-sum generic container, isolation, scale to zero and back, a container killed
 * mid-request, a Dockerfile that fails to build, a program that never becomes ready, and cleanup.
 * Docker is started by scripts/docker/start-dockerd.sh when none answers, and the swarm by
 * scripts/docker/start-swarm.sh; without them this fails.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBaseImages } from '../../servables/base-images.ts';
import { buildServableImage, servableLabels } from '../../servables/image-builder.ts';
import type { DockerContainerEngine } from '../../hub-server/adapters/docker-container-engine.ts';
import type { SwarmContainerEngine } from '../../hub-server/adapters/swarm-container-engine.ts';
import { ContainerPool } from '../../servables/container-pool.ts';
import { LABELS } from '../../schemas/ports/container-engine.ts';
import type { ServableBlock } from '../../schemas/metadata.ts';
import { ContainerServableRuntime, loadContainerServable, poolKey } from '../../servables/container-runtime.ts';
import type { Servable } from '../../schemas/ports/servable.ts';
import { dockerEngineForTests } from '../fixtures/containers/docker-engine.ts';
import { swarmEngineForTests } from '../fixtures/containers/swarm-engine.ts';
import { anyArgument, CONTAINER_FIXTURES, localFiles, publishedDocument } from '../fixtures/containers/documents.ts';

let INSTANCE = `e2e-${process.pid}`;
const run = promisify(execFile);
const json = (value: unknown) => ({ kind: 'json' as const, value });

let engine: DockerContainerEngine | SwarmContainerEngine;
let pool: ContainerPool;
let runtime: ContainerServableRuntime;
let work: string;
let imagesBefore: Set<string>;

const labelFilter = () => ({ label: [`${LABELS.instance}=${INSTANCE}`] });
const ourContainers = () => engine.docker.listContainers({ all: true, filters: labelFilter() });

async function exec(containerId: string, command: string[]): Promise<{ code: number; output: string }> {
  const execution = await engine.docker.getContainer(containerId).exec({ Cmd: command, AttachStdout: true, AttachStderr: true });
  const stream = await execution.start({});
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', resolve);
    stream.on('error', reject);
  });
  const info = await execution.inspect();
  // Strip Docker's 8-byte stream frame headers.
  const buffer = Buffer.concat(chunks);
  const parts: string[] = [];
  for (let at = 0; at + 8 <= buffer.length; ) {
    const size = buffer.readUInt32BE(at + 4);
    parts.push(buffer.subarray(at + 8, at + 8 + size).toString());
    at += 8 + size;
  }
  return { code: info.ExitCode ?? -1, output: parts.join('') };
}

async function genericServable(name: string, policy: Parameters<ContainerPool['register']>[1]['policy']): Promise<{ servable: Servable; key: string }> {
  const files = await localFiles(path.join(CONTAINER_FIXTURES, 'echo-sum'));
  const block: ServableBlock = { type: 'container', methods: { run: { input: anyArgument, output: anyArgument } } };
  const document = publishedDocument('tests', name, 1, block, files);
  const scoped = new ContainerServableRuntime({ engine, pool, instance: INSTANCE, policy: () => policy });
  return { servable: await scoped.load(document, files), key: poolKey(document) };
}

beforeAll(async () => {
  const docker = await dockerEngineForTests();
  const started = Date.now();
  await ensureBaseImages(docker, { onLog: (line) => { if (/cached|building|built in/.test(line)) console.log(line); } });
  console.log(`base images ready in ${Math.round((Date.now() - started) / 1000)} s`);
});

// The same tests for each engine (MODELHUB_CONTAINERS=docker and =swarm), one after the other.
const ENGINES = [
  { kind: 'docker', open: dockerEngineForTests },
  { kind: 'swarm', open: () => swarmEngineForTests() },
] as const;

describe.each(ENGINES)('container servables on $kind', ({ kind, open }) => {
  beforeAll(async () => {
    engine = await open();
    INSTANCE = `e2e-${process.pid}-${kind}`;
    imagesBefore = new Set((await engine.docker.listImages({ all: true })).map((image) => image.Id));
    pool = new ContainerPool(engine, { instance: INSTANCE, defaults: { readyTimeoutMs: 60_000 } });
    runtime = new ContainerServableRuntime({ engine, pool, instance: INSTANCE });
    work = await mkdtemp(path.join(os.tmpdir(), `modelhub-${kind}-e2e-`));
  });

  afterAll(async () => {
    await pool?.close();
    if (pool) await pool.gc({ keepImage: () => false });
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('serves a scikit-learn model built into an image with the predictions Python gives', async () => {
    const modelDir = path.join(work, 'iris');
    await run('mkdir', ['-p', modelDir]);
    // Train and predict with Debian's Python; the image has the same Debian packages.
    await run('/usr/bin/python3', ['-c', `
import json, joblib
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
X, y = load_iris(return_X_y=True)
model = LogisticRegression(max_iter=500).fit(X, y)
joblib.dump(model, ${JSON.stringify(path.join(modelDir, 'model.joblib'))})
sample = X[::10]
json.dump({"X": sample.tolist(), "labels": model.predict(sample).tolist(), "proba": model.predict_proba(sample).tolist()},
          open(${JSON.stringify(path.join(work, 'iris-reference.json'))}, "w"))
`]);
    const reference = JSON.parse(await readFile(path.join(work, 'iris-reference.json'), 'utf8')) as { X: number[][]; labels: number[]; proba: number[][] };
    const files = await localFiles(modelDir);
    const block: ServableBlock = {
      type: 'sklearn',
      model_file: 'model.joblib',
      methods: {
        run: { input: { type: 'ndarray', shape: [null, 4], dtype: 'float64' }, output: { type: 'ndarray', shape: [null], dtype: 'int64' } },
        predict_proba: { input: { type: 'ndarray', shape: [null, 4], dtype: 'float64' }, output: { type: 'ndarray', shape: [null, 3], dtype: 'float64' } },
      } as ServableBlock['methods'],
    };
    const document = publishedDocument('tests', 'iris-logreg', 1, block, files);
    const log: string[] = [];
    const image = await buildServableImage(engine, { document, files, instance: INSTANCE }, { onLog: (line) => log.push(line) });
    expect(image.labels).toMatchObject({ [LABELS.owner]: 'tests', [LABELS.name]: 'iris-logreg', [LABELS.version]: '1', [LABELS.instance]: INSTANCE });
    expect(log.some((line) => line.includes('Successfully tagged'))).toBe(true);

    const servable = await loadContainerServable(document, files, { engine, pool, instance: INSTANCE, policy: () => ({ minWarm: 1 }) });
    expect(await servable.run(json(reference.X), {})).toEqual(json(reference.labels));
    const proba = (await servable.run(json(reference.X), { method: 'predict_proba' })) as { value: number[][] };
    expect(proba.value.length).toBe(reference.proba.length);
    proba.value.forEach((row, i) => row.forEach((p, j) => expect(p).toBeCloseTo(reference.proba[i]![j]!, 12)));

    // Isolation, checked from inside: unprivileged user, read-only root, no route out.
    const [container] = pool.containers(poolKey(document));
    const info = await engine.docker.getContainer(container!.id).inspect();
    expect(info.Config.Labels).toMatchObject({ [LABELS.owner]: 'tests', [LABELS.name]: 'iris-logreg', [LABELS.version]: '1', [LABELS.instance]: INSTANCE });
    expect(info.HostConfig).toMatchObject({ ReadonlyRootfs: true, PidsLimit: 128, CapDrop: ['ALL'] });
    expect(info.HostConfig.Memory).toBe(512 * 1024 * 1024);
    expect((await exec(container!.id, ['id', '-u'])).output.trim()).toBe('10001');
    expect((await exec(container!.id, ['touch', '/srv/modelhub/x'])).code).not.toBe(0);
    // A Swarm task's port is published on its node (so every hub replica reaches it), which needs
    // a network with a way out: egress is the node firewall's business there (docs/containers.md).
    if (kind === 'docker') {
      const outbound = await exec(container!.id, ['python3', '-c', 'import socket; socket.create_connection(("deb.debian.org", 80), timeout=3)']);
      expect(outbound.code).not.toBe(0);
    }
    await servable.dispose();
    expect(await ourContainers()).toEqual([]);
  });

  it('runs the echo-sum generic container from its own Dockerfile', async () => {
    const files = await localFiles(path.join(CONTAINER_FIXTURES, 'echo-sum'));
    const inspection = await runtime.inspect(files, { type: 'container', methods: { run: { input: anyArgument, output: anyArgument } } });
    expect(inspection.facts).toMatchObject({ base_image: 'modelhub/python:bookworm' });
    const { servable } = await genericServable('echo-sum', { minWarm: 0 });
    expect(await servable.run(json({ a: [1, 2, 3], b: [[0.5, 0.25]] }), {})).toEqual(json({ sum: [6.75], echo: [1, 2, 3] }));
    expect(await servable.run(json([[1, 2], [3, 4]]), {})).toEqual(json({ sum: [10], echo: [[1, 2], [3, 4]] }));
    await expect(servable.run(json([1]), { parameters: { fail: true } })).rejects.toMatchObject({ code: 'MODELHUB_SERVABLE_FAILED', message: expect.stringContaining('asked to fail') });
    await servable.dispose();
  });

  it('scales to zero after the idle time and back on the next request', async () => {
    const { servable, key } = await genericServable('echo-scale', { minWarm: 0, idleMs: 500 });
    expect(await ourContainers()).toEqual([]);
    const cold = Date.now();
    expect(await servable.run(json([2, 3]), {})).toEqual(json({ sum: [5], echo: [2, 3] }));
    console.log(`cold start and first request: ${Date.now() - cold} ms`);
    expect((await ourContainers()).length).toBe(1);
    const until = Date.now() + 15_000;
    while ((pool.stats(key).ready > 0 || (await ourContainers()).length > 0) && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(pool.stats(key).ready).toBe(0);
    expect(await ourContainers()).toEqual([]);
    expect(await servable.run(json([4]), {})).toEqual(json({ sum: [4], echo: [4] }));
    await servable.dispose();
  });

  it('fails a request whose container is killed mid-request; the next one gets a new container', async () => {
    const { servable, key } = await genericServable('echo-kill', { minWarm: 1 });
    const [first] = pool.containers(key);
    // Settled into a value at once: the rejection may come while the kill is still being awaited.
    const pending = servable.run(json([1]), { parameters: { sleep_s: 10 } }).then(
      () => undefined,
      (error: unknown) => error,
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    await engine.docker.getContainer(first!.id).kill();
    expect(await pending).toMatchObject({ code: 'MODELHUB_SERVABLE_FAILED', message: expect.stringMatching(/stopped during the request \(killed \(SIGKILL\)\)/) });
    expect(await servable.run(json([5, 6]), {})).toEqual(json({ sum: [11], echo: [5, 6] }));
    const [second] = pool.containers(key);
    expect(second!.id).not.toBe(first!.id);
    // The killed container was removed, not left behind.
    expect((await ourContainers()).map((container) => container.Id)).toEqual([second!.id]);
    await servable.dispose();
  });

  it('fails a Dockerfile that does not build with the failing step in the error and the log', async () => {
    const files = await localFiles(path.join(CONTAINER_FIXTURES, 'broken'));
    const document = publishedDocument('tests', 'broken', 1, { type: 'container', methods: { run: { input: anyArgument, output: anyArgument } } }, files);
    const log: string[] = [];
    await expect(buildServableImage(engine, { document, files, instance: INSTANCE }, { onLog: (line) => log.push(line) })).rejects.toMatchObject({
      code: 'MODELHUB_IMAGE_BUILD_FAILED',
      message: expect.stringContaining('returned a non-zero code: 7'),
    });
    expect(log).toContain('modelhub-fixture: the step fails on purpose');
    expect(log.some((line) => /^Step 3\/\d+ : RUN sh -c/.test(line))).toBe(true);
    expect(await engine.findImage('modelhub/' + INSTANCE + '/tests/broken:1')).toBeUndefined();
  });

  it('gives up on a program that never becomes ready and removes its container', async () => {
    const files = await localFiles(path.join(CONTAINER_FIXTURES, 'never-ready'));
    const document = publishedDocument('tests', 'never-ready', 1, { type: 'container', methods: { run: { input: anyArgument, output: anyArgument } } }, files);
    const image = await buildServableImage(engine, { document, files, instance: INSTANCE });
    const started = Date.now();
    await expect(engine.start({ image, labels: servableLabels(document, INSTANCE), readyTimeoutMs: 3000 })).rejects.toMatchObject({
      code: 'MODELHUB_NOT_READY',
      message: expect.stringContaining('did not become ready within 3 s'),
    });
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(await ourContainers()).toEqual([]);
  });

  it('gc leaves no container or image of this run behind, only the cached base images', async () => {
    await writeFile(path.join(work, 'marker'), 'x');
    await pool.close();
    const report = await pool.gc({ keepImage: () => false });
    expect(report.images.length).toBeGreaterThan(0);
    expect(await ourContainers()).toEqual([]);
    expect(await engine.docker.listImages({ all: true, filters: labelFilter() })).toEqual([]);
    const left = (await engine.docker.listImages({ all: true })).filter((image) => !imagesBefore.has(image.Id));
    expect(left.map((image) => `${image.Id} ${image.RepoTags?.join(',')}`)).toEqual([]);
    const base = await engine.docker.listImages({ filters: { label: [`${LABELS.role}=base`] } });
    expect(base.flatMap((image) => image.RepoTags ?? []).sort()).toEqual(expect.arrayContaining(['modelhub/base:bookworm', 'modelhub/python:bookworm']));
  });
});
