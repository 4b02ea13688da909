/**
 * Provenance with every result (docs/provenance.md), against a real hub: the record's digests equal
 * the stored model file's and the request's (computed here independently), a reply from the result
 * cache carries the original run's record, asynchronous runs, v2 and actions keep theirs, and a
 * stored run exports as an RO-Crate 1.1 (checked by a JSON-LD structure check written from the
 * specification) from which the run replays to the same output.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlpOnnx } from '../../builder/demo/onnx-writer.ts';
import { buildApp } from '../../hub-server/app.ts';
import { loadConfig } from '../../hub-server/config.ts';
import { buildCli } from '../../sdk/cli.ts';
import { getJson, onnxMetadata, postJson, publishAndWait, waitForTask } from '../helpers/hub-http.ts';
import { checkRoCrate } from '../helpers/ro-crate-check.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-provenance-'));
const model = buildMlpOnnx({ inputSize: 4, hidden: 8, classes: 3 });
const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');
const onnxruntimeVersion = (createRequire(import.meta.url)('onnxruntime-node/package.json') as { version: string }).version;
let app: FastifyInstance;
let url = '';

async function cli(...args: string[]): Promise<{ out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const exitCode = process.exitCode;
  await buildCli({ out: (line) => out.push(line), err: (line) => err.push(line) }).parseAsync(['node', 'modelhub', '--url', url, ...args]);
  process.exitCode = exitCode;
  return { out: out.join('\n'), err: err.join('\n') };
}

beforeAll(async () => {
  app = await buildApp(loadConfig({ MODELHUB_DATA: dir, MODELHUB_DEMO: 'false', MODELHUB_LOG_LEVEL: 'silent' }), { logger: false });
  url = await app.listen({ port: 0, host: '127.0.0.1' });
  const { task } = await publishAndWait(url, onnxMetadata('lab', 'mlp'), [{ name: 'mlp.onnx', bytes: model }]);
  expect(task.status).toBe('SUCCEEDED');
}, 120_000);
afterAll(async () => {
  await app?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const runUrl = () => `${url}/api/v1/servables/lab/mlp/run`;

describe('provenance records', () => {
  it('names the version, its files, the runtime and digests of the request and the output', async () => {
    const inputs = [[0.1, 0.2, 0.3, 0.4]];
    const { status, body } = await postJson(runUrl(), { inputs, provenance: true });
    expect(status).toBe(200);
    const record = body.provenance;
    const described = (await getJson(`${url}/api/v1/servables/lab/mlp`)).body;
    expect(record).toMatchObject({
      servable: 'lab/mlp',
      version: 1,
      identifier: described.hub.identifier,
      method: 'run',
      runtime: { type: 'onnx', name: 'onnxruntime-node', version: onnxruntimeVersion },
      hub: { name: 'modelhub' },
      endpoint: null,
    });
    expect(record.run_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(record.files).toEqual([{ path: 'mlp.onnx', sha256: sha256(model), size: model.length }]);
    expect(record.inputs_sha256).toBe(sha256(JSON.stringify(inputs)));
    expect(record.outputs_sha256).toBe(sha256(JSON.stringify(body.output)));
    expect(Date.parse(record.started_at)).toBeGreaterThan(Date.now() - 60_000);
    // Without asking, a run carries none.
    expect((await postJson(runUrl(), { inputs: [[1, 2, 3, 4]] })).body.provenance).toBeUndefined();
  });

  it('gives a reply from the result cache the record of the run that computed it', async () => {
    const inputs = [[0.5, 0.6, 0.7, 0.8]];
    const first = await postJson(runUrl(), { inputs, provenance: true });
    const again = await postJson(runUrl(), { inputs, provenance: true });
    expect([first.body.cached, again.body.cached]).toEqual([false, true]);
    expect(again.body.provenance).toEqual(first.body.provenance);
    // The original ran without asking: the cached reply still names that run (time and id), now stored.
    const quiet = await postJson(runUrl(), { inputs: [[9, 8, 7, 6]] });
    const asked = await postJson(`${runUrl()}?provenance=true`, { inputs: [[9, 8, 7, 6]] });
    expect(asked.body.cached).toBe(true);
    expect(asked.body.provenance.outputs_sha256).toBe(sha256(JSON.stringify(quiet.body.output)));
    expect(asked.body.provenance.duration_ms).toBeCloseTo(quiet.body.timing.total_ms, 6);
    expect((await getJson(`${url}/api/v1/runs/${asked.body.provenance.run_id}`)).body.output).toEqual(quiet.body.output);
  });

  it('keeps the record of asynchronous runs, v2 requests and actions', async () => {
    const accepted = await postJson(runUrl(), { inputs: [[0, 1, 0, 1]], asynchronous: true });
    const task = await waitForTask(url, accepted.body.task_id);
    const result = task.result as { provenance: { run_id: string; outputs_sha256: string }; output: unknown };
    expect(result.provenance.outputs_sha256).toBe(sha256(JSON.stringify(result.output)));
    expect((await getJson(`${url}/api/v1/runs/${result.provenance.run_id}`)).status).toBe(200);

    const v2 = await postJson(`${url}/v2/models/lab.mlp/infer`, { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [0, 1, 0, 1] }], parameters: { provenance: true } });
    expect(v2.status).toBe(200);
    const v2Record = v2.body.parameters.provenance;
    expect(v2Record.inputs_sha256).toBe(sha256(JSON.stringify([[0, 1, 0, 1]])));
    const stored = (await getJson(`${url}/api/v1/runs/${v2Record.run_id}`)).body;
    expect(stored.output).toEqual(result.output);

    const action = await postJson(`${url}/actions/inference/run`, { request_id: 'prov-1', body: { servable: 'lab/mlp', inputs: [[1, 1, 1, 1]] } });
    expect(action.status).toBeLessThan(300);
    let status = action.body;
    for (let i = 0; i < 100 && status.status === 'ACTIVE'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      status = (await getJson(`${url}/actions/inference/${status.action_id}/status`)).body;
    }
    expect(status.status).toBe('SUCCEEDED');
    expect((await getJson(`${url}/api/v1/runs/${status.details.provenance.run_id}`)).body.provenance.servable).toBe('lab/mlp');
  });

  it('answers 404 for a run it does not hold', async () => {
    const { status, body } = await getJson(`${url}/api/v1/runs/no-such-run/crate`);
    expect(status).toBe(404);
    expect(body.error.code).toBe('MODELHUB_RUN_NOT_FOUND');
  });
});

describe('RO-Crate export', () => {
  it('exports a stored run as an RO-Crate 1.1 Process Run Crate that replays to the same output', async () => {
    const inputs = [[0.25, -0.5, 0.75, 1]];
    const { body } = await postJson(runUrl(), { inputs, provenance: true });
    const crateDir = path.join(dir, 'crate');
    const { out } = await cli('crate', body.provenance.run_id, '-o', crateDir);
    expect(out).toContain('wrote 5 files');
    const metadata = JSON.parse(fs.readFileSync(path.join(crateDir, 'ro-crate-metadata.json'), 'utf8'));
    expect(checkRoCrate(metadata, crateDir, { processRun: true })).toEqual([]);
    // The files are what the record says they are.
    expect(sha256(fs.readFileSync(path.join(crateDir, 'inputs.json')))).toBe(body.provenance.inputs_sha256);
    expect(sha256(fs.readFileSync(path.join(crateDir, 'output.json')))).toBe(body.provenance.outputs_sha256);

    // Replay: the crate's CreateAction names the servable version (its run URL) and the inputs file.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the graph is read entity by entity, as the test goes
    const graph = metadata['@graph'] as Record<string, any>[];
    const action = graph.find((entity) => entity['@type'] === 'CreateAction')!;
    const instrument = graph.find((entity) => entity['@id'] === action.instrument['@id'])!;
    expect(instrument).toMatchObject({ '@type': 'SoftwareApplication', identifier: body.provenance.identifier, softwareVersion: '1' });
    const inputsFile = action.object.find((ref: { '@id': string }) => ref['@id'] === 'inputs.json')['@id'];
    const replayed = await postJson(`${url}${new URL(instrument.url).pathname}`, {
      inputs: JSON.parse(fs.readFileSync(path.join(crateDir, inputsFile), 'utf8')),
      parameters: JSON.parse(fs.readFileSync(path.join(crateDir, 'parameters.json'), 'utf8')),
    });
    expect(replayed.body.output).toEqual(JSON.parse(fs.readFileSync(path.join(crateDir, action.result[0]['@id']), 'utf8')));

    // The metadata document alone, as JSON-LD.
    const json = await fetch(`${url}/api/v1/runs/${body.provenance.run_id}/crate`, { headers: { accept: 'application/ld+json' } });
    expect(json.headers.get('content-type')).toMatch(/^application\/ld\+json/);
    expect(checkRoCrate(await json.json())).toEqual([]);
  });

  it('has a structure check that finds what a crate lacks', () => {
    const broken = {
      '@context': 'https://w3id.org/ro/crate/1.1/context',
      '@graph': [
        { '@id': 'ro-crate-metadata.json', '@type': 'CreativeWork', about: { '@id': './' } },
        { '@id': './', '@type': 'Dataset', name: 'x', hasPart: [{ '@id': 'missing.json' }] },
        { '@id': 'stray.json', '@type': 'File' },
      ],
    };
    expect(checkRoCrate(broken, dir, { processRun: true })).toEqual(
      expect.arrayContaining([
        'the metadata descriptor does not conform to https://w3id.org/ro/crate/1.1',
        'the root data entity has no description',
        'the root data entity has no license',
        './.hasPart refers to missing.json, which is not in @graph',
        'the file stray.json is not in the root\'s hasPart',
        'the root mentions no CreateAction',
      ]),
    );
  });
});
