/**
 * A hostile but realistic client against one real hub: every kind of bad input gets a 4xx with the
 * error body of API.md and a stable `MODELHUB_*` code (or the Open Inference Protocol's own error),
 * never a 500, a hang or a crash; nothing half-published becomes visible; and the hub still gives
 * the right numbers afterwards (compared with onnxruntime-node run here).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import * as ort from 'onnxruntime-node';
import { chromium } from 'playwright-core';
import * as tar from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAddOnnx, buildMlpOnnx, defaultMlpWeights } from '../../builder/demo/onnx-writer.ts';
import { HubClient } from '../../sdk/hub-client.ts';
import { PythonFunction } from '../../sdk/models/python-function.ts';
import { buildFloat16CastOnnx } from '../fixtures/onnx-builders.ts';
import { startTestHub, type TestHub } from '../helpers/test-hub.ts';
import { zipOf } from '../helpers/zip-bytes.ts';
import { onnxMetadata, publishAndWait, publishRaw, waitForTask } from '../helpers/hub-http.ts';

const MLP_SPEC = { inputSize: 8, hidden: 6, classes: 3, inputName: 'features', outputName: 'scores' };
const mlpBytes = buildMlpOnnx({ ...MLP_SPEC, weights: defaultMlpWeights(MLP_SPEC, 3) });
const addBytes = buildAddOnnx({ size: 3 });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-robustness-'));
const REQUEST_TIMEOUT_MS = 30_000;

interface Reply {
  status: number;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- replies are read field by field, as the tests go
  body: any;
  headers: http.IncomingHttpHeaders;
}

const parse = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
};

/** A request on the wire as written: no URL normalisation, any header bytes, any body. */
function raw(base: string, method: string, target: string, options: { headers?: Record<string, string | number>; body?: string | Buffer } = {}): Promise<Reply> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    // A fresh connection each time: a refused request may close its socket.
    const request = http.request({ host: hostname, port, method, path: target, headers: options.headers, timeout: REQUEST_TIMEOUT_MS, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: response.statusCode!, text, body: parse(text), headers: response.headers });
      });
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error(`${method} ${target} hung for ${REQUEST_TIMEOUT_MS} ms`)));
    request.on('error', reject);
    request.end(options.body);
  });
}

/** Promise a body of `length` bytes, send a little of it, and wait for the answer. */
function promised(base: string, target: string, length: number, type: string): Promise<Reply> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const request = http.request({ host: hostname, port, method: 'POST', path: target, agent: false, timeout: REQUEST_TIMEOUT_MS, headers: { 'content-type': type, 'content-length': length } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: response.statusCode!, text, body: parse(text), headers: response.headers });
        request.destroy();
      });
    });
    request.on('timeout', () => request.destroy(new Error(`POST ${target} hung for ${REQUEST_TIMEOUT_MS} ms`)));
    request.on('error', reject);
    request.write(Buffer.alloc(1024, 0x20));
  });
}

const json = (base: string, method: string, target: string, body: unknown, headers: Record<string, string> = {}) =>
  raw(base, method, target, { headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });

/** The hub API's error body with a stable code and a 4xx status (one of `statuses` when given). */
function expectHubError(reply: Reply, statuses: number | number[], code?: string | RegExp, what = ''): void {
  const context = `${what} → ${reply.status} ${reply.text.slice(0, 300)}`;
  const allowed = Array.isArray(statuses) ? statuses : [statuses];
  expect(allowed, context).toContain(reply.status);
  expect(reply.body, context).toMatchObject({ error: { code: expect.stringMatching(/^MODELHUB_[A-Z_]+$/), message: expect.any(String) } });
  if (code instanceof RegExp) expect(reply.body.error.code, context).toMatch(code);
  else if (code) expect(reply.body.error.code, context).toBe(code);
}

/** The Open Inference Protocol's `{"error": "<message>"}` with a 4xx status. */
function expectV2Error(reply: Reply, statuses: number | number[], what = ''): void {
  const context = `${what} → ${reply.status} ${reply.text.slice(0, 300)}`;
  const allowed = Array.isArray(statuses) ? statuses : [statuses];
  expect(allowed, context).toContain(reply.status);
  expect(reply.body, context).toEqual({ error: expect.any(String) });
}

interface FormPart {
  name: string;
  value: string | Buffer;
  filename?: string;
  type?: string;
}

/** A multipart/form-data body written as given: any part header, any file name bytes. */
function form(parts: FormPart[], boundary = 'robust-boundary') {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    const disposition = `form-data; name="${part.name}"${part.filename === undefined ? '' : `; filename="${part.filename}"`}`;
    chunks.push(Buffer.from(`--${boundary}\r\ncontent-disposition: ${disposition}\r\n${part.type ? `content-type: ${part.type}\r\n` : ''}\r\n`), Buffer.from(part.value), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, body: Buffer.concat(chunks) };
}

/** One tar entry of `size` zero bytes, gzipped: a tiny upload that unpacks to `size` bytes. */
function tarGzBomb(size: number): Buffer {
  const header = new tar.Header({ path: 'model.onnx', mode: 0o644, size, mtime: new Date(0), type: 'File' });
  header.encode();
  const padded = Math.ceil(size / 512) * 512;
  return zlib.gzipSync(Buffer.concat([header.block!, Buffer.alloc(padded + 1024)]), { level: 1 });
}

