/**
 * A compute endpoint with the Slurm executor on a real one-node Slurm cluster (Debian's slurm-wlm
 * and munge, started by scripts/slurm/start.sh; SLURM_CONF names it): a run through the endpoint
 * gives the hub's own output; `scancel` of the worker job in the middle of the work loses no run
 * (its tasks go back to the queue once and a new worker job runs them); a Slurm option Slurm
 * refuses fails the run with sbatch's own error.
 *
 * Without SLURM_CONF the suite is skipped on a developer machine; under CI=true it fails.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlpOnnx, defaultMlpWeights } from '../../builder/demo/onnx-writer.ts';
import { onnxMetadata } from '../helpers/hub-http.ts';
import { batchResults, call, publishAs, submitBatch, userTokens, waitTask } from '../helpers/endpoint-hub.ts';
import * as ort from 'onnxruntime-node';
import { startAgentCli, waitForEndpoint, type StartedAgent } from '../helpers/endpoint-agent.ts';
import { startTestHub, type TestHub } from '../helpers/test-hub.ts';

const exec = promisify(execFile);
const slurmConf = process.env.SLURM_CONF;
if (!slurmConf && process.env.CI === 'true') {
  throw new Error('SLURM_CONF is not set under CI=true: the Slurm suite must run there. scripts/test-all.sh starts the cluster with scripts/slurm/start.sh.');
}
const describeSlurm = slurmConf ? describe : describe.skip;

const SPEC = { inputSize: 4, hidden: 6, classes: 3, inputName: 'x', outputName: 'y' };
const MODEL = buildMlpOnnx({ ...SPEC, weights: defaultMlpWeights(SPEC, 11) });
const INPUTS = [[0.5, -0.25, 0.125, 1]];
/** A Python function slow enough that a worker job is in the middle of it when it is cancelled. */
const SLOW_CODE = 'import time\n\n\ndef run(x):\n    time.sleep(0.4)\n    return x * 2\n';

const squeue = async () => (await exec('squeue', ['-h', '-o', '%i %T %j'])).stdout.trim().split('\n').filter(Boolean).map((line) => line.split(' '));

