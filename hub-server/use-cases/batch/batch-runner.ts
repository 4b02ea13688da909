/**
 * Batch inference over a data set: the servable runs on every record, a chunk at a time, on the
 * hub or on a compute endpoint. Inside a chunk the records run concurrently (so the dynamic
 * batcher batches them, wherever they run); each record that cannot run (malformed, inputs that
 * do not fit, a failure of its own) fails alone and is named by its line. Progress (records done
 * and failed, rate, ETA) is on the task after every chunk.
 *
 * Resumable: a batch's state and each finished chunk's results are files in
 * `<data>/batches/<task id>/`, written whole; after a crash or restart the hub picks the batch up
 * at its first unfinished chunk. At the end the chunks become one NDJSON file in the blob store
 * (`{"line", "output"}` or `{"line", "error"}` per record, in the data set's order).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import type { BlobStore } from '../../../schemas/ports/blob-store.ts';
import type { Registry } from '../../../schemas/ports/registry.ts';
import type { Viewer } from '../../../schemas/ports/viewer.ts';
import { toHubError } from '../../../schemas/errors.ts';
import { openDataset, type BatchProgress, type BatchRecord, type Dataset, type DatasetFormat } from '../../../schemas/codecs/datasets.ts';
import type { RunService } from '../../../schemas/ports/run-service.ts';
import { recordBatchProvenance, type BatchProvenanceOptions } from './batch-provenance.ts';
import type { ChunkOutcome } from '../../../schemas/endpoints.ts';

export interface BatchState {
  task_id: string;
  owner: string;
  name: string;
  version: number;
  viewer: Viewer;
  dataset: { sha256: string; format: DatasetFormat; filename?: string };
  method?: string;
  parameters?: Record<string, unknown>;
  endpoint?: string;
  chunk_size: number;
  total: number;
  chunks_done: number;
  done: number;
  failed: number;
  started_at: string;
  /** Time spent running chunks before the last restart, ms (for the rate). */
  elapsed_ms: number;
}

export interface BatchRunnerOptions {
  dir: string;
  registry: Registry;
  blobs: BlobStore;
  runService: RunService;
  /** Records of one chunk run at once. */
  concurrency?: number;
  /**
   * Runs a chunk's records on the batch's endpoint as ONE task (a Slurm endpoint makes it a job
   * array): one outcome per record in order, or undefined when that endpoint takes records one run
   * at a time (the local executor).
   */
  endpointChunk?: (state: BatchState, inputs: unknown[]) => Promise<ChunkOutcome[] | undefined>;
  /** True when the hub is stopping: runs failing then were interrupted, and their chunk runs again. */
  stopping?: () => boolean;
  log: { warn(object: object, message: string): void; error(object: object, message: string): void };
  /** Where a finished batch's provenance record goes (batch-provenance.ts). */
  provenance?: BatchProvenanceOptions;
}

const now = () => new Date().toISOString();

export class BatchRunner {
  private readonly active = new Map<string, Promise<void>>();
  private closing = false;

  constructor(private readonly options: BatchRunnerOptions) {}

  private folder(taskId: string): string {
    return path.join(this.options.dir, taskId);
  }

  private async save(state: BatchState): Promise<void> {
    const file = path.join(this.folder(state.task_id), 'state.json');
    await fs.writeFile(`${file}.tmp`, JSON.stringify(state));
    await fs.rename(`${file}.tmp`, file);
  }

  static progressOf(state: BatchState): BatchProgress {
    const processed = state.done + state.failed;
    const rate = state.elapsed_ms > 0 ? processed / (state.elapsed_ms / 1000) : 0;
    return {
      total: state.total,
      done: state.done,
      failed: state.failed,
      chunks: Math.ceil(state.total / state.chunk_size),
      chunks_done: state.chunks_done,
      records_per_s: Math.round(rate * 10) / 10,
      eta_s: rate > 0 ? Math.round((state.total - processed) / rate) : null,
    };
  }

