/**
 * Taking a model home, on a real hub with tokens: the archive of a version holds its files (their
 * sha256 recomputed here match the published digests and SHA256SUMS), its metadata document, a
 * README with its citation and a server script; that script, started from the unpacked archive
 * (Node for ONNX, Debian's python3 for sklearn), answers the same inputs with the hub's output.
 * A private servable's archive is refused to others exactly as describe refuses it, and the
 * `modelhub download` command writes the same archive.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tar from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlpOnnx, defaultMlpWeights } from '../../builder/demo/onnx-writer.ts';
import { SqliteTokenStore } from '../../hub-server/adapters/sqlite-token-store.ts';
import { ROOT, startTestHub, type TestHub } from '../helpers/test-hub.ts';
import { onnxMetadata, publishRaw } from '../helpers/hub-http.ts';

const PYTHON = '/usr/bin/python3';
const SPEC = { inputSize: 4, hidden: 5, classes: 3, inputName: 'x', outputName: 'y' };
const MODEL = buildMlpOnnx({ ...SPEC, weights: defaultMlpWeights(SPEC, 7) });
const ONNX_INPUTS = [[0.1, -0.2, 0.3, 0.4], [1, 2, 3, 4]];
const SKLEARN_INPUTS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]];

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'download-e2e-'));
const children: ChildProcess[] = [];
let hub: TestHub;
const tokens: Record<string, string> = {};
const auth = (who: string) => ({ authorization: `Bearer ${tokens[who]}` });

const sha256 = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

async function publish(metadata: unknown, files: { name: string; bytes?: Uint8Array; path?: string }[]) {
  const accepted = await publishRaw(hub.url, metadata, files, auth('alice'));
  expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
  // Tasks are visible to their creator only: poll as alice.
  for (const started = Date.now(); Date.now() - started < 120_000; ) {
    const task = (await (await fetch(`${hub.url}/api/v1/tasks/${accepted.body.task_id}`, { headers: auth('alice') })).json()) as { status: string };
    if (task.status === 'FAILED') throw new Error(JSON.stringify(task));
    if (task.status === 'SUCCEEDED') return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the publish did not finish');
}

/** Download and unpack into a fresh folder; returns the archive's top folder. */
async function downloadAndUnpack(route: string, who = 'alice'): Promise<string> {
  const response = await fetch(`${hub.url}/api/v1/servables/${route}/download`, { headers: auth(who) });
  expect(response.status, await response.clone().text()).toBe(200);
  expect(response.headers.get('content-type')).toContain('application/gzip');
  const archive = path.join(work, `${route.replaceAll('/', '_')}.tar.gz`);
  fs.writeFileSync(archive, Buffer.from(await response.arrayBuffer()));
  const into = fs.mkdtempSync(path.join(work, 'unpacked-'));
  await tar.x({ file: archive, cwd: into, strict: true });
  const [top] = fs.readdirSync(into);
  return path.join(into, top!);
}

