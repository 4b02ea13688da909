/**
 * BlobStore on S3-compatible object storage (MinIO, Ceph radosgw, AWS S3) through the `minio` client.
 *
 * Layout in the bucket: `blobs/<sha256>` holds a blob's bytes, `tmp/<uuid>` holds uploads whose
 * digest is not known yet. A blob key only ever appears whole: small uploads (up to one part) are
 * hashed in memory and PUT under their final key; larger ones stream through the hash into a
 * multipart upload under `tmp/`, then are copied server-side to `blobs/<sha256>` once the digest is
 * known and checked. Memory stays at about one part per upload. Reads are hashed again on the way
 * out, so bit rot or a wrong object under a key is an error rather than a wrong model.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CopyDestinationOptions, CopySourceOptions, type Client } from 'minio';
import { openS3Client } from './s3-client.ts';
import { HubError, isHubError } from '../../schemas/errors.ts';
import type { BackendHealth, BlobListing, BlobStore, StoredBlob } from '../../schemas/ports/blob-store.ts';

export interface S3BlobStoreOptions {
  /** e.g. `http://127.0.0.1:7480` or `https://s3.example.org`; the scheme decides TLS. */
  endpoint: string;
  bucket: string;
  accessKey?: string;
  secretKey?: string;
  region?: string;
  /** Where `localPath` keeps downloaded blobs for runtimes that need a file. */
  cacheDir: string;
  /** Multipart part size in bytes (S3 allows 5 MiB to 5 GiB); also the in-memory buffer per upload. */
  partSize?: number;
}

const SHA256 = /^[a-f0-9]{64}$/;
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const MIB = 1024 * 1024;
const DEFAULT_PART_SIZE = 16 * MIB;
/** S3's CopyObject limit; larger blobs are copied part by part (UploadPartCopy). */
const SINGLE_COPY_LIMIT = 5 * 1024 * MIB;
const HEALTH_TIMEOUT_MS = 5_000;

/** Node's codes for "the server is not there (any more)". */
const NETWORK_ERRORS = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND',
  'EAI_AGAIN', 'ECONNABORTED', 'UND_ERR_SOCKET', 'ERR_STREAM_PREMATURE_CLOSE',
]);
/** S3 answers that mean "try again later" rather than "you asked for something wrong". */
const UNAVAILABLE_S3_CODES = new Set(['SlowDown', 'ServiceUnavailable', 'InternalError', 'RequestTimeout']);
const CREDENTIAL_S3_CODES = new Set(['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch']);

export class S3BlobStore implements BlobStore {
  readonly kind = 's3';
  readonly bucket: string;
  readonly endpoint: string;
  private readonly client: Client;
  private readonly agent: http.Agent;
  private readonly cacheDir: string;
  private readonly partSize: number;
  private readonly region: string;
  private bucketReady?: Promise<void>;
  private readonly downloads = new Map<string, Promise<string>>();

