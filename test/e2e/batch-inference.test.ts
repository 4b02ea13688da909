/**
 * Batch inference end to end on the real hub (MODELHUB_AUTH=tokens): 10,000 NDJSON records on a
 * compute endpoint (the real CLI agent, local executor), with the hub killed (SIGKILL) in the
 * middle of the batch and started again: the agent reconnects, the batch resumes at its first
 * unfinished chunk and finishes with every record's result in order; malformed records fail
 * alone, named by their line. CSV through `modelhub batch` (progress lines, -o file) and NPY on
 * the hub; bad requests answered with the catalogue's errors.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlpOnnx, defaultMlpWeights } from '../../builder/demo/onnx-writer.ts';
import { onnxMetadata } from '../helpers/hub-http.ts';
import { batchResults, call, publishAs, submitBatch, userTokens, waitTask } from '../helpers/endpoint-hub.ts';
import { freePort, startAgentCli, waitForEndpoint, type StartedAgent } from '../helpers/endpoint-agent.ts';
import { ROOT, startTestHub, type TestHub } from '../helpers/test-hub.ts';

const exec = promisify(execFile);
const SPEC = { inputSize: 4, hidden: 6, classes: 3, inputName: 'x', outputName: 'y' };
const MODEL = buildMlpOnnx({ ...SPEC, weights: defaultMlpWeights(SPEC, 5) });
const RECORDS = 10_000;
/** Deterministic rows: no two alike, so an output in the wrong place shows. */
const row = (i: number) => [Math.sin(i), Math.cos(i * 0.5), ((i % 97) - 48) / 50, (i % 13) / 13];
const MALFORMED = new Map([[17, '{"inputs": [[1, 2'], [5003, '[[1, 2]]']]);

async function reference(rows: number[][]): Promise<number[][]> {
  const session = await ort.InferenceSession.create(MODEL);
  const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from(rows.flat()), [rows.length, 4]) });
  const data = Array.from(out.y!.data as Float32Array);
  await session.release();
  return rows.map((_, i) => data.slice(i * 3, i * 3 + 3));
}

function npy(rows: number[][]): Buffer {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${rows.length}, ${rows[0]!.length}), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const prefix = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(prefix);
  prefix.writeUInt16LE(header.length, 8);
  return Buffer.concat([prefix, Buffer.from(header, 'latin1'), Buffer.from(Float32Array.from(rows.flat()).buffer)]);
}

