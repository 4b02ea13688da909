/**
 * Access control end to end, on the real hub (MODELHUB_AUTH=tokens) over the wire: every route
 * with no token, a wrong, revoked or expired one, the wrong scope and another user's token;
 * private servables invisible in search hits, facets and totals, listing, describe, versions, run
 * (sync and async tasks), v2, identifiers and the Action Provider, each answering exactly as for
 * an unknown name; sharing with a user and with a group; visibility changed without a new version;
 * the token API, the audit log, and the per-token rate limit.
 */
import fs from 'node:fs';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlpOnnx, defaultMlpWeights } from '../../builder/demo/onnx-writer.ts';
import { SqliteTokenStore } from '../../hub-server/adapters/sqlite-token-store.ts';
import type { TokenScope } from '../../schemas/ports/token-store.ts';
import { startTestHub, type TestHub } from '../helpers/test-hub.ts';
import { onnxMetadata, publishRaw } from '../helpers/hub-http.ts';

const SPEC = { inputSize: 4, hidden: 5, classes: 3, inputName: 'x', outputName: 'y' };
const MODEL = buildMlpOnnx({ ...SPEC, weights: defaultMlpWeights(SPEC, 3) });
const INPUTS = [[0.1, -0.2, 0.3, 0.4]];
const RATE = 400;

interface Reply {
  status: number;
  body: any;
  headers: Headers;
}

async function call(url: string, method: string, route: string, token?: string, body?: unknown): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${url}${route}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body: parsed, headers: response.headers };
}

/** The reply with the servable's name blanked, to compare a hidden servable with an unknown one. */
const blank = (reply: Reply, name: string) => ({ status: reply.status, body: JSON.stringify(reply.body).replaceAll(name, '<name>') });

async function waitTask(url: string, taskId: string, token?: string) {
  for (const started = Date.now(); Date.now() - started < 120_000; ) {
    const reply = await call(url, 'GET', `/api/v1/tasks/${taskId}`, token);
    if (reply.status !== 200) throw new Error(`task ${taskId}: ${reply.status} ${JSON.stringify(reply.body)}`);
    if (reply.body.status === 'SUCCEEDED' || reply.body.status === 'FAILED') return reply.body;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`task ${taskId} did not finish`);
}

