/**
 * A hub killed with SIGKILL at a chosen publish step (the MODELHUB_TEST_PAUSE_AT_STEP hook holds
 * every publish there, so the kill lands exactly in it) comes back with its task and its registry
 * in agreement, without the upload folders and blobs of the dead publish, and without the Python
 * workers of the dead hub.
 */
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { buildMlpOnnx, defaultMlpWeights } from '../../builder/demo/onnx-writer.ts';
import { FsBlobStore } from '../../hub-server/adapters/fs-blob-store.ts';
import type { TaskDocument } from '../../schemas/api.ts';
import { HubClient } from '../../sdk/hub-client.ts';
import { PythonFunction } from '../../sdk/models/python-function.ts';
import { processRuns, processStartTime } from '../../servables/worker-pid-files.ts';
import { getJson, onnxMetadata, postJson, publishRaw, waitForTask } from '../helpers/hub-http.ts';
import { ROOT, startTestHub, type TestHub } from '../helpers/test-hub.ts';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const MLP_SPEC = { inputSize: 8, hidden: 6, classes: 3, inputName: 'features', outputName: 'scores' };
const mlpBytes = buildMlpOnnx({ ...MLP_SPEC, weights: defaultMlpWeights(MLP_SPEC, 11) });
const mlpSha256 = createHash('sha256').update(mlpBytes).digest('hex');

const hubs: TestHub[] = [];
const folders: string[] = [];
afterEach(async () => {
  for (const hub of hubs.splice(0)) await hub.kill();
  for (const folder of folders.splice(0)) fs.rmSync(folder, { recursive: true, force: true });
});

function dataFolder(): string {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-crash-'));
  folders.push(folder);
  return folder;
}

async function hubOn(dataDir: string, env: Record<string, string> = {}): Promise<TestHub> {
  const hub = await startTestHub({ dataDir, env });
  hubs.push(hub);
  return hub;
}

