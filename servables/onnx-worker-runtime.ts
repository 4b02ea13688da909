/**
 * ONNX models run in `node:worker_threads` instead of on the event loop (MODELHUB_WORKER_THREADS > 0).
 * onnxruntime-node's `session.run` is synchronous on the thread that calls it; here it blocks a
 * worker, so the hub's loop keeps reading, parsing and answering other requests meanwhile.
 *
 * One session per servable version, in the worker that holds the fewest sessions, not a copy in
 * every worker: the dynamic batcher runs one batch at a time per servable, so a second copy of the
 * same model would sit idle while doubling its memory (23 MB of weights for the bench's deep MLP)
 * and breaking the residency budget's count; different servables spread over the workers run in
 * parallel. Inputs are checked on the main thread with the in-process runtime's own code
 * (`checkedFeeds`), so both refuse the same inputs with the same errors; their bytes are copied once
 * into buffers that are transferred, and outputs come back transferred. A worker that dies fails
 * only the requests it was running (MODELHUB_SERVABLE_FAILED); the next request starts a fresh
 * worker and re-opens its servables' sessions there.
 */
import { Worker } from 'node:worker_threads';
import { HubError } from '../schemas/errors.ts';
import type { PublishedMetadata, ServableBlock } from '../schemas/metadata.ts';
import { checkedFeeds, fromOrtTensor, OnnxRuntime, resolveModelFile, runnableTensors, SESSION_OPTIONS, type OrtFeed } from './onnx-runtime.ts';
import type { SessionFacts, WireTensor, WorkerReply, WorkerRequest } from './onnx-worker.ts';
import type { InspectionResult, LocalFile, RunOptions, Servable, ServableRuntime, ServableValue, Tensor } from '../schemas/ports/servable.ts';

const BOOT = new URL('./onnx-worker-boot.mjs', import.meta.url);

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** A request the worker answered with an error (as opposed to a worker that died). */
class WorkerRefusal extends Error {
  constructor(
    message: string,
    readonly unavailable: boolean,
  ) {
    super(message);
  }
}

type Ok = Extract<WorkerReply, { ok: true }>;
interface Pending {
  resolve: (reply: Ok) => void;
  reject: (error: Error) => void;
}

interface Slot {
  worker: Worker | undefined;
  /** Counts the workers this slot has started; a session belongs to one of them. */
  generation: number;
  pending: Map<number, Pending>;
  sessions: number;
}

type Request = WorkerRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;

export class OnnxWorkerPool {
  private readonly slots: Slot[];
  private nextId = 1;
  private nextSession = 1;
  private closed = false;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`an ONNX worker pool needs at least one thread, not ${size}`);
    this.slots = Array.from({ length: size }, () => ({ worker: undefined, generation: 0, pending: new Map(), sessions: 0 }));
  }

  /** The slot for a new servable: the one holding the fewest sessions. */
  place(): number {
    let best = 0;
    for (let i = 1; i < this.slots.length; i++) if (this.slots[i]!.sessions < this.slots[best]!.sessions) best = i;
    this.slots[best]!.sessions++;
    return best;
  }

  sessionId(): number {
    return this.nextSession++;
  }

  forget(slot: number): void {
    this.slots[slot]!.sessions--;
  }

  /** The generation of the slot's live worker, or undefined when none runs. */
  liveGeneration(slot: number): number | undefined {
    const s = this.slots[slot]!;
    return s.worker ? s.generation : undefined;
  }

  /** Sessions held, by slot (for tests and diagnostics). */
  sessionCounts(): number[] {
    return this.slots.map((s) => s.sessions);
  }

  /** The running workers' thread ids, by slot (for tests and diagnostics). */
  threadIds(): (number | undefined)[] {
    return this.slots.map((s) => s.worker?.threadId);
  }

  /** Stops one worker as a crash would; its requests fail and the next request starts another. */
  async terminate(slot: number): Promise<void> {
    await this.slots[slot]!.worker?.terminate();
  }

  /**
   * Sends one request to the slot's worker, starting one if none runs; resolves with its reply.
   * A refusal rejects with WorkerRefusal, a worker that stops with HubError(SERVABLE_FAILED).
   */
  request(slot: number, message: Request, transfer: ArrayBuffer[] = []): Promise<Ok> {
    if (this.closed) return Promise.reject(new HubError('NOT_READY', 'the ONNX worker threads were stopped'));
    const s = this.slots[slot]!;
    const worker = s.worker ?? this.start(s);
    const id = this.nextId++;
    return new Promise<Ok>((resolve, reject) => {
      // An idle pool does not keep the process alive; a request in flight does.
      if (s.pending.size === 0) worker.ref();
      s.pending.set(id, { resolve, reject });
      worker.postMessage({ ...message, id }, transfer);
    });
  }

  private start(s: Slot): Worker {
    // Node 20 would not apply an inherited `--import tsx` to the worker's entry anyway (see the boot file).
    const worker = new Worker(BOOT, { execArgv: [] });
    s.worker = worker;
    s.generation++;
    worker.unref();
    let failure = '';
    worker.on('message', (reply: WorkerReply) => {
      const pending = s.pending.get(reply.id);
      if (!pending) return;
      s.pending.delete(reply.id);
      if (s.pending.size === 0) worker.unref();
      if (reply.ok) pending.resolve(reply);
      else pending.reject(new WorkerRefusal(reply.message, reply.unavailable === true));
    });
    worker.on('error', (error) => (failure = `: ${messageOf(error)}`));
    worker.on('exit', (code) => {
      if (s.worker === worker) s.worker = undefined;
      const error = new HubError('SERVABLE_FAILED', `the ONNX worker thread stopped (exit code ${code})${failure}`);
      for (const pending of s.pending.values()) pending.reject(error);
      s.pending.clear();
    });
    return worker;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker?.terminate()));
  }
}

