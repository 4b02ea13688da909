/**
 * Three hub replicas behind HAProxy (Debian's haproxy, its configuration generated here on free
 * ports, checking /v2/health/ready), on one PostgreSQL cluster of this test's own (initdb by
 * scripts/postgres/start.sh, so that restarting it disturbs no other test) and one blob folder all
 * replicas mount (a shared folder, not radosgw: what is tested is the sharing, not S3).
 *
 * Publish through one replica; run, search, cite and withdraw through the others; a token made on
 * one works on all; a private servable stays private everywhere. A replica SIGKILLed in the middle
 * of a publish, of an asynchronous run and of an action: each ends through another replica (the
 * publish is built again from the upload in the shared blob store, the run and the action are
 * resumed; all succeed), nothing is duplicated (one task, one version and identifier, one action). PostgreSQL restarted
 * under load: 503 MODELHUB_BACKEND_UNAVAILABLE, never 500, then the replicas recover by themselves.
 */
import { execFile, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlpOnnx, defaultMlpWeights } from '../../builder/demo/onnx-writer.ts';
import { HubClient } from '../../sdk/hub-client.ts';
import { PythonFunction } from '../../sdk/models/python-function.ts';
import { getJson, onnxMetadata, postJson, publishRaw } from '../helpers/hub-http.ts';
import { Haproxy } from '../helpers/haproxy.ts';
import { ROOT, startTestHub, type TestHub } from '../helpers/test-hub.ts';

const SPEC = { inputSize: 4, hidden: 5, classes: 3, inputName: 'x', outputName: 'y' };
const MODEL = buildMlpOnnx({ ...SPEC, weights: defaultMlpWeights(SPEC, 11) });
const INPUTS = [[0.5, -0.25, 0.125, 1]];
const FIXTURES = path.join(ROOT, 'test', 'fixtures');
const LEASE_SECONDS = 3;
const haproxyAvailable = spawnSync('haproxy', ['-v']).status === 0 && fs.existsSync('/usr/lib/postgresql/15/bin/initdb');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const freePort = () =>
  new Promise<number>((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });

async function eventually<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  let last: unknown;
  for (const started = Date.now(); Date.now() - started < timeoutMs; await sleep(200)) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
  }
  throw new Error(`not within ${timeoutMs} ms: ${what}${last ? ` (last error: ${String(last)})` : ''}`);
}

/** A PostgreSQL cluster of this test's own, so that restarting it disturbs no other test. */
class OwnPostgres {
  readonly root = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-pg-haproxy-'));
  url = '';
  private readonly env = { ...process.env, MODELHUB_PG_ROOT: this.root };

  async start(): Promise<void> {
    const { stdout } = await promisify(execFile)('bash', [path.join(ROOT, 'scripts/postgres/start.sh')], { env: this.env });
    this.url = /MODELHUB_TEST_DATABASE_URL=(\S+)/.exec(stdout)![1]!;
  }

  /** `pg_ctl restart -m fast`: every connection is cut, the server is away a moment, then back with its data. */
  async restart(): Promise<void> {
    const pgCtl = ['/usr/lib/postgresql/15/bin/pg_ctl', '-D', path.join(this.root, 'data'), '-m', 'fast', '-w', '-l', path.join(this.root, 'server.log'), 'restart'];
    const command = process.getuid?.() === 0 ? ['runuser', '-u', 'modelhub-pg', '--', ...pgCtl] : pgCtl;
    await promisify(execFile)(command[0]!, command.slice(1));
  }