describe('access control with MODELHUB_AUTH=tokens', () => {
  let hub: TestHub;
  const t: Record<string, string> = {};
  let revokedId = '';
  let aliceTaskId = '';
  let reference: number[] = [];

  const get = (route: string, who?: string) => call(hub.url, 'GET', route, who && (t[who] ?? who));
  const post = (route: string, body: unknown, who?: string) => call(hub.url, 'POST', route, who && (t[who] ?? who), body);
  const patch = (route: string, body: unknown, who?: string) => call(hub.url, 'PATCH', route, who && (t[who] ?? who), body);
  const del = (route: string, who?: string) => call(hub.url, 'DELETE', route, who && (t[who] ?? who));

  async function publish(name: string, who: string, hubExtra: Record<string, unknown>, domains: string[]) {
    const metadata = onnxMetadata('alice', name, { ...hubExtra, domains });
    const accepted = await publishRaw(hub.url, metadata, [{ name: `${name}.onnx`, bytes: MODEL }], { authorization: `Bearer ${t[who]}` });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    const task = await waitTask(hub.url, accepted.body.task_id, t[who]);
    expect(task.status, JSON.stringify(task)).toBe('SUCCEEDED');
    return accepted.body.task_id as string;
  }

  beforeAll(async () => {
    hub = await startTestHub({ env: { MODELHUB_AUTH: 'tokens', MODELHUB_RATE_LIMIT_PER_MINUTE: String(RATE) } });
    // As `modelhub token create` does on the data folder, while the hub runs.
    const store = SqliteTokenStore.open(SqliteTokenStore.fileIn(hub.dataDir));
    const make = async (key: string, user: string, scopes: TokenScope[], groups: string[] = [], expires_at?: string) => {
      const created = await store.create({ user, scopes, groups, ...(expires_at ? { expires_at } : {}), created_by: 'local' });
      t[key] = created.token;
      return created.info.id;
    };
    await make('admin', 'root', ['admin']);
    await make('alice', 'alice', ['run', 'publish'], ['astro']);
    await make('aliceRead', 'alice', ['read']);
    await make('alicePublish', 'alice', ['publish']);
    await make('bob', 'bob', ['run', 'publish'], ['lab']);
    await make('bobRunOnly', 'bob', ['run'], ['lab']);
    await make('carol', 'carol', ['run', 'publish'], ['other']);
    await make('ratelimited', 'dave', ['run']);
    await make('expired', 'alice', ['run', 'publish'], [], new Date(Date.now() + 1500).toISOString());
    revokedId = await make('revoked', 'alice', ['run', 'publish']);
    t.wrong = `mh_${'A'.repeat(43)}`;
    t.malformed = 'alice';
    expect((await store.revoke(revokedId))?.revoked_at).toBeDefined();
    await store.close();

    aliceTaskId = await publish('public-mlp', 'alice', {}, ['open-science']);
    await publish('secret', 'alice', { visibility: 'private' }, ['secret-domain']);
    await publish('for-carol', 'alice', { visibility: 'private', shared_with: { users: ['carol'] } }, ['carol-domain']);
    await publish('for-lab', 'alice', { visibility: 'private', shared_with: { groups: ['lab'] } }, ['lab-domain']);

    const session = await ort.InferenceSession.create(MODEL);
    const out = await session.run({ x: new ort.Tensor('float32', Float32Array.from(INPUTS.flat()), [1, 4]) });
    reference = Array.from(out.y!.data as Float32Array);
    await session.release();
    // The expired token has run out by now.
    await new Promise((resolve) => setTimeout(resolve, 1600));
  });
  afterAll(async () => {
    await hub?.stop();
  });

  const closeTo = (output: number[][]) => output.flat().every((v, i) => Math.abs(v - reference[i]!) < 1e-6);

  it('answers 401 to a wrong, revoked, expired or malformed token on every route, public ones too', async () => {
    const routes: [string, string, unknown?][] = [
      ['GET', '/api/v1/servables'],
      ['GET', '/api/v1/servables/alice/public-mlp'],
      ['GET', '/api/v1/servables/alice/public-mlp/versions'],
      ['GET', '/api/v1/servables/alice/public-mlp/versions/1'],
      ['POST', '/api/v1/servables/alice/public-mlp/run', { inputs: INPUTS }],
      ['POST', '/api/v1/servables/alice/public-mlp/versions/1/run', { inputs: INPUTS, asynchronous: true }],
      ['PATCH', '/api/v1/servables/alice/public-mlp', { visibility: 'private' }],
      ['DELETE', '/api/v1/servables/alice/public-mlp'],
      ['DELETE', '/api/v1/servables/alice/public-mlp/versions/1'],
      ['GET', '/api/v1/search?q=mlp'],
      ['GET', `/api/v1/identifiers/${encodeURIComponent('modelhub:alice/public-mlp/v1')}`],
      ['GET', `/api/v1/tasks/${aliceTaskId}`],
      ['GET', '/api/v1/tokens'],
      ['POST', '/api/v1/tokens', { user: 'alice' }],
      ['DELETE', `/api/v1/tokens/${revokedId}`],
      ['GET', '/api/v1/audit'],
      ['GET', '/v2/models/alice.public-mlp'],
      ['GET', '/v2/models/alice.public-mlp/ready'],
      ['POST', '/v2/models/alice.public-mlp/infer', { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: INPUTS.flat() }] }],
      ['GET', '/actions/inference/'],
      ['POST', '/actions/inference/run', { request_id: 'r-bad', body: { servable: 'alice/public-mlp', inputs: INPUTS } }],
      ['GET', '/actions/servables/alice/public-mlp/'],
    ];
    for (const who of ['wrong', 'revoked', 'expired', 'malformed']) {
      for (const [method, route, body] of routes) {
        const reply = await call(hub.url, method, route, t[who], body);
        expect(reply.status, `${who} ${method} ${route}: ${JSON.stringify(reply.body)}`).toBe(401);
        if (!route.startsWith('/v2')) expect(reply.body.error.code).toBe('MODELHUB_UNAUTHENTICATED');
      }
      const published = await publishRaw(hub.url, onnxMetadata('alice', 'sneaky'), [{ name: 'm.onnx', bytes: MODEL }], { authorization: `Bearer ${t[who]}` });
      expect(published.status).toBe(401);
    }
    // The public servable is still there and public: nothing above changed anything.
    expect((await get('/api/v1/servables/alice/public-mlp')).body.hub.visibility).toBe('public');
  });

  it('lets only a token with the publish scope publish, as its own user', async () => {
    const publishAs = async (who: string | undefined, owner: string) =>
      publishRaw(hub.url, onnxMetadata(owner, 'attempt'), [{ name: 'm.onnx', bytes: MODEL }], who ? { authorization: `Bearer ${t[who]}` } : {});
    expect((await publishAs(undefined, 'alice')).status).toBe(401);
    expect((await publishAs('aliceRead', 'alice')).status).toBe(403);
    expect((await publishAs('bobRunOnly', 'bob')).status).toBe(403);
    const impostor = await publishAs('carol', 'alice');
    expect(impostor.status).toBe(403);
    expect(impostor.body.error.code).toBe('MODELHUB_FORBIDDEN');
    expect((await get('/api/v1/servables/alice/attempt', 'admin')).status).toBe(404);
  });

  it('hides a private servable from strangers everywhere, exactly as an unknown name', async () => {
    const probes: [string, (name: string) => string, ((name: string) => unknown)?][] = [
      ['GET', (n) => `/api/v1/servables/alice/${n}`],
      ['GET', (n) => `/api/v1/servables/alice/${n}/versions`],
      ['GET', (n) => `/api/v1/servables/alice/${n}/versions/1`],
      ['GET', (n) => `/api/v1/servables/alice/${n}/versions/7`],
      ['POST', (n) => `/api/v1/servables/alice/${n}/run`, () => ({ inputs: INPUTS })],
      ['POST', (n) => `/api/v1/servables/alice/${n}/run`, () => ({ inputs: INPUTS, asynchronous: true })],
      ['POST', (n) => `/api/v1/servables/alice/${n}/versions/1/run`, () => ({ inputs: INPUTS })],
      ['PATCH', (n) => `/api/v1/servables/alice/${n}`, () => ({ visibility: 'public' })],
      ['DELETE', (n) => `/api/v1/servables/alice/${n}`],
      ['GET', (n) => `/api/v1/identifiers/${encodeURIComponent(`modelhub:alice/${n}/v1`)}`],
      ['GET', (n) => `/api/v1/identifiers/${encodeURIComponent(`modelhub:alice/${n}`)}`],
      ['GET', (n) => `/v2/models/alice.${n}`],
      ['GET', (n) => `/v2/models/alice.${n}/versions/1`],
      ['GET', (n) => `/v2/models/alice.${n}/ready`],
      ['POST', (n) => `/v2/models/alice.${n}/infer`, () => ({ inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: INPUTS.flat() }] })],
      ['GET', (n) => `/actions/servables/alice/${n}/`],
      ['POST', (n) => `/actions/servables/alice/${n}/run`, () => ({ request_id: 'probe', body: { inputs: INPUTS } })],
      ['POST', () => '/actions/inference/run', (n) => ({ request_id: 'probe', body: { servable: `alice/${n}`, inputs: INPUTS } })],
    ];
    // Anonymous, another user, a user outside the shared group, a user not in shared_with.
    const strangers: [string | undefined, string][] = [
      [undefined, 'secret'],
      ['bob', 'secret'],
      ['carol', 'secret'],
      ['carol', 'for-lab'],
      ['bob', 'for-carol'],
      [undefined, 'for-lab'],
    ];
    for (const [who, name] of strangers) {
      for (const [method, route, body] of probes) {
        const bodyFor = (n: string) => body?.(n);
        const hidden = await call(hub.url, method, route(name), who && t[who], bodyFor(name));
        const unknown = await call(hub.url, method, route('nope'), who && t[who], bodyFor('nope'));
        expect(blank(hidden, name), `${who ?? 'anonymous'} ${method} ${route(name)}`).toEqual(blank(unknown, 'nope'));
        // Mutations by strangers are refused as unknown (404) or for the missing token (401).
        expect([401, 404]).toContain(hidden.status);
      }
    }
    // Its owner and an admin see and run it.
    for (const who of ['alice', 'admin']) {
      expect((await get('/api/v1/servables/alice/secret', who)).status).toBe(200);
      const run = await post('/api/v1/servables/alice/secret/run', { inputs: INPUTS }, who);
      expect(run.status).toBe(200);
      expect(closeTo(run.body.output)).toBe(true);
      expect((await get(`/api/v1/identifiers/${encodeURIComponent('modelhub:alice/secret/v1')}`, who)).body.servable).toBe('alice/secret');
      expect((await get('/v2/models/alice.secret', who)).body.platform).toBe('onnxruntime_onnx');
    }
  });

  it('keeps private servables out of search hits, facets and totals, and out of listings', async () => {
    const search = async (who?: string) => (await get('/api/v1/search?q=&limit=50', who)).body;
    const names = (reply: any) => reply.hits.map((h: any) => h.servable).sort();
    const anonymous = await search();
    expect(names(anonymous)).toEqual(['alice/public-mlp']);
    expect(anonymous.total).toBe(1);
    expect(anonymous.facets.owner).toEqual({ alice: 1 });
    expect(Object.keys(anonymous.facets.domain).sort()).toEqual(['open-science']);
    expect(JSON.stringify(anonymous)).not.toMatch(/secret|carol-domain|lab-domain/);

    const bob = await search('bob');
    expect(names(bob)).toEqual(['alice/for-lab', 'alice/public-mlp']);
    expect(bob.total).toBe(2);
    expect(bob.facets.owner).toEqual({ alice: 2 });
    expect(Object.keys(bob.facets.domain).sort()).toEqual(['lab-domain', 'open-science']);
    const carol = await search('carol');
    expect(names(carol)).toEqual(['alice/for-carol', 'alice/public-mlp']);
    const alice = await search('alice');
    expect(alice.total).toBe(4);
    expect(alice.facets.owner).toEqual({ alice: 4 });
    expect((await search('admin')).total).toBe(4);
    // A query for the private domain finds nothing for a stranger, not even a count.
    const targeted = (await get('/api/v1/search?domain=secret-domain', 'carol')).body;
    expect(targeted).toMatchObject({ total: 0, hits: [] });
    expect(targeted.facets.domain['secret-domain'] ?? 0).toBe(0);

    const list = async (who?: string) => (await get('/api/v1/servables?owner=alice&limit=2', who)).body;
    const anonymousList = await list();
    expect(anonymousList.items.map((i: any) => i.servable)).toEqual(['alice/public-mlp']);
    expect(anonymousList.next_cursor).toBeNull();
    const bobList = await list('bob');
    expect(bobList.items.map((i: any) => i.servable)).toEqual(['alice/for-lab', 'alice/public-mlp']);
    const aliceFirst = await list('alice');
    expect(aliceFirst.items).toHaveLength(2);
    const aliceRest = (await get(`/api/v1/servables?owner=alice&limit=2&cursor=${aliceFirst.next_cursor}`, 'alice')).body;
    expect([...aliceFirst.items, ...aliceRest.items].map((i: any) => i.servable).sort()).toEqual(['alice/for-carol', 'alice/for-lab', 'alice/public-mlp', 'alice/secret']);
  });

  it('shares with a user and with a group: they see and run it, and cannot change it', async () => {
    const carolRun = await post('/api/v1/servables/alice/for-carol/run', { inputs: INPUTS }, 'carol');
    expect(carolRun.status).toBe(200);
    expect(closeTo(carolRun.body.output)).toBe(true);
    const bobV2 = await post('/v2/models/alice.for-lab/infer', { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: INPUTS.flat() }] }, 'bob');
    expect(bobV2.status).toBe(200);
    expect(bobV2.body.outputs[0].data.every((v: number, i: number) => Math.abs(v - reference[i]!) < 1e-6)).toBe(true);
    expect((await get('/api/v1/servables/alice/for-lab/versions', 'bob')).body.versions).toHaveLength(1);

    // The Action Provider follows the same rule.
    const action = await post('/actions/servables/alice/for-lab/run', { request_id: 'bob-1', body: { inputs: INPUTS } }, 'bob');
    expect([200, 201, 202]).toContain(action.status);
    expect(action.body.creator_id).toContain('bob');

    // Seeing is not owning: 403 for a shared user, not 404.
    expect((await patch('/api/v1/servables/alice/for-lab', { visibility: 'public' }, 'bob')).status).toBe(403);
    expect((await del('/api/v1/servables/alice/for-lab', 'bob')).status).toBe(403);
    expect((await del('/api/v1/servables/alice/for-carol/versions/1', 'carol')).status).toBe(403);
    expect((await get('/api/v1/servables/alice/for-lab', 'bob')).status).toBe(200);
  });

  it('needs the run scope to run, when a token is given; anonymous may run public servables', async () => {
    expect((await post('/api/v1/servables/alice/public-mlp/run', { inputs: INPUTS })).status).toBe(200);
    for (const who of ['aliceRead', 'alicePublish']) {
      for (const route of ['/api/v1/servables/alice/secret/run', '/api/v1/servables/alice/public-mlp/run']) {
        for (const asynchronous of [false, true]) {
          const reply = await post(route, { inputs: INPUTS, asynchronous }, who);
          expect(reply.status, `${who} ${route}`).toBe(403);
          expect(reply.body.error.code).toBe('MODELHUB_FORBIDDEN');
        }
      }
      expect((await post('/v2/models/alice.secret/infer', { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: INPUTS.flat() }] }, who)).status).toBe(403);
      expect((await post('/actions/inference/run', { request_id: `scope-${who}`, body: { servable: 'alice/public-mlp', inputs: INPUTS } }, who)).status).toBe(403);
      // Reading needs no particular scope.
      expect((await get('/api/v1/servables/alice/secret', who)).status).toBe(200);
    }
  });

  it('shows a task only to whoever started it (and admins)', async () => {
    const accepted = await post('/api/v1/servables/alice/secret/run', { inputs: INPUTS, asynchronous: true }, 'alice');
    expect(accepted.status).toBe(202);
    const task = await waitTask(hub.url, accepted.body.task_id, t.alice);
    expect(task.status).toBe('SUCCEEDED');
    expect(closeTo(task.result.output)).toBe(true);
    const missing = await get('/api/v1/tasks/00000000-0000-4000-8000-000000000000', 'bob');
    for (const who of [undefined, 'bob', 'carol']) {
      const reply = await get(`/api/v1/tasks/${accepted.body.task_id}`, who);
      expect(blank(reply, accepted.body.task_id)).toEqual(blank(missing, '00000000-0000-4000-8000-000000000000'));
      expect((await get(`/api/v1/tasks/${aliceTaskId}`, who)).status).toBe(404);
    }
    expect((await get(`/api/v1/tasks/${accepted.body.task_id}`, 'admin')).body.status).toBe('SUCCEEDED');
    // A shared user's run of a shared servable is theirs, not the owner's business to read.
    const bobs = await post('/api/v1/servables/alice/for-lab/run', { inputs: INPUTS, asynchronous: true }, 'bob');
    await waitTask(hub.url, bobs.body.task_id, t.bob);
    expect((await get(`/api/v1/tasks/${bobs.body.task_id}`, 'carol')).status).toBe(404);
  });

  it('changes visibility and sharing without a new version, and search follows at once', async () => {
    expect((await patch('/api/v1/servables/alice/secret', { visibility: 'public' }, 'aliceRead')).status).toBe(403);
    expect((await patch('/api/v1/servables/alice/secret', { visibility: 'public' }, 'carol')).status).toBe(404);
    expect((await patch('/api/v1/servables/alice/secret', {}, 'alice')).status).toBe(400);

    const shared = await patch('/api/v1/servables/alice/secret', { shared_with: { users: ['bob'] } }, 'alice');
    expect(shared.status, JSON.stringify(shared.body)).toBe(200);
    expect(shared.body).toEqual({ servable: 'alice/secret', versions: [1], visibility: 'private', shared_with: { users: ['bob'], groups: [] } });
    expect((await get('/api/v1/servables/alice/secret', 'bob')).body.hub).toMatchObject({ version: 1, visibility: 'private', shared_with: { users: ['bob'] } });
    expect((await get('/api/v1/search?q=&limit=50', 'bob')).body.total).toBe(3);
    expect((await get('/api/v1/servables/alice/secret')).status).toBe(404);

    const opened = await patch('/api/v1/servables/alice/secret', { visibility: 'public', shared_with: {} }, 'alicePublish');
    expect(opened.body).toMatchObject({ visibility: 'public', shared_with: { users: [], groups: [] } });
    expect((await get('/api/v1/servables/alice/secret')).body.hub.version).toBe(1);
    expect((await get('/api/v1/search?q=&limit=50')).body.total).toBe(2);
    expect((await post('/api/v1/servables/alice/secret/run', { inputs: INPUTS })).status).toBe(200);
    expect((await get(`/api/v1/identifiers/${encodeURIComponent('modelhub:alice/secret/v1')}`)).status).toBe(200);

    // And back: hidden again from everyone but its owner, bob included (sharing was cleared).
    expect((await patch('/api/v1/servables/alice/secret/versions/1', { visibility: 'private' }, 'alice')).status).toBe(200);
    expect((await get('/api/v1/servables/alice/secret')).status).toBe(404);
    expect((await get('/api/v1/servables/alice/secret', 'bob')).status).toBe(404);
    expect((await post('/v2/models/alice.secret/infer', { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: INPUTS.flat() }] })).status).toBe(404);
    expect((await get('/api/v1/search?q=&limit=50')).body.total).toBe(1);
    expect((await get('/api/v1/versions', 'alice')).status).toBe(404);
  });

  it('withdraws only for the owner or an admin', async () => {
    expect((await del('/api/v1/servables/alice/public-mlp')).status).toBe(401);
    expect((await del('/api/v1/servables/alice/public-mlp', 'aliceRead')).status).toBe(403);
    expect((await del('/api/v1/servables/alice/public-mlp', 'carol')).status).toBe(403);
    expect((await del('/api/v1/servables/alice/secret', 'carol')).status).toBe(404);
    const withdrawn = await del('/api/v1/servables/alice/for-carol?reason=superseded', 'admin');
    expect(withdrawn.status).toBe(200);
    expect(withdrawn.body.withdrawn).toEqual([1]);
    // The tombstone stays as private as the servable was.
    expect((await get(`/api/v1/identifiers/${encodeURIComponent('modelhub:alice/for-carol/v1')}`, 'carol')).body.withdrawn).toBe(true);
    expect((await get(`/api/v1/identifiers/${encodeURIComponent('modelhub:alice/for-carol/v1')}`, 'bob')).status).toBe(404);
  });

  it('lets tokens make narrower tokens for their own user, admins any; lists without secrets; revokes', async () => {
    expect((await post('/api/v1/tokens', { scopes: ['run'] })).status).toBe(401);
    expect((await post('/api/v1/tokens', { user: 'bob', scopes: ['run'] }, 'alice')).status).toBe(403);
    expect((await post('/api/v1/tokens', { scopes: ['admin'] }, 'alice')).status).toBe(403);
    expect((await post('/api/v1/tokens', { scopes: ['run'], groups: ['lab'] }, 'alice')).status).toBe(403);
    expect((await post('/api/v1/tokens', { scopes: ['run'] }, 'aliceRead')).status).toBe(403);

    const made = await post('/api/v1/tokens', { scopes: ['run'], label: 'notebook', expires_in_days: 7 }, 'alice');
    expect(made.status, JSON.stringify(made.body)).toBe(201);
    expect(made.body).toMatchObject({ user: 'alice', groups: ['astro'], scopes: ['run'], label: 'notebook', created_by: 'alice' });
    expect(made.body.token).toMatch(/^mh_/);
    expect((await post('/api/v1/servables/alice/secret/run', { inputs: INPUTS }, made.body.token)).status).toBe(200);

    const byAdmin = await post('/api/v1/tokens', { user: 'erin', groups: ['lab'], scopes: ['run'] }, 'admin');
    expect(byAdmin.status).toBe(201);
    expect((await get('/api/v1/servables/alice/for-lab', byAdmin.body.token)).status).toBe(200);

    const mine = (await get('/api/v1/tokens', 'alice')).body.tokens;
    expect(mine.every((x: any) => x.user === 'alice')).toBe(true);
    expect(mine.find((x: any) => x.id === made.body.id).last_used_at).toBeDefined();
    expect((await get('/api/v1/tokens?user=bob', 'alice')).status).toBe(403);
    const everyone = await get('/api/v1/tokens', 'admin');
    expect(new Set(everyone.body.tokens.map((x: any) => x.user))).toEqual(new Set(['root', 'alice', 'bob', 'carol', 'dave', 'erin']));
    const listed = JSON.stringify(everyone.body);
    const secrets = [...Object.values(t), made.body.token, byAdmin.body.token].filter((s) => s.startsWith('mh_') && s !== t.wrong);
    for (const secret of secrets) expect(listed).not.toContain(secret.slice(9));

    expect((await del(`/api/v1/tokens/${made.body.id}`, 'bob')).status).toBe(404);
    expect((await del('/api/v1/tokens/tok_0000', 'alice')).body.error.code).toBe('MODELHUB_TOKEN_NOT_FOUND');
    const revoked = await del(`/api/v1/tokens/${made.body.id}`, 'alice');
    expect(revoked.status).toBe(200);
    expect(revoked.body.revoked_at).toBeDefined();
    expect((await get('/api/v1/search', made.body.token)).status).toBe(401);
    expect((await del(`/api/v1/tokens/${byAdmin.body.id}`, 'admin')).status).toBe(200);
  });

  it('keeps an audit log for admins of publishes, sharing, withdrawals, token changes and refusals', async () => {
    expect((await get('/api/v1/audit')).status).toBe(401);
    expect((await get('/api/v1/audit', 'alice')).status).toBe(403);
    const events = (await get('/api/v1/audit?limit=1000', 'admin')).body.events as any[];
    const of = (action: string) => events.filter((e) => e.action === action);
    expect(of('publish').map((e) => e.target).sort()).toEqual(['alice/for-carol@1', 'alice/for-lab@1', 'alice/public-mlp@1', 'alice/secret@1']);
    expect(of('publish')[0]).toMatchObject({ actor: 'alice', token_id: expect.stringMatching(/^tok_/) });
    expect(of('sharing').map((e) => e.detail.visibility)).toEqual(['private', 'public', 'private']);
    expect(of('withdraw')).toEqual([expect.objectContaining({ actor: 'root', target: 'alice/for-carol', detail: { withdrawn: [1], reason: 'superseded' } })]);
    expect(of('token.create').map((e) => e.detail.user).sort()).toEqual(['alice', 'erin']);
    expect(of('token.revoke')).toHaveLength(2);
    const denied = of('denied');
    expect(denied.some((e) => e.status === 401 && e.detail?.presented === t.wrong!.slice(0, 9))).toBe(true);
    expect(denied.some((e) => e.status === 403 && e.actor === 'carol' && e.target === 'POST /api/v1/servables')).toBe(true);
    expect(JSON.stringify(events)).not.toContain(t.alice!.slice(9));
    const filtered = (await get('/api/v1/audit?action=withdraw', 'admin')).body.events;
    expect(filtered).toHaveLength(1);
  });

  it('limits each token to MODELHUB_RATE_LIMIT_PER_MINUTE with 429 and Retry-After', async () => {
    const replies: Reply[] = [];
    const started = performance.now();
    for (let batch = 0; batch < RATE / 25 + 1; batch++) {
      replies.push(...(await Promise.all(Array.from({ length: 25 }, () => get('/api/v1/search?limit=0', 'ratelimited')))));
    }
    const limited = replies.filter((r) => r.status === 429);
    const ok = replies.filter((r) => r.status === 200);
    // A minute's allowance at once, plus what refilled while the requests were sent (on a loaded
    // machine that takes seconds, so the bound follows the time it took, not a fixed margin).
    const refilled = Math.ceil((RATE * (performance.now() - started)) / 60_000);
    expect(ok.length).toBeGreaterThanOrEqual(RATE);
    expect(ok.length).toBeLessThanOrEqual(RATE + refilled + 2);
    expect(limited.length).toBeGreaterThan(0);
    expect(limited[0]!.body.error.code).toBe('MODELHUB_RATE_LIMITED');
    expect(Number(limited[0]!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Other callers have their own buckets; health probes are not counted.
    expect((await get('/api/v1/search?limit=0', 'alice')).status).toBe(200);
    expect((await get('/v2/health/ready', 'ratelimited')).status).toBe(200);
  });

  it('lists in v2 model metadata only the versions the caller may see (issue 19, item 5)', async () => {
    await publish('public1', 'alice', {}, ['open-science']);
    await publish('public1', 'alice', { visibility: 'private' }, ['open-science']);
    const expected: [string | undefined, string[]][] = [
      [undefined, ['1']],
      ['bob', ['1']],
      ['carol', ['1']],
      ['alice', ['2', '1']],
      ['admin', ['2', '1']],
    ];
    for (const [who, versions] of expected) {
      for (const route of ['/v2/models/alice.public1/versions/1', '/v2/models/alice.public1']) {
        const reply = await get(route, who);
        expect([reply.status, reply.body.versions], `${who ?? 'anonymous'} ${route}`).toEqual([200, versions]);
      }
    }
    // The private version itself answers them exactly as a version that does not exist.
    for (const who of [undefined, 'bob']) {
      const hidden = await get('/v2/models/alice.public1/versions/2', who);
      const none = await get('/v2/models/alice.public1/versions/9', who);
      expect(blank(hidden, '@2'), `${who ?? 'anonymous'}`).toEqual(blank(none, '@9'));
      expect(hidden.status).toBe(404);
    }
  });

  it('shows in the v2 repository index only what the caller may see; only owners and admins load and unload (issue 19, item 17)', async () => {
    const index = async (who?: string) => {
      const reply = await post('/v2/repository/index', {}, who);
      expect(reply.status, JSON.stringify(reply.body)).toBe(200);
      return reply.body as { name: string; version: string; state: string }[];
    };
    const names = async (who?: string) => [...new Set((await index(who)).map((entry) => entry.name))].sort();
    // By now secret is private again with no share, for-lab is shared with the lab group, and
    // for-carol is withdrawn (the tests above): withdrawn versions cannot be loaded and are not listed.
    const everything = ['alice.for-lab', 'alice.public-mlp', 'alice.public1', 'alice.secret'];
    expect(await names()).toEqual(['alice.public-mlp', 'alice.public1']);
    expect(await names('bob')).toEqual(['alice.for-lab', 'alice.public-mlp', 'alice.public1']);
    expect(await names('carol')).toEqual(['alice.public-mlp', 'alice.public1']);
    expect(await names('alice')).toEqual(everything);
    expect(await names('admin')).toEqual(everything);
    // Version by version too: the private version 2 of public1 is its owner's to see.
    expect((await index('bob')).filter((e) => e.name === 'alice.public1').map((e) => e.version)).toEqual(['1']);
    expect((await index('alice')).filter((e) => e.name === 'alice.public1').map((e) => e.version)).toEqual(['2', '1']);

    for (const action of ['load', 'unload']) {
      const route = (model: string) => `/v2/repository/models/${model}/${action}`;
      const status = async (model: string, who?: string) => (await post(route(model), {}, who)).status;
      expect(await status('alice.public-mlp'), `anonymous ${action}`).toBe(401);
      expect(await status('alice.public-mlp', 'bobRunOnly'), `${action} without the publish scope`).toBe(403);
      expect(await status('alice.public-mlp', 'aliceRead'), `${action} without the publish scope`).toBe(403);
      // Another's model: 403 where the caller may see it, and exactly as unknown where not.
      for (const [who, model] of [['bob', 'alice.public-mlp'], ['bob', 'alice.for-lab'], ['carol', 'alice.public1']] as const) {
        const refused = await post(route(model), {}, who);
        expect([refused.status, Object.keys(refused.body)], `${who} ${action} ${model}`).toEqual([403, ['error']]);
      }
      for (const [who, model] of [['bob', 'secret'], ['carol', 'for-lab'], ['bob', 'for-carol']] as const) {
        const hidden = await post(route(`alice.${model}`), {}, who);
        const unknown = await post(route('alice.nope'), {}, who);
        expect(blank(hidden, model), `${who} ${action} alice.${model}`).toEqual(blank(unknown, 'nope'));
        expect(hidden.status).toBe(404);
      }
    }
    // The owner loads her private model; an admin unloads it.
    const stateOf = async (who: string) => (await index(who)).find((entry) => entry.name === 'alice.secret')!.state;
    expect((await post('/v2/repository/models/alice.secret/unload', {}, 'alice')).status).toBe(200);
    expect(await stateOf('alice')).toBe('UNAVAILABLE');
    expect((await post('/v2/repository/models/alice.secret/load', {}, 'alice')).status).toBe(200);
    expect(await stateOf('admin')).toBe('READY');
    expect((await post('/v2/repository/models/alice.secret/unload', {}, 'admin')).status).toBe(200);
    expect(await stateOf('alice')).toBe('UNAVAILABLE');
  });
});