describeSlurm('a compute endpoint with the Slurm executor', () => {
  let hub: TestHub;
  let agent: StartedAgent | undefined;
  let refused: StartedAgent | undefined;
  let arrays: StartedAgent | undefined;
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-slurm-home-'));
  let token = '';

  beforeAll(async () => {
    hub = await startTestHub({ env: { MODELHUB_AUTH: 'tokens', MODELHUB_ENDPOINT_HEARTBEAT_MS: '2000' } });
    token = (await userTokens(hub, { alice: [] })).alice!;
    const publish = (metadata: unknown, files: { name: string; bytes: Uint8Array }[]) => publishAs(hub, token, metadata, files);
    await publish(onnxMetadata('alice', 'mlp'), [{ name: 'mlp.onnx', bytes: MODEL }]);
    await publish(
      {
        datacite: { creators: [{ name: 'Lovelace, Ada' }], titles: [{ title: 'Slow doubling' }] },
        hub: { owner: 'alice', name: 'slow' },
        servable: { type: 'python', python: { module: 'slow.py', function: 'run' }, methods: { run: { input: { type: 'number' }, output: { type: 'number' }, method_details: { example_inputs: 2 } } } },
      },
      [{ name: 'slow.py', bytes: new TextEncoder().encode(SLOW_CODE) }],
    );
    agent = startAgentCli(hub.url, token, home, ['--name', 'cluster', '--executor', 'slurm', '--max-workers', '1', '--idle-seconds', '30', '--time', '00:10:00', '--cpus', '1']);
    await waitForEndpoint(hub.url, 'alice/cluster', token, 'online', 60_000, agent);
  }, 300_000);

  afterAll(async () => {
    await agent?.stop();
    await refused?.stop();
    await arrays?.stop();
    await hub?.stop();
    fs.rmSync(home, { recursive: true, force: true });
  });

  it('runs a servable in a Slurm worker job with the same output as the hub', async () => {
    const onHub = await call(hub.url, 'POST', '/api/v1/servables/alice/mlp/run', token, { inputs: INPUTS });
    const onSlurm = await call(hub.url, 'POST', '/api/v1/servables/alice/mlp/run', token, { inputs: INPUTS, endpoint: 'alice/cluster', parameters: { deadline_ms: 180_000 } });
    expect(onSlurm.status, JSON.stringify(onSlurm.body) + agent!.output()).toBe(200);
    expect(onSlurm.body.output).toEqual(onHub.body.output);
    const jobs = await squeue();
    expect(jobs.some(([, state, name]) => state === 'RUNNING' && name === 'modelhub-worker'), JSON.stringify(jobs)).toBe(true);
    const status = await call(hub.url, 'GET', '/api/v1/endpoints/alice/cluster', token);
    expect(status.body).toMatchObject({ executor: 'slurm', status: 'online' });
  }, 240_000);

  it('loses no run when the worker job is cancelled in the middle of the work', async () => {
    const count = 12;
    const runs = Array.from({ length: count }, (_, i) =>
      call(hub.url, 'POST', '/api/v1/servables/alice/slow/run', token, { inputs: i, endpoint: 'alice/cluster', parameters: { deadline_ms: 230_000 } }),
    );
    // Wait until the worker has claimed work, then cancel it under its feet.
    const claimed = path.join(home, 'cluster', 'slurm', 'claimed');
    let victim: string | undefined;
    for (const started = Date.now(); !victim && Date.now() - started < 120_000; ) {
      for (const job of fs.existsSync(claimed) ? fs.readdirSync(claimed) : []) {
        if (fs.readdirSync(path.join(claimed, job)).some((file) => file.endsWith('.json'))) victim = job;
      }
      if (!victim) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(victim, agent!.output()).toBeDefined();
    await exec('scancel', [victim!]);
    const replies = await Promise.all(runs);
    for (const [i, reply] of replies.entries()) {
      expect(reply.status, JSON.stringify(reply.body) + agent!.output()).toBe(200);
      expect(reply.body.output).toBe(i * 2);
    }
    expect(agent!.output()).toMatch(new RegExp(`slurm job ${victim} ended CANCELLED`));
  }, 300_000);

  it('runs a batch of 10,000 records as Slurm job arrays, every record\'s result in order', async () => {
    arrays = startAgentCli(hub.url, token, home, ['--name', 'arrays', '--executor', 'slurm', '--max-workers', '2', '--time', '00:10:00', '--cpus', '1']);
    await waitForEndpoint(hub.url, 'alice/arrays', token, 'online', 60_000, arrays);
    const rows = Array.from({ length: 10_000 }, (_, i) => [Math.sin(i), Math.cos(i * 0.5), ((i % 97) - 48) / 50, (i % 13) / 13]);
    const accepted = await submitBatch(hub.url, token, 'alice/mlp', 'rows.ndjson', rows.map((r) => JSON.stringify([r])).join('\n'), { endpoint: 'alice/arrays', chunk_size: '5000' });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    // The chunks run as array tasks (`<job>_<index>` in squeue), never as per-record worker runs.
    const seen = new Set<string>();
    let task: any;
    for (const started = Date.now(); Date.now() - started < 280_000; ) {
      for (const [id, , name] of await squeue()) if (name === 'modelhub-array' && id!.includes('_')) seen.add(id!);
      task = (await call(hub.url, 'GET', `/api/v1/tasks/${accepted.body.task_id}`, token)).body;
      if (task.status === 'SUCCEEDED' || task.status === 'FAILED') break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(task.status, JSON.stringify(task) + arrays.output()).toBe('SUCCEEDED');
    const lines = await batchResults(hub.url, token, accepted.body.task_id);
    expect(task.result, JSON.stringify(lines.find((line) => line.error))).toMatchObject({ records: 10_000, succeeded: 10_000, failed: 0 });
    expect(seen.size, [...seen].join(' ')).toBeGreaterThan(0);
    expect(arrays.output()).toMatch(/submitted slurm job array \d+ \(2 task\(s\), 5000 records\)/);
    const session = await ort.InferenceSession.create(MODEL);
    const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from(rows.flat()), [rows.length, 4]) });
    const reference = Array.from(out.y!.data as Float32Array);
    await session.release();
    expect(lines.map((line) => line.line)).toEqual(rows.map((_, i) => i + 1));
    for (const [i, line] of lines.entries()) (line.output[0] as number[]).forEach((value, j) => expect(value).toBeCloseTo(reference[i * 3 + j]!, 5));
  }, 300_000);

  it('loses no record when one array task is cancelled in the middle of a batch (its slice runs again)', async () => {
    const accepted = await submitBatch(hub.url, token, 'alice/slow', 'numbers.ndjson', Array.from({ length: 24 }, (_, i) => String(i)).join('\n'), { endpoint: 'alice/arrays', chunk_size: '24' });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    let victim: string | undefined;
    for (const started = Date.now(); !victim && Date.now() - started < 120_000; ) {
      victim = (await squeue()).find(([id, state, name]) => name === 'modelhub-array' && state === 'RUNNING' && id!.endsWith('_0'))?.[0];
      if (!victim) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(victim, arrays!.output()).toBeDefined();
    // Let it start on its slice, then cancel that one array task under its feet.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await exec('scancel', [victim!]);
    const task = await waitTask(hub.url, accepted.body.task_id, token, 280_000);
    expect(task.status, JSON.stringify(task) + arrays!.output()).toBe('SUCCEEDED');
    expect(task.result).toMatchObject({ records: 24, succeeded: 24, failed: 0 });
    const lines = await batchResults(hub.url, token, accepted.body.task_id);
    expect(lines).toEqual(Array.from({ length: 24 }, (_, i) => ({ line: i + 1, output: i * 2 })));
    expect(arrays!.output()).toMatch(new RegExp(`slurm array task ${victim} ended CANCELLED.*: slice 0 resubmitted`));
  }, 300_000);

  it("reports sbatch's own error for a Slurm option Slurm refuses", async () => {
    refused = startAgentCli(hub.url, token, home, ['--name', 'badpart', '--executor', 'slurm', '--partition', 'no-such-partition']);
    await waitForEndpoint(hub.url, 'alice/badpart', token, 'online', 60_000, refused);
    const reply = await call(hub.url, 'POST', '/api/v1/servables/alice/mlp/run', token, { inputs: INPUTS, endpoint: 'alice/badpart', parameters: { deadline_ms: 60_000 } });
    expect(reply.status).toBe(500);
    expect(reply.body.error.code).toBe('MODELHUB_SERVABLE_FAILED');
    expect(reply.body.error.message).toMatch(/sbatch: error: .*invalid partition/i);
    await waitForEndpoint(hub.url, 'alice/badpart', token, 'online', 10_000);
    const status = await call(hub.url, 'GET', '/api/v1/endpoints/alice/badpart', token);
    // The heartbeat carries it to the endpoint's resources as well.
    for (const started = Date.now(); !status.body.resources.last_error && Date.now() - started < 15_000; ) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      status.body = (await call(hub.url, 'GET', '/api/v1/endpoints/alice/badpart', token)).body;
    }
    expect(status.body.resources.last_error).toMatch(/invalid partition/i);
  }, 120_000);
});
