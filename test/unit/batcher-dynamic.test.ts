/**
 * The dynamic batcher: real ONNX batches split back in order and compared with an independent
 * float64 forward pass; queue mechanics (shape groups, failures, deadlines) on a gated servable
 * whose runs the test releases by hand.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildMlpOnnx, defaultMlpWeights } from '../../builder/demo/onnx-writer.ts';
import { HubError } from '../../schemas/errors.ts';
import { batchingPolicy, DynamicBatcher, isBatchableMethod, type BatchingPolicy } from '../../hub-server/use-cases/gateway/dynamic-batcher.ts';
import { createHubMetrics } from '../../hub-server/use-cases/gateway/metrics.ts';
import type { LoadedServable } from '../../hub-server/use-cases/gateway/servable-manager.ts';
import type { PublishedMetadata } from '../../schemas/metadata.ts';
import { OnnxRuntime } from '../../servables/onnx-runtime.ts';
import type { Servable, ServableValue, Tensor } from '../../schemas/ports/servable.ts';
import { publishedDocument } from '../contract/metadata-fixtures.ts';

const dir = mkdtempSync(join(tmpdir(), 'batcher-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SPEC = { inputSize: 6, hidden: 5, classes: 4 };
const WEIGHTS = defaultMlpWeights(SPEC, 7);

/** The MLP in float64 JavaScript, independent of onnxruntime. */
function mlpRow(x: ArrayLike<number>): number[] {
  const h = Array.from({ length: SPEC.hidden }, (_, j) => {
    let s = WEIGHTS.b1[j]!;
    for (let i = 0; i < SPEC.inputSize; i++) s += x[i]! * WEIGHTS.w1[i * SPEC.hidden + j]!;
    return Math.max(0, s);
  });
  const z = Array.from({ length: SPEC.classes }, (_, c) => {
    let s = WEIGHTS.b2[c]!;
    for (let j = 0; j < SPEC.hidden; j++) s += h[j]! * WEIGHTS.w2[j * SPEC.classes + c]!;
    return s;
  });
  const e = z.map((v) => Math.exp(v - Math.max(...z)));
  return e.map((v) => v / e.reduce((a, b) => a + b, 0));
}

const document = (key: string, batching?: NonNullable<PublishedMetadata['servable']['options']>['batching']): PublishedMetadata => {
  const doc = publishedDocument({ owner: 'test', name: key, title: key });
  doc.servable.options = batching ? { batching } : undefined;
  return doc;
};

const entryOf = (servable: Servable, doc = document('gated')): LoadedServable => ({
  key: `${doc.hub.owner}/${doc.hub.name}@${doc.hub.version}`,
  document: doc,
  servable,
  lastUsed: 0,
  running: 0,
  pinned: false,
});

const f32 = (rows: number[][]): Tensor => ({ dtype: 'float32', shape: [rows.length, rows[0]!.length], data: Float32Array.from(rows.flat()) });
const POLICY: BatchingPolicy = { maxBatchSize: 64, maxQueueDelayUs: 0, preferredBatchSizes: [] };
const farDeadline = () => Date.now() + 60_000;

/** Echoes its input (x + 0), records each batch's shapes, and waits for the test to open its gate. */
class GatedServable implements Servable {
  readonly type = 'onnx' as const;
  readonly io = 'tensors' as const;
  readonly memoryBytes = 1;
  readonly batches: number[][] = [];
  private gates: (() => void)[] = [];
  closed = true;
  failWhen?: (x: Float32Array) => boolean;

  async run(input: ServableValue): Promise<ServableValue> {
    if (input.kind !== 'tensors') throw new Error('tensors expected');
    const x = input.tensors.x!;
    this.batches.push(x.shape);
    if (this.closed) await new Promise<void>((resolve) => this.gates.push(resolve));
    if (this.failWhen?.(x.data as Float32Array)) throw new Error('the model hit a NaN');
    return { kind: 'tensors', tensors: { y: { ...x, data: Float32Array.from(x.data as Float32Array) } } };
  }

  open(): void {
    this.closed = false;
    for (const gate of this.gates.splice(0)) gate();
  }

  async dispose(): Promise<void> {}
}

/** The values of output `y` of a batch result. */
const yValues = (result: { output: ServableValue }): number[] =>
  result.output.kind === 'tensors' ? Array.from(result.output.tensors.y!.data as Float32Array) : [];

