/**
 * The provenance record of a finished batch (docs/provenance.md, "Batch runs"): the same record as
 * any other run (servable version, file digests, runtime, hub, endpoint, times), stored under the
 * batch's task id so that `GET /api/v1/runs/{task id}` and its RO-Crate find it. A batch's inputs
 * and output are files, not JSON values: `inputs_sha256` is the sha256 of the uploaded data set
 * and `outputs_sha256` that of the results file, as `sha256sum` computes them, and the stored run
 * names both blobs rather than copying them into the run store.
 */
import type { ProvenanceRecord } from '../../../schemas/provenance.ts';
import type { Registry } from '../../../schemas/ports/registry.ts';
import type { RunStore } from '../../../schemas/ports/run-store.ts';
import type { BlobStore } from '../../../schemas/ports/blob-store.ts';
import type { ProvenanceService } from '../provenance.ts';
import type { BatchCrateFiles } from '../ro-crate.ts';
import type { BatchState } from './batch-runner.ts';

export interface BatchProvenanceOptions {
  service: Pick<ProvenanceService, 'build'>;
  runs: RunStore;
}

/** What a stored batch run keeps as its inputs and output: the blobs, by digest. */
export interface BatchRunFiles {
  dataset: { sha256: string; format: string; filename?: string };
  results: { sha256: string; size: number; format: 'ndjson' };
}

/**
 * Build and store the batch's record; returns it (for the task's `result.provenance`), or
 * undefined when the version is gone or no provenance service was given. A batch resumed after a
 * crash that had stored its record already gets that record back (the run store keeps the first).
 */
export async function recordBatchProvenance(
  options: { registry: Registry; provenance?: BatchProvenanceOptions; log: { warn(object: object, message: string): void } },
  state: BatchState,
  results: { sha256: string; size: number },
): Promise<ProvenanceRecord | undefined> {
  if (!options.provenance) return undefined;
  // The results are there whatever happens to their record: a batch never fails for want of one.
  try {
    return await storeBatchRecord(options.registry, options.provenance, state, results);
  } catch (error) {
    options.log.warn({ err: error, task: state.task_id }, 'could not store the provenance record of a batch');
    return undefined;
  }
}

async function storeBatchRecord(registry: Registry, provenance: BatchProvenanceOptions, state: BatchState, results: { sha256: string; size: number }): Promise<ProvenanceRecord | undefined> {
  const { service, runs } = provenance;
  const stored = await runs.get(state.task_id);
  if (stored) return stored.record;
  const version = await registry.getVersion(state.owner, state.name, state.version);
  if (!version?.document) return undefined;
  const startedMs = Date.parse(state.started_at);
  const record = await service.build({
    document: version.document,
    method: state.method ?? 'run',
    inputs: null,
    parameters: state.parameters,
    output: null,
    // The wall-clock time from submission to the results file, restarts included.
    origin: { run_id: state.task_id, started_at: state.started_at, duration_ms: Math.max(0, Date.now() - startedMs) },
    caller: state.viewer.user ?? null,
    endpoint: state.endpoint ?? null,
  });
  const files: BatchRunFiles = {
    dataset: { sha256: state.dataset.sha256, format: state.dataset.format, ...(state.dataset.filename ? { filename: state.dataset.filename } : {}) },
    results: { sha256: results.sha256, size: results.size, format: 'ndjson' },
  };
  const batchRecord: ProvenanceRecord = {
    ...record,
    inputs_sha256: state.dataset.sha256,
    outputs_sha256: results.sha256,
    batch: {
      task_id: state.task_id,
      dataset: { ...files.dataset, records: state.total },
      results: files.results,
      succeeded: state.done,
      failed: state.failed,
    },
  };
  await runs.put({
    record: batchRecord,
    inputs: { dataset: files.dataset },
    parameters: state.parameters ?? {},
    output: { results: files.results },
    caller: state.viewer.user ?? null,
    stored_at: new Date().toISOString(),
  });
  return batchRecord;
}

const DATASET_MEDIA_TYPES: Record<string, string> = { ndjson: 'application/x-ndjson', csv: 'text/csv', npy: 'application/octet-stream' };

async function readAll(stream: AsyncIterable<Buffer | string>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}

/**
 * The data set and results files of a stored batch run, for its RO-Crate (they replace
 * inputs.json and output.json there); undefined for any other run.
 */
export async function batchCrateFiles(blobs: Pick<BlobStore, 'get'>, record: ProvenanceRecord): Promise<BatchCrateFiles | undefined> {
  if (!record.batch) return undefined;
  const { dataset, results } = record.batch;
  return {
    dataset: { name: `dataset.${dataset.format}`, data: await readAll(await blobs.get(dataset.sha256)), encodingFormat: DATASET_MEDIA_TYPES[dataset.format] ?? 'application/octet-stream' },
    results: { name: 'results.ndjson', data: await readAll(await blobs.get(results.sha256)), encodingFormat: 'application/x-ndjson' },
  };
}
