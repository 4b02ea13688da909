/**
 * The Open Inference Protocol (KServe v2) routes against the specifications, on the real hub over
 * the wire: the protocol's own request examples (vendored under test/fixtures/open-inference-protocol),
 * its error cases (unknown, duplicated and missing inputs, unknown outputs, non-finite numbers),
 * `GET /v2/` as its OpenAPI document writes it, Triton's binary tensor data extension (per-output
 * `binary_data` overriding `binary_data_output`; bodies without a Content-Type, as Triton's Python
 * client sends them) and Triton's model repository extension (index, load, unload). Expected
 * values come from the models' arithmetic computed here, not from the hub.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlpOnnx, buildSpecExampleOnnx, buildTritonSimpleOnnx, defaultMlpWeights } from '../fixtures/onnx-builders.ts';
import { onnxMetadata, publishAndWait } from '../helpers/hub-http.ts';
import { ROOT, startTestHub, type TestHub } from '../helpers/test-hub.ts';

const FIXTURES = path.join(ROOT, 'test/fixtures/open-inference-protocol');
const fixture = (name: string) => JSON.parse(fs.readFileSync(path.join(FIXTURES, name), 'utf8'));

interface Reply {
  status: number;
  headers: Headers;
  /** The JSON body, or the JSON header of a binary reply (read field by field, as the protocol's documents). */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
  /** The bytes after the JSON header of a binary reply (empty for a JSON reply). */
  tail: Buffer;
}

/** A request as raw bytes with exactly the headers given (fetch adds no Content-Type to bytes). */
async function send(url: string, body: Buffer | string | undefined, headers: Record<string, string> = {}): Promise<Reply> {
  // Bytes, never a string: fetch would label a string text/plain.
  const response = await fetch(url, { method: 'POST', headers, body: typeof body === 'string' ? Buffer.from(body) : body && new Uint8Array(body) });
  const bytes = Buffer.from(await response.arrayBuffer());
  const headerLength = response.headers.get('inference-header-content-length');
  const jsonEnd = headerLength === null ? bytes.length : Number(headerLength);
  const text = bytes.subarray(0, jsonEnd).toString('utf8');
  let parsed: unknown = text;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    // not JSON: keep the text for the failure message
  }
  return { status: response.status, headers: response.headers, body: parsed, tail: bytes.subarray(jsonEnd) };
}
const sendJson = (url: string, body: unknown) => send(url, typeof body === 'string' ? body : JSON.stringify(body), { 'content-type': 'application/json' });

/** A binary-extension body: the JSON header, then each tensor's bytes; with its header length. */
function binaryBody(header: unknown, ...tensors: Buffer[]): { body: Buffer; headerLength: string } {
  const json = Buffer.from(JSON.stringify(header));
  return { body: Buffer.concat([json, ...tensors]), headerLength: String(json.length) };
}

/** The binary outputs of a reply, by name, cut from its tail in order as `binary_data_size` says. */
function binaryOutputs(reply: Reply): Record<string, Buffer> {
  const out: Record<string, Buffer> = {};
  let offset = 0;
  for (const output of reply.body.outputs as { name: string; parameters?: { binary_data_size?: number } }[]) {
    const size = output.parameters?.binary_data_size;
    if (size === undefined) continue;
    out[output.name] = reply.tail.subarray(offset, offset + size);
    offset += size;
  }
  expect(offset).toBe(reply.tail.length);
  return out;
}
const int32s = (bytes: Buffer) => Array.from(new Int32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)));
const float32s = (bytes: Buffer) => Array.from(new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)));

function expectV2Error(reply: Reply, status: number, pattern: RegExp, what: string): void {
  expect(reply.status, `${what}: ${JSON.stringify(reply.body)}`).toBe(status);
  expect(Object.keys(reply.body), what).toEqual(['error']);
  expect(reply.body.error, what).toMatch(pattern);
}

/** The spec example model's arithmetic: output0[i][j] = input1[i] × (input0[0][j] + input0[1][j]). */
const specExampleOutput = (input0: number[], input1: boolean[]) =>
  input1.flatMap((b) => [0, 1].map((j) => (b ? input0[j]! + input0[2 + j]! : 0)));

// Triton's simple client example sends INPUT0 = 0..15 and INPUT1 = all ones.
const INPUT0 = Array.from({ length: 16 }, (_, i) => i);
const INPUT1 = Array.from({ length: 16 }, () => 1);
const SUM = INPUT0.map((v, i) => v + INPUT1[i]!);
const DIFFERENCE = INPUT0.map((v, i) => v - INPUT1[i]!);
const simpleInputs = [
  { name: 'INPUT0', shape: [1, 16], datatype: 'INT32', data: INPUT0 },
  { name: 'INPUT1', shape: [1, 16], datatype: 'INT32', data: INPUT1 },
];