const settle = () => new Promise((resolve) => setTimeout(resolve, 5));

describe('batchingPolicy', () => {
  it('batches ONNX servables with a free leading dimension by default, with the documented defaults', () => {
    expect(batchingPolicy(document('a'))).toEqual({ maxBatchSize: 64, maxQueueDelayUs: 0, preferredBatchSizes: [] });
    expect(batchingPolicy(document('b', { max_batch_size: 8, max_queue_delay_us: 500, preferred_batch_sizes: [16, 4, 2, 4] }))).toEqual({
      maxBatchSize: 8,
      maxQueueDelayUs: 500,
      preferredBatchSizes: [2, 4],
    });
    expect(batchingPolicy(document('c', { enabled: false }))).toBeUndefined();
  });

  it('refuses signatures whose first dimension is not a free batch (Silero state is [2, b, 128])', () => {
    expect(
      isBatchableMethod({
        input: {
          type: 'dict',
          properties: {
            input: { type: 'ndarray', dtype: 'float32', shape: [null, null] },
            state: { type: 'ndarray', dtype: 'float32', shape: [2, null, 128] },
          },
        },
        output: { type: 'ndarray', dtype: 'float32', shape: [null, 1] },
      }),
    ).toBe(false);
    expect(isBatchableMethod({ input: { type: 'ndarray', dtype: 'float32', shape: [1, 4] }, output: { type: 'ndarray', dtype: 'float32', shape: [null, 3] } })).toBe(false);
    const python = document('p');
    python.servable.type = 'python';
    expect(batchingPolicy(python)).toBeUndefined();
    python.servable.options = { batching: { enabled: true } };
    expect(batchingPolicy(python)).toBeDefined();
  });
});

