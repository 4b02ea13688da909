/**
 * Batch inference: `POST /servables/{owner}/{name}[/versions/{v}]/batch` takes a data set as a
 * `multipart/form-data` upload (a `data` file part: NDJSON, CSV or NPY, told by its name or a
 * `format` field; fields `endpoint`, `method`, `parameters` (JSON), `chunk_size`) and answers 202
 * with a batch task; `GET /tasks/{id}/results` downloads the results (NDJSON) once it succeeded.
 * The work is use-cases/batch/batch-runner.ts.
 */
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Type } from '@sinclair/typebox';
import type { MultipartFile, MultipartValue } from '@fastify/multipart';
import { ErrorDocument, OwnerNameParams, OwnerNameVersionParams, TaskAccepted, type OwnerNameMaybeVersion } from '../../schemas/api.ts';
import { ENDPOINT_NAME_PATTERN } from '../../schemas/metadata.ts';
import { HubError } from '../../schemas/errors.ts';
import { assertEndpointMayRun, canSeeTask } from '../use-cases/access.ts';
import { DATASET_FORMATS, formatOfFilename, openDataset, type DatasetFormat } from '../../schemas/codecs/datasets.ts';
import { BatchRunner } from '../use-cases/batch/batch-runner.ts';
import { endpointChunkRunner } from '../use-cases/batch/endpoint-chunks.ts';
import { storeS3Dataset } from '../use-cases/batch/s3-dataset.ts';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';

const DEFAULT_CHUNK = 500;

