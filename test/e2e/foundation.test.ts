/**
 * The foundation end to end, against the real hub on a free port: publish ONNX models over the wire,
 * find them, resolve their identifiers, run them over the hub API and the v2 protocol and compare
 * with onnxruntime-node run directly in the test; every bad-input case; crash and restart.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import * as ort from 'onnxruntime-node';
import * as tar from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAddOnnx, buildMlpOnnx, defaultMlpWeights } from '../../builder/demo/onnx-writer.ts';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ROOT, startTestHub, type TestHub } from '../helpers/test-hub.ts';
import { getJson, onnxMetadata, postJson, publishAndWait, publishRaw, waitForTask } from '../helpers/hub-http.ts';

const require = createRequire(import.meta.url);
const SILERO = path.join(path.dirname(require.resolve('@ricky0123/vad-web/package.json')), 'dist', 'silero_vad_v5.onnx');

const MLP_SPEC = { inputSize: 8, hidden: 6, classes: 3, inputName: 'features', outputName: 'scores' };
const mlpBytes = buildMlpOnnx({ ...MLP_SPEC, weights: defaultMlpWeights(MLP_SPEC, 7) });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-foundation-'));

async function directRun(modelBytes: Uint8Array, feeds: Record<string, ort.Tensor>) {
  const session = await ort.InferenceSession.create(modelBytes);
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

describe('foundation: publish, find, cite and run ONNX servables', () => {
  let hub: TestHub;
  beforeAll(async () => {
    hub = await startTestHub({ env: { MODELHUB_MAX_UPLOAD_MB: '8' } });
  });
  afterAll(async () => {
    await hub?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('publishes an ONNX model with visible steps and runs it like onnxruntime does', async () => {
    const { accepted, task } = await publishAndWait(hub.url, onnxMetadata('alice', 'mlp'), [{ name: 'mlp.onnx', bytes: mlpBytes }]);
    expect(accepted).toMatchObject({ servable: 'alice/mlp', version: 1 });
    expect(task.status, JSON.stringify(task)).toBe('SUCCEEDED');
    expect(task.steps!.map((s) => [s.name, s.status])).toEqual(
      ['validate', 'store', 'inspect', 'warm-up', 'mint', 'register', 'index', 'ready'].map((n) => [n, 'SUCCEEDED']),
    );
    expect(task.log!.length).toBeGreaterThan(0);

    const described = await getJson(`${hub.url}/api/v1/servables/alice/mlp`);
    expect(described.status).toBe(200);
    expect(described.body.servable.methods.run.input).toMatchObject({ type: 'ndarray', dtype: 'float32', shape: [null, 8] });
    expect(described.body.hub.identifier).toBe('modelhub:alice/mlp/v1');
    expect(described.body.hub.inspection.opset).toBeGreaterThan(0);

    const inputs = [Array.from({ length: 8 }, (_, i) => i / 8), Array.from({ length: 8 }, (_, i) => 1 - i / 10)];
    const run = await postJson(`${hub.url}/api/v1/servables/alice/mlp/run`, { inputs });
    expect(run.status).toBe(200);
    expect(run.body).toMatchObject({ servable: 'alice/mlp', version: 1, cached: false });
    expect(run.body.timing.total_ms).toBeGreaterThanOrEqual(run.body.timing.inference_ms);
    const reference = await directRun(mlpBytes, { features: new ort.Tensor('float32', Float32Array.from(inputs.flat()), [2, 8]) });
    expect(maxAbsDiff(run.body.output.flat(), reference.scores!.data as Float32Array)).toBeLessThan(1e-6);

    const again = await postJson(`${hub.url}/api/v1/servables/alice/mlp/run`, { inputs });
    expect(again.body.cached).toBe(true);
    expect(again.body.output).toEqual(run.body.output);

    const v2 = await postJson(`${hub.url}/v2/models/alice.mlp/infer`, {
      id: 'r1',
      inputs: [{ name: 'features', shape: [2, 8], datatype: 'FP32', data: inputs.flat() }],
    });
    expect(v2.status).toBe(200);
    expect(v2.body).toMatchObject({ model_name: 'alice.mlp', model_version: '1', id: 'r1' });
    expect(v2.body.outputs[0]).toMatchObject({ name: 'scores', datatype: 'FP32', shape: [2, 3] });
    expect(maxAbsDiff(v2.body.outputs[0].data, reference.scores!.data as Float32Array)).toBeLessThan(1e-6);

    const meta = await getJson(`${hub.url}/v2/models/alice.mlp`);
    expect(meta.body).toMatchObject({ name: 'alice.mlp', platform: 'onnxruntime_onnx', inputs: [{ name: 'features', datatype: 'FP32', shape: [-1, 8] }] });
    expect((await getJson(`${hub.url}/v2/models/alice.mlp/ready`)).body.ready).toBe(true);
  });

  it('answers the binary tensor extension with the same numbers as JSON', async () => {
    const values = Float32Array.from({ length: 3 * 8 }, (_, i) => Math.sin(i));
    const header = Buffer.from(JSON.stringify({
      inputs: [{ name: 'features', shape: [3, 8], datatype: 'FP32', parameters: { binary_data_size: values.byteLength } }],
      outputs: [{ name: 'scores', parameters: { binary_data: true } }],
    }));
    const response = await fetch(`${hub.url}/v2/models/alice.mlp/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
      body: Buffer.concat([header, Buffer.from(values.buffer)]),
    });
    expect(response.status).toBe(200);
    const body = Buffer.from(await response.arrayBuffer());
    const headerLength = Number(response.headers.get('inference-header-content-length'));
    const replyHeader = JSON.parse(body.subarray(0, headerLength).toString());
    expect(replyHeader.outputs[0]).toMatchObject({ name: 'scores', shape: [3, 3], parameters: { binary_data_size: 36 } });
    const tail = body.subarray(headerLength);
    const binaryScores = new Float32Array(tail.buffer.slice(tail.byteOffset, tail.byteOffset + tail.byteLength));
    const json = await postJson(`${hub.url}/v2/models/alice.mlp/infer`, { inputs: [{ name: 'features', shape: [3, 8], datatype: 'FP32', data: Array.from(values) }] });
    expect(Array.from(binaryScores)).toEqual(json.body.outputs[0].data);

    // Lengths that do not add up are refused, and the hub keeps serving.
    const bad = await fetch(`${hub.url}/v2/models/alice.mlp/infer`, {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
      body: Buffer.concat([header, Buffer.from(values.buffer).subarray(0, 40)]),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/binary_data_size/);
  });

  it('publishes and runs the real Silero VAD model with its three named inputs', async () => {
    const bytes = fs.readFileSync(SILERO);
    const { task } = await publishAndWait(hub.url, onnxMetadata('silero', 'vad'), [{ name: 'silero_vad.onnx', bytes }]);
    expect(task.status, JSON.stringify(task)).toBe('SUCCEEDED');
    const audio = Array.from({ length: 512 }, (_, i) => 0.4 * Math.sin((2 * Math.PI * 300 * i) / 16000) + 0.05 * Math.cos(i));
    const state = [[Array(128).fill(0)], [Array(128).fill(0)]];
    const run = await postJson(`${hub.url}/api/v1/servables/silero/vad/run`, { inputs: { input: [audio], state, sr: 16000 } });
    expect(run.status, JSON.stringify(run.body)).toBe(200);
    const reference = await directRun(bytes, {
      input: new ort.Tensor('float32', Float32Array.from(audio), [1, 512]),
      state: new ort.Tensor('float32', new Float32Array(2 * 128), [2, 1, 128]),
      sr: new ort.Tensor('int64', BigInt64Array.from([16000n]), []),
    });
    expect(Math.abs(run.body.output.output[0][0] - (reference.output!.data as Float32Array)[0]!)).toBeLessThan(1e-5);
    expect(maxAbsDiff(run.body.output.stateN.flat(2), reference.stateN!.data as Float32Array)).toBeLessThan(1e-5);
  });

  it('publishes a folder as a .tar.gz and finds everything by search, facets and identifier', async () => {
    const folder = path.join(tmp, 'adder');
    fs.mkdirSync(path.join(folder, 'docs'), { recursive: true });
    fs.writeFileSync(path.join(folder, 'add.onnx'), buildAddOnnx({ size: 4 }));
    fs.writeFileSync(path.join(folder, 'docs', 'README.txt'), 'adds two vectors');
    const archive = path.join(tmp, 'adder.tar.gz');
    await tar.c({ gzip: true, file: archive, cwd: folder }, ['add.onnx', 'docs']);
    const metadata = onnxMetadata('bob', 'adder', { domains: ['arithmetic'] });
    metadata.servable.model_file = 'add.onnx';
    metadata.datacite.titles = [{ title: 'Vector adder for beamline calibration' }];
    const { task } = await publishAndWait(hub.url, metadata, [{ name: 'adder.tar.gz', path: archive }]);
    expect(task.status, JSON.stringify(task)).toBe('SUCCEEDED');
    const described = await getJson(`${hub.url}/api/v1/servables/bob/adder`);
    expect(described.body.hub.files.map((f: { path: string }) => f.path).sort()).toEqual(['add.onnx', 'docs/README.txt']);

    const run = await postJson(`${hub.url}/api/v1/servables/bob/adder/run`, { inputs: { a: [[1, 2, 3, 4]], b: [[10, 20, 30, 40]] } });
    expect(run.body.output).toEqual([[11, 22, 33, 44]]);

    const search = await getJson(`${hub.url}/api/v1/search?q=beamline`);
    expect(search.body.total).toBe(1);
    expect(search.body.hits[0]).toMatchObject({ servable: 'bob/adder', version: 1, type: 'onnx', identifier: 'modelhub:bob/adder/v1', authors: ['Curie, Marie'] });
    const byDomain = await getJson(`${hub.url}/api/v1/search?domain=arithmetic`);
    expect(byDomain.body.hits.map((h: { servable: string }) => h.servable)).toEqual(['bob/adder']);
    const all = await getJson(`${hub.url}/api/v1/search`);
    expect(all.body.facets.owner).toMatchObject({ alice: 1, bob: 1, silero: 1 });
    expect(all.body.facets.type.onnx).toBeGreaterThanOrEqual(3);

    const resolved = await getJson(`${hub.url}/api/v1/identifiers/${encodeURIComponent('modelhub:bob/adder/v1')}`);
    expect(resolved.body).toMatchObject({ servable: 'bob/adder', version: 1, withdrawn: false });
  });

  it('refuses bad input with stable codes and keeps serving', async () => {
    // Malformed metadata: every failing path listed.
    const malformed = await publishRaw(hub.url, { datacite: { creators: [], titles: [{}] }, hub: { owner: 'Bad Owner!', name: '' }, servable: { type: 'matlab' } }, [
      { name: 'x.onnx', bytes: mlpBytes },
    ]);
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe('MODELHUB_INVALID_METADATA');
    const paths = malformed.body.error.details.map((d: { path: string }) => d.path);
    for (const expected of ['/datacite/creators', '/datacite/titles/0', '/hub/owner', '/hub/name', '/servable/type']) expect(paths).toContain(expected);
    expect((await publishRaw(hub.url, '{not json', [{ name: 'x.onnx', bytes: mlpBytes }])).body.error.code).toBe('MODELHUB_INVALID_METADATA');

    // A file that is not an ONNX model fails at the inspect step; nothing becomes visible.
    const { task } = await publishAndWait(hub.url, onnxMetadata('alice', 'broken'), [{ name: 'model.onnx', bytes: new TextEncoder().encode('this is not a model '.repeat(50)) }]);
    expect(task.status).toBe('FAILED');
    expect(task.error).toMatchObject({ code: 'MODELHUB_INVALID_MODEL', step: 'inspect' });
    expect(task.steps!.find((s) => s.name === 'inspect')!.status).toBe('FAILED');
    expect((await getJson(`${hub.url}/api/v1/servables/alice/broken`)).status).toBe(404);
    expect((await getJson(`${hub.url}/api/v1/search?q=broken`)).body.total).toBe(0);
    expect((await getJson(`${hub.url}/api/v1/identifiers/${encodeURIComponent('modelhub:alice/broken/v1')}`)).status).toBe(404);

    // An archive entry that escapes its folder is refused.
    const evil = path.join(tmp, 'evil');
    fs.mkdirSync(path.join(evil, 'inner'), { recursive: true });
    fs.writeFileSync(path.join(evil, 'model.onnx'), mlpBytes);
    const evilTar = path.join(tmp, 'evil.tar');
    await tar.c({ file: evilTar, cwd: path.join(evil, 'inner'), preservePaths: true }, ['../model.onnx']);
    const escaped = await publishAndWait(hub.url, onnxMetadata('alice', 'evil'), [{ name: 'evil.tar', path: evilTar }]);
    expect(escaped.task.status).toBe('FAILED');
    expect(escaped.task.error).toMatchObject({ code: 'MODELHUB_INVALID_ARCHIVE', step: 'store' });
    expect(escaped.task.error!.message).toMatch(/escapes/);

    // Over the upload limit (8 MB here): 413.
    const big = await publishRaw(hub.url, onnxMetadata('alice', 'big'), [{ name: 'big.onnx', bytes: new Uint8Array(9 * 1024 * 1024) }]);
    expect(big.status).toBe(413);
    expect(big.body.error.code).toBe('MODELHUB_PAYLOAD_TOO_LARGE');

    // Not multipart: 415.
    const json = await postJson(`${hub.url}/api/v1/servables`, { metadata: {} });
    expect(json.status).toBe(415);

    // Wrong shape and dtype: 422 naming the input, expected and given.
    const shape = await postJson(`${hub.url}/api/v1/servables/alice/mlp/run`, { inputs: [[1, 2, 3]] });
    expect(shape.status).toBe(422);
    expect(shape.body.error).toMatchObject({ code: 'MODELHUB_INVALID_INPUTS', details: { input: 'features', expected: 'shape [?, 8]', given: 'shape [1, 3]' } });
    const dtype = await postJson(`${hub.url}/api/v1/servables/alice/mlp/run`, { inputs: [['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']] });
    expect(dtype.status).toBe(422);
    expect(dtype.body.error.details.input).toBe('features');
    const missing = await postJson(`${hub.url}/api/v1/servables/silero/vad/run`, { inputs: { input: [[0]] } });
    expect(missing.status).toBe(422);
    const v2Bad = await postJson(`${hub.url}/v2/models/alice.mlp/infer`, { inputs: [{ name: 'features', shape: [1, 8], datatype: 'INT32', data: [1, 2, 3, 4, 5, 6, 7, 8] }] });
    expect(v2Bad.status).toBe(422);
    expect(typeof v2Bad.body.error).toBe('string');

    // Unknown names: 404 with the hub's or the protocol's error body.
    expect((await postJson(`${hub.url}/api/v1/servables/nobody/nothing/run`, { inputs: [] })).body.error.code).toBe('MODELHUB_SERVABLE_NOT_FOUND');
    expect((await getJson(`${hub.url}/api/v1/servables/alice/mlp/versions/9`)).body.error.code).toBe('MODELHUB_VERSION_NOT_FOUND');
    expect((await getJson(`${hub.url}/api/v1/tasks/nope`)).body.error.code).toBe('MODELHUB_TASK_NOT_FOUND');
    expect((await getJson(`${hub.url}/v2/models/nobody.nothing`)).status).toBe(404);
    expect((await getJson(`${hub.url}/api/v1/nowhere`)).body.error.code).toBe('MODELHUB_ROUTE_NOT_FOUND');
    expect((await postJson(`${hub.url}/api/v1/servables/alice/mlp/run`, { wrong: true })).body.error.code).toBe('MODELHUB_BAD_REQUEST');

    // Still serving.
    expect((await postJson(`${hub.url}/api/v1/servables/alice/mlp/run`, { inputs: [Array(8).fill(0)] })).status).toBe(200);
  });

  it('gives two concurrent publishes of one name versions 1 and 2, and runs each version', async () => {
    const weightsA = buildMlpOnnx({ ...MLP_SPEC, weights: defaultMlpWeights(MLP_SPEC, 11) });
    const weightsB = buildMlpOnnx({ ...MLP_SPEC, weights: defaultMlpWeights(MLP_SPEC, 12) });
    const [a, b] = await Promise.all([
      publishAndWait(hub.url, onnxMetadata('carol', 'twin'), [{ name: 'a.onnx', bytes: weightsA }]),
      publishAndWait(hub.url, onnxMetadata('carol', 'twin'), [{ name: 'b.onnx', bytes: weightsB }]),
    ]);
    expect([a.accepted.version, b.accepted.version].sort()).toEqual([1, 2]);
    expect(a.task.status).toBe('SUCCEEDED');
    expect(b.task.status).toBe('SUCCEEDED');
    const versions = await getJson(`${hub.url}/api/v1/servables/carol/twin/versions`);
    expect(versions.body.versions.map((v: { version: number }) => v.version)).toEqual([2, 1]);
    const input = [Array(8).fill(0.5)];
    const byVersion = async (v: number) => (await postJson(`${hub.url}/api/v1/servables/carol/twin/versions/${v}/run`, { inputs: input })).body.output;
    const bytesOf = (v: number) => (a.accepted.version === v ? weightsA : weightsB);
    for (const v of [1, 2]) {
      const reference = await directRun(bytesOf(v), { features: new ort.Tensor('float32', Float32Array.from(input.flat()), [1, 8]) });
      expect(maxAbsDiff((await byVersion(v)).flat(), reference.scores!.data as Float32Array)).toBeLessThan(1e-6);
    }
    const latest = await postJson(`${hub.url}/api/v1/servables/carol/twin/run`, { inputs: input });
    expect(latest.body.version).toBe(2);

    const asyncRun = await postJson(`${hub.url}/api/v1/servables/carol/twin/run`, { inputs: input, asynchronous: true });
    expect(asyncRun.status).toBe(202);
    const task = await waitForTask(hub.url, asyncRun.body.task_id);
    expect(task).toMatchObject({ kind: 'run', status: 'SUCCEEDED' });
    expect((task.result as { output: unknown }).output).toEqual(latest.body.output);
    // An asynchronous run always keeps its provenance record (docs/provenance.md).
    expect(Object.keys(task.result as object).sort()).toEqual(['cached', 'output', 'provenance', 'servable', 'timing', 'version']);
  });

  it('withdraws a version: runs stop, search forgets it, the identifier resolves to a tombstone', async () => {
    const response = await fetch(`${hub.url}/api/v1/servables/carol/twin/versions/1?reason=superseded`, { method: 'DELETE' });
    expect(response.status).toBe(200);
    const run = await postJson(`${hub.url}/api/v1/servables/carol/twin/versions/1/run`, { inputs: [Array(8).fill(0)] });
    expect(run.body.error.code).toBe('MODELHUB_SERVABLE_WITHDRAWN');
    const tombstone = await getJson(`${hub.url}/api/v1/identifiers/${encodeURIComponent('modelhub:carol/twin/v1')}`);
    expect(tombstone.body).toMatchObject({ withdrawn: true, withdrawn_reason: 'superseded', state: 'withdrawn' });
    const hits = await getJson(`${hub.url}/api/v1/search?owner=carol&latest=false`);
    expect(hits.body.hits.map((h: { version: number }) => h.version)).toEqual([2]);

    // With every version withdrawn, the servable itself answers as withdrawn, not as unknown.
    expect((await fetch(`${hub.url}/api/v1/servables/carol/twin?reason=retired`, { method: 'DELETE' })).status).toBe(200);
    const gone = await getJson(`${hub.url}/api/v1/servables/carol/twin`);
    expect(gone.status).toBe(410);
    expect(gone.body.error).toMatchObject({ code: 'MODELHUB_SERVABLE_WITHDRAWN', details: { reason: 'retired' } });
  });

  it('exposes Prometheus metrics and the OpenAPI document', async () => {
    const metrics = await (await fetch(`${hub.url}/metrics`)).text();
    expect(metrics).toMatch(/modelhub_inference_requests_total\{servable="alice\/mlp",version="1",outcome="ok"\} \d+/);
    expect(metrics).toMatch(/modelhub_cache_events_total\{event="hit"\} [1-9]/);
    const docs = await getJson(`${hub.url}/docs/json`);
    expect(Object.keys(docs.body.paths)).toEqual(expect.arrayContaining(['/api/v1/servables', '/api/v1/search', '/v2/models/{model}/infer']));
  });
});

describe('foundation: crashes and restarts lose nothing', () => {
  it('a hub killed mid-publish comes back with the task FAILED, no half version, and everything else intact', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-restart-'));
    let hub = await startTestHub({ dataDir });
    try {
      const { task } = await publishAndWait(hub.url, onnxMetadata('dana', 'kept'), [{ name: 'm.onnx', bytes: mlpBytes }]);
      expect(task.status).toBe('SUCCEEDED');
      const before = (await postJson(`${hub.url}/api/v1/servables/dana/kept/run`, { inputs: [Array(8).fill(1)] })).body.output;

      // A large (but well-compressed) archive keeps the store step busy long enough to kill the hub in it.
      const folder = path.join(dataDir, 'slow');
      fs.mkdirSync(folder);
      fs.writeFileSync(path.join(folder, 'm.onnx'), mlpBytes);
      fs.writeFileSync(path.join(folder, 'padding.bin'), Buffer.alloc(400 * 1024 * 1024));
      const archive = path.join(dataDir, 'slow.tar.gz');
      await tar.c({ gzip: true, file: archive, cwd: folder }, ['m.onnx', 'padding.bin']);
      fs.rmSync(folder, { recursive: true });
      const accepted = await publishRaw(hub.url, onnxMetadata('dana', 'interrupted'), [{ name: 'slow.tar.gz', path: archive }]);
      expect(accepted.status).toBe(202);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const midway = await getJson(`${hub.url}/api/v1/tasks/${accepted.body.task_id}`);
      expect(['PENDING', 'RUNNING']).toContain(midway.body.status);
      await hub.kill();

      hub = await startTestHub({ dataDir });
      const after = await getJson(`${hub.url}/api/v1/tasks/${accepted.body.task_id}`);
      expect(after.body.status).toBe('FAILED');
      expect((await getJson(`${hub.url}/api/v1/servables/dana/interrupted`)).status).toBe(404);
      expect((await getJson(`${hub.url}/api/v1/search?owner=dana`)).body.hits.map((h: { servable: string }) => h.servable)).toEqual(['dana/kept']);
      // What was published survives: document, identifier, search entry, finished task, results.
      expect((await getJson(`${hub.url}/api/v1/tasks/${task.task_id}`)).body.status).toBe('SUCCEEDED');
      expect((await getJson(`${hub.url}/api/v1/identifiers/${encodeURIComponent('modelhub:dana/kept/v1')}`)).status).toBe(200);
      expect((await postJson(`${hub.url}/api/v1/servables/dana/kept/run`, { inputs: [Array(8).fill(1)] })).body.output).toEqual(before);
      // The next publish of the interrupted name gets a fresh version and works.
      const retry = await publishAndWait(hub.url, onnxMetadata('dana', 'interrupted'), [{ name: 'm.onnx', bytes: mlpBytes }]);
      expect(retry.task.status).toBe('SUCCEEDED');
    } finally {
      await hub.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses a second hub on a data folder in use, and modelhub gc leaves a running hub its containers', async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-lock-'));
    const gc = async () => {
      const { stdout } = await promisify(execFile)(process.execPath, [path.join(ROOT, 'bin/modelhub.js'), '--json', 'gc', '--data', dataDir]);
      return JSON.parse(stdout) as { containers: string[]; running_hub_pid?: number };
    };
    const hub = await startTestHub({ dataDir });
    try {
      // The second hub would fail the first's running publish tasks as interrupted: it stops at once, saying why.
      const second = await startTestHub({ dataDir }).then(
        async (unexpected) => { await unexpected.stop(); return 'started'; },
        (error: Error) => error.message,
      );
      expect(second).toMatch(/exited with 2 before listening/);
      expect(second).toContain(`another hub (pid ${hub.process.pid}`);
      expect(second).toContain(dataDir);
      expect(await gc()).toMatchObject({ containers: [], running_hub_pid: hub.process.pid });
      expect((await getJson(`${hub.url}/api/v1/search`)).status).toBe(200);
    } finally {
      await hub.stop();
    }
    expect(fs.existsSync(path.join(dataDir, 'hub.lock'))).toBe(false);
    expect(await gc()).not.toHaveProperty('running_hub_pid');
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
});
