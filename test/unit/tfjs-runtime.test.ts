/**
 * The tfjs runtime against real TensorFlow.js models: the emotion graph model shipped in
 * @vladmandic/human, and a LayersModel folder saved by tfjs in the test. The reference is the same
 * model run by tfjs directly (tf.loadGraphModel / the model object), not through the runtime.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PublishedMetadata, ServableBlock } from '../../schemas/metadata.ts';
import type { LocalFile, Tensor } from '../../schemas/ports/servable.ts';
import { ensureTfjsBackend, tf } from '../../servables/tfjs-backend.ts';
import { TfjsRuntime } from '../../servables/tfjs-runtime.ts';
import { TfjsModel } from '../../sdk/models/tfjs-model.ts';

// The package's exports map hides package.json, so find its folder from the entry point.
const require = createRequire(import.meta.url);
const humanEntry = require.resolve('@vladmandic/human');
const humanModels = path.join(humanEntry.slice(0, humanEntry.lastIndexOf(`${path.sep}dist${path.sep}`)), 'models');

async function localFile(localPath: string, publishedPath = path.basename(localPath)): Promise<LocalFile> {
  const bytes = await readFile(localPath);
  return { path: publishedPath, localPath, sha256: createHash('sha256').update(bytes).digest('hex'), size: (await stat(localPath)).size };
}

const undeclared: ServableBlock = { type: 'tfjs', methods: { run: { input: { type: 'any' }, output: { type: 'any' } } } };

const published = (servable: ServableBlock): PublishedMetadata => ({
  datacite: { creators: [{ name: 'Test' }], titles: [{ title: 'test' }] },
  hub: { owner: 'test', name: 'model', version: 1, identifier: 'local:test/model@1', files: [], publication_date: new Date(0).toISOString(), visibility: 'public' },
  servable,
});

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i += 1) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
};

const runtime = new TfjsRuntime();
let work: string;

beforeAll(async () => {
  await ensureTfjsBackend();
  work = await mkdtemp(path.join(os.tmpdir(), 'modelhub-tfjs-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('tfjs graph model (@vladmandic/human emotion)', () => {
  let files: LocalFile[];
  beforeAll(async () => {
    files = [await localFile(path.join(humanModels, 'emotion.json')), await localFile(path.join(humanModels, 'emotion.bin'))];
  });

  it('inspects input and output types from the model.json signature', async () => {
    const result = await runtime.inspect(files, undeclared);
    expect(result.servable.model_file).toBe('emotion.json');
    expect(result.servable.methods.run.input).toEqual({ type: 'ndarray', shape: [null, 64, 64, 1], dtype: 'float32' });
    expect(result.servable.methods.run.output).toEqual({ type: 'ndarray', shape: [null, 7], dtype: 'float32' });
    expect(result.servable.methods.run.method_details).toMatchObject({ format: 'graph-model', input_names: ['input_1'], output_names: ['Identity'] });
    expect(result.facts).toMatchObject({ format: 'graph-model', backend: 'wasm' });
  });

  it('runs like tf.loadGraphModel on the same input', async () => {
    const { servable } = await runtime.inspect(files, undeclared);
    const loaded = await runtime.load(published(servable), files);
    const data = Float32Array.from({ length: 2 * 64 * 64 }, (_, i) => (Math.sin(i / 37) + 1) / 2);
    const result = await loaded.run({ kind: 'tensors', tensors: { input: { dtype: 'float32', shape: [2, 64, 64, 1], data } } }, {});
    if (result.kind !== 'tensors') throw new Error('expected tensors');
    const output = result.tensors.Identity as Tensor;
    expect(output.shape).toEqual([2, 7]);

    const modelJson = JSON.parse(await readFile(path.join(humanModels, 'emotion.json'), 'utf8'));
    const weights = await readFile(path.join(humanModels, 'emotion.bin'));
    const reference = await tf.loadGraphModel(tf.io.fromMemory({
      modelTopology: modelJson.modelTopology,
      weightSpecs: modelJson.weightsManifest.flatMap((group: { weights: unknown[] }) => group.weights),
      weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
    }));
    const expected = reference.predict(tf.tensor(data, [2, 64, 64, 1])) as tf.Tensor;
    expect(maxAbsDiff(output.data as Float32Array, await expected.data() as Float32Array)).toBeLessThan(1e-5);
    tf.dispose(expected);
    reference.dispose();
    await loaded.dispose();
  });

  it('refuses a missing or truncated weight file at inspect', async () => {
    await expect(runtime.inspect(files.slice(0, 1), undeclared)).rejects.toMatchObject({ code: 'MODELHUB_INVALID_MODEL', message: expect.stringContaining('emotion.bin') });
    const truncated = path.join(work, 'emotion.bin');
    await writeFile(truncated, (await readFile(files[1]!.localPath)).subarray(0, 1000));
    await expect(runtime.inspect([files[0]!, await localFile(truncated)], undeclared)).rejects.toMatchObject({ code: 'MODELHUB_INVALID_MODEL', message: expect.stringContaining('bytes') });
  });

  it('refuses a declaration that contradicts the model', async () => {
    const declared: ServableBlock = { type: 'tfjs', methods: { run: { input: { type: 'ndarray', shape: [null, 32, 32, 1], dtype: 'float32' }, output: { type: 'any' } } } };
    await expect(runtime.inspect(files, declared)).rejects.toMatchObject({ code: 'MODELHUB_INVALID_METADATA' });
  });
});

describe('tfjs layers model folder', () => {
  it('loads model.json + shard saved by tfjs and matches the model it was saved from', async () => {
    const dir = path.join(work, 'layers');
    const model = tf.sequential({ layers: [
      tf.layers.dense({ inputShape: [3], units: 5, activation: 'relu', kernelInitializer: tf.initializers.randomNormal({ seed: 1 }), biasInitializer: 'ones' }),
      tf.layers.dense({ units: 2, kernelInitializer: tf.initializers.randomNormal({ seed: 2 }) }),
    ] });
    await model.save(tf.io.withSaveHandler(async (artifacts) => {
      const { mkdir } = await import('node:fs/promises');
      await mkdir(dir, { recursive: true });
      await writeFile(path.join(dir, 'group1-shard1of1.bin'), new Uint8Array(artifacts.weightData as ArrayBuffer));
      await writeFile(path.join(dir, 'model.json'), JSON.stringify({
        format: 'layers-model', modelTopology: artifacts.modelTopology,
        weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: artifacts.weightSpecs }],
      }));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
    const files = [await localFile(path.join(dir, 'model.json'), 'web/model.json'), await localFile(path.join(dir, 'group1-shard1of1.bin'), 'web/group1-shard1of1.bin')];
    const { servable } = await runtime.inspect(files, undeclared);
    expect(servable.methods.run.input).toEqual({ type: 'ndarray', shape: [null, 3], dtype: 'float32' });
    expect(servable.methods.run.output).toEqual({ type: 'ndarray', shape: [null, 2], dtype: 'float32' });
    const loaded = await runtime.load(published(servable), files);
    const data = Float32Array.from([0.5, -1, 2, 3, 0.25, -0.75]);
    const result = await loaded.run({ kind: 'tensors', tensors: { x: { dtype: 'float32', shape: [2, 3], data } } }, {});
    if (result.kind !== 'tensors') throw new Error('expected tensors');
    const [output] = Object.values(result.tensors);
    const expected = model.predict(tf.tensor(data, [2, 3])) as tf.Tensor;
    expect(maxAbsDiff(output!.data as Float32Array, await expected.data() as Float32Array)).toBeLessThan(1e-5);
    await expect(loaded.run({ kind: 'tensors', tensors: { x: { dtype: 'float32', shape: [2, 4], data: new Float32Array(8) } } }, {})).rejects.toMatchObject({ code: 'MODELHUB_INVALID_INPUTS' });
    tf.dispose(expected);
    await loaded.dispose();
  });
});

describe('TfjsModel (SDK)', () => {
  it('describes a graph model folder with the types the model declares', async () => {
    const dir = path.join(work, 'emotion');
    const { mkdir, copyFile } = await import('node:fs/promises');
    await mkdir(dir, { recursive: true });
    await copyFile(path.join(humanModels, 'emotion.json'), path.join(dir, 'model.json'));
    await copyFile(path.join(humanModels, 'emotion.bin'), path.join(dir, 'emotion.bin'));
    const model = (await TfjsModel.create(dir)).setTitle('Facial emotion').setName('test/emotion').setAuthors(['Doe, Jane']);
    expect(model.files().map((f) => f.path).sort()).toEqual(['emotion.bin', 'model.json']);
    const document = model.toMetadata();
    expect(document.servable).toMatchObject({ type: 'tfjs', model_file: 'model.json' });
    expect(document.servable.methods.run.input).toEqual({ type: 'ndarray', shape: [null, 64, 64, 1], dtype: 'float32' });
  });
});

describe('int64 through a graph model', () => {
  // tfjs has no int64: the runtime narrows to int32 and widens back, refusing what does not fit.
  it('keeps the declared int64 on the way in and out', async () => {
    const dir = path.join(work, 'int64');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(dir, { recursive: true });
    const tensorShape = { dim: [{ size: '-1' }, { size: '3' }] };
    await writeFile(path.join(dir, 'model.json'), JSON.stringify({
      format: 'graph-model',
      modelTopology: { node: [
        { name: 'x', op: 'Placeholder', attr: { dtype: { type: 'DT_INT64' }, shape: { shape: tensorShape } } },
        { name: 'y', op: 'Neg', input: ['x'], attr: { T: { type: 'DT_INT64' } } },
      ], versions: { producer: 1482 } },
      signature: { inputs: { 'x:0': { name: 'x:0', dtype: 'DT_INT64', tensorShape } }, outputs: { 'y:0': { name: 'y:0', dtype: 'DT_INT64', tensorShape } } },
      weightsManifest: [],
    }));
    const files = [await localFile(path.join(dir, 'model.json'))];
    const { servable } = await runtime.inspect(files, { ...undeclared, model_file: 'model.json' });
    expect(servable.methods.run.input).toEqual({ type: 'ndarray', shape: [null, 3], dtype: 'int64' });
    const loaded = await runtime.load(published(servable), files);
    const result = await loaded.run({ kind: 'tensors', tensors: { x: { dtype: 'int64', shape: [1, 3], data: BigInt64Array.from([1n, -2n, 12345n]) } } }, {});
    if (result.kind !== 'tensors') throw new Error('expected tensors');
    expect(result.tensors.y).toEqual({ dtype: 'int64', shape: [1, 3], data: BigInt64Array.from([-1n, 2n, -12345n]) });
    await expect(loaded.run({ kind: 'tensors', tensors: { x: { dtype: 'int64', shape: [1, 3], data: BigInt64Array.from([1n, 2n, 1n << 40n]) } } }, {})).rejects.toMatchObject({ code: 'MODELHUB_INVALID_INPUTS' });
    await loaded.dispose();
  });
});
