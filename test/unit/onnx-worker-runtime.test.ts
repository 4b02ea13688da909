/**
 * The worker-thread ONNX runtime against the in-process one: the same models, inputs and bad inputs
 * must give the same outputs (bit for bit: the same onnxruntime build and session options run them)
 * and the same errors; a worker that dies is replaced.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createRuntimes } from '../../hub-server/composition-root.ts';
import { LazyRuntime } from '../../servables/lazy-runtime.ts';
import { loadConfig } from '../../hub-server/config.ts';
import { HubError } from '../../schemas/errors.ts';
import type { ContainerRuntimeOptions } from '../../servables/container-runtime.ts';
import type { PublishedMetadata, ServableBlock } from '../../schemas/metadata.ts';
import { OnnxRuntime } from '../../servables/onnx-runtime.ts';
import { OnnxWorkerRuntime } from '../../servables/onnx-worker-runtime.ts';
import type { LocalFile, Servable, ServableValue, Tensor } from '../../schemas/ports/servable.ts';
import { buildDeepMlpOnnx } from '../../bench/deep-mlp.ts';
import { buildAddOnnx, buildFloat16CastOnnx, buildMlpOnnx, defaultMlpWeights } from '../fixtures/onnx-builders.ts';

const SILERO = fileURLToPath(new URL('../../node_modules/@ricky0123/vad-web/dist/silero_vad_v5.onnx', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'onnx-worker-test-'));

let fileCounter = 0;
function localFile(path: string, bytes: Uint8Array): LocalFile {
  const localPath = join(dir, `${fileCounter++}-${path.replaceAll('/', '_')}`);
  writeFileSync(localPath, bytes);
  return { path, localPath, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
}

const block: ServableBlock = { type: 'onnx', methods: { run: { input: { type: 'any' }, output: { type: 'any' } } } };
const document = { servable: block } as unknown as PublishedMetadata;

const inProcess = new OnnxRuntime();
const workers = new OnnxWorkerRuntime(2);
const loaded: Servable[] = [];
afterAll(async () => {
  for (const servable of loaded) await servable.dispose();
  await workers.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The same file loaded by both runtimes. */
async function loadBoth(file: LocalFile): Promise<[Servable, Servable]> {
  const pair: [Servable, Servable] = [await inProcess.load(document, [file]), await workers.load(document, [file])];
  loaded.push(...pair);
  return pair;
}

const tensors = (value: ServableValue): Record<string, Tensor> => {
  if (value.kind !== 'tensors') throw new Error('expected tensors');
  return value.tensors;
};

/** What a promise settles to, errors as their code and message, for comparing two runtimes. */
async function outcome(promise: Promise<unknown>): Promise<unknown> {
  try {
    return await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(HubError);
    return { code: (error as HubError).code, message: (error as HubError).message };
  }
}

const plain = (t: Record<string, Tensor>) =>
  Object.fromEntries(Object.entries(t).map(([name, { dtype, shape, data }]) => [name, { dtype, shape, type: data.constructor.name, data: Array.from(data as ArrayLike<unknown>) }]));

const SPEC = { inputSize: 6, hidden: 5, classes: 4 };
const mlpFile = localFile('model.onnx', buildMlpOnnx({ ...SPEC, weights: defaultMlpWeights(SPEC, 3), inputName: 'x', outputName: 'probs' }));