async function batchRoutes(hub: FastifyInstance): Promise<void> {
  // Requests typed by their route schemas (TypeBox), so handlers read params and bodies without casts.
  const app = hub.withTypeProvider<TypeBoxTypeProvider>();
  const { config, registry, blobs, gateway } = app.hub;
  const runner = new BatchRunner({
    dir: path.join(config.dataDir, 'batches'),
    registry,
    blobs,
    runService: gateway,
    endpointChunk: (state, inputs) => endpointChunkRunner(app.endpoints.dispatcher, gateway)(state, inputs),
    stopping: () => app.endpoints.dispatcher.closed,
    log: app.log,
    provenance: { service: app.hub.provenance, runs: app.hub.runs },
  });
  await fs.mkdir(path.join(config.dataDir, 'batches'), { recursive: true });

  const submit = async (request: FastifyRequest<{ Params: OwnerNameMaybeVersion }>, reply: import('fastify').FastifyReply) => {
    app.requireRunner(request);
    const params = request.params;
    const ref = { owner: params.owner, name: params.name, version: params.version === undefined ? undefined : Number(params.version) };
    // An unknown (or invisible) servable is a 404 before the data set is read.
    const document = await gateway.describe(ref, request.viewer);
    if (!request.isMultipart()) throw new HubError('UNSUPPORTED_MEDIA_TYPE', 'a batch is a multipart/form-data upload with a "data" file part');

    let dataset: { sha256: string; filename: string } | undefined;
    const fields: Record<string, string> = {};
    for await (const part of request.parts()) {
      if (part.type === 'file') {
        const file = part as MultipartFile;
        if (file.fieldname !== 'data' || dataset) {
          file.file.resume();
          throw new HubError('BAD_REQUEST', dataset ? 'only one "data" part' : `unexpected file part "${file.fieldname}" (the data set is the "data" part)`);
        }
        const stored = await blobs.put(file.file);
        if (file.file.truncated) throw new HubError('PAYLOAD_TOO_LARGE', `${Math.round(config.maxUploadBytes / 1024 / 1024)} MB (MODELHUB_MAX_UPLOAD_MB)`);
        dataset = { sha256: stored.sha256, filename: file.filename };
      } else {
        const value = part as MultipartValue<unknown>;
        fields[value.fieldname] = String(value.value);
      }
    }
    if (fields.s3 !== undefined) {
      if (dataset) throw new HubError('BAD_REQUEST', 'a "data" part or an "s3" prefix, not both');
      dataset = await storeS3Dataset(app.hub.datasets, blobs, fields.s3, config.maxUploadBytes);
    }
    if (!dataset) throw new HubError('BAD_REQUEST', 'no "data" part: upload the data set as the "data" file part (or name an S3 prefix in an "s3" field)');
    const format = (fields.format ?? formatOfFilename(dataset.filename)) as DatasetFormat | undefined;
    if (!format || !DATASET_FORMATS.includes(format)) {
      throw new HubError('BAD_REQUEST', `cannot tell the data set's format from "${dataset.filename}": name it .ndjson, .jsonl, .csv or .npy, or send a "format" field (${DATASET_FORMATS.join(', ')})`);
    }
    if (fields.endpoint !== undefined && !new RegExp(ENDPOINT_NAME_PATTERN).test(fields.endpoint)) throw new HubError('BAD_REQUEST', `endpoint must be owner/name: ${fields.endpoint}`);
    let parameters: Record<string, unknown> | undefined;
    if (fields.parameters !== undefined) {
      try {
        parameters = JSON.parse(fields.parameters) as Record<string, unknown>;
      } catch {
        throw new HubError('BAD_REQUEST', 'the "parameters" field is not JSON');
      }
      if (typeof parameters !== 'object' || parameters === null || Array.isArray(parameters)) throw new HubError('BAD_REQUEST', 'the "parameters" field must be a JSON object');
    }
    const chunkSize = fields.chunk_size === undefined ? DEFAULT_CHUNK : Number(fields.chunk_size);
    if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > 100_000) throw new HubError('BAD_REQUEST', 'chunk_size must be a whole number from 1 to 100000');
    // The endpoint is checked now, so that an unknown one is a 404 here, not a batch of failures.
    if (fields.endpoint !== undefined) assertEndpointMayRun(await app.endpoints.dispatcher.resolve(fields.endpoint, request.viewer), document);
    const total = openDataset(await fs.readFile(await blobs.localPath(dataset.sha256)), format).total;

    const taskId = randomUUID();
    const servable = `${document.hub.owner}/${document.hub.name}`;
    await registry.createTask({ task_id: taskId, kind: 'batch', status: 'RUNNING', servable, version: document.hub.version, created_at: new Date().toISOString() });
    await app.tokens.setTaskCreator(taskId, request.viewer.user ?? null);
    await runner.start({
      task_id: taskId,
      owner: document.hub.owner,
      name: document.hub.name,
      version: document.hub.version,
      viewer: request.viewer,
      dataset: { sha256: dataset.sha256, format, filename: dataset.filename },
      ...(fields.method ? { method: fields.method } : {}),
      ...(parameters ? { parameters } : {}),
      ...(fields.endpoint ? { endpoint: fields.endpoint } : {}),
      chunk_size: chunkSize,
      total,
      chunks_done: 0,
      done: 0,
      failed: 0,
      started_at: new Date().toISOString(),
      elapsed_ms: 0,
    });
    return reply.code(202).send({ task_id: taskId });
  };

  const response = { 202: TaskAccepted, 400: ErrorDocument, 401: ErrorDocument, 403: ErrorDocument, 404: ErrorDocument, 413: ErrorDocument, 415: ErrorDocument };
  app.post('/servables/:owner/:name/batch', { schema: { summary: 'Run the latest version over a data set', tags: ['run'], params: OwnerNameParams, response }, handler: submit });
  app.post('/servables/:owner/:name/versions/:version/batch', { schema: { summary: 'Run one version over a data set', tags: ['run'], params: OwnerNameVersionParams, response }, handler: submit });

  app.get('/tasks/:task_id/results', {
    schema: { summary: "A batch task's results (NDJSON, one line per record in order)", tags: ['tasks'], params: Type.Object({ task_id: Type.String({ maxLength: 100 }) }) },
    handler: async (request, reply) => {
      app.requireReader(request);
      const { task_id } = request.params;
      const task = await registry.getTask(task_id);
      if (!task || task.kind !== 'batch' || !canSeeTask(await app.tokens.getTaskCreator(task_id), request.viewer)) throw new HubError('TASK_NOT_FOUND', task_id);
      const sha256 = (task.result as { results?: { sha256?: string } } | undefined)?.results?.sha256;
      if (task.status !== 'SUCCEEDED' || !sha256) throw new HubError('CONFLICT', `batch ${task_id} is ${task.status}: its results come when it has succeeded`);
      return reply.type('application/x-ndjson').header('content-disposition', `attachment; filename="${task_id}.ndjson"`).send(await blobs.get(sha256));
    },
  });

  // Started once the hub is ready, so a resumed batch finds every service (endpoints included).
  if (!config.databaseUrl) {
    app.addHook('onReady', async () => {
      const resumed = await runner.resumeAll();
      if (resumed.length > 0) app.log.warn({ batches: resumed }, 'resumed batches a stop interrupted');
    });
  }
  app.addHook('preClose', async () => runner.close());
}

export default fp(batchRoutes, { name: 'batch-routes', dependencies: ['hub-services', 'identity', 'endpoint-routes'], fastify: '5.x' });
