/**
 * The contract every BlobStore adapter passes (fs here, S3 elsewhere): call
 * `describeBlobStoreContract(label, makeStore)` from an adapter's test file. Each test gets a fresh
 * store from `makeStore` and cleans it up afterwards.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hubErrorCode, rejection } from '../helpers/rejection.ts';
import type { BlobStore } from '../../schemas/ports/blob-store.ts';

export type MakeBlobStore = () => Promise<{ store: BlobStore; cleanup: () => Promise<void> }>;

const sha256Of = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** Streams `bytes` in uneven chunks, as an upload arrives. */
function chunked(bytes: Buffer, chunkSize = 64 * 1024 + 7): Readable {
  return Readable.from(
    (function* () {
      for (let offset = 0; offset < bytes.length; offset += chunkSize) yield bytes.subarray(offset, offset + chunkSize);
    })(),
  );
}

async function storedAt(store: BlobStore, sha256: string): Promise<Date> {
  for await (const blob of store.list()) if (blob.sha256 === sha256) return blob.storedAt;
  throw new Error(`blob ${sha256} is not listed`);
}

export function describeBlobStoreContract(label: string, makeStore: MakeBlobStore): void {
  describe(`BlobStore contract: ${label}`, () => {
    let store: BlobStore;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ store, cleanup } = await makeStore());
    });
    afterEach(async () => {
      await store.close();
      await cleanup();
    });

    it('streams a few MB in and out unchanged, with the digest crypto computes', async () => {
      const bytes = randomBytes(3 * 1024 * 1024 + 123);
      const stored = await store.put(chunked(bytes));
      expect(stored).toEqual({ sha256: sha256Of(bytes), size: bytes.length });
      expect(await store.has(stored.sha256)).toBe(true);
      const back = await readAll(await store.get(stored.sha256));
      expect(back.length).toBe(bytes.length);
      expect(back.equals(bytes)).toBe(true);
    });

    it('accepts a Buffer and an empty blob', async () => {
      const bytes = Buffer.from('hello, modelhub\n');
      expect(await store.put(bytes)).toEqual({ sha256: sha256Of(bytes), size: bytes.length });
      const empty = await store.put(Buffer.alloc(0));
      expect(empty).toEqual({ sha256: sha256Of(Buffer.alloc(0)), size: 0 });
      expect((await readAll(await store.get(empty.sha256))).length).toBe(0);
    });

    it('stores the same content once and answers it for either put', async () => {
      const bytes = randomBytes(200_000);
      const [first, second] = await Promise.all([store.put(chunked(bytes)), store.put(Buffer.from(bytes))]);
      expect(first).toEqual(second);
      expect((await readAll(await store.get(first.sha256))).equals(bytes)).toBe(true);
      await store.delete(first.sha256);
      // One delete removes it: there was one copy, not two.
      expect(await store.has(first.sha256)).toBe(false);
    });

    it('accepts the right expected digest', async () => {
      const bytes = randomBytes(10_000);
      expect((await store.put(chunked(bytes), sha256Of(bytes))).sha256).toBe(sha256Of(bytes));
    });

    it('refuses a wrong expected digest and stores nothing', async () => {
      const bytes = randomBytes(300_000);
      const claimed = sha256Of(Buffer.from('something else'));
      expect(await hubErrorCode(store.put(chunked(bytes), claimed))).toBe('MODELHUB_CHECKSUM_MISMATCH');
      expect(await store.has(sha256Of(bytes))).toBe(false);
      expect(await store.has(claimed)).toBe(false);
    });

    it('has and delete; deleting a missing blob is not an error', async () => {
      const stored = await store.put(Buffer.from('to be deleted'));
      expect(await store.has(stored.sha256)).toBe(true);
      await store.delete(stored.sha256);
      expect(await store.has(stored.sha256)).toBe(false);
      await store.delete(stored.sha256);
    });

    it('localPath holds the blob bytes', async () => {
      const bytes = randomBytes(50_000);
      const stored = await store.put(bytes);
      const file = await store.localPath(stored.sha256);
      expect((await readFile(file)).equals(bytes)).toBe(true);
    });

    it('answers MODELHUB_INTERNAL "not found" for a missing blob', async () => {
      const missing = sha256Of(Buffer.from('never stored'));
      expect(await store.has(missing)).toBe(false);
      // Lazily: started together, the second could reject before anything awaits it.
      for (const call of [() => store.get(missing), () => store.localPath(missing)]) {
        const error = await rejection(call());
        expect(error.code).toBe('MODELHUB_INTERNAL');
        expect(error.message).toMatch(/not found/);
      }
    });

    it('refuses a name that is not a digest (no path tricks)', async () => {
      expect(await hubErrorCode(store.has('../../etc/passwd'))).toBe('MODELHUB_BAD_REQUEST');
      expect(await hubErrorCode(store.get('ABC'))).toBe('MODELHUB_BAD_REQUEST');
    });

    it('lists every stored blob with its size and when it was stored, and nothing deleted', async () => {
      const before = Date.now();
      const kept = await store.put(randomBytes(70_000));
      const empty = await store.put(Buffer.alloc(0));
      const gone = await store.put(Buffer.from('deleted before the listing'));
      await store.delete(gone.sha256);
      const listed = new Map<string, { size: number; storedAt: Date }>();
      for await (const blob of store.list()) listed.set(blob.sha256, blob);
      expect([...listed.keys()].sort()).toEqual([kept.sha256, empty.sha256].sort());
      expect(listed.get(kept.sha256)?.size).toBe(70_000);
      expect(listed.get(empty.sha256)?.size).toBe(0);
      // S3 keeps whole seconds (and a server's clock): a second of slack either side.
      for (const blob of listed.values()) {
        expect(blob.storedAt.getTime()).toBeGreaterThanOrEqual(before - 1000);
        expect(blob.storedAt.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
      }
    });

    it('a put of bytes stored already refreshes when they were stored (the sweep counts from it)', async () => {
      const bytes = randomBytes(20_000);
      const { sha256 } = await store.put(bytes);
      const first = await storedAt(store, sha256);
      // Past a whole second, the resolution of S3's LastModified.
      await new Promise((resolve) => setTimeout(resolve, 1100));
      await store.put(chunked(bytes));
      expect((await storedAt(store, sha256)).getTime()).toBeGreaterThan(first.getTime());
      expect((await readAll(await store.get(sha256))).equals(bytes)).toBe(true);
    });

    it('reports itself healthy', async () => {
      const health = await store.health();
      expect(health.ok).toBe(true);
      expect(health.backend).toBe(store.kind);
    });
  });
}
