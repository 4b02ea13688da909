/**
 * The Open Inference Protocol (KServe v2) over HTTP/REST. Model names are `owner.name` (the first
 * dot separates). Errors use the protocol's own `{"error": "<message>"}` body.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type Static } from '@sinclair/typebox';
import { HubError, toHubError } from '../../schemas/errors.ts';
import { assertValid } from '../../schemas/validate.ts';
import type { ServableRef } from '../../schemas/ports/run-service.ts';
import { visibleVersions } from '../use-cases/access.ts';
import type { ArgumentType, Dtype, Method, PublishedMetadata } from '../../schemas/metadata.ts';
import type { ServableValue, Tensor } from '../../schemas/ports/servable.ts';
import { newOrigin } from '../use-cases/provenance.ts';
import type { ProvenanceRecord } from '../../schemas/provenance.ts';
import { V2_DATATYPES, checkGivenShape, checkJsonDepth, dtypeFromV2, jsonToTensor, tensorToJson } from '../../schemas/codecs/tensors.ts';
import { decodeBinaryInfer, encodeBinaryOutputs, INFERENCE_HEADER } from '../../schemas/codecs/v2.ts';
import { inferOnEndpoint } from './v2-endpoint.ts';
import { NumberArray, numberArrayToTensor, parseWithNumberArrays, V2_BODY_NUMBER_ARRAYS } from '../../schemas/codecs/json-number-arrays.ts';
import {
  InferInput,
  InferRequest,
  InferResponse,
  RepositoryIndexEntry,
  RepositoryIndexRequest,
  RepositoryModelRequest,
} from '../../schemas/v2.ts';

const V2Error = Type.Object({ error: Type.String() });
const TensorMetadata = Type.Object({ name: Type.String(), datatype: Type.String(), shape: Type.Array(Type.Integer()) });

export function parseModelName(model: string, version?: string): ServableRef {
  const dot = model.indexOf('.');
  if (dot <= 0 || dot === model.length - 1) throw new HubError('SERVABLE_NOT_FOUND', `${model} (v2 model names are owner.name)`);
  const parsedVersion = version === undefined ? undefined : Number(version);
  if (parsedVersion !== undefined && (!Number.isInteger(parsedVersion) || parsedVersion < 1)) {
    throw new HubError('VERSION_NOT_FOUND', `${model}/${version}`);
  }
  return { owner: model.slice(0, dot), name: model.slice(dot + 1), version: parsedVersion };
}

const platformOf = (document: PublishedMetadata): string =>
  ({ onnx: 'onnxruntime_onnx', keras: 'tensorflow_keras', tfjs: 'tensorflowjs', 'tf-savedmodel': 'tensorflow_savedmodel', python: 'python', sklearn: 'sklearn', torch: 'pytorch_torchscript', container: 'container' })[document.servable.type];

/** The named tensors of a declared argument, for model metadata and for mapping v2 inputs. */
function namedTensors(method: Method, which: 'input' | 'output'): { name: string; dtype: Dtype | undefined; shape: (number | null)[] }[] {
  const type: ArgumentType = method[which];
  const names = method.method_details?.[which === 'input' ? 'input_names' : 'output_names'] as string[] | undefined;
  if (type.type === 'ndarray') return [{ name: names?.[0] ?? which, dtype: type.dtype, shape: type.shape }];
  if (type.type === 'dict') {
    return Object.entries(type.properties).map(([name, t]) => ({
      name,
      dtype: t.type === 'ndarray' ? t.dtype : undefined,
      shape: t.type === 'ndarray' ? t.shape : [-1],
    }));
  }
  return [{ name: names?.[0] ?? which, dtype: undefined, shape: [-1] }];
}

type DeclaredTensor = ReturnType<typeof namedTensors>[number];

