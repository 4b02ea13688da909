/**
 * `modelhub import-dlhub` against a real hub: DLHub SDK's example documents (a math.sqrt static
 * method; an iris SVC with its pickle, fitted here by Debian's Python) are published and run, and
 * their outputs match what Python computes itself.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubClient } from '../../sdk/hub-client.ts';
import { ROOT, startTestHub, type TestHub } from '../helpers/test-hub.ts';

const FIXTURES = path.join(ROOT, 'clients/python/tests/fixtures/dlhub');
const PYTHON = '/usr/bin/python3';
const work = mkdtempSync(path.join(tmpdir(), 'dlhub-import-e2e-'));
let hub: TestHub;

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(ROOT, 'bin/modelhub.js'), '--url', hub.url, ...args],
      { cwd: work, env: { ...process.env, MODELHUB_CONFIG: path.join(work, 'config.json'), MODELHUB_URL: '', MODELHUB_TOKEN: '' } },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  hub = await startTestHub();
});
afterAll(async () => {
  await hub?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe.runIf(existsSync(PYTHON))('modelhub import-dlhub', () => {
  it('publishes a DLHub static-method document that runs', async () => {
    const result = await cli('--json', 'import-dlhub', path.join(FIXTURES, 'static_method_sqrt.json'), '--owner', 'logan', '--author', 'Ward, Logan');
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 'SUCCEEDED', servable: 'logan/static_method', version: 1 });
    const reply = await new HubClient({ url: hub.url }).run('logan/static_method', [4, 2]);
    expect(reply.output).toEqual([2, Math.SQRT2]);
    const described = await new HubClient({ url: hub.url }).describeServable('logan/static_method');
    expect(described.hub.files.map((f) => f.path)).toEqual(['dlhub.json']);
  });

  it('publishes a DLHub scikit-learn document with its pickle, and predict_proba matches Python', async () => {
    const script = [
      'import json, pickle, sys',
      'from sklearn.datasets import load_iris',
      'from sklearn.svm import SVC',
      'X, y = load_iris(return_X_y=True)',
      "svc = SVC(kernel='linear', probability=True, random_state=0).fit(X, y)",
      "pickle.dump(svc, open(sys.argv[1], 'wb'))",
      'print(json.dumps({"inputs": X[:3].tolist(), "proba": svc.predict_proba(X[:3]).tolist()}))',
    ].join('\n');
    const reference = JSON.parse(execFileSync(PYTHON, ['-c', script, path.join(work, 'model.pkl')]).toString()) as { inputs: number[][]; proba: number[][] };

    const missing = await cli('import-dlhub', path.join(FIXTURES, 'sklearn_svc.json'), '--owner', 'logan', '--author', 'Ward, Logan');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/model file model\.pkl was not given/);

    const result = await cli('import-dlhub', path.join(FIXTURES, 'sklearn_svc.json'), path.join(work, 'model.pkl'), '--owner', 'logan', '--author', 'Ward, Logan');
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stdout).toContain('published logan/sklearn@1');
    const reply = await new HubClient({ url: hub.url }).run('logan/sklearn', reference.inputs);
    const output = reply.output as number[][];
    output.forEach((row, i) => row.forEach((p, j) => expect(p).toBeCloseTo(reference.proba[i]![j]!, 9)));
    const stored = readFileSync(path.join(FIXTURES, 'sklearn_svc.json'), 'utf8');
    expect(JSON.parse(stored).servable.shim).toBe('sklearn.ScikitLearnServable');
  });
});