describe('Open Inference Protocol conformance', () => {
  let hub: TestHub;
  const v2 = (route: string) => `${hub.url}/v2${route}`;

  beforeAll(async () => {
    hub = await startTestHub();
    const mlp = { inputSize: 4, hidden: 5, classes: 3, inputName: 'x', outputName: 'y' };
    for (const [owner, name, bytes] of [
      ['spec', 'mymodel', buildSpecExampleOnnx()],
      ['triton', 'simple', buildTritonSimpleOnnx()],
      ['alice', 'mlp', buildMlpOnnx({ ...mlp, weights: defaultMlpWeights(mlp, 3) })],
    ] as const) {
      const { task } = await publishAndWait(hub.url, onnxMetadata(owner, name), [{ name: `${name}.onnx`, bytes }]);
      expect(task.status, JSON.stringify(task)).toBe('SUCCEEDED');
    }
  });
  afterAll(async () => {
    await hub?.stop();
  });

  it('answers server metadata at /v2/ (as the OpenAPI document writes it) exactly as at /v2', async () => {
    const plain = await fetch(v2(''));
    const slash = await fetch(v2('/'));
    expect(slash.status).toBe(200);
    const body = await slash.json();
    expect(body).toEqual(await plain.json());
    expect(body).toMatchObject({ name: 'modelhub', extensions: expect.arrayContaining(['binary_tensor_data', 'model_repository']) });
  });

  it("runs KServe's own inference request example, and refuses it as published (one BOOL for shape [3])", async () => {
    const example = fixture('kserve-inference-request.json');
    expectV2Error(await sendJson(v2('/models/spec.mymodel/infer'), example), 400, /input1.*needs 3 elements/, 'the example as published');

    example.inputs[1].data = [true, false, true];
    const reply = await sendJson(v2('/models/spec.mymodel/infer'), example);
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    expect(reply.body).toMatchObject({ model_name: 'spec.mymodel', id: '42' });
    expect(reply.body.outputs).toEqual([{ name: 'output0', datatype: 'FP32', shape: [3, 2], data: specExampleOutput([1, 2, 3, 4], [true, false, true]) }]);
  });

  it("runs Triton's binary tensor data example: binary inputs in, the binary output it asks for out", async () => {
    const input0 = Buffer.from(Uint32Array.from([5, 6, 7, 8]).buffer);
    const input1 = Buffer.from([0, 1, 1]);
    const { body, headerLength } = binaryBody(fixture('triton-binary-request-header.json'), input0, input1);
    const reply = await send(v2('/models/spec.mymodel/infer'), body, { 'content-type': 'application/octet-stream', 'inference-header-content-length': headerLength });
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    expect(reply.headers.get('content-type')).toBe('application/octet-stream');
    expect(reply.body.outputs).toEqual([{ name: 'output0', datatype: 'FP32', shape: [3, 2], parameters: { binary_data_size: 24 } }]);
    expect(float32s(binaryOutputs(reply).output0!)).toEqual(specExampleOutput([5, 6, 7, 8], [false, true, true]));
  });

  it("takes binary and JSON bodies without a Content-Type, as Triton's Python client sends them", async () => {
    // tritonclient.http: the JSON, then INPUT0 and INPUT1 as raw little-endian INT32, with only
    // Inference-Header-Content-Length; outputs asked for as binary (its default).
    const header = {
      inputs: simpleInputs.map(({ data, ...input }) => ({ ...input, parameters: { binary_data_size: data.length * 4 } })),
      outputs: [{ name: 'OUTPUT0', parameters: { binary_data: true } }, { name: 'OUTPUT1', parameters: { binary_data: true } }],
    };
    const { body, headerLength } = binaryBody(header, Buffer.from(Int32Array.from(INPUT0).buffer), Buffer.from(Int32Array.from(INPUT1).buffer));
    const bare = await send(v2('/models/triton.simple/infer'), body, { 'inference-header-content-length': headerLength });
    expect(bare.status, JSON.stringify(bare.body)).toBe(200);
    const outputs = binaryOutputs(bare);
    expect(int32s(outputs.OUTPUT0!)).toEqual(SUM);
    expect(int32s(outputs.OUTPUT1!)).toEqual(DIFFERENCE);

    // Without binary inputs the client sends the JSON alone, still with no Content-Type.
    const json = await send(v2('/models/triton.simple/infer'), JSON.stringify({ inputs: simpleInputs }));
    expect(json.status, JSON.stringify(json.body)).toBe(200);
    expect(json.body.outputs.map((o: { name: string; data: number[] }) => [o.name, o.data])).toEqual([['OUTPUT0', SUM], ['OUTPUT1', DIFFERENCE]]);

    // Bodies declared as something else are still refused before they are read.
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      expectV2Error(await send(v2('/models/triton.simple/infer'), JSON.stringify({ inputs: simpleInputs }), { 'content-type': type }), 415, /media type/, type);
    }
    expectV2Error(await send(v2('/models/triton.simple/infer'), '{"inputs": ['), 400, /not JSON/, 'truncated JSON without a Content-Type');
  });

  it('lets an output\'s own binary_data override binary_data_output, either way', async () => {
    const infer = (body: unknown) => sendJson(v2('/models/triton.simple/infer'), body);
    const dataOf = (reply: Reply, name: string) => reply.body.outputs.find((o: { name: string }) => o.name === name);

    // binary_data_output for all, but OUTPUT1 asks for JSON.
    const mixed = await infer({ inputs: simpleInputs, parameters: { binary_data_output: true }, outputs: [{ name: 'OUTPUT0' }, { name: 'OUTPUT1', parameters: { binary_data: false } }] });
    expect(mixed.status, JSON.stringify(mixed.body)).toBe(200);
    expect(dataOf(mixed, 'OUTPUT0')).toMatchObject({ parameters: { binary_data_size: 64 } });
    expect(dataOf(mixed, 'OUTPUT0').data).toBeUndefined();
    expect(dataOf(mixed, 'OUTPUT1')).toMatchObject({ datatype: 'INT32', shape: [1, 16], data: DIFFERENCE });
    expect(Object.keys(binaryOutputs(mixed))).toEqual(['OUTPUT0']);
    expect(int32s(binaryOutputs(mixed).OUTPUT0!)).toEqual(SUM);

    // No request-level flag: OUTPUT1's own binary_data is enough.
    const one = await infer({ inputs: simpleInputs, outputs: [{ name: 'OUTPUT0' }, { name: 'OUTPUT1', parameters: { binary_data: true } }] });
    expect(one.status).toBe(200);
    expect(dataOf(one, 'OUTPUT0').data).toEqual(SUM);
    expect(int32s(binaryOutputs(one).OUTPUT1!)).toEqual(DIFFERENCE);

    // Every output asks for JSON: a plain JSON reply.
    const none = await infer({ inputs: simpleInputs, parameters: { binary_data_output: true }, outputs: [{ name: 'OUTPUT0', parameters: { binary_data: false } }, { name: 'OUTPUT1', parameters: { binary_data: false } }] });
    expect(none.status).toBe(200);
    expect(none.headers.get('inference-header-content-length')).toBeNull();
    expect(none.body.outputs.map((o: { data: number[] }) => o.data)).toEqual([SUM, DIFFERENCE]);

    expectV2Error(await infer({ inputs: simpleInputs, outputs: [{ name: 'OUTPUT0', parameters: { binary_data: 'yes' } }] }), 400, /binary_data/, 'binary_data not a boolean');
  });

  it('refuses unknown, duplicated and missing inputs and unknown outputs with 400 and the protocol error', async () => {
    const infer = (body: unknown) => sendJson(v2('/models/triton.simple/infer'), body);
    const [input0, input1] = simpleInputs as [(typeof simpleInputs)[number], (typeof simpleInputs)[number]];
    expectV2Error(await infer({ inputs: [input0, { ...input1, name: 'INPUT2' }] }), 400, /unknown input "INPUT2"/, 'unknown input name');
    expectV2Error(await infer({ inputs: [input0, input1, input0] }), 400, /"INPUT0" is given more than once/, 'duplicated input');
    expectV2Error(await infer({ inputs: [input0] }), 400, /missing input "INPUT1"/, 'missing input');
    expectV2Error(await infer({ inputs: simpleInputs, outputs: [{ name: 'OUTPUT0' }, { name: 'OUTPUT9' }] }), 400, /unknown output "OUTPUT9"/, 'unknown output');
    // A single-input model takes its input by its name too, not any name.
    expectV2Error(await sendJson(v2('/models/alice.mlp/infer'), { inputs: [{ name: 'features', shape: [1, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] }), 400, /unknown input "features"/, 'single input misnamed');
    // The binary extension's requests meet the same rules.
    const { body, headerLength } = binaryBody({ inputs: [{ name: 'INPUT0', shape: [1, 16], datatype: 'INT32', parameters: { binary_data_size: 64 } }] }, Buffer.from(Int32Array.from(INPUT0).buffer));
    expectV2Error(await send(v2('/models/triton.simple/infer'), body, { 'content-type': 'application/octet-stream', 'inference-header-content-length': headerLength }), 400, /missing input "INPUT1"/, 'binary, missing input');
    // Binary tensors cannot travel in a body declared as JSON: a 400 that says so, not a 500.
    expectV2Error(await send(v2('/models/triton.simple/infer'), JSON.stringify({ inputs: simpleInputs }), { 'content-type': 'application/json', 'inference-header-content-length': '10' }), 400, /application\/octet-stream/, 'binary header on a JSON body');
    // The good request still runs.
    expect((await infer({ inputs: simpleInputs, outputs: [{ name: 'OUTPUT1' }] })).body.outputs).toEqual([{ name: 'OUTPUT1', datatype: 'INT32', shape: [1, 16], data: DIFFERENCE }]);
  });

  it('refuses numbers beyond float64 (1e400) in JSON tensor data with 400, never running them as Infinity', async () => {
    const url = v2('/models/alice.mlp/infer');
    for (const literal of ['1e400', '-1e400']) {
      const text = `{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [0.5, ${literal}, 0.25, 1]}]}`;
      expectV2Error(await sendJson(url, text), 400, /not a finite number/, literal);
      // Nested data, and data in a binary request's JSON header, alike.
      const nested = `{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [[0.5, 2, 0.25, ${literal}]]}]}`;
      expectV2Error(await sendJson(url, nested), 400, /not a finite number/, `${literal} nested`);
      const header = Buffer.from(text);
      expectV2Error(await send(url, header, { 'inference-header-content-length': String(header.length) }), 400, /not a finite number/, `${literal} in a binary header`);
    }
    // Large finite numbers are data like any other.
    expect((await sendJson(url, '{"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [0.5, 1e30, 0.25, 1]}]}')).status).toBe(200);
  });

  it('implements the model repository extension: index, load (resident and pinned) and unload', async () => {
    const index = async (body?: unknown) => {
      const reply = body === undefined ? await send(v2('/repository/index'), undefined) : await sendJson(v2('/repository/index'), body);
      expect(reply.status, JSON.stringify(reply.body)).toBe(200);
      return reply.body as { name: string; version?: string; state: string; reason: string }[];
    };
    const stateOf = async (name: string) => (await index()).find((entry) => entry.name === name);
    const loaded = async (name: string) => ((await (await fetch(v2(`/models/${name}/ready`))).json()) as { loaded: boolean }).loaded;

    // The tests above ran every model, so all are resident: start from unloading them (200, no body, as Triton).
    for (const name of ['spec.mymodel', 'triton.simple', 'alice.mlp']) {
      const unload = await send(v2(`/repository/models/${name}/unload`), undefined);
      expect(unload.status, JSON.stringify(unload.body)).toBe(200);
      expect(unload.body).toBeUndefined();
    }
    expect((await index()).map((entry) => entry.name)).toEqual(['alice.mlp', 'spec.mymodel', 'triton.simple']);
    expect(await stateOf('triton.simple')).toEqual({ name: 'triton.simple', version: '1', state: 'UNAVAILABLE', reason: expect.stringMatching(/not loaded/) });
    expect(await index({ ready: true })).toEqual([]);

    // Load: resident at once, READY in the index, loaded in model readiness; an empty JSON body too.
    expect((await send(v2('/repository/models/triton.simple/load'), undefined)).status).toBe(200);
    expect((await sendJson(v2('/repository/models/spec.mymodel/load'), {})).status).toBe(200);
    expect(await stateOf('triton.simple')).toEqual({ name: 'triton.simple', version: '1', state: 'READY', reason: '' });
    expect((await index({ ready: true })).map((entry) => entry.name)).toEqual(['spec.mymodel', 'triton.simple']);
    expect(await loaded('triton.simple')).toBe(true);

    // Unload: gone from residency; the next request loads it again on demand.
    expect((await send(v2('/repository/models/triton.simple/unload'), JSON.stringify({ parameters: { unload_dependents: false } }))).status).toBe(200);
    expect((await stateOf('triton.simple'))!.state).toBe('UNAVAILABLE');
    expect(await loaded('triton.simple')).toBe(false);
    const again = await sendJson(v2('/models/triton.simple/infer'), { inputs: simpleInputs });
    expect(again.status).toBe(200);
    expect((await stateOf('triton.simple'))!.state).toBe('READY');

    // Errors in the protocol's shape.
    expectV2Error(await sendJson(v2('/repository/models/nobody.nothing/load'), {}), 404, /nobody\/nothing/, 'load of an unknown model');
    expectV2Error(await sendJson(v2('/repository/models/spec.mymodel/load'), { parameters: { config: '{}' } }), 400, /config/, 'load with a config');
    expectV2Error(await sendJson(v2('/repository/index'), { ready: 'yes' }), 400, /ready/, 'index with ready not a boolean');
    expectV2Error(await send(v2('/repository/index'), 'ready', { 'content-type': 'text/plain' }), 415, /media type/, 'index as text');
  });
});
