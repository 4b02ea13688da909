/**
 * One way this hub opens an S3 client (minio, path-style, for radosgw, MinIO and AWS alike): the
 * blob store and the batch data set source both use it. Each gets its own keep-alive agent, so
 * its close() drops its sockets instead of leaving them to the global agent.
 */
import http from 'node:http';
import https from 'node:https';
import { Client } from 'minio';

export interface S3ClientOptions {
  /** The endpoint's URL, already checked (http: or https:). */
  url: URL;
  accessKey?: string;
  secretKey?: string;
  region: string;
  /** Multipart part size, bytes (the blob store sets it). */
  partSize?: number;
}

export function openS3Client(options: S3ClientOptions): { client: Client; agent: http.Agent } {
  const useSSL = options.url.protocol === 'https:';
  const agent = useSSL ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
  const client = new Client({
    endPoint: options.url.hostname,
    port: options.url.port ? Number(options.url.port) : useSSL ? 443 : 80,
    useSSL,
    pathStyle: true,
    accessKey: options.accessKey,
    secretKey: options.secretKey,
    region: options.region,
    ...(options.partSize === undefined ? {} : { partSize: options.partSize }),
    transportAgent: agent,
  });
  return { client, agent };
}
