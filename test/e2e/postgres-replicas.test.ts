/**
 * Hubs in PostgreSQL mode (MODELHUB_DATABASE_URL + MODELHUB_SEARCH=postgres), as replicas behind a
 * load balancer run: two hub processes with different data folders on one database (the model
 * files on a shared volume) publish, run and search one catalogue; a token made on one works on the
 * other; a task's status is the same from both; stored runs, reproducibility checks and compute
 * endpoints too; a private servable stays private on both. The
 * database going away answers 503 MODELHUB_BACKEND_UNAVAILABLE (never 500) and the hub recovers by
 * itself; a wrong MODELHUB_DATABASE_URL stops start-up naming it.
 */
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildMlpOnnx, defaultMlpWeights } from '../../builder/demo/onnx-writer.ts';
import { buildCli } from '../../hub-server/cli.ts';
import { getJson, onnxMetadata, postJson, publishRaw } from '../helpers/hub-http.ts';
import { describePostgres, freshDatabase } from '../helpers/postgres.ts';
import { startTestHub, type TestHub } from '../helpers/test-hub.ts';

const SPEC = { inputSize: 4, hidden: 5, classes: 3, inputName: 'x', outputName: 'y' };
const MODEL = buildMlpOnnx({ ...SPEC, weights: defaultMlpWeights(SPEC, 7) });
const INPUTS = [[0.5, -0.25, 0.125, 1]];

/**
 * A TCP relay to PostgreSQL that the test can cut and restore, as a database restart or a network
 * fault would: connections refused while it is down.
 */
class DatabaseRelay {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<void> {
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.target);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }
}

/** `modelhub --json token create --user root --admin` with MODELHUB_DATABASE_URL set: the secret. */
async function firstAdminToken(databaseUrl: string): Promise<string> {
  const out: string[] = [];
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-cli-'));
  const saved = { url: process.env.MODELHUB_DATABASE_URL, exitCode: process.exitCode };
  process.env.MODELHUB_DATABASE_URL = databaseUrl;
  try {
    const program = buildCli({ out: (line) => out.push(line), err: (line) => out.push(line) });
    await program.parseAsync(['node', 'modelhub', '--json', 'token', 'create', '--user', 'root', '--admin', '--data', folder]);
    // Nothing went to the folder's own token file: the hubs would never read it.
    expect(fs.existsSync(path.join(folder, 'tokens.db'))).toBe(false);
  } finally {
    if (saved.url === undefined) delete process.env.MODELHUB_DATABASE_URL;
    else process.env.MODELHUB_DATABASE_URL = saved.url;
    process.exitCode = saved.exitCode;
    fs.rmSync(folder, { recursive: true, force: true });
  }
  const created = JSON.parse(out.join('\n')) as { token?: string };
  if (!created.token) throw new Error(`modelhub token create said: ${out.join('\n')}`);
  return created.token;
}

async function waitTask(url: string, taskId: string, token: string) {
  for (const started = Date.now(); Date.now() - started < 120_000; ) {
    const reply = await getJson(`${url}/api/v1/tasks/${taskId}`, { authorization: `Bearer ${token}` });
    if (reply.status !== 200) throw new Error(`task ${taskId}: ${reply.status} ${JSON.stringify(reply.body)}`);
    if (reply.body.status === 'SUCCEEDED' || reply.body.status === 'FAILED') return reply.body;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`task ${taskId} did not finish`);
}

