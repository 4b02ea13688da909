/**
 * The Open Inference Protocol (KServe v2) over HTTP/REST. Model names are `owner.name` (the first
 * dot separates). Errors use the protocol's own `{"error": "<message>"}` body.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { HubError, toHubError } from '../errors.ts';
import { assertValid } from '../../schemas/validate.ts';
import type { ServableRef } from '../services/run-service.ts';
import type { ArgumentType, Dtype, Method, PublishedMetadata } from '../../schemas/metadata.ts';
import type { ServableValue, Tensor } from '../../servables/servable.ts';
import { V2_DATATYPES, checkGivenShape, dtypeFromV2, jsonToTensor, tensorToJson } from '../../servables/tensors.ts';
import { decodeBinaryInfer, encodeBinaryOutputs, INFERENCE_HEADER } from './v2-binary.ts';
import { InferInput, InferRequest, InferResponse } from '../../schemas/v2.ts';

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
  return [{ name: which, dtype: undefined, shape: [-1] }];
}

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
  const data = Array.isArray(input.data) ? (input.data as unknown[]).flat(Infinity) : input.data === undefined ? [] : [input.data];
  const count = input.shape.reduce((a, b) => a * b, 1);
  if (data.length !== count) {
    throw new HubError('BAD_REQUEST', `input ${input.name}: shape [${input.shape.join(', ')}] needs ${count} elements, data has ${data.length}`);
  }
  return jsonToTensor(input.name, nest(data, input.shape), { type: 'ndarray', dtype, shape: declared?.shape ?? input.shape.map(() => null) });
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

export default async function v2Routes(app: FastifyInstance): Promise<void> {
  const { gateway, manager } = app.hub;

  const v2Error = (reply: FastifyReply, error: unknown) => {
    const hubError = toHubError(error);
    if (hubError.retryAfter) reply.header('retry-after', String(hubError.retryAfter));
    return reply.code(hubError.status).send({ error: hubError.message });
  };

  app.get('/v2', {
    schema: { summary: 'Server metadata', tags: ['v2'], response: { 200: Type.Object({ name: Type.String(), version: Type.String(), extensions: Type.Array(Type.String()) }) } },
    handler: async () => ({ name: 'modelhub', version: '0.1.0', extensions: ['binary_tensor_data', 'model_repository'] }),
  });
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

  const modelMetadata = async (request: FastifyRequest, reply: FastifyReply) => {
    const { model, version } = request.params as { model: string; version?: string };
    try {
      app.requireReader(request);
      const document = await gateway.describe(parseModelName(model, version), request.viewer);
      const method = document.servable.methods.run;
      const describe = (t: { name: string; dtype: Dtype | undefined; shape: (number | null)[] }) => ({
        name: t.name,
        datatype: t.dtype ? V2_DATATYPES[t.dtype] : 'BYTES',
        shape: t.shape.map((d) => d ?? -1),
      });
      const versions = (await app.hub.registry.listVersions(document.hub.owner, document.hub.name)).filter((v) => v.state === 'published').map((v) => String(v.version));
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
  const modelParams = Type.Object({ model: Type.String({ maxLength: 200 }) });
  const versionParams = Type.Object({ model: Type.String({ maxLength: 200 }), version: Type.String({ maxLength: 20 }) });
  app.get('/v2/models/:model', { schema: { summary: 'Model metadata', tags: ['v2'], params: modelParams, response: { 200: ModelMetadata, '4xx': V2Error } }, handler: modelMetadata });
  app.get('/v2/models/:model/versions/:version', { schema: { summary: 'Model version metadata', tags: ['v2'], params: versionParams, response: { 200: ModelMetadata, '4xx': V2Error } }, handler: modelMetadata });

  const modelReady = async (request: FastifyRequest, reply: FastifyReply) => {
    const { model, version } = request.params as { model: string; version?: string };
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
  app.get('/v2/models/:model/ready', { schema: { summary: 'Model readiness', tags: ['v2'], params: modelParams, response: { 200: Ready, '4xx': V2Error } }, handler: modelReady });
  app.get('/v2/models/:model/versions/:version/ready', { schema: { summary: 'Model version readiness', tags: ['v2'], params: versionParams, response: { 200: Ready, '4xx': V2Error } }, handler: modelReady });

  const infer = async (request: FastifyRequest, reply: FastifyReply) => {
    const { model, version } = request.params as { model: string; version?: string };
    try {
      app.requireRunner(request);
      const received = performance.now();
      const binary = request.headers[INFERENCE_HEADER] !== undefined;
      const body: InferRequest = binary
        ? decodeBinaryInfer(request.body as Buffer, request.headers[INFERENCE_HEADER])
        : assertValid(InferRequest, request.body, 'BAD_REQUEST');
      const document = await gateway.describe(parseModelName(model, version), request.viewer);
      const { method, methodName } = gateway.resolveMethod(document, 'run');
      const declared = namedTensors(method, 'input');
      const single = method.input.type !== 'dict';
      for (const input of body.inputs) {
        if (!declared.some((d) => d.name === input.name) && !(single && body.inputs.length === 1)) {
          throw new HubError('INVALID_INPUTS', `unknown input "${input.name}"; the model takes ${declared.map((d) => d.name).join(', ')}`);
        }
      }
      const tensors: Record<string, Tensor> = {};
      for (const input of body.inputs) {
        const target = single ? declared[0]! : declared.find((d) => d.name === input.name)!;
        // A JSON servable (dtype unknown) takes whatever tensor it is given.
        tensors[target.name] = v2InputToTensor(input, target.dtype ? target : undefined);
      }
      const missing = declared.filter((d) => !(d.name in tensors));
      if (missing.length > 0 && method.input.type === 'dict') throw new HubError('INVALID_INPUTS', `missing input "${missing[0]!.name}"`);

      const loaded = await manager.acquire(document);
      const io = loaded.servable.io;
      manager.release(loaded);
      const decoded: ServableValue =
        io === 'tensors'
          ? { kind: 'tensors', tensors }
          : { kind: 'json', value: single ? tensorToJson(Object.values(tensors)[0]!) : Object.fromEntries(Object.entries(tensors).map(([k, t]) => [k, tensorToJson(t)])) };
      const result = await gateway.execute(document, method, methodName, { inputs: undefined, parameters: body.parameters }, received, decoded);
      let outputs = Object.entries(outputTensors(result.raw, method));
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
      if (binary || body.parameters?.binary_data_output === true || body.outputs?.some((o) => o.parameters?.binary_data === true)) {
        const wantBinary = (name: string) =>
          body.parameters?.binary_data_output === true || body.outputs?.find((o) => o.name === name)?.parameters?.binary_data === true;
        const encoded = encodeBinaryOutputs(response, Object.fromEntries(outputs), wantBinary);
        if (encoded) {
          reply.header(INFERENCE_HEADER, String(encoded.headerLength));
          reply.type('application/octet-stream');
          return reply.send(encoded.body);
        }
      }
      return response;
    } catch (error) {
      return v2Error(reply, error);
    }
  };
  const inferSchema = (params: typeof modelParams | typeof versionParams) => ({
    summary: 'Run inference (JSON, or the binary tensor data extension)',
    tags: ['v2'],
    params,
    response: { 200: InferResponse, '4xx': V2Error, '5xx': V2Error },
  });
  app.post('/v2/models/:model/infer', { schema: inferSchema(modelParams), handler: infer });
  app.post('/v2/models/:model/versions/:version/infer', { schema: inferSchema(versionParams), handler: infer });
}
