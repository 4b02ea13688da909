import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { apiUrl, hubFetch, type HubParams } from '../http.ts';
import { parseServableName, servablePath } from '../servable-name.ts';

export interface DownloadParams extends HubParams {
  /** `owner/name` or `owner/name@version`; the latest visible version without one. */
  name: string;
  version?: number;
  /** Where to write the archive; default `<owner>-<name>-v<version>.tar.gz` in the working folder. */
  destination?: string;
}

export type DownloadEvent =
  | { kind: 'progress'; received: number; total?: number }
  | { kind: 'done'; path: string; bytes: number; version?: number };

/** The file name the hub suggests (`content-disposition`), kept to a plain name. */
function suggestedName(response: Response): string | undefined {
  const match = /filename="([^"/\\]+)"/.exec(response.headers.get('content-disposition') ?? '');
  return match?.[1];
}

/**
 * Download a servable version as a `.tar.gz` (its files, metadata, citation and a script to serve
 * it locally), yielding byte progress as it arrives. The file appears under its name only once
 * complete (written to `<name>.part` first), so an interrupted download never looks finished.
 */
export async function* downloadServableProgress(params: DownloadParams): AsyncGenerator<DownloadEvent> {
  const ref = parseServableName(params.name, params.version);
  const response = await hubFetch(params, apiUrl(params, `${servablePath(ref)}/download`), { headers: { accept: 'application/gzip' } });
  const version = Number(response.headers.get('x-modelhub-version')) || ref.version;
  const destination = params.destination ?? suggestedName(response) ?? `${ref.owner}-${ref.name}${version ? `-v${version}` : ''}.tar.gz`;
  const length = Number(response.headers.get('content-length'));
  const total = Number.isFinite(length) && length > 0 ? length : undefined;
  const partial = `${destination}.part`;
  let received = 0;
  const counted: { value?: number } = {};
  const events: DownloadEvent[] = [];
  let wake: (() => void) | undefined;
  const body = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>);
  body.on('data', (chunk: Buffer) => {
    received += chunk.length;
    events.push({ kind: 'progress', received, ...(total ? { total } : {}) });
    wake?.();
  });
  let finished = false;
  let failure: unknown;
  const writing = pipeline(body, createWriteStream(partial)).then(
    () => {
      finished = true;
      counted.value = received;
      wake?.();
    },
    (error: unknown) => {
      failure = error;
      finished = true;
      wake?.();
    },
  );
  try {
    while (!finished || events.length > 0) {
      if (events.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
      // Progress events are coalesced: only the latest matters to a bar.
      const latest = events.splice(0).pop();
      if (latest) yield latest;
    }
    await writing;
    if (failure) throw failure;
    await rename(partial, destination);
  } catch (error) {
    body.destroy();
    await rm(partial, { force: true });
    throw error;
  }
  yield { kind: 'done', path: destination, bytes: counted.value ?? received, ...(version ? { version } : {}) };
}

/** Download a servable version's archive to a file; resolves with where it is. */
export async function downloadServable(params: DownloadParams): Promise<{ path: string; bytes: number; version?: number }> {
  for await (const event of downloadServableProgress(params)) {
    if (event.kind === 'done') return { path: event.path, bytes: event.bytes, ...(event.version ? { version: event.version } : {}) };
  }
  throw new Error('the download ended without a result');
}