/** Start a local server script and wait for the line with its address. */
function startLocal(command: string, args: string[], cwd: string): Promise<string> {
  const child = spawn(command, [...args, '--port', '0'], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the local server did not start:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /on (http:\/\/\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the local server exited with ${code}:\n${output}`));
    });
  });
}

async function runOnHub(servable: string, inputs: unknown) {
  const response = await fetch(`${hub.url}/api/v1/servables/${servable}/run`, {
    method: 'POST',
    headers: { ...auth('alice'), 'content-type': 'application/json' },
    body: JSON.stringify({ inputs }),
  });
  const body = (await response.json()) as { output: unknown };
  expect(response.status, JSON.stringify(body)).toBe(200);
  return body.output;
}

async function runLocally(url: string, inputs: unknown) {
  const response = await fetch(`${url}/run`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ inputs }) });
  const body = (await response.json()) as { output: unknown };
  expect(response.status, JSON.stringify(body)).toBe(200);
  return body.output;
}

/** Every file of the version is in model/ with its published digest, and SHA256SUMS says so too. */
function expectFilesMatch(top: string, document: { hub: { files: { path: string; sha256: string; size: number }[] } }) {
  const sums = fs.readFileSync(path.join(top, 'SHA256SUMS'), 'utf8').trim().split('\n');
  expect(sums).toHaveLength(document.hub.files.length);
  for (const file of document.hub.files) {
    const local = path.join(top, 'model', file.path);
    expect(fs.statSync(local).size).toBe(file.size);
    expect(sha256(local)).toBe(file.sha256);
    expect(sums).toContain(`${file.sha256}  model/${file.path}`);
  }
}

describe('downloading a servable version', () => {
  beforeAll(async () => {
    hub = await startTestHub({ env: { MODELHUB_AUTH: 'tokens' } });
    const store = SqliteTokenStore.open(SqliteTokenStore.fileIn(hub.dataDir));
    tokens.alice = (await store.create({ user: 'alice', scopes: ['run', 'publish'], groups: [], created_by: 'local' })).token;
    tokens.bob = (await store.create({ user: 'bob', scopes: ['run', 'publish'], groups: [], created_by: 'local' })).token;
    await store.close();

    const onnx = onnxMetadata('alice', 'mlp');
    onnx.servable.methods.run.method_details = { example_inputs: [ONNX_INPUTS[0]] };
    await publish(onnx, [{ name: 'mlp.onnx', bytes: MODEL }]);

    const pickle = path.join(work, 'iris.pkl');
    await new Promise<void>((resolve, reject) =>
      execFile(
        PYTHON,
        [
          '-c',
          `import pickle, sys
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
X, y = load_iris(return_X_y=True)
pickle.dump(LogisticRegression(max_iter=500).fit(X, y), open(sys.argv[1], 'wb'))`,
          pickle,
        ],
        (error, _stdout, stderr) => (error ? reject(new Error(stderr)) : resolve()),
      ),
    );
    await publish(
      {
        datacite: { creators: [{ name: 'Fisher, Ronald' }], titles: [{ title: 'Iris classifier' }] },
        hub: { owner: 'alice', name: 'iris' },
        servable: { type: 'sklearn', methods: { run: { input: { type: 'ndarray', shape: [null, 4], dtype: 'float64' }, output: { type: 'any' } } } },
      },
      [{ name: 'iris.pkl', path: pickle }],
    );
    await publish(onnxMetadata('alice', 'secret', { visibility: 'private' }), [{ name: 'secret.onnx', bytes: MODEL }]);
  });

  afterAll(async () => {
    for (const child of children) child.kill('SIGKILL');
    await hub?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('ONNX: the archive holds the files by digest, the metadata and the citation, and serve.mjs answers as the hub', async () => {
    const top = await downloadAndUnpack('alice/mlp/versions/1');
    expect(path.basename(top)).toBe('alice-mlp-v1');
    const described = await (await fetch(`${hub.url}/api/v1/servables/alice/mlp/versions/1`, { headers: auth('alice') })).json();
    expect(JSON.parse(fs.readFileSync(path.join(top, 'metadata.json'), 'utf8'))).toEqual(described);
    expectFilesMatch(top, described);
    const bibtex = await (await fetch(`${hub.url}/api/v1/servables/alice/mlp/versions/1/citation?format=bibtex`, { headers: auth('alice') })).text();
    expect(fs.readFileSync(path.join(top, 'CITATION.bib'), 'utf8').trim()).toBe(bibtex.trim());
    const readme = fs.readFileSync(path.join(top, 'README.md'), 'utf8');
    expect(readme).toContain(bibtex.trim());
    expect(readme).toContain(described.hub.identifier);
    expect(fs.readFileSync(path.join(top, 'Dockerfile'), 'utf8')).toContain('CMD ["node", "serve.mjs"');

    // `npm install` in the archive would fetch onnxruntime-node; the hub's own copy stands in for it.
    fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(top, 'node_modules'));
    const local = await startLocal(process.execPath, ['serve.mjs'], top);
    const hubOutput = await runOnHub('alice/mlp/versions/1', ONNX_INPUTS);
    const localOutput = await runLocally(local, ONNX_INPUTS);
    expect((hubOutput as number[][]).length).toBe(2);
    expect(localOutput).toEqual(hubOutput);
  });

  it('sklearn: serve.py over the hub\'s worker answers as the hub, and the latest version downloads without /versions', async () => {
    const top = await downloadAndUnpack('alice/iris');
    expect(path.basename(top)).toBe('alice-iris-v1');
    const described = await (await fetch(`${hub.url}/api/v1/servables/alice/iris`, { headers: auth('alice') })).json();
    expectFilesMatch(top, described);
    expect(fs.readFileSync(path.join(top, 'requirements.txt'), 'utf8')).toMatch(/^scikit-learn==/m);
    const local = await startLocal(PYTHON, ['serve.py'], top);
    const hubOutput = await runOnHub('alice/iris', SKLEARN_INPUTS);
    expect(hubOutput).toEqual([0, 2, 1]);
    expect(await runLocally(local, SKLEARN_INPUTS)).toEqual(hubOutput);
  });

  it('a private servable\'s archive is refused to others with the same 404 as describe, and given to its owner', async () => {
    for (const who of ['bob', undefined]) {
      const headers = who ? auth(who) : {};
      const download = await fetch(`${hub.url}/api/v1/servables/alice/secret/versions/1/download`, { headers });
      const describe = await fetch(`${hub.url}/api/v1/servables/alice/secret/versions/1`, { headers });
      expect(download.status).toBe(404);
      expect(await download.json()).toEqual(await describe.json());
      const latest = await fetch(`${hub.url}/api/v1/servables/alice/secret/download`, { headers });
      expect(latest.status).toBe(404);
    }
    const top = await downloadAndUnpack('alice/secret/versions/1', 'alice');
    expect(fs.existsSync(path.join(top, 'model', 'secret.onnx'))).toBe(true);
  });

  it('?presigned=true on a file-system blob store is a clear 400', async () => {
    const response = await fetch(`${hub.url}/api/v1/servables/alice/mlp/versions/1/download?presigned=true`, { headers: auth('alice') });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe('MODELHUB_BAD_REQUEST');
    expect(body.error.message).toContain('direct links');
  });

  it('`modelhub download NAME@v -o file` writes the archive', async () => {
    const target = path.join(work, 'cli.tar.gz');
    const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(
        process.execPath,
        [path.join(ROOT, 'bin/modelhub.js'), '--url', hub.url, '--token', tokens.alice!, '--json', 'download', 'alice/mlp@1', '-o', target],
        { cwd: work, env: { ...process.env, MODELHUB_CONFIG: path.join(work, 'config.json'), MODELHUB_URL: '', MODELHUB_TOKEN: '' } },
        (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      ),
    );
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ path: target, version: 1 });
    expect(fs.existsSync(`${target}.part`)).toBe(false);
    const listed: string[] = [];
    await tar.t({ file: target, onReadEntry: (entry) => listed.push(entry.path) });
    expect(listed).toEqual(expect.arrayContaining(['alice-mlp-v1/model/mlp.onnx', 'alice-mlp-v1/metadata.json', 'alice-mlp-v1/serve.mjs', 'alice-mlp-v1/README.md']));
    const refused = await new Promise<{ code: number; stderr: string }>((resolve) =>
      execFile(
        process.execPath,
        [path.join(ROOT, 'bin/modelhub.js'), '--url', hub.url, '--token', tokens.bob!, 'download', 'alice/secret', '-o', path.join(work, 'no.tar.gz')],
        { cwd: work, env: { ...process.env, MODELHUB_CONFIG: path.join(work, 'config.json'), MODELHUB_URL: '', MODELHUB_TOKEN: '' } },
        (error, _stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stderr }),
      ),
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('MODELHUB_SERVABLE_NOT_FOUND');
    expect(fs.existsSync(path.join(work, 'no.tar.gz'))).toBe(false);
  });
});