  async stop(): Promise<void> {
    await promisify(execFile)('bash', [path.join(ROOT, 'scripts/postgres/stop.sh')], { env: this.env }).catch(() => undefined);
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

/** `modelhub --json token create --user root --admin` with MODELHUB_DATABASE_URL set: the secret. */
async function firstAdminToken(databaseUrl: string): Promise<string> {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-cli-'));
  try {
    const { stdout } = await promisify(execFile)(process.execPath, [path.join(ROOT, 'bin/modelhub.js'), '--json', 'token', 'create', '--user', 'root', '--admin', '--data', folder], {
      env: { ...process.env, MODELHUB_DATABASE_URL: databaseUrl },
    });
    return (JSON.parse(stdout) as { token: string }).token;
  } finally {
    fs.rmSync(folder, { recursive: true, force: true });
  }
}

describe.runIf(haproxyAvailable)('three replicas behind HAProxy on PostgreSQL and a shared blob folder', () => {
  const postgres = new OwnPostgres();
  const haproxy = new Haproxy();
  const replicas: TestHub[] = [];
  const dataDirs: string[] = [];
  let sharedBlobs = '';
  let env: Record<string, string> = {};
  let adminToken = '';
  let aliceToken = '';
  const as = (token: string) => ({ authorization: `Bearer ${token}` });

  /** Starts replica i (again) on its own data folder, the blobs folder shared. */
  const startReplica = async (i: number, extra: Record<string, string> = {}) => {
    replicas[i] = await startTestHub({ env: { ...env, ...extra }, dataDir: dataDirs[i]! });
    return replicas[i]!;
  };
  const task = (url: string, id: string) => getJson(`${url}/api/v1/tasks/${id}`, as(aliceToken)).then((reply) => reply.body);
  const waitTask = (url: string, id: string) =>
    eventually(`task ${id} ends`, async () => {
      const body = await task(url, id);
      return body.status === 'SUCCEEDED' || body.status === 'FAILED' ? body : undefined;
    });

  beforeAll(async () => {
    await postgres.start();
    adminToken = await firstAdminToken(postgres.url);
    const proxyPort = await freePort();
    sharedBlobs = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-shared-blobs-'));
    env = {
      MODELHUB_DATABASE_URL: postgres.url,
      MODELHUB_SEARCH: 'postgres',
      MODELHUB_AUTH: 'tokens',
      MODELHUB_PUBLIC_URL: `http://127.0.0.1:${proxyPort}`,
      MODELHUB_JOB_LEASE_SECONDS: String(LEASE_SECONDS),
    };
    for (let i = 0; i < 3; i++) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `modelhub-replica${i + 1}-`));
      fs.symlinkSync(sharedBlobs, path.join(dir, 'blobs'));
      dataDirs.push(dir);
    }
    // Replica 3 pauses every publish at its warm-up step (the crash tests' hook), to be killed there.
    await Promise.all([startReplica(0), startReplica(1), startReplica(2, { MODELHUB_TEST_PAUSE_AT_STEP: 'warm-up' })]);
    await haproxy.start(proxyPort, replicas.map((replica) => replica.url));
  });

  afterAll(async () => {
    await haproxy.stop();
    for (const replica of replicas) await replica?.stop();
    for (const dir of dataDirs) fs.rmSync(dir, { recursive: true, force: true });
    if (sharedBlobs) fs.rmSync(sharedBlobs, { recursive: true, force: true });
    await postgres.stop();
  });

  it('a token made through the load balancer works on every replica', async () => {
    const made = await postJson(`${haproxy.url}/api/v1/tokens`, { user: 'alice', scopes: ['read', 'run', 'publish'] }, as(adminToken));
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    aliceToken = made.body.token;
    for (const replica of replicas) {
      const whoami = await getJson(`${replica.url}/api/v1/whoami`, as(aliceToken));
      expect(whoami.status, JSON.stringify(whoami.body)).toBe(200);
      expect(whoami.body.user).toBe('alice');
    }
  });

