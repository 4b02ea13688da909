/**
 * TensorFlow SavedModel needs @tensorflow/tfjs-node, which cannot install on these machines. This
 * test checks the ABSENT-RUNTIME path only: publishing a SavedModel fails at inspect with
 * MODELHUB_RUNTIME_UNAVAILABLE naming the missing package, and `available()` says the same.
 * Where tfjs-node is installed the test is skipped rather than pretending.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTfjsNode, TfSavedModelRuntime } from '../../servables/tf-savedmodel-runtime.ts';

const tfjsNodeInstalled = (await loadTfjsNode()) !== undefined;

describe.skipIf(tfjsNodeInstalled)('tf-savedmodel without @tensorflow/tfjs-node (absent-runtime path)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'modelhub-savedmodel-'));
    await writeFile(path.join(dir, 'saved_model.pb'), Buffer.from([0x08, 0x01]));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses the publish at inspect, naming the missing runtime', async () => {
    const runtime = new TfSavedModelRuntime();
    const files = [{ path: 'saved_model.pb', localPath: path.join(dir, 'saved_model.pb'), sha256: '0'.repeat(64), size: 2 }];
    await expect(runtime.inspect(files, { type: 'tf-savedmodel', methods: { run: { input: { type: 'any' }, output: { type: 'any' } } } })).rejects.toMatchObject({
      code: 'MODELHUB_RUNTIME_UNAVAILABLE',
      status: 503,
      message: expect.stringContaining('TensorFlow SavedModel needs @tensorflow/tfjs-node, which is not installed on this hub'),
    });
  });

  it('reports itself unavailable with the same reason', async () => {
    expect(await new TfSavedModelRuntime().available()).toEqual({
      ok: false,
      reason: 'TensorFlow SavedModel needs @tensorflow/tfjs-node, which is not installed on this hub',
    });
  });
});