  /** Start a new batch (its task exists already, RUNNING). */
  async start(state: BatchState): Promise<void> {
    await fs.mkdir(this.folder(state.task_id), { recursive: true });
    await this.save(state);
    this.launch(state);
  }

  /** The batches a stop interrupted: running again, from their first unfinished chunk. */
  async resumeAll(): Promise<string[]> {
    const entries = await fs.readdir(this.options.dir).catch(() => [] as string[]);
    const resumed: string[] = [];
    for (const taskId of entries) {
      const text = await fs.readFile(path.join(this.folder(taskId), 'state.json'), 'utf8').catch(() => undefined);
      if (text === undefined) continue;
      const state = JSON.parse(text) as BatchState;
      // The start-up settles every task that was RUNNING as FAILED; this one goes on.
      await this.options.registry.updateTask(taskId, { status: 'RUNNING', error: undefined, completed_at: undefined, progress: BatchRunner.progressOf(state) });
      this.launch(state);
      resumed.push(taskId);
    }
    return resumed;
  }

  private launch(state: BatchState): void {
    const work = this.run(state)
      .catch(async (error: unknown) => {
        if (this.closing || this.options.stopping?.()) return;
        const hubError = toHubError(error);
        this.options.log.error({ err: error, task: state.task_id }, 'a batch failed');
        await this.options.registry.updateTask(state.task_id, {
          status: 'FAILED',
          error: { code: hubError.code, message: hubError.message, ...(hubError.details === undefined ? {} : { details: hubError.details }) },
          completed_at: now(),
        });
        await fs.rm(this.folder(state.task_id), { recursive: true, force: true });
      })
      .catch((error: unknown) => this.options.log.error({ err: error, task: state.task_id }, 'could not record a failed batch'))
      .finally(() => this.active.delete(state.task_id));
    this.active.set(state.task_id, work);
  }

  private async run(state: BatchState): Promise<void> {
    const bytes = await fs.readFile(await this.options.blobs.localPath(state.dataset.sha256));
    const dataset = openDataset(bytes, state.dataset.format);
    const chunks = Math.ceil(state.total / state.chunk_size);
    for (let chunk = state.chunks_done; chunk < chunks; chunk++) {
      if (this.closing) return;
      const started = performance.now();
      const lines = await this.runChunk(state, dataset, chunk);
      if (this.closing || this.options.stopping?.()) return;
      const file = path.join(this.folder(state.task_id), `chunk-${String(chunk).padStart(6, '0')}.ndjson`);
      await fs.writeFile(`${file}.tmp`, lines.map((line) => line.text).join(''));
      await fs.rename(`${file}.tmp`, file);
      state.chunks_done = chunk + 1;
      state.done += lines.filter((line) => line.ok).length;
      state.failed += lines.filter((line) => !line.ok).length;
      state.elapsed_ms += performance.now() - started;
      await this.save(state);
      await this.options.registry.updateTask(state.task_id, { progress: BatchRunner.progressOf(state) });
    }
    await this.finish(state, chunks);
  }

