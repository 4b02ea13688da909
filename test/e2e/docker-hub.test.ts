/**
 * The hub with MODELHUB_CONTAINERS=docker, end to end against the real Docker engine, and the same
 * tests with MODELHUB_CONTAINERS=swarm against a one-node Docker Swarm: a
 * scikit-learn servable is built into an image during its publish (build output in the task log)
 * and served from a container; a generic container servable (any program speaking the Open
 * Inference Protocol on port 8080) is published from its folder with the SDK and run over the hub
 * API and the v2 protocol. Docker is started by scripts/docker/start-dockerd.sh when none answers.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubClient } from '../../sdk/hub-client.ts';
import { ContainerServable } from '../../sdk/models/container-servable.ts';
import { SklearnModel } from '../../sdk/models/sklearn-model.ts';
import { LABELS } from '../../schemas/ports/container-engine.ts';
import type { DockerContainerEngine } from '../../hub-server/adapters/docker-container-engine.ts';
import type { SwarmContainerEngine } from '../../hub-server/adapters/swarm-container-engine.ts';
import { dockerEngineForTests } from '../fixtures/containers/docker-engine.ts';
import { swarmEngineForTests } from '../fixtures/containers/swarm-engine.ts';
import { CONTAINER_FIXTURES } from '../fixtures/containers/documents.ts';
import { startTestHub, type TestHub } from '../helpers/test-hub.ts';
import { getJson, postJson } from '../helpers/hub-http.ts';

const PYTHON = process.env.MODELHUB_PYTHON ?? '/usr/bin/python3';
let engine: DockerContainerEngine | SwarmContainerEngine;
let hub: TestHub;
let client: HubClient;
let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-docker-hub-'));
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const ENGINES = [
  { kind: 'docker', open: dockerEngineForTests },
  { kind: 'swarm', open: () => swarmEngineForTests() },
] as const;

describe.each(ENGINES)('the hub with MODELHUB_CONTAINERS=$kind', ({ kind, open }) => {
  beforeAll(async () => {
    engine = await open();
    hub = await startTestHub({ env: { MODELHUB_CONTAINERS: kind, DOCKER_HOST: process.env.DOCKER_HOST ?? '' } });
    client = new HubClient({ url: hub.url });
  }, 900_000);

  afterAll(async () => {
    const instance = hub ? fs.readFileSync(path.join(hub.dataDir, 'instance-id'), 'utf8').trim() : undefined;
    await hub?.stop();
    if (instance && engine) {
      // The hub removes its containers when it stops; its images are cleaned here (modelhub gc's job).
      const containers = await engine.docker.listContainers({ all: true, filters: { label: [`${LABELS.instance}=${instance}`] } });
      expect(containers).toEqual([]);
      const images = await engine.docker.listImages({ filters: { label: [`${LABELS.instance}=${instance}`] } });
      for (const image of images) await engine.docker.getImage(image.Id).remove({ force: true });
    }
  });

  it('builds a scikit-learn servable into an image at publish time and serves it from a container', async () => {
    const modelPath = path.join(dir, 'tree.joblib');
    const script = path.join(dir, 'train.py');
    fs.writeFileSync(script, `import json, joblib
from sklearn.tree import DecisionTreeClassifier
x = [[0, 0], [0, 1], [1, 0], [1, 1], [2, 2], [3, 1]]
y = [0, 1, 1, 0, 2, 2]
model = DecisionTreeClassifier(random_state=0).fit(x, y)
joblib.dump(model, ${JSON.stringify(modelPath)})
print(json.dumps(model.predict([[0, 1], [3, 2], [1, 1]]).tolist()))`);
    const reference = JSON.parse(execFileSync(PYTHON, [script], { encoding: 'utf8' })) as number[];

    const model = (await SklearnModel.create(modelPath)).setName('docker/tree').setTitle('A tree in a container').setAuthors(['Hopper, Grace']);
    const task = await client.publishServable(model, { timeoutMs: 900_000 });
    expect(task.status, JSON.stringify(task.error)).toBe('SUCCEEDED');
    expect(task.steps!.map((s) => s.name)).toContain('build');
    expect(task.log!.some((line) => line.includes('build:'))).toBe(true);

    const reply = await client.run('docker/tree', [[0, 1], [3, 2], [1, 1]]);
    expect(reply.output).toEqual(reference);
    const instance = fs.readFileSync(path.join(hub.dataDir, 'instance-id'), 'utf8').trim();
    const running = await engine.docker.listContainers({ filters: { label: [`${LABELS.instance}=${instance}`, `${LABELS.name}=tree`] } });
    expect(running.length).toBeGreaterThanOrEqual(1);
  });

  it('publishes a generic container servable from its folder and runs it over the hub API and v2', async () => {
    const model = (await ContainerServable.create(path.join(CONTAINER_FIXTURES, 'echo-sum'))).setName('docker/echo-sum').setTitle('Echo sum').setAuthors(['Hopper, Grace']);
    const task = await client.publishServable(model, { timeoutMs: 900_000 });
    expect(task.status, JSON.stringify(task.error)).toBe('SUCCEEDED');
    const reply = await client.run('docker/echo-sum', [1, 2, 3.5]);
    expect(JSON.stringify(reply.output)).toContain('6.5');
    const v2 = await postJson(`${hub.url}/v2/models/docker.echo-sum/infer`, { inputs: [{ name: 'input', shape: [3], datatype: 'FP64', data: [1, 2, 3.5] }] });
    expect(v2.status, JSON.stringify(v2.body)).toBe(200);
    const ready = await getJson(`${hub.url}/v2/health/ready`);
    expect(ready.body.backends.map((b: { backend: string }) => b.backend)).toContain(kind);
  });
});

describe('a hub whose Docker daemon cannot be reached', () => {
  it('keeps serving in-process servables and says which part is down', async () => {
    const down = await startTestHub({ env: { MODELHUB_CONTAINERS: 'docker', DOCKER_HOST: 'unix:///nonexistent/docker.sock' } });
    try {
      const { buildMlpOnnx } = await import('../../builder/demo/onnx-writer.ts');
      const { onnxMetadata, publishAndWait } = await import('../helpers/hub-http.ts');
      const published = await publishAndWait(down.url, onnxMetadata('local', 'mlp'), [{ name: 'm.onnx', bytes: buildMlpOnnx({ inputSize: 4, hidden: 3, classes: 2 }) }]);
      expect(published.task.status).toBe('SUCCEEDED');
      expect((await postJson(`${down.url}/api/v1/servables/local/mlp/run`, { inputs: [[1, 2, 3, 4]] })).status).toBe(200);

      const ready = await getJson(`${down.url}/v2/health/ready`);
      expect(ready.status).toBe(200);
      const docker = ready.body.backends.find((b: { backend: string }) => b.backend === 'docker');
      expect(docker).toMatchObject({ ok: false });
      expect(docker.detail).toMatch(/cannot be reached/);

      const model = (await SklearnModel.create(path.join(dir, 'tree.joblib'))).setName('local/tree').setTitle('Needs Docker').setAuthors(['Hopper, Grace']);
      const task = await new HubClient({ url: down.url }).publishServable(model);
      expect(task.status).toBe('FAILED');
      expect(task.error).toMatchObject({ code: 'MODELHUB_BACKEND_UNAVAILABLE', step: 'build' });
    } finally {
      await down.stop();
    }
  });
});
