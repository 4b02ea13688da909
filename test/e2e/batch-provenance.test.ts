/**
 * Provenance of batch runs (docs/provenance.md, "Batch runs") on a real in-process hub: a finished
 * batch carries a provenance record in its task's result and as a stored run (`GET /runs/{task
 * id}`), whose digests are the uploaded data set's and the downloaded results file's (computed
 * here with node:crypto) and whose files are the model file's; its RO-Crate holds both files and
 * passes the RO-Crate 1.1 / Process Run Crate structure check.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlpOnnx } from '../../builder/demo/onnx-writer.ts';
import { buildApp } from '../../hub-server/app.ts';
import { loadConfig } from '../../hub-server/config.ts';
import { buildCli } from '../../sdk/cli.ts';
import { getJson, onnxMetadata, publishAndWait, waitForTask } from '../helpers/hub-http.ts';
import { checkRoCrate } from '../helpers/ro-crate-check.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-batch-provenance-'));
const model = buildMlpOnnx({ inputSize: 4, hidden: 8, classes: 3 });
const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');
let app: FastifyInstance;
let url = '';

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

describe('batch provenance', () => {
  it('records the version, files, runtime and the digests of the data set and results file, exportable as an RO-Crate', async () => {
    const rows = Array.from({ length: 7 }, (_, i) => [i / 7, 1 - i / 7, (i % 3) / 3, 0.5]);
    const dataset = rows.map((row) => JSON.stringify([row])).join('\n') + '\n{"broken\n';
    const form = new FormData();
    form.append('chunk_size', '3');
    form.append('data', new Blob([dataset]), 'rows.ndjson');
    const accepted = await fetch(`${url}/api/v1/servables/lab/mlp/batch`, { method: 'POST', body: form });
    expect(accepted.status).toBe(202);
    const { task_id: taskId } = (await accepted.json()) as { task_id: string };
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the record is compared field by field below
    const task = (await waitForTask(url, taskId)) as unknown as { status: string; result: { provenance: Record<string, any>; failed: number } };
    expect(task.status).toBe('SUCCEEDED');
    expect(task.result.failed).toBe(1);

    const resultsText = await (await fetch(`${url}/api/v1/tasks/${taskId}/results`)).text();
    const record = task.result.provenance;
    const described = (await getJson(`${url}/api/v1/servables/lab/mlp`)).body;
    expect(record).toMatchObject({
      run_id: taskId,
      servable: 'lab/mlp',
      version: 1,
      identifier: described.hub.identifier,
      method: 'run',
      endpoint: null,
      inputs_sha256: sha256(dataset),
      outputs_sha256: sha256(resultsText),
      files: [{ path: 'mlp.onnx', sha256: sha256(model), size: model.length }],
      runtime: { type: 'onnx', name: 'onnxruntime-node' },
      hub: { name: 'modelhub' },
      batch: { task_id: taskId, dataset: { sha256: sha256(dataset), format: 'ndjson', records: 8 }, results: { sha256: sha256(resultsText), format: 'ndjson' }, succeeded: 7, failed: 1 },
    });
    expect(Date.parse(record.started_at)).toBeLessThanOrEqual(Date.now());

    // The stored run: the same record, naming the two files by digest.
    const stored = await getJson(`${url}/api/v1/runs/${taskId}`);
    expect(stored.status).toBe(200);
    expect(stored.body.provenance).toEqual(record);
    expect(stored.body.inputs).toMatchObject({ dataset: { sha256: sha256(dataset) } });
    expect(stored.body.output).toMatchObject({ results: { sha256: sha256(resultsText) } });

    // The crate holds the data set and the results as they were; the action names them.
    const crateDir = path.join(dir, 'crate');
    const out: string[] = [];
    await buildCli({ out: (line) => out.push(line), err: () => undefined }).parseAsync(['node', 'modelhub', '--url', url, 'crate', taskId, '-o', crateDir]);
    const metadata = JSON.parse(fs.readFileSync(path.join(crateDir, 'ro-crate-metadata.json'), 'utf8'));
    expect(checkRoCrate(metadata, crateDir, { processRun: true })).toEqual([]);
    expect(sha256(fs.readFileSync(path.join(crateDir, 'dataset.ndjson')))).toBe(record.inputs_sha256);
    expect(sha256(fs.readFileSync(path.join(crateDir, 'results.ndjson')))).toBe(record.outputs_sha256);
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the graph is read entity by entity
    const graph = metadata['@graph'] as Record<string, any>[];
    const action = graph.find((entity) => entity['@type'] === 'CreateAction')!;
    expect(action.object).toContainEqual({ '@id': 'dataset.ndjson' });
    expect(action.result).toEqual([{ '@id': 'results.ndjson' }]);
    expect(graph.find((entity) => entity['@id'] === 'dataset.ndjson')).toMatchObject({ encodingFormat: 'application/x-ndjson', sha256: sha256(dataset) });
  });
});