  constructor(options: S3BlobStoreOptions) {
    let url: URL;
    try {
      url = new URL(options.endpoint);
    } catch {
      throw new HubError('BAD_REQUEST', `S3 endpoint "${options.endpoint}" is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new HubError('BAD_REQUEST', `S3 endpoint "${options.endpoint}" must start with http:// or https://`);
    }
    if (!BUCKET_NAME.test(options.bucket)) {
      throw new HubError('BAD_REQUEST', `"${options.bucket}" is not an S3 bucket name (3-63 lower-case letters, digits, dots and hyphens)`);
    }
    this.partSize = options.partSize ?? DEFAULT_PART_SIZE;
    this.bucket = options.bucket;
    this.endpoint = url.origin;
    this.region = options.region ?? 'us-east-1';
    this.cacheDir = options.cacheDir;
    // Setting the part size fixes it; otherwise minio sizes parts for a 5 TiB object (550 MB each, in memory).
    ({ client: this.client, agent: this.agent } = openS3Client({ url, accessKey: options.accessKey, secretKey: options.secretKey, region: this.region, partSize: this.partSize }));
  }

  async put(source: Readable | Buffer, expectedSha256?: string): Promise<StoredBlob> {
    if (expectedSha256 !== undefined && !SHA256.test(expectedSha256)) {
      throw new HubError('BAD_REQUEST', `"${expectedSha256}" is not a sha256 hex digest`);
    }
    await this.ensureBucket();
    if (Buffer.isBuffer(source)) return this.putSmall(source, expectedSha256);

    const hash = createHash('sha256');
    let size = 0;
    const chunks = source[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
    const next = async (): Promise<Buffer | undefined> => {
      const { value, done } = await chunks.next();
      if (done) return undefined;
      const chunk = typeof value === 'string' ? Buffer.from(value) : value;
      hash.update(chunk);
      size += chunk.length;
      return chunk;
    };

    // Read up to one part: a blob that fits is hashed before it is sent and PUT under its final key.
    const head: Buffer[] = [];
    let headBytes = 0;
    let ended = false;
    // A failing source here (a client hung up) rejects as it is: nothing was sent, nothing to undo.
    while (headBytes < this.partSize) {
      const chunk = await next();
      if (chunk === undefined) {
        ended = true;
        break;
      }
      head.push(chunk);
      headBytes += chunk.length;
    }
    if (ended) return this.putSmall(Buffer.concat(head), expectedSha256);

    const tmpKey = `tmp/${randomUUID()}`;
    const body = Readable.from(
      (async function* () {
        yield* head;
        head.length = 0;
        for (let chunk = await next(); chunk !== undefined; chunk = await next()) yield chunk;
      })(),
      { objectMode: false, highWaterMark: MIB },
    );
    // minio pipes the body without listening for its errors: a failing source would leave the
    // upload waiting for ever, so the source's failure is raced against the upload.
    const sourceFailed = new Promise<never>((_, reject) => body.once('error', reject));
    try {
      await Promise.race([this.client.putObject(this.bucket, tmpKey, body), sourceFailed]);
    } catch (error) {
      body.destroy();
      source.destroy();
      await this.discardTemporary(tmpKey);
      // The caller's own stream failing is its error to see as it is; the server's is translated.
      throw body.errored === error ? error : this.translate(error, `uploading to ${tmpKey}`);
    }

    const sha256 = hash.digest('hex');
    try {
      if (expectedSha256 !== undefined && sha256 !== expectedSha256) throw checksumMismatch(expectedSha256, sha256, size);
      const key = blobKey(sha256);
      // Copied even when the key exists: identical bytes, and a fresh LastModified, which is the
      // blob's age for the sweep (see BlobStore.put).
      await this.copy(tmpKey, key, size);
      const stored = await this.client.statObject(this.bucket, key);
      if (stored.size !== size) {
        await this.client.removeObject(this.bucket, key);
        throw new HubError('BACKEND_UNAVAILABLE', `S3 stored ${stored.size} bytes of ${size} for blob ${sha256}`);
      }
      return { sha256, size };
    } catch (error) {
      throw this.translate(error, `storing blob ${sha256}`);
    } finally {
      await this.discardTemporary(tmpKey);
    }
  }

  async get(sha256: string): Promise<Readable> {
    const key = blobKey(checkDigest(sha256));
    let object: Readable;
    try {
      object = await this.client.getObject(this.bucket, key);
    } catch (error) {
      throw this.translate(error, `reading blob ${sha256}`, sha256);
    }
    const verifier = new DigestVerifier(sha256);
    object.on('error', (error) => verifier.destroy(this.translate(error, `reading blob ${sha256}`, sha256)));
    // A reader that stops early must not keep the HTTP response (and its socket) open.
    verifier.on('close', () => object.destroy());
    object.pipe(verifier);
    return verifier;
  }

  async has(sha256: string): Promise<boolean> {
    const key = blobKey(checkDigest(sha256));
    try {
      return await this.exists(key);
    } catch (error) {
      throw this.translate(error, `looking up blob ${sha256}`);
    }
  }

  async delete(sha256: string): Promise<void> {
    const key = blobKey(checkDigest(sha256));
    try {
      await this.client.removeObject(this.bucket, key);
    } catch (error) {
      const translated = this.translate(error, `deleting blob ${sha256}`);
      if (translated.code !== 'MODELHUB_INTERNAL' || !isMissing(error)) throw translated;
    }
    await rm(this.cachePath(sha256), { force: true });
  }

  async *list(): AsyncIterable<BlobListing> {
    const listing = this.client.listObjectsV2(this.bucket, 'blobs/', true) as AsyncIterable<{ name?: string; size?: number; lastModified?: Date }>;
    try {
      for await (const object of listing) {
        const sha256 = object.name?.slice('blobs/'.length) ?? '';
        if (!SHA256.test(sha256)) continue;
        yield { sha256, size: object.size ?? 0, storedAt: object.lastModified ?? new Date(0) };
      }
    } catch (error) {
      // No bucket yet: nothing was ever stored.
      if (isMissing(error)) return;
      throw this.translate(error, 'listing blobs');
    }
  }

  async localPath(sha256: string): Promise<string> {
    const target = this.cachePath(checkDigest(sha256));
    try {
      await stat(target);
      return target;
    } catch {
      // not cached yet
    }
    // Two runtimes asking for the same model at once share one download.
    let download = this.downloads.get(sha256);
    if (!download) {
      download = this.download(sha256, target).finally(() => this.downloads.delete(sha256));
      this.downloads.set(sha256, download);
    }
    return download;
  }

  async presignedUrl(sha256: string, seconds: number): Promise<string | undefined> {
    const key = blobKey(checkDigest(sha256));
    if (!(await this.has(sha256))) throw notFound(sha256);
    const expiry = Math.max(1, Math.min(Math.floor(seconds), 7 * 24 * 3600));
    try {
      return await this.client.presignedGetObject(this.bucket, key, expiry);
    } catch (error) {
      throw this.translate(error, `signing a URL for blob ${sha256}`);
    }
  }

  async health(): Promise<BackendHealth> {
    const backend = this.kind;
    const where = `${this.endpoint}/${this.bucket}`;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${HEALTH_TIMEOUT_MS} ms`)), HEALTH_TIMEOUT_MS);
    });
    try {
      const exists = await Promise.race([this.client.bucketExists(this.bucket), timeout]);
      return exists
        ? { ok: true, backend, detail: where }
        : { ok: true, backend, detail: `${where}: the bucket does not exist yet; it is created on the first upload` };
    } catch (error) {
      return { ok: false, backend, detail: `${where}: ${this.translate(error, 'checking the bucket').message}` };
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }

  private async putSmall(bytes: Buffer, expectedSha256?: string): Promise<StoredBlob> {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    if (expectedSha256 !== undefined && sha256 !== expectedSha256) throw checksumMismatch(expectedSha256, sha256, bytes.length);
    const key = blobKey(sha256);
    try {
      // A PUT is atomic in S3: the key shows either the old state or every byte. Put even when the
      // key exists: the same bytes, and a fresh LastModified (the blob's age for the sweep).
      await this.client.putObject(this.bucket, key, bytes, bytes.length);
    } catch (error) {
      throw this.translate(error, `storing blob ${sha256}`);
    }
    return { sha256, size: bytes.length };
  }

  private async copy(from: string, to: string, size: number): Promise<void> {
    const source = new CopySourceOptions({ Bucket: this.bucket, Object: from });
    const destination = new CopyDestinationOptions({ Bucket: this.bucket, Object: to });
    if (size <= SINGLE_COPY_LIMIT) await this.client.copyObject(source, destination);
    else await this.client.composeObject(destination, [source]);
  }

  private async exists(key: string): Promise<boolean> {
    try {
      await this.client.statObject(this.bucket, key);
      return true;
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
  }

  private async download(sha256: string, target: string): Promise<string> {
    await mkdir(path.dirname(target), { recursive: true });
    const partial = `${target}.${randomUUID()}.part`;
    try {
      // get() verifies the digest, so a corrupt object never reaches the cache under its name.
      await pipeline(await this.get(sha256), createWriteStream(partial));
      await rename(partial, target);
      return target;
    } catch (error) {
      await rm(partial, { force: true });
      throw isHubError(error) ? error : this.translate(error, `downloading blob ${sha256}`, sha256);
    }
  }

  private async discardTemporary(key: string): Promise<void> {
    // Best effort: with the server gone this fails too, and the bucket's lifecycle rule sweeps later.
    try {
      const uploadId = await this.client.findUploadId(this.bucket, key);
      if (uploadId) await this.client.abortMultipartUpload(this.bucket, key, uploadId);
      await this.client.removeObject(this.bucket, key);
    } catch {
      // left for the lifecycle rule
    }
  }

  private ensureBucket(): Promise<void> {
    this.bucketReady ??= this.createBucket().catch((error: unknown) => {
      this.bucketReady = undefined;
      throw this.translate(error, `creating bucket ${this.bucket}`);
    });
    return this.bucketReady;
  }

  private async createBucket(): Promise<void> {
    if (!(await this.client.bucketExists(this.bucket))) {
      try {
        await this.client.makeBucket(this.bucket, this.region);
      } catch (error) {
        // Another hub process created it between our check and our request.
        const code = (error as { code?: string }).code;
        if (code !== 'BucketAlreadyOwnedByYou' && code !== 'BucketAlreadyExists') throw error;
      }
    }
    // Uploads cut off with the server (or this process) are swept after a day; not every S3
    // implementation supports lifecycle rules, and the store works without one.
    try {
      await this.client.setBucketLifecycle(this.bucket, {
        Rule: [
          {
            ID: 'modelhub-sweep-temporary-uploads',
            Status: 'Enabled',
            Filter: { Prefix: 'tmp/' },
            Expiration: { Days: 1 },
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
          },
        ],
      });
    } catch {
      // optional
    }
  }

  private cachePath(sha256: string): string {
    return path.join(this.cacheDir, sha256.slice(0, 2), sha256);
  }

  /** S3 and network errors into catalog errors, at this boundary. */
  private translate(error: unknown, doing: string, sha256?: string): HubError {
    if (isHubError(error)) return error;
    const code = (error as { code?: string }).code ?? '';
    const message = error instanceof Error ? error.message : String(error);
    if (sha256 !== undefined && isMissing(error)) return notFound(sha256, error);
    if (NETWORK_ERRORS.has(code) || /socket hang up|other side closed/i.test(message)) {
      return new HubError('BACKEND_UNAVAILABLE', `S3 at ${this.endpoint} cannot be reached while ${doing} (${code || message})`, { cause: error, retryAfter: 5 });
    }
    if (UNAVAILABLE_S3_CODES.has(code)) {
      return new HubError('BACKEND_UNAVAILABLE', `S3 at ${this.endpoint} answered ${code} while ${doing}`, { cause: error, retryAfter: 5 });
    }
    if (CREDENTIAL_S3_CODES.has(code)) {
      return new HubError('BACKEND_UNAVAILABLE', `S3 at ${this.endpoint} refused this hub's credentials for bucket ${this.bucket} (${code})`, { cause: error });
    }
    return new HubError('INTERNAL', `S3 failed while ${doing}: ${code ? `${code}: ` : ''}${message}`, { cause: error });
  }
}

/** Passes bytes through and fails at the end when they do not hash to the expected digest. */
class DigestVerifier extends Transform {
  private readonly hash = createHash('sha256');

  constructor(private readonly expected: string) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const actual = this.hash.digest('hex');
    callback(actual === this.expected ? null : new HubError('INTERNAL', `blob ${this.expected} is corrupt in S3: its bytes hash to ${actual}`));
  }
}

const blobKey = (sha256: string): string => `blobs/${sha256}`;

function checkDigest(sha256: string): string {
  if (!SHA256.test(sha256)) throw new HubError('BAD_REQUEST', `"${sha256}" is not a sha256 hex digest`);
  return sha256;
}

function isMissing(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  // No bucket yet (nothing was ever stored) is as missing as no key.
  return code === 'NoSuchKey' || code === 'NotFound' || code === 'NoSuchBucket';
}

function notFound(sha256: string, cause?: unknown): HubError {
  return new HubError('INTERNAL', `blob ${sha256} not found`, { cause });
}

function checksumMismatch(expected: string, actual: string, size: number): HubError {
  return new HubError('CHECKSUM_MISMATCH', `expected sha256 ${expected}, received ${size} bytes with sha256 ${actual}`, {
    details: { expected, actual, size },
  });
}