/** Nest a flat v2 data array into the given shape (v2 allows flat or nested data). */
function nest(flat: unknown[], shape: number[]): unknown {
  if (shape.length === 0) return flat[0];
  let offset = 0;
  const build = (depth: number): unknown[] => {
    const out = new Array<unknown>(shape[depth]!);
    for (let i = 0; i < shape[depth]!; i++) out[i] = depth === shape.length - 1 ? flat[offset++] : build(depth + 1);
    return out;
  };
  return build(0);
}

function v2InputToTensor(input: Static<typeof InferInput>, declared: { dtype?: Dtype; shape: (number | null)[] } | undefined): Tensor {
  const dtype = dtypeFromV2(input.datatype);
  if (!dtype) throw new HubError('BAD_REQUEST', `input ${input.name}: unknown datatype ${input.datatype}`);
  checkGivenShape(input.name, input.shape);
  if (declared?.dtype && declared.dtype !== dtype) {
    throw new HubError('INVALID_INPUTS', `input "${input.name}" expected datatype ${V2_DATATYPES[declared.dtype]}, given ${input.datatype}`, {
      details: { input: input.name, expected: V2_DATATYPES[declared.dtype], given: input.datatype },
    });
  }
  if (ArrayBuffer.isView(input.data)) {
    // Binary extension: the bytes are the tensor already; only the shape is left to check.
    const shape = declared?.shape ?? [];
    const fits = shape.length === input.shape.length && shape.every((d, i) => d === null || d === input.shape[i]);
    if (declared && !fits) {
      throw new HubError('INVALID_INPUTS', `input "${input.name}" expected shape [${shape.map((d) => d ?? -1)}], given [${input.shape}]`, {
        details: { input: input.name, expected: shape, given: input.shape },
      });
    }
    return { dtype, shape: input.shape, data: input.data as Tensor['data'] };
  }
  if (input.data instanceof NumberArray) {
    // Read by the fast JSON path: one conversion where it fits; otherwise the checks below, on the
    // nested arrays JSON.parse would have made, say what is wrong as they always did.
    const tensor = numberArrayToTensor(input.data, dtype, input.shape, declared?.shape ?? input.shape.map(() => null));
    if (tensor) return tensor;
    input.data = input.data.toNested();
  }
  const data = Array.isArray(input.data) ? (input.data as unknown[]).flat(Infinity) : input.data === undefined ? [] : [input.data];
  const count = input.shape.reduce((a, b) => a * b, 1);
  if (data.length !== count) {
    throw new HubError('BAD_REQUEST', `input ${input.name}: shape [${input.shape.join(', ')}] needs ${count} elements, data has ${data.length}`);
  }
  // JSON has no infinities: a number beyond float64 (1e400) parses as one, and would reach the
  // model as Infinity, or come back from a JSON servable as null. The caller meant something else.
  for (const element of data) {
    if (typeof element === 'number' && !Number.isFinite(element)) {
      throw new HubError('BAD_REQUEST', `input ${input.name}: ${element} is not a finite number (a JSON number beyond the float64 range, such as 1e400?)`);
    }
  }
  return jsonToTensor(input.name, nest(data, input.shape), { type: 'ndarray', dtype, shape: declared?.shape ?? input.shape.map(() => null) });
}

/**
 * The request's inputs as the model's named tensors. The protocol names each input: a name the
 * model does not declare, the same name twice, or a declared input left out is the client's error
 * (400), never guessed around.
 */
function inputTensors(inputs: InferRequest['inputs'], declared: DeclaredTensor[]): Record<string, Tensor> {
  const byName = new Map(declared.map((d) => [d.name, d]));
  const tensors = new Map<string, Tensor>();
  for (const input of inputs) {
    const target = byName.get(input.name);
    if (!target) throw new HubError('BAD_REQUEST', `unknown input "${input.name}"; the model takes ${[...byName.keys()].join(', ')}`);
    if (tensors.has(input.name)) throw new HubError('BAD_REQUEST', `input "${input.name}" is given more than once`);
    // A JSON servable (dtype unknown) takes whatever tensor it is given.
    tensors.set(input.name, v2InputToTensor(input, target.dtype ? target : undefined));
  }
  const missing = declared.find((d) => !tensors.has(d.name));
  if (missing) throw new HubError('BAD_REQUEST', `missing input "${missing.name}"; the model takes ${[...byName.keys()].join(', ')}`);
  return Object.fromEntries(tensors);
}

