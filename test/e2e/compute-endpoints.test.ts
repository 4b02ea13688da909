/**
 * Compute endpoints end to end, on the real hub (MODELHUB_AUTH=tokens) and the real CLI agent
 * (`modelhub endpoint start`, local executor) over the wire: registration and visibility (owner,
 * sharing with a group, everyone else told it does not exist), a run queued while the endpoint is
 * offline and run once it connects, the same output as on the hub, the files fetched by digest
 * with the endpoint token and only those its owner may see, an offline endpoint failing with
 * MODELHUB_ENDPOINT_OFFLINE at the deadline, and the agent reconnecting after the hub restarts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlpOnnx, defaultMlpWeights } from '../../builder/demo/onnx-writer.ts';
import { onnxMetadata } from '../helpers/hub-http.ts';
import { call, publishAs, userTokens, waitTask } from '../helpers/endpoint-hub.ts';
import { freePort, startAgentCli, waitForEndpoint, type StartedAgent } from '../helpers/endpoint-agent.ts';
import { ROOT, startTestHub, type TestHub } from '../helpers/test-hub.ts';

const SPEC = { inputSize: 4, hidden: 6, classes: 3, inputName: 'x', outputName: 'y' };
const MODEL = buildMlpOnnx({ ...SPEC, weights: defaultMlpWeights(SPEC, 7) });
const INPUTS = [[0.5, -0.25, 0.125, 1]];
const exec = promisify(execFile);

describe('compute endpoints (local executor)', () => {
  let hub: TestHub;
  let port = 0;
  let agent: StartedAgent | undefined;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-endpoints-'));
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-endpoint-home-'));
  const t: Record<string, string> = {};
  let reference: number[] = [];
  let endpointToken = '';
  /** An Action Provider run sent while the endpoint was offline. */
  let queuedAction = '';

  const startHub = () =>
    startTestHub({ dataDir, env: { MODELHUB_AUTH: 'tokens', MODELHUB_PORT: String(port), MODELHUB_ENDPOINT_HEARTBEAT_MS: '1000' } });

  beforeAll(async () => {
    port = await freePort();
    hub = await startHub();
    Object.assign(t, await userTokens(hub, { alice: ['astro'], bob: ['other'], carol: ['lab'] }));
    for (const [name, owner, extra] of [['mlp', 'alice', {}], ['bob-secret', 'bob', { visibility: 'private' as const }], ['mlp-default', 'alice', {}], ['carol-own', 'carol', { visibility: 'private' as const }]] as const) {
      const metadata = onnxMetadata(owner, name, extra);
      // This one runs on alice's endpoint by default, for whoever may use it.
      if (name === 'mlp-default') metadata.servable.options = { endpoint: 'alice/laptop' };
      await publishAs(hub, t[owner]!, metadata, [{ name: `${name}.onnx`, bytes: MODEL }]);
    }
    const session = await ort.InferenceSession.create(MODEL);
    const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from(INPUTS.flat()), [1, 4]) });
    reference = Array.from(out.y!.data as Float32Array);
    await session.release();
  }, 180_000);

  afterAll(async () => {
    await agent?.stop();
    await hub?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
    fs.rmSync(home, { recursive: true, force: true });
  });

  it('registers an endpoint that only its owner and those it is shared with see', async () => {
    const created = await call(hub.url, 'POST', '/api/v1/endpoints', t.alice, { name: 'laptop', shared_with: { groups: ['lab'] } });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ endpoint: 'alice/laptop', owner: 'alice', status: 'offline', executor: 'local', last_seen: null });
    expect(created.body.token).toMatch(/^mhe_/);
    endpointToken = created.body.token;

    expect((await call(hub.url, 'GET', '/api/v1/endpoints', t.alice)).body.items.map((e: any) => e.endpoint)).toEqual(['alice/laptop']);
    expect((await call(hub.url, 'GET', '/api/v1/endpoints', t.carol)).body.items.map((e: any) => e.endpoint)).toEqual(['alice/laptop']);
    // Sharing is the owner's business: a sharer does not see whom else it is shared with.
    expect((await call(hub.url, 'GET', '/api/v1/endpoints/alice/laptop', t.carol)).body.shared_with).toBeUndefined();
    expect((await call(hub.url, 'GET', '/api/v1/endpoints', t.bob)).body.items).toEqual([]);
    const hidden = await call(hub.url, 'GET', '/api/v1/endpoints/alice/laptop', t.bob);
    const unknown = await call(hub.url, 'GET', '/api/v1/endpoints/alice/nothing', t.bob);
    expect(hidden.status).toBe(404);
    expect(hidden.body.error.code).toBe('MODELHUB_ENDPOINT_NOT_FOUND');
    expect(JSON.stringify(hidden.body).replace('laptop', 'X')).toBe(JSON.stringify(unknown.body).replace('nothing', 'X'));
    expect((await call(hub.url, 'GET', '/api/v1/endpoints', undefined)).body.items).toEqual([]);
    expect((await call(hub.url, 'POST', '/api/v1/endpoints', undefined, { name: 'x' })).status).toBe(401);
    expect((await call(hub.url, 'POST', '/api/v1/endpoints', t.alice, { name: 'Bad Name' })).status).toBe(400);
    // Only the owner deletes it; a sharer is refused, anyone else told it does not exist.
    expect((await call(hub.url, 'DELETE', '/api/v1/endpoints/alice/laptop', t.carol)).status).toBe(403);
    expect((await call(hub.url, 'DELETE', '/api/v1/endpoints/alice/laptop', t.bob)).status).toBe(404);
  });

  it('refuses runs on an endpoint the caller may not use, and an unknown one, as not found', async () => {
    for (const [who, endpoint] of [['bob', 'alice/laptop'], ['alice', 'alice/nothing'], ['alice', 'zed/box']] as const) {
      const reply = await call(hub.url, 'POST', '/api/v1/servables/alice/mlp/run', t[who], { inputs: INPUTS, endpoint });
      expect(reply.status, JSON.stringify(reply.body)).toBe(404);
      expect(reply.body.error.code).toBe('MODELHUB_ENDPOINT_NOT_FOUND');
    }
    expect((await call(hub.url, 'POST', '/api/v1/servables/alice/mlp/run', t.alice, { inputs: INPUTS, endpoint: 'not a name' })).status).toBe(400);
  });

  it("refuses with 403 a sharer's run of a version the endpoint's owner may not see, on every route", async () => {
    // carol may use alice/laptop (group lab) and see her own private servable, but the endpoint
    // runs as alice, who may not: 403, and nothing is sent to the endpoint.
    const run = await call(hub.url, 'POST', '/api/v1/servables/carol/carol-own/run', t.carol, { inputs: INPUTS, endpoint: 'alice/laptop' });
    expect(run.status, JSON.stringify(run.body)).toBe(403);
    expect(run.body.error.code).toBe('MODELHUB_ENDPOINT_FORBIDDEN');
    expect(run.body.error.message).toMatch(/alice\/laptop runs as alice/);
    const v2 = await call(hub.url, 'POST', '/v2/models/carol.carol-own/infer', t.carol, { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: INPUTS.flat() }], parameters: { endpoint: 'alice/laptop' } });
    expect(v2.status, JSON.stringify(v2.body)).toBe(403);
    expect((await call(hub.url, 'GET', '/api/v1/endpoints/alice/laptop', t.alice)).body.queued).toBe(0);
    // bob may not use the endpoint at all: it is not confirmed to exist (404, as an unknown one).
    const bob = await call(hub.url, 'POST', '/api/v1/servables/bob/bob-secret/run', t.bob, { inputs: INPUTS, endpoint: 'alice/laptop' });
    expect(bob.status).toBe(404);
    expect(bob.body.error.code).toBe('MODELHUB_ENDPOINT_NOT_FOUND');
  });

  it('fails a run on an offline endpoint with MODELHUB_ENDPOINT_OFFLINE at its deadline', async () => {
    const reply = await call(hub.url, 'POST', '/api/v1/servables/alice/mlp/run', t.alice, { inputs: INPUTS, endpoint: 'alice/laptop', parameters: { deadline_ms: 800 } });
    expect(reply.status, JSON.stringify(reply.body)).toBe(503);
    expect(reply.body.error.code).toBe('MODELHUB_ENDPOINT_OFFLINE');
    // A servable's default endpoint: used for those who may use it, the hub runs it for others.
    const byDefault = await call(hub.url, 'POST', '/api/v1/servables/alice/mlp-default/run', t.alice, { inputs: INPUTS, parameters: { deadline_ms: 800 } });
    expect(byDefault.body.error.code).toBe('MODELHUB_ENDPOINT_OFFLINE');
    const forBob = await call(hub.url, 'POST', '/api/v1/servables/alice/mlp-default/run', t.bob, { inputs: INPUTS, parameters: { deadline_ms: 800 } });
    expect(forBob.status, JSON.stringify(forBob.body)).toBe(200);
    const v2 = await call(hub.url, 'POST', '/v2/models/alice.mlp/infer', t.alice, { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: INPUTS.flat() }], parameters: { endpoint: 'alice/laptop', deadline_ms: 800 } });
    expect(v2.status, JSON.stringify(v2.body)).toBe(503);
    expect(v2.body.error).toMatch(/offline/);
    // The Action Provider body's endpoint goes to the endpoint as well: it waits in the offline
    // endpoint's queue (and runs there once the agent connects, below).
    const action = await call(hub.url, 'POST', '/actions/inference/run', t.alice, { request_id: 'queued-1', body: { servable: 'alice/mlp', inputs: INPUTS, endpoint: 'alice/laptop', parameters: { deadline_ms: 120_000 } } });
    expect(action.status, JSON.stringify(action.body)).toBeLessThan(300);
    expect(action.body.status).toBe('ACTIVE');
    queuedAction = action.body.action_id;
    expect((await call(hub.url, 'GET', '/api/v1/endpoints/alice/laptop', t.alice)).body.queued).toBe(1);
  });

  it('queues a run while the endpoint is offline and runs it once the agent connects, with the hub\'s output', async () => {
    const accepted = await call(hub.url, 'POST', '/api/v1/servables/alice/mlp/run', t.alice, { inputs: INPUTS, endpoint: 'alice/laptop', asynchronous: true, parameters: { deadline_ms: 120_000 } });
    expect(accepted.status).toBe(202);
    expect((await call(hub.url, 'GET', '/api/v1/endpoints/alice/laptop', t.alice)).body.queued).toBe(2);

    agent = startAgentCli(hub.url, t.alice!, home, ['--name', 'laptop', '--share-group', 'lab']);
    await waitForEndpoint(hub.url, 'alice/laptop', t.alice!, 'online', 60_000, agent);
    const task = await waitTask(hub.url, accepted.body.task_id, t.alice!);
    expect(task.status, JSON.stringify(task)).toBe('SUCCEEDED');
    // An asynchronous run keeps its provenance record, naming the endpoint that ran it.
    expect(task.result.provenance).toMatchObject({ servable: 'alice/mlp', version: 1, endpoint: 'alice/laptop' });

    const onHub = await call(hub.url, 'POST', '/api/v1/servables/alice/mlp/run', t.alice, { inputs: INPUTS });
    expect(task.result.output).toEqual(onHub.body.output);
    (task.result.output as number[][])[0]!.forEach((value, i) => expect(value).toBeCloseTo(reference[i]!, 5));
    // The action queued with it ran on the endpoint too, with the hub's output.
    let status = (await call(hub.url, 'GET', `/actions/inference/${queuedAction}/status`, t.alice)).body;
    for (const started = Date.now(); status.status === 'ACTIVE' && Date.now() - started < 60_000; ) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      status = (await call(hub.url, 'GET', `/actions/inference/${queuedAction}/status`, t.alice)).body;
    }
    expect(status.status, JSON.stringify(status)).toBe('SUCCEEDED');
    expect(status.details.output).toEqual(onHub.body.output);
    expect(status.details.provenance).toMatchObject({ servable: 'alice/mlp', endpoint: 'alice/laptop' });

    // The endpoint keeps the file it fetched, under its digest.
    const sha = fs.readdirSync(path.join(home, 'laptop', 'blobs')).filter((d) => d.length === 2);
    expect(sha.length).toBeGreaterThan(0);
  }, 120_000);

  it('runs for a sharer; the run routes, the SDK\'s CLI (--on) and the Action Provider body all reach it', async () => {
    const carol = await call(hub.url, 'POST', '/api/v1/servables/alice/mlp/run', t.carol, { inputs: INPUTS, endpoint: 'alice/laptop', provenance: true });
    expect(carol.status, JSON.stringify(carol.body)).toBe(200);
    expect(carol.body.cached).toBe(false);
    expect(carol.body.provenance).toMatchObject({ servable: 'alice/mlp', endpoint: 'alice/laptop' });
    (carol.body.output as number[][])[0]!.forEach((value, i) => expect(value).toBeCloseTo(reference[i]!, 5));

    const cli = await exec(process.execPath, [path.join(ROOT, 'bin/modelhub.js'), '--url', hub.url, '--token', t.alice!, '--json', 'run', 'alice/mlp', JSON.stringify(INPUTS), '--on', 'alice/laptop'], { cwd: ROOT });
    expect(JSON.parse(cli.stdout).output).toEqual(carol.body.output);

    const action = await call(hub.url, 'POST', '/actions/inference/run', t.alice, { request_id: 'endpoint-1', body: { servable: 'alice/mlp', inputs: INPUTS, endpoint: 'alice/laptop' } });
    expect(action.status, JSON.stringify(action.body)).toBeLessThan(300);
    let status = action.body;
    for (const started = Date.now(); status.status === 'ACTIVE' && Date.now() - started < 60_000; ) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      status = (await call(hub.url, 'GET', `/actions/inference/${action.body.action_id}/status`, t.alice)).body;
    }
    expect(status.status, JSON.stringify(status)).toBe('SUCCEEDED');
    // The hub's own output, and its provenance names the endpoint that ran it.
    const onHub = await call(hub.url, 'POST', '/api/v1/servables/alice/mlp/run', t.alice, { inputs: INPUTS });
    expect(status.details.output).toEqual(onHub.body.output);
    expect(status.details.provenance).toMatchObject({ servable: 'alice/mlp', endpoint: 'alice/laptop' });

    // The Open Inference Protocol: parameters.endpoint, the reply in the protocol's tensors.
    const v2 = await call(hub.url, 'POST', '/v2/models/alice.mlp/infer', t.alice, { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: INPUTS.flat() }], parameters: { endpoint: 'alice/laptop', provenance: true } });
    expect(v2.status, JSON.stringify(v2.body)).toBe(200);
    expect(v2.body.parameters.provenance).toMatchObject({ servable: 'alice/mlp', endpoint: 'alice/laptop' });
    expect(v2.body.outputs[0]).toMatchObject({ name: 'y', shape: [1, 3], datatype: 'FP32' });
    (v2.body.outputs[0].data as number[]).forEach((value, i) => expect(value).toBeCloseTo(reference[i]!, 5));
    const v2OnHub = await call(hub.url, 'POST', '/v2/models/alice.mlp/infer', t.alice, { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: INPUTS.flat() }] });
    expect(v2.body.outputs).toEqual(v2OnHub.body.outputs);
    const byDefault = await call(hub.url, 'POST', '/api/v1/servables/alice/mlp-default/run', t.alice, { inputs: INPUTS });
    expect(byDefault.status, JSON.stringify(byDefault.body)).toBe(200);
    expect(byDefault.body.output).toEqual(carol.body.output);
  }, 120_000);

  it('gives an endpoint token only the files of servables its owner may see, by digest', async () => {
    const files = (await call(hub.url, 'GET', '/api/v1/servables/alice/mlp', t.alice)).body.hub.files as { sha256: string }[];
    const sha = files[0]!.sha256;
    const fileUrl = (servable: string, digest = sha) => `${hub.url}/api/v1/endpoints/alice/laptop/files/${digest}?servable=${servable}&version=1`;
    // The agent re-registered at start: the token it holds now is the only valid one.
    const state = await call(hub.url, 'POST', '/api/v1/endpoints', t.alice, { name: 'spare' });
    const spareToken = state.body.token as string;
    const own = await fetch(fileUrl('alice/mlp'), { headers: { 'x-modelhub-endpoint-token': endpointToken } });
    expect(own.status).toBe(401); // revoked by the agent's re-registration
    const other = await fetch(fileUrl('alice/mlp'), { headers: { 'x-modelhub-endpoint-token': spareToken } });
    expect(other.status).toBe(403); // another endpoint's token
    const spareUrl = (servable: string, digest = sha) => `${hub.url}/api/v1/endpoints/alice/spare/files/${digest}?servable=${servable}&version=1`;
    const ok = await fetch(spareUrl('alice/mlp'), { headers: { 'x-modelhub-endpoint-token': spareToken } });
    expect(ok.status).toBe(200);
    expect(Buffer.from(await ok.arrayBuffer()).equals(Buffer.from(MODEL))).toBe(true);
    const bobs = (await call(hub.url, 'GET', '/api/v1/servables/bob/bob-secret', t.bob)).body.hub.files[0].sha256 as string;
    // bob's private servable: alice may not see it, so her endpoint may not fetch it (as unknown).
    expect((await fetch(spareUrl('bob/bob-secret', bobs), { headers: { 'x-modelhub-endpoint-token': spareToken } })).status).toBe(404);
    // A digest that is not a file of the version named.
    expect((await fetch(spareUrl('alice/mlp', 'f'.repeat(64)), { headers: { 'x-modelhub-endpoint-token': spareToken } })).status).toBe(403);
    // A user token is not an endpoint token.
    expect((await fetch(spareUrl('alice/mlp'), { headers: { 'x-modelhub-endpoint-token': t.alice! } })).status).toBe(401);
    expect((await call(hub.url, 'DELETE', '/api/v1/endpoints/alice/spare', t.alice)).status).toBe(200);
  });

  it('reconnects after the hub restarts, and runs again', async () => {
    await hub.stop();
    hub = await startHub();
    await waitForEndpoint(hub.url, 'alice/laptop', t.alice!, 'online', 60_000, agent);
    const reply = await call(hub.url, 'POST', '/api/v1/servables/alice/mlp/run', t.alice, { inputs: INPUTS, endpoint: 'alice/laptop' });
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    (reply.body.output as number[][])[0]!.forEach((value, i) => expect(value).toBeCloseTo(reference[i]!, 5));
    const listed = await exec(process.execPath, [path.join(ROOT, 'bin/modelhub.js'), '--url', hub.url, '--token', t.alice!, '--json', 'endpoint', 'list'], { cwd: ROOT });
    expect(JSON.parse(listed.stdout)[0]).toMatchObject({ endpoint: 'alice/laptop', status: 'online' });
    expect(JSON.parse(listed.stdout)[0].last_seen).toEqual(expect.any(String));
  }, 120_000);

  it('stops with modelhub endpoint stop, and the hub sees it offline', async () => {
    await exec(process.execPath, [path.join(ROOT, 'bin/modelhub.js'), 'endpoint', 'stop', '--name', 'laptop'], { cwd: ROOT, env: { ...process.env, MODELHUB_ENDPOINT_HOME: home } });
    await waitForEndpoint(hub.url, 'alice/laptop', t.alice!, 'offline', 30_000, agent);
    agent = undefined;
  }, 60_000);
});
