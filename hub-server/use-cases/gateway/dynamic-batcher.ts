/**
 * Dynamic batching, as Triton does it: requests to a servable whose every input and output has a
 * free leading (batch) dimension wait in a per-servable queue; the queue runs as one batch,
 * concatenated along dimension 0, and each caller gets its own rows back, in order. Only requests
 * with the same method, parameters, dtypes and non-batch shapes share a batch.
 *
 * One batch per queue (servable, method and row shape) runs at a time. While it runs, new requests gather, so the batch size
 * follows the load by itself: one connection sees batches of one and pays only a `setImmediate`
 * hop; sixty-four connections see batches of dozens. `max_queue_delay_us` adds a deliberate wait
 * for a fuller batch (0 by default: what is there when the servable is free runs).
 */
import { HubError, isHubError } from '../../../schemas/errors.ts';
import type { Method, ArgumentType, PublishedMetadata, ServableType } from '../../../schemas/metadata.ts';
import type { ServableValue, Tensor, TypedArray } from '../../../schemas/ports/servable.ts';
import { allocate } from '../../../schemas/codecs/tensors.ts';
import type { HubMetrics } from './metrics.ts';
import { canonicalJson } from './result-cache.ts';
import type { LoadedServable } from './servable-manager.ts';

export interface BatchingPolicy {
  maxBatchSize: number;
  maxQueueDelayUs: number;
  /** Ascending; empty when none was declared. */
  preferredBatchSizes: number[];
}

export const BATCHING_DEFAULTS = { maxBatchSize: 64, maxQueueDelayUs: 0 } as const;

/**
 * Runtimes whose batches are on by default when the signature allows it. The benchmark showed
 * batching ONNX costs nothing measurable at one connection and multiplies throughput under load
 * (bench/README.md); other tensor runtimes batch when their metadata says `enabled: true`.
 */
const BATCHED_BY_DEFAULT: ReadonlySet<ServableType> = new Set(['onnx']);

const leadingFree = (type: ArgumentType): boolean => type.type === 'ndarray' && type.shape.length >= 1 && type.shape[0] === null;

/** Whether every input and output of the method is a tensor with a free leading dimension. */
export function isBatchableMethod(method: Method): boolean {
  const side = (type: ArgumentType): boolean => {
    if (type.type === 'ndarray') return leadingFree(type);
    if (type.type === 'dict') {
      const values = Object.values(type.properties);
      return values.length > 0 && values.every(leadingFree);
    }
    return false;
  };
  return side(method.input) && side(method.output);
}

/** The batching policy of a servable's method, or undefined when its requests run one by one. */
export function batchingPolicy(document: PublishedMetadata, methodName = 'run'): BatchingPolicy | undefined {
  const options = document.servable.options?.batching;
  if (options?.enabled === false) return undefined;
  if (options?.enabled !== true && !BATCHED_BY_DEFAULT.has(document.servable.type)) return undefined;
  const methods = document.servable.methods as Record<string, Method | undefined>;
  // Own properties only: a method name comes from the request ("constructor" is no method).
  const method = Object.hasOwn(methods, methodName) ? methods[methodName] : undefined;
  if (!method || !isBatchableMethod(method)) return undefined;
  const maxBatchSize = options?.max_batch_size ?? BATCHING_DEFAULTS.maxBatchSize;
  if (maxBatchSize <= 1) return undefined;
  return {
    maxBatchSize,
    maxQueueDelayUs: options?.max_queue_delay_us ?? BATCHING_DEFAULTS.maxQueueDelayUs,
    preferredBatchSizes: [...new Set(options?.preferred_batch_sizes ?? [])].filter((n) => n <= maxBatchSize).sort((a, b) => a - b),
  };
}

export interface BatchResult {
  output: ServableValue;
  inferenceMs: number;
  batchSize: number;
}

interface Pending {
  tensors: Record<string, Tensor>;
  rows: number;
  deadline: number;
  signal?: AbortSignal;
  resolve: (result: BatchResult) => void;
  reject: (error: unknown) => void;
}

interface Queue {
  key: string;
  entry: LoadedServable;
  method: string;
  parameters?: Record<string, unknown>;
  policy: BatchingPolicy;
  items: Pending[];
  rows: number;
  running: boolean;
  scheduled: ReturnType<typeof setTimeout> | ReturnType<typeof setImmediate> | undefined;
}