/** The requested outputs must be the model's, and their `binary_data` a boolean. */
function checkRequestedOutputs(requested: InferRequest['outputs'], declared: DeclaredTensor[]): void {
  const names = new Set(declared.map((d) => d.name));
  for (const output of requested ?? []) {
    if (!names.has(output.name)) throw new HubError('BAD_REQUEST', `unknown output "${output.name}"; the model gives ${[...names].join(', ')}`);
    const binary = output.parameters?.binary_data;
    if (binary !== undefined && typeof binary !== 'boolean') throw new HubError('BAD_REQUEST', `output "${output.name}": binary_data must be true or false`);
  }
}

/**
 * Whether an output goes back as binary data. The binary tensor data extension: the request's
 * `binary_data_output` sets the default for all outputs, and an output's own `binary_data`
 * (true or false) overrides it.
 */
function wantsBinary(body: InferRequest, name: string): boolean {
  const own = body.outputs?.find((o) => o.name === name)?.parameters?.binary_data;
  if (typeof own === 'boolean') return own;
  return body.parameters?.binary_data_output === true;
}

function outputTensors(raw: ServableValue, method: Method): Record<string, Tensor> {
  if (raw.kind === 'tensors') return raw.tensors;
  // A JSON servable's output: numbers become an FP64 tensor, anything else one BYTES element of JSON.
  const name = namedTensors(method, 'output')[0]!.name;
  const value = raw.value;
  const flat = Array.isArray(value) ? (value as unknown[]).flat(Infinity) : [value];
  if (flat.every((v) => typeof v === 'number')) {
    const shape: number[] = [];
    let cursor: unknown = value;
    while (Array.isArray(cursor)) {
      shape.push(cursor.length);
      cursor = cursor[0];
    }
    return { [name]: { dtype: 'float64', shape, data: Float64Array.from(flat as number[]) } };
  }
  return { [name]: { dtype: 'string', shape: [1], data: [JSON.stringify(value)] } };
}

/** The media types a protocol body may be sent as; without a Content-Type the body is taken as one too. */
const PROTOCOL_MEDIA_TYPES = new Set(['application/json', 'application/octet-stream']);

/**
 * The path of a model's routes: each route exists with and without `/versions/{version}`, and both
 * share one handler, so the version is declared optional in both (the router gives it or not).
 */
const ModelPath = Type.Object({ model: Type.String({ maxLength: 200 }), version: Type.Optional(Type.String({ maxLength: 20 })) });
type ModelPath = Static<typeof ModelPath>;

