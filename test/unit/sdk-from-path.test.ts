import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeModelPath, detectServableType, loadServable } from '../../sdk/models/from-path.ts';

const HUMAN = path.resolve('node_modules/@vladmandic/human/models');
const VAD = path.resolve('node_modules/@ricky0123/vad-web/dist/silero_vad_v5.onnx');

describe('from a path to a servable', () => {
  it('recognises model files and folders', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sdk-detect-'));
    mkdirSync(path.join(dir, 'ctx'));
    writeFileSync(path.join(dir, 'ctx', 'Dockerfile'), 'FROM modelhub/base\n');
    writeFileSync(path.join(dir, 'data.json'), '{"a": 1}');
    expect(detectServableType(VAD)).toEqual({ type: 'onnx', modelFile: 'silero_vad_v5.onnx' });
    expect(detectServableType(path.join(HUMAN, 'emotion.json'))).toEqual({ type: 'tfjs', modelFile: 'emotion.json' });
    expect(detectServableType(path.join(dir, 'ctx'))).toEqual({ type: 'container', modelFile: 'Dockerfile' });
    expect(detectServableType(path.join(dir, 'data.json'))).toBeUndefined();
  });

  it('takes a TF.js model JSON with only the weight shards it names', async () => {
    const model = await describeModelPath(path.join(HUMAN, 'emotion.json'));
    expect(model.files()).toEqual([
      { localPath: path.join(HUMAN, 'emotion.json'), path: 'emotion.json' },
      { localPath: path.join(HUMAN, 'emotion.bin'), path: 'emotion.bin' },
    ]);
    // ENVIRONMENT.md: emotion.json takes [-1, 64, 64, 1] and gives 7 scores.
    expect(model.draftMetadata().servable).toMatchObject({
      type: 'tfjs',
      model_file: 'emotion.json',
      methods: { run: { input: { type: 'ndarray', shape: [null, 64, 64, 1] }, output: { type: 'ndarray' } } },
    });
    expect((model.draftMetadata().servable.methods.run.output as { shape: (number | null)[] }).shape.at(-1)).toBe(7);
  });

  it('a metadata file written for another file name still publishes the given file', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sdk-load-'));
    const metadata = path.join(dir, 'meta.json');
    writeFileSync(
      metadata,
      JSON.stringify({
        datacite: { titles: [{ title: 'VAD' }], creators: [{ name: 'Silero, Team' }] },
        hub: { owner: 'silero', name: 'vad' },
        servable: { type: 'onnx', model_file: 'other.onnx', methods: { run: { input: { type: 'any' }, output: { type: 'any' } } } },
      }),
    );
    const model = await loadServable(VAD, { metadataPath: metadata });
    expect(model.toMetadata().servable.model_file).toBe('silero_vad_v5.onnx');
    expect(model.files()).toEqual([{ localPath: VAD, path: 'silero_vad_v5.onnx' }]);
    await expect(loadServable(VAD, { metadataPath: path.join(dir, 'missing.json') })).rejects.toThrow(/no such metadata file/);
  });
});
