/**
 * A batch data set given as an S3 prefix (`s3://bucket/prefix`): the NDJSON objects under the
 * prefix, in key order, become one data set (stored as a blob like an upload, so the batch resumes
 * from it after a crash). Records are numbered by their line in that concatenation. Only the
 * buckets the operator allows are read; NDJSON only, since CSV headers and NPY arrays do not
 * concatenate.
 */
import { PassThrough } from 'node:stream';
import type { BlobStore } from '../../../schemas/ports/blob-store.ts';
import type { DatasetSource } from '../../../schemas/ports/dataset-source.ts';
import { HubError } from '../../../schemas/errors.ts';
import { formatOfFilename } from '../../../schemas/codecs/datasets.ts';

const S3_URI = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/(.*)$/;
/** Objects per data set at most (each one a GET). */
const MAX_OBJECTS = 10_000;

export async function storeS3Dataset(source: DatasetSource | undefined, blobs: BlobStore, uri: string, maxBytes: number): Promise<{ sha256: string; filename: string }> {
  const match = S3_URI.exec(uri);
  if (!match) throw new HubError('BAD_REQUEST', `s3 must be s3://bucket/prefix: ${uri.slice(0, 200)}`);
  const [, bucket, prefix] = match as unknown as [string, string, string];
  if (!source || !source.buckets.includes(bucket)) {
    throw new HubError('FORBIDDEN', `this hub reads batch data sets from ${source?.buckets.length ? `the S3 buckets ${source.buckets.join(', ')}` : 'no S3 bucket'} (MODELHUB_BATCH_S3_BUCKETS), not ${bucket}`);
  }
  const objects = await source.list(bucket, prefix);
  if (objects.length === 0) throw new HubError('BAD_REQUEST', `no objects under ${uri}`);
  if (objects.length > MAX_OBJECTS) throw new HubError('BAD_REQUEST', `${objects.length} objects under ${uri}: at most ${MAX_OBJECTS}`);
  const other = objects.find((object) => formatOfFilename(object.key) !== 'ndjson');
  if (other) throw new HubError('BAD_REQUEST', `s3://${bucket}/${other.key} is not NDJSON (.ndjson, .jsonl): an S3 prefix's objects must all be NDJSON`);
  const size = objects.reduce((sum, object) => sum + object.size + 1, 0);
  if (size > maxBytes) throw new HubError('PAYLOAD_TOO_LARGE', `${Math.round(maxBytes / 1024 / 1024)} MB (MODELHUB_MAX_UPLOAD_MB): ${uri} holds ${size} bytes`);

  const stream = new PassThrough();
  const stored = blobs.put(stream);
  // The put may fail early (a full disk): the copy below must not wait on it forever.
  stored.catch((error: unknown) => stream.destroy(error as Error));
  try {
    for (const object of objects) {
      let last = 0x0a;
      for await (const chunk of await source.read(bucket, object.key)) {
        const bytes = chunk as Buffer;
        if (bytes.length > 0) last = bytes[bytes.length - 1]!;
        if (!stream.write(bytes)) await new Promise((resolve) => stream.once('drain', resolve));
      }
      // An object without a final newline must not run into the next one's first line.
      if (last !== 0x0a) stream.write('\n');
    }
    stream.end();
  } catch (error) {
    stream.destroy(error as Error);
    await stored.catch(() => undefined);
    throw error;
  }
  const blob = await stored;
  return { sha256: blob.sha256, filename: `${uri.replace(/\/+$/, '')}.ndjson` };
}