/** Rows of a request: the common leading dimension of its tensors, or undefined when they differ. */
function rowsOf(tensors: Record<string, Tensor>): number | undefined {
  let rows: number | undefined;
  for (const tensor of Object.values(tensors)) {
    const first = tensor.shape[0];
    if (first === undefined || (rows !== undefined && rows !== first)) return undefined;
    rows = first;
  }
  return rows;
}

/** The key under which requests may share a batch: same servable, method, parameters and row shapes. */
function groupKey(entryKey: string, method: string, parameters: Record<string, unknown> | undefined, tensors: Record<string, Tensor>): string {
  const names = Object.keys(tensors).sort();
  let key = `${entryKey}#${method}#`;
  if (parameters && Object.keys(parameters).length > 0) key += canonicalJson(parameters);
  for (const name of names) {
    const tensor = tensors[name]!;
    key += `|${name}:${tensor.dtype}:${tensor.shape.slice(1).join('x')}`;
  }
  return key;
}

function concat(items: Pending[], rows: number): Record<string, Tensor> {
  const first = items[0]!.tensors;
  const out: Record<string, Tensor> = {};
  for (const [name, sample] of Object.entries(first)) {
    const shape = [rows, ...sample.shape.slice(1)];
    if (sample.dtype === 'string') {
      out[name] = { dtype: 'string', shape, data: items.flatMap((item) => item.tensors[name]!.data as string[]) };
      continue;
    }
    const data = allocate(sample.dtype, rows * (sample.data.length / Math.max(1, sample.shape[0]!))) as TypedArray;
    let offset = 0;
    for (const item of items) {
      const part = item.tensors[name]!.data as TypedArray;
      (data as Float32Array).set(part as Float32Array, offset);
      offset += part.length;
    }
    out[name] = { dtype: sample.dtype, shape, data };
  }
  return out;
}

/** Each request's rows of the batch's outputs (views, not copies). */
function split(output: ServableValue, items: Pending[], rows: number): ServableValue[] {
  if (output.kind !== 'tensors') throw new HubError('SERVABLE_FAILED', 'a batched servable gave JSON instead of tensors');
  const results: Record<string, Tensor>[] = items.map(() => ({}));
  for (const [name, tensor] of Object.entries(output.tensors)) {
    if (tensor.shape[0] !== rows) {
      throw new HubError(
        'SERVABLE_FAILED',
        `output "${name}" of a batch of ${rows} rows has leading dimension ${tensor.shape[0]}; this servable's first dimension is not a batch (set servable.options.batching.enabled to false)`,
      );
    }
    const perRow = rows === 0 ? 0 : tensor.data.length / rows;
    let row = 0;
    items.forEach((item, i) => {
      const start = row * perRow;
      const end = (row + item.rows) * perRow;
      const data = Array.isArray(tensor.data) ? tensor.data.slice(start, end) : (tensor.data as TypedArray).subarray(start, end);
      results[i]![name] = { dtype: tensor.dtype, shape: [item.rows, ...tensor.shape.slice(1)], data };
      row += item.rows;
    });
  }
  return results.map((tensors) => ({ kind: 'tensors', tensors }));
}

/** A batch failure as each of its requests sees it: input errors stay as they are, faults say they were batched. */
function batchError(error: unknown, size: number): unknown {
  if (size === 1) return error;
  if (isHubError(error) && error.status < 500) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new HubError('SERVABLE_FAILED', `a batch of ${size} requests failed: ${message}`, { cause: error });
}

export interface DynamicBatcherOptions {
  metrics?: HubMetrics;
}

export class DynamicBatcher {
  private readonly queues = new Map<string, Queue>();

  constructor(private readonly options: DynamicBatcherOptions = {}) {}

  /** Requests waiting (not yet running) for a servable version, for tests and introspection. */
  waiting(entryKey: string): number {
    let count = 0;
    for (const queue of this.queues.values()) if (queue.entry.key === entryKey) count += queue.items.length;
    return count;
  }

  /**
   * Queue a request's tensors for a batched run. A request whose tensors disagree on their leading
   * dimension, or that alone exceeds the batch size, runs by itself.
   */
  submit(
    entry: LoadedServable,
    method: string,
    policy: BatchingPolicy,
    tensors: Record<string, Tensor>,
    options: { parameters?: Record<string, unknown>; deadline: number; signal?: AbortSignal },
  ): Promise<BatchResult> {
    const rows = rowsOf(tensors);
    if (rows === undefined || rows === 0 || rows > policy.maxBatchSize) return this.runAlone(entry, method, tensors, options);
    const key = groupKey(entry.key, method, options.parameters, tensors);
    let queue = this.queues.get(key);
    if (!queue || queue.entry !== entry) {
      queue = { key, entry, method, parameters: options.parameters, policy, items: [], rows: 0, running: false, scheduled: undefined };
      this.queues.set(key, queue);
    }
    return new Promise<BatchResult>((resolve, reject) => {
      queue.items.push({ tensors, rows, deadline: options.deadline, signal: options.signal, resolve, reject });
      queue.rows += rows;
      this.schedule(queue);
    });
  }

