/**
 * The container part of `npm run bench` (issue 4): the same scikit-learn model published to a hub
 * with MODELHUB_CONTAINERS=docker and to one with the embedded runner (`process`, a local child
 * process), then
 *  - cold start: publish to ready (the task, with its image build) and the first request;
 *  - warm latency: sequential requests to each, and the ratio docker / process.
 * Runs only where a Docker engine answers (DOCKER_HOST, the default socket, or
 * /tmp/modelhub-docker/docker.sock); otherwise it says why it skipped.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DockerContainerEngine } from '../hub-server/adapters/docker-container-engine.ts';
import { LABELS } from '../schemas/ports/container-engine.ts';
import { HubClient } from '../sdk/hub-client.ts';
import { SklearnModel } from '../sdk/models/sklearn-model.ts';
import { startTestHub } from '../test/helpers/test-hub.ts';

const PYTHON = process.env.MODELHUB_PYTHON ?? '/usr/bin/python3';
const WARM_REQUESTS = 300;

export interface ContainerBench {
  docker_host: string;
  publish_to_ready_s: number;
  first_request_ms: number;
  warm: { docker: LatencySummary; process: LatencySummary };
  /** Median warm latency in a container over the same model run by the embedded runner. */
  warm_latency_ratio: number;
}

interface LatencySummary {
  requests: number;
  p50_ms: number;
  p99_ms: number;
  mean_ms: number;
}

/** The first engine that answers, or undefined. */
export async function findDocker(): Promise<string | undefined> {
  const candidates = [process.env.DOCKER_HOST, 'unix:///var/run/docker.sock', 'unix:///tmp/modelhub-docker/docker.sock'];
  for (const host of candidates) {
    if (!host) continue;
    const health = await new DockerContainerEngine({ dockerHost: host }).health().catch(() => ({ ok: false }));
    if (health.ok) return host;
  }
  return undefined;
}

function summarize(samples: number[]): LatencySummary {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  return { requests: samples.length, p50_ms: at(0.5), p99_ms: at(0.99), mean_ms: samples.reduce((a, b) => a + b, 0) / samples.length };
}

/** Sequential runs (one connection): latency, not throughput, is what a container adds. */
async function warmLatency(client: HubClient, name: string, inputs: number[][]): Promise<LatencySummary> {
  // Each request differs in its first value, so the result cache never answers.
  const unique = (i: number) => inputs.map((row, r) => (r === 0 ? [row[0]! + i * 1e-7, ...row.slice(1)] : row));
  for (let i = 0; i < 20; i++) await client.run(name, unique(-1 - i));
  const samples: number[] = [];
  for (let i = 0; i < WARM_REQUESTS; i++) {
    const started = performance.now();
    await client.run(name, unique(i));
    samples.push(performance.now() - started);
  }
  return summarize(samples);
}

export async function benchContainers(work: string, log: (line: string) => void): Promise<ContainerBench | { skipped: string }> {
  const dockerHost = await findDocker();
  if (!dockerHost) return { skipped: 'no Docker engine answers (DOCKER_HOST, /var/run/docker.sock, /tmp/modelhub-docker/docker.sock): the container benchmark did not run' };
  const modelPath = path.join(work, 'forest.joblib');
  const script = `import joblib
from sklearn.ensemble import RandomForestClassifier
from sklearn.datasets import load_iris
x, y = load_iris(return_X_y=True)
joblib.dump(RandomForestClassifier(n_estimators=20, random_state=0).fit(x, y), ${JSON.stringify(modelPath)})`;
  execFileSync(PYTHON, ['-c', script]);
  const inputs = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]];

  const dataDirs = [fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-bench-docker-')), fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-bench-process-'))];
  const dockerHub = await startTestHub({ env: { MODELHUB_CONTAINERS: 'docker', DOCKER_HOST: dockerHost }, dataDir: dataDirs[0], timeoutMs: 300_000 });
  const processHub = await startTestHub({ env: { MODELHUB_CONTAINERS: 'process' }, dataDir: dataDirs[1], timeoutMs: 300_000 });
  try {
    const model = async () => (await SklearnModel.create(modelPath)).setName('bench/forest').setTitle('A forest for the benchmark').setAuthors(['Hopper, Grace']);
    const docker = new HubClient({ url: dockerHub.url });
    const local = new HubClient({ url: processHub.url });

    log('  container: publishing a scikit-learn model to the docker-mode hub (builds its image) ...');
    const started = performance.now();
    const task = await docker.publishServable(await model(), { timeoutMs: 900_000 });
    if (task.status !== 'SUCCEEDED') throw new Error(`publishing to the docker-mode hub failed: ${JSON.stringify(task.error)}`);
    const publishToReady = (performance.now() - started) / 1000;
    const first = performance.now();
    await docker.run('bench/forest', inputs);
    const firstRequest = performance.now() - first;

    const localTask = await local.publishServable(await model(), { timeoutMs: 300_000 });
    if (localTask.status !== 'SUCCEEDED') throw new Error(`publishing to the process-mode hub failed: ${JSON.stringify(localTask.error)}`);
    const warmDocker = await warmLatency(docker, 'bench/forest', inputs);
    const warmProcess = await warmLatency(local, 'bench/forest', inputs);
    return {
      docker_host: dockerHost,
      publish_to_ready_s: publishToReady,
      first_request_ms: firstRequest,
      warm: { docker: warmDocker, process: warmProcess },
      warm_latency_ratio: warmDocker.p50_ms / warmProcess.p50_ms,
    };
  } finally {
    const instance = fs.readFileSync(path.join(dockerHub.dataDir, 'instance-id'), 'utf8').trim();
    await Promise.all([dockerHub.stop(), processHub.stop()]);
    // The hub removes its containers when it stops; its images are removed here (modelhub gc's job).
    const engine = new DockerContainerEngine({ dockerHost });
    const images = await engine.docker.listImages({ filters: { label: [`${LABELS.instance}=${instance}`] } });
    for (const image of images) await engine.docker.getImage(image.Id).remove({ force: true }).catch(() => undefined);
    for (const dir of dataDirs) fs.rmSync(dir, { recursive: true, force: true });
  }
}
