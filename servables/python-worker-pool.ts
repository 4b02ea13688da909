/**
 * Long-lived Python workers (`servables/python/worker.py`) and the pool that serves one servable
 * version with them. The wire is a 4-byte big-endian length, then that many bytes of UTF-8 JSON, on
 * stdin and stdout; stderr is the servable's own output, handed line by line to a logger.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { HubError } from '../schemas/errors.ts';
import { recordWorker } from './worker-pid-files.ts';

export const WORKER_SCRIPT = fileURLToPath(new URL('./python/worker.py', import.meta.url));
export const DEFAULT_PYTHON = '/usr/bin/python3';
/** Address space per worker (RLIMIT_AS); torch alone maps about 0.9 GiB. */
export const DEFAULT_MEMORY_LIMIT_MB = 4096;

/** What worker.py says when a request fails; `stage` tells the files, the declaration or a call apart. */
export interface PythonErrorInfo {
  type: string;
  message: string;
  traceback: string;
  stage: 'import' | 'model' | 'init' | 'lookup' | 'declaration' | 'call' | string;
}

/** The spec `load` and `inspect` take; see worker.py's docstring for each field. */
export interface WorkerSpec {
  kind: 'python' | 'sklearn' | 'torch';
  files_dir: string;
  module?: string;
  function?: string;
  class_name?: string;
  init_args?: Record<string, unknown>;
  method?: string;
  model_file?: string;
  serialization?: 'pickle' | 'joblib';
  methods?: Record<string, string>;
  unpack_inputs?: boolean;
  autobatch?: boolean;
  input_dtype?: string | string[] | Record<string, string>;
  input_shape?: (number | null)[];
}

export type StderrLogger = (line: string, meta: { pid: number | undefined }) => void;

export interface PythonWorkerOptions {
  /** The interpreter; default `$MODELHUB_PYTHON` or `/usr/bin/python3`. */
  python?: string;
  /** RLIMIT_AS of the worker in MiB (default 4096); 0 for none. */
  memoryLimitMb?: number;
  /** OMP/BLAS/torch threads per worker (several workers on few cores fight otherwise). */
  threads?: number;
  env?: Record<string, string>;
  logger?: StderrLogger;
  /**
   * Where each live worker is recorded (`<data>/workers`), so that a hub started after a crash can
   * reap workers that outlived the one that started them (see worker-pid-files.ts).
   */
  pidDir?: string;
}

/** Raised inside the pool when the worker answered `ok: false`. */
export class PythonCallError extends Error {
  constructor(readonly info: PythonErrorInfo) {
    super(`${info.type}: ${info.message}`);
    this.name = 'PythonCallError';
  }
}

/** Raised when the process died or could not start; the pool replaces the worker. */
export class WorkerExitedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WorkerExitedError';
  }
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

const STDERR_TAIL_LINES = 20;

export class PythonWorker {
  readonly process: ChildProcessWithoutNullStreams;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private buffer: Buffer = Buffer.alloc(0);
  private stderrRest = '';
  private readonly stderrTail: string[] = [];
  private exitReason: string | undefined;
  readonly exited: Promise<void>;

