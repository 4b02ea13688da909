/**
 * The Keras runtime against files laid out exactly as Keras 2 (`model.save('x.h5')`) and Keras 3
 * (`model.save('x.keras')`) write them. There is no Python Keras here, so
 * test/fixtures/keras/make_keras_models.py writes them with Debian's python3-h5py and computes the
 * reference output with numpy; the runtime's output must match it.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PublishedMetadata, ServableBlock } from '../../schemas/metadata.ts';
import { KerasRuntime, toSnakeCase, unsupportedLayers } from '../../servables/keras-runtime.ts';
import type { LocalFile } from '../../schemas/ports/servable.ts';
import { KerasModel } from '../../sdk/models/keras-model.ts';

const script = fileURLToPath(new URL('../fixtures/keras/make_keras_models.py', import.meta.url));
const python = process.env.MODELHUB_PYTHON ?? '/usr/bin/python3';

type Nested = number | Nested[];
interface Case { x: Nested[]; keras2: number[][]; keras3: number[][] }
type Keras3Case = Pick<Case, 'x' | 'keras3'>;
interface Reference extends Case {
  lstm: Case; nested: Case; nested_functional: Case; sequential_output: Keras3Case; bidirectional: Keras3Case;
  gru: Case; gru_reset_before: Pick<Case, 'x' | 'keras2'>; gru_stack: Keras3Case; bidirectional_gru: Keras3Case; rnn_gru_cell: Keras3Case;
}

const undeclared: ServableBlock = { type: 'keras', methods: { run: { input: { type: 'any' }, output: { type: 'any' } } } };
const published = (servable: ServableBlock): PublishedMetadata => ({
  datacite: { creators: [{ name: 'Test' }], titles: [{ title: 'test' }] },
  hub: { owner: 'test', name: 'keras', version: 1, identifier: 'local:test/keras@1', files: [], publication_date: new Date(0).toISOString(), visibility: 'public' },
  servable,
});

let dir: string;
let reference: Reference;
const runtime = new KerasRuntime();

async function fixture(name: string): Promise<LocalFile[]> {
  const localPath = path.join(dir, name);
  const bytes = await readFile(localPath);
  return [{ path: name, localPath, sha256: createHash('sha256').update(bytes).digest('hex'), size: (await stat(localPath)).size }];
}

const shapeOf = (value: Nested): number[] => (Array.isArray(value) ? [value.length, ...shapeOf(value[0]!)] : []);
const flatten = (value: Nested): number[] => (Array.isArray(value) ? value.flatMap(flatten) : [value]);

/** Publish-inspect, load, run on `x` and compare with numpy's output for that format. */
async function runAndCompare(name: string, x: Nested[], expected: number[][]) {
  const files = await fixture(name);
  const inspection = await runtime.inspect(files, undeclared);
  const inShape = shapeOf(x);
  const outShape = shapeOf(expected);
  expect(inspection.servable.methods.run.input).toEqual({ type: 'ndarray', shape: [null, ...inShape.slice(1)], dtype: 'float32' });
  expect(inspection.servable.methods.run.output).toEqual({ type: 'ndarray', shape: [null, ...outShape.slice(1)], dtype: 'float32' });
  const servable = await runtime.load(published(inspection.servable), files);
  const data = Float32Array.from(flatten(x));
  const result = await servable.run({ kind: 'tensors', tensors: { x: { dtype: 'float32', shape: inShape, data } } }, {});
  await servable.dispose();
  if (result.kind !== 'tensors') throw new Error('expected tensors');
  const [output] = Object.values(result.tensors);
  expect(output!.shape).toEqual(outShape);
  const flat = expected.flat();
  let maxErr = 0;
  flat.forEach((value, i) => { maxErr = Math.max(maxErr, Math.abs(value - (output!.data as Float32Array)[i]!)); });
  expect(maxErr).toBeLessThan(1e-5);
  return inspection;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'modelhub-keras-test-'));
  await promisify(execFile)(python, [script, dir]);
  reference = JSON.parse(await readFile(path.join(dir, 'reference.json'), 'utf8')) as Reference;
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('Keras 2 HDF5', () => {
  it('rebuilds a Dense/ReLU/Dense model and matches numpy', async () => {
    const inspection = await runAndCompare('mlp.h5', reference.x, reference.keras2);
    expect(inspection.facts).toMatchObject({ format: 'keras2-h5', keras_version: '2.15.0', backend: 'wasm', parameters: 4 * 8 + 8 + 8 * 3 + 3 });
    expect(inspection.servable.model_file).toBe('mlp.h5');
  });

  it('rebuilds an LSTM whose weights are named under its cell (lstm/lstm_cell/kernel:0)', async () => {
    const inspection = await runAndCompare('lstm.h5', reference.lstm.x, reference.lstm.keras2);
    expect(inspection.facts).toMatchObject({ format: 'keras2-h5', parameters: 4 * (3 + 4 + 1) * 4 + 4 * 2 + 2 });
  });

  it('rebuilds a functional model with a nested Sequential and matches numpy', async () => {
    const inspection = await runAndCompare('nested.h5', reference.nested.x, reference.nested.keras2);
    expect(inspection.facts).toMatchObject({ model_class: 'Functional', parameters: 4 * 6 + 6 + 6 * 3 + 3 + 3 * 2 + 2 });
    expect(inspection.facts.layers).toContainEqual({ name: 'sequential', class_name: 'Sequential' });
  });

  it('rebuilds a functional model nested in a functional model and matches numpy', async () => {
    await runAndCompare('nested-functional.h5', reference.nested_functional.x, reference.nested_functional.keras2);
  });

  it('rebuilds a GRU with reset_after=True (the Keras default, two bias rows) and matches numpy', async () => {
    const inspection = await runAndCompare('gru.h5', reference.gru.x, reference.gru.keras2);
    expect(inspection.facts).toMatchObject({ format: 'keras2-h5', parameters: 3 * (3 + 4 + 2) * 4 + 4 * 2 + 2 });
  });

  it('still rebuilds a GRU with reset_after=False through tfjs\' own GRU', async () => {
    const inspection = await runAndCompare('gru-reset-before.h5', reference.gru_reset_before.x, reference.gru_reset_before.keras2);
    expect(inspection.facts).toMatchObject({ parameters: 3 * (3 + 4 + 1) * 4 + 4 * 2 + 2 });
    expect(inspection.facts.layers).toContainEqual({ name: 'gru', class_name: 'GRU' });
  });

  it('refuses a reset_after GRU with hard_sigmoid (Keras 2 and 3 define it differently), naming the layer', async () => {
    await expect(runtime.inspect(await fixture('gru-hard-sigmoid.h5'), undeclared)).rejects.toMatchObject({ code: 'MODELHUB_INVALID_MODEL', message: expect.stringContaining('GRU with reset_after=True and recurrent_activation hard_sigmoid') });
    await expect(runtime.inspect(await fixture('gru-hard-sigmoid.h5'), undeclared)).rejects.toMatchObject({ message: expect.stringContaining('in layer gru') });
  });

  it('fails a truncated file at inspect', async () => {
    await expect(runtime.inspect(await fixture('truncated.h5'), undeclared)).rejects.toMatchObject({ code: 'MODELHUB_INVALID_MODEL', message: expect.stringContaining('truncated.h5') });
  });

  it('fails a file that is not HDF5 at all', async () => {
    await writeFile(path.join(dir, 'garbage.h5'), 'this is not a model');
    await expect(runtime.inspect(await fixture('garbage.h5'), undeclared)).rejects.toMatchObject({ code: 'MODELHUB_INVALID_MODEL', message: expect.stringContaining('not an HDF5 file') });
  });

  it('names a custom layer tfjs cannot build', async () => {
    await expect(runtime.inspect(await fixture('custom.h5'), undeclared)).rejects.toMatchObject({ code: 'MODELHUB_INVALID_MODEL', message: expect.stringContaining('MyScalingLayer in layer my_scaling_layer') });
  });
});

