/* global process, console, Buffer */
// Serve this downloaded modelhub ONNX servable on your own machine, as the hub serves it.
//
//   npm install            (onnxruntime-node, as package.json pins it)
//   node serve.mjs [--host 127.0.0.1] [--port 8080]
//
//   POST /run     {"inputs": ...}  ->  {"output": ...}
//   GET  /health  {"ready": true}
//
// Inputs are read as the hub reads them: one declared ndarray input takes a nested array, several
// take an object of nested arrays by name; each becomes a tensor of its declared dtype. One output
// comes back as a nested array, several as an object by name (int64 as JSON numbers).
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';

const here = path.dirname(fileURLToPath(import.meta.url));
const metadata = JSON.parse(fs.readFileSync(path.join(here, 'metadata.json'), 'utf8'));
const method = metadata.servable.methods.run;
const files = metadata.hub.files.map((file) => file.path);
const modelFile = metadata.servable.model_file ?? files.find((file) => file.toLowerCase().endsWith('.onnx'));

const ARRAYS = {
  float32: Float32Array, float64: Float64Array, int8: Int8Array, int16: Int16Array, int32: Int32Array,
  int64: BigInt64Array, uint8: Uint8Array, uint16: Uint16Array, uint32: Uint32Array, uint64: BigUint64Array, bool: Uint8Array,
};

function shapeOf(value) {
  const shape = [];
  for (let node = value; Array.isArray(node); node = node[0]) shape.push(node.length);
  return shape;
}

function toTensor(name, value, declared) {
  if (declared.type !== 'ndarray') throw new Error(`input ${name} is not an ndarray`);
  let shape = shapeOf(value);
  // A scalar for a declared [1] (a sample rate) is accepted, as the hub accepts it.
  if (shape.length === 0 && declared.shape.length === 1) {
    value = [value];
    shape = [1];
  }
  if (shape.length !== declared.shape.length || declared.shape.some((d, i) => d !== null && d !== shape[i])) {
    throw new Error(`input ${name} has shape [${shape}], the servable takes [${declared.shape.map((d) => d ?? '?')}]`);
  }
  const flat = shape.length === 0 ? [value] : value.flat(shape.length - 1);
  const Kind = ARRAYS[declared.dtype];
  if (!Kind) throw new Error(`input ${name}: dtype ${declared.dtype} is not served by this script`);
  const big = Kind === BigInt64Array || Kind === BigUint64Array;
  const data = Kind.from(flat, (v) => (big ? BigInt(v) : typeof v === 'boolean' ? Number(v) : v));
  return new ort.Tensor(declared.dtype, data, shape);
}

function toJson(tensor) {
  const element = (v) => (typeof v === 'bigint' ? Number(v) : tensor.type === 'bool' ? v === 1 || v === true : v);
  const data = Array.from(tensor.data, element);
  const dims = tensor.dims;
  if (dims.length === 0) return data[0];
  let offset = 0;
  const build = (depth) => Array.from({ length: dims[depth] }, () => (depth === dims.length - 1 ? data[offset++] : build(depth + 1)));
  return build(0);
}

const session = await ort.InferenceSession.create(path.join(here, 'model', modelFile), { intraOpNumThreads: 1 });
const inputNames = method.method_details?.input_names;
const outputNames = method.method_details?.output_names ?? session.outputNames;

async function run(inputs) {
  const feeds = {};
  if (method.input.type === 'ndarray') {
    const name = inputNames?.[0] ?? session.inputNames[0];
    feeds[session.inputNames.length === 1 ? session.inputNames[0] : name] = toTensor(name, inputs, method.input);
  } else {
    for (const [name, declared] of Object.entries(method.input.properties)) {
      if (!(name in inputs)) throw new Error(`missing input ${name}`);
      feeds[name] = toTensor(name, inputs[name], declared);
    }
  }
  const results = await session.run(feeds);
  if (method.output.type === 'ndarray' || outputNames.length === 1) return toJson(results[outputNames[0]] ?? Object.values(results)[0]);
  return Object.fromEntries(outputNames.filter((name) => results[name]).map((name) => [name, toJson(results[name])]));
}

const send = (response, status, body) => {
  const raw = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(raw) });
  response.end(raw);
};

const server = http.createServer((request, response) => {
  const route = request.url.split('?')[0].replace(/\/+$/, '');
  if (request.method === 'GET' && route === '/health') return send(response, 200, { ready: true });
  if (request.method !== 'POST' || route !== '/run') return send(response, 404, { error: { code: 'MODELHUB_ROUTE_NOT_FOUND', message: `No route ${request.url}` } });
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', async () => {
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      if (typeof body !== 'object' || body === null || !('inputs' in body)) throw new Error('the body must be a JSON object with "inputs"');
    } catch (error) {
      return send(response, 400, { error: { code: 'MODELHUB_BAD_REQUEST', message: error.message } });
    }
    try {
      send(response, 200, { output: await run(body.inputs), servable: `${metadata.hub.owner}/${metadata.hub.name}`, version: metadata.hub.version });
    } catch (error) {
      send(response, 422, { error: { code: 'MODELHUB_INVALID_INPUTS', message: error.message } });
    }
  });
});

const argument = (flag, fallback) => {
  const at = process.argv.indexOf(flag);
  return at > 0 ? process.argv[at + 1] : fallback;
};
const host = argument('--host', process.env.HOST ?? '127.0.0.1');
server.listen(Number(argument('--port', process.env.PORT ?? '8080')), host, () => {
  console.log(`serving ${metadata.hub.owner}/${metadata.hub.name}@${metadata.hub.version} on http://${host}:${server.address().port}`);
});
