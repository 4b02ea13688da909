/**
 * Where a batch reads a data set given as an S3 prefix (`s3://bucket/prefix`): the objects under
 * the prefix, in key order, and each object's bytes. Only the buckets the operator lists
 * (MODELHUB_BATCH_S3_BUCKETS) are read, with the hub's own S3 credentials.
 */
import type { Readable } from 'node:stream';

export interface DatasetObject {
  key: string;
  size: number;
}

export interface DatasetSource {
  /** The buckets batches may read. */
  readonly buckets: readonly string[];
  /** The objects whose keys start with `prefix`, sorted by key. */
  list(bucket: string, prefix: string): Promise<DatasetObject[]>;
  read(bucket: string, key: string): Promise<Readable>;
  close(): Promise<void>;
}
