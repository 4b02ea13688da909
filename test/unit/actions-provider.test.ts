/**
 * The Action Provider API against a RunService that really computes (test/fixtures/flows): the
 * documents are checked against the JSON Schemas written from the specification, and every status
 * code the specification and the issue name is exercised.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ActionLog, ActionStatus, ProviderDescription } from '../../schemas/actions.ts';
import { startActionsTestApp, type ActionsTestApp } from '../fixtures/flows/actions-test-app.ts';

const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ??
  addFormatsModule) as typeof addFormatsModule.default;
const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv);
const validStatus = ajv.compile(ActionStatus);
const validDescription = ajv.compile(ProviderDescription);
const validLog = ajv.compile(ActionLog);

const expectStatusDocument = (body: unknown) => {
  const ok = validStatus(body);
  expect(validStatus.errors ?? [], JSON.stringify(body)).toEqual([]);
  expect(ok).toBe(true);
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let dir: string;
let hub: ActionsTestApp;
let counter = 0;
const rid = () => `req-${Date.now()}-${(counter += 1)}`;

const post = (url: string, payload: unknown, user?: string) =>
  hub.app.inject({
    method: 'POST',
    url,
    payload: payload as object,
    headers: user ? { authorization: `Bearer ${user}` } : {},
  });
const get = (url: string, user?: string) =>
  hub.app.inject({ method: 'GET', url, headers: user ? { authorization: `Bearer ${user}` } : {} });

async function waitFor(url: string, user?: string, until = (s: string) => s !== 'ACTIVE') {
  for (let i = 0; i < 100; i += 1) {
    const reply = await get(url, user);
    if (reply.statusCode !== 200 || until(reply.json().status)) return reply;
    await sleep(50);
  }
  throw new Error(`still ACTIVE: ${url}`);
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'modelhub-actions-'));
  hub = await startActionsTestApp(dir);
});
afterAll(async () => {
  await hub.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('introspection', () => {
  it('describes the inference provider as the specification requires', async () => {
    const reply = await get('/actions/inference');
    expect(reply.statusCode).toBe(200);
    const body = reply.json();
    expect(validDescription(body), JSON.stringify(validDescription.errors)).toBe(true);
    expect(body).toMatchObject({ types: ['Action'], api_version: '1.0', synchronous: false, log_supported: true });
    expect(body.input_schema.required).toEqual(['servable', 'inputs']);
    expect((await get('/actions/inference/')).statusCode).toBe(200);
  });

  it("publishes a servable's own input schema, derived from its declared argument types", async () => {
    const reply = await get('/actions/servables/test/digit');
    expect(reply.statusCode).toBe(200);
    const body = reply.json();
    expect(validDescription(body), JSON.stringify(validDescription.errors)).toBe(true);
    expect(body.input_schema.required).toEqual(['inputs']);
    expect(body.input_schema.properties.inputs).toMatchObject({
      type: 'array',
      items: { type: 'array', items: { type: 'number' }, minItems: 4, maxItems: 4 },
    });
    const slow = (await get('/actions/servables/test/slow')).json();
    expect(slow.input_schema.properties.inputs).toMatchObject({
      type: 'object',
      properties: { ms: { type: 'integer' }, value: { type: 'number' } },
      required: ['ms', 'value'],
    });
  });

  it('answers 404 for a servable that does not exist and 400 for a malformed name', async () => {
    const missing = await get('/actions/servables/test/nothing');
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('MODELHUB_SERVABLE_NOT_FOUND');
    expect((await get('/actions/servables/Bad!/x')).statusCode).toBe(400);
  });
});

describe('run and idempotency', () => {
  it('returns a quick run SUCCEEDED at once with 202, and the same action with 200 on a repeat', async () => {
    const values = [1.5, 2.25, -0.75, 10];
    const request = { request_id: rid(), label: 'sum four numbers', body: { servable: 'test/sum', inputs: values } };
    const first = await post('/actions/inference/run', request, 'alice');
    expect(first.statusCode).toBe(202);
    const status = first.json();
    expectStatusDocument(status);
    expect(status.status).toBe('SUCCEEDED');
    expect(status.details.output).toBe(values.reduce((a, b) => a + b, 0));
    expect(status.creator_id).toBe('urn:modelhub:user:alice');
    expect(status.label).toBe('sum four numbers');
    expect(status.release_after).toBe('P30D');
    expect(Date.parse(status.completion_time)).toBeGreaterThanOrEqual(Date.parse(status.start_time));

    const runsBefore = hub.runService.started.get('test/sum');
    const again = await post('/actions/inference/run', request, 'alice');
    expect(again.statusCode).toBe(200);
    expect(again.json().action_id).toBe(status.action_id);
    expect(hub.runService.started.get('test/sum')).toBe(runsBefore);

    // Another user's request_id space is their own.
    const other = await post('/actions/inference/run', request, 'bob');
    expect(other.statusCode).toBe(202);
    expect(other.json().action_id).not.toBe(status.action_id);
  });

  it('refuses the same request_id with a different body (400, as /run lists)', async () => {
    const request = { request_id: rid(), body: { servable: 'test/sum', inputs: [1, 2] } };
    expect((await post('/actions/inference/run', request, 'alice')).statusCode).toBe(202);
    const changed = await post('/actions/inference/run', { ...request, body: { servable: 'test/sum', inputs: [1, 3] } }, 'alice');
    expect(changed.statusCode).toBe(400);
    expect(changed.json().error.details.reason).toBe('request_id_reused');
  });

  it('answers 400 for a malformed request document and for a body that fails input_schema', async () => {
    const noId = await post('/actions/inference/run', { body: { servable: 'test/sum', inputs: [1] } });
    expect(noId.statusCode).toBe(400);
    expect(noId.json().error.code).toBe('MODELHUB_BAD_REQUEST');
    const extra = await post('/actions/inference/run', { request_id: rid(), body: {}, surprise: 1 });
    expect(extra.statusCode).toBe(400);
    const badUrn = await post('/actions/inference/run', { request_id: rid(), body: {}, monitor_by: ['bob'] });
    expect(badUrn.statusCode).toBe(400);

    const strings = await post('/actions/inference/run', {
      request_id: rid(),
      body: { servable: 'test/sum', inputs: ['one', 'two'] },
    });
    expect(strings.statusCode).toBe(400);
    expect(strings.json().error.message).toMatch(/input_schema/);

    const wrongWidth = await post('/actions/servables/test/digit/run', {
      request_id: rid(),
      body: { inputs: [[1, 2, 3]] },
    });
    expect(wrongWidth.statusCode).toBe(400);
    expect(wrongWidth.json().error.details.problems[0].path).toBe('/inputs/0');

    const missingInputs = await post('/actions/servables/test/sum/run', { request_id: rid(), body: { input: [1] } });
    expect(missingInputs.statusCode).toBe(400);
  });

  it('answers 404 for an unknown servable named in the body', async () => {
    const reply = await post('/actions/inference/run', { request_id: rid(), body: { servable: 'test/nothing', inputs: 1 } });
    expect(reply.statusCode).toBe(404);
    expect(reply.json().error.code).toBe('MODELHUB_SERVABLE_NOT_FOUND');
  });

  it('records a servable that raises as FAILED with the error in details', async () => {
    const reply = await post('/actions/servables/test/fail/run', { request_id: rid(), body: { inputs: 0 } });
    expect(reply.statusCode).toBe(202);
    const status = reply.json();
    expectStatusDocument(status);
    expect(status.status).toBe('FAILED');
    expect(status.details.error.message).toMatch(/division by zero in the servable/);
    expect(status.details.error.code).toBe('MODELHUB_SERVABLE_FAILED');
  });
});

describe('long actions: status, log, cancel, release', () => {
  it('returns a long run ACTIVE, then SUCCEEDED on polling, with a log of its steps', async () => {
    const reply = await post('/actions/servables/test/slow/run', { request_id: rid(), body: { inputs: { ms: 700, value: 21 } } });
    expect(reply.statusCode).toBe(202);
    const started = reply.json();
    expectStatusDocument(started);
    expect(started.status).toBe('ACTIVE');
    expect(started.completion_time).toBeNull();

    const base = `/actions/servables/test/slow/${started.action_id}`;
    const early = await post(`${base}/release`, {});
    expect(early.statusCode).toBe(409);

    const done = await waitFor(`${base}/status`);
    expect(done.json().status).toBe('SUCCEEDED');
    expect(done.json().details.output).toBe(42);

    const log = await get(`${base}/log`);
    expect(log.statusCode).toBe(200);
    expect(validLog(log.json())).toBe(true);
    expect(log.json().entries.map((e: { code: string }) => e.code)).toEqual(['ActionStarted', 'RunStarted', 'RunSucceeded']);
    const page = await get(`${base}/log?limit=1`);
    expect(page.json()).toMatchObject({ has_next_page: true, marker: expect.any(String) });
    const next = await get(`${base}/log?limit=5&marker=${page.json().marker}`);
    expect(next.json().entries).toHaveLength(2);

    const cancelDone = await post(`${base}/cancel`, {});
    expect(cancelDone.statusCode).toBe(409);

    const released = await post(`${base}/release`, {});
    expect(released.statusCode).toBe(200);
    expect(released.json().status).toBe('SUCCEEDED');
    expect((await get(`${base}/status`)).statusCode).toBe(404);
    expect((await post(`${base}/release`, {})).statusCode).toBe(404);
  });

  it('cancels an ACTIVE action through the newer /actions paths', async () => {
    const reply = await post('/actions/inference/actions', {
      request_id: rid(),
      body: { servable: 'test/slow', inputs: { ms: 5000, value: 1 } },
    });
    expect(reply.statusCode).toBe(202);
    const id = reply.json().action_id;
    expect((await get(`/actions/inference/actions/${id}`)).json().status).toBe('ACTIVE');
    expect((await hub.app.inject({ method: 'DELETE', url: `/actions/inference/actions/${id}` })).statusCode).toBe(409);
    const cancelled = await post(`/actions/inference/actions/${id}/cancel`, {});
    expect(cancelled.statusCode).toBe(200);
    expectStatusDocument(cancelled.json());
    expect(cancelled.json()).toMatchObject({ status: 'FAILED', display_status: 'Cancelled' });
    const deleted = await hub.app.inject({ method: 'DELETE', url: `/actions/inference/actions/${id}` });
    expect(deleted.statusCode).toBe(200);
    expect((await get(`/actions/inference/actions/${id}`)).statusCode).toBe(404);
  });

  it('does not find an action under another provider', async () => {
    const reply = await post('/actions/servables/test/sum/run', { request_id: rid(), body: { inputs: [1] } });
    const id = reply.json().action_id;
    expect((await get(`/actions/inference/${id}/status`)).statusCode).toBe(404);
    expect((await get(`/actions/servables/test/slow/${id}/status`)).statusCode).toBe(404);
    expect((await get(`/actions/servables/test/sum/${id}/status`)).statusCode).toBe(200);
  });

  it('fails an action whose deadline passes, and refuses a deadline already past', async () => {
    const past = await post('/actions/inference/run', {
      request_id: rid(),
      deadline: new Date(Date.now() - 1000).toISOString(),
      body: { servable: 'test/sum', inputs: [1] },
    });
    expect(past.statusCode).toBe(400);
    const reply = await post('/actions/inference/run', {
      request_id: rid(),
      deadline: new Date(Date.now() + 500).toISOString(),
      body: { servable: 'test/slow', inputs: { ms: 5000, value: 1 } },
    });
    expect(reply.json().status).toBe('ACTIVE');
    const done = await waitFor(`/actions/inference/${reply.json().action_id}/status`);
    expect(done.json()).toMatchObject({ status: 'FAILED', display_status: 'Deadline passed' });
    expect(done.json().details.error.code).toBe('MODELHUB_DEADLINE_EXCEEDED');
  });

  it('releases a completed action by itself after release_after', async () => {
    const reply = await post('/actions/inference/run', {
      request_id: rid(),
      release_after: 'PT1S',
      body: { servable: 'test/sum', inputs: [1] },
    });
    expect(reply.json()).toMatchObject({ status: 'SUCCEEDED', release_after: 'PT1S' });
    const url = `/actions/inference/${reply.json().action_id}/status`;
    expect((await get(url)).statusCode).toBe(200);
    await sleep(1100);
    expect((await get(url)).statusCode).toBe(404);
  });
});

describe('identity: runnable_by, monitor_by, manage_by', () => {
  it('answers 401 for a bad token', async () => {
    expect((await get('/actions/inference', 'bad')).statusCode).toBe(401);
    expect((await post('/actions/inference/run', { request_id: rid(), body: {} }, 'bad')).statusCode).toBe(401);
  });

  it("refuses to run a private servable for someone outside its runnable_by (403), not for those it's shared with", async () => {
    const intro = (await get('/actions/servables/alice/private', 'alice')).json();
    expect(intro.runnable_by).toEqual(['urn:modelhub:user:alice', 'urn:modelhub:user:carol']);
    expect(intro.visible_to).toEqual(intro.runnable_by);
    const request = { request_id: rid(), body: { inputs: 41 } };
    expect((await post('/actions/servables/alice/private/run', request, 'bob')).statusCode).toBe(403);
    expect((await post('/actions/servables/alice/private/run', request)).statusCode).toBe(401);
    const carol = await post('/actions/servables/alice/private/run', request, 'carol');
    expect(carol.statusCode).toBe(202);
    expect(carol.json().details.output).toBe(42);
  });

  it('lets only the creator and monitor_by see an action, and only the creator and manage_by manage it', async () => {
    const reply = await post(
      '/actions/inference/run',
      {
        request_id: rid(),
        monitor_by: ['urn:modelhub:user:bob'],
        manage_by: ['urn:modelhub:group:lab'],
        body: { servable: 'test/slow', inputs: { ms: 5000, value: 1 } },
      },
      'alice',
    );
    const id = reply.json().action_id;
    expect(reply.json().monitor_by).toEqual(['urn:modelhub:user:alice', 'urn:modelhub:user:bob']);
    const base = `/actions/inference/${id}`;
    expect((await get(`${base}/status`, 'alice')).statusCode).toBe(200);
    expect((await get(`${base}/status`, 'bob')).statusCode).toBe(200);
    expect((await get(`${base}/log`, 'bob')).statusCode).toBe(200);
    expect((await get(`${base}/status`, 'mallory')).statusCode).toBe(403);
    expect((await get(`${base}/status`)).statusCode).toBe(401);
    expect((await post(`${base}/cancel`, {}, 'bob')).statusCode).toBe(403);
    const byGroup = await post(`${base}/cancel`, {}, 'dave:lab');
    expect(byGroup.statusCode).toBe(200);
    expect(byGroup.json().status).toBe('FAILED');
    expect((await post(`${base}/release`, {}, 'bob')).statusCode).toBe(403);
    expect((await post(`${base}/release`, {}, 'alice')).statusCode).toBe(200);
  });

  it('lists the caller’s actions on GET /actions', async () => {
    const reply = await get('/actions/inference/actions?status=succeeded,failed', 'bob');
    expect(reply.statusCode).toBe(200);
    const actions = reply.json().actions as { creator_id: string }[];
    expect(actions.length).toBeGreaterThan(0);
    expect(actions.every((a) => a.creator_id === 'urn:modelhub:user:bob')).toBe(true);
    expect((await get('/actions/inference/actions?status=nonsense', 'bob')).statusCode).toBe(400);
  });

  it('answers 401 to anonymous callers when anonymous runs are off', async () => {
    const otherDir = mkdtempSync(path.join(tmpdir(), 'modelhub-actions-closed-'));
    const closed = await startActionsTestApp(otherDir, { allowAnonymous: false });
    try {
      const reply = await closed.app.inject({
        method: 'POST',
        url: '/actions/inference/run',
        payload: { request_id: 'x', body: { servable: 'test/sum', inputs: [1] } },
      });
      expect(reply.statusCode).toBe(401);
      expect(reply.json().error.code).toBe('MODELHUB_UNAUTHENTICATED');
    } finally {
      await closed.close();
      rmSync(otherDir, { recursive: true, force: true });
    }
  });
});

describe('durability', () => {
  it('resumes ACTIVE actions after a restart, and fails those whose deadline passed meanwhile', async () => {
    const restartDir = mkdtempSync(path.join(tmpdir(), 'modelhub-actions-restart-'));
    let first: ActionsTestApp | undefined = await startActionsTestApp(restartDir);
    let second: ActionsTestApp | undefined;
    try {
      const run = (payload: object) =>
        first!.app.inject({ method: 'POST', url: '/actions/inference/run', payload, headers: { authorization: 'Bearer alice' } });
      const resumable = (await run({ request_id: 'resume-me', body: { servable: 'test/slow', inputs: { ms: 1500, value: 5 } } })).json();
      const doomed = (
        await run({
          request_id: 'too-late',
          deadline: new Date(Date.now() + 700).toISOString(),
          body: { servable: 'test/slow', inputs: { ms: 5000, value: 5 } },
        })
      ).json();
      expect([resumable.status, doomed.status]).toEqual(['ACTIVE', 'ACTIVE']);
      await first.close();
      first = undefined;
      await sleep(800);

      second = await startActionsTestApp(restartDir);
      const status = (id: string) =>
        second!.app.inject({ method: 'GET', url: `/actions/inference/${id}/status`, headers: { authorization: 'Bearer alice' } });
      expect((await status(doomed.action_id)).json()).toMatchObject({ status: 'FAILED', display_status: 'Deadline passed' });
      let resumed = (await status(resumable.action_id)).json();
      for (let i = 0; i < 80 && resumed.status === 'ACTIVE'; i += 1) {
        await sleep(50);
        resumed = (await status(resumable.action_id)).json();
      }
      expect(resumed).toMatchObject({ status: 'SUCCEEDED', details: { output: 10 } });
      const log = await second.app.inject({
        method: 'GET',
        url: `/actions/inference/${resumable.action_id}/log`,
        headers: { authorization: 'Bearer alice' },
      });
      expect(log.json().entries.map((e: { code: string }) => e.code)).toContain('ActionResumed');
      // The idempotency key survived too.
      const repeat = await second.app.inject({
        method: 'POST',
        url: '/actions/inference/run',
        payload: { request_id: 'resume-me', body: { servable: 'test/slow', inputs: { ms: 1500, value: 5 } } },
        headers: { authorization: 'Bearer alice' },
      });
      expect(repeat.statusCode).toBe(200);
      expect(repeat.json().action_id).toBe(resumable.action_id);
    } finally {
      await first?.close();
      await second?.close();
      rmSync(restartDir, { recursive: true, force: true });
    }
  });
});

/**
 * The documents as globus-action-provider-tools' pydantic models define them (data_types.py:
 * `PaginationWrapper` {limit: int, has_next_page: bool, marker: Optional[str]}, `ActionLogReturn`
 * adds `entries: List[ActionLogEntry]`, an entry being {code, description, details?}; principals
 * match utils.principal_urn_regex), written from the toolkit rather than from the hub's schemas.
 */