describe('MODELHUB_ANONYMOUS_READ=false', () => {
  let hub: TestHub;
  let token = '';
  beforeAll(async () => {
    hub = await startTestHub({ env: { MODELHUB_AUTH: 'tokens', MODELHUB_ANONYMOUS_READ: 'false' } });
    const store = SqliteTokenStore.open(SqliteTokenStore.fileIn(hub.dataDir));
    token = (await store.create({ user: 'alice', scopes: ['run', 'publish'] })).token;
    await store.close();
    const accepted = await publishRaw(hub.url, onnxMetadata('alice', 'open-model'), [{ name: 'm.onnx', bytes: MODEL }], { authorization: `Bearer ${token}` });
    expect((await waitTask(hub.url, accepted.body.task_id, token)).status).toBe('SUCCEEDED');
  });
  afterAll(async () => {
    await hub?.stop();
    if (hub) fs.rmSync(hub.dataDir, { recursive: true, force: true });
  });

  it('turns anonymous callers away from public servables, and lets tokens in', async () => {
    const routes: [string, string, unknown?][] = [
      ['GET', '/api/v1/servables'],
      ['GET', '/api/v1/servables/alice/open-model'],
      ['GET', '/api/v1/servables/alice/open-model/versions'],
      ['POST', '/api/v1/servables/alice/open-model/run', { inputs: INPUTS }],
      ['GET', '/api/v1/search'],
      ['GET', `/api/v1/identifiers/${encodeURIComponent('modelhub:alice/open-model/v1')}`],
      ['GET', '/v2/models/alice.open-model'],
      ['POST', '/v2/models/alice.open-model/infer', { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: INPUTS.flat() }] }],
      ['POST', '/actions/inference/run', { request_id: 'anon', body: { servable: 'alice/open-model', inputs: INPUTS } }],
    ];
    for (const [method, route, body] of routes) {
      expect((await call(hub.url, method, route, undefined, body)).status, `${method} ${route}`).toBe(401);
      expect((await call(hub.url, method, route, token, body)).status, `${method} ${route} with a token`).toBeLessThan(300);
    }
    expect((await call(hub.url, 'GET', '/v2/health/live')).status).toBe(200);
  });
});