describe('robustness: bad input never crashes the hub or loses data', () => {
  let hub: TestHub;
  let reference: number[][];
  const goodInputs = [Array.from({ length: 8 }, (_, i) => i / 8 - 0.3), Array.from({ length: 8 }, (_, i) => Math.cos(i))];

  /** The hub is alive and still gives onnxruntime's numbers for the MLP. */
  async function expectServing(): Promise<void> {
    expect(hub.process.exitCode, hub.output()).toBeNull();
    const run = await json(hub.url, 'POST', '/api/v1/servables/robust/mlp/run', { inputs: goodInputs, parameters: { nonce: Math.random() } });
    expect(run.status, run.text).toBe(200);
    const flat = (run.body.output as number[][]).flat();
    reference.flat().forEach((value, i) => expect(Math.abs(value - flat[i]!)).toBeLessThan(1e-6));
  }

  beforeAll(async () => {
    hub = await startTestHub({ env: { MODELHUB_MAX_UPLOAD_MB: '16' } });
    for (const [name, bytes] of [['mlp', mlpBytes], ['add', addBytes]] as const) {
      const { task } = await publishAndWait(hub.url, onnxMetadata('robust', name), [{ name: `${name}.onnx`, bytes }]);
      expect(task.status, JSON.stringify(task)).toBe('SUCCEEDED');
    }
    const session = await ort.InferenceSession.create(mlpBytes);
    const out = await session.run({ features: new ort.Tensor('float32', Float32Array.from(goodInputs.flat()), [2, 8]) });
    const scores = Array.from(out.scores!.data as Float32Array);
    reference = [scores.slice(0, 3), scores.slice(3)];
    await session.release();
  });
  afterAll(async () => {
    await hub?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('refuses malformed, empty, mistyped and oversized JSON bodies', async () => {
    const run = '/api/v1/servables/robust/mlp/run';
    expectHubError(await json(hub.url, 'POST', run, '{"inputs": [[1,2'), 400, 'MODELHUB_BAD_REQUEST', 'truncated JSON');
    expectHubError(await json(hub.url, 'POST', run, '{inputs: 1}'), 400, 'MODELHUB_BAD_REQUEST', 'not JSON');
    expectHubError(await json(hub.url, 'POST', run, ''), 400, 'MODELHUB_BAD_REQUEST', 'empty body');
    expectHubError(await json(hub.url, 'POST', run, '{"inputs": [[NaN, Infinity]]}'), 400, 'MODELHUB_BAD_REQUEST', 'NaN literals');
    expectHubError(await json(hub.url, 'POST', run, '{"__proto__": {"x": 1}, "inputs": []}'), 400, 'MODELHUB_BAD_REQUEST', 'prototype poisoning');
    for (const body of ['null', '[]', '"inputs"', '42', 'true']) {
      expectHubError(await json(hub.url, 'POST', run, body), 400, 'MODELHUB_BAD_REQUEST', `body ${body}`);
    }
    expectHubError(await json(hub.url, 'POST', run, { inputs: goodInputs, extra: 1 }), 400, 'MODELHUB_BAD_REQUEST', 'unknown field');
    expectHubError(await json(hub.url, 'POST', run, { inputs: goodInputs, parameters: [1] }), 400, 'MODELHUB_BAD_REQUEST', 'parameters a list');
    expectHubError(await json(hub.url, 'POST', run, { inputs: goodInputs, asynchronous: 'maybe' }), 400, 'MODELHUB_BAD_REQUEST', 'asynchronous a word');
    expectHubError(await json(hub.url, 'POST', run, { inputs: goodInputs, method: 'nope' }), [400, 404, 422], undefined, 'unknown method');
    for (const type of ['text/plain', 'application/xml', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonx']) {
      expectHubError(await raw(hub.url, 'POST', run, { headers: { 'content-type': type }, body: JSON.stringify({ inputs: goodInputs }) }), [400, 415], undefined, type);
    }
    expectHubError(await raw(hub.url, 'POST', run, { body: JSON.stringify({ inputs: goodInputs }) }), [400, 415], undefined, 'no content type');
    // Over the 64 MB JSON body limit: refused from the Content-Length before the body is read.
    expectHubError(await promised(hub.url, run, 65 * 1024 * 1024, 'application/json'), 413, 'MODELHUB_PAYLOAD_TOO_LARGE', '65 MB body');
    // Sharing and withdrawing with bodies that say nothing or nonsense.
    for (const body of ['{}', '{"visibility": "secret"}', '{"shared_with": {"users": [{}]}}', '{"shared_with": 5}', '[]', '{"visibility": null}']) {
      expectHubError(await json(hub.url, 'PATCH', '/api/v1/servables/robust/mlp', body), 400, 'MODELHUB_BAD_REQUEST', `PATCH ${body}`);
    }
    expectHubError(await json(hub.url, 'DELETE', '/api/v1/servables/robust/nothing', '{"reason": '), 400, 'MODELHUB_BAD_REQUEST', 'DELETE with cut JSON');
    expectHubError(await raw(hub.url, 'DELETE', `/api/v1/servables/robust/nothing?reason=${'r'.repeat(1001)}`), 400, 'MODELHUB_BAD_REQUEST', 'DELETE with a long reason');
    for (const body of ['{"reason": 5}', `{"reason": "${'r'.repeat(1001)}"}`, '[]']) {
      expectHubError(await json(hub.url, 'DELETE', '/api/v1/servables/robust/mlp', body), 400, 'MODELHUB_BAD_REQUEST', `DELETE ${body.slice(0, 20)}`);
    }
    expectHubError(await raw(hub.url, 'GET', `/api/v1/tasks/${'t'.repeat(101)}`), 400, 'MODELHUB_BAD_REQUEST', 'long task id');
    // Deadline parameters that are not numbers are ignored, not fatal.
    for (const deadline of ['abc', '-1', '1e400', '']) {
      const reply = await json(hub.url, 'POST', run, { inputs: goodInputs, parameters: { nonce: deadline } }, { 'x-modelhub-deadline-ms': deadline });
      expect(reply.status, `${deadline}: ${reply.text}`).toBe(200);
    }
    await expectServing();
  });

  it('refuses hostile tensors: deep nesting, enormous arrays, NaN, strings, nulls and booleans', async () => {
    const run = '/api/v1/servables/robust/mlp/run';
    const deep = (levels: number, leaf = '0') => `${'['.repeat(levels)}${leaf}${']'.repeat(levels)}`;
    expectHubError(await json(hub.url, 'POST', run, `{"inputs": ${deep(100_000)}}`), [400, 422], undefined, '100k nested arrays');
    expectHubError(await json(hub.url, 'POST', run, `{"inputs": ${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}`), [400, 422], undefined, '100k nested objects');
    expectHubError(await json(hub.url, 'POST', run, `{"inputs": ${JSON.stringify(goodInputs)}, "parameters": {"p": ${deep(5_000)}}}`), 400, 'MODELHUB_BAD_REQUEST', 'deep parameters');
    expectHubError(await json(hub.url, 'POST', '/api/v1/servables/robust/add/run', `{"inputs": {"a": ${deep(100_000)}, "b": [[1,2,3]]}}`), [400, 422], undefined, 'deep named input');
    // A million numbers in the wrong shape, a wide ragged array, and 2 million right-shaped numbers.
    expectHubError(await json(hub.url, 'POST', run, { inputs: new Array(1_000_000).fill(0.5) }), 422, 'MODELHUB_INVALID_INPUTS', 'flat million');
    expectHubError(await json(hub.url, 'POST', run, { inputs: [Array(8).fill(0), Array(7).fill(0)] }), 422, 'MODELHUB_INVALID_INPUTS', 'ragged');
    expectHubError(await json(hub.url, 'POST', run, { inputs: [Array(8).fill(0), [[0, 0, 0, 0, 0, 0, 0, 0]]] }), 422, 'MODELHUB_INVALID_INPUTS', 'deeper row');
    const big = await json(hub.url, 'POST', run, { inputs: Array.from({ length: 250_000 }, () => goodInputs[0]) });
    expect(big.status, big.text.slice(0, 300)).toBe(200);
    expect(big.body.output).toHaveLength(250_000);
    for (const bad of ['x', null, true, {}, [], '1']) {
      const row = Array<unknown>(8).fill(0.25);
      row[3] = bad;
      const reply = await json(hub.url, 'POST', run, { inputs: [row] });
      expectHubError(reply, 422, 'MODELHUB_INVALID_INPUTS', `element ${JSON.stringify(bad)}`);
      expect(reply.body.error.details?.input, reply.text).toBe('features');
    }
    for (const inputs of [null, 'x', 3, true, {}, [], [[]], { features: goodInputs }]) {
      expectHubError(await json(hub.url, 'POST', run, { inputs }), 422, 'MODELHUB_INVALID_INPUTS', `inputs ${JSON.stringify(inputs)}`);
    }
    expectHubError(await json(hub.url, 'POST', '/api/v1/servables/robust/add/run', { inputs: { a: [[1, 2, 3]], b: [[1, 2, 3]], c: [[1]] } }), 422, 'MODELHUB_INVALID_INPUTS', 'unknown named input');
    expectHubError(await json(hub.url, 'POST', '/api/v1/servables/robust/add/run', { inputs: { a: [[1, 2, 3]] } }), 422, 'MODELHUB_INVALID_INPUTS', 'missing named input');
    // Batches of 1 and 2 broadcast, as onnxruntime does: a right answer, not an error.
    const broadcast = await json(hub.url, 'POST', '/api/v1/servables/robust/add/run', { inputs: { a: [[1, 2, 3]], b: [[1, 2, 3], [4, 5, 6]] } });
    expect(broadcast.status, broadcast.text).toBe(200);
    expect(broadcast.body.output).toEqual([[2, 4, 6], [5, 7, 9]]);
    // Both inputs name their first dimension "batch" in the model: 2 and 3 cannot both be it.
    expectHubError(await json(hub.url, 'POST', '/api/v1/servables/robust/add/run', { inputs: { a: [[1, 2, 3], [1, 2, 3]], b: [[1, 2, 3], [1, 2, 3], [1, 2, 3]] } }), [422], /^MODELHUB_INVALID_INPUTS$/, 'batches that do not broadcast');
    // JSON has no NaN or Infinity, but 1e400 parses to Infinity: refused, naming the input (issue 19).
    const infinite = await json(hub.url, 'POST', run, `{"inputs": [[1e400, 0, 0, 0, 0, 0, 0, 0]]}`);
    expectHubError(infinite, 422, 'MODELHUB_INVALID_INPUTS', '1e400');
    expect(infinite.body.error.details?.input, infinite.text).toBe('features');
    await expectServing();
  });

  it('refuses odd names, versions and ids in every path parameter', async () => {
    const odd = ['..', '%2e%2e', '%2E%2E%2F%2E%2E', 'ünïcödé', '%F0%9F%92%A9', 'a'.repeat(500), '%00', '%ff', '%', 'A', '-x', 'x%20y', "x'y", 'x"y', '%3Cscript%3E', 'CON', '.', '%2f'];
    const versions = ['0', '-1', '1.5', '1e3', 'NaN', '99999999999999999999', '0x10', 'latest', '%00', '%ff', '1e400', 'Infinity', '1%2F..'];
    const servableRoutes = (owner: string, name: string) => [
      ['GET', `/api/v1/servables/${owner}/${name}`],
      ['GET', `/api/v1/servables/${owner}/${name}/versions`],
      ['GET', `/api/v1/servables/${owner}/${name}/citation`],
      ['POST', `/api/v1/servables/${owner}/${name}/run`],
      ['DELETE', `/api/v1/servables/${owner}/${name}`],
      ['PATCH', `/api/v1/servables/${owner}/${name}`],
      ['GET', `/actions/servables/${owner}/${name}/`],
      ['POST', `/actions/servables/${owner}/${name}/run`],
    ];
    const hubRoutes: string[][] = [];
    for (const value of odd) {
      hubRoutes.push(...servableRoutes(value, 'mlp'), ...servableRoutes('robust', value));
      hubRoutes.push(['GET', `/api/v1/tasks/${value}`], ['GET', `/api/v1/identifiers/${value}`], ['DELETE', `/api/v1/tokens/${value}`]);
      hubRoutes.push(['GET', `/actions/inference/${value}/status`], ['GET', `/actions/inference/actions/${value}/log`], ['POST', `/actions/inference/${value}/cancel`]);
    }
    for (const v of versions) {
      hubRoutes.push(['GET', `/api/v1/servables/robust/mlp/versions/${v}`], ['GET', `/api/v1/servables/robust/mlp/versions/${v}/citation`]);
      hubRoutes.push(['POST', `/api/v1/servables/robust/mlp/versions/${v}/run`], ['DELETE', `/api/v1/servables/robust/mlp/versions/${v}`]);
    }
    for (const [method, target] of hubRoutes) {
      const body = method === 'GET' || method === 'DELETE' ? undefined : JSON.stringify(target!.includes('actions') ? { request_id: 'r', body: {} } : method === 'PATCH' ? { visibility: 'public' } : { inputs: goodInputs });
      const reply = await raw(hub.url, method!, target!, { headers: body ? { 'content-type': 'application/json' } : {}, body });
      expectHubError(reply, [400, 401, 404, 405], undefined, `${method} ${target!.slice(0, 120)}`);
    }
    const v2Routes: string[][] = [];
    for (const value of [...odd, 'robust.', '.mlp', 'robust..mlp', 'robust.mlp.x']) {
      v2Routes.push(['GET', `/v2/models/${value}`], ['GET', `/v2/models/${value}/ready`], ['POST', `/v2/models/${value}/infer`]);
    }
    for (const v of versions) v2Routes.push(['GET', `/v2/models/robust.mlp/versions/${v}`], ['POST', `/v2/models/robust.mlp/versions/${v}/infer`]);
    for (const [method, target] of v2Routes) {
      const body = method === 'POST' ? JSON.stringify({ inputs: [{ name: 'features', shape: [1, 8], datatype: 'FP32', data: goodInputs[0] }] }) : undefined;
      const reply = await raw(hub.url, method!, target!, { headers: body ? { 'content-type': 'application/json' } : {}, body });
      // 1e3 and 0x10 are numbers, so they name (missing) versions; everything else is refused.
      expectV2Error(reply, [400, 404], `${method} ${target!.slice(0, 120)}`);
    }
    await expectServing();
  });

  it('refuses hostile search queries and identifiers with odd encodings', async () => {
    for (const q of ['"', '"unbalanced', '*', 'NEAR(a b', 'a AND OR b', '-', 'title:x', '^x', '(((', ')', 'x"*"y', '\\', "'; DROP TABLE x; --", 'ünïcödé 💩', '%', '\u0000', 'a'.repeat(500)]) {
      const reply = await raw(hub.url, 'GET', `/api/v1/search?q=${encodeURIComponent(q)}`);
      expect(reply.status, `q=${q}: ${reply.text.slice(0, 200)}`).toBe(200);
      expect(reply.body).toMatchObject({ total: expect.any(Number), hits: expect.any(Array) });
    }
    for (const query of ['q=' + 'a'.repeat(501), 'offset=100001', 'offset=-1', 'limit=-1', 'limit=abc', 'limit=501', 'offset=1e400', 'limit=1e400', 'offset=Infinity', 'owner=' + 'x'.repeat(101)]) {
      expectHubError(await raw(hub.url, 'GET', `/api/v1/search?${query}`), 400, undefined, query.slice(0, 40));
    }
    // Percent signs that decode to nothing are searched for as the text they are.
    for (const query of ['q=%ff', 'q=%', 'q=%%', 'q=%u0041']) expect((await raw(hub.url, 'GET', `/api/v1/search?${query}`)).status, query).toBe(200);
    const far = await raw(hub.url, 'GET', '/api/v1/search?offset=100000&limit=500');
    expect(far.status, far.text).toBe(200);
    expect(far.body.hits).toEqual([]);
    for (const identifier of ['%25', '%2525', '%25E0%25A4%25A', '%E0%A4%A', 'modelhub%3Arobust%2Fmlp%2Fv1%00', '%00', 'x'.repeat(501), 'modelhub:robust/mlp/v1%25', '..%2F..%2Fetc%2Fpasswd', '%C0%AE%C0%AE']) {
      expectHubError(await raw(hub.url, 'GET', `/api/v1/identifiers/${identifier}`), [400, 404], undefined, `identifier ${identifier}`);
      const landing = await raw(hub.url, 'GET', `/id/${identifier}`, { headers: { accept: 'application/json' } });
      expectHubError(landing, [400, 404], undefined, `landing ${identifier}`);
    }
    const resolved = await raw(hub.url, 'GET', `/api/v1/identifiers/${encodeURIComponent('modelhub:robust/mlp/v1')}`);
    expect(resolved.status, resolved.text).toBe(200);
    await expectServing();
  });

  it('refuses garbage tokens with 401 everywhere, the protocol routes included', async () => {
    const garbage = ['Bearer', 'Bearer ', 'Bearer a b', 'Basic dXNlcjpwYXNz', 'bearer mh_' + 'x'.repeat(10_000), 'Bearer \u00ff\u00fe', 'Bearer null', 'Bearer undefined', 'Bearer ' + '../'.repeat(50), 'Token x'];
    for (const authorization of garbage) {
      const headers = { authorization: Buffer.from(authorization, 'latin1').toString('latin1') };
      expectHubError(await raw(hub.url, 'GET', '/api/v1/servables', { headers }), 401, 'MODELHUB_UNAUTHENTICATED', authorization.slice(0, 30));
      expectHubError(await raw(hub.url, 'POST', '/api/v1/tokens', { headers: { ...headers, 'content-type': 'application/json' }, body: '{}' }), [400, 401], undefined, `tokens ${authorization.slice(0, 30)}`);
      expectV2Error(await raw(hub.url, 'GET', '/v2/models/robust.mlp', { headers }), 401, `v2 ${authorization.slice(0, 30)}`);
      expectHubError(await raw(hub.url, 'GET', '/actions/inference/', { headers }), 401, 'MODELHUB_UNAUTHENTICATED', `actions ${authorization.slice(0, 30)}`);
    }
    expectHubError(await json(hub.url, 'POST', '/api/v1/tokens', { user: '../admin', scopes: ['admin'] }), [400, 401], undefined, 'anonymous token creation');
    await expectServing();
  });

  it('refuses Action Provider requests with missing or hostile fields', async () => {
    const base = '/actions/inference';
    const bodies: [string, unknown][] = [
      ['empty', {}],
      ['no body', { request_id: 'a1' }],
      ['no request_id', { body: { servable: 'robust/mlp', inputs: goodInputs } }],
      ['body a list', { request_id: 'a2', body: [1] }],
      ['no servable', { request_id: 'a3', body: { inputs: goodInputs } }],
      ['traversal servable', { request_id: 'a4', body: { servable: '../../etc/passwd', inputs: goodInputs } }],
      ['unknown field', { request_id: 'a5', body: { servable: 'robust/mlp', inputs: goodInputs, evil: 1 } }],
      ['version 0', { request_id: 'a6', body: { servable: 'robust/mlp', version: 0, inputs: goodInputs } }],
      ['bad deadline', { request_id: 'a7', body: { servable: 'robust/mlp', inputs: goodInputs }, deadline: 'tomorrow' }],
      ['past deadline', { request_id: 'a8', body: { servable: 'robust/mlp', inputs: goodInputs }, deadline: '2000-01-01T00:00:00Z' }],
      ['bad release_after', { request_id: 'a9', body: { servable: 'robust/mlp', inputs: goodInputs }, release_after: 'P99999Y' }],
      ['garbage release_after', { request_id: 'a10', body: { servable: 'robust/mlp', inputs: goodInputs }, release_after: 'soon' }],
      ['bad monitor_by', { request_id: 'a11', body: { servable: 'robust/mlp', inputs: goodInputs }, monitor_by: ['nobody'] }],
      ['huge request_id', { request_id: 'r'.repeat(10_000), body: { servable: 'robust/mlp', inputs: goodInputs } }],
      ['label too long', { request_id: 'a12', body: { servable: 'robust/mlp', inputs: goodInputs }, label: 'l'.repeat(1000) }],
    ];
    for (const [what, body] of bodies) {
      expectHubError(await json(hub.url, 'POST', `${base}/run`, body), 400, 'MODELHUB_BAD_REQUEST', what);
      expectHubError(await json(hub.url, 'POST', `${base}/actions`, body), 400, 'MODELHUB_BAD_REQUEST', `${what} (/actions)`);
    }
    expectHubError(await json(hub.url, 'POST', `${base}/run`, '{"request_id": "x", "body": {'), 400, 'MODELHUB_BAD_REQUEST', 'truncated');
    expectHubError(await json(hub.url, 'POST', `${base}/run`, `{"request_id": "deep", "body": {"servable": "robust/mlp", "inputs": ${'['.repeat(100_000)}${']'.repeat(100_000)}}}`), [400, 422], undefined, 'deep action inputs');
    expectHubError(await json(hub.url, 'POST', `${base}/run`, { request_id: 'shape', body: { servable: 'robust/mlp', inputs: [[1, 2]] } }), [400, 422], undefined, 'wrong shape');
    expectHubError(await json(hub.url, 'POST', '/actions/servables/robust/mlp/run', { request_id: 's1', body: { inputs: 'x' } }), [400, 422], undefined, 'per-servable wrong inputs');
    expectHubError(await json(hub.url, 'POST', '/actions/servables/robust/nothing/run', { request_id: 's2', body: { inputs: goodInputs } }), 404, undefined, 'unknown servable');
    for (const query of ['limit=0', 'limit=abc', 'limit=100000', 'marker=abc', 'marker=-1']) {
      expectHubError(await raw(hub.url, 'GET', `${base}/nope/log?${query}`), [400, 404], undefined, `log ${query}`);
    }
    // A good action still works, and the same request_id with another body is refused.
    const good = await json(hub.url, 'POST', `${base}/run`, { request_id: 'good-1', body: { servable: 'robust/mlp', inputs: goodInputs } });
    expect([200, 202], good.text).toContain(good.status);
    expectHubError(await json(hub.url, 'POST', `${base}/run`, { request_id: 'good-1', body: { servable: 'robust/add', inputs: { a: [[1, 2, 3]], b: [[1, 2, 3]] } } }), [400, 409], undefined, 'reused request_id');
    await expectServing();
  });

  it('refuses path traversal on the web routes', async () => {
    const packageJson = fs.readFileSync(path.resolve('package.json'), 'utf8');
    for (const target of [
      '/assets/../../package.json',
      '/assets/../../../package.json',
      '/assets/%2e%2e/%2e%2e/package.json',
      '/assets/%2e%2e%2f%2e%2e%2fpackage.json',
      '/assets/..%2f..%2f..%2fpackage.json',
      '/assets/....//....//package.json',
      '/assets/%252e%252e/package.json',
      '/assets/..\\..\\package.json',
      '/assets/%c0%ae%c0%ae/package.json',
      '/assets/%00',
      '/assets/%',
      '/assets/' + 'a'.repeat(5000),
      '/models/../../package.json',
      '/models/%2e%2e/%2e%2e',
      '/tasks/%2e%2e%2fpackage.json',
      '/%2e%2e/package.json',
      '/../package.json',
      '//etc/passwd',
    ]) {
      const reply = await raw(hub.url, 'GET', target);
      // A task page is the same HTML shell for any id (its script asks the API, which says 404).
      if (target.startsWith('/tasks/') && reply.status === 200) expect(reply.headers['content-type']).toMatch(/^text\/html/);
      else expect(reply.status, `${target} → ${reply.status}`).toBeGreaterThanOrEqual(400);
      expect(reply.status, `${target} → ${reply.status} ${reply.text.slice(0, 200)}`).toBeLessThan(500);
      expect(reply.text).not.toContain('"devDependencies"');
      expect(reply.text).not.toBe(packageJson);
      expect(reply.text).not.toContain('root:x:0:0');
    }
    await expectServing();
  });

  it('refuses bad v2 JSON and binary inference requests with the protocol error', async () => {
    const infer = '/v2/models/robust.mlp/infer';
    const input = (over: Record<string, unknown>) => ({ inputs: [{ name: 'features', shape: [1, 8], datatype: 'FP32', data: goodInputs[0], ...over }] });
    const cases: [string, unknown, number | number[]][] = [
      ['unknown datatype', input({ datatype: 'FP128' }), 400],
      ['lowercase datatype', input({ datatype: 'fp32' }), 400],
      ['negative dim', input({ shape: [-1, 8] }), 400],
      ['fractional dim', input({ shape: [1.5, 8] }), 400],
      ['count mismatch', input({ shape: [2, 8] }), 400],
      ['huge shape', input({ shape: [1e9, 1e9] }), 400],
      ['huge zero-size shape', input({ shape: [4_294_967_295, 0], data: [] }), [400, 422]],
      ['too large a zero-size shape', input({ shape: [4_294_967_296, 0], data: [] }), [400, 422]],
      ['rank 100k', input({ shape: Array(100_000).fill(1), data: [1] }), [400, 422]],
      ['strings', input({ data: Array(8).fill('x') }), [400, 422]],
      ['nulls', input({ data: Array(8).fill(null) }), [400, 422]],
      ['booleans', input({ data: Array(8).fill(true) }), [400, 422]],
      ['objects', input({ data: Array(8).fill({}) }), [400, 422]],
      ['data a string', input({ data: 'abc' }), [400, 422]],
      ['no inputs', { inputs: [] }, 400],
      ['inputs an object', { inputs: {} }, 400],
      ['no name', { inputs: [{ shape: [1, 8], datatype: 'FP32', data: goodInputs[0] }] }, 400],
      ['wrong datatype', input({ datatype: 'INT64', data: Array(8).fill(1) }), 422],
      ['unknown extra input', { inputs: [input({}).inputs[0], { name: 'other', shape: [1], datatype: 'FP32', data: [1] }] }, [400, 422]],
      ['parameters a list', { ...input({}), parameters: [] }, 400],
    ];
    for (const [what, body, statuses] of cases) expectV2Error(await json(hub.url, 'POST', infer, body), statuses, what);
    expectV2Error(await json(hub.url, 'POST', infer, '{"inputs": ['), 400, 'truncated JSON');
    expectV2Error(await json(hub.url, 'POST', infer, ''), 400, 'empty JSON');
    expectV2Error(await raw(hub.url, 'POST', infer, { headers: { 'content-type': 'text/plain' }, body: 'hello' }), [400, 415], 'text body');
    for (const levels of [300, 10_000, 100_000]) {
      const deeper = `{"inputs": [{"name": "features", "shape": [1, 8], "datatype": "FP32", "data": ${'['.repeat(levels)}1${']'.repeat(levels)}}]}`;
      expectV2Error(await json(hub.url, 'POST', infer, deeper), 400, `${levels} nested data`);
    }

    const binary = (header: unknown, tail: Buffer, headerLength?: number | string) => {
      const head = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
      return raw(hub.url, 'POST', infer, {
        headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(headerLength ?? head.length) },
        body: Buffer.concat([head, tail]),
      });
    };
    const floats = Buffer.from(Float32Array.from(goodInputs[0]!).buffer);
    const fp32 = (size: number, over: Record<string, unknown> = {}) => ({ inputs: [{ name: 'features', shape: [1, 8], datatype: 'FP32', parameters: { binary_data_size: size }, ...over }] });
    const binaryCases: [string, Promise<Reply>][] = [
      ['header not JSON', binary('not json at all', floats, 15)],
      ['header length past the body', binary(fp32(32), floats, 10_000)],
      ['header length zero', binary(fp32(32), floats, 0)],
      ['header length negative', binary(fp32(32), floats, -5)],
      ['header length a word', binary(fp32(32), floats, 'abc')],
      ['header length fractional', binary(fp32(32), floats, '1.5')],
      ['header length cuts the JSON', binary(fp32(32), floats, 10)],
      ['size past the end', binary(fp32(64), floats)],
      ['size short of the data', binary(fp32(16), floats)],
      ['size negative', binary(fp32(-32), floats)],
      ['size a string', binary(fp32('32' as unknown as number), floats)],
      ['size too small for the shape', binary(fp32(28), floats.subarray(0, 28))],
      ['bytes beyond the tensors', binary(fp32(32), Buffer.concat([floats, Buffer.from([1, 2, 3])]))],
      ['header a list', binary([1, 2], floats)],
      ['unknown datatype', binary(fp32(32, { datatype: 'FLOAT' }), floats)],
      ['binary FP16', binary(fp32(16, { datatype: 'FP16' }), floats.subarray(0, 16))],
      ['BYTES length prefix past the end', binary({ inputs: [{ name: 'features', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: 8 } }] }, Buffer.from([0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4]))],
      ['BYTES truncated prefix', binary({ inputs: [{ name: 'features', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: 2 } }] }, Buffer.from([1, 0]))],
      ['BYTES count mismatch', binary({ inputs: [{ name: 'features', shape: [3], datatype: 'BYTES', parameters: { binary_data_size: 5 } }] }, Buffer.from([1, 0, 0, 0, 65]))],
      ['BYTES to a float model', binary({ inputs: [{ name: 'features', shape: [1], datatype: 'BYTES', parameters: { binary_data_size: 5 } }] }, Buffer.from([1, 0, 0, 0, 65]))],
      ['empty body', raw(hub.url, 'POST', infer, { headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': '10' }, body: '' })],
      ['octet-stream without the header', raw(hub.url, 'POST', infer, { headers: { 'content-type': 'application/octet-stream' }, body: floats })],
      ['the header with a JSON body', raw(hub.url, 'POST', infer, { headers: { 'content-type': 'application/json', 'inference-header-content-length': '5' }, body: JSON.stringify(input({})) })],
    ];
    for (const [what, reply] of binaryCases) expectV2Error(await reply, [400, 422], what);

    const good = await binary(fp32(32), floats);
    expect(good.status, good.text).toBe(200);
    expect(good.body.outputs[0].data.map((x: number) => Math.round(x * 1e5))).toEqual(reference[0]!.map((x) => Math.round(x * 1e5)));
    await expectServing();
  });

  it('refuses bad publishes at the door or fails their task, and never lists a half version', async () => {
    const meta = (name: string) => JSON.stringify(onnxMetadata('robust', name));
    const publish = (parts: FormPart[]) => raw(hub.url, 'POST', '/api/v1/servables', form(parts));
    /** Refused at the door (4xx), or accepted and then FAILED with a stable code: never SUCCEEDED. */
    const refusedOrFailed = async (reply: Reply, what: string, code?: string) => {
      if (reply.status === 202) {
        const task = await waitForTask(hub.url, reply.body.task_id);
        expect(task.status, `${what}: ${JSON.stringify(task)}`).toBe('FAILED');
        expect(task.error!.code, what).toMatch(code ?? /^MODELHUB_[A-Z_]+$/);
        return task;
      }
      expectHubError(reply, [400, 413, 415], code, what);
      return undefined;
    };

    expectHubError(await publish([{ name: 'metadata', value: meta('nofile') }]), 400, 'MODELHUB_BAD_REQUEST', 'no file part');
    expectHubError(await publish([{ name: 'file', value: Buffer.from(mlpBytes), filename: 'm.onnx' }]), 400, 'MODELHUB_INVALID_METADATA', 'no metadata part');
    expectHubError(
      await publish([{ name: 'metadata', value: meta('twice') }, { name: 'metadata', value: meta('twice-b') }, { name: 'file', value: Buffer.from(mlpBytes), filename: 'm.onnx' }]),
      400,
      'MODELHUB_INVALID_METADATA',
      'two metadata parts',
    );
    expectHubError(await publish([{ name: 'metadata', value: '' }, { name: 'file', value: Buffer.from(mlpBytes), filename: 'm.onnx' }]), 400, 'MODELHUB_INVALID_METADATA', 'empty metadata');
    expectHubError(await publish([{ name: 'metadata', value: `{"a": ${'['.repeat(100_000)}${']'.repeat(100_000)}}` }, { name: 'file', value: Buffer.from(mlpBytes), filename: 'm.onnx' }]), 400, 'MODELHUB_INVALID_METADATA', 'deep metadata');
    expectHubError(await publish([{ name: 'metadata', value: '[]' }, { name: 'file', value: Buffer.from(mlpBytes), filename: 'm.onnx' }]), 400, 'MODELHUB_INVALID_METADATA', 'metadata a list');
    expectHubError(await raw(hub.url, 'POST', '/api/v1/servables', { headers: { 'content-type': 'multipart/form-data' }, body: 'x' }), [400, 415], undefined, 'no boundary');
    expectHubError(await raw(hub.url, 'POST', '/api/v1/servables', { headers: { 'content-type': 'multipart/form-data; boundary=zzz' }, body: '--zzz\r\ncontent-disposition: form-data; name="metadata"\r\n\r\n{"a"' }), [400], undefined, 'cut multipart');
    expectHubError(await raw(hub.url, 'POST', '/api/v1/servables', { headers: { 'content-type': 'application/json' }, body: meta('json') }), 415, 'MODELHUB_UNSUPPORTED_MEDIA_TYPE', 'JSON publish');
    expectHubError(await raw(hub.url, 'POST', '/api/v1/servables', {}), [400, 415], undefined, 'empty publish');

    // A metadata part sent as a file (curl -F metadata=@meta.json) is the same metadata.
    const asFile = await publish([{ name: 'metadata', value: meta('meta-file'), filename: 'meta.json', type: 'application/json' }, { name: 'file', value: Buffer.from(mlpBytes), filename: 'm.onnx' }]);
    expect(asFile.status, asFile.text).toBe(202);
    expect((await waitForTask(hub.url, asFile.body.task_id)).status).toBe('SUCCEEDED');

    // File names: whatever the client says, nothing lands outside the upload's folder.
    for (const filename of ['../../etc/passwd', '/abs/model.onnx', 'a\\..\\..\\b.onnx', '', '..', '.', 'C:\\x.onnx', '%2e%2e/x.onnx', 'x\u0000.onnx']) {
      const reply = await publish([{ name: 'metadata', value: meta('fname') }, { name: 'file', value: Buffer.from(mlpBytes), filename }]);
      if (reply.status === 202) {
        const task = await waitForTask(hub.url, reply.body.task_id);
        if (task.status === 'SUCCEEDED') {
          const document = (await raw(hub.url, 'GET', `/api/v1/servables/robust/fname/versions/${reply.body.version}`)).body;
          for (const file of document.hub.files as { path: string }[]) {
            expect(file.path, filename).not.toMatch(/(^|\/)\.\.(\/|$)|^\/|\\|^[a-zA-Z]:/);
          }
        } else expect(task.error!.code, filename).toMatch(/^MODELHUB_/);
      } else expectHubError(reply, 400, undefined, `file name ${JSON.stringify(filename)}`);
    }
    expect(fs.existsSync('/etc/passwd.onnx')).toBe(false);
    // Parts keep only their last path segment: two that end alike would overwrite one another.
    expectHubError(
      await publish([{ name: 'metadata', value: meta('twins') }, { name: 'file', value: Buffer.from(mlpBytes), filename: 'a/model.onnx' }, { name: 'file', value: Buffer.from(addBytes), filename: 'b/model.onnx' }]),
      400,
      'MODELHUB_BAD_REQUEST',
      'two parts of one name',
    );

    await refusedOrFailed(await publish([{ name: 'metadata', value: meta('zero') }, { name: 'file', value: Buffer.alloc(0), filename: 'm.onnx' }]), 'zero-byte file', 'MODELHUB_INVALID_MODEL');
    await refusedOrFailed(await publish([{ name: 'metadata', value: meta('zero-zip') }, { name: 'file', value: Buffer.alloc(0), filename: 'm.zip' }]), 'zero-byte zip', 'MODELHUB_INVALID_ARCHIVE');

    // Archives: traversal, links, truncation, bombs.
    const model = Buffer.from(mlpBytes);
    const archives: [string, string, Buffer, string][] = [
      ['zip ../', 'evil.zip', zipOf([{ name: '../../model.onnx', data: model }]), 'MODELHUB_INVALID_ARCHIVE'],
      ['zip absolute', 'abs.zip', zipOf([{ name: '/tmp/model.onnx', data: model }]), 'MODELHUB_INVALID_ARCHIVE'],
      ['zip backslashes', 'bs.zip', zipOf([{ name: '..\\..\\model.onnx', data: model }]), 'MODELHUB_INVALID_ARCHIVE'],
      ['zip symlink', 'link.zip', zipOf([{ name: 'model.onnx', data: Buffer.from('/etc/passwd'), mode: 0o120777 }]), 'MODELHUB_INVALID_ARCHIVE'],
      ['zip not a zip', 'junk.zip', Buffer.from('PK\u0003\u0004 garbage garbage garbage'), 'MODELHUB_INVALID_ARCHIVE'],
      ['zip truncated', 'cut.zip', zipOf([{ name: 'model.onnx', data: model, deflate: true }]).subarray(0, 200), 'MODELHUB_INVALID_ARCHIVE'],
      ['zip of 20001 entries', 'many.zip', zipOf(Array.from({ length: 20_001 }, (_, i) => ({ name: `f${i}` }))), 'MODELHUB_INVALID_ARCHIVE'],
      ['zip bomb', 'bomb.zip', zipOf([{ name: 'model.onnx', data: Buffer.alloc(200 * 1024 * 1024), deflate: true }]), 'MODELHUB_INVALID_ARCHIVE'],
      ['tar.gz bomb', 'bomb.tar.gz', tarGzBomb(200 * 1024 * 1024), 'MODELHUB_INVALID_ARCHIVE'],
      ['gzip of junk', 'junk.tar.gz', zlib.gzipSync(Buffer.from('not a tar '.repeat(100))), 'MODELHUB_INVALID_ARCHIVE'],
    ];
    const folder = path.join(tmp, 'folder');
    fs.mkdirSync(folder, { recursive: true });
    fs.writeFileSync(path.join(folder, 'model.onnx'), model);
    fs.symlinkSync('/etc/passwd', path.join(folder, 'passwd'));
    const linkTar = path.join(tmp, 'link.tar');
    await tar.c({ file: linkTar, cwd: folder }, ['model.onnx', 'passwd']);
    archives.push(['tar symlink', 'link.tar', fs.readFileSync(linkTar), 'MODELHUB_INVALID_ARCHIVE']);
    fs.rmSync(path.join(folder, 'passwd'));
    const goodTgz = path.join(tmp, 'good.tar.gz');
    await tar.c({ file: goodTgz, cwd: folder, gzip: true }, ['model.onnx']);
    const tgz = fs.readFileSync(goodTgz);
    archives.push(['truncated tar.gz', 'cut.tar.gz', tgz.subarray(0, Math.floor(tgz.length / 2)), 'MODELHUB_INVALID_ARCHIVE']);
    for (const [what, filename, bytes, code] of archives) {
      const task = await refusedOrFailed(await publish([{ name: 'metadata', value: meta('archive') }, { name: 'file', value: bytes, filename }]), what, code);
      if (task) expect(task.error!.step, what).toBe('store');
      // The bombs are refused by the bounds on entries and unpacked bytes, before they are written.
      if (/bomb|20001/.test(what)) expect(task?.error?.message, what).toMatch(/more than (10000 entries|\d+ bytes)/);
    }
    // A zip bomb's sibling that is fine: a real folder as a zip still publishes.
    const goodZip = await publish([{ name: 'metadata', value: meta('archive') }, { name: 'file', value: zipOf([{ name: 'model/model.onnx', data: model, deflate: true }]), filename: 'good.zip' }]);
    expect(goodZip.status, goodZip.text).toBe(202);
    expect((await waitForTask(hub.url, goodZip.body.task_id)).status).toBe('SUCCEEDED');

    // Nothing that failed is listed; the uploads folder holds nothing left behind.
    for (const name of ['nofile', 'twice', 'twice-b', 'twins', 'zero', 'zero-zip']) {
      expectHubError(await raw(hub.url, 'GET', `/api/v1/servables/robust/${name}`), 404, 'MODELHUB_SERVABLE_NOT_FOUND', name);
    }
    const versions = (await raw(hub.url, 'GET', '/api/v1/servables/robust/archive/versions')).body.versions as { version: number; state: string }[];
    expect(versions.map((v) => v.state)).toEqual(['published']);
    await expectUploadsEmpty();
    await expectServing();
  });

  async function expectUploadsEmpty(): Promise<void> {
    const uploads = path.join(hub.dataDir, 'uploads');
    const started = Date.now();
    for (;;) {
      const left = fs.existsSync(uploads) ? fs.readdirSync(uploads) : [];
      if (left.length === 0) return;
      if (Date.now() - started > 15_000) expect(left, 'upload folders left behind').toEqual([]);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  it('gives 50 parallel publishes of one name 50 distinct versions', async () => {
    const replies = await Promise.all(
      Array.from({ length: 50 }, () => publishRaw(hub.url, onnxMetadata('robust', 'crowd'), [{ name: 'm.onnx', bytes: mlpBytes }])),
    );
    expect(replies.map((r) => r.status)).toEqual(Array(50).fill(202));
    const numbers = replies.map((r) => r.body.version as number).sort((a, b) => a - b);
    expect(numbers).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    const tasks = await Promise.all(replies.map((r) => waitForTask(hub.url, r.body.task_id, 300_000)));
    expect(tasks.filter((t) => t.status !== 'SUCCEEDED').map((t) => t.error)).toEqual([]);
    const listed = (await raw(hub.url, 'GET', '/api/v1/servables/robust/crowd/versions')).body.versions as { version: number }[];
    expect(listed.map((v) => v.version).sort((a, b) => a - b)).toEqual(numbers);
    const latest = await json(hub.url, 'POST', '/api/v1/servables/robust/crowd/run', { inputs: goodInputs });
    expect(latest.body.version).toBe(50);
    await expectUploadsEmpty();
    await expectServing();
  });

  it('keeps serving when a client disconnects mid-upload, lists no version and cleans up the upload', async () => {
    const { hostname, port } = new URL(hub.url);
    const boundary = 'cut-boundary';
    const head = Buffer.from(
      `--${boundary}\r\ncontent-disposition: form-data; name="metadata"\r\n\r\n${JSON.stringify(onnxMetadata('robust', 'halfway'))}\r\n` +
        `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="m.onnx"\r\ncontent-type: application/octet-stream\r\n\r\n`,
    );
    for (let attempt = 0; attempt < 3; attempt++) {
      await new Promise<void>((resolve, reject) => {
        const request = http.request({
          host: hostname,
          port,
          method: 'POST',
          path: '/api/v1/servables',
          headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(head.length + 8 * 1024 * 1024) },
        });
        request.on('error', () => resolve());
        request.on('response', (response) => reject(new Error(`the hub answered ${response.statusCode} to half an upload`)));
        request.write(head);
        // Half a megabyte of the promised eight, then the client goes away.
        request.write(Buffer.alloc(512 * 1024, 7), () => setTimeout(() => {
          request.destroy();
          resolve();
        }, 300));
      });
    }
    expect((await raw(hub.url, 'GET', '/v2/health/live')).status).toBe(200);
    expectHubError(await raw(hub.url, 'GET', '/api/v1/servables/robust/halfway'), 404, 'MODELHUB_SERVABLE_NOT_FOUND', 'half upload');
    expectHubError(await raw(hub.url, 'GET', '/api/v1/servables/robust/halfway/versions'), 404, 'MODELHUB_SERVABLE_NOT_FOUND', 'half upload versions');
    await expectUploadsEmpty();
    // The name is free to publish properly afterwards.
    const { accepted, task } = await publishAndWait(hub.url, onnxMetadata('robust', 'halfway'), [{ name: 'm.onnx', bytes: mlpBytes }]);
    expect(task.status).toBe('SUCCEEDED');
    expect(accepted.version).toBe(1);
    await expectServing();
  });
});

/**
 * The bad input of issue 19, each case as the issue found it: a cut multipart body, a metadata part
 * sent as application/json, `tar -C dir .` archives, file names the file system cannot take,
 * prototype names as methods and inputs, and numbers JSON cannot carry back.
 */
describe('robustness: issue 19 bad input', () => {
  let hub: TestHub;
  const FIXTURES = path.resolve(import.meta.dirname, '../fixtures');
  const add = '/api/v1/servables/issue19/add/run';

  const uploadsLeft = () => {
    const uploads = path.join(hub.dataDir, 'uploads');
    return fs.existsSync(uploads) ? fs.readdirSync(uploads) : [];
  };
  /** The hub's open file descriptors, and those that point into its uploads folder. */
  const openFiles = () => {
    const dir = `/proc/${hub.process.pid}/fd`;
    const targets = fs.readdirSync(dir).map((fd) => {
      try {
        return fs.readlinkSync(path.join(dir, fd));
      } catch {
        return ''; // closed between the listing and the read
      }
    });
    return { count: targets.length, uploads: targets.filter((target) => target.startsWith(path.join(hub.dataDir, 'uploads'))) };
  };
  async function eventually(check: () => boolean, what: string): Promise<void> {
    const started = Date.now();
    while (!check()) {
      if (Date.now() - started > 20_000) throw new Error(`still not true after 20 s: ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  const addStillRuns = async () => {
    expect(hub.process.exitCode, hub.output()).toBeNull();
    const reply = await json(hub.url, 'POST', add, { inputs: { a: [[1, 2, 3]], b: [[10, 20, 30]] }, parameters: { nonce: Math.random() } });
    expect(reply.status, reply.text).toBe(200);
    expect(reply.body.output).toEqual([[11, 22, 33]]);
  };

  beforeAll(async () => {
    // Uploads that stop arriving are given up after 2 s here (60 s by default).
    hub = await startTestHub({ env: { MODELHUB_MAX_UPLOAD_MB: '16', MODELHUB_UPLOAD_IDLE_SECONDS: '2' } });
    const { task } = await publishAndWait(hub.url, onnxMetadata('issue19', 'add'), [{ name: 'add.onnx', bytes: addBytes }]);
    expect(task.status, JSON.stringify(task)).toBe('SUCCEEDED');
  });
  afterAll(async () => {
    await hub?.stop();
  });

  it('answers a multipart body cut inside a file part with 400, leaving no open file and no upload folder (50 times each way)', async () => {
    const { hostname, port } = new URL(hub.url);
    const boundary = 'cut-boundary';
    const head = Buffer.from(
      `--${boundary}\r\ncontent-disposition: form-data; name="metadata"\r\n\r\n${JSON.stringify(onnxMetadata('issue19', 'cut'))}\r\n` +
        `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="m.onnx"\r\ncontent-type: application/octet-stream\r\n\r\n`,
    );
    const sent = Buffer.concat([head, Buffer.alloc(64 * 1024, 7)]);
    /** A request whose Content-Length promises 1 MB more than is sent; the reply, as text. */
    const cutRequest = (then: 'half-close' | 'keep-open') =>
      new Promise<string>((resolve, reject) => {
        const socket = net.connect(Number(port), hostname);
        let reply = '';
        const timer = setTimeout(() => {
          socket.destroy();
          reject(new Error(`no answer to a cut upload (${then}) in 30 s; got ${JSON.stringify(reply)}`));
        }, 30_000);
        socket.on('data', (chunk: Buffer) => (reply += chunk.toString('utf8')));
        socket.on('error', () => {}); // a reset after the answer is fine; the answer is what counts
        socket.on('close', () => {
          clearTimeout(timer);
          resolve(reply);
        });
        socket.write(
          `POST /api/v1/servables HTTP/1.1\r\nHost: ${hostname}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${sent.length + 1024 * 1024}\r\n\r\n`,
        );
        socket.write(sent);
        // The client stops sending: it either says so (FIN) or just goes quiet, keeping the socket.
        if (then === 'half-close') socket.end();
      });
    const expect400 = (reply: string, what: string) => {
      expect(reply, what).toMatch(/^HTTP\/1\.1 400 /);
      const body = JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4)) as { error: { code: string } };
      expect(body.error.code, reply).toBe('MODELHUB_BAD_REQUEST');
    };

    const before = openFiles();
    for (let i = 0; i < 50; i++) expect400(await cutRequest('half-close'), `half-close #${i}`);
    // Quiet clients are only given up after the idle time, so these wait together.
    const quiet = await Promise.all(Array.from({ length: 50 }, () => cutRequest('keep-open')));
    quiet.forEach((reply, i) => expect400(reply, `keep-open #${i}`));
    expect(quiet[0]).toMatch(/stopped arriving/);

    await eventually(() => uploadsLeft().length === 0, `upload folders left: ${uploadsLeft().join(', ')}`);
    await eventually(() => openFiles().uploads.length === 0, `files still open in uploads: ${openFiles().uploads.join(', ')}`);
    // 100 cut uploads leaked 100 descriptors before; a few come and go with the hub's own work.
    await eventually(() => openFiles().count <= before.count + 5, `descriptors: ${before.count} before, ${openFiles().count} after`);
    expectHubError(await raw(hub.url, 'GET', '/api/v1/servables/issue19/cut'), 404, 'MODELHUB_SERVABLE_NOT_FOUND', 'cut publish');
    await addStillRuns();
  });

  it('takes a metadata part sent as application/json, and calls bad JSON in it invalid metadata (400), with curl too', async () => {
    const metadata = JSON.stringify(onnxMetadata('issue19', 'typed'));
    const file = { name: 'file', value: Buffer.from(addBytes), filename: 'add.onnx' };
    const typed = await raw(hub.url, 'POST', '/api/v1/servables', form([{ name: 'metadata', value: metadata, type: 'application/json' }, file]));
    expect(typed.status, typed.text).toBe(202);
    expect((await waitForTask(hub.url, typed.body.task_id)).status).toBe('SUCCEEDED');
    for (const bad of ['{"datacite": ', 'not json', '{"__proto__": {"x": 1}}']) {
      const reply = await raw(hub.url, 'POST', '/api/v1/servables', form([{ name: 'metadata', value: bad, type: 'application/json; charset=utf-8' }, file]));
      expectHubError(reply, 400, 'MODELHUB_INVALID_METADATA', `application/json metadata ${bad}`);
    }

    // What the issue ran: curl -F 'metadata=<m.json;type=application/json'.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-curl-'));
    try {
      fs.writeFileSync(path.join(dir, 'm.json'), JSON.stringify(onnxMetadata('issue19', 'curl')));
      fs.writeFileSync(path.join(dir, 'bad.json'), '{"datacite": [');
      fs.writeFileSync(path.join(dir, 'add.onnx'), addBytes);
      const curl = (meta: string) => {
        const out = execFileSync('curl', ['-s', '-w', '\n%{http_code}', '-F', `metadata=<${meta};type=application/json`, '-F', 'file=@add.onnx', `${hub.url}/api/v1/servables`], { cwd: dir, encoding: 'utf8' });
        const cut = out.lastIndexOf('\n');
        return { status: Number(out.slice(cut + 1)), body: JSON.parse(out.slice(0, cut)) };
      };
      const good = curl('m.json');
      expect(good.status, JSON.stringify(good.body)).toBe(202);
      expect((await waitForTask(hub.url, good.body.task_id)).status).toBe('SUCCEEDED');
      const bad = curl('bad.json');
      expect(bad.status).toBe(400);
      expect(bad.body.error.code).toBe('MODELHUB_INVALID_METADATA');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    await addStillRuns();
  });

  it('publishes an archive made with `tar czf m.tgz -C dir .` and runs it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-tgz-'));
    try {
      fs.mkdirSync(path.join(dir, 'model'));
      fs.writeFileSync(path.join(dir, 'model', 'model.onnx'), addBytes);
      execFileSync('tar', ['czf', path.join(dir, 'm.tgz'), '-C', path.join(dir, 'model'), '.']);
      expect(execFileSync('tar', ['tzf', path.join(dir, 'm.tgz')], { encoding: 'utf8' }).split('\n')).toEqual(['./', './model.onnx', '']);
      const { task } = await publishAndWait(hub.url, onnxMetadata('issue19', 'dot-tar'), [{ name: 'm.tgz', path: path.join(dir, 'm.tgz') }]);
      expect(task.status, JSON.stringify(task.error)).toBe('SUCCEEDED');
      const reply = await json(hub.url, 'POST', '/api/v1/servables/issue19/dot-tar/run', { inputs: { a: [[1, 2, 3]], b: [[1, 1, 1]] } });
      expect(reply.body.output, reply.text).toEqual([[2, 3, 4]]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('calls unstorable file names and ambiguous zips client errors, never MODELHUB_INTERNAL', async () => {
    for (const name of ['x\u0000.onnx', `${'a'.repeat(5000)}.onnx`, `${'b'.repeat(300)}.onnx`, 'tab\there.onnx']) {
      const reply = await publishRaw(hub.url, onnxMetadata('issue19', 'names'), [{ name, bytes: addBytes }]);
      expect(reply.status, `${name.slice(0, 20)}: ${JSON.stringify(reply.body)}`).toBe(400);
      expect(reply.body.error.code).toBe('MODELHUB_BAD_REQUEST');
      expect(reply.body.error.message).toMatch(/control character|longer than/);
    }
    // 255 bytes is the longest name Linux takes: still published.
    const longest = await publishAndWait(hub.url, onnxMetadata('issue19', 'names'), [{ name: `${'c'.repeat(250)}.onnx`, bytes: addBytes }]);
    expect(longest.task.status, JSON.stringify(longest.task.error)).toBe('SUCCEEDED');

    const model = Buffer.from(addBytes);
    const zips: [string, Buffer][] = [
      ['file a, then folder a/', zipOf([{ name: 'a', data: model }, { name: 'a/' }, { name: 'model.onnx', data: model }])],
      ['folder a/, then file a', zipOf([{ name: 'a/' }, { name: 'a', data: model }, { name: 'model.onnx', data: model }])],
      ['file a, then a/model.onnx', zipOf([{ name: 'a', data: model }, { name: 'a/model.onnx', data: model }])],
      ['model.onnx twice', zipOf([{ name: 'model.onnx', data: model }, { name: 'model.onnx', data: model }])],
      ['a NUL byte in a name', zipOf([{ name: 'model\u0000.onnx', data: model }])],
      ['a 5,000-character name', zipOf([{ name: `${'d'.repeat(5000)}.onnx`, data: model }])],
    ];
    for (const [what, bytes] of zips) {
      const reply = await publishRaw(hub.url, onnxMetadata('issue19', 'zips'), [{ name: 'm.zip', bytes }]);
      let code: string;
      if (reply.status === 202) {
        const task = await waitForTask(hub.url, reply.body.task_id);
        expect(task.status, what).toBe('FAILED');
        code = task.error!.code;
      } else {
        expect(reply.status, what).toBe(400);
        code = reply.body.error.code;
      }
      expect(code, what).toBe('MODELHUB_INVALID_ARCHIVE');
    }
    expectHubError(await raw(hub.url, 'GET', '/api/v1/servables/issue19/zips'), 404, 'MODELHUB_SERVABLE_NOT_FOUND', 'no zip published');
    await eventually(() => uploadsLeft().length === 0, `upload folders left: ${uploadsLeft().join(', ')}`);
    await addStillRuns();
  });

  it("refuses Object.prototype's names as methods and inputs with 4xx, never 500", async () => {
    const inputs = { a: [[1, 2, 3]], b: [[1, 2, 3]] };
    for (const method of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'isPrototypeOf']) {
      const reply = await json(hub.url, 'POST', add, { inputs, method });
      expectHubError(reply, 400, 'MODELHUB_BAD_REQUEST', `method ${method}`);
      expect(reply.body.error.message, method).toMatch(/has no method/);
      // The asynchronous run fails its task with the same client error, not an internal one.
      const accepted = await json(hub.url, 'POST', add, { inputs, method, asynchronous: true });
      if (accepted.status === 202) {
        const task = await waitForTask(hub.url, accepted.body.task_id);
        expect(task.status, method).toBe('FAILED');
        expect(task.error?.code, method).toBe('MODELHUB_BAD_REQUEST');
      } else expectHubError(accepted, 400, 'MODELHUB_BAD_REQUEST', `async method ${method}`);
    }
    // Input names: an extra "constructor" is an unknown input, not one the model already has.
    for (const name of ['constructor', 'toString', 'hasOwnProperty', 'valueOf']) {
      const extra = await json(hub.url, 'POST', add, { inputs: { ...inputs, [name]: [[1, 2, 3]] } });
      expectHubError(extra, 422, 'MODELHUB_INVALID_INPUTS', `extra input ${name}`);
      expect(extra.body.error.details?.input, extra.text).toBe(name);
      const instead = await json(hub.url, 'POST', add, { inputs: { a: inputs.a, [name]: [[1, 2, 3]] } });
      expectHubError(instead, 422, 'MODELHUB_INVALID_INPUTS', `input ${name} instead of b`);
    }
    // v2: a datatype named like a prototype member is an unknown datatype, in the protocol's error.
    for (const datatype of ['constructor', 'toString', '__proto__']) {
      const v2 = await json(hub.url, 'POST', '/v2/models/issue19.add/infer', {
        inputs: [{ name: 'a', shape: [1, 3], datatype, data: [1, 2, 3] }, { name: 'b', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }],
      });
      expectV2Error(v2, 400, `v2 datatype ${datatype}`);
    }
    // "__proto__" as a key is refused when the body is parsed (prototype poisoning).
    expectHubError(await json(hub.url, 'POST', add, '{"inputs": {"a": [[1,2,3]], "b": [[1,2,3]], "__proto__": [[1]]}}'), 400, 'MODELHUB_BAD_REQUEST', '__proto__ input');
    await addStillRuns();
  });

  it('refuses numbers that are not finite, or too large for their dtype, naming the input, for tensor and JSON servables', async () => {
    // float32 (onnxruntime): 1e400 parses to Infinity; 1e39 is a finite double but Infinity as a float32.
    for (const literal of ['1e400', '-1e400', '1e39', '-3.5e38']) {
      const reply = await json(hub.url, 'POST', add, `{"inputs": {"a": [[1, ${literal}, 3]], "b": [[1, 2, 3]]}}`);
      expectHubError(reply, 422, 'MODELHUB_INVALID_INPUTS', `float32 ${literal}`);
      expect(reply.body.error.details?.input, reply.text).toBe('a');
      expect(reply.body.error.message, reply.text).toMatch(/finite|at most/);
    }
    const largest = await json(hub.url, 'POST', add, { inputs: { a: [[3.4e38, 0, 0]], b: [[0, 0, 0]] } });
    expect(largest.status, largest.text).toBe(200);
    expect(largest.body.output[0][0]).toBeCloseTo(3.4e38, -33);

    // float16: 65504 is its largest number; 65520 and beyond round to Infinity.
    const { task } = await publishAndWait(hub.url, onnxMetadata('issue19', 'halves'), [{ name: 'halves.onnx', bytes: buildFloat16CastOnnx() }]);
    expect(task.status, JSON.stringify(task.error)).toBe('SUCCEEDED');
    const halves = '/api/v1/servables/issue19/halves/run';
    const ok = await json(hub.url, 'POST', halves, { inputs: { h: [65504, -2.5], f: [1.5, 2] } });
    expect(ok.status, ok.text).toBe(200);
    expect(ok.body.output.h_as_float).toEqual([65504, -2.5]);
    for (const [h, f, input] of [['70000', '1', 'h'], ['1e400', '1', 'h'], ['1', '1e400', 'f'], ['1', '1e39', 'f']] as const) {
      const reply = await json(hub.url, 'POST', halves, `{"inputs": {"h": [${h}], "f": [${f}]}}`);
      expectHubError(reply, 422, 'MODELHUB_INVALID_INPUTS', `halves h=${h} f=${f}`);
      expect(reply.body.error.details?.input, reply.text).toBe(input);
    }

    // A JSON servable (Python) would have been sent null for Infinity.
    const client = new HubClient({ url: hub.url });
    for (const [name, inputType] of [['double', { type: 'number' }], ['square', { type: 'any' }]] as const) {
      const model = await PythonFunction.create({ module: path.join(FIXTURES, 'python', 'toolbox.py'), function: name, inputType });
      model.setName(`issue19/${name}`).setTitle(`${name} model`).setAuthors(['Lovelace, Ada']).setDomains(['testing']);
      const published = await client.publishServable(model);
      expect(published.status, JSON.stringify(published.error)).toBe('SUCCEEDED');
    }
    const double = await json(hub.url, 'POST', '/api/v1/servables/issue19/double/run', '{"inputs": 1e400}');
    expectHubError(double, 422, 'MODELHUB_INVALID_INPUTS', 'python 1e400');
    expect(double.body.error.details?.input).toBe('inputs');
    const nested = await json(hub.url, 'POST', '/api/v1/servables/issue19/square/run', '{"inputs": {"x": [1, 2, -1e400]}}');
    expectHubError(nested, 422, 'MODELHUB_INVALID_INPUTS', 'python nested -1e400');
    expect(nested.body.error.details?.input).toBe('inputs.x[2]');
    const fine = await json(hub.url, 'POST', '/api/v1/servables/issue19/double/run', { inputs: 1e300 });
    expect(fine.status, fine.text).toBe(200);
    expect(fine.body.output).toBe(2e300);
    await addStillRuns();
  });

  it('serves /id/* landing pages with a strict Content-Security-Policy that Chromium enforces (no script, only the page\'s own style)', async () => {
    const title = 'Radium <script>window.pwned = 1</script> & "friends"';
    const metadata = onnxMetadata('issue19', 'landing');
    metadata.datacite.titles = [{ title }];
    metadata.datacite.descriptions = [{ description: '</style><style>body{background:red}</style><img src=x onerror="window.pwned=2">', descriptionType: 'Abstract' }];
    const { task } = await publishAndWait(hub.url, metadata, [{ name: 'add.onnx', bytes: addBytes }]);
    expect(task.status, JSON.stringify(task.error)).toBe('SUCCEEDED');
    const identifier = (await raw(hub.url, 'GET', '/api/v1/servables/issue19/landing')).body.hub.identifier as string;
    const landing = `/id/${identifier}`;

    const page = await raw(hub.url, 'GET', landing, { headers: { accept: 'text/html' } });
    expect(page.status, page.text.slice(0, 300)).toBe(200);
    const policy = String(page.headers['content-security-policy']);
    const directives = Object.fromEntries(policy.split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name, values]));
    expect(directives["default-src"]).toEqual(["'none'"]);
    expect(directives['base-uri']).toEqual(["'none'"]);
    expect(directives['frame-ancestors']).toEqual(["'none'"]);
    expect(directives['script-src']).toBeUndefined(); // default-src 'none': no script at all
    // The one style allowed is the page's own, by the SHA-256 of the <style> element it serves.
    const styles = [...page.text.matchAll(/<style>([^<]*)<\/style>/g)].map((m) => m[1]!);
    expect(styles).toHaveLength(1);
    expect(directives['style-src']).toEqual([`'sha256-${createHash('sha256').update(styles[0]!).digest('base64')}'`]);
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    for (const accept of ['application/json', 'application/x-research-info-systems']) {
      expect((await raw(hub.url, 'GET', landing, { headers: { accept } })).headers['content-security-policy'], accept).toBe(policy);
    }

    const executablePath = process.env.MODELHUB_CHROMIUM ?? '/usr/bin/chromium';
    if (!fs.existsSync(executablePath) && !process.env.CI) {
      console.warn(`landing page CSP not checked in a browser: no Chromium at ${executablePath}`);
      return;
    }
    const browser = await chromium.launch({ executablePath, headless: true, args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run'], timeout: 60_000 });
    try {
      const tab = await browser.newPage();
      // Init scripts run from the automation side, outside the page's policy: they only record.
      await tab.addInitScript(() => {
        const seen: string[] = [];
        (window as unknown as { violations: string[] }).violations = seen;
        document.addEventListener('securitypolicyviolation', (event) => seen.push(event.effectiveDirective));
      });
      await tab.goto(`${hub.url}${landing}`);
      expect(await tab.locator('h1').textContent()).toBe(title);
      const state = () =>
        tab.evaluate(() => ({
          violations: (window as unknown as { violations: string[] }).violations,
          pwned: (window as unknown as { pwned?: number }).pwned,
          maxWidth: getComputedStyle(document.body).maxWidth,
          background: getComputedStyle(document.body).backgroundColor,
        }));
      // The page's own style applies (its hash is allowed), and nothing on it was refused.
      expect(await state()).toEqual({ violations: [], pwned: undefined, maxWidth: '960px', background: 'rgba(0, 0, 0, 0)' });
      // Script that gets into the page anyway (as an injection would) does not run.
      await tab.evaluate(() => {
        const script = document.createElement('script');
        script.textContent = 'window.pwned = 3';
        document.body.append(script);
        const style = document.createElement('style');
        style.textContent = 'body{background:red}';
        document.head.append(style);
      });
      await tab.waitForFunction(() => (window as unknown as { violations: string[] }).violations.length >= 2);
      const after = await state();
      expect(after.pwned).toBeUndefined();
      expect(after.background).toBe('rgba(0, 0, 0, 0)');
      expect(new Set(after.violations)).toEqual(new Set(['script-src-elem', 'style-src-elem']));
    } finally {
      await browser.close();
    }
  });
});
