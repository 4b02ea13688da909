/**
 * The gateway over the wire, against a real hub with a small admission limit: memoization (and
 * none for non-deterministic servables), dynamic batching of concurrent requests with results equal
 * to one-by-one runs, 503 with Retry-After over capacity, deadlines, and the metrics all of it feeds.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildMlpOnnx } from '../../builder/demo/onnx-writer.ts';
import { startTestHub, type TestHub } from '../helpers/test-hub.ts';
import { onnxMetadata, postJson, publishAndWait } from '../helpers/hub-http.ts';

const MAX_QUEUE = 8;
let hub: TestHub;
const mlp = buildMlpOnnx({ inputSize: 16, hidden: 8, classes: 3 });
// 16 inputs x 262144 hidden units: 20 MB of weights, so loading takes far longer than a 1 ms deadline
// on any machine (a tiny model can load within the same millisecond and make the test flaky).
const heavyMlp = buildMlpOnnx({ inputSize: 16, hidden: 262_144, classes: 3 });
const row = (seed: number) => Array.from({ length: 16 }, (_, i) => Math.round(Math.sin(seed * 16 + i) * 1e4) / 1e4);
const run = (servable: string, inputs: unknown, headers: Record<string, string> = {}, parameters?: Record<string, unknown>) =>
  postJson(`${hub.url}/api/v1/servables/${servable}/run`, { inputs, ...(parameters ? { parameters } : {}) }, headers);

async function publish(name: string, options?: Record<string, unknown>, model = mlp) {
  const metadata = onnxMetadata('gw', name);
  if (options) metadata.servable.options = options;
  const { task } = await publishAndWait(hub.url, metadata, [{ name: 'mlp.onnx', bytes: model }]);
  expect(task.status).toBe('SUCCEEDED');
}

beforeAll(async () => {
  hub = await startTestHub({ env: { MODELHUB_MAX_QUEUE: String(MAX_QUEUE) } });
  await publish('cached');
  await publish('fresh', { deterministic: false });
  await publish('batched', { batching: { enabled: true, max_batch_size: 32 } });
  await publish('unbatched', { batching: { enabled: false } });
  await publish('slow-to-load', undefined, heavyMlp);
  await publish('slow-to-load-too', undefined, heavyMlp);
  // Never run before the overload test: its first requests wait for the (slow) load, so they pile up.
  await publish('overload', { batching: { enabled: true, max_batch_size: 32 } }, heavyMlp);
});
afterAll(async () => hub?.stop());

describe('gateway over HTTP', () => {
  it('answers a repeated request from the cache, whatever the key order, but never for a non-deterministic servable', async () => {
    const first = await run('gw/cached', [row(1)], {}, { b: 1, a: 2 });
    const second = await run('gw/cached', [row(1)], {}, { a: 2, b: 1 });
    expect([first.body.cached, second.body.cached]).toEqual([false, true]);
    expect(second.body.output).toEqual(first.body.output);
    expect(second.body.timing.inference_ms).toBe(0);
    // The same text again is answered before parsing, from the same entry, with the same reply shape.
    const third = await run('gw/cached', [row(1)], {}, { a: 2, b: 1 });
    expect(third.status).toBe(200);
    expect(third.body).toMatchObject({ output: first.body.output, servable: 'gw/cached', version: 1, cached: true, timing: { queue_ms: 0, inference_ms: 0 } });
    expect(third.headers.get('content-type')).toMatch(/^application\/json/);
    const fresh = [await run('gw/fresh', [row(1)]), await run('gw/fresh', [row(1)])];
    expect(fresh.map((r) => r.body.cached)).toEqual([false, false]);
    expect(fresh[1]!.body.output).toEqual(first.body.output);
  });

  it('batches concurrent requests and gives each the numbers it gets alone', async () => {
    const alone: number[][][] = [];
    for (let i = 0; i < MAX_QUEUE; i++) alone.push((await run('gw/unbatched', [row(100 + i)])).body.output);
    const together = await Promise.all(Array.from({ length: MAX_QUEUE }, (_, i) => run('gw/batched', [row(100 + i)])));
    together.forEach((reply, i) => {
      expect(reply.status).toBe(200);
      (reply.body.output as number[][])[0]!.forEach((v, c) => expect(v).toBeCloseTo(alone[i]![0]![c]!, 6));
    });
    const metrics = await (await fetch(`${hub.url}/metrics`)).text();
    const count = Number(/^modelhub_batch_size_count\{servable="gw\/batched",version="1"\} (\d+)/m.exec(metrics)?.[1]);
    const sum = Number(/^modelhub_batch_size_sum\{servable="gw\/batched",version="1"\} (\d+)/m.exec(metrics)?.[1]);
    expect(sum).toBe(MAX_QUEUE);
    expect(count).toBeLessThan(MAX_QUEUE);
  });

  it('turns away what is over capacity with 503 and Retry-After, and serves the rest', async () => {
    const replies = await Promise.all(Array.from({ length: 64 }, (_, i) => run('gw/overload', [row(1000 + i)])));
    const statuses = replies.map((r) => r.status);
    expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
    const rejected = replies.filter((r) => r.status === 503);
    expect(rejected.length).toBeGreaterThan(0);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(MAX_QUEUE);
    expect(rejected[0]!.headers.get('retry-after')).toBe('1');
    expect(rejected[0]!.body.error.code).toBe('MODELHUB_OVERLOADED');
    // Capacity comes back once the queue drains.
    expect((await run('gw/overload', [row(5000)])).status).toBe(200);
  });

  it('answers 504 DEADLINE_EXCEEDED, without running, when the deadline passes before the servable runs', async () => {
    // The first request loads the 20 MB servable (tens of milliseconds); a 1 ms deadline passes meanwhile.
    const late = await run('gw/slow-to-load', [row(7)], { 'x-modelhub-deadline-ms': '1' });
    expect(late.status).toBe(504);
    expect(late.body.error.code).toBe('MODELHUB_DEADLINE_EXCEEDED');
    const late2 = await run('gw/slow-to-load-too', [row(8)], {}, { deadline_ms: 1 });
    expect(late2.status).toBe(504);
    expect(late2.body.error.code).toBe('MODELHUB_DEADLINE_EXCEEDED');
    const metrics = await (await fetch(`${hub.url}/metrics`)).text();
    expect(metrics).not.toMatch(/modelhub_inference_requests_total\{servable="gw\/slow-to-load",version="1",outcome="ok"\}/);
    expect((await run('gw/slow-to-load', [row(7)], { 'x-modelhub-deadline-ms': '10000' })).status).toBe(200);
  });

  it('exposes cache events, loaded servables, their memory and per-servable latency histograms', async () => {
    const metrics = await (await fetch(`${hub.url}/metrics`)).text();
    expect(metrics).toMatch(/^modelhub_cache_events_total\{event="hit"\} [1-9]/m);
    expect(metrics).toMatch(/^modelhub_cache_events_total\{event="miss"\} [1-9]/m);
    expect(metrics).toMatch(/^modelhub_loaded_servables [1-9]/m);
    expect(metrics).toMatch(/^modelhub_resident_servable_bytes\{servable="gw\/batched",version="1"\} [1-9]/m);
    for (const histogram of ['modelhub_inference_queue_seconds', 'modelhub_inference_seconds', 'modelhub_inference_total_seconds']) {
      expect(metrics).toMatch(new RegExp(`^${histogram}_count\\{servable="gw/batched",version="1"\\} [1-9]`, 'm'));
    }
  });
});
