/**
 * A publish as a job of the replicas' queue (PostgreSQL mode): the files a client uploads are put
 * in the shared blob store before the task exists, and the job names them by digest, so that any
 * replica can build the publish again from them when the one that accepted it dies. The blob
 * store is content-addressed: staging a file that is also a model file (not an archive) stores
 * nothing twice, and a staged archive no version names is removed by the sweep once its task ends.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { BlobStore } from '../../schemas/ports/blob-store.ts';
import type { ServableMetadata } from '../../schemas/metadata.ts';

/** One uploaded file as the job holds it: the client's name and the blob holding its bytes. */
export interface StagedUpload {
  fileName: string;
  sha256: string;
  size: number;
}

/** The payload of a `publish` job: enough for any replica to build the version. */
export interface PublishJob {
  metadata: ServableMetadata;
  uploads: StagedUpload[];
}

/** A payload written by an older hub (`{}`): nothing to rebuild from; the task is settled instead. */
export const isPublishJob = (payload: unknown): payload is PublishJob =>
  typeof payload === 'object' && payload !== null && Array.isArray((payload as PublishJob).uploads) && typeof (payload as PublishJob).metadata === 'object';

/** Streams each upload into the shared blob store (the files stay where they are, for this replica's build). */
export async function stageUploads(blobs: BlobStore, uploads: readonly { fileName: string; tempPath: string }[]): Promise<StagedUpload[]> {
  const staged: StagedUpload[] = [];
  for (const upload of uploads) {
    const blob = await blobs.put(fs.createReadStream(upload.tempPath));
    staged.push({ fileName: upload.fileName, sha256: blob.sha256, size: blob.size });
  }
  return staged;
}

/**
 * Fetches staged uploads into a fresh upload folder on this replica, under their own numbered
 * names (the client's names may be relative paths; the build uses `fileName`, not the local name).
 */
export async function fetchStagedUploads(blobs: BlobStore, staged: readonly StagedUpload[], uploadDir: string): Promise<{ fileName: string; tempPath: string }[]> {
  const folder = path.join(uploadDir, 'staged');
  await fsp.mkdir(folder, { recursive: true });
  const uploads: { fileName: string; tempPath: string }[] = [];
  for (const [i, upload] of staged.entries()) {
    const tempPath = path.join(folder, `${i}-${path.basename(upload.fileName).replace(/[^A-Za-z0-9._-]/g, '_') || 'file'}`);
    await pipeline(await blobs.get(upload.sha256), fs.createWriteStream(tempPath));
    uploads.push({ fileName: upload.fileName, tempPath });
  }
  return uploads;
}
