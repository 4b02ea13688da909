/**
 * Batch data sets under an S3 prefix, read with the hub's S3 settings (MODELHUB_S3_ENDPOINT and
 * keys) from the buckets MODELHUB_BATCH_S3_BUCKETS lists, through the same S3 client as the S3 blob
 * store (minio). S3 lists keys in UTF-8 binary order already; they are sorted again all the same.
 */
import type http from 'node:http';
import type { Readable } from 'node:stream';
import type { Client } from 'minio';
import { openS3Client } from './s3-client.ts';
import { HubError } from '../../schemas/errors.ts';
import type { DatasetObject, DatasetSource } from '../../schemas/ports/dataset-source.ts';

export interface S3DatasetSourceOptions {
  endpoint: string;
  accessKey?: string;
  secretKey?: string;
  region?: string;
  buckets: string[];
}

export class S3DatasetSource implements DatasetSource {
  readonly buckets: readonly string[];
  private readonly client: Client;
  private readonly agent: http.Agent;

  constructor(options: S3DatasetSourceOptions) {
    this.buckets = options.buckets;
    ({ client: this.client, agent: this.agent } = openS3Client({ url: new URL(options.endpoint), accessKey: options.accessKey, secretKey: options.secretKey, region: options.region ?? 'us-east-1' }));
  }

  async list(bucket: string, prefix: string): Promise<DatasetObject[]> {
    const objects: DatasetObject[] = [];
    try {
      for await (const item of this.client.listObjectsV2(bucket, prefix, true) as AsyncIterable<{ name?: string; size?: number }>) {
        if (item.name !== undefined && !item.name.endsWith('/')) objects.push({ key: item.name, size: item.size ?? 0 });
      }
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === 'NoSuchBucket') throw new HubError('BAD_REQUEST', `no S3 bucket ${bucket}`);
      throw new HubError('BACKEND_UNAVAILABLE', `S3 listing of s3://${bucket}/${prefix} failed: ${(error as Error).message}`);
    }
    return objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async read(bucket: string, key: string): Promise<Readable> {
    try {
      return await this.client.getObject(bucket, key);
    } catch (error) {
      throw new HubError('BACKEND_UNAVAILABLE', `S3 read of s3://${bucket}/${key} failed: ${(error as Error).message}`);
    }
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }
}
