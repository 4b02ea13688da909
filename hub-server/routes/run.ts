/**
 * Running servables through the hub API: synchronously (200 with the output and timings) or as a
 * task (202 with its id, polled at `/tasks/{id}`).
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { ErrorDocument, OwnerNameParams, OwnerNameVersionParams, RunReply, RunRequest, TaskAccepted, type OwnerNameMaybeVersion } from '../../schemas/api.ts';
import { toHubError } from '../../schemas/errors.ts';
import type { ServableRef } from '../../schemas/ports/run-service.ts';
import { parseWithNumberArrays, RUN_BODY_NUMBER_ARRAYS } from '../../schemas/codecs/json-number-arrays.ts';

const DeadlineHeader = 'x-modelhub-deadline-ms';
const RunQuery = Type.Object({ provenance: Type.Optional(Type.Boolean({ description: 'reply with a provenance record (as `"provenance": true` in the body)' })) });

/** Whether a run body's text or query asks for provenance (checked before parsing: a cheap, safe over-approximation). */
const asksProvenance = (request: FastifyRequest, text: string): boolean => {
  const query = stringField(request.query, 'provenance');
  return query === 'true' || text.includes('"provenance"');
};

/** A field of the router's params or query before validation: a string, or absent. */
function stringField(record: unknown, key: string): string | undefined {
  if (typeof record !== 'object' || record === null || !(key in record)) return undefined;
  const value: unknown = Reflect.get(record, key);
  return typeof value === 'string' ? value : undefined;
}
/** Raw-body cache keys of requests parsed by the hook below, for the handler to pass on. */
const rawKeys = new WeakMap<FastifyRequest, string>();

export default async function runRoutes(app: FastifyInstance): Promise<void> {
  const { gateway, registry } = app.hub;
  // The hook below sees params before validation (a version still a string), the handler after it.
  const refOf = (params: { owner: string; name: string; version?: number | string }): ServableRef => {
    return { owner: params.owner, name: params.name, version: params.version === undefined ? undefined : Number(params.version) };
  };

  // Run bodies arrive as text: a body seen before is answered from the result cache before it is
  // parsed or validated (after the handler's own who-may-run checks, done here first: keep the two
  // alike); any other is parsed here as fastify would have, then validated against RunRequest.
  // Only synchronous runs leave a text behind, so the same text is never an asynchronous request.
  const parseJson = app.getDefaultJsonParser('error', 'ignore');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, text, done) => done(null, text));
  app.addHook('preValidation', async (request, reply) => {
    if (typeof request.body !== 'string') return;
    const text = request.body;
    const received = performance.now();
    // Before validation: the params are still the router's strings, checked just below.
    const owner = stringField(request.params, 'owner');
    const name = stringField(request.params, 'name');
    const version = stringField(request.params, 'version');
    // A run that asks for provenance needs its record, which the cached reply text does not hold.
    if (owner !== undefined && name !== undefined && (version === undefined || /^[1-9]\d{0,8}$/.test(version)) && !asksProvenance(request, text)) {
      app.requireRunner(request);
      const document = await gateway.describe(refOf({ owner, name, version }), request.viewer);
      const rawKey = gateway.rawKey(document, text);
      const cached = rawKey === undefined ? undefined : gateway.cachedReply(document, rawKey, received, request.viewer.user ?? null);
      if (cached !== undefined) return reply.type('application/json; charset=utf-8').send(cached);
      if (rawKey !== undefined) rawKeys.set(request, rawKey);
    }
    // The usual body (`inputs` a row or batch of numbers) is read straight into doubles; any other,
    // and every body with an error in it, by fastify's parser as before (its errors, its checks).
    const fast = parseWithNumberArrays(text, RUN_BODY_NUMBER_ARRAYS);
    request.body = fast !== undefined ? fast : await new Promise((resolve, reject) => parseJson(request, text, (error, body) => (error ? reject(error) : resolve(body))));
  });

  const run = async (
    request: FastifyRequest<{ Params: OwnerNameMaybeVersion; Querystring: Static<typeof RunQuery>; Body: RunRequest }>,
    reply: import('fastify').FastifyReply,
  ) => {
    app.requireRunner(request);
    const { body } = request;
    const ref = refOf(request.params);
    const parameters = body.parameters ?? {};
    // A deadline may come as a parameter (`deadline_ms`, relative) or a header; it bounds the queue wait.
    const relative = Number(parameters.deadline_ms ?? request.headers[DeadlineHeader] ?? NaN);
    const deadline = Number.isFinite(relative) && relative > 0 ? Date.now() + relative : undefined;
    const { deadline_ms: _ignored, ...modelParameters } = parameters;
    const provenance = body.provenance === true || request.query.provenance === true;
    // Asynchronous runs always keep their provenance (docs/provenance.md).
    const call = {
      inputs: body.inputs,
      parameters: modelParameters,
      method: body.method,
      deadline,
      provenance: provenance || body.asynchronous === true,
      ...(body.endpoint ? { endpoint: body.endpoint } : {}),
    };

    if (!body.asynchronous) return gateway.run(ref, call, request.viewer, rawKeys.get(request));

    // Resolve now so that an unknown servable is a 404 here, not a FAILED task later.
    const document = await gateway.describe(ref, request.viewer);
    const taskId = randomUUID();
    const created = new Date().toISOString();
    await registry.createTask({
      task_id: taskId,
      kind: 'run',
      status: 'RUNNING',
      servable: `${document.hub.owner}/${document.hub.name}`,
      version: document.hub.version,
      created_at: created,
    });
    // Only its creator (or an admin) may read the task: its result is the output of their run.
    await app.tokens.setTaskCreator(taskId, request.viewer.user ?? null);
    const viewer = request.viewer;
    if (app.jobs) {
      // PostgreSQL mode: a durable job first, so that another replica finishes the run if this one dies.
      await app.jobs.submit('run', taskId, { ref: { ...ref, version: document.hub.version }, call, viewer });
      return reply.code(202).send({ task_id: taskId });
    }
    void gateway
      .run({ ...ref, version: document.hub.version }, call, viewer)
      .then(
        (result) => registry.updateTask(taskId, { status: 'SUCCEEDED', result, completed_at: new Date().toISOString() }),
        (error: unknown) => {
          const hubError = toHubError(error);
          return registry.updateTask(taskId, {
            status: 'FAILED',
            error: { code: hubError.code, message: hubError.message, details: hubError.details },
            completed_at: new Date().toISOString(),
          });
        },
      )
      .catch((error: unknown) => app.log.error({ err: error, taskId }, 'could not record a run task'));
    return reply.code(202).send({ task_id: taskId });
  };

  const response = {
    200: RunReply,
    202: TaskAccepted,
    400: ErrorDocument,
    401: ErrorDocument,
    403: ErrorDocument,
    404: ErrorDocument,
    410: ErrorDocument,
    422: ErrorDocument,
    429: ErrorDocument,
    500: ErrorDocument,
    503: ErrorDocument,
    504: ErrorDocument,
  };
  const querystring = RunQuery;
  app.post('/servables/:owner/:name/run', {
    schema: { summary: 'Run the latest version', tags: ['run'], params: OwnerNameParams, querystring, body: RunRequest, response },
    handler: run,
  });
  app.post('/servables/:owner/:name/versions/:version/run', {
    schema: { summary: 'Run one version', tags: ['run'], params: OwnerNameVersionParams, querystring, body: RunRequest, response },
    handler: run,
  });
}