describe('DynamicBatcher on a real ONNX model', () => {
  it('runs concurrent requests as batches and gives each caller its own rows, in order', async () => {
    const bytes = buildMlpOnnx({ ...SPEC, weights: WEIGHTS, inputName: 'x', outputName: 'y' });
    const localPath = join(dir, 'mlp.onnx');
    writeFileSync(localPath, bytes);
    const doc = document('mlp');
    const servable = await new OnnxRuntime().load(doc, [{ path: 'model.onnx', localPath, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') }]);
    const metrics = createHubMetrics();
    const batcher = new DynamicBatcher({ metrics });
    const entry = entryOf(servable, doc);
    // Requests of 1, 2 and 3 rows, each row distinct.
    const requests = Array.from({ length: 24 }, (_, r) => Array.from({ length: (r % 3) + 1 }, (_, k) => Array.from({ length: 6 }, (_, i) => Math.sin(r * 7 + k * 3 + i))));
    const results = await Promise.all(requests.map((rows) => batcher.submit(entry, 'run', POLICY, { x: f32(rows) }, { deadline: farDeadline() })));
    results.forEach((result, r) => {
      const y = (result.output as Extract<ServableValue, { kind: 'tensors' }>).tensors.y!;
      expect(y.shape).toEqual([requests[r]!.length, 4]);
      requests[r]!.forEach((row, k) => {
        const expected = mlpRow(Float32Array.from(row));
        expected.forEach((v, c) => expect((y.data as Float32Array)[k * 4 + c]).toBeCloseTo(v, 5));
      });
    });
    expect(Math.max(...results.map((r) => r.batchSize))).toBeGreaterThan(1);
    const histogram = (await metrics.batchSize.get()).values;
    const count = histogram.find((v) => v.metricName === 'modelhub_batch_size_count')!.value;
    const sum = histogram.find((v) => v.metricName === 'modelhub_batch_size_sum')!.value;
    expect(sum).toBe(24);
    expect(count).toBeLessThan(24);
    await servable.dispose();
  });
});

describe('DynamicBatcher queue mechanics', () => {
  it('caps batches at max_batch_size rows and at a preferred size, and never mixes row shapes', async () => {
    const servable = new GatedServable();
    const batcher = new DynamicBatcher();
    const entry = entryOf(servable);
    const policy: BatchingPolicy = { maxBatchSize: 4, maxQueueDelayUs: 0, preferredBatchSizes: [] };
    const first = batcher.submit(entry, 'run', policy, { x: f32([[0, 0]]) }, { deadline: farDeadline() });
    await settle();
    // While the first batch runs: five 2-wide requests and two 3-wide ones queue up.
    const wide2 = Array.from({ length: 5 }, (_, i) => batcher.submit(entry, 'run', policy, { x: f32([[i, i]]) }, { deadline: farDeadline() }));
    const wide3 = Array.from({ length: 2 }, (_, i) => batcher.submit(entry, 'run', policy, { x: f32([[i, i, i]]) }, { deadline: farDeadline() }));
    servable.open();
    const results = await Promise.all([first, ...wide2, ...wide3]);
    // Each row shape is its own queue: the 3-wide requests never share a batch with 2-wide ones.
    expect(servable.batches.map((shape) => shape.join('x')).sort()).toEqual(['1x2', '1x2', '2x3', '4x2']);
    wide2.forEach((_, i) => expect(yValues(results[1 + i]!)).toEqual([i, i]));
    wide3.forEach((_, i) => expect(yValues(results[6 + i]!)).toEqual([i, i, i]));

    const preferred = new GatedServable();
    preferred.open();
    const pEntry = entryOf(preferred);
    const pPolicy: BatchingPolicy = { maxBatchSize: 16, maxQueueDelayUs: 0, preferredBatchSizes: [2, 4] };
    await Promise.all(Array.from({ length: 7 }, (_, i) => batcher.submit(pEntry, 'run', pPolicy, { x: f32([[i]]) }, { deadline: farDeadline() })));
    expect(preferred.batches.map((shape) => shape[0])).toEqual([4, 2, 1]);
  });

  it('fails only the requests of a failing batch, with an error that says it was a batch', async () => {
    const servable = new GatedServable();
    servable.failWhen = (x) => x.some(Number.isNaN);
    const batcher = new DynamicBatcher();
    const entry = entryOf(servable);
    const blocker = batcher.submit(entry, 'run', POLICY, { x: f32([[1]]) }, { deadline: farDeadline() });
    await settle();
    const poisoned = [batcher.submit(entry, 'run', POLICY, { x: f32([[2]]) }, { deadline: farDeadline() }), batcher.submit(entry, 'run', POLICY, { x: f32([[Number.NaN]]) }, { deadline: farDeadline() })];
    const outcomes = Promise.allSettled(poisoned);
    servable.open();
    await blocker;
    const later = await batcher.submit(entry, 'run', POLICY, { x: f32([[3]]) }, { deadline: farDeadline() });
    const [a, b] = await outcomes;
    for (const outcome of [a!, b!]) {
      expect(outcome.status).toBe('rejected');
      const error = (outcome as PromiseRejectedResult).reason as HubError;
      expect(error.code).toBe('MODELHUB_SERVABLE_FAILED');
      expect(error.message).toMatch(/a batch of 2 requests failed: the model hit a NaN/);
    }
    expect(yValues(later)).toEqual([3]);
  });

  it('answers a request whose deadline passes in the queue with DEADLINE_EXCEEDED, and never runs it', async () => {
    const servable = new GatedServable();
    const batcher = new DynamicBatcher();
    const entry = entryOf(servable);
    const blocker = batcher.submit(entry, 'run', POLICY, { x: f32([[1]]) }, { deadline: farDeadline() });
    await settle();
    const late = batcher.submit(entry, 'run', POLICY, { x: f32([[42]]) }, { deadline: Date.now() + 10 });
    const onTime = batcher.submit(entry, 'run', POLICY, { x: f32([[7]]) }, { deadline: farDeadline() });
    await new Promise((resolve) => setTimeout(resolve, 30));
    servable.open();
    await blocker;
    await expect(late).rejects.toMatchObject({ code: 'MODELHUB_DEADLINE_EXCEEDED' });
    expect(yValues(await onTime)).toEqual([7]);
    expect(servable.batches).toEqual([[1, 1], [1, 1]]);
  });

  it('refuses outputs whose leading dimension is not the batch, naming the setting to turn off', async () => {
    const servable = new GatedServable();
    servable.open();
    servable.run = async () => ({ kind: 'tensors', tensors: { y: f32([[1, 2]]) } });
    const batcher = new DynamicBatcher();
    const entry = entryOf(servable);
    const results = await Promise.allSettled([1, 2, 3].map((v) => batcher.submit(entry, 'run', POLICY, { x: f32([[v]]) }, { deadline: farDeadline() })));
    const errors = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason as HubError);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]!.message).toMatch(/batching\.enabled/);
  });
});