/** Polls `check` every 50 ms until it holds (no fixed sleeps); fails with `what` after `timeoutMs`. */
async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`still not true after ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function task(url: string, taskId: string): Promise<TaskDocument> {
  return (await getJson(`${url}/api/v1/tasks/${taskId}`)).body as TaskDocument;
}

/** Publishes the MLP and waits until the task has begun `step` (where the test hook holds it). */
async function publishUntil(hub: TestHub, owner: string, name: string, step: string): Promise<string> {
  const accepted = await publishRaw(hub.url, onnxMetadata(owner, name), [{ name: 'm.onnx', bytes: mlpBytes }]);
  expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
  const taskId = accepted.body.task_id as string;
  await eventually(`task ${taskId} at step ${step}`, async () => (await task(hub.url, taskId)).steps?.find((s) => s.name === step)?.status === 'RUNNING');
  return taskId;
}

const blobFile = (dataDir: string, sha256: string) => path.join(dataDir, 'blobs', sha256.slice(0, 2), sha256.slice(2));

describe('crash recovery: task and registry agree after a SIGKILL at any step', () => {
  it('a hub killed while indexing comes back with the task SUCCEEDED and the version listed and searchable once', async () => {
    const dataDir = dataFolder();
    const paused = await hubOn(dataDir, { MODELHUB_TEST_PAUSE_AT_STEP: 'index' });
    const taskId = await publishUntil(paused, 'erin', 'indexed', 'index');
    // The registry commit came before: the version is already visible while the task still runs.
    expect((await getJson(`${paused.url}/api/v1/servables/erin/indexed`)).status).toBe(200);
    await paused.kill();

    const hub = await hubOn(dataDir);
    const after = await task(hub.url, taskId);
    expect(after.status, JSON.stringify(after)).toBe('SUCCEEDED');
    expect(after.steps!.map((s) => [s.name, s.status])).toEqual(
      ['validate', 'store', 'inspect', 'warm-up', 'mint', 'register', 'index', 'ready'].map((n) => [n, 'SUCCEEDED']),
    );
    expect(after.result).toMatchObject({ servable: 'erin/indexed', version: 1, identifier: 'modelhub:erin/indexed/v1' });
    expect(after.error).toBeUndefined();
    expect(after.log!.join('\n')).toMatch(/finishing the publish after the restart/);

    const versions = await getJson(`${hub.url}/api/v1/servables/erin/indexed/versions`);
    expect(versions.body.versions.map((v: { version: number }) => v.version)).toEqual([1]);
    const listed = await getJson(`${hub.url}/api/v1/servables?owner=erin`);
    expect(listed.body.items.map((s: { servable: string }) => s.servable)).toEqual(['erin/indexed']);
    const hits = (await getJson(`${hub.url}/api/v1/search?owner=erin`)).body.hits as { servable: string; version: number }[];
    expect(hits.map((h) => [h.servable, h.version])).toEqual([['erin/indexed', 1]]);
    const run = await postJson(`${hub.url}/api/v1/servables/erin/indexed/run`, { inputs: [Array(8).fill(1)] });
    expect(run.status).toBe(200);
    // A second restart finds nothing left to finish and changes nothing.
    await hub.kill();
    const again = await hubOn(dataDir);
    expect((await task(again.url, taskId)).completed_at).toBe(after.completed_at);
    expect((await getJson(`${again.url}/api/v1/search?owner=erin`)).body.hits).toHaveLength(1);
  });

  it('a hub killed before register leaves nothing visible; its upload folder and blob are swept at the next start', async () => {
    const dataDir = dataFolder();
    const paused = await hubOn(dataDir, { MODELHUB_TEST_PAUSE_AT_STEP: 'mint' });
    const taskId = await publishUntil(paused, 'erin', 'unborn', 'mint');
    // What the dead publish leaves: its upload folder and its stored model file.
    expect(fs.readdirSync(path.join(dataDir, 'uploads'))).toHaveLength(1);
    expect(fs.existsSync(blobFile(dataDir, mlpSha256))).toBe(true);
    await paused.kill();

    const hub = await hubOn(dataDir, { MODELHUB_SWEEP_GRACE_SECONDS: '0' });
    const after = await task(hub.url, taskId);
    expect(after.status).toBe('FAILED');
    expect(after.steps!.find((s) => s.name === 'mint')?.status).toBe('FAILED');
    expect((await getJson(`${hub.url}/api/v1/servables/erin/unborn`)).status).toBe(404);
    expect((await getJson(`${hub.url}/api/v1/servables/erin/unborn/versions/1`)).status).toBe(404);
    expect((await getJson(`${hub.url}/api/v1/search?owner=erin`)).body.hits).toEqual([]);
    expect((await getJson(`${hub.url}/api/v1/identifiers/${encodeURIComponent('modelhub:erin/unborn/v1')}`)).status).toBe(404);
    expect(fs.readdirSync(path.join(dataDir, 'uploads'))).toEqual([]);
    await eventually('the dead publish’s blob is swept', () => !fs.existsSync(blobFile(dataDir, mlpSha256)));

    // A retry publishes one version (the number the dead one reserved stays unused), and its blob stays.
    const retry = await publishRaw(hub.url, onnxMetadata('erin', 'unborn'), [{ name: 'm.onnx', bytes: mlpBytes }]);
    expect((await waitForTask(hub.url, retry.body.task_id)).status).toBe('SUCCEEDED');
    expect((await getJson(`${hub.url}/api/v1/servables/erin/unborn/versions`)).body.versions).toHaveLength(1);
    expect(fs.existsSync(blobFile(dataDir, mlpSha256))).toBe(true);
  });

  it('modelhub gc reports and removes blobs no version names once past the grace period, and keeps the rest', async () => {
    const dataDir = dataFolder();
    const hub = await hubOn(dataDir);
    const published = await publishRaw(hub.url, onnxMetadata('erin', 'kept'), [{ name: 'm.onnx', bytes: mlpBytes }]);
    expect((await waitForTask(hub.url, published.body.task_id)).status).toBe('SUCCEEDED');
    const store = new FsBlobStore(path.join(dataDir, 'blobs'));
    const old = await store.put(Buffer.from('stored by a publish that died long ago'));
    const young = await store.put(Buffer.from('stored by a publish that died a moment ago'));
    const longAgo = new Date(Date.now() - 2 * 3600_000);
    fs.utimesSync(blobFile(dataDir, old.sha256), longAgo, longAgo);
    const gc = async () => {
      const { stdout } = await promisify(execFile)(process.execPath, [path.join(ROOT, 'bin/modelhub.js'), '--json', 'gc', '--data', dataDir, '--grace', '3600']);
      return JSON.parse(stdout) as { blobs: { sha256: string; size: number }[]; blobs_removed: boolean; running_hub_pid?: number };
    };

    // Beside the running hub: reported, left to the hub (which alone knows what its publishes write).
    const beside = await gc();
    expect(beside).toMatchObject({ blobs: [{ sha256: old.sha256, size: old.size }], blobs_removed: false, running_hub_pid: hub.process.pid });
    expect(fs.existsSync(blobFile(dataDir, old.sha256))).toBe(true);

    await hub.stop();
    const alone = await gc();
    expect(alone).toMatchObject({ blobs: [{ sha256: old.sha256, size: old.size }], blobs_removed: true });
    expect(fs.existsSync(blobFile(dataDir, old.sha256))).toBe(false);
    expect(fs.existsSync(blobFile(dataDir, young.sha256))).toBe(true);
    expect(fs.existsSync(blobFile(dataDir, mlpSha256))).toBe(true);
    expect((await gc()).blobs).toEqual([]);
  });
});

/** Live Python worker processes whose parent is `parentPid`. */
function pythonWorkersOf(parentPid: number): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== parentPid) continue;
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes('worker.py')) pids.push(Number(entry));
    } catch {
      // exited while being looked at
    }
  }
  return pids;
}

describe.runIf(process.platform === 'linux')('crash recovery: worker processes die with the hub', () => {
  it('the warm Python workers of a hub killed with SIGKILL exit by themselves', async () => {
    const dataDir = dataFolder();
    const hub = await hubOn(dataDir);
    const client = new HubClient({ url: hub.url });
    const model = await PythonFunction.create({ module: path.join(FIXTURES, 'python', 'toolbox.py'), function: 'double', inputType: { type: 'number' } });
    model.setName('erin/double').setTitle('double').setAuthors(['Lovelace, Ada']).setDomains(['testing']);
    expect((await client.publishServable(model)).status).toBe('SUCCEEDED');
    expect((await client.run('erin/double', 21)).output).toBe(42);
    const workers = pythonWorkersOf(hub.process.pid!);
    expect(workers.length).toBeGreaterThan(0);
    // Each live worker is recorded for reaping.
    expect(fs.readdirSync(path.join(dataDir, 'workers')).sort()).toEqual(workers.map((pid) => `${pid}.json`).sort());

    await hub.kill();
    await eventually(`workers ${workers.join(', ')} exit after their hub was killed`, () => workers.every((pid) => !processRuns(pid)), 10_000);
  });

  it('a new hub reaps the processes an earlier hub on its data folder recorded and left running (stand-in: sleep)', async () => {
    const dataDir = dataFolder();
    fs.mkdirSync(path.join(dataDir, 'workers'));
    // Stand-ins for workers that outlived their hub: plain processes that ignore their parent.
    const survivor = spawn('sleep', ['600'], { stdio: 'ignore' });
    const stranger = spawn('sleep', ['600'], { stdio: 'ignore' });
    try {
      const record = (pid: number, started: string | undefined) =>
        fs.writeFileSync(path.join(dataDir, 'workers', `${pid}.json`), JSON.stringify({ pid, started, hub_pid: 1 }));
      record(survivor.pid!, processStartTime(survivor.pid!));
      // Same pid, another start time: the pid was reused by a process that is not ours.
      record(stranger.pid!, String(Number(processStartTime(stranger.pid!)) - 1000));
      const survivorExited = new Promise((resolve) => survivor.once('exit', (_code, signal) => resolve(signal)));

      await hubOn(dataDir);
      expect(await survivorExited).toBe('SIGKILL');
      expect(processRuns(stranger.pid!)).toBe(true);
      expect(fs.readdirSync(path.join(dataDir, 'workers'))).toEqual([]);
    } finally {
      survivor.kill('SIGKILL');
      stranger.kill('SIGKILL');
    }
  });
});