/**
 * Issue 19, items 4, 6, 7 and 8: "latest" is the latest version the caller may see on every route;
 * revoking a share takes the sharer's old actions away; private providers answer as unknown ones;
 * /metrics names no private servable to non-admins; a flood of bad tokens adds a handful of audit rows.
 */
describe('latest visible version, revoked shares, metrics and the audit flood (issue 19)', () => {
  let hub: TestHub;
  const t: Record<string, string> = {};
  const as = (who: string | undefined) => (who === undefined ? undefined : t[who]);
  const V2_INPUTS = { inputs: [{ name: 'x', shape: [1, 4], datatype: 'FP32', data: INPUTS.flat() }] };

  async function publishVersion(name: string, hubExtra: Record<string, unknown>) {
    const accepted = await publishRaw(hub.url, onnxMetadata('alice', name, hubExtra), [{ name: `${name}.onnx`, bytes: MODEL }], { authorization: `Bearer ${t.alice}` });
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
    const task = await waitTask(hub.url, accepted.body.task_id, t.alice);
    expect(task.status, JSON.stringify(task)).toBe('SUCCEEDED');
  }

  async function finishedAction(base: string, id: string, who: string | undefined) {
    for (let i = 0; i < 200; i += 1) {
      const status = await call(hub.url, 'GET', `${base}/${id}/status`, as(who));
      if (status.status !== 200 || status.body.status !== 'ACTIVE') return status;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`action ${id} still ACTIVE`);
  }

  beforeAll(async () => {
    hub = await startTestHub({ env: { MODELHUB_AUTH: 'tokens' } });
    const store = SqliteTokenStore.open(SqliteTokenStore.fileIn(hub.dataDir));
    for (const [key, user, scopes] of [
      ['admin', 'root', ['admin']],
      ['alice', 'alice', ['run', 'publish']],
      ['carol', 'carol', ['run']],
      ['bob', 'bob', ['run']],
    ] as const) {
      t[key] = (await store.create({ user, scopes: [...scopes], groups: [], created_by: 'local' })).token;
    }
    await store.close();
    // Version 1 public, version 2 private and shared with carol.
    await publishVersion('layered', {});
    await publishVersion('layered', { visibility: 'private', shared_with: { users: ['carol'] } });
    await publishVersion('hidden-gem', { visibility: 'private' });
  });
  afterAll(async () => {
    await hub?.stop();
    if (hub) fs.rmSync(hub.dataDir, { recursive: true, force: true });
  });

  // Anonymous, the owner, the user it is shared with, another user.
  const identities: [string | undefined, number][] = [
    [undefined, 1],
    ['alice', 2],
    ['carol', 2],
    ['bob', 1],
  ];

  it('answers "latest" with the latest version this caller may see, on every route', async () => {
    for (const [who, expected] of identities) {
      const label = `${who ?? 'anonymous'} expects version ${expected}`;
      const token = as(who);
      const describeReply = await call(hub.url, 'GET', '/api/v1/servables/alice/layered', token);
      expect(describeReply.status, label).toBe(200);
      expect(describeReply.body.hub.version, `${label}: describe`).toBe(expected);

      const run = await call(hub.url, 'POST', '/api/v1/servables/alice/layered/run', token, { inputs: INPUTS });
      expect([run.status, run.body.version], `${label}: run`).toEqual([200, expected]);
      const asyncRun = await call(hub.url, 'POST', '/api/v1/servables/alice/layered/run', token, { inputs: INPUTS, asynchronous: true });
      expect(asyncRun.status, `${label}: async run`).toBe(202);
      expect((await waitTask(hub.url, asyncRun.body.task_id, token)).version, `${label}: async run task`).toBe(expected);

      expect((await call(hub.url, 'GET', '/v2/models/alice.layered', token)).status, `${label}: v2 metadata`).toBe(200);
      expect((await call(hub.url, 'GET', '/v2/models/alice.layered/ready', token)).status, `${label}: v2 ready`).toBe(200);
      const infer = await call(hub.url, 'POST', '/v2/models/alice.layered/infer', token, V2_INPUTS);
      expect([infer.status, infer.body.model_version], `${label}: v2 infer`).toEqual([200, String(expected)]);

      const provider = await call(hub.url, 'GET', '/actions/servables/alice/layered/', token);
      expect(provider.status, `${label}: provider`).toBe(200);
      expect(provider.body.subtitle, `${label}: provider`).toContain(`version ${expected}`);
      for (const [base, body] of [
        ['/actions/servables/alice/layered', { inputs: INPUTS }],
        ['/actions/inference', { servable: 'alice/layered', inputs: INPUTS }],
      ] as const) {
        const started = await call(hub.url, 'POST', `${base}/run`, token, { request_id: `latest-${who ?? 'anon'}-${base.length}`, body });
        expect(started.status, `${label}: ${base} run ${JSON.stringify(started.body)}`).toBeLessThan(300);
        const done = started.body.status === 'ACTIVE' ? (await finishedAction(base, started.body.action_id, who)).body : started.body;
        expect(done.details.version, `${label}: ${base} action`).toBe(expected);
      }

      const listed = await call(hub.url, 'GET', '/api/v1/servables?owner=alice', token);
      expect(listed.body.items.find((item: any) => item.servable === 'alice/layered')?.latest_version, `${label}: listing`).toBe(expected);
      const found = await call(hub.url, 'GET', '/api/v1/search?owner=alice&limit=50', token);
      expect(found.body.hits.filter((hit: any) => hit.servable === 'alice/layered').map((hit: any) => hit.version), `${label}: search`).toEqual([expected]);
      const concept = await call(hub.url, 'GET', `/api/v1/identifiers/${encodeURIComponent('modelhub:alice/layered')}`, token);
      expect(concept.status, `${label}: concept identifier`).toBe(200);
      expect(concept.body.versions, `${label}: concept identifier`).toEqual(expected === 2 ? [2, 1] : [1]);
      const citation = await call(hub.url, 'GET', '/api/v1/servables/alice/layered/citation?format=csl', token);
      expect(citation.status, `${label}: citation`).toBe(200);
      expect(JSON.stringify(citation.body), `${label}: citation`).toContain(`modelhub:alice/layered/v${expected}`);
    }
    // The hidden version itself is unknown to those who may not see it, as an unknown version is.
    for (const who of [undefined, 'bob']) {
      const hiddenVersion = await call(hub.url, 'GET', '/api/v1/servables/alice/layered/versions/2', as(who));
      const noVersion = await call(hub.url, 'GET', '/api/v1/servables/alice/layered/versions/9', as(who));
      expect(blank(hiddenVersion, '@2'), `${who ?? 'anonymous'}`).toEqual(blank(noVersion, '@9'));
      expect(hiddenVersion.status).toBe(404);
    }
  });

  it("takes a revoked sharer's old actions away, and answers a private provider's routes as an unknown one's", async () => {
    const started: [string, string][] = [];
    for (const [base, body] of [
      ['/actions/servables/alice/layered', { inputs: INPUTS }],
      ['/actions/inference', { servable: 'alice/layered', version: 2, inputs: INPUTS }],
    ] as const) {
      const reply = await call(hub.url, 'POST', `${base}/run`, t.carol, { request_id: `carol-${base.length}`, body });
      expect(reply.status, JSON.stringify(reply.body)).toBeLessThan(300);
      const done = await finishedAction(base, reply.body.action_id, 'carol');
      expect(done.body.details.version).toBe(2);
      expect((await call(hub.url, 'GET', `${base}/${reply.body.action_id}/log`, t.carol)).status).toBe(200);
      started.push([base, reply.body.action_id]);
    }
    // alice stops sharing version 2 with carol.
    const unshared = await call(hub.url, 'PATCH', '/api/v1/servables/alice/layered/versions/2', t.alice, { shared_with: {} });
    expect(unshared.status, JSON.stringify(unshared.body)).toBe(200);
    for (const [base, id] of started) {
      for (const route of [`${base}/${id}/status`, `${base}/${id}/log`, `${base}/actions/${id}`]) {
        const reply = await call(hub.url, 'GET', route, t.carol);
        expect([reply.status, reply.body.error?.code], `carol ${route}`).toEqual([404, 'MODELHUB_ACTION_NOT_FOUND']);
      }
      expect((await call(hub.url, 'POST', `${base}/${id}/release`, t.carol, {})).status).toBe(404);
      // The owner still sees them (an admin too).
      expect((await call(hub.url, 'GET', `${base}/${id}/status`, t.admin)).status).toBe(200);
    }

    // An action of alice's on her private servable: every route of that provider answers bob and
    // anonymous callers exactly as the provider of a servable that does not exist.
    const aliceAction = await call(hub.url, 'POST', '/actions/servables/alice/hidden-gem/run', t.alice, { request_id: 'gem-1', body: { inputs: INPUTS } });
    expect(aliceAction.status).toBeLessThan(300);
    const id = aliceAction.body.action_id as string;
    for (const who of [undefined, 'bob', 'carol']) {
      for (const [method, route, body] of [
        ['GET', (n: string) => `/actions/servables/alice/${n}/`],
        ['GET', (n: string) => `/actions/servables/alice/${n}/${id}/status`],
        ['GET', (n: string) => `/actions/servables/alice/${n}/${id}/log`],
        ['GET', (n: string) => `/actions/servables/alice/${n}/actions/${id}`],
        ['GET', (n: string) => `/actions/servables/alice/${n}/actions`],
        ['POST', (n: string) => `/actions/servables/alice/${n}/${id}/cancel`, {}],
        ['POST', (n: string) => `/actions/servables/alice/${n}/${id}/release`, {}],
        ['POST', (n: string) => `/actions/servables/alice/${n}/run`, { request_id: 'probe', body: { inputs: INPUTS } }],
      ] as const) {
        const hidden = await call(hub.url, method, route('hidden-gem'), as(who), body);
        const unknown = await call(hub.url, method, route('no-such'), as(who), body);
        expect(blank(hidden, 'hidden-gem'), `${who ?? 'anonymous'} ${method} ${route('hidden-gem')}`).toEqual(blank(unknown, 'no-such'));
        expect([401, 404], `${who ?? 'anonymous'} ${method} ${route('hidden-gem')}`).toContain(hidden.status);
      }
    }
    expect((await call(hub.url, 'GET', `/actions/servables/alice/hidden-gem/${id}/status`, t.alice)).status).toBe(200);
  });

  it('names private servables in /metrics only to admins', async () => {
    expect((await call(hub.url, 'POST', '/api/v1/servables/alice/hidden-gem/run', t.alice, { inputs: INPUTS })).status).toBe(200);
    for (const who of [undefined, 'bob', 'carol', 'alice']) {
      const scrape = await call(hub.url, 'GET', '/metrics', as(who));
      expect(scrape.status).toBe(200);
      const text = String(scrape.body);
      expect(text, `${who ?? 'anonymous'}`).not.toContain('hidden-gem');
      // Version 2 of layered is private now (its share was revoked above); version 1 is public.
      expect(text).not.toMatch(/servable="alice\/layered",version="2"/);
      expect(text).toMatch(/modelhub_inference_requests_total\{servable="alice\/layered",version="1",outcome="ok"\} \d+/);
      expect(text).toMatch(/modelhub_inference_requests_total\{servable="private-[0-9a-f]{16}",version="1",outcome="ok"\} 1/);
    }
    const admin = String((await call(hub.url, 'GET', '/metrics', t.admin)).body);
    expect(admin).toMatch(/modelhub_inference_requests_total\{servable="alice\/hidden-gem",version="1",outcome="ok"\} 1/);
    expect(admin).not.toContain('private-');
  });

  it('adds only a handful of audit rows for 2,000 anonymous requests with a bad token', async () => {
    const denied = async () => (await call(hub.url, 'GET', '/api/v1/audit?action=denied&limit=1000', t.admin)).body.events as any[];
    const before = (await denied()).length;
    const bad = `mh_${'B'.repeat(43)}`;
    for (let batch = 0; batch < 40; batch += 1) {
      const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => call(hub.url, 'GET', `/api/v1/servables?i=${batch * 50 + i}`, bad)));
      expect(replies.every((reply) => reply.status === 401)).toBe(true);
    }
    const after = await denied();
    // One row when a client's minute starts, one summary when it ends: a minute boundary during the
    // flood makes it at most four.
    expect(after.length - before).toBeGreaterThanOrEqual(1);
    expect(after.length - before).toBeLessThanOrEqual(4);
  });
});
