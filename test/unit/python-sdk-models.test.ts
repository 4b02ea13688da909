/**
 * The SDK's Python servable descriptions: what they declare, what local inspection adds, and that
 * the documents they build pass the metadata schema.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { PythonFunction } from '../../sdk/models/python-function.ts';
import { SklearnModel } from '../../sdk/models/sklearn-model.ts';
import { TorchModel } from '../../sdk/models/torch-model.ts';

const PYTHON = process.env.MODELHUB_PYTHON ?? '/usr/bin/python3';
const FIXTURES = fileURLToPath(new URL('../fixtures/python/', import.meta.url));
let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-python-sdk-'));
  fs.writeFileSync(
    path.join(dir, 'make.py'),
    `
import joblib, torch
from sklearn.tree import DecisionTreeClassifier
joblib.dump(DecisionTreeClassifier(random_state=0).fit([[0, 0], [1, 1], [2, 0]], [0, 1, 2]), 'tree.joblib')
class Scale(torch.nn.Module):
    def forward(self, x):
        return (x * 2).sum(dim=1, keepdim=True)
torch.jit.script(Scale()).save('scale.pt')
`,
  );
  execFileSync(PYTHON, ['make.py'], { cwd: dir });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const describeIt = <T extends { setTitle(t: string): T; setName(n: string): T; setAuthors(a: string[]): T }>(model: T) =>
  model.setTitle('A test servable').setName('tester/servable').setAuthors(['Curie, Marie']);

describe('Python servable descriptions', () => {
  it('PythonFunction declares a local module, its file and DLHub options', async () => {
    const model = await PythonFunction.create({
      module: path.join(FIXTURES, 'toolbox.py'),
      className: 'Counter',
      methodName: 'increment',
      initArgs: { start: 1 },
      files: [path.join(FIXTURES, 'broken.py')],
      inputType: { type: 'integer' },
    });
    describeIt(model).setAutobatch(true).setTimeoutMs(2000);
    const document = model.toMetadata();
    expect(document.servable).toMatchObject({
      type: 'python',
      python: { module: 'toolbox.py', class_name: 'Counter', method: 'increment', init_args: { start: 1 } },
      options: { autobatch: true, timeout_ms: 2000 },
      methods: { run: { input: { type: 'integer' }, output: { type: 'any' } } },
    });
    expect(model.files().map((f) => f.path)).toEqual(['toolbox.py', 'broken.py']);
  });

  it('PythonFunction with inspect reads the signature and annotations', async () => {
    const model = await PythonFunction.create({ module: path.join(FIXTURES, 'toolbox.py'), function: 'double', inspect: true });
    expect(model.facts).toMatchObject({ signature: '(x: float) -> float' });
    expect(describeIt(model).toMetadata().servable.methods.run).toMatchObject({ input: { type: 'number' }, output: { type: 'number' } });
  });

  it('SklearnModel reads features and classes from a joblib file and checks what was declared', async () => {
    const model = await SklearnModel.create(path.join(dir, 'tree.joblib'), { classes: [0, 1, 2] });
    const servable = describeIt(model).toMetadata().servable;
    expect(servable.model_file).toBe('tree.joblib');
    expect(servable.runtime).toMatchObject({ serialization: 'joblib', classes: [0, 1, 2] });
    expect(servable.methods.run.input).toEqual({ type: 'ndarray', shape: [null, 2], dtype: 'float64' });
    expect(servable.methods.run.output).toEqual({ type: 'ndarray', shape: [null], dtype: 'int64' });
    await expect(SklearnModel.create(path.join(dir, 'tree.joblib'), { nFeatures: 3 })).rejects.toMatchObject({
      code: 'MODELHUB_INVALID_METADATA',
    });
  });

  it('TorchModel declares the input and reads the output from a warm-up run', async () => {
    const model = await TorchModel.create(path.join(dir, 'scale.pt'), { inputShape: [null, 4] });
    const servable = describeIt(model).toMetadata().servable;
    expect(servable.methods.run.input).toEqual({ type: 'ndarray', shape: [null, 4], dtype: 'float32' });
    expect(servable.methods.run.output).toEqual({ type: 'ndarray', shape: [null, 1], dtype: 'float32' });
    const bare = await TorchModel.create(path.join(dir, 'scale.pt'), { inputShape: [2, 4], dtype: 'float64', inspect: false });
    expect(describeIt(bare).toMetadata().servable.methods.run.output).toEqual({ type: 'any' });
  });
});