  private async runChunk(state: BatchState, dataset: Dataset, chunk: number): Promise<{ ok: boolean; text: string }[]> {
    const records = dataset.records(chunk * state.chunk_size, (chunk + 1) * state.chunk_size);
    if (state.endpoint && this.options.endpointChunk) {
      const lines = await this.runChunkOnEndpoint(state, records);
      if (lines) return lines;
    }
    const results: { ok: boolean; text: string }[] = new Array(records.length);
    const ref = { owner: state.owner, name: state.name, version: state.version };
    const deadlineMs = Number(state.parameters?.deadline_ms ?? 0) || undefined;
    const { deadline_ms: _ignored, ...parameters } = state.parameters ?? {};
    let next = 0;
    const worker = async () => {
      while (next < records.length) {
        const index = next++;
        const record = records[index]!;
        if ('error' in record) {
          results[index] = { ok: false, text: `${JSON.stringify({ line: record.line, error: { code: 'MODELHUB_BAD_REQUEST', message: record.error } })}\n` };
          continue;
        }
        try {
          const reply = await this.options.runService.run(
            ref,
            {
              inputs: record.inputs,
              parameters,
              ...(state.method ? { method: state.method } : {}),
              ...(state.endpoint ? { endpoint: state.endpoint } : {}),
              ...(deadlineMs ? { deadline: Date.now() + deadlineMs } : {}),
            },
            state.viewer,
          );
          results[index] = { ok: true, text: `${JSON.stringify({ line: record.line, output: reply.output })}\n` };
        } catch (error) {
          const hubError = toHubError(error);
          results[index] = { ok: false, text: `${JSON.stringify({ line: record.line, error: { code: hubError.code, message: `line ${record.line}: ${hubError.message}` } })}\n` };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.concurrency ?? 32, records.length) }, worker));
    return results;
  }

  /** A chunk as one endpoint task; undefined when the endpoint runs records one at a time. */
  private async runChunkOnEndpoint(state: BatchState, records: BatchRecord[]): Promise<{ ok: boolean; text: string }[] | undefined> {
    const runnable = records.filter((record): record is { line: number; inputs: unknown } => !('error' in record));
    let outcomes: ChunkOutcome[] | undefined;
    try {
      outcomes = await this.options.endpointChunk!(state, runnable.map((record) => record.inputs));
      if (outcomes === undefined) return undefined;
    } catch (error) {
      // The whole chunk failed (endpoint offline, sbatch refused ...): each record fails with it.
      const hubError = toHubError(error);
      outcomes = runnable.map(() => ({ error: { code: hubError.code, message: hubError.message } }));
    }
    const byLine = new Map(runnable.map((record, i) => [record.line, outcomes[i]]));
    return records.map((record) => {
      if ('error' in record) return { ok: false, text: `${JSON.stringify({ line: record.line, error: { code: 'MODELHUB_BAD_REQUEST', message: record.error } })}\n` };
      const outcome = byLine.get(record.line);
      if (outcome && 'output' in outcome) return { ok: true, text: `${JSON.stringify({ line: record.line, output: outcome.output })}\n` };
      const error = outcome?.error ?? { code: 'MODELHUB_SERVABLE_FAILED', message: 'the endpoint gave no outcome for it' };
      return { ok: false, text: `${JSON.stringify({ line: record.line, error: { code: error.code, message: `line ${record.line}: ${error.message}` } })}\n` };
    });
  }

  private async finish(state: BatchState, chunks: number): Promise<void> {
    const folder = this.folder(state.task_id);
    const stream = new PassThrough();
    const stored = this.options.blobs.put(stream);
    for (let chunk = 0; chunk < chunks; chunk++) {
      const text = await fs.readFile(path.join(folder, `chunk-${String(chunk).padStart(6, '0')}.ndjson`));
      if (!stream.write(text)) await new Promise((resolve) => stream.once('drain', resolve));
    }
    stream.end();
    const blob = await stored;
    const provenance = await recordBatchProvenance(this.options, state, blob);
    await this.options.registry.updateTask(state.task_id, {
      status: 'SUCCEEDED',
      progress: BatchRunner.progressOf(state),
      result: {
        records: state.total,
        succeeded: state.done,
        failed: state.failed,
        results: { format: 'ndjson', sha256: blob.sha256, size: blob.size, url: `/api/v1/tasks/${state.task_id}/results` },
        ...(provenance ? { provenance } : {}),
      },
      completed_at: now(),
    });
    await fs.rm(folder, { recursive: true, force: true });
  }

  /** Stop between chunks; what is finished stays for the next start to resume. */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.allSettled([...this.active.values()]);
  }
}
