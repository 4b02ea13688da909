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

/** A stored blob as a listing shows it. */
export interface BlobListing {
  sha256: string;
  size: number;
  /** When it was stored, or last put again (a put of bytes already there refreshes it). */
  storedAt: Date;
}

export interface BackendHealth {
  ok: boolean;
  backend: string;
  detail?: string;
}

export interface BlobStore {
  readonly kind: string;
  /**
   * Stream bytes in; resolves with their digest once they are durably stored. Bytes stored already
   * are kept once, and their `storedAt` is refreshed, so a sweep's grace period counts from the
   * latest put (a publish that reuses an unreferenced blob does not lose it to the sweep).
   */
  put(source: Readable | Buffer, expectedSha256?: string): Promise<StoredBlob>;
  /** Every stored blob (in no particular order), for garbage collection. */
  list(): AsyncIterable<BlobListing>;
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
