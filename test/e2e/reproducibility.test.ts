/**
 * Reproducibility checks (docs/provenance.md), against a real hub in this process: examples given
 * at publish or recorded from the warm-up input, `modelhub verify`, an example changed behind the
 * hub's back and a runtime swapped under it both flagged as drifted (the event once), the result on
 * the model card, the landing page and as a search facet and filter, and a re-check at start when
 * the runtime that served the last check differs, plus the MODELHUB_VERIFY_INTERVAL schedule.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlpOnnx } from '../../builder/demo/onnx-writer.ts';
import { buildApp } from '../../hub-server/app.ts';
import { loadConfig } from '../../hub-server/config.ts';
import type { HubEvent } from '../../hub-server/use-cases/hub-events.ts';
import { buildCli } from '../../sdk/cli.ts';
import type { ServableMetadata } from '../../schemas/metadata.ts';
import { getJson, onnxMetadata, postJson, publishAndWait } from '../helpers/hub-http.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'modelhub-reproducibility-'));
const model = buildMlpOnnx({ inputSize: 4, hidden: 8, classes: 3 });
const EXAMPLE = [[0.1, 0.2, 0.3, 0.4]];
let app: FastifyInstance;
let url = '';
let events: HubEvent[] = [];

async function start(env: Record<string, string> = {}) {
  app = await buildApp(loadConfig({ MODELHUB_DATA: dir, MODELHUB_DEMO: 'false', MODELHUB_LOG_LEVEL: 'silent', MODELHUB_VERIFY_INTERVAL: '0', ...env }), { logger: false });
  app.hub.events.on((event) => events.push(event));
  url = await app.listen({ port: 0, host: '127.0.0.1' });
}

async function cli(...args: string[]): Promise<{ out: string; code: number | string | undefined }> {
  const out: string[] = [];
  const exitCode = process.exitCode;
  await buildCli({ out: (line) => out.push(line), err: (line) => out.push(line) }).parseAsync(['node', 'modelhub', '--url', url, ...args]);
  const code = process.exitCode;
  process.exitCode = exitCode;
  return { out: out.join('\n'), code };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const lastCheck = async (servable: string, version = 1) => {
  const { status, body } = await getJson(`${url}/api/v1/servables/${servable}/versions/${version}/reproducibility`);
  return status === 200 ? body : undefined;
};

function withRunDetails(metadata: ServableMetadata, details: Record<string, unknown>): ServableMetadata {
  metadata.servable.methods.run = { ...metadata.servable.methods.run, method_details: details };
  return metadata;
}

let expectedOutput: number[][];

beforeAll(async () => {
  await start();
  // Recorded from the warm-up input: the output of its first run is what later checks expect.
  const warm = await publishAndWait(url, withRunDetails(onnxMetadata('lab', 'warm'), { example_inputs: EXAMPLE }), [{ name: 'mlp.onnx', bytes: model }]);
  expect(warm.task.status).toBe('SUCCEEDED');
  expectedOutput = (await postJson(`${url}/api/v1/servables/lab/warm/run`, { inputs: EXAMPLE })).body.output;
  // Given at publish, with a tolerance per output.
  const given = withRunDetails(onnxMetadata('lab', 'given'), { examples: [{ name: 'first', inputs: EXAMPLE, output: expectedOutput, tolerance: { output: 1e-6 } }] });
  expect((await publishAndWait(url, given, [{ name: 'mlp.onnx', bytes: model }])).task.status).toBe('SUCCEEDED');
  // An example whose inputs do not fit the model: the check fails (and says why).
  const broken = withRunDetails(onnxMetadata('lab', 'broken'), { examples: [{ name: 'bad', inputs: [[1, 2]], output: [[0, 0, 1]] }] });
  expect((await publishAndWait(url, broken, [{ name: 'mlp.onnx', bytes: model }])).task.status).toBe('SUCCEEDED');
  expect((await publishAndWait(url, onnxMetadata('lab', 'plain'), [{ name: 'mlp.onnx', bytes: model }])).task.status).toBe('SUCCEEDED');
}, 180_000);
afterAll(async () => {
  await app?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('reproducibility checks', () => {
  it('checks examples after publishing and shows the result on the model card and the landing page', async () => {
    const warm = await until('the check of lab/warm', () => lastCheck('lab/warm'));
    expect(warm).toMatchObject({ servable: 'lab/warm', version: 1, status: 'reproducible', summary: 'reproducible (1 example)', reason: 'publish' });
    expect(warm.runtime).toMatch(/^onnxruntime-node=\d/);
    const given = await until('the check of lab/given', () => lastCheck('lab/given'));
    expect(given.status).toBe('reproducible');
    const broken = await until('the check of lab/broken', () => lastCheck('lab/broken'));
    expect(broken.status).toBe('fails');
    expect(broken.summary).toMatch(/^fails: example 'bad': /);
    expect((await getJson(`${url}/api/v1/servables/lab/plain/versions/1/reproducibility`)).status).toBe(404);

    const card = (await getJson(`${url}/api/v1/servables/lab/given`)).body;
    expect(card.hub.reproducibility).toMatchObject({ status: 'reproducible', summary: 'reproducible (1 example)' });
    const landing = await fetch(`${url}/id/${card.hub.identifier}`, { headers: { accept: 'text/html' } });
    expect(await landing.text()).toContain('reproducible (1 example)');
  });

  it('flags an example changed behind the hub\'s back as drifted, tells the owner once, and counts it in the facet', async () => {
    await until('the check of lab/warm', () => lastCheck('lab/warm'));
    events = [];
    // Behind the hub's back: the recorded expected output changes in the store itself.
    const db = new Database(path.join(dir, 'reproducibility.db'));
    const row = db.prepare("SELECT examples FROM examples WHERE owner = 'lab' AND name = 'warm'").pluck().get() as string;
    const examples = JSON.parse(row) as { expected: number[][] }[];
    examples[0]!.expected[0]![1]! += 0.03;
    db.prepare("UPDATE examples SET examples = ? WHERE owner = 'lab' AND name = 'warm'").run(JSON.stringify(examples));
    db.close();

    const { out, code } = await cli('verify', 'lab/warm@1');
    expect(code).toBe(1);
    expect(out).toMatch(/^lab\/warm@1: drifted: output 'output' differs by 3e-2 \(example 'warm-up'\)/);
    const again = await postJson(`${url}/api/v1/servables/lab/warm/verify`, {});
    expect(again.body).toMatchObject({ status: 'drifted', reason: 'manual' });
    const drift = events.filter((event) => event.event === 'drift.detected');
    expect(drift).toHaveLength(1);
    expect(drift[0]).toMatchObject({ owner: 'lab', name: 'warm', version: 1 });

    const search = (await getJson(`${url}/api/v1/search?limit=0`)).body;
    expect(search.facets.reproducibility).toMatchObject({ drifted: 1, reproducible: 1, fails: 1, unchecked: 1 });
    const drifted = (await getJson(`${url}/api/v1/search?reproducibility=drifted`)).body;
    expect(drifted.hits.map((hit: { servable: string }) => hit.servable)).toEqual(['lab/warm']);
    expect((await getJson(`${url}/api/v1/search?reproducibility=sometimes`)).status).toBe(400);
  });

  it('flags a runtime that answers differently, and clears the flag when it answers as before', async () => {
    events = [];
    const gateway = app.hub.gateway;
    const original = gateway.executor;
    // A swapped runtime: every output comes back shifted by 0.5.
    gateway.executor = async (entry, method, input, options) => {
      const result = await original(entry, method, input, options);
      if (result.output.kind === 'tensors') for (const tensor of Object.values(result.output.tensors)) (tensor.data as Float32Array)[0]! += 0.5;
      return result;
    };
    try {
      const check = (await postJson(`${url}/api/v1/servables/lab/given/versions/1/verify`, {})).body;
      expect(check.status).toBe('drifted');
      expect(check.summary).toBe("drifted: output 'output' differs by 5e-1 (example 'first')");
    } finally {
      gateway.executor = original;
    }
    expect(events.filter((event) => event.event === 'drift.detected').map((event) => event.name)).toEqual(['given']);
    expect((await postJson(`${url}/api/v1/servables/lab/given/verify`, {})).body.status).toBe('reproducible');
    expect((await getJson(`${url}/api/v1/servables/lab/given`)).body.hub.reproducibility.status).toBe('reproducible');
  });

  it('re-checks at start when the runtime changed since the last check, and on the MODELHUB_VERIFY_INTERVAL schedule', async () => {
    const before = await until('the check of lab/given', () => lastCheck('lab/given'));
    await app.close();
    // As if the last check had run on another onnxruntime.
    const db = new Database(path.join(dir, 'reproducibility.db'));
    const last = db.prepare("SELECT id, record FROM checks WHERE owner = 'lab' AND name = 'given' ORDER BY id DESC LIMIT 1").get() as { id: number; record: string };
    db.prepare('UPDATE checks SET record = ? WHERE id = ?').run(JSON.stringify({ ...JSON.parse(last.record), runtime: 'onnxruntime-node=1.0.0' }), last.id);
    db.close();
    await start({ MODELHUB_VERIFY_INTERVAL: '1s' });
    const upgraded = await until('a re-check after the runtime change', async () => {
      const check = await lastCheck('lab/given');
      return check?.reason === 'runtime-upgrade' ? check : undefined;
    });
    expect(upgraded).toMatchObject({ status: 'reproducible', runtime: before.runtime });
    // lab/warm was last checked on this runtime: not re-checked at start, but by the schedule.
    const scheduled = await until('a scheduled check', async () => {
      const check = await lastCheck('lab/warm');
      return check?.reason === 'schedule' ? check : undefined;
    });
    expect(scheduled.status).toBe('drifted');
  });
});