describe('OnnxWorkerRuntime gives what OnnxRuntime gives', () => {
  it('runs the MLP to the same outputs, batch after batch and many at once', async () => {
    const [a, b] = await loadBoth(mlpFile);
    expect(b).toMatchObject({ type: 'onnx', io: 'tensors', memoryBytes: a.memoryBytes });
    const inputs = Array.from({ length: 12 }, (_, n) => {
      const batch = 1 + (n % 5);
      const x = Float32Array.from({ length: batch * SPEC.inputSize }, (_, i) => Math.sin(i * 1.7 + n) * 2);
      return { kind: 'tensors', tensors: { x: { dtype: 'float32', shape: [batch, SPEC.inputSize], data: x } } } as ServableValue;
    });
    const theirs = await Promise.all(inputs.map((input) => a.run(input, {})));
    const ours = await Promise.all(inputs.map((input) => b.run(input, {})));
    expect(ours.map((o) => plain(tensors(o)))).toEqual(theirs.map((o) => plain(tensors(o))));
    // The caller's input arrays are copied, not transferred away.
    expect((tensors(inputs[0]!).x!.data as Float32Array).length).toBe(SPEC.inputSize);
  });

  it('runs Silero (three inputs, int64 scalar, two outputs) to the same outputs', async () => {
    const [a, b] = await loadBoth(localFile('vad.onnx', readFileSync(SILERO)));
    const audio = Float32Array.from({ length: 512 }, (_, i) => 0.4 * Math.sin((2 * Math.PI * 440 * i) / 16000) + 0.05 * Math.sin(i * 7.3));
    const input: ServableValue = {
      kind: 'tensors',
      tensors: {
        input: { dtype: 'float32', shape: [1, 512], data: audio },
        state: { dtype: 'float32', shape: [2, 1, 128], data: new Float32Array(256).fill(0.01) },
        sr: { dtype: 'int64', shape: [], data: BigInt64Array.from([16000n]) },
      },
    };
    const ours = tensors(await b.run(input, {}));
    expect(Object.keys(ours)).toEqual(['output', 'stateN']);
    expect(plain(ours)).toEqual(plain(tensors(await a.run(input, {}))));
  });

  it('refuses the same inputs with the same errors', async () => {
    const [a, b] = await loadBoth(localFile('add.onnx', buildAddOnnx({ size: 3 })));
    const f32 = (shape: number[], values: number[]): Tensor => ({ dtype: 'float32', shape, data: Float32Array.from(values) });
    const six = [1, 2, 3, 4, 5, 6];
    const cases: ServableValue[] = [
      { kind: 'tensors', tensors: { a: f32([2, 3], six), b: f32([2, 3], six) } },
      { kind: 'tensors', tensors: { a: f32([2, 3], six) } },
      { kind: 'tensors', tensors: { a: { dtype: 'float64', shape: [2, 3], data: Float64Array.from(six) }, b: f32([2, 3], six) } },
      { kind: 'tensors', tensors: { a: f32([3, 2], six), b: f32([3, 2], six) } },
      { kind: 'tensors', tensors: { a: f32([2, 3], six), b: f32([2, 3], six), c: f32([2, 3], six) } },
      { kind: 'tensors', tensors: { a: f32([2, 4], six), b: f32([2, 3], six) } },
      { kind: 'json', value: [1] },
    ];
    for (const input of cases) {
      const [theirs, ours] = [await outcome(a.run(input, {})), await outcome(b.run(input, {}))];
      if (theirs && typeof theirs === 'object' && 'code' in theirs) expect(ours).toEqual(theirs);
      else expect(plain(tensors(ours as ServableValue))).toEqual(plain(tensors(theirs as ServableValue)));
    }
    expect(await outcome(b.run(cases[1]!, {}))).toMatchObject({ code: 'MODELHUB_INVALID_INPUTS', message: expect.stringMatching(/missing input "b"/) });
    expect(await outcome(b.run(cases[0]!, { deadline: Date.now() - 1 }))).toMatchObject({ code: 'MODELHUB_DEADLINE_EXCEEDED' });
  });

  it('carries float16 as float32 values, as the in-process runtime does', async () => {
    const [a, b] = await loadBoth(localFile('halves.onnx', buildFloat16CastOnnx()));
    const values = [0.1, 1 / 3, 3.14159, -2.71828, 65504, 1e-6];
    const input: ServableValue = {
      kind: 'tensors',
      tensors: { h: { dtype: 'float16', shape: [6], data: Float32Array.from(values) }, f: { dtype: 'float32', shape: [6], data: Float32Array.from(values) } },
    };
    const ours = tensors(await b.run(input, {}));
    expect(ours.f_as_half!.dtype).toBe('float16');
    expect(plain(ours)).toEqual(plain(tensors(await a.run(input, {}))));
  });

  it('fails to load the same files with the same error codes', async () => {
    const junk = localFile('junk.onnx', new TextEncoder().encode('junk'));
    const [theirs, ours] = [await outcome(inProcess.load(document, [junk])), await outcome(workers.load(document, [junk]))];
    expect(theirs).toMatchObject({ code: 'MODELHUB_SERVABLE_FAILED', message: expect.stringMatching(/onnxruntime cannot load junk\.onnx/) });
    expect(ours).toMatchObject({ code: 'MODELHUB_SERVABLE_FAILED', message: expect.stringMatching(/onnxruntime cannot load junk\.onnx/) });
  });
});