export default async function v2Routes(hub: FastifyInstance): Promise<void> {
  // Requests typed by their route schemas (TypeBox), so handlers read params without casts.
  const app = hub.withTypeProvider<TypeBoxTypeProvider>();
  const { gateway, manager, registry } = app.hub;
  const parseJson = app.getDefaultJsonParser('error', 'ignore');

  const v2Error = (reply: FastifyReply, error: unknown) => {
    const hubError = toHubError(error);
    if (hubError.retryAfter) reply.header('retry-after', String(hubError.retryAfter));
    return reply.code(hubError.status).send({ error: hubError.message });
  };

  // Triton's own clients send protocol bodies without a Content-Type: JSON, or (with
  // Inference-Header-Content-Length) JSON followed by binary tensors. Here such a body arrives
  // whole as a Buffer and the handler reads it as the protocol says; any other declared type
  // (text/plain, forms, multipart) is still a 415, before its body is read.
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: app.hub.config.maxUploadBytes }, (_request, body, done) => done(null, body));
  // An inference body's `data` arrays of numbers are read straight into doubles (the fast path
  // takes only what JSON.parse would, and gives up otherwise); every other body, and every body
  // with an error in it, goes to fastify's own parser as before, which makes the error.
  const isInfer = (request: FastifyRequest) => request.method === 'POST' && /\/infer(\?|$)/.test(request.url);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    const fast = isInfer(request) ? parseWithNumberArrays(text, V2_BODY_NUMBER_ARRAYS) : undefined;
    if (fast !== undefined) done(null, fast);
    else parseJson(request, text, done);
  });
  app.addHook('onRequest', async (request) => {
    const type = request.headers['content-type'];
    if (request.method !== 'POST' || type === undefined) return;
    const mediaType = type.split(';')[0]!.trim().toLowerCase();
    if (!PROTOCOL_MEDIA_TYPES.has(mediaType)) {
      throw new HubError('UNSUPPORTED_MEDIA_TYPE', `${mediaType || '(empty)'}; the Open Inference Protocol takes application/json, or application/octet-stream with Inference-Header-Content-Length`);
    }
  });

  /** A JSON body that came as bytes (no Content-Type, or application/octet-stream), parsed as fastify parses JSON. */
  const jsonFromBytes = async (request: FastifyRequest, bytes: Buffer): Promise<unknown> => {
    if (bytes.length === 0) return undefined;
    const text = bytes.toString('utf8');
    const fast = isInfer(request) ? parseWithNumberArrays(text, V2_BODY_NUMBER_ARRAYS) : undefined;
    if (fast !== undefined) return fast;
    const parsed = await new Promise((resolve, reject) => parseJson(request, text, (error, value) => (error ? reject(error) : resolve(value)))).catch(
      (error: Error) => {
        throw new HubError('BAD_REQUEST', `the body is not JSON: ${error.message}`);
      },
    );
    checkJsonDepth(parsed);
    return parsed;
  };
  /** The optional JSON body of a repository request, whatever way it came. */
  const optionalJsonBody = async (request: FastifyRequest): Promise<unknown> =>
    Buffer.isBuffer(request.body) ? jsonFromBytes(request, request.body) : request.body;

  const inferRequestOf = async (request: FastifyRequest): Promise<InferRequest> => {
    if (request.headers[INFERENCE_HEADER] !== undefined) {
      // The binary extension's body is bytes (no Content-Type, or application/octet-stream); a JSON
      // Content-Type has already been parsed as JSON and cannot carry binary tensors.
      if (!Buffer.isBuffer(request.body)) {
        throw new HubError('BAD_REQUEST', `${INFERENCE_HEADER} needs the body sent as application/octet-stream (or without a Content-Type), not as JSON`);
      }
      return decodeBinaryInfer(request.body, request.headers[INFERENCE_HEADER]);
    }
    const body = Buffer.isBuffer(request.body) ? await jsonFromBytes(request, request.body) : request.body;
    return assertValid(InferRequest, body, 'BAD_REQUEST');
  };

  const ServerMetadata = Type.Object({ name: Type.String(), version: Type.String(), extensions: Type.Array(Type.String()) });
  const serverMetadata = async () => ({ name: 'modelhub', version: '0.1.0', extensions: ['binary_tensor_data', 'model_repository'] });
  app.get('/v2', { schema: { summary: 'Server metadata', tags: ['v2'], response: { 200: ServerMetadata } }, handler: serverMetadata });
  // The protocol's OpenAPI document writes the server metadata path as `/v2/`.
  app.get('/v2/', { schema: { summary: 'Server metadata (as the OpenAPI document writes it)', tags: ['v2'], response: { 200: ServerMetadata } }, handler: serverMetadata });
  app.get('/v2/health/live', {
    schema: { summary: 'Liveness', tags: ['v2'], response: { 200: Type.Object({ live: Type.Boolean() }) } },
    handler: async () => ({ live: true }),
  });
  app.get('/v2/health/ready', {
    schema: {
      summary: 'Readiness, with the state of each backend',
      tags: ['v2'],
      response: { 200: Type.Object({ ready: Type.Boolean(), backends: Type.Array(Type.Unknown()) }), 503: Type.Object({ ready: Type.Boolean(), backends: Type.Array(Type.Unknown()) }) },
    },
    handler: async (_request, reply) => {
      const checks = [app.hub.blobs.health(), app.hub.index.health(), app.hub.engine.health()];
      // In PostgreSQL mode the database holds the catalogue, tokens and tasks: it gates readiness too.
      if (app.hub.database) checks.push(app.hub.database.health());
      const backends = await Promise.all(checks.map((p) => p.catch((e: Error) => ({ ok: false, backend: 'unknown', detail: e.message }))));
      // Search or Docker being down degrades the hub but it still publishes and runs in-process
      // servables: only the blob store (and PostgreSQL) gate readiness; the list says which part is down.
      const ready = backends[0]!.ok && (!app.hub.database || backends[3]!.ok);
      return reply.code(ready ? 200 : 503).send({ ready, backends });
    },
  });

  const modelMetadata = async (request: FastifyRequest, reply: FastifyReply, { model, version }: ModelPath) => {
    try {
      app.requireReader(request);
      const document = await gateway.describe(parseModelName(model, version), request.viewer);
      const method = document.servable.methods.run;
      const describe = (t: DeclaredTensor) => ({
        name: t.name,
        datatype: t.dtype ? V2_DATATYPES[t.dtype] : 'BYTES',
        shape: t.shape.map((d) => (d === null ? -1 : d)),
      });
      // Only the versions this caller may request: a private version stays out of others' lists.
      const records = await registry.listVersions(document.hub.owner, document.hub.name);
      const versions = visibleVersions(records, request.viewer).filter((v) => v.state === 'published').map((v) => String(v.version));
      return {
        name: model,
        versions,
        platform: platformOf(document),
        inputs: namedTensors(method, 'input').map(describe),
        outputs: namedTensors(method, 'output').map(describe),
      };
    } catch (error) {
      return v2Error(reply, error);
    }
  };
  const ModelMetadata = Type.Object({ name: Type.String(), versions: Type.Array(Type.String()), platform: Type.String(), inputs: Type.Array(TensorMetadata), outputs: Type.Array(TensorMetadata) });
  app.get('/v2/models/:model', { schema: { summary: 'Model metadata', tags: ['v2'], params: ModelPath, response: { 200: ModelMetadata, '4xx': V2Error } } }, (request, reply) => modelMetadata(request, reply, request.params));
  app.get('/v2/models/:model/versions/:version', { schema: { summary: 'Model version metadata', tags: ['v2'], params: ModelPath, response: { 200: ModelMetadata, '4xx': V2Error } } }, (request, reply) => modelMetadata(request, reply, request.params));

  const modelReady = async (request: FastifyRequest, reply: FastifyReply, { model, version }: ModelPath) => {
    try {
      app.requireReader(request);
      const document = await gateway.describe(parseModelName(model, version), request.viewer);
      // Published servables load on demand, so a published version is ready to take requests.
      return { name: model, ready: true, loaded: manager.isLoaded(document.hub.owner, document.hub.name, document.hub.version) };
    } catch (error) {
      return v2Error(reply, error);
    }
  };
  const Ready = Type.Object({ name: Type.String(), ready: Type.Boolean(), loaded: Type.Boolean() });
  app.get('/v2/models/:model/ready', { schema: { summary: 'Model readiness', tags: ['v2'], params: ModelPath, response: { 200: Ready, '4xx': V2Error } } }, (request, reply) => modelReady(request, reply, request.params));
  app.get('/v2/models/:model/versions/:version/ready', { schema: { summary: 'Model version readiness', tags: ['v2'], params: ModelPath, response: { 200: Ready, '4xx': V2Error } } }, (request, reply) => modelReady(request, reply, request.params));

  const infer = async (request: FastifyRequest, reply: FastifyReply, { model, version }: ModelPath) => {
    try {
      app.requireRunner(request);
      const received = performance.now();
      const body = await inferRequestOf(request);
      const binaryDefault = body.parameters?.binary_data_output;
      if (binaryDefault !== undefined && typeof binaryDefault !== 'boolean') throw new HubError('BAD_REQUEST', 'binary_data_output must be true or false');
      const document = await gateway.describe(parseModelName(model, version), request.viewer);
      const { method, methodName } = gateway.resolveMethod(document, 'run');
      const tensors = inputTensors(body.inputs, namedTensors(method, 'input'));
      checkRequestedOutputs(body.outputs, namedTensors(method, 'output'));
      const single = method.input.type !== 'dict';

      // `parameters.provenance: true` asks for the run's provenance record (docs/provenance.md); the model never sees it.
      const { provenance: wantsProvenance, ...parameters } = body.parameters ?? {};
      const caller = request.viewer.user ?? null;
      let raw: ServableValue;
      let provenance: ProvenanceRecord | undefined;
      if (parameters.endpoint !== undefined || document.servable.options?.endpoint !== undefined) {
        // On a compute endpoint (named, or the servable's default): through the gateway's run,
        // which checks who may use it (and records the provenance, naming the endpoint).
        ({ raw, provenance } = await inferOnEndpoint(gateway, document, method, tensors, parameters, request.viewer, namedTensors(method, 'output')[0]!.name, wantsProvenance === true));
      } else {
        const loaded = await manager.acquire(document);
        const io = loaded.servable.io;
        manager.release(loaded);
        const decoded: ServableValue =
          io === 'tensors'
            ? { kind: 'tensors', tensors }
            : { kind: 'json', value: single ? tensorToJson(Object.values(tensors)[0]!) : Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, tensorToJson(t)])) };
        const result = await gateway.execute(document, method, methodName, { inputs: undefined, parameters: body.parameters === undefined ? undefined : parameters, caller }, received, decoded);
        raw = result.raw;
        if (wantsProvenance === true) {
          // Stored as the hub API's run would take and give them, so the crate replays through either.
          const inputs = single ? tensorToJson(Object.values(tensors)[0]!) : Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, tensorToJson(t)]));
          provenance = await app.hub.provenance.record({ document, method: methodName, inputs, parameters, output: result.output, origin: newOrigin(result.timing.total_ms), caller });
        }
      }
      let outputs = Object.entries(outputTensors(raw, method));
      if (body.outputs?.length) {
        const wanted = new Set(body.outputs.map((o) => o.name));
        outputs = outputs.filter(([name]) => wanted.has(name));
      }
      const response: InferResponse = {
        model_name: model,
        model_version: String(document.hub.version),
        id: body.id,
        outputs: outputs.map(([name, tensor]) => ({
          name,
          datatype: V2_DATATYPES[tensor.dtype],
          shape: tensor.shape,
          data: tensor.data instanceof BigInt64Array || tensor.data instanceof BigUint64Array ? Array.from(tensor.data, Number) : Array.from(tensor.data as ArrayLike<unknown>),
        })),
      };
      if (provenance) response.parameters = { provenance };
      const encoded = encodeBinaryOutputs(response, Object.fromEntries(outputs), (name) => wantsBinary(body, name));
      if (encoded) {
        reply.header(INFERENCE_HEADER, String(encoded.headerLength));
        reply.type('application/octet-stream');
        return reply.send(encoded.body);
      }
      return response;
    } catch (error) {
      return v2Error(reply, error);
    }
  };
  const inferSchema = {
    summary: 'Run inference (JSON, or the binary tensor data extension)',
    tags: ['v2'],
    params: ModelPath,
    response: { 200: InferResponse, '4xx': V2Error, '5xx': V2Error },
  };
  for (const url of ['/v2/models/:model/infer', '/v2/models/:model/versions/:version/infer']) {
    app.post(url, { schema: inferSchema }, (request, reply) => infer(request, reply, request.params));
  }

  // Triton's model repository extension, mapped onto residency: the index says which versions are
  // resident; load keeps the latest version resident (pinned) until unload, which unpins and
  // unloads every resident version once its running requests finish. Residency is per hub process.
  app.post('/v2/repository/index', {
    schema: { summary: 'Model repository index: every model version the caller may see, and whether it is resident', tags: ['v2'], response: { 200: Type.Array(RepositoryIndexEntry), '4xx': V2Error } },
    handler: async (request, reply) => {
      try {
        app.requireReader(request);
        const body = assertValid(RepositoryIndexRequest, (await optionalJsonBody(request)) ?? {}, 'BAD_REQUEST');
        const entries: RepositoryIndexEntry[] = [];
        let cursor: string | undefined;
        do {
          const page = await registry.listServables({ limit: 1000, cursor, viewer: request.viewer });
          for (const { owner, name } of page.items) {
            const records = visibleVersions(await registry.listVersions(owner, name), request.viewer).filter((v) => v.state === 'published');
            for (const record of records) {
              const ready = manager.isLoaded(owner, name, record.version);
              if (body.ready && !ready) continue;
              entries.push({
                name: `${owner}.${name}`,
                version: String(record.version),
                state: ready ? 'READY' : 'UNAVAILABLE',
                reason: ready ? '' : 'not loaded: loads on its first request, or on a load request',
              });
            }
          }
          cursor = page.next_cursor ?? undefined;
        } while (cursor !== undefined);
        return entries.sort((a, b) => a.name.localeCompare(b.name) || Number(b.version) - Number(a.version));
      } catch (error) {
        return v2Error(reply, error);
      }
    },
  });

  /**
   * The servable a load or unload names, for its owner or an admin only. Token and scope first,
   * then existence as the caller may see it (another's private model is unknown: 404), then
   * ownership (403), as for withdrawing: no answer depends on a model the caller cannot see.
   */
  const managedModel = async (request: FastifyRequest, model: string): Promise<PublishedMetadata> => {
    app.requirePublisher(request);
    const document = await gateway.describe(parseModelName(model), request.viewer);
    app.requirePublisher(request, document.hub.owner);
    return document;
  };
  const repositoryRequestOf = async (request: FastifyRequest): Promise<RepositoryModelRequest> =>
    assertValid(RepositoryModelRequest, (await optionalJsonBody(request)) ?? {}, 'BAD_REQUEST');
  const repositorySchema = (summary: string) => ({ summary, tags: ['v2'], params: Type.Object({ model: ModelPath.properties.model }), response: { 200: Type.Any({ description: 'an empty body' }), '4xx': V2Error, '5xx': V2Error } });
  // Both answer 200 with an empty body, as Triton does.
  app.post('/v2/repository/models/:model/load', {
    schema: repositorySchema("Load a model's latest version and keep it resident until it is unloaded (its owner or an admin)"),
    handler: async (request, reply) => {
      try {
        const { parameters } = await repositoryRequestOf(request);
        const document = await managedModel(request, request.params.model);
        // Triton's `config` replaces a model's configuration; a published version is immutable.
        if (parameters?.config !== undefined) throw new HubError('BAD_REQUEST', 'the "config" parameter is not supported: a published version cannot be reconfigured');
        await manager.pin(document);
        return reply.code(200).send(undefined);
      } catch (error) {
        return v2Error(reply, error);
      }
    },
  });
  app.post('/v2/repository/models/:model/unload', {
    schema: repositorySchema('Unpin and unload every resident version of a model, once its running requests finish (its owner or an admin)'),
    handler: async (request, reply) => {
      try {
        await repositoryRequestOf(request);
        const document = await managedModel(request, request.params.model);
        await manager.evict(document.hub.owner, document.hub.name);
        return reply.code(200).send(undefined);
      } catch (error) {
        return v2Error(reply, error);
      }
    },
  });
}