  private async runAlone(
    entry: LoadedServable,
    method: string,
    tensors: Record<string, Tensor>,
    options: { parameters?: Record<string, unknown>; deadline: number; signal?: AbortSignal },
  ): Promise<BatchResult> {
    const started = performance.now();
    const output = await entry.servable.run({ kind: 'tensors', tensors }, { method, ...options });
    return { output, inferenceMs: performance.now() - started, batchSize: 1 };
  }

  private schedule(queue: Queue): void {
    if (queue.running) return;
    if (queue.rows >= queue.policy.maxBatchSize) {
      this.clearSchedule(queue);
      void this.dispatch(queue);
      return;
    }
    if (queue.scheduled !== undefined) return;
    const delayUs = queue.policy.maxQueueDelayUs;
    // setImmediate lets every request already read from the sockets in this loop turn join.
    queue.scheduled = delayUs === 0 ? setImmediate(() => this.fire(queue)) : setTimeout(() => this.fire(queue), Math.max(1, delayUs / 1000));
  }

  private fire(queue: Queue): void {
    queue.scheduled = undefined;
    if (!queue.running) void this.dispatch(queue);
  }

  private clearSchedule(queue: Queue): void {
    if (queue.scheduled === undefined) return;
    clearTimeout(queue.scheduled as ReturnType<typeof setTimeout>);
    clearImmediate(queue.scheduled as ReturnType<typeof setImmediate>);
    queue.scheduled = undefined;
  }

  /** Take the next batch off the queue: expired requests are answered and never run. */
  private take(queue: Queue): Pending[] {
    const now = Date.now();
    const live: Pending[] = [];
    for (const item of queue.items) {
      if (item.signal?.aborted) item.reject(item.signal.reason ?? new HubError('DEADLINE_EXCEEDED', 'the request was cancelled while queued'));
      else if (now > item.deadline) item.reject(new HubError('DEADLINE_EXCEEDED', 'the request waited in the batch queue past its deadline'));
      else live.push(item);
    }
    queue.items = live;
    queue.rows = live.reduce((sum, item) => sum + item.rows, 0);
    const available = Math.min(queue.rows, queue.policy.maxBatchSize);
    // A preferred size at or under what is waiting caps the batch; the rest runs right after.
    const preferred = queue.policy.preferredBatchSizes.filter((n) => n <= available).pop();
    const target = preferred ?? available;
    const batch: Pending[] = [];
    let rows = 0;
    while (queue.items.length > 0 && (batch.length === 0 || rows + queue.items[0]!.rows <= target)) {
      const item = queue.items.shift()!;
      batch.push(item);
      rows += item.rows;
    }
    queue.rows -= rows;
    return batch;
  }

  private async dispatch(queue: Queue): Promise<void> {
    const batch = this.take(queue);
    if (batch.length === 0) {
      if (this.queues.get(queue.key) === queue) this.queues.delete(queue.key);
      return;
    }
    queue.running = true;
    const rows = batch.reduce((sum, item) => sum + item.rows, 0);
    const { entry } = queue;
    const labels = { servable: `${entry.document.hub.owner}/${entry.document.hub.name}`, version: entry.document.hub.version };
    this.options.metrics?.batchSize.observe(labels, batch.length);
    const started = performance.now();
    try {
      const tensors = batch.length === 1 ? batch[0]!.tensors : concat(batch, rows);
      const deadline = Math.max(...batch.map((item) => item.deadline));
      const output = await entry.servable.run({ kind: 'tensors', tensors }, { method: queue.method, parameters: queue.parameters, deadline });
      const inferenceMs = performance.now() - started;
      const parts = batch.length === 1 ? [output] : split(output, batch, rows);
      batch.forEach((item, i) => item.resolve({ output: parts[i]!, inferenceMs, batchSize: batch.length }));
    } catch (error) {
      const failure = batchError(error, batch.length);
      for (const item of batch) item.reject(failure);
    } finally {
      queue.running = false;
      if (queue.items.length > 0) void this.dispatch(queue);
      else if (this.queues.get(queue.key) === queue) this.queues.delete(queue.key);
    }
  }
}