describe('batch inference', () => {
  let hub: TestHub;
  let agent: StartedAgent | undefined;
  let port = 0;
  let token = '';
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-batch-'));
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-batch-work-'));
  const startHub = () => startTestHub({ dataDir, env: { MODELHUB_AUTH: 'tokens', MODELHUB_PORT: String(port), MODELHUB_ENDPOINT_HEARTBEAT_MS: '1000' } });
  const auth = () => ({ authorization: `Bearer ${token}` });

  // The shared helpers (test/helpers/endpoint-hub.ts), bound to this suite's hub and token.
  const submit = (servable: string, file: string, bytes: Buffer | string, fields: Record<string, string> = {}) => submitBatch(hub.url, token, servable, file, bytes, fields);
  const task = async (id: string) => (await call(hub.url, 'GET', `/api/v1/tasks/${id}`, token)).body;
  const finished = (id: string, timeoutMs = 240_000) => waitTask(hub.url, id, token, timeoutMs);
  const results = (id: string) => batchResults(hub.url, token, id);

  beforeAll(async () => {
    port = await freePort();
    hub = await startHub();
    token = (await userTokens(hub, { alice: [] })).alice!;
    await publishAs(hub, token, onnxMetadata('alice', 'mlp'), [{ name: 'mlp.onnx', bytes: MODEL }]);
  }, 180_000);

  afterAll(async () => {
    await agent?.stop();
    await hub?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('runs 10,000 records on an endpoint through a hub restart, every result in order, malformed records failing alone', async () => {
    agent = startAgentCli(hub.url, token, path.join(work, 'home'), ['--name', 'box']);
    await waitForEndpoint(hub.url, 'alice/box', token, 'online', 60_000, agent);
    const rows = Array.from({ length: RECORDS }, (_, i) => row(i));
    const lines = rows.map((r, i) => MALFORMED.get(i + 1) ?? JSON.stringify([r]));
    const accepted = await submit('alice/mlp', 'data.ndjson', lines.join('\n') + '\n', { endpoint: 'alice/box', chunk_size: '200' });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    const id = accepted.body.task_id as string;

    // Kill the hub once part of the batch is done.
    let before: any;
    for (const started = Date.now(); Date.now() - started < 120_000; ) {
      before = await task(id);
      if (before.progress?.done >= 1000 || before.status !== 'RUNNING') break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(before.status, JSON.stringify(before)).toBe('RUNNING');
    expect(before.progress.done).toBeLessThan(RECORDS);
    expect(before.progress).toMatchObject({ total: RECORDS, chunks: RECORDS / 200 });
    expect(before.progress.records_per_s).toBeGreaterThan(0);
    await hub.kill();
    hub = await startHub();
    await waitForEndpoint(hub.url, 'alice/box', token, 'online', 60_000, agent);

    const done = await finished(id);
    expect(done.status, JSON.stringify(done)).toBe('SUCCEEDED');
    expect(done.result).toMatchObject({ records: RECORDS, succeeded: RECORDS - 2, failed: 2, results: { format: 'ndjson', url: `/api/v1/tasks/${id}/results` } });
    expect(done.progress).toMatchObject({ total: RECORDS, done: RECORDS - 2, failed: 2, eta_s: 0 });

    const expected = await reference(rows);
    const got = await results(id);
    expect(got.map((line) => line.line)).toEqual(Array.from({ length: RECORDS }, (_, i) => i + 1));
    for (const [i, line] of got.entries()) {
      if (MALFORMED.has(i + 1)) continue;
      expect(line.error, JSON.stringify(line)).toBeUndefined();
      line.output[0].forEach((value: number, j: number) => expect(value).toBeCloseTo(expected[i]![j]!, 5));
    }
    expect(got[16].error.code).toBe('MODELHUB_BAD_REQUEST');
    expect(got[16].error.message).toMatch(/^line 17 is not JSON/);
    expect(got[5002].error.code).toBe('MODELHUB_INVALID_INPUTS');
    expect(got[5002].error.message).toMatch(/^line 5003: /);
  }, 400_000);

  it('runs a CSV on the hub through modelhub batch, with progress and the results in a file', async () => {
    const rows = Array.from({ length: 50 }, (_, i) => row(i + 100));
    const csv = ['a,b,c,d', ...rows.map((r, i) => (i === 9 ? '1,2,x,4' : r.join(',')))].join('\n');
    const data = path.join(work, 'rows.csv');
    const out = path.join(work, 'results.ndjson');
    fs.writeFileSync(data, csv);
    const cli = await exec(process.execPath, [path.join(ROOT, 'bin/modelhub.js'), '--url', hub.url, '--token', token, 'batch', 'alice/mlp', data, '-o', out, '--chunk-size', '20'], { cwd: ROOT });
    expect(cli.stderr).toMatch(/batch [0-9a-f-]+: \d+\/50 records, \d+ failed/);
    expect(cli.stdout).toMatch(/49 of 50 records succeeded, 1 failed; results in/);
    const got = fs.readFileSync(out, 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    const expected = await reference(rows);
    // Lines are the file's: the header is line 1.
    expect(got.map((line) => line.line)).toEqual(Array.from({ length: 50 }, (_, i) => i + 2));
    expect(got[9].error.message).toMatch(/line 11, column 3 is not a number/);
    got.filter((_, i) => i !== 9).forEach((line) => expect(line.output[0][0]).toBeCloseTo(expected[got.indexOf(line)]![0]!, 5));
  }, 120_000);

  it('runs an NPY data set on the hub', async () => {
    const rows = Array.from({ length: 30 }, (_, i) => row(i + 7));
    const accepted = await submit('alice/mlp', 'x.npy', npy(rows));
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    expect((await finished(accepted.body.task_id)).status).toBe('SUCCEEDED');
    const got = await results(accepted.body.task_id);
    const expected = await reference(rows.map((r) => Array.from(Float32Array.from(r))));
    got.forEach((line, i) => {
      expect(line.line).toBe(i + 1);
      line.output[0].forEach((value: number, j: number) => expect(value).toBeCloseTo(expected[i]![j]!, 5));
    });
  }, 120_000);

  it('answers bad batch requests with the catalogue', async () => {
    expect((await submit('alice/mlp', 'd.ndjson', '[[1,2,3,4]]\n', { endpoint: 'alice/nothing' })).body.error.code).toBe('MODELHUB_ENDPOINT_NOT_FOUND');
    expect((await submit('alice/none', 'd.ndjson', '[[1,2,3,4]]\n')).body.error.code).toBe('MODELHUB_SERVABLE_NOT_FOUND');
    const format = await submit('alice/mlp', 'd.txt', '[[1,2,3,4]]\n');
    expect(format.status).toBe(400);
    expect(format.body.error.message).toMatch(/format/);
    expect((await submit('alice/mlp', 'd.npy', 'not numpy')).status).toBe(400);
    const json = await fetch(`${hub.url}/api/v1/servables/alice/mlp/batch`, { method: 'POST', headers: { ...auth(), 'content-type': 'application/json' }, body: '{}' });
    expect(json.status).toBe(415);
    expect((await fetch(`${hub.url}/api/v1/tasks/nope/results`, { headers: auth() })).status).toBe(404);
  });
});