  it('publishes through one replica; runs, searches, cites and withdraws through the others', async () => {
    const accepted = await publishRaw(replicas[0]!.url, onnxMetadata('alice', 'balanced', { domains: ['replication'] }), [{ name: 'm.onnx', bytes: MODEL }], as(aliceToken));
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    expect((await waitTask(replicas[1]!.url, accepted.body.task_id)).status).toBe('SUCCEEDED');
    // Replica 2 caches the version list when it runs version 1.
    const first = await postJson(`${replicas[1]!.url}/api/v1/servables/alice/balanced/run`, { inputs: INPUTS }, as(aliceToken));
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    const found = await getJson(`${replicas[2]!.url}/api/v1/search?q=balanced`);
    expect(found.body.hits.map((hit: { servable: string }) => hit.servable)).toEqual(['alice/balanced']);
    // The default citation is BibTeX text; its URL is the hub's public one, the load balancer's.
    const cited = await fetch(`${replicas[2]!.url}/api/v1/servables/alice/balanced/citation`);
    const citation = await cited.text();
    expect(cited.status, citation).toBe(200);
    expect(citation).toContain(`http://127.0.0.1:${new URL(haproxy.url).port}`);

    // Version 2 through the load balancer: replica 2 hears of it (LISTEN/NOTIFY) and runs it as the latest.
    const again = await publishRaw(replicas[0]!.url, onnxMetadata('alice', 'balanced', { domains: ['replication'] }), [{ name: 'm.onnx', bytes: MODEL }], as(aliceToken));
    expect((await waitTask(replicas[0]!.url, again.body.task_id)).status).toBe('SUCCEEDED');
    const latest = await eventually('replica 2 runs version 2', async () => {
      const ran = await postJson(`${replicas[1]!.url}/api/v1/servables/alice/balanced/run`, { inputs: INPUTS, parameters: { probe: Date.now() } }, as(aliceToken));
      return ran.body.version === 2 ? ran : undefined;
    }, 10_000);
    expect(latest.status).toBe(200);

    // Withdrawn through replica 3: replica 2, which had it cached, refuses to run it at once.
    const withdrawn = await fetch(`${replicas[2]!.url}/api/v1/servables/alice/balanced/versions/2`, { method: 'DELETE', headers: as(aliceToken) });
    expect(withdrawn.status).toBe(200);
    const gone = await eventually('replica 2 sees version 2 withdrawn', async () => {
      const ran = await postJson(`${replicas[1]!.url}/api/v1/servables/alice/balanced/versions/2/run`, { inputs: INPUTS }, as(aliceToken));
      return ran.status === 410 ? ran : undefined;
    }, 10_000);
    expect(gone.body.error.code).toBe('MODELHUB_SERVABLE_WITHDRAWN');
  });

  it('keeps a private servable invisible to others on every replica, also after a visibility change', async () => {
    const accepted = await publishRaw(replicas[1]!.url, onnxMetadata('alice', 'hidden-mlp', { visibility: 'private' }), [{ name: 'm.onnx', bytes: MODEL }], as(aliceToken));
    expect((await waitTask(replicas[1]!.url, accepted.body.task_id)).status).toBe('SUCCEEDED');
    for (const replica of replicas) {
      expect((await getJson(`${replica.url}/api/v1/servables/alice/hidden-mlp`)).status).toBe(404);
      expect((await getJson(`${replica.url}/api/v1/search?q=hidden`)).body.total).toBe(0);
      expect((await getJson(`${replica.url}/api/v1/servables/alice/hidden-mlp`, as(aliceToken))).status).toBe(200);
    }
    // Made public on replica 1, then private again on replica 3: replica 2 follows each change.
    const patch = (url: string, visibility: string) =>
      fetch(`${url}/api/v1/servables/alice/hidden-mlp`, { method: 'PATCH', headers: { ...as(aliceToken), 'content-type': 'application/json' }, body: JSON.stringify({ visibility }) });
    expect((await patch(replicas[0]!.url, 'public')).status).toBe(200);
    await eventually('replica 2 shows the public servable', async () => ((await getJson(`${replicas[1]!.url}/api/v1/servables/alice/hidden-mlp`)).status === 200 ? true : undefined), 10_000);
    expect((await postJson(`${replicas[1]!.url}/api/v1/servables/alice/hidden-mlp/run`, { inputs: INPUTS }, as(adminToken))).status).toBe(200);
    expect((await patch(replicas[2]!.url, 'private')).status).toBe(200);
    const anonymousRun = await eventually('replica 2 hides it again', async () => {
      const ran = await postJson(`${replicas[1]!.url}/api/v1/servables/alice/hidden-mlp/run`, { inputs: INPUTS });
      return ran.status !== 200 ? ran : undefined;
    }, 10_000);
    expect([401, 404]).toContain(anonymousRun.status);
  });