  constructor(options: PythonWorkerOptions = {}) {
    const python = options.python ?? DEFAULT_PYTHON;
    const threads = String(options.threads ?? 1);
    const args = ['-B', WORKER_SCRIPT];
    const memoryLimitMb = options.memoryLimitMb ?? DEFAULT_MEMORY_LIMIT_MB;
    if (memoryLimitMb > 0) args.push('--memory-limit-mb', String(memoryLimitMb));
    this.process = spawn(python, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: {
        ...process.env,
        OMP_NUM_THREADS: threads,
        OPENBLAS_NUM_THREADS: threads,
        MKL_NUM_THREADS: threads,
        // Never write __pycache__ into the servable's files, which may be the hub's blob store.
        PYTHONDONTWRITEBYTECODE: '1',
        PYTHONUNBUFFERED: '1',
        ...options.env,
        // The worker exits when this process dies (worker.py's die_with_parent).
        MODELHUB_PARENT_PID: String(process.pid),
      },
    });
    const forget = options.pidDir ? recordWorker(options.pidDir, this.process.pid) : undefined;
    const logger = options.logger;
    this.process.stdout.on('data', (chunk: Buffer) => this.onData(chunk));
    this.process.stderr.setEncoding('utf8');
    this.process.stderr.on('data', (chunk: string) => {
      const lines = (this.stderrRest + chunk).split('\n');
      this.stderrRest = lines.pop() ?? '';
      for (const line of lines) this.onStderrLine(line, logger);
    });
    // A write into a dead worker's stdin fails with EPIPE; the exit handler reports it.
    this.process.stdin.on('error', () => {});
    this.exited = new Promise((resolve) => {
      this.process.on('error', (error) => {
        this.exitReason = `the Python worker could not start (${python}): ${error.message}`;
        this.failAll();
        resolve();
      });
      this.process.on('close', (code, signal) => {
        if (this.stderrRest) this.onStderrLine(this.stderrRest, logger);
        this.exitReason ??= signal
          ? `the Python worker was killed by ${signal}`
          : `the Python worker exited with code ${code}`;
        this.failAll();
        resolve();
      });
    });
    if (forget) void this.exited.then(forget);
  }

  get pid(): number | undefined {
    return this.process.pid;
  }

  get alive(): boolean {
    return this.exitReason === undefined;
  }

  /** The last lines the worker wrote to stderr, for error messages about a worker that died. */
  get recentStderr(): string {
    return this.stderrTail.join('\n');
  }

  request<T = unknown>(op: string, payload: Record<string, unknown> = {}): Promise<T> {
    if (!this.alive) return Promise.reject(new WorkerExitedError(this.exitReason ?? 'worker exited'));
    const id = this.nextId++;
    const body = Buffer.from(JSON.stringify({ id, op, ...payload }), 'utf8');
    const header = Buffer.alloc(4);
    header.writeUInt32BE(body.length, 0);
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.process.stdin.write(Buffer.concat([header, body]));
    });
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.alive) this.exitReason = `the Python worker was stopped (${signal})`;
    this.process.kill(signal);
    this.failAll();
  }

  /** Ask the worker to exit; kill it if it has not after `graceMs`. */
  async shutdown(graceMs = 1000): Promise<void> {
    if (!this.alive) return;
    const timer = setTimeout(() => this.kill(), graceMs);
    try {
      await this.request('shutdown').catch(() => {});
      this.process.stdin.end();
      await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  private onStderrLine(line: string, logger: StderrLogger | undefined): void {
    this.stderrTail.push(line);
    if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift();
    logger?.(line, { pid: this.process.pid });
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    while (this.buffer.length >= 4) {
      const length = this.buffer.readUInt32BE(0);
      if (this.buffer.length < 4 + length) return;
      const body = this.buffer.subarray(4, 4 + length).toString('utf8');
      this.buffer = this.buffer.subarray(4 + length);
      let reply: { id: number; ok: boolean; output?: unknown; error?: PythonErrorInfo };
      try {
        reply = JSON.parse(body);
      } catch {
        this.exitReason = 'the Python worker wrote a frame that is not JSON';
        this.kill();
        return;
      }
      const pending = this.pending.get(reply.id);
      if (!pending) continue;
      this.pending.delete(reply.id);
      if (reply.ok) pending.resolve(reply.output);
      else pending.reject(new PythonCallError(reply.error ?? { type: 'Error', message: 'unknown', traceback: '', stage: 'call' }));
    }
  }

  private failAll(): void {
    const tail = this.recentStderr;
    const message = `${this.exitReason ?? 'the Python worker exited'}${tail ? `; its last output:\n${tail}` : ''}`;
    for (const pending of this.pending.values()) pending.reject(new WorkerExitedError(message));
    this.pending.clear();
  }
}

/** Turn a worker failure into the hub's catalog error for a call. */
export function callError(error: unknown): HubError {
  if (error instanceof HubError) return error;
  if (error instanceof PythonCallError) {
    const { type, message, traceback } = error.info;
    return new HubError('SERVABLE_FAILED', `${type}: ${message}`, { details: { type, message, traceback } });
  }
  if (error instanceof WorkerExitedError) {
    return new HubError('SERVABLE_FAILED', error.message, { details: { type: 'WorkerExited', message: error.message } });
  }
  return new HubError('INTERNAL', error instanceof Error ? error.message : String(error), { cause: error });
}

/** What a worker reports after loading the servable. */
export interface LoadReport {
  dependencies: { python: string; packages: Record<string, string> };
  rss_bytes: number;
  warnings: string[];
  pid: number;
}

/**
 * The catalog error for a servable that cannot be loaded or inspected: its files are at fault
 * (INVALID_MODEL), its declaration does not fit them (INVALID_METADATA), or the interpreter itself
 * is missing (RUNTIME_UNAVAILABLE). `subject` names the file or module for the message.
 */
export function loadError(error: unknown, subject: string): HubError {
  if (error instanceof HubError) return error;
  if (error instanceof PythonCallError) {
    const { type, message, traceback, stage } = error.info;
    const details = { type, message, traceback, stage };
    if (stage === 'lookup' || stage === 'declaration') {
      return new HubError('INVALID_METADATA', `${subject}: ${type}: ${message}`, { details });
    }
    return new HubError('INVALID_MODEL', `${subject}: ${type}: ${message}`, { details });
  }
  if (error instanceof WorkerExitedError && /could not start/.test(error.message)) {
    return new HubError('RUNTIME_UNAVAILABLE', error.message, { cause: error });
  }
  if (error instanceof WorkerExitedError) {
    // Dying while loading (a memory limit, a crash in native code) is the files' doing.
    return new HubError('INVALID_MODEL', `${subject}: ${error.message}`, { cause: error });
  }
  return new HubError('INTERNAL', error instanceof Error ? error.message : String(error), { cause: error });
}

function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Start a worker, run one request on the spec and stop it: publish-time inspection. */
export async function runOnce<T>(
  op: 'inspect' | 'load',
  spec: WorkerSpec,
  options: PythonWorkerOptions & { timeoutMs?: number } = {},
): Promise<T> {
  const worker = new PythonWorker(options);
  const timeoutMs = options.timeoutMs ?? 120_000;
  try {
    return await withTimeout(worker.request<T>(op, { spec }), timeoutMs, () => {
      worker.kill();
      return new HubError('DEADLINE_EXCEEDED', `the Python worker took longer than ${timeoutMs} ms to ${op}`);
    });
  } finally {
    await worker.shutdown();
  }
}

export interface PythonWorkerPoolOptions extends PythonWorkerOptions {
  /** Long-lived workers for this servable version; each runs one call at a time. Default 1. */
  size?: number;
  /** Per-call limit; a call past it kills and replaces its worker. Default 60 s. */
  timeoutMs?: number;
  /** Limit for importing or unpickling the servable in a new worker. Default 120 s. */
  loadTimeoutMs?: number;
  /** Calls that may wait for a free worker before OVERLOADED. Default 256. */
  maxQueue?: number;
}

export interface PoolCallOptions {
  timeoutMs?: number;
  /** Absolute time (ms since epoch) after which the result is no longer wanted. */
  deadline?: number;
  signal?: AbortSignal;
}

interface Slot {
  worker?: PythonWorker;
  report?: LoadReport;
  starting?: Promise<PythonWorker>;
  busy: boolean;
}

interface QueuedCall {
  method: string;
  inputs: unknown;
  parameters: Record<string, unknown>;
  options: PoolCallOptions;
  settled: boolean;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

/**
 * A pool of long-lived workers for one servable version: the servable is loaded once per worker
 * and called many times. A worker that crashes or passes its call's time limit is killed and
 * replaced; the call that was on it fails, the next one runs on the replacement.
 */
export class PythonWorkerPool {
  private readonly slots: Slot[];
  private readonly queue: QueuedCall[] = [];
  private readonly options: PythonWorkerPoolOptions;
  private closed = false;

  constructor(
    readonly spec: WorkerSpec,
    options: PythonWorkerPoolOptions = {},
  ) {
    this.options = options;
    const size = options.size ?? 1;
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`pool size must be a positive integer, got ${size}`);
    this.slots = Array.from({ length: size }, () => ({ busy: false }));
  }

  /** Start every worker and load the servable in each; throws loadError's catalog errors. */
  async start(): Promise<LoadReport> {
    const workers = await Promise.allSettled(this.slots.map((slot) => this.ensureWorker(slot)));
    const failed = workers.find((result) => result.status === 'rejected');
    if (failed) {
      await this.close();
      throw loadError(failed.reason, this.subject());
    }
    return this.slots[0]!.report!;
  }

  /** Process ids of the live workers (operators, tests). */
  get pids(): number[] {
    return this.slots.flatMap((slot) => (slot.worker?.alive && slot.worker.pid ? [slot.worker.pid] : []));
  }

  /** Resident memory of the live workers as they reported it after loading. */
  get memoryBytes(): number {
    return this.slots.reduce((sum, slot) => sum + (slot.worker?.alive ? (slot.report?.rss_bytes ?? 0) : 0), 0);
  }

  get queued(): number {
    return this.queue.length;
  }

  call(
    method: string,
    inputs: unknown,
    parameters: Record<string, unknown> = {},
    options: PoolCallOptions = {},
  ): Promise<unknown> {
    if (this.closed) return Promise.reject(new HubError('NOT_READY', 'the servable was unloaded'));
    const maxQueue = this.options.maxQueue ?? 256;
    if (this.queue.length >= maxQueue) {
      return Promise.reject(new HubError('OVERLOADED', `${this.queue.length} calls are waiting for a Python worker`));
    }
    return new Promise((resolve, reject) => {
      const call: QueuedCall = { method, inputs, parameters, options, settled: false, resolve, reject };
      const signal = options.signal;
      if (signal) {
        const onAbort = () => this.settle(call, abortReason(signal));
        if (signal.aborted) return onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
      }
      this.queue.push(call);
      this.pump();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const call of this.queue.splice(0)) this.settle(call, new HubError('NOT_READY', 'the servable was unloaded'));
    await Promise.all(
      this.slots.map(async (slot) => {
        const worker = slot.worker ?? (await slot.starting?.catch(() => undefined));
        slot.worker = undefined;
        await worker?.shutdown();
      }),
    );
  }

  private subject(): string {
    return this.spec.model_file ?? this.spec.module ?? 'the servable';
  }

  private settle(call: QueuedCall, error: Error | undefined, value?: unknown): void {
    if (call.settled) return;
    call.settled = true;
    const index = this.queue.indexOf(call);
    if (index >= 0) this.queue.splice(index, 1);
    if (error) call.reject(error);
    else call.resolve(value);
  }

  private pump(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (slot.busy) continue;
      const call = this.queue.shift()!;
      slot.busy = true;
      void this.execute(slot, call).finally(() => {
        slot.busy = false;
        this.pump();
      });
    }
  }

  private ensureWorker(slot: Slot): Promise<PythonWorker> {
    if (slot.worker?.alive) return Promise.resolve(slot.worker);
    if (!slot.starting) {
      slot.starting = this.startWorker(slot).finally(() => {
        slot.starting = undefined;
      });
    }
    return slot.starting;
  }

  private async startWorker(slot: Slot): Promise<PythonWorker> {
    if (this.closed) throw new HubError('NOT_READY', 'the servable was unloaded');
    const worker = new PythonWorker(this.options);
    const timeoutMs = this.options.loadTimeoutMs ?? 120_000;
    try {
      const report = await withTimeout(worker.request<LoadReport>('load', { spec: this.spec }), timeoutMs, () => {
        worker.kill();
        return new HubError('DEADLINE_EXCEEDED', `loading ${this.subject()} took longer than ${timeoutMs} ms`);
      });
      if (this.closed) {
        await worker.shutdown();
        throw new HubError('NOT_READY', 'the servable was unloaded');
      }
      slot.worker = worker;
      slot.report = report;
      return worker;
    } catch (error) {
      worker.kill();
      throw error;
    }
  }

  private async execute(slot: Slot, call: QueuedCall): Promise<void> {
    if (call.settled) return;
    let worker: PythonWorker;
    try {
      worker = await this.ensureWorker(slot);
    } catch (error) {
      const cause = loadError(error, this.subject());
      this.settle(call, new HubError('SERVABLE_FAILED', `the servable could not be loaded: ${cause.message}`, {
        details: cause.details,
        cause,
      }));
      return;
    }
    const timeoutMs = this.remaining(call);
    if (timeoutMs <= 0) {
      this.settle(call, new HubError('DEADLINE_EXCEEDED', 'the deadline passed before a Python worker was free'));
      return;
    }
    if (call.settled) return;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      worker.kill();
    }, timeoutMs);
    try {
      const output = await worker.request('call', {
        method: call.method,
        inputs: call.inputs,
        parameters: call.parameters,
      });
      this.settle(call, undefined, output);
    } catch (error) {
      this.settle(
        call,
        timedOut
          ? new HubError('DEADLINE_EXCEEDED', `the Python call took longer than ${timeoutMs} ms; its worker was replaced`)
          : callError(error),
      );
    } finally {
      clearTimeout(timer);
    }
    if (!worker.alive) {
      slot.worker = undefined;
      // Replace it now so that the next call does not pay for the import; a failure here is
      // reported to that next call, which tries again.
      if (!this.closed) this.ensureWorker(slot).catch(() => {});
    }
  }

  private remaining(call: QueuedCall): number {
    const limit = call.options.timeoutMs ?? this.options.timeoutMs ?? 60_000;
    const deadline = call.options.deadline;
    return deadline === undefined ? limit : Math.min(limit, deadline - Date.now());
  }
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof HubError) return reason;
  return new HubError('DEADLINE_EXCEEDED', 'the call was cancelled');
}