describe('OnnxWorkerRuntime threads', () => {
  it('spreads servables over the workers and releases sessions on dispose', async () => {
    const runtime = new OnnxWorkerRuntime(2);
    try {
      const first = await runtime.load(document, [mlpFile]);
      const second = await runtime.load(document, [mlpFile]);
      expect(runtime.pool.sessionCounts()).toEqual([1, 1]);
      const [t1, t2] = runtime.pool.threadIds();
      expect(t1).toBeDefined();
      expect(t2).toBeDefined();
      expect(t1).not.toBe(t2);
      await first.dispose();
      await first.dispose();
      expect(runtime.pool.sessionCounts()).toEqual([0, 1]);
      const x: Tensor = { dtype: 'float32', shape: [1, 6], data: new Float32Array(6) };
      expect(await outcome(first.run({ kind: 'tensors', tensors: { x } }, {}))).toMatchObject({ code: 'MODELHUB_NOT_READY', message: expect.stringMatching(/unloaded/) });
      expect(tensors(await second.run({ kind: 'tensors', tensors: { x } }, {})).probs!.shape).toEqual([1, 4]);
      await second.dispose();
    } finally {
      await runtime.close();
    }
  });

  it('replaces a worker that dies: its requests fail with SERVABLE_FAILED, later ones run', async () => {
    const runtime = new OnnxWorkerRuntime(1);
    try {
      const servable = await runtime.load(document, [mlpFile]);
      const x: Tensor = { dtype: 'float32', shape: [1, 6], data: Float32Array.from([1, 2, 3, 4, 5, 6]) };
      const before = tensors(await servable.run({ kind: 'tensors', tensors: { x } }, {}));
      const [oldThread] = runtime.pool.threadIds();
      const caught = servable.run({ kind: 'tensors', tensors: { x } }, {});
      await runtime.pool.terminate(0);
      const result = await outcome(caught);
      // The run may have finished before the worker stopped; if not, it failed with the catalog code.
      if (result && typeof result === 'object' && 'code' in result) {
        expect(result).toMatchObject({ code: 'MODELHUB_SERVABLE_FAILED', message: expect.stringMatching(/worker thread stopped/) });
      }
      expect(runtime.pool.threadIds()).toEqual([undefined]);
      const after = tensors(await servable.run({ kind: 'tensors', tensors: { x } }, {}));
      expect(plain(after)).toEqual(plain(before));
      expect(runtime.pool.threadIds()[0]).not.toBe(oldThread);
      await servable.dispose();
    } finally {
      await runtime.close();
    }
  });

  it('keeps the event loop free while a heavy batch runs', async () => {
    const runtime = new OnnxWorkerRuntime(1);
    try {
      const servable = await runtime.load(document, [localFile('deep.onnx', buildDeepMlpOnnx([784, 1024, 1024, 10]))]);
      const input: ServableValue = { kind: 'tensors', tensors: { input: { dtype: 'float32', shape: [64, 784], data: new Float32Array(64 * 784).fill(0.5) } } };
      await servable.run(input, {});
      let turns = 0;
      let done = false;
      const spin = (): void => {
        turns++;
        if (!done) setImmediate(spin);
      };
      setImmediate(spin);
      const out = tensors(await servable.run(input, {}));
      done = true;
      expect(out.output!.shape).toEqual([64, 10]);
      // The in-process runtime would run these 64 rows in one synchronous call, between two turns.
      expect(turns).toBeGreaterThan(2);
      await servable.dispose();
    } finally {
      await runtime.close();
    }
  });
});

describe('createRuntimes', () => {
  // Only the ONNX runtime is looked at: the container options are never used here.
  const containers = { engine: { isolated: false } } as unknown as ContainerRuntimeOptions;

  it('serves ONNX in-process with MODELHUB_WORKER_THREADS=0, in that many worker threads above it, loaded on first use', async () => {
    const inProcess = createRuntimes(loadConfig({ MODELHUB_WORKER_THREADS: '0', MODELHUB_DATA: dir }), containers).get('onnx');
    // onnxruntime loads with the first ONNX servable, not with the hub.
    expect(inProcess).toBeInstanceOf(LazyRuntime);
    expect(await (inProcess as LazyRuntime).runtime()).toBeInstanceOf(OnnxRuntime);
    const runtime = await (createRuntimes(loadConfig({ MODELHUB_WORKER_THREADS: '3', MODELHUB_DATA: dir }), containers).get('onnx') as LazyRuntime).runtime();
    expect(runtime).toBeInstanceOf(OnnxWorkerRuntime);
    expect((runtime as OnnxWorkerRuntime).pool.size).toBe(3);
    // No thread starts before a servable is loaded.
    expect((runtime as OnnxWorkerRuntime).pool.threadIds()).toEqual([undefined, undefined, undefined]);
  });
});