describe('Keras 3 .keras archive', () => {
  it('rebuilds a functional Dense/ReLU/Dense model and matches numpy', async () => {
    const inspection = await runAndCompare('mlp.keras', reference.x, reference.keras3);
    expect(inspection.facts).toMatchObject({ format: 'keras3', keras_version: '3.6.0', model_class: 'Functional' });
  });

  it('rebuilds an LSTM from its cell group (layers/lstm/cell/vars) and matches numpy', async () => {
    const inspection = await runAndCompare('lstm.keras', reference.lstm.x, reference.lstm.keras3);
    expect(inspection.facts).toMatchObject({ format: 'keras3', model_class: 'Sequential', parameters: 4 * (3 + 4 + 1) * 4 + 4 * 2 + 2 });
  });

  it('rebuilds a functional model with a nested Sequential and matches numpy', async () => {
    const inspection = await runAndCompare('nested.keras', reference.nested.x, reference.nested.keras3);
    expect(inspection.facts).toMatchObject({ model_class: 'Functional', parameters: 4 * 6 + 6 + 6 * 3 + 3 + 3 * 2 + 2 });
  });

  it('rebuilds a functional model nested in a functional model and matches numpy', async () => {
    await runAndCompare('nested-functional.keras', reference.nested_functional.x, reference.nested_functional.keras3);
  });

  it('rebuilds a model whose output is a nested Sequential built without an Input', async () => {
    await runAndCompare('sequential-output.keras', reference.sequential_output.x, reference.sequential_output.keras3);
  });

  it('rebuilds a Bidirectional LSTM with the forward weights first although Keras 3 saves backward_layer first', async () => {
    await runAndCompare('bidirectional.keras', reference.bidirectional.x, reference.bidirectional.keras3);
  });

  it('rebuilds a GRU with reset_after=True from its cell group (layers/gru/cell/vars) and matches numpy', async () => {
    const inspection = await runAndCompare('gru.keras', reference.gru.x, reference.gru.keras3);
    expect(inspection.facts).toMatchObject({ format: 'keras3', parameters: 3 * (3 + 4 + 2) * 4 + 4 * 2 + 2 });
  });

  it('rebuilds GRU(return_sequences=True) feeding GRU(go_backwards=True) and matches numpy', async () => {
    await runAndCompare('gru-stack.keras', reference.gru_stack.x, reference.gru_stack.keras3);
  });

  it('rebuilds a Bidirectional reset_after GRU, its backward half mirrored from the forward config', async () => {
    await runAndCompare('bidirectional-gru.keras', reference.bidirectional_gru.x, reference.bidirectional_gru.keras3);
  });

  it('rebuilds RNN(GRUCell(reset_after=True)) from the cell config nested in the RNN\'s', async () => {
    await runAndCompare('rnn-gru-cell.keras', reference.rnn_gru_cell.x, reference.rnn_gru_cell.keras3);
  });

  it('refuses a Bidirectional whose own backward_layer differs from the forward one', async () => {
    await expect(runtime.inspect(await fixture('own-backward.keras'), undeclared)).rejects.toMatchObject({ code: 'MODELHUB_INVALID_MODEL', message: expect.stringContaining('Bidirectional with its own backward_layer (TensorFlow.js mirrors the forward layer) in layer bidirectional') });
  });

  it('names a registered custom layer tfjs cannot build', async () => {
    await expect(runtime.inspect(await fixture('custom.keras'), undeclared)).rejects.toMatchObject({ code: 'MODELHUB_INVALID_MODEL', message: expect.stringContaining('Scaling (my_package>Scaling) in layer scaling') });
  });

  it('fails a truncated archive at inspect', async () => {
    const bytes = await readFile(path.join(dir, 'mlp.keras'));
    await writeFile(path.join(dir, 'truncated.keras'), bytes.subarray(0, Math.floor(bytes.length / 2)));
    await expect(runtime.inspect(await fixture('truncated.keras'), undeclared)).rejects.toMatchObject({ code: 'MODELHUB_INVALID_MODEL' });
  });

  it('refuses hard_sigmoid in a Keras 3 config (relu6(x + 3) / 6 there, Keras 2\'s clip(0.2x + 0.5) in tfjs) but not in a Keras 2 one', () => {
    const lstm = { class_name: 'LSTM', config: { name: 'lstm', units: 4, activation: 'tanh', recurrent_activation: 'hard_sigmoid' } };
    const model = { class_name: 'Sequential', config: { name: 'sequential', layers: [lstm, { class_name: 'Dense', config: { name: 'gate', units: 1, activation: 'hard_sigmoid' } }] } };
    expect(unsupportedLayers(model, 'keras3')).toEqual([
      expect.stringMatching(/^LSTM with recurrent_activation hard_sigmoid .* in layer lstm$/),
      expect.stringMatching(/^Dense with activation hard_sigmoid .* in layer gate$/),
    ]);
    expect(unsupportedLayers(model, 'keras2-h5')).toEqual([]);
  });

  it('names weight groups as Keras 3 does', () => {
    expect(['Dense', 'ReLU', 'Conv2D', 'BatchNormalization', 'LSTM', 'InputLayer'].map(toSnakeCase)).toEqual(['dense', 're_lu', 'conv2d', 'batch_normalization', 'lstm', 'input_layer']);
  });
});

describe('KerasModel (SDK)', () => {
  it('declares the types read from a .keras file and adds the file', async () => {
    const model = (await KerasModel.create(path.join(dir, 'mlp.keras'))).setTitle('Small MLP').setName('test/mlp').setAuthors(['Doe, Jane']);
    const document = model.toMetadata();
    expect(document.servable).toMatchObject({ type: 'keras', model_file: 'mlp.keras' });
    expect(document.servable.methods.run.output).toEqual({ type: 'ndarray', shape: [null, 3], dtype: 'float32' });
    expect(model.files()).toEqual([{ localPath: path.join(dir, 'mlp.keras'), path: 'mlp.keras' }]);
    expect(model.facts).toMatchObject({ format: 'keras3' });
  });

  it('reports an unbuildable layer before anything is uploaded', async () => {
    await expect(KerasModel.create(path.join(dir, 'custom.h5'))).rejects.toMatchObject({ code: 'MODELHUB_INVALID_MODEL' });
  });
});
