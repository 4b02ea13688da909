/**
 * The embedded blob store: content-addressed files under `root/ab/cdef...` (the first two hex
 * digits of the sha256 name a folder so no folder grows past a few thousand entries).
 *
 * A blob appears only by an atomic rename of a complete, fsynced temporary file from `root/.tmp`,
 * so a crash can leave a stray temporary file but never a half-written blob; stale temporary
 * files are swept when the store is opened.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { access, mkdir, open, opendir, rename, rm, stat, statfs, unlink, utimes } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { HubError } from '../../schemas/errors.ts';
import type { BackendHealth, BlobListing, BlobStore, StoredBlob } from '../../schemas/ports/blob-store.ts';

const SHA256 = /^[a-f0-9]{64}$/;
const PREFIX = /^[a-f0-9]{2}$/;
const TEMP_DIR = '.tmp';

export interface FsBlobStoreOptions {
  /**
   * Temporary files older than this are a crash's leftovers and are removed on open. Younger ones
   * may belong to another process writing into the same folder right now.
   */
  staleTempMs?: number;
}

function assertDigest(sha256: string): void {
  if (!SHA256.test(sha256)) throw new HubError('BAD_REQUEST', `"${sha256}" is not a sha256 digest (64 lower-case hex digits)`);
}

/** Disk trouble is the backend's fault, not the caller's: say so with a stable code. */
function translateFsError(error: unknown, doing: string): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EROFS' || code === 'EACCES' || code === 'EPERM' || code === 'EDQUOT') {
    return new HubError('BACKEND_UNAVAILABLE', `blob store cannot ${doing}: ${code}`, { cause: error });
  }
  return error;
}

export class FsBlobStore implements BlobStore {
  readonly kind = 'fs';
  readonly root: string;
  private readonly tempDir: string;

  constructor(root: string, options: FsBlobStoreOptions = {}) {
    this.root = path.resolve(root);
    this.tempDir = path.join(this.root, TEMP_DIR);
    mkdirSync(this.tempDir, { recursive: true });
    this.sweepTemp(options.staleTempMs ?? 10 * 60_000);
  }

  private sweepTemp(staleMs: number): void {
    const now = Date.now();
    for (const entry of readdirSync(this.tempDir)) {
      const file = path.join(this.tempDir, entry);
      try {
        if (now - statSync(file).mtimeMs >= staleMs) rmSync(file, { force: true });
      } catch {
        // Gone already (another process swept it): nothing to do.
      }
    }
  }

  private blobPath(sha256: string): string {
    return path.join(this.root, sha256.slice(0, 2), sha256.slice(2));
  }

  async put(source: Readable | Buffer, expectedSha256?: string): Promise<StoredBlob> {
    if (expectedSha256 !== undefined) assertDigest(expectedSha256);
    const tempPath = path.join(this.tempDir, `${process.pid}-${randomBytes(8).toString('hex')}`);
    const hash = createHash('sha256');
    let size = 0;
    let handle;
    try {
      handle = await open(tempPath, 'wx');
    } catch (error) {
      throw translateFsError(error, 'create a temporary file');
    }
    try {
      const chunks: AsyncIterable<Buffer | string> | Iterable<Buffer> = Buffer.isBuffer(source) ? [source] : source;
      for await (const chunk of chunks) {
        const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        hash.update(bytes);
        size += bytes.length;
        // Awaiting each write is the backpressure: the source is not read faster than the disk takes it.
        let written = 0;
        while (written < bytes.length) {
          const { bytesWritten } = await handle.write(bytes, written, bytes.length - written);
          written += bytesWritten;
        }
      }
      await handle.sync();
    } catch (error) {
      await handle.close().catch(() => undefined);
      await rm(tempPath, { force: true });
      throw translateFsError(error, 'write');
    }
    await handle.close();

    const sha256 = hash.digest('hex');
    if (expectedSha256 !== undefined && expectedSha256 !== sha256) {
      await rm(tempPath, { force: true });
      throw new HubError('CHECKSUM_MISMATCH', `expected sha256 ${expectedSha256}, received ${size} bytes with sha256 ${sha256}`, {
        details: { expected: expectedSha256, actual: sha256, size },
      });
    }

    const target = this.blobPath(sha256);
    try {
      if (await this.has(sha256)) {
        await rm(tempPath, { force: true });
        // Stored again now: the sweep's grace period starts over (see BlobStore.put).
        const at = new Date();
        await utimes(target, at, at);
        return { sha256, size };
      }
      const folder = path.dirname(target);
      await mkdir(folder, { recursive: true });
      // Same bytes under the same name: a concurrent writer of identical content loses nothing.
      await rename(tempPath, target);
      await this.syncFolder(folder);
    } catch (error) {
      await rm(tempPath, { force: true });
      throw translateFsError(error, 'store a blob');
    }
    return { sha256, size };
  }

  /** The rename is durable only once the folder entry is on disk too. */
  private async syncFolder(folder: string): Promise<void> {
    const handle = await open(folder, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  private notFound(sha256: string): HubError {
    return new HubError('INTERNAL', `blob ${sha256} not found`);
  }

  async get(sha256: string): Promise<Readable> {
    assertDigest(sha256);
    try {
      const handle = await open(this.blobPath(sha256), 'r');
      return handle.createReadStream({ autoClose: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw this.notFound(sha256);
      throw translateFsError(error, 'read');
    }
  }

  async has(sha256: string): Promise<boolean> {
    assertDigest(sha256);
    try {
      return (await stat(this.blobPath(sha256))).isFile();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw translateFsError(error, 'read');
    }
  }

  async delete(sha256: string): Promise<void> {
    assertDigest(sha256);
    try {
      await unlink(this.blobPath(sha256));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw translateFsError(error, 'delete');
    }
  }

  async *list(): AsyncIterable<BlobListing> {
    for await (const prefix of await opendir(this.root)) {
      if (!prefix.isDirectory() || !PREFIX.test(prefix.name)) continue; // .tmp and strangers
      const folder = path.join(this.root, prefix.name);
      for await (const entry of await opendir(folder)) {
        const sha256 = prefix.name + entry.name;
        if (!entry.isFile() || !SHA256.test(sha256)) continue;
        try {
          const stats = await stat(path.join(folder, entry.name));
          yield { sha256, size: stats.size, storedAt: stats.mtime };
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw translateFsError(error, 'list');
        }
      }
    }
  }

  async localPath(sha256: string): Promise<string> {
    if (!(await this.has(sha256))) throw this.notFound(sha256);
    return this.blobPath(sha256);
  }

  async health(): Promise<BackendHealth> {
    try {
      await access(this.tempDir, 2 /* W_OK */);
      const fsStats = await statfs(this.root);
      const freeMb = Math.floor((Number(fsStats.bavail) * Number(fsStats.bsize)) / (1024 * 1024));
      return { ok: true, backend: 'fs', detail: `${this.root} (${freeMb} MiB free)` };
    } catch (error) {
      return { ok: false, backend: 'fs', detail: `${this.root}: ${(error as Error).message}` };
    }
  }

  async close(): Promise<void> {
    // Nothing is held open between calls.
  }
}