/** A copy of a feed's bytes in a buffer of its own, to transfer to the worker. */
function toWire(feed: OrtFeed, transfer: ArrayBuffer[]): WireTensor {
  const { data } = feed;
  if (Array.isArray(data)) return { name: feed.name, type: feed.type, dims: feed.dims, data };
  // The caller keeps its array (a batcher's view, a cached input): the worker gets its own bytes.
  const copy = data.slice();
  transfer.push(copy.buffer as ArrayBuffer);
  return { name: feed.name, type: feed.type, dims: feed.dims, data: copy };
}

class WorkerOnnxServable implements Servable {
  readonly type = 'onnx' as const;
  readonly io = 'tensors' as const;
  private disposed = false;
  private readonly inFlight = new Set<Promise<unknown>>();
  private reopening: Promise<void> | undefined;

  constructor(
    private readonly pool: OnnxWorkerPool,
    private readonly slot: number,
    private session: number,
    private generation: number,
    private readonly facts: SessionFacts,
    private readonly modelPath: string,
    /** The model file's path as published, for messages. */
    private readonly label: string,
    readonly memoryBytes: number,
  ) {}

  async run(input: ServableValue, options: RunOptions): Promise<ServableValue> {
    const given = runnableTensors(this.disposed, input, options);
    const feeds = checkedFeeds(this.facts.inputNames, this.facts.inputMetadata, given);
    const pending = this.runInWorker(feeds);
    this.inFlight.add(pending);
    let reply: Ok;
    try {
      reply = await pending;
    } catch (error) {
      if (error instanceof HubError) throw error;
      throw new HubError('SERVABLE_FAILED', `onnxruntime: ${messageOf(error)}`, { cause: error });
    } finally {
      this.inFlight.delete(pending);
    }
    const tensors: Record<string, Tensor> = {};
    for (const output of reply.outputs ?? []) tensors[output.name] = fromOrtTensor(output.name, output);
    return { kind: 'tensors', tensors };
  }

  private async runInWorker(feeds: OrtFeed[]): Promise<Ok> {
    // The worker that held the session died: open it again in the slot's next worker.
    if (this.pool.liveGeneration(this.slot) !== this.generation) {
      this.reopening ??= this.reopen().finally(() => (this.reopening = undefined));
      await this.reopening;
    }
    const transfer: ArrayBuffer[] = [];
    const wire = feeds.map((feed) => toWire(feed, transfer));
    return this.pool.request(this.slot, { op: 'run', session: this.session, feeds: wire }, transfer);
  }

  private async reopen(): Promise<void> {
    const session = this.pool.sessionId();
    const placed = await openIn(this.pool, this.slot, session, this.modelPath, this.label);
    this.session = session;
    this.generation = placed.generation;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await Promise.allSettled([...this.inFlight]);
    this.pool.forget(this.slot);
    if (this.pool.liveGeneration(this.slot) !== this.generation) return;
    await this.pool.request(this.slot, { op: 'release', session: this.session }).catch(() => undefined);
  }
}

async function openIn(
  pool: OnnxWorkerPool,
  slot: number,
  session: number,
  localPath: string,
  label: string,
): Promise<{ facts: SessionFacts; generation: number }> {
  try {
    const reply = await pool.request(slot, { op: 'load', session, path: localPath, options: SESSION_OPTIONS });
    return { facts: reply.facts!, generation: pool.liveGeneration(slot)! };
  } catch (error) {
    if (error instanceof WorkerRefusal && error.unavailable) throw new HubError('RUNTIME_UNAVAILABLE', error.message);
    throw new HubError('SERVABLE_FAILED', `onnxruntime cannot load ${label}: ${messageOf(error)}`, { cause: error });
  }
}

export class OnnxWorkerRuntime implements ServableRuntime {
  readonly type = 'onnx' as const;
  readonly pool: OnnxWorkerPool;
  /** Inspection is the in-process runtime's: the file decoded and a session opened once, in a publish-work thread. */
  private readonly inProcess = new OnnxRuntime();

  constructor(threads: number) {
    this.pool = new OnnxWorkerPool(threads);
  }

  available(): Promise<{ ok: boolean; reason?: string }> {
    return this.inProcess.available();
  }

  inspect(files: LocalFile[], declared: ServableBlock): Promise<InspectionResult> {
    return this.inProcess.inspect(files, declared);
  }

  async load(document: PublishedMetadata, files: LocalFile[]): Promise<Servable> {
    const file = resolveModelFile(files, document.servable.model_file);
    const slot = this.pool.place();
    const session = this.pool.sessionId();
    try {
      const { facts, generation } = await openIn(this.pool, slot, session, file.localPath, file.path);
      return new WorkerOnnxServable(this.pool, slot, session, generation, facts, file.localPath, file.path, 2 * file.size + 1024 * 1024);
    } catch (error) {
      this.pool.forget(slot);
      throw error;
    }
  }

  /** Stops the worker threads; servables still loaded answer NOT_READY. */
  close(): Promise<void> {
    return this.pool.close();
  }
}
