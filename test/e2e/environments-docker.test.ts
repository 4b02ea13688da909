/**
 * Declared environments with MODELHUB_CONTAINERS=docker, against the real Docker engine (started
 * by scripts/docker/start-dockerd.sh when none answers; the base images are built from Debian once
 * and cached): the environment becomes an image layer on the hub's Python base image, with a Debian
 * package (jq) from apt and a Python package from the test's own wheelhouse (copied into the build,
 * `--no-index`); the servable imports the package, finds the Debian program and runs in the image's
 * venv; a second servable with the same environment reuses the environment image.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DockerContainerEngine } from '../../hub-server/adapters/docker-container-engine.ts';
import { LABELS } from '../../schemas/ports/container-engine.ts';
import type { TaskDocument } from '../../schemas/api.ts';
import { dockerEngineForTests } from '../fixtures/containers/docker-engine.ts';
import { startTestHub, type TestHub } from '../helpers/test-hub.ts';
import { postJson, publishRaw, waitForTask } from '../helpers/hub-http.ts';

const PYTHON = '/usr/bin/python3';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'environments-docker-e2e-'));
const wheelhouse = path.join(work, 'wheelhouse');
let engine: DockerContainerEngine;
let hub: TestHub;

const SERVABLE_CODE = `import shutil
import sys
import hubtoy


def run(x):
    return {"value": hubtoy.triple(x), "prefix": sys.prefix, "jq": shutil.which("jq")}
`;
const ENVIRONMENT = { python: ['hubtoy==1.2.0'], debian: ['jq'] };

function metadata(name: string) {
  return {
    datacite: { creators: [{ name: 'Lovelace, Ada' }], titles: [{ title: `Docker environment ${name}` }] },
    hub: { owner: 'envs', name },
    servable: {
      type: 'python',
      python: { module: 'model.py', function: 'run' },
      environment: ENVIRONMENT,
      methods: { run: { input: { type: 'number' }, output: { type: 'any' }, method_details: { example_inputs: 2 } } },
    },
  };
}

async function publish(name: string): Promise<TaskDocument> {
  const accepted = await publishRaw(hub.url, metadata(name), [{ name: 'model.py', bytes: new TextEncoder().encode(SERVABLE_CODE) }]);
  expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
  return waitForTask(hub.url, accepted.body.task_id, 1_500_000);
}

beforeAll(async () => {
  engine = await dockerEngineForTests();
  const pkg = path.join(work, 'hubtoy');
  fs.mkdirSync(path.join(pkg, 'hubtoy'), { recursive: true });
  fs.writeFileSync(path.join(pkg, 'pyproject.toml'), '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n\n[project]\nname = "hubtoy"\nversion = "1.2.0"\n');
  fs.writeFileSync(path.join(pkg, 'hubtoy', '__init__.py'), 'def triple(x):\n    return 3 * x\n');
  await new Promise<void>((resolve, reject) =>
    execFile(PYTHON, ['-m', 'pip', 'wheel', '--no-index', '--no-build-isolation', '--no-deps', '-w', wheelhouse, pkg], { env: { ...process.env, PIP_FIND_LINKS: '' } }, (error, stdout, stderr) =>
      error ? reject(new Error(stdout + stderr)) : resolve(),
    ),
  );
  hub = await startTestHub({ env: { MODELHUB_CONTAINERS: 'docker', DOCKER_HOST: process.env.DOCKER_HOST ?? '', MODELHUB_PIP_FIND_LINKS: wheelhouse } });
}, 900_000);

afterAll(async () => {
  const instance = hub ? fs.readFileSync(path.join(hub.dataDir, 'instance-id'), 'utf8').trim() : undefined;
  await hub?.stop();
  if (instance && engine) {
    const images = await engine.docker.listImages({ filters: { label: [`${LABELS.instance}=${instance}`] } });
    // Servable images first: they are built on the environment image.
    images.sort((a, b) => Number(a.Labels?.[LABELS.role] === 'environment') - Number(b.Labels?.[LABELS.role] === 'environment'));
    for (const image of images) await engine.docker.getImage(image.Id).remove({ force: true });
  }
  await engine?.close();
  fs.rmSync(work, { recursive: true, force: true });
});

describe('declared environments with MODELHUB_CONTAINERS=docker', () => {
  it('builds the environment into an image layer (apt-get and pip from the wheelhouse) and the servable runs in it', async () => {
    const task = await publish('docker-a');
    expect(task.status, JSON.stringify(task, null, 1)).toBe('SUCCEEDED');
    expect(task.log?.filter((line) => /environment image modelhub\/env:[0-9a-f]+: building/.test(line))).toHaveLength(1);
    const reply = await postJson(`${hub.url}/api/v1/servables/envs/docker-a/run`, { inputs: 7 });
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    expect(reply.body.output).toEqual({ value: 21, prefix: '/opt/modelhub-env', jq: '/usr/bin/jq' });
  });

  it('a second servable with the same environment reuses the environment image', async () => {
    const task = await publish('docker-b');
    expect(task.status, JSON.stringify(task, null, 1)).toBe('SUCCEEDED');
    expect(task.log?.some((line) => /environment image modelhub\/env:[0-9a-f]+: already built; reusing it/.test(line))).toBe(true);
    expect(task.log?.some((line) => /environment image .*: building/.test(line))).toBe(false);
    const reply = await postJson(`${hub.url}/api/v1/servables/envs/docker-b/run`, { inputs: 1 });
    expect(reply.body.output).toEqual({ value: 3, prefix: '/opt/modelhub-env', jq: '/usr/bin/jq' });
    const instance = fs.readFileSync(path.join(hub.dataDir, 'instance-id'), 'utf8').trim();
    const environmentImages = await engine.docker.listImages({ filters: { label: [`${LABELS.instance}=${instance}`, `${LABELS.role}=environment`] } });
    expect(environmentImages).toHaveLength(1);
  });
});
