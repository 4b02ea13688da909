/**
 * Batch inference: upload a data set (NDJSON, CSV or NPY) to run a servable over every record,
 * follow the batch task's progress, and download its results (NDJSON, one line per record).
 */
import { openAsBlob } from 'node:fs';
import path from 'node:path';
import type { TaskDocument } from '../../schemas/api.ts';
import type { DatasetFormat } from '../../schemas/codecs/datasets.ts';
import { apiUrl, hubFetch, hubJson, type HubParams } from '../http.ts';
import { parseServableName, servablePath } from '../servable-name.ts';
import { sleep } from '../sleep.ts';
import { getTaskStatus } from './get-task-status.ts';

export interface BatchParams extends HubParams {
  /** `owner/name` or `owner/name@version`. */
  name: string;
  /** The data set file, or an S3 prefix (`s3://bucket/prefix/`: NDJSON objects the hub reads itself). */
  data: string;
  version?: number;
  /** Run on this compute endpoint (owner/name). */
  endpoint?: string;
  method?: string;
  parameters?: Record<string, unknown>;
  /** Records per chunk (default 500). */
  chunkSize?: number;
  /** ndjson, csv or npy; by default told by the file's name. */
  format?: DatasetFormat;
}

export type { BatchProgress } from '../../schemas/codecs/datasets.ts';

/** `POST .../batch`: the batch task's id. */
export async function submitBatch(params: BatchParams): Promise<{ task_id: string }> {
  const ref = parseServableName(params.name, params.version);
  const form = new FormData();
  if (params.endpoint) form.append('endpoint', params.endpoint);
  if (params.method) form.append('method', params.method);
  if (params.parameters) form.append('parameters', JSON.stringify(params.parameters));
  if (params.chunkSize) form.append('chunk_size', String(params.chunkSize));
  if (params.format) form.append('format', params.format);
  if (params.data.startsWith('s3://')) form.append('s3', params.data);
  else form.append('data', await openAsBlob(params.data), path.basename(params.data));
  return hubJson(params, apiUrl(params, `${servablePath(ref)}/batch`), { method: 'POST', body: form });
}

/** The batch task as it runs (each change of progress), ending with the finished task. */
export async function* followBatch(params: HubParams & { taskId: string; intervalMs?: number }): AsyncGenerator<TaskDocument> {
  let last = '';
  for (;;) {
    const task = await getTaskStatus(params);
    const seen = JSON.stringify([task.status, task.progress]);
    if (seen !== last) yield task;
    last = seen;
    if (task.status === 'SUCCEEDED' || task.status === 'FAILED') return;
    await sleep(params.intervalMs ?? 500);
  }
}

/** The results of a succeeded batch: NDJSON, `{"line", "output"}` or `{"line", "error"}` per record. */
export async function batchResults(params: HubParams & { taskId: string }): Promise<ReadableStream<Uint8Array>> {
  const response = await hubFetch(params, apiUrl(params, `/tasks/${encodeURIComponent(params.taskId)}/results`), { headers: { accept: 'application/x-ndjson' } });
  return response.body!;
}
