/**
 * Where model files live. Content-addressed by sha256: the same bytes are stored once, a blob is
 * never half-written (writes go to a temporary name and are renamed or committed whole), and a
 * checksum mismatch is an error, never a stored blob.
 */
import type { Readable } from 'node:stream';

export interface StoredBlob {
  sha256: string;
  size: number;
}

export interface BackendHealth {
  ok: boolean;
  backend: string;
  detail?: string;
}

export interface BlobStore {
  readonly kind: string;
  /** Stream bytes in; resolves with their digest once they are durably stored. */
  put(source: Readable | Buffer, expectedSha256?: string): Promise<StoredBlob>;
  /** Stream bytes out; MODELHUB_INTERNAL with "blob not found" when absent. */
  get(sha256: string): Promise<Readable>;
  has(sha256: string): Promise<boolean>;
  delete(sha256: string): Promise<void>;
  /**
   * A path on this machine holding the blob's bytes, for runtimes that need a file (onnxruntime,
   * Python). The file-system store answers its own path; remote stores download into a cache.
   */
  localPath(sha256: string): Promise<string>;
  /** A time-limited URL to download the blob directly, where the backend supports it. */
  presignedUrl?(sha256: string, seconds: number): Promise<string | undefined>;
  health(): Promise<BackendHealth>;
  close(): Promise<void>;
}
