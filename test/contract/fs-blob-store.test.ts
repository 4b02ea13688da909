import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { FsBlobStore } from '../../hub-server/adapters/fs-blob-store.ts';
import { describeBlobStoreContract } from './blob-store-contract.ts';

describeBlobStoreContract('fs', async () => {
  const root = await mkdtemp(path.join(os.tmpdir(), 'modelhub-blobs-'));
  return { store: new FsBlobStore(root), cleanup: () => rm(root, { recursive: true, force: true }) };
});

describe('FsBlobStore on disk', () => {
  const roots: string[] = [];
  afterEach(async () => {
    await Promise.all(roots.splice(0).map((root) => rm(root, { recursive: true, force: true })));
  });
  const tempRoot = async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'modelhub-blobs-'));
    roots.push(root);
    return root;
  };

  it('lays blobs out as root/ab/cdef... and survives reopening', async () => {
    const root = await tempRoot();
    const bytes = Buffer.from('layout');
    const sha = createHash('sha256').update(bytes).digest('hex');
    await new FsBlobStore(root).put(bytes);
    expect(await readdir(path.join(root, sha.slice(0, 2)))).toEqual([sha.slice(2)]);
    const reopened = new FsBlobStore(root);
    expect(await reopened.localPath(sha)).toBe(path.join(root, sha.slice(0, 2), sha.slice(2)));
  });

  it('sweeps a crashed write’s stale temporary file on open, and keeps a fresh one', async () => {
    const root = await tempRoot();
    new FsBlobStore(root);
    const stale = path.join(root, '.tmp', '999-stale');
    const fresh = path.join(root, '.tmp', '999-fresh');
    await writeFile(stale, 'half a model');
    await writeFile(fresh, 'being written by another process');
    const hourAgo = new Date(Date.now() - 3600_000);
    await utimes(stale, hourAgo, hourAgo);
    new FsBlobStore(root);
    expect(await readdir(path.join(root, '.tmp'))).toEqual(['999-fresh']);
  });

  it('leaves no temporary file behind after a mismatch or a failing source', async () => {
    const root = await tempRoot();
    const store = new FsBlobStore(root);
    await expect(store.put(Buffer.from('x'), 'f'.repeat(64))).rejects.toThrow(/checksum/);
    const failing = (async function* () {
      yield Buffer.from('partial');
      throw new Error('client went away');
    })();
    await expect(store.put(Readable.from(failing))).rejects.toThrow('client went away');
    expect(await readdir(path.join(root, '.tmp'))).toEqual([]);
    expect((await readdir(root)).filter((entry) => entry !== '.tmp')).toEqual([]);
  });
});
