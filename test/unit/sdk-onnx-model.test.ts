import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { OnnxModel } from '../../sdk/models/onnx-model.ts';
import { loadServable, metadataTemplate } from '../../sdk/models/from-path.ts';
import { buildCli } from '../../hub-server/cli.ts';
import { MetadataValidationError } from '../../sdk/errors.ts';

const VAD = path.resolve('node_modules/@ricky0123/vad-web/dist/silero_vad_v5.onnx');

/** onnxruntime's own reading of the graph's interface, as argument types. */
async function referenceSides() {
  const session = await ort.InferenceSession.create(VAD);
  const side = (metadata: readonly ort.InferenceSession.ValueMetadata[]) =>
    Object.fromEntries(
      metadata.map((m) => {
        const tensor = m as ort.InferenceSession.ValueMetadata & { type: string; shape: (number | string)[] };
        return [m.name, { type: 'ndarray', dtype: tensor.type, shape: tensor.shape.map((d) => (typeof d === 'number' ? d : null)) }];
      }),
    );
  const sides = { input: side(session.inputMetadata), output: side(session.outputMetadata) };
  await session.release();
  return sides;
}

describe('OnnxModel', () => {
  it('declares the run method the Silero VAD graph implies', async () => {
    const reference = await referenceSides();
    const model = (await OnnxModel.create(VAD))
      .setName('silero/vad')
      .setTitle('Silero voice activity detector v5')
      .setAuthors(['Silero, Team'])
      .setDomains(['speech']);
    const doc = model.toMetadata();
    expect(doc.servable.type).toBe('onnx');
    expect(doc.servable.model_file).toBe('silero_vad_v5.onnx');
    expect(doc.servable.methods.run.input).toEqual({ type: 'dict', properties: reference.input });
    expect(doc.servable.methods.run.output).toEqual({ type: 'dict', properties: reference.output });
    expect(model.files()).toEqual([{ localPath: VAD, path: 'silero_vad_v5.onnx' }]);
    expect(model.facts.inputs.map((i) => i.name)).toEqual(['input', 'state', 'sr']);
  });

  it('refuses a file that is not ONNX with MODELHUB_INVALID_MODEL', async () => {
    const error = await OnnxModel.create(path.resolve('package.json')).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'MODELHUB_INVALID_MODEL' });
  });

  it('`modelhub init` writes a template that publish reads back with the model file', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'sdk-init-'));
    const model = path.join(dir, 'silero_vad_v5.onnx');
    copyFileSync(VAD, model);
    const lines: string[] = [];
    await buildCli({ out: (t) => lines.push(t), err: (t) => lines.push(t) })
      .exitOverride()
      .parseAsync(['node', 'modelhub', '--json', 'init', model, '--owner', 'silero']);
    const target = path.join(dir, 'modelhub.json');
    expect(existsSync(target)).toBe(true);
    const written = JSON.parse(readFileSync(target, 'utf8'));
    expect(written).toEqual(JSON.parse(JSON.stringify(await metadataTemplate(model, { owner: 'silero' }))));
    expect(JSON.parse(lines.join('\n')).path).toBe(target);
    expect(written.hub).toMatchObject({ owner: 'silero', name: 'silero_vad_v5' });

    // Publishing the untouched template names every placeholder left in it.
    let refused: unknown;
    try {
      (await loadServable(model)).toMetadata();
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(MetadataValidationError);
    expect((refused as MetadataValidationError).problems.map((p) => p.path)).toEqual([
      '/datacite/titles/0/title',
      '/datacite/creators/0/name',
      '/datacite/creators/0/affiliation/0',
      '/datacite/descriptions/0/description',
    ]);

    written.datacite.titles = [{ title: 'Silero VAD' }];
    written.datacite.creators = [{ name: 'Silero, Team' }];
    written.datacite.descriptions = [{ description: 'Voice activity detection' }];
    writeFileSync(target, JSON.stringify(written));
    const loaded = await loadServable(model);
    const doc = loaded.toMetadata();
    expect(loaded.files()).toEqual([{ localPath: model, path: 'silero_vad_v5.onnx' }]);
    expect(doc.hub).toMatchObject({ owner: 'silero', name: 'silero_vad_v5' });
    expect(doc.servable).toEqual((await OnnxModel.create(model)).draftMetadata().servable);
  });
});