  it('a publish whose replica is SIGKILLed is built again by another replica from the shared blob store: one version, one identifier', async () => {
    const accepted = await publishRaw(replicas[2]!.url, onnxMetadata('alice', 'interrupted'), [{ name: 'm.onnx', bytes: MODEL }], as(aliceToken));
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    expect(accepted.body.version).toBe(1);
    try {
      await eventually('the publish reaches warm-up', async () => {
        const body = await task(replicas[0]!.url, accepted.body.task_id);
        return body.steps?.find((step: { name: string }) => step.name === 'warm-up')?.status === 'RUNNING' ? true : undefined;
      });
      // The upload lived on replica 3's disk and in the shared blob store; its disk goes with it.
      await replicas[2]!.kill();
      fs.rmSync(path.join(dataDirs[2]!, 'uploads'), { recursive: true, force: true });
      const finished = await waitTask(replicas[0]!.url, accepted.body.task_id);
      expect(finished.status, JSON.stringify(finished)).toBe('SUCCEEDED');
      expect(finished.result).toMatchObject({ servable: 'alice/interrupted', version: 1 });
      expect(JSON.stringify(finished.log)).toMatch(/stopped during the warm-up step; building it again on another replica from the uploaded files \(attempt 2 of/);
      // The same from every live replica.
      expect(JSON.stringify(await task(replicas[1]!.url, accepted.body.task_id))).toBe(JSON.stringify(await task(replicas[0]!.url, accepted.body.task_id)));
      // One version, with the identifier of version 1, listed and runnable everywhere.
      const versions = await getJson(`${replicas[1]!.url}/api/v1/servables/alice/interrupted/versions`, as(aliceToken));
      expect(versions.status, JSON.stringify(versions.body)).toBe(200);
      const listed = versions.body.versions as { version: number; state: string; identifier?: string }[];
      expect(listed.map((v) => [v.version, v.state])).toEqual([[1, 'published']]);
      expect(listed[0]!.identifier).toBe(finished.result.identifier);
      const ran = await postJson(`${replicas[0]!.url}/api/v1/servables/alice/interrupted/run`, { inputs: INPUTS }, as(aliceToken));
      expect(ran.status, JSON.stringify(ran.body)).toBe(200);
      // Publishing again takes the next number: nothing is used twice.
      const retried = await publishRaw(replicas[0]!.url, onnxMetadata('alice', 'interrupted'), [{ name: 'm.onnx', bytes: MODEL }], as(aliceToken));
      expect(retried.body.version).toBe(2);
      expect((await waitTask(replicas[1]!.url, retried.body.task_id)).status).toBe('SUCCEEDED');
    } finally {
      // Replica 3 comes back without the pause, whatever happened here.
      await startReplica(2);
    }
  });

  it('an asynchronous run and an action whose replica is SIGKILLed are resumed by another replica, once', async () => {
    const client = new HubClient({ url: replicas[0]!.url, token: aliceToken });
    const model = await PythonFunction.create({ module: path.join(FIXTURES, 'python', 'toolbox.py'), function: 'sleepy', inputType: { type: 'number' } });
    model.setName('alice/sleepy').setTitle('sleepy').setAuthors(['Lovelace, Ada']).setDomains(['testing']);
    const published = await client.publishServable(model);
    expect(published.status, JSON.stringify(published.error)).toBe('SUCCEEDED');

    // An asynchronous run accepted by replica 2, which dies while the servable sleeps.
    const accepted = await postJson(`${replicas[1]!.url}/api/v1/servables/alice/sleepy/run`, { inputs: 4, asynchronous: true }, as(aliceToken));
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    await sleep(1000);
    await replicas[1]!.kill();
    const resumed = await waitTask(replicas[0]!.url, accepted.body.task_id);
    expect(resumed.status, JSON.stringify(resumed)).toBe('SUCCEEDED');
    expect(resumed.result.output).toBe(4);
    expect(JSON.stringify(await task(replicas[2]!.url, accepted.body.task_id))).toBe(JSON.stringify(await task(replicas[0]!.url, accepted.body.task_id)));
    // The task's log (in its document) says where it was run again.
    expect(JSON.stringify(resumed.log)).toContain('running it again (attempt 2');
    await startReplica(1);

    // An action started on replica 3, which dies while it runs.
    const body = { request_id: 'killed-mid-action', body: { servable: 'alice/sleepy', inputs: 4 } };
    const started = await postJson(`${replicas[2]!.url}/actions/inference/run`, body, as(aliceToken));
    expect(started.status, JSON.stringify(started.body)).toBe(202);
    const id = started.body.action_id as string;
    await replicas[2]!.kill();
    try {
      const done = await eventually('the action ends on another replica', async () => {
        const status = (await getJson(`${replicas[0]!.url}/actions/inference/${id}/status`, as(aliceToken))).body;
        return status.status === 'SUCCEEDED' || status.status === 'FAILED' ? status : undefined;
      });
      expect(done).toMatchObject({ action_id: id, status: 'SUCCEEDED' });
      // Still one action for the request_id, run to success once. Its job is claimed by whichever
      // replica's job runner gets it first: when that was the killed replica the log says
      // ActionResumed; when another replica had it from the start it simply finished there.
      const again = await postJson(`${replicas[1]!.url}/actions/inference/run`, body, as(aliceToken));
      expect(again.body.action_id).toBe(id);
      const entries = (await getJson(`${replicas[1]!.url}/actions/inference/${id}/log`, as(aliceToken))).body.entries as { code: string }[];
      expect(entries.filter((entry) => entry.code === 'RunSucceeded')).toHaveLength(1);
      expect(entries.filter((entry) => entry.code === 'ActionStarted')).toHaveLength(1);
    } finally {
      // The later tests need all three replicas, whatever happened here.
      await startReplica(2);
    }
  });

  it('answers 503 MODELHUB_BACKEND_UNAVAILABLE, never 500, while PostgreSQL restarts under load, and recovers by itself', async () => {
    const statuses: { status: number; code?: string }[] = [];
    let loading = true;
    const load = (async () => {
      while (loading) {
        for (const route of ['/api/v1/servables/alice/balanced', '/api/v1/search?q=balanced', '/api/v1/servables']) {
          const response = await fetch(`${haproxy.url}${route}`, { headers: as(aliceToken) }).catch(() => undefined);
          if (!response) continue;
          const reply = (await response.json().catch(() => ({}))) as { error?: { code?: string } };
          statuses.push({ status: response.status, code: reply.error?.code });
        }
      }
    })();
    await sleep(500);
    await postgres.restart();
    await sleep(1500);
    loading = false;
    await load;
    expect(statuses.filter((s) => s.status >= 500 && s.status !== 503)).toEqual([]);
    expect(statuses.filter((s) => s.status === 503).every((s) => s.code === 'MODELHUB_BACKEND_UNAVAILABLE')).toBe(true);
    expect(statuses.filter((s) => s.status !== 200 && s.status !== 503)).toEqual([]);
    // Back by itself, on every replica.
    for (const replica of replicas) {
      await eventually(`replica ${replica.url} answers again`, async () => ((await getJson(`${replica.url}/api/v1/servables/alice/balanced`, as(aliceToken))).status === 200 ? true : undefined), 30_000);
    }
  });
});