const TOOLKIT_PRINCIPAL = /^urn:globus:(auth:identity|groups:id):([a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12})$/;
const toolkitLogReturn = ajv.compile({
  type: 'object',
  required: ['limit', 'has_next_page', 'entries'],
  properties: {
    limit: { type: 'integer' },
    has_next_page: { type: 'boolean' },
    marker: { type: ['string', 'null'] },
    entries: {
      type: 'array',
      items: {
        type: 'object',
        required: ['code', 'description'],
        properties: { code: { type: 'string' }, description: { type: 'string' }, details: { type: ['object', 'null'] } },
      },
    },
  },
});

describe('conformance with the Action Provider toolkit models', () => {
  const GLOBUS_ID = 'b8a2f7c4-3d1e-4f5a-9c6b-0e1d2c3b4a59';
  const asGlobusUser = (method: 'GET' | 'POST', url: string, payload?: unknown) =>
    hub.app.inject({
      method,
      url,
      ...(payload === undefined ? {} : { payload: payload as object }),
      headers: { authorization: 'Bearer erin', 'x-test-globus-identity': GLOBUS_ID },
    });

  it('answers the log as an ActionLogReturn, with the limit it used', async () => {
    const started = (await post('/actions/inference/run', { request_id: rid(), body: { servable: 'test/sum', inputs: [1, 2] } }, 'alice')).json();
    const base = `/actions/inference/${started.action_id}`;
    await waitFor(`${base}/status`, 'alice');
    const first = (await get(`${base}/log?limit=2`, 'alice')).json();
    expect(toolkitLogReturn(first), JSON.stringify(toolkitLogReturn.errors)).toBe(true);
    expect(first).toMatchObject({ limit: 2, has_next_page: true });
    const whole = (await get(`${base}/log`, 'alice')).json();
    expect(toolkitLogReturn(whole), JSON.stringify(toolkitLogReturn.errors)).toBe(true);
    expect(whole.limit).toBe(100);
    expect(validLog(whole)).toBe(true);
  });

  it('names a caller with a Globus identity by its Globus URN in creator_id, monitor_by and manage_by', async () => {
    const request = { request_id: rid(), body: { servable: 'test/sum', inputs: [3, 4] } };
    const started = await asGlobusUser('POST', '/actions/inference/run', request);
    expect(started.statusCode).toBe(202);
    const status = started.json();
    expectStatusDocument(status);
    const urn = `urn:globus:auth:identity:${GLOBUS_ID}`;
    expect(status.creator_id).toBe(urn);
    expect(status.creator_id).toMatch(TOOLKIT_PRINCIPAL);
    expect(status.monitor_by).toEqual([urn]);
    expect(status.manage_by).toEqual([urn]);
    // The same caller follows and manages it; a hub-only user with the same name is someone else
    // only when it lacks the identity, and is then named the hub's way.
    expect((await asGlobusUser('GET', `/actions/inference/${status.action_id}/status`)).statusCode).toBe(200);
    expect((await asGlobusUser('GET', `/actions/inference/${status.action_id}/log`)).statusCode).toBe(200);
    const hubOnly = (await post('/actions/inference/run', { request_id: rid(), body: { servable: 'test/sum', inputs: [1] } }, 'frank')).json();
    expect(hubOnly.creator_id).toBe('urn:modelhub:user:frank');
    expect(hubOnly.creator_id).not.toMatch(TOOLKIT_PRINCIPAL);
  });

  it("lets a caller follow an action whose monitor_by names one of their linked Globus identities", async () => {
    const linked = 'urn:globus:auth:identity:0c1d2e3f-4a5b-4c6d-8e7f-901234567890';
    const started = (await post('/actions/inference/run', { request_id: rid(), monitor_by: [linked], body: { servable: 'test/sum', inputs: [1] } }, 'alice')).json();
    const status = (headers: Record<string, string>) =>
      hub.app.inject({ method: 'GET', url: `/actions/inference/${started.action_id}/status`, headers: { authorization: 'Bearer gina', ...headers } });
    expect((await status({})).statusCode).toBe(403);
    expect((await status({ 'x-test-identity-urns': `urn:globus:auth:identity:${GLOBUS_ID},${linked}` })).statusCode).toBe(200);
  });
});
