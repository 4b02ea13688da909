/**
 * Compute endpoints (issue 13), alone: `npm run bench:endpoints` (`BENCH_BATCH_ROWS`, default
 * 100000; `BENCH_RUNS`, default 300; `BENCH_CHUNK`, records per batch chunk, default 5000). On a hub of its own (tokens mode) with the demo
 * MNIST-shaped MLP (784→32→10 ONNX), a local endpoint (the real CLI agent) and, where SLURM_CONF
 * names a cluster (scripts/slurm/start.sh), a Slurm endpoint:
 *  - per-call overhead: sequential warm runs on the hub and on each endpoint (p50/p90), each body
 *    unique (the hub's result cache misses; endpoint runs never use it);
 *  - batch throughput: the same NDJSON data set of BENCH_BATCH_ROWS random 784-pixel rows on the
 *    hub and on each endpoint, records/s from the batch task (submit to SUCCEEDED); on the Slurm
 *    endpoint each chunk is one job array of two array tasks.
 * Prints a table and writes bench/endpoint-results.json.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildMlpOnnx, defaultMlpWeights } from '../builder/demo/onnx-writer.ts';
import { SqliteTokenStore } from '../hub-server/adapters/sqlite-token-store.ts';
import { onnxMetadata, publishRaw } from '../test/helpers/hub-http.ts';
import { startAgentCli, waitForEndpoint, type StartedAgent } from '../test/helpers/endpoint-agent.ts';
import { startTestHub } from '../test/helpers/test-hub.ts';

const ROWS = Number(process.env.BENCH_BATCH_ROWS ?? 100_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 300);
const SPEC = { inputSize: 784, hidden: 32, classes: 10, inputName: 'pixels', outputName: 'probabilities' };
const MODEL = buildMlpOnnx({ ...SPEC, weights: defaultMlpWeights(SPEC, 1) });

const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((p / 100) * values.length))]!;
/** 784 pixels as MNIST stores them, whole numbers 0-255 (a 100,000-row NDJSON file stays near 300 MB). */
const pixels = (seed: number) => Array.from({ length: 784 }, (_, i) => Math.round(((Math.sin(seed * 7919 + i) + 1) / 2) * 255));
/** Records per batch chunk: on a Slurm endpoint each chunk is one job array. */
const CHUNK = Number(process.env.BENCH_CHUNK ?? 5000);

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-endpoint-bench-'));
const hub = await startTestHub({ env: { MODELHUB_AUTH: 'tokens', MODELHUB_LOG_LEVEL: 'warn' } });
const agents: StartedAgent[] = [];
try {
  const store = SqliteTokenStore.open(SqliteTokenStore.fileIn(hub.dataDir));
  const token = (await store.create({ user: 'bench', scopes: ['run', 'publish'], groups: [], created_by: 'local' })).token;
  await store.close();
  const auth = { authorization: `Bearer ${token}` };
  const accepted = await publishRaw(hub.url, onnxMetadata('bench', 'mnist'), [{ name: 'mnist.onnx', bytes: MODEL }], auth);
  for (;;) {
    const task = (await (await fetch(`${hub.url}/api/v1/tasks/${accepted.body.task_id}`, { headers: auth })).json()) as { status: string };
    if (task.status === 'SUCCEEDED') break;
    if (task.status === 'FAILED') throw new Error(JSON.stringify(task));
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  const targets: { label: string; endpoint?: string }[] = [{ label: 'hub' }];
  agents.push(startAgentCli(hub.url, token, path.join(work, 'home'), ['--name', 'local']));
  await waitForEndpoint(hub.url, 'bench/local', token, 'online', 60_000, agents[0]);
  targets.push({ label: 'local endpoint', endpoint: 'bench/local' });
  if (process.env.SLURM_CONF) {
    agents.push(startAgentCli(hub.url, token, path.join(work, 'home'), ['--name', 'slurm', '--executor', 'slurm', '--max-workers', '2', '--cpus', '1', '--idle-seconds', '120']));
    await waitForEndpoint(hub.url, 'bench/slurm', token, 'online', 60_000, agents[1]);
    targets.push({ label: 'Slurm endpoint', endpoint: 'bench/slurm' });
  }

  let counter = 0;
  const run = async (endpoint?: string) => {
    const body = JSON.stringify({ inputs: [pixels(counter++)], ...(endpoint ? { endpoint } : {}), parameters: { deadline_ms: 300_000 } });
    const started = performance.now();
    const response = await fetch(`${hub.url}/api/v1/servables/bench/mnist/run`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body });
    if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
    await response.arrayBuffer();
    return performance.now() - started;
  };

  const overhead: Record<string, { p50_ms: number; p90_ms: number }> = {};
  for (const target of targets) {
    for (let i = 0; i < 20; i++) await run(target.endpoint); // warm: loaded, worker job running
    const times: number[] = [];
    for (let i = 0; i < RUNS; i++) times.push(await run(target.endpoint));
    overhead[target.label] = { p50_ms: percentile(times, 50), p90_ms: percentile(times, 90) };
  }

  const data = path.join(work, 'rows.ndjson');
  const out = fs.createWriteStream(data);
  for (let i = 0; i < ROWS; i++) if (!out.write(`${JSON.stringify([pixels(i)])}\n`)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
  await new Promise<void>((resolve) => out.end(() => resolve()));
  const batch: Record<string, { records: number; seconds: number; records_per_s: number }> = {};
  for (const target of targets) {
    const form = new FormData();
    if (target.endpoint) form.append('endpoint', target.endpoint);
    form.append('parameters', JSON.stringify({ deadline_ms: 600_000 }));
    form.append('chunk_size', String(CHUNK));
    form.append('data', await fs.openAsBlob(data), 'rows.ndjson');
    const started = performance.now();
    const submitted = (await (await fetch(`${hub.url}/api/v1/servables/bench/mnist/batch`, { method: 'POST', headers: auth, body: form })).json()) as { task_id: string };
    let task: { status: string; result?: { succeeded: number } };
    do {
      await new Promise((resolve) => setTimeout(resolve, 250));
      task = (await (await fetch(`${hub.url}/api/v1/tasks/${submitted.task_id}`, { headers: auth })).json()) as typeof task;
    } while (task.status === 'RUNNING');
    const seconds = (performance.now() - started) / 1000;
    if (task.status !== 'SUCCEEDED' || task.result?.succeeded !== ROWS) throw new Error(`batch on ${target.label}: ${JSON.stringify(task)}`);
    batch[target.label] = { records: ROWS, seconds: Math.round(seconds * 10) / 10, records_per_s: Math.round(ROWS / seconds) };
  }

  const results = { rows: ROWS, runs: RUNS, chunk_size: CHUNK, cpus: os.availableParallelism(), load_average: os.loadavg().map((l) => Math.round(l * 10) / 10), overhead, batch };
  fs.writeFileSync(path.join(path.dirname(new URL(import.meta.url).pathname), 'endpoint-results.json'), JSON.stringify(results, null, 2));
  console.log(`per-call latency, ${RUNS} sequential warm runs (p50 / p90 ms):`);
  for (const [label, o] of Object.entries(overhead)) console.log(`  ${label.padEnd(16)} ${o.p50_ms.toFixed(2)} / ${o.p90_ms.toFixed(2)}`);
  console.log(`batch of ${ROWS} rows (records/s):`);
  for (const [label, b] of Object.entries(batch)) console.log(`  ${label.padEnd(16)} ${b.records_per_s} (${b.seconds} s)`);
} finally {
  for (const agent of agents) await agent.stop();
  await hub.stop();
  fs.rmSync(work, { recursive: true, force: true });
}
