/**
 * Runs tasks in this process with the hub's own runtimes (ONNX, Keras/TF.js, scikit-learn,
 * PyTorch, Python functions, containers), its servable manager (load once, keep resident under a
 * memory budget) and its dynamic batcher: a run on an endpoint computes exactly what the hub would.
 * Used by the agent's local executor and by each Slurm worker job.
 */
import os from 'node:os';
import path from 'node:path';
import { createContainerEngine, createRuntimes } from '../composition-root.ts';
import { loadConfig } from '../config.ts';
import { HubError } from '../../schemas/errors.ts';
import { ContainerPool } from '../../servables/container-pool.ts';
import { DynamicBatcher } from '../use-cases/gateway/dynamic-batcher.ts';
import { batchingExecutor } from '../use-cases/gateway/gateway.ts';
import { createHubMetrics } from '../use-cases/gateway/metrics.ts';
import { ServableManager } from '../use-cases/gateway/servable-manager.ts';
import type { BlobStore } from '../../schemas/ports/blob-store.ts';
import type { ContainerEngine } from '../../schemas/ports/container-engine.ts';
import type { Method } from '../../schemas/metadata.ts';
import { decodeInputs, encodeOutput } from '../../schemas/codecs/tensors.ts';
import type { ServableRuntime } from '../../schemas/ports/servable.ts';
import type { TaskExecutor, TaskMessage, TaskOutcome } from './task-executor.ts';

export interface LocalExecutorOptions {
  /** The endpoint's folder: servable work files and Python environments go under it. */
  stateDir: string;
  /** The endpoint's verified file cache. */
  blobs: BlobStore;
  /** Resident servables' memory budget, bytes. */
  budgetBytes?: number;
}

interface Loaded {
  manager: ServableManager;
  runtimes: Map<string, ServableRuntime>;
  pool: ContainerPool;
  engine: ContainerEngine;
  execute: ReturnType<typeof batchingExecutor>;
}

export class LocalExecutor implements TaskExecutor {
  readonly kind = 'local' as const;
  /** The runtimes and the container engine, opened once (the engine opens asynchronously). */
  private readonly loaded: Promise<Loaded>;

  constructor(options: LocalExecutorOptions) {
    this.loaded = LocalExecutor.open(options);
    // A failure shows on the first run; it must not be an unhandled rejection before it.
    this.loaded.catch(() => undefined);
  }

  private static async open(options: LocalExecutorOptions): Promise<Loaded> {
    // The hub's configuration rules (MODELHUB_PYTHON, MODELHUB_CONTAINERS ...), with the endpoint's
    // folder as the data folder.
    const config = loadConfig({ ...process.env, MODELHUB_DATA: path.join(options.stateDir, 'work') });
    const engine = await createContainerEngine(config);
    const pool = new ContainerPool(engine, { instance: 'endpoint', defaults: { defaultDeadlineMs: config.gateway.defaultDeadlineMs } });
    const runtimes = createRuntimes(config, { engine, pool, instance: 'endpoint', workDir: path.join(config.dataDir, 'builds') });
    const metrics = createHubMetrics();
    const manager = new ServableManager({ runtimes, blobs: options.blobs, workDir: path.join(config.dataDir, 'servables'), budgetBytes: options.budgetBytes ?? config.gateway.residencyBytes, metrics });
    return { manager, runtimes, pool, engine, execute: batchingExecutor(new DynamicBatcher({ metrics })) };
  }

  resources(): Record<string, unknown> {
    return { cpus: os.availableParallelism(), memory_bytes: os.totalmem(), host: os.hostname() };
  }

  async run(task: TaskMessage): Promise<TaskOutcome> {
    const { document } = task;
    const methods = document.servable.methods as Record<string, Method | undefined>;
    const method = Object.hasOwn(methods, task.method) ? methods[task.method] : undefined;
    if (!method) throw new HubError('BAD_REQUEST', `servable ${document.hub.owner}/${document.hub.name} has no method "${task.method}"`);
    const { manager, execute } = await this.loaded;
    const entry = await manager.acquire(document);
    try {
      const input = decodeInputs(method, entry.servable.io, task.inputs);
      if (Date.now() > task.deadline) throw new HubError('DEADLINE_EXCEEDED', 'the run reached the endpoint after its deadline');
      const { output, inferenceMs } = await execute(entry, task.method, input, { parameters: task.parameters, deadline: task.deadline });
      return { output: encodeOutput(method, output), inference_ms: inferenceMs };
    } finally {
      manager.release(entry);
    }
  }

  async close(): Promise<void> {
    const { manager, runtimes, pool, engine } = await this.loaded;
    await manager.close();
    for (const runtime of runtimes.values()) await runtime.close?.();
    await pool.close();
    await engine.close();
  }
}
