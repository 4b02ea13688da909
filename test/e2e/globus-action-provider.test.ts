/**
 * A Globus flow calling a private model, against a Globus Auth stand-in (Globus Auth and the
 * Groups API cannot be reached from here; the stand-in answers as their documentation shows, and
 * the first test holds it to the documented fields). The real hub (MODELHUB_AUTH=tokens) checks
 * the Action Provider's bearer tokens by introspection with its client credentials, gets group
 * memberships through a dependent token, and runs `modelhub flow run` with a Globus token against
 * a private servable shared with a Globus group: a member's flow succeeds, a non-member's is
 * refused exactly as for an unknown servable (no existence oracle), a pending member is not a member, expired/foreign/unscoped tokens are 401 with the reason,
 * and Globus Auth down is a 503.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlpOnnx, defaultMlpWeights } from '../../builder/demo/onnx-writer.ts';
import { SqliteTokenStore } from '../../hub-server/adapters/sqlite-token-store.ts';
import { onnxMetadata, publishRaw, waitForTask } from '../helpers/hub-http.ts';
import { ROOT, startTestHub, type TestHub } from '../helpers/test-hub.ts';
import { DOCUMENTED_FIELDS, GROUPS_SCOPE, newIdentity, startGlobusAuthStandIn, type GlobusAuthStandIn } from '../fixtures/globus-auth-stand-in.ts';

const SPEC = { inputSize: 4, hidden: 5, classes: 3, inputName: 'x', outputName: 'y' };
const MODEL = buildMlpOnnx({ ...SPEC, weights: defaultMlpWeights(SPEC, 7) });
const INPUTS = [[0.5, -0.1, 0.2, 0.9]];
const HUB_CLIENT = { id: randomUUID(), secret: 'hub-client-secret-for-the-stand-in' };
const FLOWS_CLIENT = randomUUID();
const SCOPE = `https://auth.globus.org/scopes/${HUB_CLIENT.id}/action_all`;
const GROUP = randomUUID();

const member = newIdentity('member@uni.example.org', 'A Member');
const memberLinked = newIdentity('member@orcid.org', 'A Member (ORCID)');
const outsider = newIdentity('outsider@elsewhere.example.org', 'An Outsider');
const pending = newIdentity('pending@uni.example.org', 'Invited Only');

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-globus-'));

function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(ROOT, 'bin/modelhub.js'), ...args],
      { cwd: work, env: { ...process.env, MODELHUB_CONFIG: path.join(work, 'config.json'), MODELHUB_URL: '', MODELHUB_TOKEN: '' } },
      (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('the Action Provider with Globus tokens, against a Globus Auth stand-in', () => {
  let standIn: GlobusAuthStandIn;
  let hub: TestHub;
  let flowFile = '';
  let reference: number[] = [];
  let carol = '';
  const token = (identity: typeof member, extra: Partial<Parameters<GlobusAuthStandIn['issue']>[0]> = {}) =>
    standIn.issue({ identity, scope: SCOPE, audience: [HUB_CLIENT.id], clientId: FLOWS_CLIENT, ...extra });
  const provider = () => `${hub.url}/actions/servables/carol/secret-mlp`;
  const call = async (route: string, bearer: string | undefined, body?: unknown) => {
    const response = await fetch(`${hub.url}${route}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { ...(bearer ? { authorization: `Bearer ${bearer}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as any, challenge: response.headers.get('www-authenticate') };
  };

  beforeAll(async () => {
    standIn = await startGlobusAuthStandIn(HUB_CLIENT);
    standIn.addGroup({
      id: GROUP,
      name: 'Model users',
      members: [
        { identityId: memberLinked.id, username: memberLinked.username, role: 'member', status: 'active' },
        { identityId: pending.id, username: pending.username, role: 'member', status: 'invited' },
      ],
    });
    hub = await startTestHub({
      env: {
        MODELHUB_AUTH: 'tokens',
        MODELHUB_GLOBUS_CLIENT_ID: HUB_CLIENT.id,
        MODELHUB_GLOBUS_CLIENT_SECRET: HUB_CLIENT.secret,
        MODELHUB_GLOBUS_AUTH_URL: standIn.url,
        MODELHUB_GLOBUS_GROUPS_URL: standIn.url,
      },
    });
    const store = SqliteTokenStore.open(SqliteTokenStore.fileIn(hub.dataDir));
    carol = (await store.create({ user: 'carol', scopes: ['run', 'publish'], created_by: 'local' })).token;
    await store.close();
    const metadata = onnxMetadata('carol', 'secret-mlp', { visibility: 'private', shared_with: { groups: [`urn:globus:groups:id:${GROUP}`] } });
    const accepted = await publishRaw(hub.url, metadata, [{ name: 'secret-mlp.onnx', bytes: MODEL }], { authorization: `Bearer ${carol}` });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    const task = await waitForTaskAs(hub.url, accepted.body.task_id, carol);
    expect(task.status, JSON.stringify(task)).toBe('SUCCEEDED');

    // The reference output, from onnxruntime directly.
    const session = await ort.InferenceSession.create(MODEL);
    const result = await session.run({ x: new ort.Tensor('float32', Float32Array.from(INPUTS.flat()), [1, 4]) });
    reference = Array.from(result.y!.data as Float32Array);

    flowFile = path.join(work, 'flow.json');
    fs.writeFileSync(
      flowFile,
      JSON.stringify({
        StartAt: 'Classify',
        States: { Classify: { Type: 'Action', ActionUrl: provider(), Parameters: { 'inputs.$': '$.x' }, ResultPath: '$.result', WaitTime: 60, End: true } },
      }),
    );
  });

  afterAll(async () => {
    await hub?.stop();
    await standIn?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it("the stand-in answers with exactly the fields of Globus's documentation", async () => {
    const basic = `Basic ${Buffer.from(`${HUB_CLIENT.id}:${HUB_CLIENT.secret}`).toString('base64')}`;
    const form = (values: Record<string, string>) => ({
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(values).toString(),
    });
    const t = token(member, { linked: [memberLinked] });
    const introspection = await (await fetch(`${standIn.url}/v2/oauth2/token/introspect`, form({ token: t, include: 'identity_set' }))).json();
    expect(Object.keys(introspection).sort()).toEqual([...DOCUMENTED_FIELDS.introspection].sort());
    expect(introspection).toMatchObject({ active: true, sub: member.id, identity_set: [member.id, memberLinked.id], aud: [HUB_CLIENT.id], client_id: FLOWS_CLIENT, iss: 'https://auth.globus.org' });
    expect(await (await fetch(`${standIn.url}/v2/oauth2/token/introspect`, form({ token: 'unknown' }))).json()).toEqual({ active: false });
    // Without the client's credentials there is no answer about the token.
    expect((await fetch(`${standIn.url}/v2/oauth2/token/introspect`, { ...form({ token: t }), headers: { 'content-type': 'application/x-www-form-urlencoded' } })).status).toBe(401);

    const dependent = (await (await fetch(`${standIn.url}/v2/oauth2/token`, form({ grant_type: 'urn:globus:auth:grant_type:dependent_token', token: t }))).json()) as Record<string, unknown>[];
    expect(dependent).toHaveLength(1);
    expect(Object.keys(dependent[0]!).sort()).toEqual([...DOCUMENTED_FIELDS.dependentToken].sort());
    expect(dependent[0]).toMatchObject({ resource_server: 'groups.api.globus.org', scope: GROUPS_SCOPE, token_type: 'bearer' });

    const groups = (await (await fetch(`${standIn.url}/v2/groups/my_groups`, { headers: { authorization: `Bearer ${dependent[0]!.access_token}` } })).json()) as Record<string, unknown>[];
    expect(groups).toHaveLength(1);
    expect(Object.keys(groups[0]!).sort()).toEqual([...DOCUMENTED_FIELDS.group].sort());
    const memberships = groups[0]!.my_memberships as Record<string, unknown>[];
    expect(Object.keys(memberships[0]!).sort()).toEqual([...DOCUMENTED_FIELDS.membership].sort());
    expect(memberships[0]).toMatchObject({ group_id: GROUP, identity_id: memberLinked.id, status: 'active' });
  });

  it('publishes the real scope string and the Globus group in runnable_by', async () => {
    const description = await call('/actions/servables/carol/secret-mlp/', token(member, { linked: [memberLinked] }));
    expect(description.status, JSON.stringify(description.body)).toBe(200);
    expect(description.body.globus_auth_scope).toBe(SCOPE);
    expect(description.body.runnable_by).toContain(`urn:globus:groups:id:${GROUP}`);
    expect((await call('/actions/inference/', undefined)).body.globus_auth_scope).toBe(SCOPE);
  });

  it('modelhub flow run with a group member\'s Globus token runs the private model', async () => {
    // The membership is held by an identity linked to the one that signed in (identity_set).
    const memberToken = token(member, { linked: [memberLinked] });
    const run = await cli('--url', hub.url, 'flow', 'run', flowFile, '--input-json', JSON.stringify({ x: INPUTS }), '--token', memberToken);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toContain('✓ flow succeeded');
    const output = JSON.parse(run.stdout.slice(run.stdout.indexOf('✓ flow succeeded') + '✓ flow succeeded'.length).trim()) as { result: { details: { output: number[][] } } };
    output.result.details.output[0]!.forEach((value, i) => expect(value).toBeCloseTo(reference[i]!, 5));

    // whoami on the Action Provider is not a route; the action's creator is the Globus identity.
    const started = await call('/actions/servables/carol/secret-mlp/run', memberToken, { request_id: randomUUID(), body: { inputs: INPUTS } });
    expect([200, 202]).toContain(started.status);
    expect(started.body.creator_id).toBe(`urn:globus:auth:identity:${member.id}`);
  });

  it('a non-member and a merely invited identity are refused, exactly as for a servable that does not exist', async () => {
    // Refused without revealing that the private servable exists (no 403-versus-404 oracle): the
    // reply is the one an unknown servable gets, name aside.
    const unknown = await call('/actions/servables/carol/no-such-mlp/run', token(outsider), { request_id: randomUUID(), body: { inputs: INPUTS } });
    expect(unknown.status).toBe(404);
    for (const identity of [outsider, pending]) {
      const run = await cli('--url', hub.url, 'flow', 'run', flowFile, '--input-json', JSON.stringify({ x: INPUTS }), '--token', token(identity));
      expect(run.code).toBe(1);
      expect(run.stdout).toMatch(/flow failed in Classify: ActionUnableToRun/);
      expect(run.stdout).not.toContain('flow succeeded');
      const direct = await call('/actions/servables/carol/secret-mlp/run', token(identity), { request_id: randomUUID(), body: { inputs: INPUTS } });
      expect(direct.status).toBe(unknown.status);
      expect(JSON.stringify(direct.body).replaceAll('secret-mlp', '<name>')).toBe(JSON.stringify(unknown.body).replaceAll('no-such-mlp', '<name>'));
      const described = await call('/actions/servables/carol/secret-mlp/', token(identity));
      expect(described.status).toBe(404);
      // Through the provider for every servable, too.
      const inference = await call('/actions/inference/run', token(identity), { request_id: randomUUID(), body: { servable: 'carol/secret-mlp', inputs: INPUTS } });
      expect(inference.status).toBe(404);
    }
    // A Globus token is not a hub API token: the hub API refuses it (401) rather than show anything.
    expect((await call('/api/v1/servables/carol/secret-mlp', token(member, { linked: [memberLinked] }))).status).toBe(401);
  });

  it('refuses expired, revoked, unscoped and foreign tokens with 401 and the reason', async () => {
    const expired = await call('/actions/servables/carol/secret-mlp/', token(member, { expiresIn: -10 }));
    expect(expired.status).toBe(401);
    expect(expired.challenge).toContain('error="invalid_token"');
    const revokedToken = token(member);
    standIn.revoke(revokedToken);
    expect((await call('/actions/inference/', revokedToken)).challenge).toContain('not active');
    const unscoped = await call('/actions/inference/', token(member, { scope: 'urn:globus:auth:scope:transfer.api.globus.org:all' }));
    expect(unscoped.status).toBe(401);
    expect(unscoped.challenge).toContain("does not carry this provider's scope");
    const foreign = await call('/actions/inference/', token(member, { audience: [randomUUID()] }));
    expect(foreign.status).toBe(401);
    expect(foreign.challenge).toContain('another audience');
  });

  it('caches an introspection until the token expires', async () => {
    const cached = token(outsider);
    await call('/actions/inference/', cached);
    const before = standIn.calls.introspect;
    for (let i = 0; i < 5; i += 1) expect((await call('/actions/inference/', cached)).status).toBe(200);
    expect(standIn.calls.introspect).toBe(before);
  });

  it("links a Globus identity to a hub user, who then calls as that user", async () => {
    const linkedIdentity = newIdentity('carol@uni.example.org', 'Carol');
    const proof = token(linkedIdentity);
    // Before: an unlinked Globus identity, not the owner.
    expect((await call('/actions/servables/carol/secret-mlp/', proof)).status).toBe(404);
    const linked = await fetch(`${hub.url}/api/v1/whoami/identities`, {
      method: 'POST',
      headers: { authorization: `Bearer ${carol}`, 'content-type': 'application/json' },
      body: JSON.stringify({ globus_token: proof }),
    });
    expect(linked.status, await linked.clone().text()).toBe(200);
    const me = (await linked.json()) as { user: string; identities: string[] };
    expect(me.user).toBe('carol');
    expect(me.identities).toEqual(['urn:modelhub:user:carol', `urn:globus:auth:identity:${linkedIdentity.id}`]);
    // After: the same Globus token speaks for carol, the owner.
    const described = await call('/actions/servables/carol/secret-mlp/', proof);
    expect(described.status, JSON.stringify(described.body)).toBe(200);
    // Linking needs a hub sign-in, not a Globus token.
    const refused = await call('/api/v1/whoami/identities', undefined, { globus_token: proof });
    expect(refused.status).toBe(401);
  });

  it('answers 503 when Globus Auth cannot be reached, never a pass', async () => {
    const fresh = token(member, { linked: [memberLinked] });
    await standIn.stop();
    const reply = await call('/actions/servables/carol/secret-mlp/run', fresh, { request_id: randomUUID(), body: { inputs: INPUTS } });
    expect(reply.status).toBe(503);
    expect(reply.body.error.code).toBe('MODELHUB_BACKEND_UNAVAILABLE');
  });
});

async function waitForTaskAs(url: string, taskId: string, bearer: string) {
  for (const started = Date.now(); Date.now() - started < 120_000; ) {
    const response = await fetch(`${url}/api/v1/tasks/${taskId}`, { headers: { authorization: `Bearer ${bearer}` } });
    const task = (await response.json()) as { status: string };
    if (task.status === 'SUCCEEDED' || task.status === 'FAILED') return task;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return waitForTask(url, taskId);
}