describePostgres('hub replicas on PostgreSQL', () => {
  let database: { url: string; drop: () => Promise<void> };
  let relay: DatabaseRelay;
  let first: TestHub;
  let second: TestHub;
  let secondData: string;
  let adminToken = '';
  let aliceToken = '';
  let reference: number[] = [];
  const as = (token: string) => ({ authorization: `Bearer ${token}` });

  beforeAll(async () => {
    database = await freshDatabase();
    // The first admin token, made the documented way: `modelhub token create` on the data side,
    // which in PostgreSQL mode writes to the shared database.
    adminToken = await firstAdminToken(database.url);

    const env = { MODELHUB_DATABASE_URL: database.url, MODELHUB_SEARCH: 'postgres', MODELHUB_AUTH: 'tokens' };
    first = await startTestHub({ env });
    // The second replica reaches the database through a relay the test can cut, and keeps its own
    // data folder with the model files on a volume both share (as a shared file system would).
    const target = new URL(database.url);
    relay = new DatabaseRelay({ host: target.hostname, port: Number(target.port || 5432) });
    await relay.start();
    const relayed = new URL(database.url);
    relayed.host = `127.0.0.1:${relay.port}`;
    secondData = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-replica-'));
    fs.mkdirSync(path.join(first.dataDir, 'blobs'), { recursive: true });
    fs.symlinkSync(path.join(first.dataDir, 'blobs'), path.join(secondData, 'blobs'));
    second = await startTestHub({ env: { ...env, MODELHUB_DATABASE_URL: relayed.toString() }, dataDir: secondData });

    const session = await ort.InferenceSession.create(MODEL);
    const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from(INPUTS.flat()), [1, 4]) });
    reference = Array.from(out.y!.data as Float32Array);
    await session.release();
  });

  afterAll(async () => {
    await second?.stop();
    await first?.stop();
    await relay?.stop();
    if (secondData) fs.rmSync(secondData, { recursive: true, force: true });
    await database?.drop();
  });

  it('holds no data-folder lock, and names PostgreSQL in readiness', async () => {
    expect(fs.existsSync(path.join(first.dataDir, 'hub.lock'))).toBe(false);
    const ready = await getJson(`${first.url}/v2/health/ready`);
    expect(ready.status).toBe(200);
    expect(ready.body.backends).toEqual(expect.arrayContaining([expect.objectContaining({ backend: 'postgres', ok: true })]));
  });

  it('a token made on one replica works on the other', async () => {
    const made = await postJson(`${first.url}/api/v1/tokens`, { user: 'alice', scopes: ['read', 'run', 'publish'] }, as(adminToken));
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    aliceToken = made.body.token;
    const whoami = await getJson(`${second.url}/api/v1/tokens?user=alice`, as(adminToken));
    expect(whoami.status).toBe(200);
    expect(whoami.body.tokens.map((t: { id: string }) => t.id)).toContain(made.body.id);
    // alice's token authenticates on the second replica: she may publish there (202), an unknown token may not (401).
    const unknown = await publishRaw(second.url, onnxMetadata('alice', 'nope'), [{ name: 'm.onnx', bytes: MODEL }], as(`mh_${'A'.repeat(43)}`));
    expect(unknown.status).toBe(401);
  });

  it('a token revoked on one replica is refused by the other, which had it cached as verified', async () => {
    const made = await postJson(`${first.url}/api/v1/tokens`, { user: 'carol', scopes: ['read'] }, as(adminToken));
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    // Verified on the second replica, which keeps it (no database read on its next requests).
    for (let i = 0; i < 2; i++) expect((await getJson(`${second.url}/api/v1/whoami`, as(made.body.token))).body.user).toBe('carol');
    const revoked = await fetch(`${first.url}/api/v1/tokens/${made.body.id}`, { method: 'DELETE', headers: as(adminToken) });
    expect(revoked.status).toBe(200);
    // NOTIFY reaches the second replica's change feed within moments, not the cache's 30 s.
    let status = 200;
    for (const since = Date.now(); status === 200 && Date.now() - since < 5_000; await new Promise((resolve) => setTimeout(resolve, 50))) {
      status = (await getJson(`${second.url}/api/v1/whoami`, as(made.body.token))).status;
    }
    expect(status).toBe(401);
  });

  it('publishes on one replica; the other lists, describes, runs and searches the same catalogue', async () => {
    const accepted = await publishRaw(first.url, onnxMetadata('alice', 'shared-mlp', { domains: ['replication'] }), [{ name: 'm.onnx', bytes: MODEL }], as(aliceToken));
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    const task = await waitTask(first.url, accepted.body.task_id, aliceToken);
    expect(task.status, JSON.stringify(task)).toBe('SUCCEEDED');
    // The task is the same seen from either replica.
    const fromSecond = await getJson(`${second.url}/api/v1/tasks/${accepted.body.task_id}`, as(aliceToken));
    expect(fromSecond.status).toBe(200);
    expect(fromSecond.body).toMatchObject({ task_id: accepted.body.task_id, status: 'SUCCEEDED', kind: 'publish' });

    const described = await getJson(`${second.url}/api/v1/servables/alice/shared-mlp`);
    expect(described.status).toBe(200);
    expect(described.body.hub).toMatchObject({ owner: 'alice', name: 'shared-mlp', version: 1 });
    const listed = await getJson(`${second.url}/api/v1/servables`);
    expect(listed.body.items.map((item: { servable: string }) => item.servable)).toContain('alice/shared-mlp');

    for (const hub of [first, second]) {
      const ran = await postJson(`${hub.url}/api/v1/servables/alice/shared-mlp/run`, { inputs: INPUTS }, as(aliceToken));
      expect(ran.status, JSON.stringify(ran.body)).toBe(200);
      const output = (ran.body.output as number[][]).flat();
      expect(output.every((value, i) => Math.abs(value - reference[i]!) < 1e-6), JSON.stringify(output)).toBe(true);
    }

    const found = await getJson(`${second.url}/api/v1/search?q=${encodeURIComponent('shared mlp')}`);
    expect(found.status).toBe(200);
    expect(found.body.hits.map((hit: { servable: string }) => hit.servable)).toEqual(['alice/shared-mlp']);
    expect(found.body.facets.domain).toEqual({ replication: 1 });

    // A second version published through the other replica gets the next number.
    const again = await publishRaw(second.url, onnxMetadata('alice', 'shared-mlp', { domains: ['replication'] }), [{ name: 'm.onnx', bytes: MODEL }], as(aliceToken));
    expect(again.status, JSON.stringify(again.body)).toBe(202);
    expect(again.body.version).toBe(2);
    expect((await waitTask(first.url, again.body.task_id, aliceToken)).status).toBe('SUCCEEDED');
    expect((await getJson(`${first.url}/api/v1/search?q=shared&latest=true`)).body.hits.map((hit: { version: number }) => hit.version)).toEqual([2]);
  });

  it('a stored run, a reproducibility check and a compute endpoint made through one replica are read through the other', async () => {
    // Provenance: a run that asks for it is stored where any replica reads it.
    const ran = await postJson(`${first.url}/api/v1/servables/alice/shared-mlp/versions/1/run`, { inputs: INPUTS, provenance: true }, as(aliceToken));
    expect(ran.status, JSON.stringify(ran.body)).toBe(200);
    const runId = ran.body.provenance.run_id as string;
    const stored = await getJson(`${second.url}/api/v1/runs/${runId}`, as(aliceToken));
    expect(stored.status, JSON.stringify(stored.body)).toBe(200);
    expect(stored.body.provenance).toEqual(ran.body.provenance);
    expect(stored.body.output).toEqual(ran.body.output);
    // Reproducibility: the examples and check the publishing replica recorded are the other's too.
    const method = { input: { type: 'any' as const }, output: { type: 'any' as const }, method_details: { example_inputs: INPUTS } };
    const accepted = await publishRaw(second.url, onnxMetadata('alice', 'checked-mlp', {}, method), [{ name: 'm.onnx', bytes: MODEL }], as(aliceToken));
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    expect((await waitTask(second.url, accepted.body.task_id, aliceToken)).status).toBe('SUCCEEDED');
    let checked = await getJson(`${first.url}/api/v1/servables/alice/checked-mlp/reproducibility`, as(aliceToken));
    for (const since = Date.now(); checked.status === 404 && Date.now() - since < 60_000; ) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      checked = await getJson(`${first.url}/api/v1/servables/alice/checked-mlp/reproducibility`, as(aliceToken));
    }
    expect(checked.status, JSON.stringify(checked.body)).toBe(200);
    expect(checked.body).toMatchObject({ status: 'reproducible', reason: 'publish' });
    const verified = await postJson(`${first.url}/api/v1/servables/alice/checked-mlp/versions/1/verify`, {}, as(aliceToken));
    expect(verified.status, JSON.stringify(verified.body)).toBe(200);
    expect(verified.body).toMatchObject({ status: 'reproducible', reason: 'manual' });
    expect((await getJson(`${second.url}/api/v1/servables/alice/checked-mlp/versions/1/reproducibility`, as(aliceToken))).body).toEqual(verified.body);
    // Compute endpoints: registered through one replica, known to the other.
    const registered = await postJson(`${first.url}/api/v1/endpoints`, { name: 'workstation', resources: { cpus: 2 } }, as(aliceToken));
    expect(registered.status, JSON.stringify(registered.body)).toBe(201);
    const described = await getJson(`${second.url}/api/v1/endpoints/alice/workstation`, as(aliceToken));
    expect(described.status, JSON.stringify(described.body)).toBe(200);
    expect(described.body).toMatchObject({ owner: 'alice', name: 'workstation' });
  });

  it('an action started through one replica is found, monitored and released through the other', async () => {
    const body = { request_id: 'replica-action-1', body: { servable: 'alice/shared-mlp', inputs: INPUTS } };
    const started = await postJson(`${first.url}/actions/inference/run`, body, as(aliceToken));
    expect([200, 202], JSON.stringify(started.body)).toContain(started.status);
    const id = started.body.action_id as string;
    let status = started.body;
    for (const since = Date.now(); status.status === 'ACTIVE' && Date.now() - since < 60_000; ) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      status = (await getJson(`${second.url}/actions/inference/${id}/status`, as(aliceToken))).body;
    }
    expect(status).toMatchObject({ action_id: id, status: 'SUCCEEDED' });
    // The same request_id through the other replica is the same action (idempotent across replicas).
    const again = await postJson(`${second.url}/actions/inference/run`, body, as(aliceToken));
    expect(again.status).toBe(200);
    expect(again.body.action_id).toBe(id);
    const log = await getJson(`${second.url}/actions/inference/${id}/log`, as(aliceToken));
    expect(log.body.entries.map((entry: { code: string }) => entry.code)).toContain('RunSucceeded');
    expect((await postJson(`${second.url}/actions/inference/${id}/release`, {}, as(aliceToken))).status).toBe(200);
    expect((await getJson(`${first.url}/actions/inference/${id}/status`, as(aliceToken))).status).toBe(404);
  });

  it('keeps a private servable invisible to others on every replica', async () => {
    const accepted = await publishRaw(first.url, onnxMetadata('alice', 'secret-mlp', { visibility: 'private', domains: ['hidden'] }), [{ name: 'm.onnx', bytes: MODEL }], as(aliceToken));
    expect(accepted.status).toBe(202);
    expect((await waitTask(first.url, accepted.body.task_id, aliceToken)).status).toBe('SUCCEEDED');
    for (const hub of [first, second]) {
      expect((await getJson(`${hub.url}/api/v1/search?q=secret`)).body.total).toBe(0);
      expect((await getJson(`${hub.url}/api/v1/servables/alice/secret-mlp`)).status).toBe(404);
      expect((await getJson(`${hub.url}/api/v1/search?q=secret`, as(aliceToken))).body.total).toBe(1);
    }
  });

  it('answers 503 MODELHUB_BACKEND_UNAVAILABLE while the database is away, never 500, and recovers by itself', async () => {
    await relay.stop();
    try {
      // A servable this replica has never described: one it has may be answered from its gateway's
      // short version cache, which is allowed (the point here is: a 503, never a 500 or a hang).
      const routes = ['/api/v1/servables/alice/never-described', '/api/v1/servables', '/api/v1/search?q=shared', `/api/v1/tasks/none`];
      for (const route of routes) {
        const reply = await getJson(`${second.url}${route}`);
        expect(reply.status, `${route}: ${JSON.stringify(reply.body)}`).toBe(503);
        expect(reply.body.error.code, route).toBe('MODELHUB_BACKEND_UNAVAILABLE');
      }
      // An authenticated request too (the token may be cached as verified; the servable is not).
      const withToken = await getJson(`${second.url}/api/v1/servables/alice/never-described-either`, as(aliceToken));
      expect(withToken.status, JSON.stringify(withToken.body)).toBe(503);
      expect(withToken.body.error.code).toBe('MODELHUB_BACKEND_UNAVAILABLE');
      const ready = await getJson(`${second.url}/v2/health/ready`);
      expect(ready.status).toBe(503);
      expect(ready.body.backends).toEqual(expect.arrayContaining([expect.objectContaining({ backend: 'postgres', ok: false })]));
    } finally {
      await relay.start();
    }
    const back = await getJson(`${second.url}/api/v1/servables/alice/shared-mlp`, as(aliceToken));
    expect(back.status, JSON.stringify(back.body)).toBe(200);
    expect((await getJson(`${second.url}/v2/health/ready`)).status).toBe(200);
  });

  it('stops start-up naming MODELHUB_DATABASE_URL when it is wrong', async () => {
    const notPostgres = startTestHub({ env: { MODELHUB_DATABASE_URL: 'mysql://root@127.0.0.1/modelhub' } });
    await expect(notPostgres).rejects.toThrow(/MODELHUB_DATABASE_URL must be a PostgreSQL URL/);
    // Nothing listens there: the relay's port while it is closed is as good as any.
    const closed = await new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as net.AddressInfo;
        server.close(() => resolve(port));
      });
    });
    const unreachable = startTestHub({ env: { MODELHUB_DATABASE_URL: `postgres://modelhub:secret-password@127.0.0.1:${closed}/modelhub` } });
    const error = await unreachable.then(() => new Error('started'), (e: Error) => e);
    expect(error.message).toMatch(/MODELHUB_DATABASE_URL names a database this hub cannot use/);
    expect(error.message).not.toContain('secret-password');
    const searchWithout = startTestHub({ env: { MODELHUB_SEARCH: 'postgres' } });
    await expect(searchWithout).rejects.toThrow(/MODELHUB_SEARCH postgres needs MODELHUB_DATABASE_URL/);
  });
});
