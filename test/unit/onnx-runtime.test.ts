import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { afterAll, describe, expect, it } from 'vitest';
import { HubError } from '../../schemas/errors.ts';
import type { ArgumentType, PublishedMetadata, ServableBlock } from '../../schemas/metadata.ts';
import { OnnxRuntime } from '../../servables/onnx-runtime.ts';
import type { LocalFile, Servable, Tensor } from '../../schemas/ports/servable.ts';
import { buildAddOnnx, buildFloat16CastOnnx, buildMlpOnnx, defaultMlpWeights } from '../fixtures/onnx-builders.ts';

const { onnx } = onnxProto;
const SILERO = fileURLToPath(new URL('../../node_modules/@ricky0123/vad-web/dist/silero_vad_v5.onnx', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'onnx-runtime-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fileCounter = 0;
function localFile(path: string, bytes: Uint8Array): LocalFile {
  const localPath = join(dir, `${fileCounter++}-${path.replaceAll('/', '_')}`);
  writeFileSync(localPath, bytes);
  return { path, localPath, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
}

const ANY: ArgumentType = { type: 'any' };
const block = (input: ArgumentType = ANY, output: ArgumentType = ANY, extra: Partial<ServableBlock> = {}): ServableBlock => ({
  type: 'onnx',
  methods: { run: { input, output } },
  ...extra,
});
const documentFor = (servable: ServableBlock) => ({ servable }) as unknown as PublishedMetadata;

async function expectHubError(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(HubError);
  expect((error as HubError).code).toBe(code);
  expect((error as HubError).message).toMatch(message);
}

const runtime = new OnnxRuntime();
const SPEC = { inputSize: 6, hidden: 5, classes: 4 };
const WEIGHTS = defaultMlpWeights(SPEC, 3);
const mlpFile = localFile('model.onnx', buildMlpOnnx({ ...SPEC, weights: WEIGHTS, inputName: 'x', outputName: 'probs' }));

/** The reference: the same MLP computed in float64 JavaScript, independent of onnxruntime. */
function mlpForward(x: Float32Array, batch: number): Float64Array {
  const { inputSize, hidden, classes } = SPEC;
  const out = new Float64Array(batch * classes);
  for (let b = 0; b < batch; b += 1) {
    const h = Array.from({ length: hidden }, (_, j) => {
      let s = WEIGHTS.b1[j]!;
      for (let i = 0; i < inputSize; i += 1) s += x[b * inputSize + i]! * WEIGHTS.w1[i * hidden + j]!;
      return Math.max(0, s);
    });
    const z = Array.from({ length: classes }, (_, c) => {
      let s = WEIGHTS.b2[c]!;
      for (let j = 0; j < hidden; j += 1) s += h[j]! * WEIGHTS.w2[j * classes + c]!;
      return s;
    });
    const max = Math.max(...z);
    const e = z.map((v) => Math.exp(v - max));
    const sum = e.reduce((a, v) => a + v, 0);
    e.forEach((v, c) => (out[b * classes + c] = v / sum));
  }
  return out;
}

describe('OnnxRuntime.inspect', () => {
  it('fills in what was left open from the file, and reports the facts', async () => {
    const result = await runtime.inspect([localFile('README.md', new TextEncoder().encode('# hi')), mlpFile], block());
    expect(result.servable.model_file).toBe('model.onnx');
    expect(result.servable.methods.run).toEqual({
      input: { type: 'ndarray', shape: [null, 6], dtype: 'float32' },
      output: { type: 'ndarray', shape: [null, 4], dtype: 'float32' },
      method_details: { input_names: ['x'], output_names: ['probs'] },
    });
    expect(result.facts).toMatchObject({ format: 'onnx', model_file: 'model.onnx', opset: 13, irVersion: 8, nodeCount: 6 });
    expect(result.warnings).toEqual([]);
  });

  it('accepts a declaration that agrees, keeping its fixed batch and descriptions', async () => {
    const declared = block(
      { type: 'ndarray', shape: [8, 6], dtype: 'float32', description: 'features' },
      { type: 'ndarray', shape: [null, null], dtype: 'float32' },
    );
    const { servable } = await runtime.inspect([mlpFile], declared);
    expect(servable.methods.run.input).toEqual({ type: 'ndarray', shape: [8, 6], dtype: 'float32', description: 'features' });
    expect(servable.methods.run.output).toEqual({ type: 'ndarray', shape: [null, 4], dtype: 'float32' });
  });

  it('refuses a declaration that contradicts the file, naming the mismatch', async () => {
    const nd = (shape: (number | null)[], dtype: 'float32' | 'float64' = 'float32'): ArgumentType => ({ type: 'ndarray', shape, dtype });
    await expectHubError(runtime.inspect([mlpFile], block(nd([null, 6], 'float64'))), 'MODELHUB_INVALID_METADATA', /methods\.run\.input: declared dtype float64, but the model's "x" is float32/);
    await expectHubError(runtime.inspect([mlpFile], block(nd([null, 2, 3]))), 'MODELHUB_INVALID_METADATA', /rank 3, but the model's "x" has rank 2/);
    await expectHubError(runtime.inspect([mlpFile], block(nd([null, 7]))), 'MODELHUB_INVALID_METADATA', /dimension 1 is declared as 7, but the model's "x" fixes it at 6/);
    await expectHubError(runtime.inspect([mlpFile], block(ANY, nd([null, 3]))), 'MODELHUB_INVALID_METADATA', /methods\.run\.output: dimension 1 .* fixes it at 4/);
    await expectHubError(runtime.inspect([mlpFile], block({ type: 'string' })), 'MODELHUB_INVALID_METADATA', /declared as string, but the model's "x" is a float32 tensor/);

    const silero = localFile('vad.onnx', readFileSync(SILERO));
    const dict = (names: string[]): ArgumentType => ({ type: 'dict', properties: Object.fromEntries(names.map((n) => [n, ANY])) });
    await expectHubError(runtime.inspect([silero], block(dict(['input', 'state', 'rate']))), 'MODELHUB_INVALID_METADATA', /declares "rate", which is not an input of the model \(its inputs are "input", "state", "sr"\)/);
    await expectHubError(runtime.inspect([silero], block(dict(['input', 'state']))), 'MODELHUB_INVALID_METADATA', /does not declare the model's input "sr"/);
    await expectHubError(runtime.inspect([silero], block(nd([null, null]))), 'MODELHUB_INVALID_METADATA', /declared as one ndarray, but the model has 3 inputs/);
    const wrongState = { type: 'dict', properties: { input: ANY, sr: ANY, state: { type: 'ndarray', shape: [3, null, 128], dtype: 'float32' } } } as ArgumentType;
    await expectHubError(runtime.inspect([silero], block(wrongState)), 'MODELHUB_INVALID_METADATA', /properties\.state: dimension 0 is declared as 3/);
  });

  it('fills a partly declared dict of Silero inputs', async () => {
    const declared = block({ type: 'dict', properties: { input: ANY, state: ANY, sr: { type: 'ndarray', shape: [], dtype: 'int64', description: 'sample rate' } } });
    const { servable } = await runtime.inspect([localFile('vad.onnx', readFileSync(SILERO))], declared);
    expect(servable.methods.run.input).toEqual({
      type: 'dict',
      properties: {
        input: { type: 'ndarray', shape: [null, null], dtype: 'float32' },
        state: { type: 'ndarray', shape: [2, null, 128], dtype: 'float32' },
        sr: { type: 'ndarray', shape: [], dtype: 'int64', description: 'sample rate' },
      },
    });
    expect(servable.methods.run.method_details).toEqual({ input_names: ['input', 'state', 'sr'], output_names: ['output', 'stateN'] });
  });

  it('finds the model file, or says why it cannot', async () => {
    const other = localFile('other.onnx', buildAddOnnx());
    await expectHubError(runtime.inspect([localFile('w.bin', new Uint8Array(4))], block()), 'MODELHUB_INVALID_MODEL', /no \.onnx file among the files \(w\.bin\)/);
    await expectHubError(runtime.inspect([mlpFile, other], block()), 'MODELHUB_INVALID_MODEL', /several \.onnx files \(model\.onnx, other\.onnx\); name the model in servable\.model_file/);
    await expectHubError(runtime.inspect([mlpFile], block(ANY, ANY, { model_file: 'nope.onnx' })), 'MODELHUB_INVALID_METADATA', /"nope\.onnx" is not among the files/);
    const chosen = await runtime.inspect([mlpFile, other], block(ANY, ANY, { model_file: 'other.onnx' }));
    expect(chosen.servable.methods.run.method_details).toEqual({ input_names: ['a', 'b'], output_names: ['sum'] });
    await expectHubError(runtime.inspect([localFile('junk.onnx', new TextEncoder().encode('junk'))], block()), 'MODELHUB_INVALID_MODEL', /not an ONNX model/);
  });

  it('refuses a file that decodes but that onnxruntime cannot load', async () => {
    const unknownOp = onnx.ModelProto.encode({
      irVersion: 8,
      opsetImport: [{ domain: '', version: 13 }],
      graph: {
        name: 'g',
        input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 2 }] } } } }],
        output: [{ name: 'y', type: { tensorType: { elemType: 1, shape: { dim: [{ dimValue: 2 }] } } } }],
        node: [{ opType: 'NoSuchOperator', input: ['x'], output: ['y'] }],
      },
    }).finish();
    await expectHubError(runtime.inspect([localFile('bad.onnx', unknownOp)], block()), 'MODELHUB_INVALID_MODEL', /onnxruntime cannot load bad\.onnx: .*NoSuchOperator/);
  });
});

describe('OnnxRuntime.load and run', () => {
  const loaded: Servable[] = [];
  afterAll(async () => {
    for (const servable of loaded) await servable.dispose();
  });
  const load = async (file: LocalFile): Promise<Servable> => {
    const servable = await runtime.load(documentFor(block()), [file]);
    loaded.push(servable);
    return servable;
  };
  const tensorsOf = async (servable: Servable, tensors: Record<string, Tensor>) => {
    const out = await servable.run({ kind: 'tensors', tensors }, {});
    if (out.kind !== 'tensors') throw new Error('expected tensors');
    return out.tensors;
  };

  it('runs the MLP and matches an independent float64 forward pass', async () => {
    const servable = await load(mlpFile);
    expect(servable).toMatchObject({ type: 'onnx', io: 'tensors', memoryBytes: 2 * mlpFile.size + 1024 * 1024 });
    const batch = 5;
    const x = Float32Array.from({ length: batch * SPEC.inputSize }, (_, i) => Math.sin(i * 1.7) * 2);
    const { probs } = await tensorsOf(servable, { x: { dtype: 'float32', shape: [batch, SPEC.inputSize], data: x } });
    expect(probs!.dtype).toBe('float32');
    expect(probs!.shape).toEqual([batch, SPEC.classes]);
    const expected = mlpForward(x, batch);
    const maxErr = Math.max(...Array.from(probs!.data as Float32Array, (v, i) => Math.abs(v - expected[i]!)));
    expect(maxErr).toBeLessThan(1e-5);
  });

  it('runs a two-input model with named tensors', async () => {
    const servable = await load(localFile('add.onnx', buildAddOnnx({ size: 3 })));
    const a = Float32Array.from([1, 2, 3, 4, 5, 6]);
    const b = Float32Array.from([0.5, -2, 10, 0, 1, -6]);
    const { sum } = await tensorsOf(servable, { a: { dtype: 'float32', shape: [2, 3], data: a }, b: { dtype: 'float32', shape: [2, 3], data: b } });
    expect(Array.from(sum!.data as Float32Array)).toEqual([1.5, 0, 13, 4, 6, 0]);
    await expectHubError(servable.run({ kind: 'tensors', tensors: { a: { dtype: 'float32', shape: [2, 3], data: a } } }, {}), 'MODELHUB_INVALID_INPUTS', /missing input "b"/);
    await expectHubError(
      servable.run({ kind: 'tensors', tensors: { a: { dtype: 'float64', shape: [2, 3], data: Float64Array.from(a) }, b: { dtype: 'float32', shape: [2, 3], data: b } } }, {}),
      'MODELHUB_INVALID_INPUTS',
      /input "a" is float64, the model takes float32/,
    );
    await expectHubError(
      servable.run({ kind: 'tensors', tensors: { a: { dtype: 'float32', shape: [3, 2], data: a }, b: { dtype: 'float32', shape: [3, 2], data: b } } }, {}),
      'MODELHUB_INVALID_INPUTS',
      /input "a" has shape \[3, 2\], the model takes \[null, 3\]/,
    );
    await expectHubError(servable.run({ kind: 'json', value: [1] }, {}), 'MODELHUB_INVALID_INPUTS', /named tensors/);
  });

  it('runs Silero exactly as onnxruntime-node does when called directly', async () => {
    const servable = await load(localFile('vad.onnx', readFileSync(SILERO)));
    const audio = Float32Array.from({ length: 512 }, (_, i) => 0.4 * Math.sin((2 * Math.PI * 440 * i) / 16000) + 0.05 * Math.sin(i * 7.3));
    const state = new Float32Array(2 * 128);
    const ours = await tensorsOf(servable, {
      input: { dtype: 'float32', shape: [1, 512], data: audio },
      state: { dtype: 'float32', shape: [2, 1, 128], data: state },
      sr: { dtype: 'int64', shape: [], data: BigInt64Array.from([16000n]) },
    });
    const direct = await ort.InferenceSession.create(SILERO);
    const theirs = await direct.run({
      input: new ort.Tensor('float32', audio, [1, 512]),
      state: new ort.Tensor('float32', state, [2, 1, 128]),
      sr: new ort.Tensor('int64', BigInt64Array.from([16000n]), []),
    });
    await direct.release();
    expect(Object.keys(ours)).toEqual(['output', 'stateN']);
    for (const name of ['output', 'stateN']) {
      expect(ours[name]!.shape).toEqual(theirs[name]!.dims);
      const a = ours[name]!.data as Float32Array;
      const b = theirs[name]!.data as Float32Array;
      const maxErr = Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i]!)));
      expect(maxErr).toBeLessThan(1e-6);
    }
    const p = (ours.output!.data as Float32Array)[0]!;
    expect(p).toBeGreaterThanOrEqual(0);
    expect(p).toBeLessThanOrEqual(1);
  });

  it('carries float16 as float32 values, converting at the onnxruntime edge', async () => {
    const servable = await load(localFile('halves.onnx', buildFloat16CastOnnx()));
    // float16 roundings of these values, from numpy's float16.
    const values = [0.1, 1 / 3, 3.14159, -2.71828, 65504, 1e-6];
    const rounded = [0.0999755859375, 0.333251953125, 3.140625, -2.71875, 65504, 1.0132789611816406e-6];
    const out = await tensorsOf(servable, {
      h: { dtype: 'float16', shape: [values.length], data: Float32Array.from(values) },
      f: { dtype: 'float32', shape: [values.length], data: Float32Array.from(values) },
    });
    expect(out.h_as_float!.dtype).toBe('float32');
    expect(Array.from(out.h_as_float!.data as Float32Array)).toEqual(rounded.map(Math.fround));
    expect(out.f_as_half!.dtype).toBe('float16');
    expect(out.f_as_half!.data).toBeInstanceOf(Float32Array);
    expect(Array.from(out.f_as_half!.data as Float32Array)).toEqual(rounded.map(Math.fround));
  });

  it('refuses to run after dispose', async () => {
    const servable = await runtime.load(documentFor(block()), [mlpFile]);
    await servable.dispose();
    await servable.dispose();
    const x: Tensor = { dtype: 'float32', shape: [1, 6], data: new Float32Array(6) };
    await expectHubError(servable.run({ kind: 'tensors', tensors: { x } }, {}), 'MODELHUB_NOT_READY', /unloaded/);
  });

  it('reports that onnxruntime-node is available', async () => {
    expect(await runtime.available()).toEqual({ ok: true });
  });

  it('loads a model file named by model_file', async () => {
    const other = localFile('nested/model-b.onnx', buildAddOnnx({ size: 2 }));
    const servable = await runtime.load(documentFor(block(ANY, ANY, { model_file: 'nested/model-b.onnx' })), [mlpFile, other]);
    loaded.push(servable);
    const one: Tensor = { dtype: 'float32', shape: [1, 2], data: Float32Array.from([1, 2]) };
    const { sum } = await tensorsOf(servable, { a: one, b: one });
    expect(Array.from(sum!.data as Float32Array)).toEqual([2, 4]);
  });
});
