import { openAsBlob } from 'node:fs';
import type { PublishAccepted, TaskDocument } from '../../schemas/api.ts';
import type { ServableMetadata } from '../../schemas/metadata.ts';
import { apiUrl, hubJson, type HubParams } from '../http.ts';
import type { ServableDescription } from '../models/servable-description.ts';
import { planUpload, type UploadPart } from '../pack-files.ts';
import { watchTask, type TaskEvent, type WatchOptions } from './watch-task.ts';

export type PublishEvent =
  | { kind: 'upload'; loaded: number; total: number }
  | ({ kind: 'accepted' } & PublishAccepted)
  | TaskEvent;

export interface PublishParams extends HubParams, WatchOptions {
  model: ServableDescription;
  /** false: stop after the hub accepted the upload (the `accepted` event), without following the build. */
  wait?: boolean;
}

async function buildForm(metadata: ServableMetadata, parts: UploadPart[], empty: boolean): Promise<FormData> {
  const form = new FormData();
  form.append('metadata', JSON.stringify(metadata));
  for (const part of parts) {
    const blob = empty ? new Blob([], { type: part.contentType }) : await openAsBlob(part.localPath, { type: part.contentType });
    form.append('file', blob, part.fileName);
  }
  return form;
}

/**
 * The size of the multipart body: undici's own encoding of the same form with empty files, plus
 * the files' sizes (its boundaries have a fixed length), so progress has a true total.
 */
async function bodySize(metadata: ServableMetadata, parts: UploadPart[]): Promise<number> {
  const envelope = await new Response(await buildForm(metadata, parts, true)).arrayBuffer();
  return envelope.byteLength + parts.reduce((sum, part) => sum + part.size, 0);
}

/**
 * Publish a servable: check its metadata, upload it (streamed from disk), then follow the build.
 * Yields `upload` progress, `accepted` with the task and version, each build `step` and `log`
 * line, and `done` with the finished task (whose status may be FAILED: read `task.error`).
 */
export async function* publishServableProgress(params: PublishParams): AsyncGenerator<PublishEvent> {
  const metadata = params.model.toMetadata();
  const plan = await planUpload(params.model.files());
  let accepted: PublishAccepted;
  // A consumer that stops iterating mid-upload (Ctrl-C in the CLI, `break`) cancels the request.
  const abandon = new AbortController();
  let settled = false;
  try {
    const total = await bodySize(metadata, plan.parts);
    const request = new Response(await buildForm(metadata, plan.parts, false));
    const queue: PublishEvent[] = [{ kind: 'upload', loaded: 0, total }];
    let wake: (() => void) | undefined;
    const push = (event: PublishEvent) => {
      queue.push(event);
      wake?.();
    };
    let loaded = 0;
    let reported = 0;
    const step = Math.max(64 * 1024, Math.floor(total / 200));
    const counter = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        loaded += chunk.byteLength;
        if (loaded - reported >= step) {
          reported = loaded;
          push({ kind: 'upload', loaded: Math.min(loaded, total), total });
        }
        controller.enqueue(chunk);
      },
      flush() {
        if (reported !== loaded) push({ kind: 'upload', loaded, total: Math.max(total, loaded) });
      },
    });
    const sending = hubJson<PublishAccepted>(params, apiUrl(params, '/servables'), {
      method: 'POST',
      headers: { 'content-type': request.headers.get('content-type')! },
      body: request.body!.pipeThrough(counter),
      duplex: 'half',
      signal: params.signal ? AbortSignal.any([params.signal, abandon.signal]) : abandon.signal,
    } as RequestInit);
    void sending.then(
      () => undefined,
      () => undefined,
    ).then(() => {
      settled = true;
      wake?.();
    });
    for (;;) {
      while (queue.length > 0) yield queue.shift()!;
      if (settled) break;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
    accepted = await sending;
  } finally {
    if (!settled) abandon.abort();
    await plan.cleanup();
  }
  yield { kind: 'accepted', task_id: accepted.task_id, servable: accepted.servable, version: accepted.version };
  if (params.wait === false) return;
  yield* watchTask({ ...params, taskId: accepted.task_id });
}

/** Publish and wait for the build; returns the finished task (status SUCCEEDED or FAILED). */
export async function publishServable(params: PublishParams): Promise<TaskDocument> {
  let last: TaskDocument | undefined;
  for await (const event of publishServableProgress({ ...params, wait: true })) {
    if (event.kind === 'done') last = event.task;
  }
  return last!;
}
